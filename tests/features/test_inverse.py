"""log-mel -> magnitude -> audio against librosa and hand-written loops."""
import librosa
import numpy as np
import pytest
import scipy.signal
import torch

from padertorch_audio.features import (
    griffin_lim,
    istft,
    log_mel,
    log_mel_to_audio,
    log_mel_to_magnitude,
    samples_to_frames,
    stft,
)

SAMPLE_RATE = 16000
SIZE, SHIFT = 512, 128


@pytest.fixture(scope='module')
def signal():
    """0.5 s: a chirp, a harmonic tone and a little noise, faded in."""
    t = np.arange(SAMPLE_RATE // 2) / SAMPLE_RATE
    x = 0.5 * scipy.signal.chirp(t, 300, t[-1], 3000)
    x += sum(0.2 / k * np.sin(2 * np.pi * 200 * k * t) for k in range(1, 6))
    x += 0.001 * np.random.default_rng(0).standard_normal(t.size)
    return x * np.minimum(1, t * 20)


def _log_mel_of_magnitude(magnitude, power=2., log1p=False, **mel_options):
    """The log-mel of a magnitude with librosa's filterbank."""
    filterbank = librosa.filters.mel(
        sr=SAMPLE_RATE, n_fft=SIZE, dtype=np.float64, **mel_options)
    mel = magnitude ** power @ filterbank.T
    return np.log1p(mel) if log1p else np.log(np.maximum(mel, 1e-10))


@pytest.mark.parametrize('options', [
    {},
    {'htk': True, 'norm': None},
    {'fmin': 100., 'fmax': 6000.},
    {'power': 1.},
    {'log1p': True},
])
def test_magnitude_reproduces_the_log_mel(signal, options):
    options = {'n_mels': 40, **options}
    features = log_mel(signal, SAMPLE_RATE, SIZE, SHIFT, **options)
    magnitude = log_mel_to_magnitude(features, SAMPLE_RATE, SIZE, **options)
    assert magnitude.shape == features.shape[:-1] + (SIZE // 2 + 1,)
    assert magnitude.dtype == np.float64 and (magnitude >= 0).all()
    mel_options = {key: options[key] for key in
                   ('n_mels', 'htk', 'norm', 'fmin', 'fmax') if key in options}
    resynthesized = _log_mel_of_magnitude(
        magnitude, options.get('power', 2.), options.get('log1p', False),
        **mel_options)
    # nats; log1p weighs the quiet bands less (an absolute error there)
    tolerance = 0.03 if options.get('log1p') else 0.02
    assert np.abs(resynthesized - features).max() < tolerance
    if 'fmax' in options:  # no band covers the bins outside fmin .. fmax
        frequencies = np.arange(SIZE // 2 + 1) * SAMPLE_RATE / SIZE
        outside = (frequencies <= options['fmin']) \
            | (frequencies >= options['fmax'])
        assert (magnitude[:, outside] == 0).all()


def test_magnitude_is_closer_than_librosa(signal):
    features = log_mel(signal, SAMPLE_RATE, SIZE, SHIFT, n_mels=40)
    magnitude = log_mel_to_magnitude(features, SAMPLE_RATE, SIZE, n_mels=40)
    expected = librosa.feature.inverse.mel_to_stft(
        np.exp(features).T, sr=SAMPLE_RATE, n_fft=SIZE, power=2.).T

    def log_mel_error(estimate):
        difference = _log_mel_of_magnitude(estimate, n_mels=40) - features
        return np.sqrt(np.mean(difference ** 2))

    # librosa minimises the linear error; the quiet bands are far off in
    # the log domain. Ours is weighted per band.
    assert log_mel_error(magnitude) < 0.1 * log_mel_error(expected)
    # In the linear (power) domain ours fits at least as well.
    filterbank = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=SIZE, n_mels=40)
    target = np.exp(features)
    ours = np.linalg.norm(magnitude ** 2 @ filterbank.T - target)
    theirs = np.linalg.norm(expected ** 2 @ filterbank.T - target)
    assert ours <= 1.01 * theirs + 1e-6 * np.linalg.norm(target)


def test_magnitude_of_a_batch_equals_item_by_item_and_keeps_float32(signal):
    features = log_mel(np.stack([signal, signal[::-1].copy()]),
                       SAMPLE_RATE, SIZE, SHIFT, n_mels=40)
    batch = log_mel_to_magnitude(features, SAMPLE_RATE, SIZE, n_mels=40)
    for index in range(2):
        np.testing.assert_allclose(batch[index], log_mel_to_magnitude(
            features[index], SAMPLE_RATE, SIZE, n_mels=40), rtol=1e-12)
    single = log_mel_to_magnitude(torch.from_numpy(features[0]).float(),
                                  SAMPLE_RATE, SIZE, n_mels=40)
    assert single.dtype == np.float32
    np.testing.assert_allclose(single, batch[0], rtol=1e-4, atol=1e-8)


def test_magnitude_bad_input():
    good = np.zeros((5, 40))
    with pytest.raises(ValueError, match=r'n_mels = 80.*\(5, 40\)'):
        log_mel_to_magnitude(good, SAMPLE_RATE, SIZE)
    with pytest.raises(ValueError, match=r'frames >= 1'):
        log_mel_to_magnitude(np.zeros((0, 40)), SAMPLE_RATE, SIZE, n_mels=40)
    with pytest.raises(ValueError, match=r'shape \(40,\)'):
        log_mel_to_magnitude(np.zeros(40), SAMPLE_RATE, SIZE, n_mels=40)
    bad = good.copy()
    bad[2, 3] = np.nan
    with pytest.raises(ValueError, match='NaN'):
        log_mel_to_magnitude(bad, SAMPLE_RATE, SIZE, n_mels=40)
    bad[2, 3] = np.inf
    with pytest.raises(ValueError, match=r'\+inf'):
        log_mel_to_magnitude(bad, SAMPLE_RATE, SIZE, n_mels=40)
    bad[2, 3] = -np.inf  # a band of zero power is fine
    assert np.isfinite(log_mel_to_magnitude(
        bad, SAMPLE_RATE, SIZE, n_mels=40)).all()


def _spectral_convergence(magnitude, estimate):
    return np.linalg.norm(magnitude - np.abs(estimate)) \
        / np.linalg.norm(magnitude)


def test_griffin_lim_converges_as_well_as_librosa(signal):
    magnitude = np.abs(stft(signal, SIZE, SHIFT))
    # librosa frames the signal differently (centred frames), hence its own
    # magnitude and its own STFT of its estimate; the mean over three
    # random starts.
    reference = np.abs(librosa.stft(signal, n_fft=SIZE, hop_length=SHIFT))
    ours, theirs = [], []
    for seed in range(3):
        estimate = griffin_lim(magnitude, SIZE, SHIFT, seed=seed,
                               num_samples=len(signal))
        assert estimate.shape == signal.shape
        ours.append(_spectral_convergence(
            magnitude, stft(estimate, SIZE, SHIFT)))
        expected = librosa.griffinlim(
            reference, n_iter=32, hop_length=SHIFT, window='hann',
            momentum=0.99, random_state=seed, length=len(signal))
        theirs.append(_spectral_convergence(
            reference, librosa.stft(expected, n_fft=SIZE, hop_length=SHIFT)))
    assert np.mean(ours) < 0.12
    assert np.mean(ours) < 1.5 * np.mean(theirs)
    # the fast algorithm beats the plain one with as many iterations
    plain = griffin_lim(magnitude, SIZE, SHIFT, momentum=0.)
    assert ours[0] < 0.8 * _spectral_convergence(
        magnitude, stft(plain, SIZE, SHIFT))


def _random_phase(shape, seed):
    return np.exp(2j * np.pi * np.random.default_rng(seed).random(shape))


def test_griffin_lim_without_momentum_is_the_plain_algorithm(signal):
    magnitude = np.abs(stft(signal[:2000], SIZE, SHIFT))
    x = istft(magnitude * _random_phase(magnitude.shape, 3), SIZE, SHIFT)
    for _ in range(5):
        spectrum = stft(x, SIZE, SHIFT)
        x = istft(magnitude * np.exp(1j * np.angle(spectrum)), SIZE, SHIFT)
    np.testing.assert_allclose(
        griffin_lim(magnitude, SIZE, SHIFT, num_iterations=5, momentum=0.,
                    seed=3), x, atol=1e-10)


def test_griffin_lim_momentum_is_perraudins_extrapolation(signal):
    # c_n = P(A(t_{n-1})), t_n = c_n + alpha (c_n - c_{n-1}), no
    # extrapolation in the first step
    magnitude = np.abs(stft(signal[:2000], SIZE, SHIFT))
    alpha = 0.5
    t = magnitude * _random_phase(magnitude.shape, 1)
    previous = None
    for _ in range(4):
        c = stft(istft(magnitude * np.exp(1j * np.angle(t)), SIZE, SHIFT),
                 SIZE, SHIFT)
        t = c if previous is None else c + alpha * (c - previous)
        previous = c
    expected = istft(magnitude * np.exp(1j * np.angle(t)), SIZE, SHIFT)
    np.testing.assert_allclose(
        griffin_lim(magnitude, SIZE, SHIFT, num_iterations=4,
                    momentum=alpha, seed=1), expected, atol=1e-10)


def test_griffin_lim_lengths_framing_and_seed(signal):
    window_length = 400
    magnitude = np.abs(stft(signal, SIZE, SHIFT, window_length=window_length))
    frames = magnitude.shape[0]
    options = dict(size=SIZE, shift=SHIFT, window_length=window_length,
                   num_iterations=2)
    full = griffin_lim(magnitude, **options)
    assert full.shape == ((frames + 1) * SHIFT - window_length,)
    assert samples_to_frames(len(full), SIZE, SHIFT, window_length) == frames
    cropped = griffin_lim(magnitude, num_samples=1000, **options)
    np.testing.assert_array_equal(cropped, full[:1000])
    padded = griffin_lim(magnitude, num_samples=len(full) + 7, **options)
    np.testing.assert_array_equal(padded[:len(full)], full)
    assert (padded[len(full):] == 0).all()
    np.testing.assert_array_equal(griffin_lim(magnitude, **options), full)
    assert not np.allclose(griffin_lim(magnitude, seed=1, **options), full)
    batch = griffin_lim(np.stack([magnitude] * 3), **options)
    assert batch.shape == (3, len(full))
    assert griffin_lim(torch.from_numpy(magnitude).float(),
                       **options).dtype == np.float32


def test_griffin_lim_bad_input():
    with pytest.raises(ValueError, match=r'size // 2 \+ 1 = 257.*\(10, 256\)'):
        griffin_lim(np.ones((10, 256)), SIZE, SHIFT)
    with pytest.raises(ValueError, match='negative'):
        griffin_lim(-np.ones((10, 257)), SIZE, SHIFT)
    with pytest.raises(ValueError, match='NaN or inf'):
        griffin_lim(np.full((10, 257), np.nan), SIZE, SHIFT)
    with pytest.raises(ValueError, match='at least 4 frames'):
        griffin_lim(np.ones((3, 257)), SIZE, SHIFT)
    with pytest.raises(ValueError, match='momentum'):
        griffin_lim(np.ones((10, 257)), SIZE, SHIFT, momentum=-1)
    with pytest.raises(ValueError, match='num_samples=-1'):
        griffin_lim(np.ones((10, 257)), SIZE, SHIFT, num_samples=-1)


def test_log_mel_to_audio_resynthesizes_the_log_mel(signal):
    features = log_mel(signal, SAMPLE_RATE, SIZE, SHIFT, n_mels=40)
    audio = log_mel_to_audio(features, SAMPLE_RATE, SIZE, SHIFT, n_mels=40,
                             num_samples=len(signal))
    assert audio.shape == signal.shape
    # the log-mel of the resynthesis is close to the input where there is
    # energy (within 20 dB of the loudest band)
    resynthesized = log_mel(audio, SAMPLE_RATE, SIZE, SHIFT, n_mels=40)
    loud = features > features.max() - np.log(100)
    difference = np.abs(resynthesized - features)[loud]
    assert np.median(difference) < 0.3
