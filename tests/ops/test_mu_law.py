import math

import numpy as np
import pytest
import torch

from padertorch_audio.ops import mu_law_decode, mu_law_encode


def encode_by_hand(x, channels):
    mu = channels - 1
    x = min(max(x, -1.), 1.)
    companded = math.copysign(math.log(1 + mu * abs(x)) / math.log(1 + mu), x)
    return math.floor((companded + 1) / 2 * mu + 0.5)


def decode_by_hand(index, channels):
    mu = channels - 1
    y = 2 * index / mu - 1
    return math.copysign(((1 + mu) ** abs(y) - 1) / mu, y)


@pytest.mark.parametrize('channels', [256, 16, 2])
def test_encode_equals_the_formula(channels):
    x = np.concatenate([np.random.default_rng(0).uniform(-1.2, 1.2, 2000),
                        [-1, -0.5, 0, 1e-6, 0.5, 1]])
    expected = [encode_by_hand(v, channels) for v in x]
    indices = mu_law_encode(x, channels)
    assert indices.dtype == np.int64 and indices.tolist() == expected
    tensor_indices = mu_law_encode(torch.from_numpy(x), channels)
    assert tensor_indices.dtype == torch.int64 and tensor_indices.tolist() == expected
    assert mu_law_encode(torch.from_numpy(x).float(), channels).tolist() == \
        [encode_by_hand(float(np.float32(v)), channels) for v in x]


@pytest.mark.parametrize('channels', [256, 16, 2])
def test_decode_equals_the_formula_and_inverts_encode_on_the_grid(channels):
    indices = np.arange(channels)
    values = mu_law_decode(indices, channels)
    np.testing.assert_allclose(values, [decode_by_hand(i, channels) for i in indices],
                               rtol=1e-12, atol=1e-15)
    assert values.min() == -1 and values.max() == 1
    assert np.all(np.diff(values) > 0)
    assert mu_law_encode(values, channels).tolist() == indices.tolist()
    tensor_values = mu_law_decode(torch.from_numpy(indices), channels)
    assert tensor_values.dtype == torch.get_default_dtype()
    assert mu_law_encode(tensor_values, channels).tolist() == indices.tolist()


def test_shapes_lists_and_clipping():
    x = torch.tensor([[0.3, -5.], [7., -0.3]])
    indices = mu_law_encode(x)
    assert indices.shape == (2, 2) and indices[0, 1] == 0 and indices[1, 0] == 255
    assert mu_law_encode([0.0, 1.0]).tolist() == [128, 255]
    assert mu_law_decode([[0, 255]]).tolist() == [[-1.0, 1.0]]


def test_bad_input_is_reported():
    with pytest.raises(ValueError, match=r'shape \(3,\)\) contains NaN'):
        mu_law_encode(np.array([0., np.nan, 1.]))
    with pytest.raises(ValueError, match=r'\[0, 255\].*from -1 to 256'):
        mu_law_decode(torch.tensor([-1, 3, 256]))
    with pytest.raises(ValueError, match='integer indices, found dtype torch.float32'):
        mu_law_decode(torch.tensor([1.]))
    with pytest.raises(ValueError, match='int >= 2, found 1'):
        mu_law_encode(np.zeros(3), quantization_channels=1)
