import numpy as np
import pytest
import scipy.signal
import torch

from padertorch_audio.features import resample


def peak_frequency(x, sample_rate):
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return np.argmax(spectrum) * sample_rate / len(x)


def test_sine_keeps_its_frequency_down_and_up():
    t = np.arange(16000) / 16000
    x = np.sin(2 * np.pi * 1000 * t)
    down = resample(x, 16000, 8000)
    assert down.shape == (8000,)
    assert peak_frequency(down, 8000) == 1000
    up = resample(down, 8000, 16000)
    assert up.shape == (16000,)
    assert peak_frequency(up, 16000) == 1000
    # below the cut-off the round trip keeps the signal (edges aside)
    np.testing.assert_allclose(up[1000:-1000], x[1000:-1000], atol=1e-2)


def test_frequencies_above_the_new_nyquist_are_removed():
    t = np.arange(16000) / 16000
    x = np.sin(2 * np.pi * 6000 * t)
    assert np.abs(resample(x, 16000, 8000)[500:-500]).max() < 1e-2


@pytest.mark.parametrize('source, target, up, down', [
    (16000, 8000, 1, 2), (8000, 16000, 2, 1), (44100, 16000, 160, 441),
    (22050, 16000, 320, 441), (16000, 16000, 1, 1),
])
def test_equals_scipy_resample_poly(source, target, up, down):
    x = np.random.default_rng(0).standard_normal((2, 3001))
    expected = scipy.signal.resample_poly(x, up, down, axis=-1)
    found = resample(x, source, target)
    assert found.shape == (2, -(-3001 * target // source))
    np.testing.assert_array_equal(found, expected)
    np.testing.assert_array_equal(
        resample(x.T, source, target, axis=0), expected.T)
    tensor = resample(torch.from_numpy(x), source, target)
    assert tensor.dtype == torch.float64
    np.testing.assert_array_equal(tensor.numpy(), expected)


def test_dtypes_and_batched_equals_item_wise():
    x = np.random.default_rng(1).standard_normal((3, 500)).astype(np.float32)
    found = resample(torch.from_numpy(x), 16000, 12000)
    assert found.dtype == torch.float32 and found.shape == (3, 375)
    assert resample(x, 16000, 12000).dtype == np.float32
    for i in range(3):
        np.testing.assert_array_equal(resample(x[i], 16000, 12000),
                                      found[i].numpy())
    integers = (x * 1000).astype(np.int16)
    assert resample(integers, 16000, 8000).dtype == np.float64
    assert resample(torch.from_numpy(integers), 16000, 8000).dtype \
        == torch.float32


def test_bad_input_fails_with_values():
    with pytest.raises(ValueError, match='source_rate.*22050.5'):
        resample(np.zeros(100), 22050.5, 16000)
    with pytest.raises(ValueError, match='target_rate.*-8000'):
        resample(np.zeros(100), 16000, -8000)
    with pytest.raises(ValueError, match=r'axis 2.*\(3, 100\)'):
        resample(np.zeros((3, 100)), 16000, 8000, axis=2)
    with pytest.raises(ValueError, match=r'not differentiable.*\(100,\)'):
        resample(torch.zeros(100, requires_grad=True), 16000, 8000)
    assert resample(np.zeros(100), 16000.0, 8000).shape == (50,)
