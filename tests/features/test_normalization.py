import numpy as np
import pytest
import torch

from padertorch_audio.features import (
    GlobalNormalization, UtteranceNormalization, normalize_per_utterance,
)

RNG = np.random.default_rng(0)


def numpy_normalize(x, eps=1e-5, variance=True):
    """One matrix (frames, features) with numpy."""
    centered = x - x.mean(0)
    return centered / np.sqrt(x.var(0) + eps) if variance else centered


@pytest.mark.parametrize('variance', [True, False])
def test_per_utterance_equals_numpy_and_ignores_padding(variance):
    lengths = [7, 3, 1, 0]
    x = RNG.standard_normal((4, 2, 7, 5)) * 3 + 10
    x[1, :, 3:] = np.nan  # padding must not leak into the statistics
    found = normalize_per_utterance(torch.from_numpy(x), lengths,
                                    variance=variance)
    for b, length in enumerate(lengths):
        for c in range(2):
            if length:
                np.testing.assert_allclose(
                    found[b, c, :length].numpy(),
                    numpy_normalize(x[b, c, :length], variance=variance),
                    atol=1e-12)
            assert (found[b, c, length:] == 0).all()


def test_per_utterance_without_lengths_and_numpy_input():
    x = RNG.standard_normal((3, 20, 4))
    expected = np.stack([numpy_normalize(item, eps=1e-3) for item in x])
    found = normalize_per_utterance(x, eps=1e-3)
    assert isinstance(found, np.ndarray)
    np.testing.assert_allclose(found, expected, atol=1e-12)
    np.testing.assert_allclose(
        normalize_per_utterance(x[0], eps=1e-3), expected[0], atol=1e-12)
    torch.testing.assert_close(
        UtteranceNormalization(eps=1e-3)(torch.from_numpy(x), [20, 20, 20]),
        torch.from_numpy(expected))


def test_per_utterance_float32_batched_and_gradients():
    x = torch.randn(3, 10, 4, dtype=torch.float64)
    lengths = torch.tensor([10, 6, 2])
    found = normalize_per_utterance(x, lengths)
    for b in range(3):
        torch.testing.assert_close(
            found[b, :lengths[b]], normalize_per_utterance(x[b, :lengths[b]]))
    torch.testing.assert_close(normalize_per_utterance(x.float(), lengths),
                               found.float(), rtol=1e-5, atol=1e-5)
    x = torch.randn(2, 5, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda x: normalize_per_utterance(x, [5, 3]), (x,))


def test_bad_shapes_fail_with_shapes():
    with pytest.raises(ValueError, match=r'frames, features\).*\(5,\)'):
        normalize_per_utterance(torch.zeros(5))
    with pytest.raises(ValueError, match=r'batch axis.*\(5, 3\)'):
        normalize_per_utterance(torch.zeros(5, 3), [5])
    with pytest.raises(ValueError,
                       match=r'\(\.\.\., frames, 4\).*\(2, 5, 3\)'):
        GlobalNormalization(4)(torch.zeros(2, 5, 3))


def test_global_statistics_equal_numpy_over_all_valid_frames():
    norm = GlobalNormalization(3)
    seen = []
    for lengths in ([9, 4, 1], [2, 2, 8], [5, 0, 3]):
        x = RNG.standard_normal((3, 9, 3)) * [1., 10., 0.1] + [5., -2., 0.]
        x[0, lengths[0]:] = 1e6  # padding
        x[1, lengths[1]:] = 1e6
        x[2, lengths[2]:] = 1e6
        norm(torch.from_numpy(x).float(), lengths)
        seen += [x[b, :length] for b, length in enumerate(lengths)]
    frames = np.concatenate(seen)
    assert norm.count.item() == len(frames) == 34
    np.testing.assert_allclose(norm.mean.numpy(), frames.mean(0), rtol=1e-6)
    np.testing.assert_allclose(norm.var.numpy(), frames.var(0), rtol=1e-5)
    assert norm.mean.dtype == norm.var.dtype == torch.float64


def test_global_update_is_exact_for_many_small_batches():
    # Chan's merge: one pass over 100 batches = numpy over their concatenation
    data = RNG.standard_normal((100, 7, 2)) * 0.01 + 1000.
    norm = GlobalNormalization(2)
    for batch in data:
        norm(torch.from_numpy(batch))
    frames = data.reshape(-1, 2)
    np.testing.assert_allclose(norm.mean.numpy(), frames.mean(0), rtol=1e-12)
    np.testing.assert_allclose(norm.var.numpy(), frames.var(0), rtol=1e-9)


def test_global_output_training_and_eval():
    norm = GlobalNormalization(2, eps=0.)
    x = torch.randn(2, 6, 2, dtype=torch.float64) * 3 + 1
    found = norm(x, [6, 4])
    valid = torch.cat([x[0], x[1, :4]]).numpy()
    expected = (x.numpy() - valid.mean(0)) / valid.std(0)
    np.testing.assert_allclose(found[0].numpy(), expected[0], atol=1e-12)
    np.testing.assert_allclose(found[1, :4].numpy(), expected[1, :4],
                               atol=1e-12)
    assert (found[1, 4:] == 0).all()
    state = {k: v.clone() for k, v in norm.state_dict().items()}
    assert set(state) == {'count', 'mean', 'var'}
    norm.eval()
    y = torch.randn(3, 2, dtype=torch.float64)
    np.testing.assert_allclose(
        norm(y).numpy(), (y.numpy() - valid.mean(0)) / valid.std(0),
        atol=1e-12)
    for key, value in norm.state_dict().items():  # frozen in eval mode
        torch.testing.assert_close(value, state[key])
    restored = GlobalNormalization(2, eps=0.)
    restored.load_state_dict(state)
    torch.testing.assert_close(restored.eval()(y), norm(y))


def test_global_variance_false_and_gradients():
    norm = GlobalNormalization(3, variance=False)
    x = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    found = norm(x)
    torch.testing.assert_close(found, x - x.mean(0))
    assert torch.autograd.gradcheck(
        lambda x: GlobalNormalization(3).eval()(x), (x,))
    found.sum().backward()  # the statistics are constants
    torch.testing.assert_close(x.grad, torch.ones_like(x))
