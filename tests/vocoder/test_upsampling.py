import numpy as np
import pytest
import torch

from padertorch_audio.features import log_mel, samples_to_frames, stft
from padertorch_audio.vocoder import FrameUpsampler, WaveNet


def loudest_frames(num_samples, size, shift, window_length):
    """For every sample n: the STFT frame in which a unit impulse at n has
    the most energy (the frame whose window peaks nearest to n; the later
    one where two frames tie), and whether a frame sees n at all (a sample
    at a window's zero, e.g. with shift == window_length, is seen by none).
    """
    impulses = np.eye(num_samples)
    energy = (np.abs(stft(impulses, size, shift,
                          window_length=window_length)) ** 2).sum(-1)
    loudest = energy.max(-1, keepdims=True)
    candidates = np.isclose(energy, loudest, rtol=1e-9, atol=0)
    later = energy.shape[-1] - 1 - np.argmax(candidates[:, ::-1], axis=-1)
    return later, loudest[:, 0] > 1e-12


def identity_upsampler(shift, window_length, context=0):
    upsampler = FrameUpsampler(1, 1, shift, window_length, context=context)
    with torch.no_grad():
        upsampler.convolution.weight.zero_()
        upsampler.convolution.weight[0, 0, context] = 1
        upsampler.convolution.bias.zero_()
    return upsampler.double()


@pytest.mark.parametrize('shift, window_length, size', [
    (200, 800, 1024),  # the vocoder's default
    (16, 64, 64),
    (5, 12, 16),
    (4, 4, 8),
    (3, 9, 16),  # odd window
])
def test_each_sample_gets_the_frame_whose_window_peaks_nearest(
        shift, window_length, size):
    num_samples = 3 * window_length + 7
    loudest, seen = loudest_frames(num_samples, size, shift, window_length)
    frames = samples_to_frames(num_samples, size, shift, window_length)
    ramp = torch.arange(frames, dtype=torch.float64)[None, :, None]
    upsampled = identity_upsampler(shift, window_length)(ramp, num_samples)
    assert upsampled.shape == (1, 1, num_samples)
    got = upsampled[0, 0].detach().numpy()
    np.testing.assert_array_equal(got[seen], loudest[seen])


def test_a_mel_impulse_reaches_exactly_the_samples_of_its_frames():
    shift, window_length, size, context = 16, 64, 64, 1
    num_samples = 300
    loudest, seen = loudest_frames(num_samples, size, shift, window_length)
    assert seen.all()
    frames = samples_to_frames(num_samples, size, shift, window_length)
    upsampler = identity_upsampler(shift, window_length, context)
    with torch.no_grad():
        upsampler.convolution.weight.fill_(1)
    for t in range(frames):
        impulse = torch.zeros(1, frames, 1, dtype=torch.float64)
        impulse[0, t] = 1
        reached = upsampler(impulse, num_samples)[0, 0].detach().numpy() != 0
        expected = np.abs(loudest - t) <= context
        np.testing.assert_array_equal(reached, expected, err_msg=f'frame {t}')


@pytest.mark.parametrize('shift, window_length', [(200, 800), (16, 64),
                                                  (5, 12), (4, 4)])
def test_the_mel_of_a_signal_has_the_frames_its_samples_need(
        shift, window_length):
    upsampler = FrameUpsampler(1, 1, shift, window_length)
    for num_samples in range(1, 3 * window_length):
        assert upsampler.frames_needed(num_samples) <= samples_to_frames(
            num_samples, 1024, shift, window_length)


def test_the_model_conditions_every_sample_of_a_log_mel():
    torch.manual_seed(0)
    model = WaveNet(n_mels=20, residual_channels=4, skip_channels=8,
                    num_layers=2, max_dilation=2)
    for num_samples in (1, 199, 200, 201, 1000):
        signal = torch.randn(2, num_samples) * 0.1
        mel = log_mel(signal, 16000, size=1024, shift=200, window_length=800,
                      n_mels=20)
        output = model({'audio': signal, 'mel': mel})
        assert output['logits'].shape == (2, 256, num_samples)


def test_too_few_frames_is_an_error_that_says_how_many_are_needed():
    upsampler = FrameUpsampler(3, 2, 200, 800)
    with pytest.raises(ValueError, match='1000 samples need at least 7'):
        upsampler(torch.zeros(1, 6, 3), 1000)
    with pytest.raises(ValueError, match=r'\(batch, frames, 3\)'):
        upsampler(torch.zeros(1, 6, 4), 100)
