"""Operations on batches of variable-length sequences.

A batch of sequences is padded to the longest one; ``sequence_lengths``
(one int per example) says how much of each is valid.
"""
import torch

__all__ = ['compute_mask']


def compute_mask(x, sequence_lengths, batch_axis=0, sequence_axis=-1):
    """Boolean mask of the valid (not padded) entries of ``x``.

    Args:
        x: Tensor with a batch axis and a sequence axis, e.g. a signal
            ``(batch, samples)`` (``sequence_axis=-1``) or a spectrum
            ``(batch, frames, bins)`` (``sequence_axis=-2``).
        sequence_lengths: Valid length of each example, ``(batch,)`` ints
            (list or tensor), or None (everything is valid).
        batch_axis, sequence_axis: The axes of ``x`` they refer to.

    Returns:
        A bool tensor of ``x``'s shape on ``x``'s device: True where
        ``index along sequence_axis < sequence_lengths[b]``.

    >>> x = torch.zeros(2, 4)
    >>> compute_mask(x, [4, 2]).int()
    tensor([[1, 1, 1, 1],
            [1, 1, 0, 0]], dtype=torch.int32)
    >>> compute_mask(torch.zeros(2, 3, 1), [1, 3], sequence_axis=1)[..., 0].int()
    tensor([[1, 0, 0],
            [1, 1, 1]], dtype=torch.int32)
    """
    if sequence_lengths is None:
        return torch.ones_like(x, dtype=torch.bool)
    ndim = x.dim()
    batch_axis, sequence_axis = batch_axis % ndim, sequence_axis % ndim
    if batch_axis == sequence_axis:
        raise ValueError(
            f'batch_axis and sequence_axis must differ, both are '
            f'{batch_axis} for x of shape {tuple(x.shape)}.')
    lengths = torch.as_tensor(sequence_lengths, device=x.device)
    if lengths.dim() != 1 or lengths.shape[0] != x.shape[batch_axis]:
        raise ValueError(
            f'sequence_lengths must have one entry per example: x has shape '
            f'{tuple(x.shape)} (batch axis {batch_axis}), sequence_lengths '
            f'has shape {tuple(lengths.shape)}.')
    if (lengths < 0).any() or (lengths > x.shape[sequence_axis]).any():
        raise ValueError(
            f'sequence_lengths {lengths.tolist()} must lie in [0, '
            f'{x.shape[sequence_axis]}] (the size of axis {sequence_axis} '
            f'of x with shape {tuple(x.shape)}).')
    positions = torch.arange(x.shape[sequence_axis], device=x.device)
    shape = [1] * ndim
    shape[sequence_axis] = -1
    positions = positions.view(shape)
    shape = [1] * ndim
    shape[batch_axis] = -1
    mask = positions < lengths.view(shape)
    return mask.expand(x.shape)
