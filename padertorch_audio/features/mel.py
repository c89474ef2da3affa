"""Mel filterbanks and log-mel spectrograms.

Mel scales (frequencies in Hz):

- HTK (O'Shaughnessy): ``mel = 2595 * log10(1 + f / 700)``.
- Slaney (Auditory Toolbox): linear below 1 kHz, ``mel = 3 * f / 200``;
  logarithmic above, ``mel = 15 + 27 * ln(f / 1000) / ln(6.4)``.

A filterbank has ``n_mels`` triangles whose corners lie equally spaced on
the mel scale between ``fmin`` and ``fmax``; triangle ``i`` rises from
corner ``i`` to ``i + 1`` and falls to ``i + 2``. With ``norm='slaney'`` each
triangle is scaled by ``2 / (f[i + 2] - f[i])`` (constant energy per band).
This is the definition of ``librosa.filters.mel``.
"""
import numpy as np
import torch

from padertorch_audio.base import Module
from padertorch_audio.features.stft import (
    _check_parameters, _check_signal, _stft_torch, get_window, stft,
)

__all__ = [
    'hz_to_mel',
    'mel_to_hz',
    'mel_filterbank',
    'log_mel',
    'LogMel',
]

_F_SP = 200. / 3  # Hz per mel below 1 kHz (Slaney)
_MIN_LOG_HZ = 1000.
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOG_STEP = np.log(6.4) / 27.


def hz_to_mel(frequencies, htk=False):
    """Frequencies in Hz (scalar or array) -> mel (float64).

    >>> hz_to_mel([500., 1000., 6400.]).round(6)
    array([ 7.5, 15. , 42. ])
    >>> hz_to_mel(1000., htk=True).round(1)
    np.float64(1000.0)
    """
    frequencies = np.asarray(frequencies, dtype=np.float64)
    if htk:
        return 2595. * np.log10(1. + frequencies / 700.)
    linear = frequencies / _F_SP
    logarithmic = _MIN_LOG_MEL + np.log(
        np.maximum(frequencies, _MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOG_STEP
    return np.where(frequencies >= _MIN_LOG_HZ, logarithmic, linear)


def mel_to_hz(mels, htk=False):
    """Inverse of :func:`hz_to_mel`: mel -> Hz (float64).

    >>> mel_to_hz([7.5, 15., 42.]).round(6)
    array([ 500., 1000., 6400.])
    """
    mels = np.asarray(mels, dtype=np.float64)
    if htk:
        return 700. * (10. ** (mels / 2595.) - 1.)
    linear = mels * _F_SP
    logarithmic = _MIN_LOG_HZ * np.exp(
        _LOG_STEP * (np.maximum(mels, _MIN_LOG_MEL) - _MIN_LOG_MEL))
    return np.where(mels >= _MIN_LOG_MEL, logarithmic, linear)


def mel_filterbank(sample_rate, n_fft, n_mels=80, fmin=0., fmax=None,
                   htk=False, norm='slaney'):
    """Triangular mel filterbank, float64 array ``(n_mels, n_fft // 2 + 1)``.

    Args:
        sample_rate: In Hz.
        n_fft: FFT size in samples; the filters act on its
            ``n_fft // 2 + 1`` bins (bin ``k`` lies at ``k * sample_rate /
            n_fft`` Hz).
        n_mels: Number of bands.
        fmin, fmax: Lowest and highest corner frequency in Hz; ``fmax``
            defaults to ``sample_rate / 2``.
        htk: HTK mel scale instead of Slaney's.
        norm: ``'slaney'`` (area normalisation, ``2 / bandwidth``) or None
            (peak 1).

    ``spectrum @ mel_filterbank(...).T`` maps ``(..., frames, bins)`` to
    ``(..., frames, n_mels)``. Equal to ``librosa.filters.mel`` with the
    same arguments.

    >>> fb = mel_filterbank(16000, 512, n_mels=40)
    >>> fb.shape
    (40, 257)
    >>> mel_filterbank(16000, 512, n_mels=40, norm=None).max().round(2)
    np.float64(1.0)
    """
    fmax = sample_rate / 2. if fmax is None else fmax
    if not 0 <= fmin < fmax <= sample_rate / 2.:
        raise ValueError(
            f'Expected 0 <= fmin < fmax <= sample_rate / 2 = '
            f'{sample_rate / 2.}, found fmin={fmin}, fmax={fmax}.')
    if norm not in ('slaney', None):
        raise ValueError(f"norm must be 'slaney' or None, found {norm!r}.")
    bin_frequencies = np.arange(n_fft // 2 + 1) * (sample_rate / n_fft)
    corners = mel_to_hz(np.linspace(
        hz_to_mel(fmin, htk), hz_to_mel(fmax, htk), n_mels + 2), htk)
    widths = np.diff(corners)
    # distance of every bin to every corner: (n_mels + 2, bins)
    offsets = corners[:, None] - bin_frequencies[None, :]
    rising = -offsets[:-2] / widths[:-1, None]
    falling = offsets[2:] / widths[1:, None]
    weights = np.maximum(0., np.minimum(rising, falling))
    if norm == 'slaney':
        weights *= (2. / (corners[2:] - corners[:-2]))[:, None]
    return weights


def _log(mel, floor, log1p):
    if log1p:
        return torch.log1p(mel) if isinstance(mel, torch.Tensor) \
            else np.log1p(mel)
    if isinstance(mel, torch.Tensor):
        return torch.log(torch.clamp(mel, min=floor))
    return np.log(np.maximum(mel, floor))


def _power(spectrum, power):
    """``|spectrum| ** power``; ``power=2`` without the square root."""
    if power == 2:
        return spectrum.real ** 2 + spectrum.imag ** 2
    magnitude = abs(spectrum)
    return magnitude if power == 1 else magnitude ** power


def log_mel(signal, sample_rate, size=1024, shift=256, window='hann',
            window_length=None, fading=True, pad=True, n_mels=80, fmin=0.,
            fmax=None, htk=False, norm='slaney', power=2., floor=1e-10,
            log1p=False):
    """Log-mel spectrogram ``log(max(|stft(x)| ** power @ fb.T, floor))``.

    Args:
        signal: Real time signal ``(..., samples)``, tensor or numpy array.
        sample_rate: In Hz.
        size, shift, window, window_length, fading, pad: STFT parameters
            (see :func:`~padertorch_audio.features.stft`); ``size`` is the
            FFT size ``n_fft`` of the filterbank.
        n_mels, fmin, fmax, htk, norm: Filterbank (see
            :func:`mel_filterbank`).
        power: 2 for the power spectrum, 1 for the magnitude.
        floor: Values below it are raised to it before the natural log
            (``log(max(x, floor))``; no ``-inf`` for silence, and no
            gradient below the floor).
        log1p: Use ``log(1 + x)`` instead (``floor`` is unused).

    Returns:
        ``(..., frames, n_mels)``, same type as ``signal``.

    >>> log_mel(torch.zeros(2, 16000), 16000, 512, 160, window_length=400,
    ...         n_mels=40).shape
    torch.Size([2, 102, 40])
    """
    filterbank = mel_filterbank(sample_rate, size, n_mels, fmin, fmax, htk,
                                norm)
    spectrum = stft(signal, size, shift, window, window_length, fading, pad)
    power_spectrum = _power(spectrum, power)
    if isinstance(power_spectrum, torch.Tensor):
        filterbank = torch.as_tensor(filterbank, dtype=power_spectrum.dtype,
                                     device=power_spectrum.device)
    else:
        filterbank = filterbank.astype(power_spectrum.dtype)
    return _log(power_spectrum @ filterbank.T, floor, log1p)


class LogMel(Module):
    """:func:`log_mel` as a module: ``(..., samples)`` -> ``(..., frames,
    n_mels)``.

    The window and the filterbank ``(n_mels, size // 2 + 1)`` are float64
    buffers (not saved in the state dict; they follow ``.to(device)``),
    cast to the signal's dtype.

    >>> LogMel(16000, 512, 160, window_length=400)(torch.zeros(16000)).shape
    torch.Size([102, 80])
    """

    def __init__(self, sample_rate=16000, size=1024, shift=256,
                 window='hann', window_length=None, fading=True, pad=True,
                 n_mels=80, fmin=0., fmax=None, htk=False, norm='slaney',
                 power=2., floor=1e-10, log1p=False):
        super().__init__()
        if not isinstance(window, str):
            window = np.asarray(window)
        window_length = _check_parameters(size, shift, window, window_length)
        self.sample_rate = sample_rate
        self.size, self.shift, self.window_length = size, shift, window_length
        self.fading, self.pad = fading, pad
        self.power, self.floor, self.log1p = power, floor, log1p
        self.register_buffer(
            'window', torch.as_tensor(get_window(window, window_length)),
            persistent=False)
        self.register_buffer(
            'filterbank', torch.as_tensor(mel_filterbank(
                sample_rate, size, n_mels, fmin, fmax, htk, norm)),
            persistent=False)
        self._cast = {}

    def _buffer(self, name, like):
        """The buffer in ``like``'s dtype, cast once per dtype and device."""
        buffer = getattr(self, name)
        if buffer.dtype == like.dtype and buffer.device == like.device:
            return buffer
        key = (name, like.dtype, like.device)
        source, cast = self._cast.get(key, (None, None))
        if source is not buffer:  # new buffer after .to(...)
            cast = buffer.to(dtype=like.dtype, device=like.device)
            self._cast[key] = (buffer, cast)
        return cast

    def forward(self, signal):
        if not isinstance(signal, torch.Tensor) \
                or not signal.is_floating_point():
            raise ValueError(
                f'Expected a real floating point tensor (..., samples), '
                f'found {getattr(signal, "dtype", type(signal))} of shape '
                f'{tuple(getattr(signal, "shape", ()))}.')
        front, back = _check_signal(signal, self.size, self.shift,
                                    self.window_length, self.fading, self.pad)
        spectrum = _stft_torch(signal, self.size, self.shift,
                               self._buffer('window', signal), front, back)
        mel = _power(spectrum, self.power) \
            @ self._buffer('filterbank', signal).T
        return _log(mel, self.floor, self.log1p)

    def extra_repr(self):
        return (f'sample_rate={self.sample_rate}, size={self.size}, '
                f'shift={self.shift}, window_length={self.window_length}, '
                f'n_mels={self.filterbank.shape[0]}, power={self.power}')
