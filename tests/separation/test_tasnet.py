import copy
import itertools
import json
import math

import numpy as np
import pytest
import torch

import padertorch_audio as pa
from padertorch_audio.features import stft
from padertorch_audio.separation import (
    CONVTASNET_PAPER, DPRNN, DPRNN_PAPER, TINY_CONVTASNET, TINY_DPRNN,
    TINY_PIT_BLSTM, Decoder, Encoder, IstftDecoder, StftEncoder, TasNet)

TINY = {'dprnn': TINY_DPRNN, 'convtasnet': TINY_CONVTASNET,
        'pit_blstm': TINY_PIT_BLSTM}


def tiny(name='dprnn', num_speakers=2, mask_activation=None, **encoder):
    config = copy.deepcopy(TINY[name])
    config['separator']['num_speakers'] = num_speakers
    if mask_activation:
        config['separator']['mask_activation'] = mask_activation
    config['encoder'].update(encoder)
    config['decoder'].update(encoder)
    torch.manual_seed(0)
    return TasNet.from_config(config)


def padded_frames(signal, window_length, stride):
    """Reference framing: pad L - S in front, then at the end until the
    last frame is complete and the signal end is covered like the start."""
    front = window_length - stride
    x = np.concatenate([np.zeros(front), signal, np.zeros(front)])
    while (len(x) - window_length) % stride:
        x = np.append(x, 0.)
    return np.stack([x[m:m + window_length]
                     for m in range(0, len(x) - window_length + 1, stride)])


@pytest.mark.parametrize('window_length,stride', [(16, 8), (2, 1), (5, 2)])
@pytest.mark.parametrize('num_samples', [1, 7, 33])
def test_encoder_equals_framing_reference(window_length, stride, num_samples):
    torch.manual_seed(1)
    encoder = Encoder(6, window_length, stride)
    signal = torch.randn(2, num_samples, dtype=torch.float64)
    encoder.double()
    filters = encoder.conv.weight.detach()[:, 0].numpy()  # (N, L)
    expected = np.stack([
        np.maximum(padded_frames(s, window_length, stride) @ filters.T, 0).T
        for s in signal.numpy()])
    actual = encoder(signal).detach().numpy()
    np.testing.assert_allclose(actual, expected, atol=1e-12)
    assert actual.shape[-1] == encoder.num_frames(num_samples)


@pytest.mark.parametrize('window_length,stride', [(16, 8), (2, 1), (5, 2)])
def test_decoder_equals_overlap_add_loop(window_length, stride):
    torch.manual_seed(2)
    decoder = Decoder(4, window_length, stride).double()
    num_samples = 29
    frames = Encoder(4, window_length, stride).num_frames(num_samples)
    x = torch.randn(2, 3, 4, frames, dtype=torch.float64)
    basis = decoder.conv.weight.detach()[:, 0].numpy()  # (N, L)
    expected = np.zeros((2, 3, (frames - 1) * stride + window_length))
    for m in range(frames):
        expected[..., m * stride:m * stride + window_length] += (
            x[..., m].numpy() @ basis)
    front = window_length - stride
    expected = expected[..., front:front + num_samples]
    actual = decoder(x, num_samples).detach().numpy()
    np.testing.assert_allclose(actual, expected, atol=1e-12)


@pytest.mark.parametrize('feature', ['magnitude', 'log1p', 'log'])
def test_stft_encoder_features(feature):
    encoder = StftEncoder(64, 16, feature=feature, eps=1e-6)
    x = torch.randn(2, 300, dtype=torch.float64)
    magnitude = np.abs(stft(x.numpy(), 64, 16)).transpose(0, 2, 1)
    expected = {'magnitude': magnitude, 'log1p': np.log1p(magnitude),
                'log': np.log(magnitude + 1e-6)}[feature]
    actual = encoder.features(encoder(x)).numpy()
    np.testing.assert_allclose(actual, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize('name', ['dprnn', 'convtasnet', 'pit_blstm'])
@pytest.mark.parametrize('num_speakers', [2, 3])
def test_forward_shape_and_gradients(name, num_speakers):
    model = tiny(name, num_speakers)
    assert model.num_speakers == num_speakers
    observation = torch.randn(2, 777)
    output = model({'observation': observation})
    assert output.shape == (2, num_speakers, 777)
    output.square().sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing


@pytest.mark.parametrize('name', ['dprnn', 'convtasnet', 'pit_blstm'])
def test_batched_equals_itemwise(name):
    model = tiny(name).eval()
    observation = torch.randn(3, 500)
    batched = model({'observation': observation})
    for b in range(3):
        single = model({'observation': observation[b:b + 1]})
        torch.testing.assert_close(batched[b:b + 1], single, atol=1e-5,
                                   rtol=1e-4)


@pytest.mark.parametrize('activation,low,high', [
    ('sigmoid', 0, 1), ('relu', 0, math.inf), ('softmax', 0, 1)])
def test_mask_activations(activation, low, high):
    model = tiny('dprnn', 3, activation)
    features = torch.randn(2, 16, 40)
    masks = model.separator(features)
    assert masks.shape == (2, 3, 16, 40)
    assert masks.min() >= low and masks.max() <= high
    if activation == 'softmax':
        torch.testing.assert_close(masks.sum(1), torch.ones(2, 16, 40))


def test_softmax_masks_sum_to_the_decoded_mixture():
    # The decoder is linear, so masks summing to one give sources that sum
    # to the decoded encoder output (the input, for the STFT pair).
    model = tiny('pit_blstm', 3, 'softmax').double()
    x = torch.randn(2, 300, dtype=torch.float64)
    torch.testing.assert_close(model({'observation': x}).sum(1), x)
    model = tiny('dprnn', 2, 'softmax').double()
    expected = model.decoder(model.encoder(x), 300)
    torch.testing.assert_close(model({'observation': x}).sum(1), expected)


def reference_si_sdr(estimate, target):
    target = target - target.mean()
    estimate = estimate - estimate.mean()
    scaled = estimate @ target / (target @ target) * target
    return 10 * np.log10(scaled @ scaled / ((scaled - estimate) ** 2).sum())


def reference_review(example, output):
    """Per example: the permutation with the best mean SI-SDR over the
    valid samples, then the other losses with it."""
    si_sdrs, log_mses, log1p_mses, mixture = [], [], [], []
    for b in range(output.shape[0]):
        n = int(example['num_samples'][b])
        e = output[b, :, :n].double().numpy()
        t = example['speech_source'][b, :, :n].double().numpy()
        x = example['observation'][b, :n].double().numpy()
        permutation = max(
            itertools.permutations(range(len(t))),
            key=lambda p: np.mean([reference_si_sdr(e[p[k]], t[k])
                                   for k in range(len(t))]))
        for k in range(len(t)):
            si_sdrs.append(reference_si_sdr(e[permutation[k]], t[k]))
            error = np.mean((e[permutation[k]] - t[k]) ** 2)
            log_mses.append(np.log(error))
            log1p_mses.append(np.log1p(error))
            mixture.append(reference_si_sdr(x, t[k]))
    return {'si_sdr': -np.mean(si_sdrs), 'log_mse': np.mean(log_mses),
            'log1p_mse': np.mean(log1p_mses)}, np.mean(si_sdrs), (
        np.mean(si_sdrs) - np.mean(mixture))


def random_example(num_speakers=3, lengths=(300, 220)):
    generator = torch.Generator().manual_seed(3)
    target = torch.randn(len(lengths), num_speakers, max(lengths),
                         generator=generator)
    observation = target.sum(1) + 0.3 * torch.randn(
        len(lengths), max(lengths), generator=generator)
    # estimates: noisy targets in a shuffled order
    output = target[:, [2, 0, 1]] + 0.5 * torch.randn(
        target.shape, generator=generator)
    for b, n in enumerate(lengths):
        observation[b, n:] = 0
        target[b, :, n:] = 0
    example = {'observation': observation, 'speech_source': target,
               'num_samples': torch.tensor(lengths)}
    return example, output


def test_review_against_reference():
    example, output = random_example()
    review = tiny('dprnn', 3).review(example, output)
    losses, si_sdr, improvement = reference_review(example, output)
    assert set(review['losses']) == {'si_sdr', 'log_mse', 'log1p_mse'}
    for name, value in losses.items():
        assert review['losses'][name].item() == pytest.approx(value, abs=1e-4)
    assert review['scalars']['si_sdr'].item() == pytest.approx(si_sdr,
                                                               abs=1e-4)
    assert review['scalars']['si_sdr_improvement'].item() == pytest.approx(
        improvement, abs=1e-4)


def test_review_ignores_padding_and_source_order():
    example, output = random_example()
    model = tiny('dprnn', 3)
    expected = model.review(example, output)['losses']
    changed = copy.deepcopy(example)
    changed['speech_source'][1, :, 220:] = 1e3
    changed['observation'][1, 220:] = -1e3
    garbage_output = output.clone()
    garbage_output[1, :, 220:] = float('nan')
    changed['speech_source'] = changed['speech_source'][:, [1, 2, 0]]
    actual = model.review(changed, garbage_output)['losses']
    for name in expected:
        torch.testing.assert_close(actual[name], expected[name])


def test_training_with_loss_weights(tmp_path):
    model = tiny('dprnn')
    generator = torch.Generator().manual_seed(0)
    data = []
    for _ in range(3):
        target = torch.randn(2, 2, 400, generator=generator)
        data.append({'observation': target.sum(1), 'speech_source': target,
                     'num_samples': torch.tensor([400, 300])})
    trainer = pa.Trainer(model, tmp_path, pa.optimizer.Adam(lr=1e-3),
                         loss_weights={'si_sdr': 1, 'log_mse': 0,
                                       'log1p_mse': 0},
                         stop_trigger=(1, 'epoch'), progress=False)
    trainer.train(data, device='cpu')
    assert trainer.iteration == 3


def test_configs_are_json_and_rebuild_the_model():
    config = TasNet.get_config(DPRNN_PAPER)
    assert json.loads(json.dumps(config)) == config
    assert config['separator']['chunk_size'] == 100
    assert TasNet.get_config(CONVTASNET_PAPER)['separator']['norm'] is None
    model = tiny('convtasnet', 3)
    assert model.config['separator']['num_speakers'] == 3
    rebuilt = TasNet.from_config(model.config)
    rebuilt.load_state_dict(model.state_dict())  # same architecture
    assert rebuilt.config == model.config
    # Defaults: the DPRNN paper configuration (window 16).
    default = TasNet()
    assert isinstance(default.separator, DPRNN)
    assert default.config == TasNet.get_config()
    paper = TasNet.from_config(DPRNN_PAPER)
    assert {k: v.shape for k, v in default.state_dict().items()} == {
        k: v.shape for k, v in paper.state_dict().items()}


def test_mismatched_parts_are_refused():
    with pytest.raises(ValueError, match='does not invert the encoder'):
        TasNet(Encoder(16, 16), DPRNN(16), Decoder(16, 8))
    with pytest.raises(ValueError, match='does not invert the encoder'):
        TasNet(StftEncoder(64, 16), DPRNN(33), Decoder(33))
    with pytest.raises(ValueError, match='input_size=64 .* gives 16'):
        TasNet(Encoder(16, 16), DPRNN(64), Decoder(16, 16))
    with pytest.raises(ValueError, match=r'\(batch, samples\)'):
        tiny()({'observation': torch.zeros(3)})
    model = TasNet(StftEncoder(64, 16), DPRNN(33), IstftDecoder(64, 16))
    assert model({'observation': torch.zeros(1, 100)}).shape == (1, 2, 100)
