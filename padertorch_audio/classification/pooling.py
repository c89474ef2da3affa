"""Statistics pooling: a variable-length sequence of frames -> one vector.

The x-vector pooling (Snyder et al. 2018): the mean and the standard
deviation of every feature over the valid frames of an utterance,
concatenated. Padded frames (beyond ``sequence_lengths[b]``) do not
contribute, so a padded batch gives the statistics of each unpadded item.

The standard deviation is ``sqrt(max(var, eps))`` of the population
variance (divided by the number of frames, as ``np.std``): the floor keeps
its gradient finite for constant features.
"""
import torch

from padertorch_audio.base import Module
from padertorch_audio.ops.sequence import compute_mask

__all__ = ['statistics_pooling', 'StatisticsPooling']


def _lengths_of(x, sequence_lengths):
    """``sequence_lengths`` as an int64 tensor ``(batch,)`` on x's device,
    checked against ``x`` ``(batch, features, frames)``."""
    batch, _, frames = x.shape
    lengths = torch.as_tensor(sequence_lengths, device=x.device)
    if lengths.dim() != 1 or lengths.shape[0] != batch:
        raise ValueError(
            f'sequence_lengths must have one entry per example: x has shape '
            f'{tuple(x.shape)} (batch, features, frames), sequence_lengths '
            f'has shape {tuple(lengths.shape)}.')
    if lengths.is_floating_point() or lengths.is_complex():
        raise ValueError(f'sequence_lengths must be integers, found '
                         f'{lengths.dtype}: {lengths.tolist()}.')
    if (lengths < 1).any() or (lengths > frames).any():
        raise ValueError(
            f'sequence_lengths {lengths.tolist()} must lie in [1, {frames}] '
            f'(the frames of x with shape {tuple(x.shape)}).')
    return lengths.to(torch.int64)


def statistics_pooling(x, sequence_lengths=None, eps=1e-5):
    """Mean and standard deviation over the valid frames.

    Args:
        x: Float tensor ``(batch, features, frames)``.
        sequence_lengths: Valid frames per example, ``(batch,)`` ints in
            ``[1, frames]`` (list, array or tensor); None: all frames.
        eps: Floor of the variance before the square root.

    Returns:
        ``(batch, 2 * features)``: the means, then the standard
        deviations (population, ``np.std``), in ``x``'s dtype.

    Raises:
        ValueError: ``x`` is not 3-D, or ``sequence_lengths`` has the wrong
            shape or a length of 0 or more than ``frames``.

    >>> x = torch.tensor([[[1., 3., 100.]], [[2., 4., 6.]]])
    >>> statistics_pooling(x, [2, 3])
    tensor([[2.0000, 1.0000],
            [4.0000, 1.6330]])
    """
    if not isinstance(x, torch.Tensor) or x.dim() != 3:
        raise ValueError(
            f'statistics_pooling expects x of shape (batch, features, '
            f'frames), found shape {tuple(getattr(x, "shape", ()))}.')
    if x.shape[-1] == 0:
        raise ValueError(f'statistics_pooling: x of shape {tuple(x.shape)} '
                         f'has no frames.')
    if sequence_lengths is None:
        mean = x.mean(-1)
        variance = ((x - mean[..., None]) ** 2).mean(-1)
    else:
        lengths = _lengths_of(x, sequence_lengths)
        mask = compute_mask(x, lengths)
        count = lengths.to(x.dtype)[:, None]
        mean = torch.where(mask, x, 0).sum(-1) / count
        centered = torch.where(mask, x - mean[..., None], 0)
        variance = (centered ** 2).sum(-1) / count
    std = torch.sqrt(torch.clamp(variance, min=eps))
    return torch.cat([mean, std], dim=-1)


class StatisticsPooling(Module):
    """:func:`statistics_pooling` as a module (no parameters).

    ``forward(x, sequence_lengths=None)``: ``(batch, features, frames)`` ->
    ``(batch, 2 * features)``.

    >>> StatisticsPooling()(torch.zeros(2, 8, 10), [10, 4]).shape
    torch.Size([2, 16])
    """

    def __init__(self, eps: float = 1e-5):
        super().__init__()
        self.eps = eps

    def forward(self, x, sequence_lengths=None):
        return statistics_pooling(x, sequence_lengths, self.eps)

    def extra_repr(self):
        return f'eps={self.eps}'
