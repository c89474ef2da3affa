"""Sequence normalisation layers against torch's modules and hand loops.

Padded frames are filled with garbage (large values, inf and NaN): the
valid outputs must not change, and the padded outputs are zero.
"""
import pytest
import torch

from padertorch_audio.modules import (
    BatchNorm, LayerNorm, GlobalLayerNorm, CumulativeLayerNorm)

LENGTHS = [7, 4, 1]


def padded_batch(channels=3, lengths=LENGTHS, layout='btc', garbage=0.,
                 dtype=torch.float64, seed=0):
    """(batch, time, channels) or (batch, channels, time) with garbage
    after each length; also returns the list of valid (time, channels)
    parts."""
    generator = torch.Generator().manual_seed(seed)
    parts = [2 + 3 * torch.randn(length, channels, generator=generator,
                                 dtype=dtype) for length in lengths]
    x = torch.full((len(lengths), max(lengths), channels), garbage,
                   dtype=dtype)
    for b, part in enumerate(parts):
        x[b, :len(part)] = part
    if layout == 'bct':
        x = x.transpose(1, 2)
    return x, parts


def valid_parts(y, lengths=LENGTHS, layout='btc'):
    """(time, channels) valid part of each example of an output."""
    if layout == 'bct':
        y = y.transpose(1, 2)
    return [y[b, :length] for b, length in enumerate(lengths)]


def padding(y, lengths=LENGTHS, layout='btc'):
    if layout == 'bct':
        y = y.transpose(1, 2)
    return torch.cat([y[b, length:] for b, length in enumerate(lengths)])


def randomize_affine(norm, seed=1):
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        norm.weight.copy_(1 + torch.rand(norm.weight.shape, generator=generator))
        norm.bias.copy_(torch.randn(norm.bias.shape, generator=generator))
    return norm


def assert_padding_is_ignored(norm, layout, channels=3):
    """Garbage in the padding leaves the valid outputs alone; padded
    outputs are zero; the gradients stay finite."""
    clean, _ = padded_batch(channels, layout=layout)
    outputs = []
    for garbage in (0., 1e6, float('inf'), float('nan')):
        x, _ = padded_batch(channels, layout=layout, garbage=garbage)
        x.requires_grad_(True)
        y = norm(x, sequence_lengths=LENGTHS)
        y.sum().backward()
        assert torch.isfinite(x.grad).all()
        assert (padding(x.grad, layout=layout) == 0).all()
        assert (padding(y, layout=layout) == 0).all()
        outputs.append(y.detach())
    for y in outputs[1:]:
        torch.testing.assert_close(y, outputs[0], rtol=0, atol=0)
    assert clean.shape == outputs[0].shape


# ---------------------------------------------------------------------------
# BatchNorm


@pytest.mark.parametrize('layout', ['btc', 'bct'])
def test_batch_norm_equals_torch_batch_norm_on_the_valid_frames(layout):
    x, parts = padded_batch(layout=layout, garbage=float('nan'))
    valid = torch.cat(parts)  # (sum of lengths, channels)
    norm = randomize_affine(BatchNorm(3, layout=layout).double())
    reference = torch.nn.BatchNorm1d(3).double()
    reference.load_state_dict(norm.state_dict())

    for _ in range(2):  # two updates of the running statistics
        y = norm(x, sequence_lengths=LENGTHS)
        torch.testing.assert_close(
            torch.cat(valid_parts(y, layout=layout)), reference(valid))
    torch.testing.assert_close(norm.running_mean, reference.running_mean)
    torch.testing.assert_close(norm.running_var, reference.running_var)
    assert norm.num_batches_tracked == reference.num_batches_tracked == 2

    norm.eval(), reference.eval()
    y = norm(x, sequence_lengths=LENGTHS)
    torch.testing.assert_close(
        torch.cat(valid_parts(y, layout=layout)), reference(valid))


def test_batch_norm_without_lengths_equals_torch_batch_norm_1d():
    x, _ = padded_batch(lengths=[5, 5], dtype=torch.float32)  # (2, 5, 3)
    norm = randomize_affine(BatchNorm(3, layout='bct', momentum=None))
    reference = torch.nn.BatchNorm1d(3, momentum=None)  # (N, C, L) layout
    reference.load_state_dict(norm.state_dict())
    x = x.transpose(1, 2)
    for _ in range(3):
        torch.testing.assert_close(norm(x), reference(x))
    torch.testing.assert_close(norm.running_var, reference.running_var)


def test_batch_norm_without_running_stats_uses_the_batch_in_eval_mode():
    x, parts = padded_batch()
    norm = BatchNorm(3, affine=False, track_running_stats=False).eval()
    reference = torch.nn.BatchNorm1d(3, affine=False,
                                     track_running_stats=False).eval()
    y = norm(x, sequence_lengths=LENGTHS)
    torch.testing.assert_close(torch.cat(valid_parts(y)),
                               reference(torch.cat(parts)))
    assert norm.running_mean is None


@pytest.mark.parametrize('layout', ['btc', 'bct'])
def test_batch_norm_ignores_the_padding(layout):
    assert_padding_is_ignored(randomize_affine(BatchNorm(3, layout=layout)
                                               .double()), layout)


def test_batch_norm_needs_two_valid_frames_in_training():
    x = torch.randn(2, 4, 3)
    with pytest.raises(ValueError, match='more than one valid frame per '
                                         'channel in training, found 1'):
        BatchNorm(3)(x, sequence_lengths=[1, 0])


# ---------------------------------------------------------------------------
# LayerNorm


@pytest.mark.parametrize('layout', ['btc', 'bct'])
def test_layer_norm_equals_torch_layer_norm(layout):
    x, _ = padded_batch(layout=layout, lengths=[6, 6])
    norm = randomize_affine(LayerNorm(3, layout=layout).double())
    reference = torch.nn.LayerNorm(3).double()
    reference.load_state_dict(norm.state_dict())
    expected = reference(x if layout == 'btc' else x.transpose(1, 2))
    if layout == 'bct':
        expected = expected.transpose(1, 2)
    torch.testing.assert_close(norm(x), expected)


@pytest.mark.parametrize('layout', ['btc', 'bct'])
def test_layer_norm_ignores_the_padding(layout):
    assert_padding_is_ignored(randomize_affine(LayerNorm(3, layout=layout)
                                               .double()), layout)


# ---------------------------------------------------------------------------
# GlobalLayerNorm and CumulativeLayerNorm, against loops over examples and
# frames on (channels, time) arrays


def global_layer_norm_loop(parts, weight, bias, eps):
    outputs = []
    for part in parts:  # (time, channels)
        x = part.T  # (channels, time)
        mean = x.mean()
        var = ((x - mean) ** 2).mean()
        outputs.append((weight[:, None] * (x - mean) / torch.sqrt(var + eps)
                        + bias[:, None]).T)
    return outputs


def cumulative_layer_norm_loop(parts, weight, bias, eps):
    outputs = []
    for part in parts:  # (time, channels)
        x = part.T  # (channels, time)
        y = torch.empty_like(x)
        for t in range(x.shape[1]):
            past = x[:, :t + 1]
            mean = past.mean()
            var = ((past - mean) ** 2).mean()
            y[:, t] = (weight * (x[:, t] - mean) / torch.sqrt(var + eps)
                       + bias)
        outputs.append(y.T)
    return outputs


@pytest.mark.parametrize('cls, loop', [
    (GlobalLayerNorm, global_layer_norm_loop),
    (CumulativeLayerNorm, cumulative_layer_norm_loop),
])
@pytest.mark.parametrize('layout', ['bct', 'btc'])
def test_global_and_cumulative_layer_norm_equal_hand_written_loops(
        cls, loop, layout):
    x, parts = padded_batch(channels=4, layout=layout, garbage=1e6)
    norm = randomize_affine(cls(4, layout=layout).double())
    y = norm(x, sequence_lengths=LENGTHS)
    expected = loop(parts, norm.weight.detach(), norm.bias.detach(), norm.eps)
    for found, reference in zip(valid_parts(y, layout=layout), expected):
        torch.testing.assert_close(found, reference)


@pytest.mark.parametrize('cls, loop', [
    (GlobalLayerNorm, global_layer_norm_loop),
    (CumulativeLayerNorm, cumulative_layer_norm_loop),
])
def test_float32_with_a_large_offset_stays_accurate(cls, loop):
    x, parts = padded_batch(channels=8, lengths=[50], layout='bct',
                            dtype=torch.float32)
    x, parts = x + 1000, [part.double() + 1000 for part in parts]
    norm = cls(8)
    expected = loop(parts, norm.weight.double().detach(),
                    norm.bias.double().detach(), norm.eps)[0]
    torch.testing.assert_close(norm(x)[0].T.double(), expected,
                               rtol=1e-3, atol=1e-3)


def test_without_lengths_global_layer_norm_uses_every_frame():
    x, parts = padded_batch(channels=4, lengths=[5, 5], layout='bct')
    norm = GlobalLayerNorm(4).double()
    expected = global_layer_norm_loop(parts, norm.weight.detach(),
                                      norm.bias.detach(), norm.eps)
    torch.testing.assert_close(norm(x), torch.stack(expected).transpose(1, 2))


@pytest.mark.parametrize('cls', [GlobalLayerNorm, CumulativeLayerNorm])
@pytest.mark.parametrize('layout', ['bct', 'btc'])
def test_global_and_cumulative_layer_norm_ignore_the_padding(cls, layout):
    assert_padding_is_ignored(randomize_affine(cls(3, layout=layout)
                                               .double()), layout)


def test_cumulative_layer_norm_is_causal():
    x, _ = padded_batch(channels=3, lengths=[8], layout='bct')
    norm = CumulativeLayerNorm(3).double()
    changed = x.clone()
    changed[:, :, 5:] = torch.randn(1, 3, 3, dtype=torch.float64)
    torch.testing.assert_close(norm(changed)[..., :5], norm(x)[..., :5])


def test_gain_and_bias_are_learnable_per_channel():
    x, _ = padded_batch(channels=3, layout='bct')
    norm = GlobalLayerNorm(3).double()
    norm(x, sequence_lengths=LENGTHS).pow(2).sum().backward()
    assert norm.weight.shape == norm.bias.shape == (3,)
    assert norm.weight.grad.abs().min() > 0


@pytest.mark.parametrize('cls', [BatchNorm, LayerNorm, GlobalLayerNorm,
                                 CumulativeLayerNorm])
def test_a_wrong_layout_or_channel_count_is_reported(cls):
    norm = cls(3, layout='bct')
    with pytest.raises(ValueError, match=r'\(batch, channels, time\) with '
                                         r'channels = 3, found shape '
                                         r'\(2, 5, 3\)'):
        norm(torch.zeros(2, 5, 3))
    with pytest.raises(ValueError, match="layout must be one of"):
        cls(3, layout='tbc')


def test_configs_are_json():
    config = CumulativeLayerNorm.get_config({'num_channels': 4})
    assert config['layout'] == 'bct' and config['eps'] == 1e-8
    assert BatchNorm.from_config({'num_channels': 2}).layout == 'btc'
