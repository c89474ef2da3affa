"""From features back to audio: log-mel -> STFT magnitude -> waveform.

The Griffin-Lim baseline of a vocoder:

- :func:`log_mel_to_magnitude` undoes :func:`~padertorch_audio.features.
  log_mel` as far as it can: the log exactly, the mel filterbank by
  non-negative least squares (the filterbank has fewer bands than bins, so
  the answer is one of many spectra with the same log-mel).
- :func:`griffin_lim` finds a signal whose STFT magnitude is close to a
  given one (fast Griffin-Lim, Perraudin, Balazs & Søndergaard 2013).
- :func:`log_mel_to_audio` is the two in a row.

All three take numpy arrays or tensors (converted with
``.detach().cpu().numpy()``, no gradient) and return numpy arrays; they
compute in float64 and return float32 for float32 input, float64 otherwise.
The STFT conventions are those of :func:`~padertorch_audio.features.stft`
(with ``fading=True, pad=True``): ``stft(griffin_lim(M, ...))`` has as many
frames as ``M``, frame for frame.
"""
import numpy as np
import scipy.sparse

from padertorch_audio.features.mel import mel_filterbank
from padertorch_audio.features.stft import (
    _check_parameters, check_nola, get_window, istft, stft,
)

__all__ = ['log_mel_to_magnitude', 'griffin_lim', 'log_mel_to_audio']

#: Multiplicative updates of :func:`log_mel_to_magnitude` (fixed, so that
#: the time is predictable: about 20 ms per second of 16-kHz audio).
NNLS_ITERATIONS = 100


def _as_float_array(x, name, function):
    """``x`` as float64 array and the dtype to return (float32 or 64)."""
    if hasattr(x, 'detach'):  # a torch tensor
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if np.iscomplexobj(x) or not (np.issubdtype(x.dtype, np.floating)
                                  or np.issubdtype(x.dtype, np.integer)):
        raise ValueError(f'{function}: expected a real {name}, found dtype '
                         f'{x.dtype} of shape {x.shape}.')
    dtype = np.float32 if x.dtype == np.float32 else np.float64
    return x.astype(np.float64), dtype


def _check_frames(x, bins, name, function, what):
    if x.ndim < 2 or x.shape[-1] != bins or x.shape[-2] == 0:
        raise ValueError(
            f'{function}: expected a {name} of shape (..., frames >= 1, '
            f'{what} = {bins}), found shape {x.shape}.')


def log_mel_to_magnitude(log_mel, sample_rate, size=1024, n_mels=80, fmin=0.,
                         fmax=None, htk=False, norm='slaney', power=2.,
                         floor=1e-10, log1p=False):
    """STFT magnitude whose log-mel is (close to) the given one.

    The inverse of :func:`~padertorch_audio.features.log_mel` with the same
    arguments, as far as one exists: the log is undone exactly (``exp``,
    or ``expm1`` for ``log1p=True``), giving the mel spectrum ``m``; the
    power spectrum ``p >= 0`` (``|stft| ** power``, per frame) is the
    non-negative least-squares solution of ``fb @ p = m`` with each band
    weighted by ``1 / max(m, floor)`` (``1 / (1 + m)`` with ``log1p``), i.e.
    the error measured relative to the band, as the log-mel measures it;
    then the power is undone (``p ** (1 / power)``).

    The least-squares problem of all frames is solved at once by
    :data:`NNLS_ITERATIONS` multiplicative updates (``p <- p * fb.T W m /
    fb.T W fb p``, which keep ``p`` non-negative and do not increase the
    error), starting from the band densities ``m / fb.sum(1)`` interpolated
    between the band centres. A 10-s utterance (626 frames, 80 bands, size
    1024) takes about 0.2 s. Bins that no band covers (below ``fmin``,
    above ``fmax``) are 0.

    Args:
        log_mel: ``(..., frames, n_mels)``, numpy array or tensor.
        sample_rate: In Hz.
        size: FFT size of the STFT; the output has ``size // 2 + 1`` bins.
        n_mels, fmin, fmax, htk, norm: The filterbank (see
            :func:`~padertorch_audio.features.mel_filterbank`).
        power, floor, log1p: As given to ``log_mel``. ``-inf`` in
            ``log_mel`` means a band of zero power.

    Returns:
        Non-negative magnitude ``(..., frames, size // 2 + 1)``, numpy
        array (float32 for float32 input, else float64).

    Raises:
        ValueError: a shape other than ``(..., frames >= 1, n_mels)``,
            NaN or ``+inf`` in ``log_mel``, a non-positive ``power``.

    >>> from padertorch_audio.features import log_mel
    >>> x = np.random.default_rng(0).standard_normal(4000)
    >>> features = log_mel(x, 8000, 256, 64, n_mels=40)
    >>> magnitude = log_mel_to_magnitude(features, 8000, 256, n_mels=40)
    >>> magnitude.shape
    (66, 129)
    >>> mel = magnitude ** 2 @ mel_filterbank(8000, 256, 40).T
    >>> bool(np.abs(np.log(mel) - features).max() < 0.05)
    True
    """
    function = 'log_mel_to_magnitude'
    log_mel, dtype = _as_float_array(log_mel, 'log-mel', function)
    _check_frames(log_mel, n_mels, 'log-mel', function, 'n_mels')
    if np.isnan(log_mel).any() or np.isposinf(log_mel).any():
        raise ValueError(
            f'{function}: the log-mel of shape {log_mel.shape} contains '
            f'{"NaN" if np.isnan(log_mel).any() else "+inf"}; expected '
            f'finite values (or -inf for zero power).')
    if not power > 0:
        raise ValueError(f'{function}: expected power > 0, found {power}.')
    filterbank = mel_filterbank(sample_rate, size, n_mels, fmin, fmax, htk,
                                norm)
    if log1p:
        mel = np.maximum(np.expm1(log_mel), 0.)
        weight = 1. / (1. + mel) ** 2
    else:
        mel = np.exp(log_mel)
        weight = 1. / np.maximum(mel, floor) ** 2
    lead = log_mel.shape[:-1]
    # (n_mels, N): the frames of all utterances are the columns.
    mel = mel.reshape(-1, n_mels).T
    weight = weight.reshape(-1, n_mels).T
    spectrum = _nonnegative_least_squares(filterbank, mel, weight)
    magnitude = spectrum.T.reshape(*lead, filterbank.shape[1])
    if power != 1:
        magnitude = magnitude ** (1. / power)
    return magnitude.astype(dtype, copy=False)


def _nonnegative_least_squares(filterbank, mel, weight):
    """``argmin_{p >= 0} sum weight * (filterbank @ p - mel) ** 2`` per
    column, ``(n_mels, N)`` -> ``(bins, N)``, by multiplicative updates."""
    bands = scipy.sparse.csr_matrix(filterbank)  # each bin in <= 2 bands
    bands_t = bands.T.tocsr()
    # Start: the density of each band, interpolated between band centres
    # with the triangles scaled to peak 1 (a partition of unity there).
    band_sums = filterbank.sum(axis=1)
    peaks = filterbank.max(axis=1)
    used = band_sums > 0  # an empty band (too narrow for the FFT) is skipped
    density = np.zeros_like(mel)
    density[used] = mel[used] / band_sums[used, None]
    shapes = np.zeros_like(filterbank)
    shapes[used] = filterbank[used] / peaks[used, None]
    coverage = shapes.sum(axis=0)
    covered = coverage > 0
    spectrum = np.zeros((filterbank.shape[1], mel.shape[1]))
    spectrum[covered] = (shapes.T @ density)[covered] \
        / coverage[covered, None]
    numerator = bands_t @ (weight * mel)
    tiny = np.finfo(np.float64).tiny
    for _ in range(NNLS_ITERATIONS):
        ratio = bands_t @ (weight * (bands @ spectrum))
        np.maximum(ratio, tiny, out=ratio)
        np.divide(numerator, ratio, out=ratio)
        spectrum *= ratio
    return spectrum


def _fit_length(signal, num_samples):
    """Crop or zero pad the last axis to ``num_samples``."""
    if num_samples is None:
        return signal
    if signal.shape[-1] >= num_samples:
        return signal[..., :num_samples]
    return np.pad(signal, [(0, 0)] * (signal.ndim - 1)
                  + [(0, num_samples - signal.shape[-1])])


def griffin_lim(magnitude, size=1024, shift=256, window='hann',
                window_length=None, num_iterations=32, momentum=0.99,
                num_samples=None, seed=0):
    """A signal whose STFT magnitude approximates ``magnitude``.

    Fast Griffin-Lim (Perraudin, Balazs & Søndergaard 2013): with
    ``P(X) = stft(istft(X))`` (the projection onto consistent spectra) and
    the magnitude projection ``A(X) = magnitude * X / |X|``, iterate
    ``c_n = P(A(t_{n-1}))``, ``t_n = c_n + momentum * (c_n - c_{n-1})``.
    ``momentum=0`` is the original Griffin-Lim algorithm (Griffin & Lim
    1984). The start ``t_0 = magnitude * exp(i phi)`` has a uniformly
    random phase from ``numpy.random.default_rng(seed)``; the first step
    has no previous iterate, hence no momentum (as in librosa). The result
    is ``istft(A(t_N))``.

    Args:
        magnitude: Non-negative ``(..., frames, size // 2 + 1)``, numpy
            array or tensor; the frames of :func:`~padertorch_audio.features.
            stft` with ``fading=True, pad=True``.
        size, shift, window, window_length: As given to ``stft``.
        num_iterations: ``N`` above (``>= 0``; 0 gives the random-phase
            signal).
        momentum: ``alpha >= 0`` of the fast algorithm (0.99 as in the
            paper; it diverges for ``alpha > 1``).
        num_samples: Length of the output: the signal is cropped or zero
            padded to it. Default: all samples the frames hold,
            ``(frames + 1) * shift - window_length`` (the iterations
            always run on these).
        seed: Seed of the initial phase (same seed, same signal).

    Returns:
        ``(..., samples)`` numpy array (float32 for float32 input, else
        float64).

    Raises:
        ValueError: a shape other than ``(..., frames, size // 2 + 1)``,
            fewer frames than hold one sample (``(frames + 1) * shift <=
            window_length``), negative or non-finite magnitudes,
            ``momentum < 0``, ``num_iterations < 0``, ``num_samples < 0``.

    >>> from padertorch_audio.features import stft
    >>> t = np.arange(8000) / 8000
    >>> x = np.sin(2 * np.pi * 440 * t) * np.hanning(8000)
    >>> magnitude = abs(stft(x, 256, 64))
    >>> y = griffin_lim(magnitude, 256, 64, num_samples=8000)
    >>> y.shape
    (8000,)
    >>> error = np.linalg.norm(abs(stft(y, 256, 64)) - magnitude)
    >>> bool(error / np.linalg.norm(magnitude) < 0.1)
    True
    """
    function = 'griffin_lim'
    magnitude, dtype = _as_float_array(magnitude, 'magnitude', function)
    _check_frames(magnitude, size // 2 + 1, 'magnitude', function,
                  'size // 2 + 1')
    finite = np.isfinite(magnitude).all()
    if not finite or (magnitude < 0).any():
        found = 'NaN or inf' if not finite else 'negative values'
        raise ValueError(
            f'{function}: expected a finite, non-negative magnitude, found '
            f'{found} in the array of shape {magnitude.shape}.')
    if not momentum >= 0:
        raise ValueError(f'{function}: expected momentum >= 0, found '
                         f'{momentum}.')
    if num_iterations < 0 or (num_samples is not None and num_samples < 0):
        raise ValueError(
            f'{function}: expected num_iterations >= 0 and num_samples >= 0 '
            f'(or None), found num_iterations={num_iterations}, num_samples='
            f'{num_samples}.')
    if not isinstance(window, str):
        window = get_window(window, window_length)
    window_length = _check_parameters(size, shift, window, window_length)
    window = get_window(window, window_length)
    check_nola(window, shift)
    frames = magnitude.shape[-2]
    if (frames + 1) * shift <= window_length:
        raise ValueError(
            f'{function}: the magnitude of shape {magnitude.shape} holds no '
            f'sample: {frames} frames of shift={shift} need (frames + 1) * '
            f'shift > window_length={window_length}, i.e. at least '
            f'{window_length // shift} frames.')
    options = dict(size=size, shift=shift, window=window,
                   window_length=window_length)
    rng = np.random.default_rng(seed)
    phase = np.exp(2j * np.pi * rng.random(magnitude.shape))
    tiny = np.finfo(np.float64).tiny
    previous = None
    for _ in range(num_iterations):
        rebuilt = stft(istft(magnitude * phase, **options), **options)
        # c_n + alpha (c_n - c_{n-1}) has the phase of c_n - alpha /
        # (1 + alpha) c_{n-1}; only the phase is used.
        target = rebuilt if previous is None \
            else rebuilt - (momentum / (1. + momentum)) * previous
        previous = rebuilt
        length = np.abs(target)
        phase = np.where(length > tiny, target / np.maximum(length, tiny),
                         1.)
    signal = istft(magnitude * phase, **options)
    return _fit_length(signal, num_samples).astype(dtype, copy=False)


def log_mel_to_audio(log_mel, sample_rate, size=1024, shift=256,
                     window='hann', window_length=None, n_mels=80, fmin=0.,
                     fmax=None, htk=False, norm='slaney', power=2.,
                     floor=1e-10, log1p=False, num_iterations=32,
                     momentum=0.99, num_samples=None, seed=0):
    """Griffin-Lim resynthesis of a log-mel spectrogram (a vocoder's
    baseline): :func:`log_mel_to_magnitude`, then :func:`griffin_lim`.

    Args:
        log_mel: ``(..., frames, n_mels)`` as computed by
            :func:`~padertorch_audio.features.log_mel` with the same
            arguments (``fading=True, pad=True``).
        The others: see the two functions.

    Returns:
        ``(..., samples)`` numpy array (float32 for float32 input, else
        float64); ``samples`` as in :func:`griffin_lim`.

    >>> from padertorch_audio.features import log_mel
    >>> x = np.random.default_rng(0).standard_normal(4000)
    >>> features = log_mel(x, 8000, 256, 64, n_mels=40)
    >>> log_mel_to_audio(features, 8000, 256, 64, n_mels=40,
    ...                  num_samples=4000).shape
    (4000,)
    """
    magnitude = log_mel_to_magnitude(
        log_mel, sample_rate, size, n_mels, fmin, fmax, htk, norm, power,
        floor, log1p)
    return griffin_lim(magnitude, size, shift, window, window_length,
                       num_iterations, momentum, num_samples, seed)
