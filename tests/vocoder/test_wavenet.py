import numpy as np
import pytest
import torch

from padertorch_audio.base import Model
from padertorch_audio.export import export_model, load_model
from padertorch_audio.ops.mu_law import mu_law_decode
from padertorch_audio.vocoder import TINY_WAVENET, WaveNet


def tiny_model(dtype=torch.float64, **updates):
    torch.manual_seed(0)
    model = WaveNet.from_config(WaveNet.get_config({**TINY_WAVENET,
                                                    **updates}))
    return model.to(dtype)


def random_example(model, batch=2, num_samples=200, seed=1):
    generator = torch.Generator().manual_seed(seed)
    classes = torch.randint(0, 256, (batch, num_samples), generator=generator)
    frames = model.frames_needed(num_samples)
    return {'audio': mu_law_decode(classes).double(),
            'mel': torch.randn(batch, frames, model.n_mels,
                               generator=generator, dtype=torch.float64)}


def logits_of(model, example):
    with torch.no_grad():
        return model(example)['logits']


def test_the_defaults_are_padertorchs():
    model = WaveNet()
    assert isinstance(model, Model)
    assert model.dilations == [1, 2, 4, 8, 16, 32, 64, 128] * 2
    assert model.residual_channels == 64
    assert model.skip_convolutions[0].out_channels == 256
    assert model.logit_convolution.out_channels == 256
    assert (model.n_mels, model.sample_rate, model.shift, model.window_length,
            model.stft_size) == (80, 16000, 200, 800, 1024)
    assert model.receptive_field == 511
    assert all(c.kernel_size == (2,) for c in model.dilated_convolutions)


def test_changing_sample_n_changes_only_the_logits_after_n():
    model = tiny_model()
    example = random_example(model, batch=1)
    reference = logits_of(model, example)
    for n in (0, 7, 100, 199):
        changed = {**example, 'audio': example['audio'].clone()}
        changed['audio'][0, n] = -changed['audio'][0, n] + 0.5
        logits = logits_of(model, changed)
        torch.testing.assert_close(logits[..., :n + 1],
                                   reference[..., :n + 1], rtol=0, atol=0)
        if n + 1 < logits.shape[-1]:
            assert not torch.allclose(logits[..., n + 1],
                                      reference[..., n + 1])


@pytest.mark.parametrize('updates, expected', [
    ({}, 1 + 2 + 4 + 8 + 1 + 2 + 1),  # dilations 1, 2, 4, 8, 1, 2
    ({'num_layers': 16, 'max_dilation': 128, 'residual_channels': 8,
      'skip_channels': 16}, 511),
    ({'num_layers': 5, 'max_dilation': 4}, 1 + 2 + 4 + 1 + 2 + 1),
])
def test_the_receptive_field_measured_by_perturbation(updates, expected):
    model = tiny_model(**updates)
    with torch.no_grad():  # weights that carry a change through 16 layers
        for parameter in model.parameters():
            parameter.normal_(0, 0.3)
    assert model.receptive_field == expected
    num_samples = expected + 40
    example = random_example(model, batch=1, num_samples=num_samples)
    example['mel'] = torch.zeros_like(example['mel'])  # unsaturated gates
    position = num_samples - 1
    reference = logits_of(model, example)[..., position]

    def changes(samples):
        audio = example['audio'].clone()
        audio[0, samples] = -audio[0, samples] + 0.3
        logits = logits_of(model, {**example, 'audio': audio})
        return not torch.equal(logits[..., position], reference)

    # position p sees the samples p - field ... p - 1 (and predicts p)
    oldest = position - expected
    assert changes(slice(oldest, oldest + 1))
    assert not changes(slice(0, oldest))
    assert not changes(slice(position, position + 1))


def test_the_mel_and_the_speaker_condition_the_output():
    model = tiny_model(num_speakers=3)
    example = random_example(model)
    example['speaker_index'] = torch.tensor([0, 2])
    reference = logits_of(model, example)
    other_speaker = logits_of(model, {**example,
                                      'speaker_index': torch.tensor([1, 2])})
    assert not torch.allclose(other_speaker[0], reference[0])
    torch.testing.assert_close(other_speaker[1], reference[1], rtol=0, atol=0)
    other_mel = logits_of(model, {**example, 'mel': example['mel'] + 1})
    assert not torch.allclose(other_mel, reference)
    with pytest.raises(ValueError, match='speaker_index'):
        model({**example, 'speaker_index': torch.tensor([0, 3])})
    with pytest.raises(ValueError, match='needs the speaker_index'):
        model({'audio': example['audio'], 'mel': example['mel']})
    with pytest.raises(ValueError, match='no global conditioning'):
        tiny_model()(example)


def test_review_is_the_cross_entropy_over_the_valid_samples():
    model = tiny_model()
    example = random_example(model, batch=3, num_samples=100)
    example['num_samples'] = torch.tensor([100, 37, 1])
    output = model(example)
    review = model.review(example, output)
    # reference: -log softmax at the target class, averaged by hand
    classes = torch.as_tensor(np.round(
        (np.sign(example['audio'].numpy()) * np.log1p(
            255 * np.abs(example['audio'].numpy())) / np.log1p(255) + 1)
        / 2 * 255).astype(np.int64))
    log_probabilities = torch.log_softmax(output['logits'].detach(), dim=1)
    values = [-log_probabilities[b, classes[b, n], n]
              for b, length in enumerate([100, 37, 1]) for n in range(length)]
    torch.testing.assert_close(review['loss'].detach(),
                               torch.stack(values).mean())
    hits = [log_probabilities[b, :, n].argmax() == classes[b, n]
            for b, length in enumerate([100, 37, 1]) for n in range(length)]
    assert review['scalars']['accuracy'] == pytest.approx(
        float(np.mean(hits)))
    review['loss'].backward()
    assert all(p.grad is not None for p in model.parameters())


def test_a_few_steps_of_training_lower_the_loss():
    model = tiny_model(torch.float32)
    example = {key: value.float()
               for key, value in random_example(model, 2, 300).items()}
    example['audio'] = 0.5 * torch.sin(torch.arange(300) * 0.2).expand(2, -1)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(15):
        loss = model.review(example, model(example))['loss']
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.5


def test_config_round_trip_and_export(tmp_path):
    model = tiny_model(torch.float32, num_speakers=2)
    rebuilt = WaveNet.from_config(model.config)
    assert rebuilt.config == model.config
    export_model(model, tmp_path / 'wavenet.pt', task='vocoder',
                 sample_rate=model.sample_rate)
    loaded = load_model(tmp_path / 'wavenet.pt', task='vocoder')
    example = {key: value.float()
               for key, value in random_example(model, 2, 50).items()}
    example['speaker_index'] = torch.tensor([1, 0])
    torch.testing.assert_close(logits_of(loaded, example),
                               logits_of(model, example))


def test_bad_inputs_name_what_was_expected():
    model = tiny_model()
    example = random_example(model)
    with pytest.raises(ValueError, match=r"example\['audio'\] float"):
        model({**example, 'audio': example['audio'][0]})
    with pytest.raises(ValueError, match=r'\(batch, frames, 8\)'):
        model({**example, 'mel': example['mel'][..., :4]})
    with pytest.raises(ValueError, match='batch size 1'):
        model({**example, 'mel': example['mel'][:1]})
    with pytest.raises(ValueError, match='power of two'):
        WaveNet(max_dilation=6)
