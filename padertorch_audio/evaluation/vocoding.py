"""Vocoder quality of one utterance: a resynthesis against the original.

Definitions (the signals are time-aligned; there is no dynamic time
warping: a vocoder driven by the reference's own features produces a
signal of the reference's length on the same time axis):

- ``rmse``: waveform root-mean-square error ``sqrt(mean((estimate -
  reference) ** 2))`` (the value padertorch's WaveNet reports). It punishes
  any phase difference, so it is large even for perfectly sounding
  resyntheses; it is still the figure to compare with padertorch.
- ``log_spectral_distance`` in dB: per frame the RMS over the bins of the
  difference of the log power spectra ``10 log10 max(|STFT|², floor)``,
  averaged over the frames. Phase-blind.
- ``mel_cepstral_distortion`` in dB: mel cepstra ``c`` are the orthonormal
  DCT-II of the natural-log mel power spectrum (floor 1e-10, the
  ``log_mel`` of :mod:`padertorch_audio.features`); per frame ``10 / ln 10
  * sqrt(2 * sum_d (c_d - c'_d) ** 2)`` over ``d = 1 .. num_coefficients -
  1`` (``c_0``, the frame energy, is left out, so an overall gain does not
  count), averaged over the frames. The cepstra are those of the log
  *power* spectrum (twice those of the log amplitude), and no frames are
  dropped (silence included), so the values are comparable with other
  implementations only up to these choices.

The STFTs are those of :func:`padertorch_audio.features.stft` (Hann
window, ``fading=True, pad=True``).
"""
import math

import numpy as np
import scipy.fft

from padertorch_audio.features import log_mel, stft

__all__ = [
    'waveform_rmse',
    'log_spectral_distance',
    'mel_cepstral_distortion',
    'vocoder_metrics',
]


def _as_signal(x, name, function):
    if hasattr(x, 'detach'):  # a torch tensor
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if np.iscomplexobj(x) or not (np.issubdtype(x.dtype, np.floating)
                                  or np.issubdtype(x.dtype, np.integer)):
        raise ValueError(f'{function}: expected a real {name} signal, found '
                         f'dtype {x.dtype} of shape {x.shape}.')
    return x.astype(np.float64)


def _check_pair(estimate, reference, function):
    """Both signals as float64 arrays ``(samples,)`` of the same length."""
    estimate = _as_signal(estimate, 'estimate', function)
    reference = _as_signal(reference, 'reference', function)
    if estimate.ndim != 1 or estimate.shape != reference.shape \
            or estimate.shape[0] == 0:
        raise ValueError(
            f'{function}: expected estimate and reference of shape '
            f'(samples,), samples >= 1, with the same length, found estimate '
            f'{estimate.shape} and reference {reference.shape}.')
    for name, signal in (('estimate', estimate), ('reference', reference)):
        if not np.isfinite(signal).all():
            raise ValueError(
                f'{function}: expected finite values, found '
                f'{np.count_nonzero(~np.isfinite(signal))} NaN or inf in the '
                f'{name} of shape {signal.shape}.')
    return estimate, reference


def waveform_rmse(estimate, reference):
    """Root-mean-square error ``sqrt(mean((estimate - reference) ** 2))``.

    Args:
        estimate, reference: ``(samples,)``, numpy arrays or tensors.

    Returns:
        float, in the unit of the signals.

    Raises:
        ValueError: not 1-D, different lengths, empty, NaN or inf.

    >>> waveform_rmse([0., 1., 0., 1.], [0., 0., 0., 0.])
    0.7071067811865476
    """
    estimate, reference = _check_pair(estimate, reference, 'waveform_rmse')
    return float(np.sqrt(np.mean((estimate - reference) ** 2)))


def log_spectral_distance(estimate, reference, size=1024, shift=256,
                          window_length=None, floor=1e-10):
    """Log-spectral distance in dB.

    ``mean_frames sqrt(mean_bins (10 log10 max(P_est, floor) - 10 log10
    max(P_ref, floor)) ** 2)`` with the power spectra ``P = |stft| ** 2``
    (Hann window, ``size // 2 + 1`` bins per frame).

    Args:
        estimate, reference: ``(samples,)``, numpy arrays or tensors.
        size, shift, window_length: STFT parameters in samples (see
            :func:`padertorch_audio.features.stft`).
        floor: Smallest power; quieter bins count as ``floor``.

    Returns:
        float, dB. A gain ``g`` on the estimate alone gives ``|20 log10
        g|`` (while no bin is below the floor).

    Raises:
        ValueError: not 1-D, different lengths, empty, NaN or inf.

    >>> x = np.random.default_rng(0).standard_normal(4000)
    >>> round(log_spectral_distance(0.5 * x, x, 256, 64), 6)
    6.0206
    """
    estimate, reference = _check_pair(estimate, reference,
                                      'log_spectral_distance')
    log_power = [
        10 * np.log10(np.maximum(np.abs(stft(
            signal, size, shift, window_length=window_length)) ** 2, floor))
        for signal in (estimate, reference)
    ]
    difference = log_power[0] - log_power[1]
    return float(np.mean(np.sqrt(np.mean(difference ** 2, axis=-1))))


def _mel_cepstra(signal, sample_rate, size=1024, shift=256,
                 window_length=None, n_mels=80, num_coefficients=13, fmin=0.,
                 fmax=None):
    """Mel cepstra ``(frames, num_coefficients)`` of a checked signal:
    orthonormal DCT-II of the natural-log mel power spectrum (floor 1e-10),
    ``c_0`` included."""
    features = log_mel(signal, sample_rate, size, shift,
                       window_length=window_length, n_mels=n_mels, fmin=fmin,
                       fmax=fmax)
    return scipy.fft.dct(features, type=2, norm='ortho',
                         axis=-1)[..., :num_coefficients]


def mel_cepstral_distortion(estimate, reference, sample_rate, size=1024,
                            shift=256, window_length=None, n_mels=80,
                            num_coefficients=13, fmin=0., fmax=None):
    """Mel-cepstral distortion in dB, time-aligned (no DTW).

    Mel cepstra ``c``: the orthonormal DCT-II of the natural-log mel power
    spectrum ``log(max(|stft|² @ fb.T, 1e-10))`` (Hann window, Slaney mel
    filterbank with ``n_mels`` bands). Per frame ``10 / ln 10 * sqrt(2 *
    sum_{d=1}^{num_coefficients-1} (c_d - c'_d) ** 2)`` (``c_0``, the
    energy, excluded), averaged over all frames, frame ``t`` of the
    estimate against frame ``t`` of the reference (no dynamic time warping:
    the signals must already be aligned).

    Args:
        estimate, reference: ``(samples,)``, numpy arrays or tensors.
        sample_rate: In Hz.
        size, shift, window_length: STFT parameters in samples.
        n_mels, fmin, fmax: The mel filterbank (see
            :func:`padertorch_audio.features.mel_filterbank`).
        num_coefficients: Cepstra ``c_0 .. c_{num_coefficients-1}`` are
            computed, ``c_1 ..`` compared (``2 <= num_coefficients <=
            n_mels``).

    Returns:
        float, dB. Symmetric in its two signals; 0 for equal signals, and
        (nearly) 0 for a gain on one of them.

    Raises:
        ValueError: not 1-D, different lengths, empty, NaN or inf, or
            ``num_coefficients`` out of range.

    >>> x = np.random.default_rng(0).standard_normal(4000)
    >>> mel_cepstral_distortion(x, x, 8000, 256, 64, n_mels=40)
    0.0
    """
    function = 'mel_cepstral_distortion'
    estimate, reference = _check_pair(estimate, reference, function)
    if not 2 <= num_coefficients <= n_mels:
        raise ValueError(
            f'{function}: expected 2 <= num_coefficients <= n_mels='
            f'{n_mels}, found num_coefficients={num_coefficients}.')
    cepstra = [
        _mel_cepstra(signal, sample_rate, size, shift, window_length, n_mels,
                     num_coefficients, fmin, fmax)[..., 1:]
        for signal in (estimate, reference)
    ]
    distance = np.sqrt(2 * np.sum((cepstra[0] - cepstra[1]) ** 2, axis=-1))
    return float(10 / math.log(10) * np.mean(distance))


def vocoder_metrics(estimate, reference, sample_rate, size=1024, shift=256,
                    window_length=None, n_mels=80):
    """All vocoder metrics of one utterance.

    Args:
        estimate: The resynthesis ``(samples,)``.
        reference: The original ``(samples,)``, time-aligned, same length.
        sample_rate: In Hz.
        size, shift, window_length, n_mels: The STFT and mel analysis of
            the distances (those of the vocoder's features, typically).

    Returns:
        ``{'rmse': float, 'log_spectral_distance': float (dB),
        'mel_cepstral_distortion': float (dB)}`` (see the module's
        docstring; MCD with 13 coefficients).

    Raises:
        ValueError: not 1-D, different lengths, empty, NaN or inf.

    >>> x = np.random.default_rng(0).standard_normal(4000)
    >>> metrics = vocoder_metrics(x, x, 8000, 256, 64, n_mels=40)
    >>> sorted(metrics.items())
    [('log_spectral_distance', 0.0), ('mel_cepstral_distortion', 0.0), ('rmse', 0.0)]
    """
    estimate, reference = _check_pair(estimate, reference, 'vocoder_metrics')
    return {
        'rmse': waveform_rmse(estimate, reference),
        'log_spectral_distance': log_spectral_distance(
            estimate, reference, size, shift, window_length),
        'mel_cepstral_distortion': mel_cepstral_distortion(
            estimate, reference, sample_rate, size, shift, window_length,
            n_mels),
    }
