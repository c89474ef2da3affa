"""Permutation invariant training (PIT, Kolbæk et al. 2017).

A separation model outputs ``K`` sources in an arbitrary order; the PIT loss
is the loss of the best assignment of estimates to targets. :func:`pit_loss`
wraps any pairwise loss: it computes the ``K x K`` matrix of the losses of all
(estimate, target) pairs in one broadcast call of the loss function, then
solves the assignment on that matrix, exactly:

- for ``K <= enumeration_limit`` (default 5) by evaluating all ``K!``
  permutations on the matrix at once (a gather of ``K! x K`` entries, on the
  tensor's device, no host synchronisation);
- above it with the Hungarian algorithm (``scipy.optimize.
  linear_sum_assignment``), per example, on the CPU.

Both give the permutation that minimises the sum (equivalently the mean) of
the pair losses. The gradient flows only through the chosen pairs.

Permutation convention: ``permutation`` has shape ``(batch, K)`` and
``estimate[b, permutation[b, k]]`` is paired with ``target[b, k]``; so
``apply_permutation(estimate, permutation)`` puts the estimates into the
order of the targets.
"""
import functools
import itertools

import numpy as np
import scipy.optimize
import torch

from padertorch_audio.ops.losses import REDUCTIONS, si_sdr_loss

__all__ = ['pit_loss', 'best_permutation', 'apply_permutation']

ENUMERATION_LIMIT = 5


@functools.lru_cache(maxsize=None)
def _all_permutations(num_sources, device):
    """``(K!, K)`` int64 tensor of all permutations of ``range(K)``."""
    return torch.tensor(list(itertools.permutations(range(num_sources))),
                        dtype=torch.long, device=device)


def best_permutation(loss_matrix, enumeration_limit=ENUMERATION_LIMIT):
    """The assignment that minimises the summed pair losses.

    Args:
        loss_matrix: ``(..., K, K)`` with ``loss_matrix[..., i, j]`` the loss
            of estimate ``i`` against target ``j``.
        enumeration_limit: Up to this ``K`` all ``K!`` permutations are
            evaluated on the matrix; above it, scipy's
            ``linear_sum_assignment`` solves each example. Both are exact.

    Returns:
        ``(..., K)`` int64 ``permutation`` on the matrix's device that
        minimises ``Σ_k loss_matrix[..., permutation[k], k]`` (estimate
        ``permutation[k]`` goes with target ``k``). Where the matrix holds
        NaN the choice is arbitrary. No gradient.

    >>> best_permutation(torch.tensor([[5., 1.], [0., 7.]]))
    tensor([1, 0])
    """
    if loss_matrix.dim() < 2 or loss_matrix.shape[-1] != loss_matrix.shape[-2]:
        raise ValueError(f'Expected a loss matrix (..., K, K), found shape '
                         f'{tuple(loss_matrix.shape)}.')
    num_sources = loss_matrix.shape[-1]
    leading = loss_matrix.shape[:-2]
    matrix = loss_matrix.detach().reshape(-1, num_sources, num_sources)
    if num_sources <= enumeration_limit:
        permutations = _all_permutations(num_sources, matrix.device)
        columns = torch.arange(num_sources, device=matrix.device)
        # totals[b, p] = Σ_k matrix[b, permutations[p, k], k]
        totals = matrix[:, permutations, columns].sum(-1)
        permutation = permutations[totals.argmin(-1)]
    else:
        cost = matrix.to(torch.float64).cpu().numpy()
        # Rows: targets, columns: estimates; the column of row k is then
        # the estimate for target k. NaN or inf cannot enter the solver.
        cost = np.nan_to_num(cost.transpose(0, 2, 1), nan=0., posinf=1e100,
                             neginf=-1e100)
        permutation = torch.as_tensor(np.stack([
            scipy.optimize.linear_sum_assignment(c)[1] for c in cost
        ]), dtype=torch.long).to(matrix.device)
    return permutation.reshape(*leading, num_sources)


def _shapes(estimate, target):
    return f'estimate {tuple(estimate.shape)} and target {tuple(target.shape)}'


def pit_loss(estimate, target, axis=1, loss_fn=si_sdr_loss,
             return_permutation=False, sequence_lengths=None,
             reduction='mean', enumeration_limit=ENUMERATION_LIMIT):
    """Permutation invariant loss: the mean pair loss of the best assignment.

    Args:
        estimate, target: Same shape, e.g. ``(batch, K, samples)`` signals
            or ``(batch, K, frames, bins)`` masks; ``K`` sources along
            ``axis``. Every index of the axes before ``axis`` is an example
            with its own assignment.
        axis: The source axis.
        loss_fn: A pairwise loss (lower is better) ``loss_fn(estimate,
            target, reduction='none'[, sequence_lengths=...])`` that
            broadcasts over the leading axes and reduces every axis after
            the source axis, e.g. :func:`si_sdr_loss`, :func:`sdr_loss`,
            :func:`mse`, :func:`log1p_mse` (use ``functools.partial`` for
            options such as ``axis=(-2, -1)``). It is called once, with
            ``estimate.unsqueeze(axis + 1)`` and ``target.unsqueeze(axis)``,
            and must return the ``(..., K, K)`` matrix of pair losses.
        return_permutation: Also return the permutation.
        sequence_lengths: Passed on to ``loss_fn`` when given.
        reduction: ``'none'``: one loss per example (the shape before
            ``axis``, e.g. ``(batch,)``); ``'mean'`` / ``'sum'`` over the
            examples.
        enumeration_limit: See :func:`best_permutation`.

    Returns:
        ``loss`` (in the units of ``loss_fn``, e.g. dB for
        :func:`si_sdr_loss`), or ``(loss, permutation)`` with
        ``permutation`` of shape ``(batch, K)`` (generally: the shape up to
        and including ``axis``): ``estimate[b, permutation[b, k]]`` pairs
        with ``target[b, k]``. An example whose pair-loss matrix holds NaN
        gets the loss NaN.

    >>> target = torch.tensor([[[1., -1., 2., 0.], [0., 3., -1., -2.]]])
    >>> estimate = target[:, [1, 0]] + 0.1  # swapped sources
    >>> from padertorch_audio.ops import mse
    >>> pit_loss(estimate, target, loss_fn=mse, return_permutation=True)
    (tensor(0.0100), tensor([[1, 0]]))
    """
    if not (isinstance(estimate, torch.Tensor)
            and isinstance(target, torch.Tensor)):
        raise TypeError(f'pit_loss: expected tensors, found '
                        f'{type(estimate).__name__} and '
                        f'{type(target).__name__}.')
    if estimate.shape != target.shape:
        raise ValueError(f'pit_loss: estimate and target must have the same '
                         f'shape, found {_shapes(estimate, target)}.')
    if not -estimate.dim() <= axis < estimate.dim():
        raise ValueError(f'pit_loss: axis {axis} is out of range for '
                         f'{_shapes(estimate, target)}.')
    if reduction not in REDUCTIONS:
        raise ValueError(f'Unknown reduction {reduction!r}; expected one of '
                         f'{", ".join(map(repr, REDUCTIONS))}.')
    axis = axis % estimate.dim()
    num_sources = estimate.shape[axis]
    if num_sources == 0:
        raise ValueError(f'pit_loss: no sources along axis {axis} in '
                         f'{_shapes(estimate, target)}.')
    kwargs = {'reduction': 'none'}
    if sequence_lengths is not None:
        kwargs['sequence_lengths'] = sequence_lengths
    matrix = loss_fn(estimate.unsqueeze(axis + 1), target.unsqueeze(axis),
                     **kwargs)
    expected = tuple(estimate.shape[:axis]) + (num_sources, num_sources)
    if not isinstance(matrix, torch.Tensor) or tuple(matrix.shape) != expected:
        found = (tuple(matrix.shape) if isinstance(matrix, torch.Tensor)
                 else type(matrix).__name__)
        raise ValueError(
            f'pit_loss: loss_fn must reduce every axis after the source axis '
            f'{axis} and return the pair losses {expected}, found {found} for '
            f'{_shapes(estimate, target)}.')
    permutation = best_permutation(matrix, enumeration_limit)
    chosen = matrix.gather(-2, permutation.unsqueeze(-2)).squeeze(-2)
    loss = chosen.mean(-1)
    has_nan = torch.isnan(matrix.detach()).flatten(-2).any(-1)
    loss = torch.where(has_nan, torch.full_like(loss, float('nan')), loss)
    if reduction == 'mean':
        loss = loss.mean()
    elif reduction == 'sum':
        loss = loss.sum()
    return (loss, permutation) if return_permutation else loss


def apply_permutation(x, permutation, axis=1):
    """Reorder the sources of ``x``: ``y[b, k] = x[b, permutation[b, k]]``.

    With the permutation of :func:`pit_loss`, this puts the estimates into
    the order of the targets.

    Args:
        x: Tensor or numpy array, sources along ``axis``, e.g. ``(batch, K,
            samples)``.
        permutation: ``x.shape[:axis + 1]`` (one permutation per example) or
            ``(K,)`` (the same for all), ints (tensor or array). Its values
            are not checked to be a permutation.
        axis: The source axis.

    Returns:
        ``x``'s type and shape, reordered along ``axis``; differentiable.

    >>> apply_permutation(torch.tensor([[10, 11, 12], [20, 21, 22]]),
    ...                   torch.tensor([[2, 0, 1], [0, 1, 2]]))
    tensor([[12, 10, 11],
            [20, 21, 22]])
    """
    ndim = x.ndim
    if not -ndim <= axis < ndim:
        raise ValueError(f'apply_permutation: axis {axis} is out of range '
                         f'for x of shape {tuple(x.shape)}.')
    axis = axis % ndim
    is_numpy = isinstance(x, np.ndarray)
    if is_numpy:
        permutation = np.asarray(permutation)
    else:
        permutation = torch.as_tensor(permutation, device=x.device)
    shape = tuple(permutation.shape)
    if shape != tuple(x.shape[:axis + 1]) and shape != (x.shape[axis],):
        raise ValueError(
            f'apply_permutation: expected a permutation of shape '
            f'{tuple(x.shape[:axis + 1])} or ({x.shape[axis]},) for x of '
            f'shape {tuple(x.shape)} and axis {axis}, found {shape}.')
    if len(shape) == 1:
        if is_numpy:
            return np.take(x, permutation, axis=axis)
        return x.index_select(axis, permutation.long())
    index_shape = shape + (1,) * (ndim - axis - 1)
    if is_numpy:
        return np.take_along_axis(x, permutation.reshape(index_shape), axis)
    index = permutation.long().reshape(index_shape).expand(x.shape)
    return torch.gather(x, axis, index)
