"""Signals for the ``'audios'`` entry of a review dict."""
import numpy as np

from padertorch_audio.summary.images import _to_numpy

__all__ = ['audio']


def audio(signal, sampling_rate, normalize=True):
    """A signal as ``(samples, sampling_rate)`` for tensorboard.

    Args:
        signal: ``(samples,)`` real signal, numpy array or tensor (leading
            axes of size 1, e.g. ``(1, samples)``, are dropped).
        sampling_rate: In Hz.
        normalize: Divide by the peak magnitude, so that the loudest sample
            is +-1 (a silent signal stays zero). If False, the signal must
            already lie in [-1, 1].

    Returns:
        ``(float32 array (samples,) in [-1, 1], int sampling_rate)``: the
        value a review's ``'audios'`` dict takes.

    >>> samples, rate = audio(np.array([0., 2., -4.]), 8000)
    >>> samples, rate
    (array([ 0. ,  0.5, -1. ], dtype=float32), 8000)
    """
    array = _to_numpy(signal)
    if array.ndim == 0 or any(size != 1 for size in array.shape[:-1]):
        raise ValueError(
            f'signal must be (samples,), found shape {array.shape}; select '
            f'one channel or source, e.g. signal[0].')
    if np.iscomplexobj(array):
        raise ValueError(f'signal must be real, found dtype {array.dtype}.')
    array = array.reshape(-1).astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError(
            f'signal holds {np.count_nonzero(~np.isfinite(array))} non-finite '
            f'values (NaN or inf) among its {array.size} samples.')
    if sampling_rate <= 0 or sampling_rate != int(sampling_rate):
        raise ValueError(
            f'sampling_rate must be a positive integer (Hz), got '
            f'{sampling_rate}.')
    peak = np.max(np.abs(array)) if array.size else 0.
    if normalize:
        if peak > 0:
            array = array / peak
    elif peak > 1:
        raise ValueError(
            f'With normalize=False, the signal must lie in [-1, 1]; its '
            f'peak magnitude is {peak:.4g}.')
    return array.astype(np.float32), int(sampling_rate)
