"""Vocoder metrics against hand-written loops, scipy and librosa."""
import math

import librosa
import numpy as np
import pytest
import scipy.signal
import torch

from padertorch_audio import evaluation
from padertorch_audio.evaluation import (
    log_spectral_distance,
    mel_cepstral_distortion,
    vocoder_metrics,
    waveform_rmse,
)

SAMPLE_RATE = 8000
SIZE, SHIFT, WINDOW_LENGTH = 256, 64, 200


@pytest.fixture(scope='module')
def pair():
    """0.4 s: a harmonic tone in noise and a filtered, noisier copy."""
    rng = np.random.default_rng(0)
    t = np.arange(3200) / SAMPLE_RATE
    reference = sum(0.3 / k * np.sin(2 * np.pi * 150 * k * t)
                    for k in range(1, 6)) + 0.05 * rng.standard_normal(3200)
    estimate = scipy.signal.lfilter([0.6, 0.3], [1, -0.2], reference)
    return estimate + 0.02 * rng.standard_normal(3200), reference


def _power_spectra(signal, size=SIZE, shift=SHIFT, window_length=SIZE):
    """|STFT|² frame by frame: ``window_length - shift`` zeros in front,
    zeros at the end up to a complete last frame, periodic Hann window."""
    window = np.hanning(window_length + 1)[:-1]
    padded = np.concatenate([np.zeros(window_length - shift), signal])
    frames = []
    start = 0
    while True:
        frame = padded[start:start + window_length]
        frame = np.concatenate([frame, np.zeros(window_length - len(frame))])
        frames.append(np.abs(np.fft.rfft(frame * window, n=size)) ** 2)
        # the last frame reaches past the signal's end plus the fading
        if start + window_length >= len(signal) + 2 * (window_length - shift):
            break
        start += shift
    return np.array(frames)


def test_rmse_is_the_root_mean_square_error(pair):
    estimate, reference = pair
    squares = 0.
    for a, b in zip(estimate, reference):
        squares += (a - b) ** 2
    assert waveform_rmse(estimate, reference) == pytest.approx(
        math.sqrt(squares / len(reference)), rel=1e-12)
    assert waveform_rmse(reference, reference) == 0.
    assert waveform_rmse(torch.from_numpy(estimate), reference) \
        == pytest.approx(waveform_rmse(estimate, reference), rel=1e-12)


def test_log_spectral_distance_equals_a_frame_loop(pair):
    estimate, reference = pair
    for window_length in (SIZE, WINDOW_LENGTH):
        powers = [_power_spectra(signal, window_length=window_length)
                  for signal in (estimate, reference)]
        distances = []
        for frame_estimate, frame_reference in zip(*powers):
            difference = [
                10 * math.log10(max(a, 1e-10)) - 10 * math.log10(max(b, 1e-10))
                for a, b in zip(frame_estimate, frame_reference)]
            distances.append(math.sqrt(np.mean(np.square(difference))))
        assert log_spectral_distance(
            estimate, reference, SIZE, SHIFT, window_length) \
            == pytest.approx(np.mean(distances), rel=1e-9)


def test_log_spectral_distance_of_a_gain(pair):
    _, reference = pair
    for gain in (0.5, 3.):
        # every bin changes by 20 log10(gain) dB
        assert log_spectral_distance(gain * reference, reference, SIZE,
                                     SHIFT) \
            == pytest.approx(abs(20 * math.log10(gain)), rel=1e-9)
    assert log_spectral_distance(reference, reference, SIZE, SHIFT) == 0.


def _librosa_mcd(estimate, reference, window_length, n_mels, coefficients):
    """MCD from librosa's filterbank and MFCC (orthonormal DCT-II) on the
    natural-log mel power spectra of hand-framed signals."""
    filterbank = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=SIZE,
                                     n_mels=n_mels, dtype=np.float64)
    cepstra = []
    for signal in (estimate, reference):
        mel = _power_spectra(signal, window_length=window_length) \
            @ filterbank.T
        log_mel = np.log(np.maximum(mel, 1e-10)).T  # (n_mels, frames)
        cepstra.append(librosa.feature.mfcc(
            S=log_mel, n_mfcc=coefficients, dct_type=2, norm='ortho'))
    difference = cepstra[0][1:] - cepstra[1][1:]  # c_0 left out
    per_frame = 10 / math.log(10) * np.sqrt(2 * np.sum(difference ** 2, 0))
    return per_frame.mean()


@pytest.mark.parametrize('window_length, n_mels, coefficients', [
    (None, 40, 13), (WINDOW_LENGTH, 30, 20)])
def test_mel_cepstral_distortion_equals_librosa(pair, window_length, n_mels,
                                                coefficients):
    estimate, reference = pair
    expected = _librosa_mcd(estimate, reference, window_length or SIZE,
                            n_mels, coefficients)
    assert expected > 1
    assert mel_cepstral_distortion(
        estimate, reference, SAMPLE_RATE, SIZE, SHIFT, window_length,
        n_mels, coefficients) == pytest.approx(expected, rel=1e-9)


def test_mel_cepstral_distortion_is_symmetric_and_ignores_gain(pair):
    estimate, reference = pair
    options = dict(size=SIZE, shift=SHIFT, n_mels=40)
    assert mel_cepstral_distortion(estimate, reference, SAMPLE_RATE,
                                   **options) \
        == pytest.approx(mel_cepstral_distortion(reference, estimate,
                                                 SAMPLE_RATE, **options),
                         rel=1e-12)
    assert mel_cepstral_distortion(reference, reference, SAMPLE_RATE,
                                   **options) == 0.
    # a gain only moves c_0 (the orthonormal DCT of a constant)
    assert mel_cepstral_distortion(0.1 * reference, reference, SAMPLE_RATE,
                                   **options) < 1e-9


def test_vocoder_metrics(pair):
    estimate, reference = pair
    metrics = vocoder_metrics(estimate, reference, SAMPLE_RATE, SIZE, SHIFT,
                              WINDOW_LENGTH, n_mels=40)
    assert sorted(metrics) == ['log_spectral_distance',
                               'mel_cepstral_distortion', 'rmse']
    assert all(type(value) is float for value in metrics.values())
    assert metrics['rmse'] == pytest.approx(
        np.sqrt(np.mean((estimate - reference) ** 2)), rel=1e-12)
    assert metrics['mel_cepstral_distortion'] == pytest.approx(
        _librosa_mcd(estimate, reference, WINDOW_LENGTH, 40, 13), rel=1e-9)
    assert metrics['log_spectral_distance'] == pytest.approx(
        log_spectral_distance(estimate, reference, SIZE, SHIFT,
                              WINDOW_LENGTH), rel=1e-12)
    for name in ('waveform_rmse', 'log_spectral_distance',
                 'mel_cepstral_distortion', 'vocoder_metrics'):
        assert name in evaluation.__all__


@pytest.mark.parametrize('function', [
    waveform_rmse,
    lambda e, r: log_spectral_distance(e, r, SIZE, SHIFT),
    lambda e, r: mel_cepstral_distortion(e, r, SAMPLE_RATE, SIZE, SHIFT,
                                         n_mels=40),
    lambda e, r: vocoder_metrics(e, r, SAMPLE_RATE, SIZE, SHIFT, n_mels=40),
])
def test_bad_input(function):
    signal = np.ones(1000)
    with pytest.raises(ValueError, match=r'estimate \(1000,\) and reference '
                                         r'\(999,\)'):
        function(signal, signal[:999])
    with pytest.raises(ValueError, match=r'estimate \(2, 1000\)'):
        function(np.ones((2, 1000)), np.ones((2, 1000)))
    with pytest.raises(ValueError, match=r'samples >= 1.*\(0,\)'):
        function(np.ones(0), np.ones(0))
    bad = signal.copy()
    bad[5] = np.nan
    with pytest.raises(ValueError, match='1 NaN or inf in the reference'):
        function(signal, bad)
    bad[5] = np.inf
    with pytest.raises(ValueError, match='NaN or inf in the estimate'):
        function(bad, signal)
    with pytest.raises(ValueError, match='real estimate'):
        function(signal.astype(complex), signal)


def test_mel_cepstral_distortion_checks_the_coefficients():
    with pytest.raises(ValueError, match='num_coefficients=41'):
        mel_cepstral_distortion(np.ones(500), np.ones(500), SAMPLE_RATE,
                                SIZE, SHIFT, n_mels=40, num_coefficients=41)
