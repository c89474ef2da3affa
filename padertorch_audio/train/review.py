"""The review contract: what ``Model.review`` returns and how it is read.

One forward pass of training, validation and :func:`test_run` is::

    loss, losses, review = forward_review(model, example, precision,
                                          loss_weights, where='training')

``review`` is a dict with the keys :data:`REVIEW_KEYS` (see
:class:`padertorch_audio.Model`): a scalar ``'loss'``, or ``'losses'``
(``{name: scalar}``) that :func:`combine_losses` adds up with the trainer's
``loss_weights``. Anything else raises a :class:`ReviewError` that names the
place (``where``) and what was found.

>>> import torch
>>> combine_losses({'losses': {'a': torch.tensor(1.), 'b': torch.tensor(2.)}},
...                {'a': 1., 'b': 0.5})
(tensor(2.), {'a': tensor(1.), 'b': tensor(2.)})
>>> combine_losses({'loss': torch.ones(2)}, None)
Traceback (most recent call last):
...
padertorch_audio.train.review.ReviewError: training: review 'loss' must be a scalar tensor, got (2,).
"""
import contextlib

import torch

from padertorch_audio.base import REVIEW_KEYS

__all__ = ['REVIEW_KEYS', 'ReviewError', 'combine_losses', 'forward_review']

_NO_CONTEXT = contextlib.nullcontext()  # reusable; cheaper than a new one


class ReviewError(ValueError):
    """A review dict does not follow the review convention."""


def _check_scalar(name, value, where):
    if not isinstance(value, torch.Tensor) or value.numel() != 1:
        shape = (tuple(value.shape) if isinstance(value, torch.Tensor)
                 else type(value).__name__)
        raise ReviewError(
            f'{where}: review {name!r} must be a scalar tensor, got {shape}.')


def combine_losses(review, loss_weights=None, where='training'):
    """Check a review dict; return ``(combined loss, losses or None)``.

    Args:
        review: What ``model.review`` returned.
        loss_weights: ``{name: weight}`` for the review's ``'losses'``;
            needed when there is more than one, refused with a single
            ``'loss'``.
        where: Names the place in error messages (``'validation'``, ...).

    Returns:
        The loss (``sum(weight * loss)``) and the review's ``'losses'``
        (None for a single ``'loss'``).
    """
    if type(review) is not dict:
        raise ReviewError(f'{where}: model.review must return a dict, got '
                          f'{type(review).__name__}.')
    if not review.keys() <= REVIEW_KEYS:
        raise ReviewError(
            f'{where}: unknown review key(s) '
            f'{sorted(review.keys() - REVIEW_KEYS)}; allowed are '
            f'{sorted(REVIEW_KEYS)}.')
    if 'loss' in review:
        if 'losses' in review:
            raise ReviewError(f"{where}: the review has both 'loss' and "
                              f"'losses'; give one of them.")
        loss = review['loss']
        _check_scalar('loss', loss, where)
        if loss_weights is not None:
            raise ReviewError(
                f"{where}: the trainer has loss_weights "
                f"{sorted(loss_weights)}, but the review gives a single "
                f"'loss'; give 'losses': {{name: loss}} instead.")
        return loss, None
    losses = review.get('losses')
    if not losses:
        raise ReviewError(f"{where}: the review has no 'loss' (or 'losses') "
                          f"entry; found keys {sorted(review)}.")
    for name, value in losses.items():
        _check_scalar(f'losses/{name}', value, where)
    if loss_weights is None:
        if len(losses) > 1:
            raise ReviewError(
                f'{where}: the review has {len(losses)} losses '
                f'{sorted(losses)} but the trainer has no loss_weights to '
                f'combine them.')
        return next(iter(losses.values())), losses
    if loss_weights.keys() != losses.keys():
        raise ReviewError(
            f'{where}: loss_weights {sorted(loss_weights)} do not match the '
            f'review losses {sorted(losses)}.')
    loss = sum(loss_weights[name] * value for name, value in losses.items())
    return loss, losses


def forward_review(model, example, precision=None, loss_weights=None,
                   where='training', forward=None, timer=None):
    """``forward``, ``review`` and the combined loss of one example.

    Args:
        model: A :class:`padertorch_audio.Model`; ``example`` is already on
            its device (``model.example_to_device``).
        precision: A :class:`~padertorch_audio.train.precision.Precision`
            (forward and review run under its ``autocast()``), or None for
            float32.
        loss_weights, where: See :func:`combine_losses`.
        forward: What is called with the example (default ``model``; the
            training loop passes the ``DistributedDataParallel`` wrapper).
        timer: A :class:`~padertorch_audio.train.timing.StepTimer` that
            counts the ``'forward'`` and ``'review'`` time, or None.

    Returns:
        ``(loss, losses, review)`` as :func:`combine_losses` gives them,
        and the review dict.
    """
    context = _NO_CONTEXT if precision is None else precision.autocast()
    with context:
        output = (model if forward is None else forward)(example)
        if timer is not None:
            timer.lap('forward')
        review = model.review(example, output)
        loss, losses = combine_losses(review, loss_weights, where)
    if timer is not None:
        timer.lap('review')
    return loss, losses, review
