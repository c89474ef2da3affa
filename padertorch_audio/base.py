"""The user-facing building blocks: :class:`Module` and :class:`Model`."""
import torch

from padertorch_audio.configurable import Configurable
from padertorch_audio.data.device import example_to_device

__all__ = ['Module', 'Model', 'REVIEW_KEYS']

#: Keys a review dict may hold (see :meth:`Model.review`).
REVIEW_KEYS = frozenset({
    'loss', 'losses', 'scalars', 'histograms', 'images', 'audios', 'figures',
    'texts',
})


class Module(Configurable, torch.nn.Module):
    """A ``torch.nn.Module`` that can be described by a config.

    Subclasses write ``__init__`` and ``forward`` as for any torch module;
    :meth:`get_config` and :meth:`from_config` come for free.
    """


class Model(Module):
    """A trainable model: ``forward(example)`` and ``review(example, output)``.

    The :class:`~padertorch_audio.Trainer` calls, for every (batched)
    example::

        example = model.example_to_device(example, device)
        output = model(example)
        review = model.review(example, output)

    ``review`` returns a dict with

    - ``'loss'``: a scalar tensor, or ``'losses'``: ``{name: scalar tensor}``
      (combined with the trainer's ``loss_weights``; one loss needs no
      weight, several do),
    - optionally ``'scalars'`` (``{name: number or scalar tensor}``,
      averaged over the summary interval), ``'histograms'`` (``{name:
      tensor}``), ``'images'`` (``{name: (channels, height, width) or
      (height, width) array}``), ``'audios'`` (``{name: (samples,) array or
      (array, sample_rate)}``), ``'figures'`` (``{name: matplotlib
      figure}``) and ``'texts'`` (``{name: str}``) for tensorboard.
    """

    def forward(self, example):
        raise NotImplementedError(
            f'{type(self).__name__} must implement forward(example).')

    def review(self, example, output) -> dict:
        raise NotImplementedError(
            f'{type(self).__name__} must implement review(example, output) '
            f'and return a dict with a "loss" or "losses" entry.')

    def example_to_device(self, example, device):
        """Move the tensors and numpy arrays of ``example`` to ``device``."""
        return example_to_device(example, device)

    def modify_summary(self, summary: dict) -> dict:
        """Change the summary before it is written to tensorboard.

        ``summary`` has the review keys (``'scalars'`` already averaged over
        the summary interval, the others from the interval's last review).
        Return the (modified) summary.
        """
        return summary
