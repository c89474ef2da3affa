import librosa
import numpy as np
import pytest
import torch

from padertorch_audio.features import LogMel, log_mel, mel_filterbank
from padertorch_audio.features.mel import hz_to_mel, mel_to_hz

RNG = np.random.default_rng(0)


@pytest.mark.parametrize('htk', [False, True])
@pytest.mark.parametrize('norm', ['slaney', None])
@pytest.mark.parametrize('sample_rate, n_fft, n_mels, fmin, fmax', [
    (16000, 512, 80, 0., None),
    (16000, 400, 64, 20., 7600.),
    (22050, 1024, 128, 0., 8000.),
    (8000, 255, 40, 100., 3000.),   # odd n_fft
    (44100, 2048, 10, 0., None),
])
def test_mel_filterbank_equals_librosa(sample_rate, n_fft, n_mels, fmin, fmax,
                                       htk, norm):
    expected = librosa.filters.mel(
        sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax,
        htk=htk, norm=norm, dtype=np.float64)
    found = mel_filterbank(sample_rate, n_fft, n_mels, fmin, fmax, htk, norm)
    assert found.shape == (n_mels, n_fft // 2 + 1)
    np.testing.assert_allclose(found, expected, rtol=0, atol=1e-6)
    np.testing.assert_allclose(found, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize('htk', [False, True])
def test_mel_scale_equals_librosa(htk):
    hz = np.array([0., 50., 700., 999., 1000., 1001., 4000., 11025.])
    np.testing.assert_allclose(hz_to_mel(hz, htk),
                               librosa.hz_to_mel(hz, htk=htk), rtol=1e-12)
    mels = hz_to_mel(hz, htk)
    np.testing.assert_allclose(mel_to_hz(mels, htk),
                               librosa.mel_to_hz(mels, htk=htk), rtol=1e-12)
    np.testing.assert_allclose(mel_to_hz(mels, htk), hz, atol=1e-9)


def test_mel_filterbank_rejects_bad_frequencies():
    with pytest.raises(ValueError, match='fmax=9000'):
        mel_filterbank(16000, 512, fmax=9000)
    with pytest.raises(ValueError, match="norm must be 'slaney' or None"):
        mel_filterbank(16000, 512, norm=1)


def librosa_log_mel(x, sample_rate, size, shift, window_length, n_mels,
                    power, htk=False):
    """librosa (center=False) on the signal padded as with fading/pad.

    librosa centres a window shorter than ``size`` inside the frame, we put
    it at the start; prepending ``(size - window_length) // 2`` zeros makes
    both frames hold the same samples (the power spectrum does not see the
    circular shift)."""
    fading = window_length - shift
    frames = -((window_length - len(x) - 2 * fading) // shift) + 1
    total = (frames - 1) * shift + window_length
    offset = (size - window_length) // 2
    padded = np.zeros(offset + total + size)
    padded[offset + fading:offset + fading + len(x)] = x
    mel = librosa.feature.melspectrogram(
        y=padded, sr=sample_rate, n_fft=size, hop_length=shift,
        win_length=window_length, window='hann', center=False, power=power,
        n_mels=n_mels, htk=htk)[:, :frames]
    return mel.T


@pytest.mark.parametrize('size, shift, window_length, power, htk', [
    (512, 160, 400, 2., False),
    (512, 128, 512, 1., True),
    (256, 64, 200, 2., True),
])
def test_log_mel_equals_librosa(size, shift, window_length, power, htk):
    x = RNG.standard_normal(4321)
    mel = librosa_log_mel(x, 16000, size, shift, window_length, 40, power,
                          htk)
    # librosa's filterbank is float32: agreement to ~1e-7
    expected = np.log(np.maximum(mel, 1e-10))
    found = log_mel(x, 16000, size, shift, window_length=window_length,
                    n_mels=40, power=power, htk=htk)
    assert isinstance(found, np.ndarray) and found.shape == expected.shape
    np.testing.assert_allclose(found, expected, rtol=0, atol=1e-6)
    found = LogMel(16000, size, shift, window_length=window_length,
                   n_mels=40, power=power, htk=htk)(torch.from_numpy(x))
    np.testing.assert_allclose(found.numpy(), expected, rtol=0, atol=1e-6)
    found = log_mel(x, 16000, size, shift, window_length=window_length,
                    n_mels=40, power=power, htk=htk, log1p=True)
    np.testing.assert_allclose(found, np.log1p(mel), rtol=0, atol=1e-6)


def test_floor_bounds_silence():
    found = LogMel(16000, 256, 64, floor=1e-5)(torch.zeros(1000))
    torch.testing.assert_close(found, torch.full_like(found, np.log(1e-5)))


def test_numpy_equals_torch_and_module_equals_function():
    x = torch.randn(2, 3, 3001, dtype=torch.float64)
    kwargs = dict(size=256, shift=80, window_length=200, n_mels=32,
                  fmin=50., fmax=7000.)
    expected = log_mel(x, 16000, **kwargs)
    assert expected.shape == (2, 3, 40, 32)
    np.testing.assert_allclose(log_mel(x.numpy(), 16000, **kwargs),
                               expected.numpy(), rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(LogMel(16000, **kwargs)(x), expected)


def test_batched_equals_item_wise_and_float32_is_close():
    module = LogMel(8000, 128, 32, n_mels=20)
    x = torch.randn(3, 700, dtype=torch.float64)
    batched = module(x)
    for i in range(3):
        torch.testing.assert_close(batched[i], module(x[i]), rtol=0,
                                   atol=1e-12)
    single = module(x.float())
    assert single.dtype == torch.float32
    torch.testing.assert_close(single, batched.float(), rtol=1e-4,
                               atol=1e-4)
    module.double()  # buffers stay float64, the output follows the input
    assert module(x.float()).dtype == torch.float32
    assert module.state_dict() == {}


def test_gradients_flow():
    x = torch.randn(40, dtype=torch.float64, requires_grad=True)
    module = LogMel(1600, 16, 4, n_mels=4)
    assert torch.autograd.gradcheck(module, (x,))
    assert torch.autograd.gradcheck(
        lambda x: log_mel(x, 1600, 16, 4, n_mels=4, power=1., log1p=True),
        (x,))


def test_short_signal_and_bad_input():
    assert LogMel(16000, 512, 160, window_length=400)(
        torch.randn(10)).shape == (2, 80)
    with pytest.raises(ValueError, match=r'\(10,\).*pad=False'):
        LogMel(16000, 512, 160, pad=False, fading=False)(torch.randn(10))
    with pytest.raises(ValueError, match='floating point'):
        LogMel()(torch.ones(1000, dtype=torch.int64))


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_cuda_equals_cpu():
    x = torch.randn(2, 4000)
    module = LogMel(16000, 512, 160, window_length=400)
    expected = module(x)
    torch.testing.assert_close(module.cuda()(x.cuda()).cpu(), expected,
                               rtol=1e-4, atol=1e-4)
