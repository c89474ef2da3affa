"""audio(): a signal as (float32 samples in [-1, 1], rate)."""
import numpy as np
import pytest
import torch

from padertorch_audio.summary import audio


def test_the_signal_is_divided_by_its_peak():
    signal = torch.sin(torch.arange(100.) / 3) * 5
    samples, rate = audio(signal, 16000.)
    assert rate == 16000 and isinstance(rate, int)
    assert samples.dtype == np.float32 and samples.shape == (100,)
    np.testing.assert_allclose(samples, signal.numpy() / signal.abs().max().item(),
                               rtol=1e-6)


def test_a_leading_axis_of_size_one_is_dropped_and_silence_stays_zero():
    samples, _ = audio(np.zeros((1, 50)), 8000)
    assert samples.shape == (50,) and not samples.any()


def test_without_normalisation_the_signal_is_kept_if_it_fits():
    samples, _ = audio(np.array([0.1, -0.2]), 8000, normalize=False)
    np.testing.assert_array_equal(samples, np.float32([0.1, -0.2]))
    with pytest.raises(ValueError, match='peak magnitude is 3'):
        audio(np.array([0.1, 3.]), 8000, normalize=False)


def test_wrong_signals_are_reported():
    with pytest.raises(ValueError, match=r'\(samples,\), found shape \(2, 10\)'):
        audio(np.zeros((2, 10)), 8000)
    with pytest.raises(ValueError, match='1 non-finite values'):
        audio(np.array([0., np.nan]), 8000)
    with pytest.raises(ValueError, match='positive integer'):
        audio(np.zeros(3), 0)
