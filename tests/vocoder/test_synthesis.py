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


# ---------------------------------------------------------------------------
# Chunks of one utterance generated side by side
# ---------------------------------------------------------------------------

def naive_generation(model, conditioning, steps):
    """The reference: re-run the teacher-forced network on everything
    generated so far for every new sample (argmax), from an empty
    history; conditioning ``(1, layers, 2 R, >= steps)``."""
    audio = torch.zeros(1, 0, dtype=conditioning.dtype)
    with torch.no_grad():
        for t in range(steps):
            values = model.input_values_from_audio(
                torch.cat([audio, audio.new_zeros(1, 1)], 1))
            logits = model.teacher_forced(values, conditioning[..., :t + 1])
            sample = model.sample_from_logits(logits[..., -1],
                                              temperature=0)
            audio = torch.cat([audio, model.sample_to_audio(sample)[:, None]],
                              1)
    return audio[0]


@pytest.mark.parametrize('config', ['categorical', 'logistic_mixture'])
def test_every_chunk_continues_its_own_warmup_as_naive_generation_does(
        config):
    model = tiny_model(output_distribution=config)
    # receptive field 19 -> warm-up 32 (two frames of 16), chunks of 48:
    # row 0 keeps samples 0..79, row k > 0 starts at 48 k - ... and keeps
    # its last 48
    warmup, chunk = 32, 48
    num_samples = warmup + chunk + 2 * chunk
    mel = random_mel(model, 1, model.frames_needed(num_samples) + 1)
    audio = synthesize(model, mel, num_samples=num_samples, temperature=0,
                       chunk_length=chunk, warmup=warmup)
    with torch.no_grad():
        conditioning = model.gate_conditioning(mel, num_samples)
    first = naive_generation(model, conditioning, warmup + chunk)
    torch.testing.assert_close(audio[0, :warmup + chunk], first, rtol=0,
                               atol=1e-12)
    for k in (1, 2):
        start = k * chunk
        row = naive_generation(model, conditioning[..., start:],
                               warmup + chunk)
        kept = slice(start + warmup, start + warmup + chunk)
        torch.testing.assert_close(audio[0, kept], row[warmup:], rtol=0,
                                   atol=1e-12)
    # a chunk's kept samples are not the previous chunk's continuation
    whole = synthesize(model, mel, num_samples=num_samples, temperature=0,
                       chunk_length=None)
    torch.testing.assert_close(whole[0], naive_generation(
        model, conditioning, num_samples), rtol=0, atol=1e-12)


@pytest.mark.parametrize('dtype, tolerance', [(torch.float64, 1e-12),
                                              (torch.float32, 1e-5)])
@pytest.mark.parametrize('config', ['categorical', 'logistic_mixture'])
def test_chunked_sampling_equals_teacher_forcing_of_every_chunk(
        config, dtype, tolerance):
    # without warm-up every chunk's samples are all returned: each chunk
    # is teacher-forced from an empty history with its conditioning
    model = tiny_model(dtype, output_distribution=config, num_speakers=3)
    chunk, num_samples = 32, 32 * 4
    mel = random_mel(model, 2, model.frames_needed(num_samples), dtype=dtype)
    speakers = torch.tensor([2, 0])
    audio, logits = synthesize(
        model, mel, num_samples=num_samples, chunk_length=chunk, warmup=0,
        speaker_index=speakers, return_logits=True,
        generator=torch.Generator().manual_seed(5))
    assert audio.shape == (2, num_samples)
    assert logits.shape == (2, model.output_channels, num_samples)
    with torch.no_grad():
        conditioning = model.gate_conditioning(mel, num_samples, speakers)
        for start in range(0, num_samples, chunk):
            part = slice(start, start + chunk)
            forced = model.teacher_forced(
                model.input_values_from_audio(audio[:, part]),
                conditioning[..., part])
            if config == 'categorical':
                torch.testing.assert_close(
                    torch.softmax(logits[..., part], 1),
                    torch.softmax(forced, 1), rtol=0, atol=tolerance)
            else:
                torch.testing.assert_close(logits[..., part], forced,
                                           rtol=0, atol=tolerance * 10)
    assert len(set(audio.flatten().tolist())) > 20


def test_mixture_synthesis_equals_teacher_forcing():
    model = tiny_model(output_distribution='logistic_mixture')
    mel = random_mel(model, 2, 9)
    audio, parameters = synthesize(
        model, mel, generator=torch.Generator().manual_seed(1),
        return_logits=True)
    with torch.no_grad():
        forced = model({'audio': audio, 'mel': mel})['logits']
    torch.testing.assert_close(parameters, forced, rtol=0, atol=1e-12)
    # the samples are on the 16-bit levels
    levels = (audio + 1) * 65535 / 2
    torch.testing.assert_close(levels, levels.round(), rtol=0, atol=1e-6)


def test_the_audio_of_a_seed_does_not_depend_on_the_worker_threads():
    model = tiny_model(torch.float32)
    mel = random_mel(model, 2, 30, dtype=torch.float32)
    runs = [synthesize(model, mel, chunk_length=64, workers=workers,
                       generator=torch.Generator().manual_seed(2))
            for workers in (1, 2, 3)]
    assert runs[0].shape == (2, default_num_samples(30, 16, 64))
    for other in runs[1:]:
        torch.testing.assert_close(other, runs[0], rtol=0, atol=1e-6)
    assert torch.get_num_threads() >= 1


def test_inverse_cdf_sampling_picks_the_first_class_past_the_number():
    from padertorch_audio.vocoder.synthesis import _Output
    model = tiny_model()
    output = _Output(model, temperature=0.7)
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(50, 256, generator=generator, dtype=torch.float64)
    uniform = torch.rand(50, 1, generator=generator, dtype=torch.float64)
    drawn = output.draw(logits, uniform)
    for row in range(50):  # hand-written loop over the classes
        probabilities = torch.softmax(logits[row] / 0.7, 0).tolist()
        total, expected = 0.0, None
        for k, p in enumerate(probabilities):
            total += p
            if total > uniform[row, 0].item():
                expected = k
                break
        assert drawn[row].item() == expected
    # the frequencies of many draws follow the distribution
    logits = torch.tensor([[0.0, 1.0, 2.0, -1.0]], dtype=torch.float64)
    output = _Output(model, temperature=1.0)
    numbers = torch.rand(20000, 1, generator=generator, dtype=torch.float64)
    drawn = output.draw(logits.expand(20000, 4), numbers)
    counts = torch.bincount(drawn, minlength=4).double() / 20000
    torch.testing.assert_close(counts, torch.softmax(logits[0], 0),
                               rtol=0, atol=0.015)


def test_long_utterances_are_chunked_by_default_and_stay_in_range():
    model = tiny_model(torch.float32)
    mel = random_mel(model, 1, 400, dtype=torch.float32)
    audio = synthesize(model, mel[0],
                       generator=torch.Generator().manual_seed(0))
    assert audio.shape == (default_num_samples(400, 16, 64),)
    assert torch.isfinite(audio).all() and audio.abs().max() <= 1


def test_bad_chunking_arguments_say_what_was_expected():
    model = tiny_model()
    mel = random_mel(model, 1, 6)
    with pytest.raises(ValueError, match='chunk_length'):
        synthesize(model, mel, chunk_length=0)
    with pytest.raises(ValueError, match='workers'):
        synthesize(model, mel, workers=0)
