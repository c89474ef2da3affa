"""Separate a recording of any length with a trained model.

:func:`separate` runs a separation model on a single-channel signal of any
length with bounded memory: a signal of at most ``chunk_seconds`` goes
through the model in one pass; a longer one is cut into chunks of
``chunk_seconds`` that overlap by ``overlap_seconds``::

    chunk 0: [0, C)   chunk 1: [C - O, 2C - O)   chunk 2: [2C - 2O, ...) ...

(``C`` chunk, ``O`` overlap in samples; the last chunk ends at the signal's
end and is at least ``O + 1`` samples long). A model returns its sources in
an arbitrary order for every chunk, so each chunk's sources are reordered to
match the previous chunk: the permutation maximises the summed correlation
coefficients of the paired sources in the overlap region
(:func:`padertorch_audio.ops.best_permutation`, exact for any ``K``).
The chunks are then cross-faded over the overlap (raised-cosine fades that
sum to one) and concatenated; only one chunk's output is held besides the
result, so memory grows with the chunk size (and ``batch_size``), not the
signal length (the ``(K, samples)`` result itself aside).

Level: a model trained with a scale-invariant loss gives its sources an
arbitrary scale. By default (``normalize='common'``) all sources are
multiplied by one common factor so that the largest absolute sample over
all sources equals the mixture's peak, capped at ``peak`` (0.99): nothing
clips, the sources keep their relative levels and the loudest one is as
loud as the mixture. ``normalize='per_source'`` scales each source
separately to that level; ``normalize=None`` returns the model's scale
unchanged (then nothing guards against clipping). A silent output stays
silent.
"""
import math

import numpy as np
import torch

from padertorch_audio.ops import apply_permutation, best_permutation

__all__ = ['separate']

NORMALIZATIONS = ('common', 'per_source', None)


def _model_placement(model):
    for tensor in (*model.parameters(), *model.buffers()):
        if tensor.is_floating_point():
            return tensor.device, tensor.dtype
    return torch.device('cpu'), torch.float32


def _chunks(num_samples, chunk, overlap):
    """``[(start, stop), ...]`` covering ``range(num_samples)``."""
    if num_samples <= chunk:
        return [(0, num_samples)]
    hop = chunk - overlap
    starts = [0]
    while starts[-1] + chunk < num_samples:
        starts.append(starts[-1] + hop)
    return [(start, min(start + chunk, num_samples)) for start in starts]


def _alignment(reference, estimate):
    """The permutation of ``estimate``'s sources ``(K, n)`` that best
    correlates with ``reference``'s (maximum summed correlation
    coefficients)."""
    def normalized(x):
        x = x.to(torch.float64)
        x = x - x.mean(-1, keepdim=True)
        return x / x.norm(dim=-1, keepdim=True).clamp(min=1e-30)
    # loss[i, j] = -corr(estimate i, reference j)
    loss = -normalized(estimate) @ normalized(reference).T
    return best_permutation(loss)


def _fade_in(length, device):
    """Raised-cosine fade ``(length,)`` from ~0 to ~1; ``1 - fade`` is the
    matching fade-out."""
    t = (torch.arange(length, device=device, dtype=torch.float64) + 0.5)
    return (torch.sin(math.pi / 2 * t / length) ** 2).float()


def _check_signal(signal):
    if isinstance(signal, torch.Tensor):
        ok = signal.is_floating_point()
    elif isinstance(signal, np.ndarray):
        ok = np.issubdtype(signal.dtype, np.floating)
    else:
        raise TypeError(f'separate: expected a numpy array or a tensor '
                        f'(samples,), found {type(signal).__name__}.')
    if signal.ndim != 1 or signal.shape[0] == 0 or not ok:
        raise ValueError(
            f'separate: expected a non-empty float signal (samples,), found '
            f'shape {tuple(signal.shape)} and dtype {signal.dtype}.')


def separate(model, signal, sample_rate=None, chunk_seconds=8.,
             overlap_seconds=0.5, batch_size=1, normalize='common',
             peak=0.99):
    """Separate a single-channel signal into ``K`` sources.

    Args:
        model: A separation model called as ``model({'observation':
            (batch, samples), 'num_samples': (batch,)})`` that returns
            ``(batch, K, samples)``, e.g. a
            :class:`~padertorch_audio.separation.TasNet` or the result of
            :func:`~padertorch_audio.separation.load_model`. It runs in
            eval mode under ``torch.inference_mode`` on its own device;
            its training mode is restored afterwards.
        signal: ``(samples,)`` float numpy array or tensor.
        sample_rate: Of ``signal``, in Hz. Default: ``model.sample_rate``
            (set by ``load_model``); when both are given they must agree
            (no resampling here).
        chunk_seconds: Longest piece the model sees at once; longer
            signals are chunked (see the module doc). The default, 8 s (the
            length of long WSJ0-2mix utterances), is also fast on the CPU:
            the paper DPRNN's largest buffers stay below glibc's largest
            heap allocation (32 MiB), so they are not mapped and page-faulted
            anew at every call (30-s chunks take ~35 % longer).
        overlap_seconds: Overlap of neighbouring chunks, in ``(0,
            chunk_seconds / 2]``: used to align the source order and
            cross-fade.
        batch_size: Chunks of equal length that go through the model
            together (more is faster and needs more memory).
        normalize: ``'common'`` (default), ``'per_source'`` or None; see the
            module doc.
        peak: The largest absolute output sample for ``normalize`` (0.99).

    Returns:
        ``(K, samples)``: a numpy array for a numpy signal, a tensor on the
        signal's device for a tensor, in the signal's dtype.

    >>> import torch
    >>> class Halves(torch.nn.Module):  # "separates" into two halves
    ...     def forward(self, example):
    ...         x = example['observation'][:, None]
    ...         return torch.cat([x / 2, x / 2], dim=1)
    >>> mixture = np.array([0.5, -1.0, 0.25])
    >>> separate(Halves(), mixture, sample_rate=8000).round(4)  # peak 0.99
    array([[ 0.495 , -0.99  ,  0.2475],
           [ 0.495 , -0.99  ,  0.2475]])
    """
    _check_signal(signal)
    model_rate = getattr(model, 'sample_rate', None)
    if sample_rate is None:
        sample_rate = model_rate
    elif model_rate is not None and model_rate != sample_rate:
        raise ValueError(
            f'separate: the signal has sample_rate={sample_rate} Hz, the '
            f'model works at {model_rate} Hz; resample the signal first '
            f'(padertorch_audio.features.resample).')
    if sample_rate is None:
        raise ValueError('separate: pass sample_rate (the model has no '
                         'sample_rate attribute).')
    if normalize not in NORMALIZATIONS:
        raise ValueError(f'normalize must be one of {NORMALIZATIONS}, found '
                         f'{normalize!r}.')
    chunk = round(chunk_seconds * sample_rate)
    overlap = round(overlap_seconds * sample_rate)
    if not 0 < overlap <= chunk / 2:
        raise ValueError(
            f'separate: expected 0 < overlap <= chunk / 2, found '
            f'overlap_seconds={overlap_seconds} ({overlap} samples) and '
            f'chunk_seconds={chunk_seconds} ({chunk} samples) at '
            f'{sample_rate} Hz.')
    if not (isinstance(batch_size, int) and batch_size >= 1):
        raise ValueError(f'batch_size must be a positive int, found '
                         f'{batch_size!r}.')

    device, dtype = _model_placement(model)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            x = torch.as_tensor(signal).to(device=device, dtype=dtype)
            output = _separate(model, x, _chunks(len(x), chunk, overlap),
                               overlap, batch_size)
            if normalize is not None:
                level = x.abs().max().clamp(max=peak)
                axis = None if normalize == 'common' else -1
                maximum = (output.abs().max() if axis is None
                           else output.abs().amax(axis, keepdim=True))
                output = output * torch.where(
                    maximum > 0, level / maximum.clamp(min=1e-30), 0)
    finally:
        model.train(was_training)
    if isinstance(signal, np.ndarray):
        return output.cpu().numpy().astype(signal.dtype, copy=False)
    return output.to(device=signal.device, dtype=signal.dtype)


def _batches(chunks, batch_size):
    """Consecutive chunks of equal length, at most ``batch_size`` each."""
    batch = []
    for start, stop in chunks:
        if batch and (len(batch) == batch_size
                      or stop - start != batch[0][1] - batch[0][0]):
            yield batch
            batch = []
        batch.append((start, stop))
    yield batch


def _run(model, x, batch):
    length = batch[0][1] - batch[0][0]
    observation = torch.stack([x[start:stop] for start, stop in batch])
    num_samples = torch.full((len(batch),), length, device=x.device)
    estimate = model({'observation': observation, 'num_samples': num_samples})
    if (not isinstance(estimate, torch.Tensor) or estimate.dim() != 3
            or estimate.shape[0] != len(batch)
            or estimate.shape[-1] != length):
        shape = (tuple(estimate.shape) if isinstance(estimate, torch.Tensor)
                 else type(estimate).__name__)
        raise ValueError(
            f'separate: the model must return (batch={len(batch)}, K, '
            f'samples={length}) for an observation of shape '
            f'{tuple(observation.shape)}, found {shape}.')
    return estimate.to(x.dtype)


def _separate(model, x, chunks, overlap, batch_size):
    """Run the chunks; align, cross-fade and concatenate their outputs."""
    output = None
    tail = None      # the aligned last `overlap` samples of the last chunk
    fade_in = _fade_in(overlap, x.device).to(x.dtype)
    last = len(chunks) - 1
    index = 0
    for batch in _batches(chunks, batch_size):
        estimates = _run(model, x, batch)
        for (start, stop), estimate in zip(batch, estimates):
            if output is None:
                output = x.new_zeros(estimate.shape[0], len(x))
            if estimate.shape[0] != output.shape[0]:
                raise ValueError(
                    f'separate: the model returned {estimate.shape[0]} '
                    f'sources for chunk {index}, {output.shape[0]} before.')
            begin = start
            if tail is not None:
                permutation = _alignment(tail, estimate[:, :overlap])
                estimate = apply_permutation(estimate, permutation, axis=0)
                output[:, start:start + overlap] = (
                    tail * (1 - fade_in) + estimate[:, :overlap] * fade_in)
                begin = start + overlap
            end = stop if index == last else stop - overlap
            output[:, begin:end] = estimate[:, begin - start:end - start]
            tail = estimate[:, end - start:]
            index += 1
    return output
