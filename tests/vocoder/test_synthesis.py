import pytest
import torch

from padertorch_audio.features import samples_to_frames
from padertorch_audio.ops.mu_law import mu_law_encode
from padertorch_audio.vocoder import (
    TINY_WAVENET, WaveNet, default_num_samples, synthesize)


def tiny_model(dtype=torch.float64, **updates):
    torch.manual_seed(0)
    model = WaveNet.from_config(WaveNet.get_config({**TINY_WAVENET,
                                                    **updates}))
    return model.to(dtype)


def random_mel(model, batch, frames, seed=1, dtype=torch.float64):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, frames, model.n_mels, generator=generator,
                       dtype=dtype)


@pytest.mark.parametrize('dtype, tolerance', [(torch.float64, 1e-12),
                                              (torch.float32, 1e-5)])
def test_incremental_distributions_equal_the_teacher_forced_ones(
        dtype, tolerance):
    # 6 layers, dilations 1, 2, 4, 8, 1, 2: 80 samples wrap every ring
    # buffer many times
    model = tiny_model(dtype, num_speakers=2)
    mel = random_mel(model, 2, 8, dtype=dtype)
    speakers = torch.tensor([1, 0])
    generator = torch.Generator().manual_seed(3)
    audio, logits = synthesize(model, mel, generator=generator,
                               speaker_index=speakers, return_logits=True)
    assert audio.shape == (2, default_num_samples(8, 16, 64)) == (2, 80)
    assert audio.dtype == dtype and logits.shape == (2, 256, 80)
    with torch.no_grad():
        forced = model({'audio': audio, 'mel': mel,
                        'speaker_index': speakers})['logits']
    torch.testing.assert_close(torch.softmax(logits, 1),
                               torch.softmax(forced, 1),
                               rtol=0, atol=tolerance)
    # the samples are not all the same (sampling, not a constant)
    assert len(set(audio.flatten().tolist())) > 10


def test_argmax_is_deterministic_and_takes_the_most_likely_class():
    model = tiny_model()
    mel = random_mel(model, 1, 6)
    first, logits = synthesize(model, mel, temperature=0, return_logits=True)
    second = synthesize(model, mel, temperature='argmax', num_samples=40)
    torch.testing.assert_close(second, first[:, :40], rtol=0, atol=0)
    with torch.no_grad():
        forced = model({'audio': first, 'mel': mel})['logits']
    torch.testing.assert_close(mu_law_encode(first), forced.argmax(1),
                               rtol=0, atol=0)
    torch.testing.assert_close(logits, forced, rtol=0, atol=1e-12)


def test_a_batch_gives_what_each_utterance_gives_alone():
    model = tiny_model()
    mel = random_mel(model, 3, 7)
    batched = synthesize(model, mel, temperature=0, num_samples=60)
    for b in range(3):
        alone = synthesize(model, mel[b], temperature=0, num_samples=60)
        assert alone.shape == (60,)
        torch.testing.assert_close(batched[b], alone, rtol=0, atol=1e-12)


def test_the_same_generator_seed_gives_the_same_audio():
    model = tiny_model()
    mel = random_mel(model, 2, 5)
    runs = [synthesize(model, mel, generator=torch.Generator().manual_seed(7))
            for _ in range(2)]
    torch.testing.assert_close(runs[0], runs[1], rtol=0, atol=0)
    other = synthesize(model, mel, generator=torch.Generator().manual_seed(8))
    assert not torch.equal(other, runs[0])


@pytest.mark.parametrize('shift, window_length', [(200, 800), (16, 64),
                                                  (5, 12)])
def test_default_length_is_the_longest_signal_with_that_many_frames(
        shift, window_length):
    for frames in range(5, 12):
        n = default_num_samples(frames, shift, window_length)
        assert samples_to_frames(n, 1024, shift, window_length) == frames
        assert samples_to_frames(n + 1, 1024, shift, window_length) \
            == frames + 1


def test_bad_arguments_say_what_was_expected():
    model = tiny_model()
    mel = random_mel(model, 1, 6)
    with pytest.raises(ValueError, match='temperature'):
        synthesize(model, mel, temperature=-1)
    with pytest.raises(ValueError, match='temperature'):
        synthesize(model, mel, temperature='hot')
    with pytest.raises(ValueError, match='need at least'):
        synthesize(model, mel, num_samples=500)
    with pytest.raises(ValueError, match=r'\(batch, frames, n_mels\)'):
        synthesize(model, mel[None])
