import numpy as np
import pytest
import scipy.special
import scipy.stats
import torch

from padertorch_audio import summary
from padertorch_audio.base import Model
from padertorch_audio.export import export_model, load_model
from padertorch_audio.features.stft import samples_to_frames, stft
from padertorch_audio.ops.mu_law import mu_law_decode
from padertorch_audio.train.hooks import write_summary
from padertorch_audio.vocoder import TINY_WAVENET, WaveNet
from padertorch_audio.vocoder.wavenet import TINY_WAVENET_MIXTURE

MIXTURE = {'output_distribution': 'logistic_mixture', 'num_mixtures': 4}


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


def mu_law_classes(audio):
    """Reference mu-law encoding (numpy) of ``audio`` in [-1, 1]."""
    audio = np.asarray(audio, dtype=np.float64)
    return np.round((np.sign(audio) * np.log1p(255 * np.abs(audio))
                     / np.log1p(255) + 1) / 2 * 255).astype(np.int64)


def mu_law_values(classes):
    """Reference mu-law decoding (numpy) of classes 0 ... 255."""
    y = 2 * np.asarray(classes, dtype=np.float64) / 255 - 1
    return np.sign(y) * (256. ** np.abs(y) - 1) / 255


def levels_16_bit(audio):
    """Reference quantization (numpy) to the 65536 levels."""
    audio = np.clip(np.asarray(audio, dtype=np.float64), -1, 1)
    return np.round((audio + 1) * 65535 / 2) * 2 / 65535 - 1


def mixture_log_probability(parameters, target, log_scale_min=-7.):
    """Reference: log of the mixture's probability of ``target``'s 16-bit
    level, a sum of logistic CDF increases over the level's bin (scipy);
    ``parameters`` (3 K,)."""
    logits, means, log_scales = np.split(np.asarray(parameters), 3)
    level = levels_16_bit(target)
    upper = np.inf if level == 1 else level + 1 / 65535
    lower = -np.inf if level == -1 else level - 1 / 65535
    weights = scipy.special.softmax(logits)
    total = 0.
    for weight, mean, log_scale in zip(weights, means, log_scales):
        scale = np.exp(max(log_scale, log_scale_min))
        if level <= mean:
            probability = (scipy.stats.logistic.cdf(upper, mean, scale)
                           - scipy.stats.logistic.cdf(lower, mean, scale))
        else:
            probability = (scipy.stats.logistic.sf(lower, mean, scale)
                           - scipy.stats.logistic.sf(upper, mean, scale))
        total += weight * probability
    return np.log(total)


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


@pytest.mark.parametrize('updates', [{}, MIXTURE])
def test_changing_sample_n_changes_only_the_logits_after_n(updates):
    model = tiny_model(**updates)
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
    classes = torch.as_tensor(mu_law_classes(example['audio']))
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
    with pytest.raises(ValueError, match="output_distribution must be one "
                                         "of 'categorical', 'logistic_mix"):
        WaveNet(output_distribution='gaussian')
    with pytest.raises(ValueError, match='num_mixtures must be an int >= 1, '
                                         'found 0'):
        WaveNet(output_distribution='logistic_mixture', num_mixtures=0)
    with pytest.raises(ValueError, match=r'\(batch, 256, \.\.\.\) logits'):
        model.sample_from_logits(torch.zeros(2, 12))
    with pytest.raises(ValueError, match='temperature must be a number'):
        model.sample_from_logits(torch.zeros(2, 256), temperature=-1)
    with pytest.raises(ValueError, match=r"example\['audio'\] of shape "
                                         r"\(2, 199\)"):
        model.review({**example, 'audio': example['audio'][:, 1:]},
                     model(example))


# --------------------------------------------------------------------------
# Output distributions
# --------------------------------------------------------------------------

def test_the_output_distribution_sets_the_output_channels():
    categorical = WaveNet.from_config(TINY_WAVENET)
    assert categorical.output_distribution == 'categorical'
    assert categorical.output_channels == 256
    assert WaveNet(output_distribution='logistic_mixture').output_channels \
        == 3 * 10
    mixture = tiny_model(**MIXTURE)
    assert mixture.config == WaveNet.get_config(TINY_WAVENET_MIXTURE)
    assert mixture.output_channels == 12
    assert mixture.logit_convolution.out_channels == 12
    example = random_example(mixture, batch=2, num_samples=50)
    assert logits_of(mixture, example).shape == (2, 12, 50)


def test_the_network_input_of_each_distribution():
    audio = torch.tensor([[-1.2, -1., -0.3, 0., 1e-6, 0.25, 0.999999, 1.5]],
                         dtype=torch.float64)
    categorical = tiny_model()
    np.testing.assert_array_equal(
        categorical.input_values_from_audio(audio).numpy(),
        2 * mu_law_classes(np.clip(audio.numpy(), -1, 1)) / 255 - 1)
    mixture = tiny_model(**MIXTURE)
    values = mixture.input_values_from_audio(audio)
    np.testing.assert_allclose(values.numpy(), levels_16_bit(audio),
                               rtol=0, atol=1e-15)
    assert mixture.input_values_from_audio(audio.float()).dtype \
        == torch.float64  # the parameters' dtype
    # the mixture model sees the 16-bit levels: moving a sample within its
    # level changes nothing, moving it to the next level changes the output
    example = random_example(mixture, batch=1, num_samples=100)
    example['audio'] = torch.as_tensor(levels_16_bit(example['audio']))
    reference = logits_of(mixture, example)
    within = example['audio'].clone()
    within[0, 50] += 0.4 / 65535
    torch.testing.assert_close(
        logits_of(mixture, {**example, 'audio': within}), reference,
        rtol=0, atol=0)
    next_level = example['audio'].clone()
    next_level[0, 50] += 2 / 65535
    changed = logits_of(mixture, {**example, 'audio': next_level})
    torch.testing.assert_close(changed[..., :51], reference[..., :51],
                               rtol=0, atol=0)
    assert not torch.equal(changed[..., 51], reference[..., 51])


@pytest.mark.parametrize('updates', [{}, MIXTURE])
def test_a_sample_fed_back_is_the_forward_input_of_its_audio(updates):
    model = tiny_model(torch.float32, **updates)
    logits = torch.randn(3, model.output_channels, 5)
    sample = model.sample_from_logits(
        logits, generator=torch.Generator().manual_seed(0))
    assert sample.shape == (3, 5)
    audio = model.sample_to_audio(sample)
    assert audio.dtype == torch.float32 and audio.abs().max() <= 1
    # what the synthesis feeds back is what forward computes from the audio
    torch.testing.assert_close(model.sample_to_input(sample),
                               model.input_values_from_audio(audio),
                               rtol=0, atol=0)


def test_categorical_samples_are_classes():
    model = tiny_model(torch.float32)
    logits = torch.randn(4, 256, generator=torch.Generator().manual_seed(2))
    sample = model.sample_from_logits(
        logits, 0.7, torch.Generator().manual_seed(9))
    expected = torch.multinomial(torch.softmax(logits / 0.7, dim=-1), 1,
                                 generator=torch.Generator().manual_seed(9))
    assert torch.equal(sample, expected[:, 0])
    assert torch.equal(model.sample_from_logits(logits, 0),
                       torch.as_tensor(logits.numpy().argmax(axis=1)))
    np.testing.assert_allclose(model.sample_to_input(sample).numpy(),
                               2 * sample.numpy() / 255 - 1, atol=2e-7)
    np.testing.assert_allclose(model.sample_to_audio(sample).numpy(),
                               mu_law_values(sample.numpy()), rtol=1e-6)


def test_mixture_samples_are_16_bit_levels():
    model = tiny_model(torch.float64, **MIXTURE)
    # component 2 most probable, its mean 0.3 (on no level); component 0
    # at -3 (clipped to -1)
    logits = torch.tensor([[0., 1., 3., 0., -3., 0., 0.3, 0.5,
                            -2., -2., -2., -2.]], dtype=torch.float64)
    assert model.sample_from_logits(logits, 0).item() == levels_16_bit(0.3)
    logits[0, 0] = 9.
    assert model.sample_from_logits(logits, 0).item() == -1.
    draws = model.sample_from_logits(logits.expand(1000, -1), 1.,
                                     torch.Generator().manual_seed(0))
    np.testing.assert_array_equal(draws.numpy(), levels_16_bit(draws))
    assert torch.equal(model.sample_to_audio(draws), draws)
    assert torch.equal(model.sample_to_input(draws), draws)


def test_mixture_review_is_the_negative_log_likelihood():
    model = tiny_model(**MIXTURE)
    example = random_example(model, batch=3, num_samples=60)
    example['audio'][0, :2] = torch.tensor([-1., 1.])  # edge levels
    lengths = [60, 23, 1]
    example['num_samples'] = torch.tensor(lengths)
    output = model(example)
    review = model.review(example, output)
    parameters = output['logits'].detach().numpy()
    audio = example['audio'].numpy()
    values = [-mixture_log_probability(parameters[b, :, n], audio[b, n])
              for b, length in enumerate(lengths) for n in range(length)]
    assert review['loss'].item() == pytest.approx(np.mean(values), rel=1e-9)
    assert set(review['scalars']) == {'mean_absolute_error'}
    weights = scipy.special.softmax(parameters[:, :4], axis=1)
    means = (weights * parameters[:, 4:8]).sum(axis=1)
    errors = [abs(means[b, n] - audio[b, n])
              for b, length in enumerate(lengths) for n in range(length)]
    assert review['scalars']['mean_absolute_error'] == pytest.approx(
        np.mean(errors), rel=1e-9)
    review['loss'].backward()
    assert all(p.grad is not None for p in model.parameters())


def test_a_few_steps_of_training_lower_the_mixture_loss():
    model = tiny_model(torch.float32, **MIXTURE)
    example = {key: value.float()
               for key, value in random_example(model, 1, 200).items()}
    example['audio'] = 0.5 * torch.sin(torch.arange(200) * 0.2)[None]
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(25):
        loss = model.review(example, model(example))['loss']
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 1


# --------------------------------------------------------------------------
# Review summaries
# --------------------------------------------------------------------------

@pytest.mark.parametrize('updates', [{}, MIXTURE])
@pytest.mark.parametrize('lengths, expected_length', [
    ([100, 37], 80),  # cropped to one second (sample_rate 80)
    ([37, 100], 37),  # the first example's valid samples
    (None, 80),
])
def test_the_review_summarizes_the_first_example(updates, lengths,
                                                 expected_length):
    model = tiny_model(sample_rate=80, **updates)
    example = random_example(model, batch=2, num_samples=100)
    if lengths is not None:
        example['num_samples'] = torch.tensor(lengths)
    output = model(example)
    review = model.review(example, output)
    n = expected_length
    audios = review['audios']
    assert set(audios) == {'target', 'teacher_forced'}
    for samples, rate in audios.values():
        assert rate == 80 and samples.dtype == np.float32
        assert samples.shape == (n,)
    np.testing.assert_array_equal(audios['target'][0],
                                  example['audio'][0, :n].float().numpy())
    # the most likely sample at every step, decoded by hand
    logits = output['logits'][0, :, :n].detach().numpy()
    if model.is_mixture:
        component = logits[:4].argmax(axis=0)
        means = logits[4:8][component, np.arange(n)]
        expected = levels_16_bit(means)
    else:
        expected = mu_law_values(logits.argmax(axis=0))
    np.testing.assert_allclose(audios['teacher_forced'][0], expected,
                               rtol=1e-6, atol=1e-7)
    # target above, teacher-forced below; low frequencies at the bottom
    image = review['images']['spectrogram']
    bins = model.stft_size // 2 + 1
    frames = samples_to_frames(n, model.stft_size, model.shift,
                               model.window_length)
    assert image.dtype == np.uint8 and image.shape == (2 * bins, frames)
    for half, name in zip((image[:bins], image[bins:]), audios):
        spectrum = stft(audios[name][0].astype(np.float64),
                        size=model.stft_size, shift=model.shift,
                        window_length=model.window_length)
        np.testing.assert_array_equal(
            half, summary.spectrogram_to_image(spectrum, colormap=None))


def test_the_summaries_go_through_the_trainers_writer(tmp_path):
    from tensorboardX import SummaryWriter
    model = tiny_model(torch.float32)
    example = {key: value.float()
               for key, value in random_example(model, 2, 100).items()}
    review = model.review(example, model(example))
    with SummaryWriter(str(tmp_path)) as writer:
        write_summary(writer, review, 3, 'training')
    images = summary.read_events_by_tag(tmp_path, 'image')
    audios = summary.read_events_by_tag(tmp_path, 'audio')
    image = images['training/spectrogram'][3]
    np.testing.assert_array_equal(image[0], review['images']['spectrogram'])
    for name in ('target', 'teacher_forced'):
        samples, rate = audios[f'training/{name}'][3]
        assert rate == 16000
        np.testing.assert_allclose(samples, review['audios'][name][0],
                                   atol=1 / 32767)
