import numpy as np
import pytest
import torch

from padertorch_audio.classification import (
    StatisticsPooling, statistics_pooling)

RNG = np.random.default_rng(0)


def numpy_statistics(x):
    """One item (features, frames): [mean, std] over frames with numpy."""
    return np.concatenate([np.mean(x, -1), np.std(x, -1)])


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_padded_batch_equals_each_unpadded_item(dtype):
    lengths = [9, 4, 1, 6]
    x = RNG.standard_normal((4, 5, 9)) * 2 + 3
    x[1, :, 4:] = 1e6  # padding must not leak into the statistics
    x[3, :, 6:] = np.nan
    found = statistics_pooling(torch.tensor(x, dtype=dtype), lengths,
                               eps=0.)
    assert found.shape == (4, 10) and found.dtype == dtype
    for b, length in enumerate(lengths):
        np.testing.assert_allclose(
            found[b].numpy(), numpy_statistics(x[b, :, :length]),
            rtol=1e-5 if dtype == torch.float32 else 1e-12, atol=1e-6)


def test_without_lengths_all_frames_count():
    x = RNG.standard_normal((2, 3, 7))
    found = statistics_pooling(torch.from_numpy(x))
    np.testing.assert_allclose(
        found.numpy(), np.stack([numpy_statistics(item) for item in x]),
        atol=1e-12)
    module = StatisticsPooling()
    torch.testing.assert_close(module(torch.from_numpy(x), [7, 7]), found)


def test_the_variance_floor():
    x = torch.ones(1, 2, 5)  # constant: variance 0
    found = statistics_pooling(x, eps=1e-4)
    torch.testing.assert_close(found, torch.tensor([[1., 1., 1e-2, 1e-2]]))


def test_gradients_flow_and_stay_finite():
    x = torch.randn(3, 4, 8, dtype=torch.float64)
    x[2] = 5.  # constant item: the std's gradient would be infinite
    x.requires_grad_(True)
    statistics_pooling(x, torch.tensor([8, 5, 3])).sum().backward()
    assert torch.isfinite(x.grad).all()
    assert (x.grad[1, :, 5:] == 0).all()  # padded frames get no gradient
    assert (x.grad[0] != 0).any()
    assert torch.autograd.gradcheck(
        lambda y: statistics_pooling(y, [6, 2]),
        torch.randn(2, 3, 6, dtype=torch.float64, requires_grad=True))


@pytest.mark.parametrize('x, lengths, message', [
    (torch.zeros(2, 3), None, r'found shape \(2, 3\)'),
    (torch.zeros(2, 3, 4, 1), None, r'found shape \(2, 3, 4, 1\)'),
    (torch.zeros(2, 3, 4), [4], r'sequence_lengths has shape \(1,\)'),
    (torch.zeros(2, 3, 4), [[4, 4]], r'shape \(1, 2\)'),
    (torch.zeros(2, 3, 4), [4, 0], r'\[4, 0\] must lie in \[1, 4\]'),
    (torch.zeros(2, 3, 4), [5, 1], r'\[5, 1\] must lie in \[1, 4\]'),
    (torch.zeros(2, 3, 4), [4., 2.], 'must be integers'),
])
def test_bad_input_names_the_shape_or_value(x, lengths, message):
    with pytest.raises(ValueError, match=message):
        statistics_pooling(x, lengths)
