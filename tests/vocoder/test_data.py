"""vocoder.random_segment: the crop of the audio and of its mel stay
aligned (checked against the nearest frame centre computed by hand, and
against the teacher-forced forward on the whole utterance), short
utterances are zero-padded, the draws are seeded and uniform over the
starts at multiples of the shift."""
import numpy as np
import pytest
import torch

from padertorch_audio.vocoder import TINY_WAVENET, WaveNet
from padertorch_audio.vocoder.data import random_segment, segment_frames


@pytest.fixture(scope='module')
def model():
    torch.manual_seed(0)
    return WaveNet.from_config(TINY_WAVENET).double().eval()


def utterance(num_samples, seed=0):
    return np.random.default_rng(seed).uniform(
        -0.5, 0.5, num_samples).astype(np.float32)


def nearest_frame(sample, shift, window_length):
    """By hand: the frame whose window centre (fading STFT: frame m covers
    the samples from m * shift - (window_length - shift), its periodic
    window peaks window_length // 2 later) is nearest to ``sample``, the
    later one at a tie."""
    centres = (np.arange(-2, 200) * shift - (window_length - shift)
               + window_length // 2)
    distances = np.abs(centres - sample)
    best = np.flatnonzero(distances == distances.min())[-1]
    return int(best) - 2


def test_the_crops_are_aligned_by_hand(model):
    audio = utterance(1000)
    mel = model.log_mel(audio)
    length = 300
    num_frames = segment_frames(model, length)
    for seed in range(5):
        segment = random_segment(audio, mel, length, shift=model.shift,
                                 num_frames=num_frames,
                                 rng=np.random.RandomState(seed))
        start = segment['start']
        assert start % model.shift == 0 and start + length <= len(audio)
        np.testing.assert_array_equal(segment['audio'],
                                      audio[start:start + length])
        assert segment['num_samples'] == length
        assert segment['mel'].shape == (num_frames, model.n_mels)
        # Sample n of the segment gets, through the upsampler, frame
        # frame_of_sample(n) of the segment's mel: the frame of the whole
        # utterance's mel nearest to sample start + n.
        frames = model.upsampler.frame_of_sample(torch.arange(length))
        for n in range(0, length, 7):
            np.testing.assert_array_equal(
                segment['mel'][int(frames[n])],
                mel[nearest_frame(start + n, model.shift,
                                  model.window_length)])


def test_the_segment_is_conditioned_as_in_the_whole_utterance(model):
    """Teacher forcing on the segment gives the logits of the whole
    utterance at the same samples, once the segment has a receptive field
    of history and its first frame has a predecessor in the crop."""
    audio = utterance(900, seed=1)
    mel = model.log_mel(audio)
    length = 400
    segment = random_segment(audio, mel, length, shift=model.shift,
                             num_frames=segment_frames(model, length),
                             rng=np.random.RandomState(3))
    start = segment['start']
    assert start > 0
    with torch.no_grad():
        whole = model({'audio': torch.from_numpy(audio)[None].double(),
                       'mel': torch.from_numpy(mel)[None].double()})
        crop = model({'audio': torch.from_numpy(segment['audio'])[None]
                      .double(),
                      'mel': torch.from_numpy(segment['mel'])[None]
                      .double()})
    frames = model.upsampler.frame_of_sample(torch.arange(length))
    first = max(model.receptive_field,
                int(np.flatnonzero(frames.numpy() >= 1)[0]))
    np.testing.assert_allclose(
        crop['logits'][0, :, first:].numpy(),
        whole['logits'][0, :, start + first:start + length].numpy(),
        rtol=1e-10, atol=1e-10)


def test_a_short_utterance_is_zero_padded(model):
    audio = utterance(50)
    mel = model.log_mel(audio)
    segment = random_segment(audio, mel, 200, shift=model.shift,
                             num_frames=segment_frames(model, 200),
                             rng=np.random.RandomState(0))
    assert segment['start'] == 0 and segment['num_samples'] == 50
    np.testing.assert_array_equal(segment['audio'][:50], audio)
    assert not segment['audio'][50:].any()
    np.testing.assert_array_equal(segment['mel'][:len(mel)], mel)
    assert not segment['mel'][len(mel):].any()
    assert segment['audio'].dtype == segment['mel'].dtype == np.float32


def test_the_draws_are_seeded_and_cover_every_start():
    audio, mel = utterance(1000), np.zeros((70, 3), np.float32)
    draws = [random_segment(audio, mel, 300, shift=16, num_frames=5,
                            rng=np.random.RandomState(seed))['start']
             for seed in range(400)]
    again = [random_segment(audio, mel, 300, shift=16, num_frames=5,
                            rng=np.random.RandomState(seed))['start']
             for seed in range(400)]
    assert draws == again
    # starts 0, 16, ..., 688: the last whole segment ends at 988 <= 1000
    assert set(draws) == set(range(0, 689, 16))
    # the numpy.random module (as in a DataLoader worker) works too
    np.random.seed(0)
    assert random_segment(audio, mel, 300, shift=16,
                          num_frames=5)['start'] % 16 == 0


def test_an_utterance_of_exactly_the_length_starts_at_zero():
    audio = utterance(320)
    segment = random_segment(audio, np.ones((30, 2)), 320, shift=16,
                             num_frames=22, rng=np.random.RandomState(5))
    assert segment['start'] == 0 and segment['num_samples'] == 320


@pytest.mark.parametrize('arguments, message', [
    ({'audio': np.zeros((2, 100))}, r'audio \(samples,\) and mel'),
    ({'mel': np.zeros(10)}, r'audio \(samples,\) and mel'),
    ({'length': 0}, 'length must be a positive int'),
    ({'shift': 2.0}, 'shift must be a positive int'),
    ({'num_frames': True}, 'num_frames must be a positive int'),
])
def test_bad_arguments_are_named(arguments, message):
    arguments = {'audio': np.zeros(100), 'mel': np.zeros((10, 4)),
                 'length': 50, 'shift': 16, 'num_frames': 6, **arguments}
    with pytest.raises(ValueError, match=message):
        random_segment(arguments.pop('audio'), arguments.pop('mel'),
                       arguments.pop('length'), **arguments)
