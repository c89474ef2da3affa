"""Sample rate conversion by a rational factor (polyphase filtering).

``resample`` reduces ``target_rate / source_rate`` to ``up / down`` with the
greatest common divisor and calls ``scipy.signal.resample_poly`` (zero
insertion by ``up``, a Kaiser-windowed (beta 5) low-pass FIR filter with its
cut-off at the lower of the two Nyquist frequencies, decimation by
``down``; the filter delay is compensated, so the output is aligned with
the input).
"""
import math
import numbers

import numpy as np
import scipy.signal
import torch

__all__ = ['resample']


def _rate(rate, name):
    if isinstance(rate, numbers.Real) and rate > 0 \
            and float(rate).is_integer():
        return int(rate)
    raise ValueError(
        f'Expected {name} as a positive whole number of Hz, found {rate!r}.')


def resample(signal, source_rate, target_rate, axis=-1):
    """Resample ``signal`` from ``source_rate`` to ``target_rate`` (Hz).

    Args:
        signal: Array or tensor with a time axis ``axis``, e.g.
            ``(..., samples)``.
        source_rate, target_rate: Sample rates in Hz (whole numbers).
        axis: The time axis.

    Returns:
        The same type (tensors: same dtype and device; numpy: float32 stays
        float32, other types become float64); the time axis has
        ``ceil(samples * target_rate / source_rate)`` samples.

    The computation runs in numpy (scipy) also for tensors; it is not
    differentiable, so a tensor that requires grad is rejected.

    >>> x = np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)
    >>> resample(x, 16000, 8000).shape
    (8000,)
    >>> resample(torch.zeros(2, 441), 44100, 16000).shape
    torch.Size([2, 160])
    """
    source_rate = _rate(source_rate, 'source_rate')
    target_rate = _rate(target_rate, 'target_rate')
    divisor = math.gcd(source_rate, target_rate)
    up, down = target_rate // divisor, source_rate // divisor
    if isinstance(signal, torch.Tensor):
        if signal.requires_grad and torch.is_grad_enabled():
            raise ValueError(
                f'resample is not differentiable: found a signal of shape '
                f'{tuple(signal.shape)} that requires grad. Detach it first.')
        if signal.is_complex():
            raise ValueError(f'Expected a real signal, found {signal.dtype}.')
        dtype = signal.dtype if signal.is_floating_point() \
            else torch.get_default_dtype()
        _check_axis(signal, axis)
        array = signal.detach().cpu().numpy()
        output = scipy.signal.resample_poly(array, up, down, axis=axis)
        return torch.from_numpy(np.ascontiguousarray(output)).to(
            device=signal.device, dtype=dtype)
    signal = np.asarray(signal)
    _check_axis(signal, axis)
    if signal.dtype != np.float32:
        signal = signal.astype(np.float64, copy=False)
    return scipy.signal.resample_poly(signal, up, down, axis=axis)


def _check_axis(signal, axis):
    if not -signal.ndim <= axis < signal.ndim or signal.shape[axis] == 0:
        raise ValueError(
            f'Expected a signal with samples on axis {axis}, found shape '
            f'{tuple(signal.shape)}.')
