"""Operations on batches of variable-length sequences.

A batch of sequences is padded to the longest one; ``sequence_lengths``
(one int per example) says how much of each is valid.

Also the segmentation of long signals into overlapping chunks (as dual-path
models need) and its inverse, overlap-add.
"""
import math

import torch

__all__ = [
    'compute_mask',
    'masked_sum',
    'masked_mean',
    'pad_sequence',
    'unpad',
    'segment',
    'overlap_add',
]


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


def _masked(x, sequence_lengths, batch_axis, sequence_axis):
    """``x`` with padded entries replaced by zero (NaNs there vanish), and
    the mask."""
    mask = compute_mask(x, sequence_lengths, batch_axis, sequence_axis)
    return torch.where(mask, x, 0), mask


def masked_sum(x, sequence_lengths, axis=None, batch_axis=0,
               sequence_axis=-1, keepdim=False):
    """Sum of the valid (not padded) entries of ``x`` over ``axis``.

    Args:
        x: Tensor with a batch axis and a sequence axis, e.g. ``(batch,
            samples)`` or ``(batch, frames, bins)`` with ``sequence_axis=-2``.
        sequence_lengths: ``(batch,)`` valid lengths along ``sequence_axis``,
            or None (everything is valid).
        axis: Axis or tuple of axes to sum over; None: all axes.
        batch_axis, sequence_axis: As in :func:`compute_mask`.
        keepdim: Keep the summed axes with size 1.

    Returns:
        ``x`` summed over ``axis``; padded entries (even NaN or inf ones) do
        not contribute.

    >>> x = torch.tensor([[1., 2., 3.], [4., 5., float('nan')]])
    >>> masked_sum(x, [3, 2], axis=-1)
    tensor([6., 9.])
    """
    x, _ = _masked(x, sequence_lengths, batch_axis, sequence_axis)
    if axis is None:
        axis = tuple(range(x.dim()))
    return x.sum(axis, keepdim=keepdim)


def masked_mean(x, sequence_lengths, axis=None, batch_axis=0,
                sequence_axis=-1, keepdim=False):
    """Mean of the valid (not padded) entries of ``x`` over ``axis``.

    Arguments as in :func:`masked_sum`. The mean divides by the number of
    valid entries that were summed; where there are none (an example of
    length 0 averaged over its sequence axis) the result is NaN, as for
    ``torch.mean`` of an empty tensor.

    >>> x = torch.tensor([[1., 2., 3.], [4., 5., float('nan')]])
    >>> masked_mean(x, [3, 2], axis=-1)
    tensor([2.0000, 4.5000])
    >>> masked_mean(x, [3, 2])  # over all 5 valid entries
    tensor(3.)
    """
    x, mask = _masked(x, sequence_lengths, batch_axis, sequence_axis)
    if axis is None:
        axis = tuple(range(x.dim()))
    if not x.is_floating_point() and not x.is_complex():
        x = x.to(torch.get_default_dtype())
    count = mask.sum(axis, keepdim=keepdim)
    return x.sum(axis, keepdim=keepdim) / count.to(x.real.dtype)


def pad_sequence(tensors, axis=-1, pad_value=0):
    """Stack tensors of different lengths along a new batch axis 0, padding
    each at the end of ``axis``.

    Args:
        tensors: A non-empty list of tensors whose shapes differ only along
            ``axis``, e.g. signals ``(samples,)`` or spectra ``(frames, bins)``.
        axis: The axis of different lengths, counted in the *output* (where
            axis 0 is the new batch axis); negative axes count the same in the
            output and in the items, so ``-1`` (samples) or ``-2`` (frames)
            read naturally.
        pad_value: The value of the padded entries.

    Returns:
        ``(batch, ...)`` tensor. The lengths are ``[t.shape[axis] for t in
        tensors]`` (for negative ``axis``); :func:`unpad` inverts this.

    >>> pad_sequence([torch.tensor([1, 2, 3]), torch.tensor([4])])
    tensor([[1, 2, 3],
            [4, 0, 0]])
    """
    if len(tensors) == 0:
        raise ValueError('pad_sequence needs at least one tensor, got none.')
    ndim = tensors[0].dim()
    shapes = [tuple(t.shape) for t in tensors]
    if any(t.dim() != ndim for t in tensors):
        raise ValueError(f'All tensors must have the same number of axes, '
                         f'found shapes {shapes}.')
    item_axis = _item_axis(axis, ndim)
    length = max(t.shape[item_axis] for t in tensors)
    others = {s[:item_axis] + s[item_axis + 1:] for s in shapes}
    if len(others) != 1:
        raise ValueError(
            f'The tensors may differ only along axis {axis} (axis '
            f'{item_axis} of each item), found shapes {shapes}.')
    shape = list(shapes[0])
    shape[item_axis] = length
    out = tensors[0].new_full([len(tensors)] + shape, pad_value)
    for b, t in enumerate(tensors):
        out[b].narrow(item_axis, 0, t.shape[item_axis]).copy_(t)
    return out


def _item_axis(axis, item_ndim):
    """An axis counted in a batch of items (batch axis 0) as an axis of the
    items."""
    if not -item_ndim <= axis <= item_ndim or axis == 0:
        raise ValueError(
            f'axis {axis} is not a non-batch axis of a batch of '
            f'{item_ndim}-dimensional items (valid: 1..{item_ndim} or '
            f'-{item_ndim}..-1).')
    return axis - 1 if axis > 0 else axis % item_ndim


def unpad(batch, sequence_lengths, axis=-1):
    """Split a padded batch into a list of its valid parts; the inverse of
    :func:`pad_sequence`.

    Args:
        batch: ``(batch, ...)`` tensor.
        sequence_lengths: ``(batch,)`` valid lengths along ``axis``.
        axis: The padded axis of ``batch`` (not 0).

    Returns:
        A list of ``batch.shape[0]`` tensors (views of ``batch``) without the
        batch axis, item ``b`` cut to ``sequence_lengths[b]`` along ``axis``.

    >>> unpad(torch.tensor([[1, 2, 3], [4, 0, 0]]), [3, 1])
    [tensor([1, 2, 3]), tensor([4])]
    """
    compute_mask(batch, sequence_lengths, 0, axis)  # checks the lengths
    item_axis = _item_axis(axis, batch.dim() - 1)
    lengths = torch.as_tensor(sequence_lengths).tolist()
    return [batch[b].narrow(item_axis, 0, n) for b, n in enumerate(lengths)]


def _check_segmenting(segment_length, shift):
    if not (isinstance(segment_length, int) and isinstance(shift, int)
            and 0 < shift <= segment_length):
        raise ValueError(
            f'Expected integers 0 < shift <= segment_length, found '
            f'segment_length={segment_length!r}, shift={shift!r} (a shift '
            f'beyond the segment length would skip samples).')


def _num_segments(num_samples, segment_length, shift):
    return math.ceil(max(num_samples - segment_length, 0) / shift) + 1


def segment(signal, segment_length, shift):
    """Cut a signal into overlapping segments (as dual-path models do).

    Segment ``m`` holds samples ``m * shift ... m * shift + segment_length -
    1``. The end of the signal is zero-padded so that the last segment is
    complete: ``num_segments = ceil(max(samples - segment_length, 0) / shift)
    + 1``, i.e. the signal is padded to ``(num_segments - 1) * shift +
    segment_length`` samples (a signal shorter than one segment gives one
    zero-padded segment). The beginning is not padded, so the first ``shift``
    samples lie in fewer segments than the rest. :func:`overlap_add` with
    ``average=True`` inverts this exactly.

    Args:
        signal: ``(..., samples)``.
        segment_length, shift: In samples, ``0 < shift <= segment_length``.

    Returns:
        ``(..., num_segments, segment_length)``; a copy (the padding) when
        padding is needed, otherwise a view of ``signal``.

    >>> segment(torch.arange(1., 6.), segment_length=4, shift=2)
    tensor([[1., 2., 3., 4.],
            [3., 4., 5., 0.]])
    """
    _check_segmenting(segment_length, shift)
    if signal.dim() == 0:
        raise ValueError(f'Expected a signal (..., samples), found a scalar '
                         f'of shape {tuple(signal.shape)}.')
    num_samples = signal.shape[-1]
    num_segments = _num_segments(num_samples, segment_length, shift)
    padding = (num_segments - 1) * shift + segment_length - num_samples
    if padding:
        signal = torch.nn.functional.pad(signal, (0, padding))
    return signal.unfold(-1, segment_length, shift)


def overlap_add(segments, shift, num_samples, average=False):
    """Overlap-add segments of a signal, the inverse of :func:`segment`.

    Segment ``m`` is added at samples ``m * shift ...``; the result is cut to
    ``num_samples`` (the padding of :func:`segment` is removed).

    Args:
        segments: ``(..., num_segments, segment_length)``.
        shift: In samples, ``0 < shift <= segment_length``.
        num_samples: Length of the output; at most ``(num_segments - 1) *
            shift + segment_length``.
        average: Divide each sample by the number of segments that cover it.
            Then ``overlap_add(segment(x, L, S), S, x.shape[-1],
            average=True)`` reconstructs ``x`` (bit-exactly for ``S = L`` and
            ``S = L / 2``, where a sample is covered by at most two segments).
            Without it, the overlapping parts are summed (as the DPRNN decoder
            does).

    Returns:
        ``(..., num_samples)``.

    >>> x = torch.arange(1., 6.)
    >>> overlap_add(segment(x, 4, 2), 2, 5)
    tensor([1., 2., 6., 8., 5.])
    >>> overlap_add(segment(x, 4, 2), 2, 5, average=True)
    tensor([1., 2., 3., 4., 5.])
    """
    if segments.dim() < 2:
        raise ValueError(f'Expected segments (..., num_segments, '
                         f'segment_length), found shape '
                         f'{tuple(segments.shape)}.')
    num_segments, segment_length = segments.shape[-2:]
    _check_segmenting(segment_length, shift)
    total = (num_segments - 1) * shift + segment_length
    if not 0 <= num_samples <= total:
        raise ValueError(
            f'num_samples must lie in [0, {total}] for {num_segments} '
            f'segments of length {segment_length} with shift {shift} '
            f'(segments of shape {tuple(segments.shape)}), found '
            f'{num_samples}.')
    leading = segments.shape[:-2]
    flat = segments.reshape(-1, num_segments, segment_length).transpose(1, 2)
    signal = torch.nn.functional.fold(
        flat, output_size=(1, total), kernel_size=(1, segment_length),
        stride=(1, shift))
    signal = signal.reshape(*leading, total)[..., :num_samples]
    if average:
        ones = torch.ones((1, segment_length, num_segments),
                          dtype=segments.dtype, device=segments.device)
        count = torch.nn.functional.fold(
            ones, output_size=(1, total), kernel_size=(1, segment_length),
            stride=(1, shift)).reshape(total)[:num_samples]
        signal = signal / count
    return signal
