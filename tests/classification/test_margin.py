import numpy as np
import pytest
import torch

from padertorch_audio.classification import (
    CosineClassifier, LinearClassifier, additive_margin_cross_entropy)

RNG = np.random.default_rng(0)


def numpy_am_softmax_loss(cosines, targets, margin, scale):
    """A hand-written loop: per example, the margin off the target's cosine,
    scaled, log-softmax, negative at the target; mean."""
    losses = []
    for row, target in zip(cosines, targets):
        logits = [scale * (c - margin if j == target else c)
                  for j, c in enumerate(row)]
        peak = max(logits)
        log_sum = peak + np.log(sum(np.exp(v - peak) for v in logits))
        losses.append(log_sum - logits[target])
    return np.mean(losses)


@pytest.mark.parametrize('margin, scale', [(0.2, 30.), (0.35, 10.),
                                           (0., 1.)])
def test_loss_equals_a_hand_written_loop(margin, scale):
    cosines = RNG.uniform(-1, 1, (6, 5))
    targets = RNG.integers(0, 5, 6)
    found = additive_margin_cross_entropy(
        torch.from_numpy(cosines), torch.from_numpy(targets), margin, scale)
    np.testing.assert_allclose(
        found.item(), numpy_am_softmax_loss(cosines, targets, margin, scale),
        rtol=1e-10)


def test_without_margin_it_is_the_cross_entropy_of_the_scaled_cosines():
    cosines = torch.rand(4, 7) * 2 - 1
    targets = torch.tensor([0, 6, 3, 3])
    torch.testing.assert_close(
        additive_margin_cross_entropy(cosines, targets, 0., 20.),
        torch.nn.functional.cross_entropy(20. * cosines, targets))


def test_cosine_head_logits_are_scaled_cosines_without_margin():
    head = CosineClassifier(6, 4, margin=0.3, scale=15.).double()
    embedding = torch.from_numpy(RNG.standard_normal((5, 6)))
    weight = head.weight.detach().numpy()
    e = embedding.numpy()
    expected = 15. * (e / np.linalg.norm(e, axis=1, keepdims=True)) @ (
        weight / np.linalg.norm(weight, axis=1, keepdims=True)).T
    logits = head(embedding)
    np.testing.assert_allclose(logits.detach().numpy(), expected, rtol=1e-10)
    targets = np.array([0, 1, 2, 3, 0])
    np.testing.assert_allclose(
        head.loss(logits, torch.from_numpy(targets)).item(),
        numpy_am_softmax_loss(expected / 15., targets, 0.3, 15.), rtol=1e-10)


def test_linear_head_is_the_softmax_cross_entropy():
    head = LinearClassifier(3, 4).double()
    embedding = torch.from_numpy(RNG.standard_normal((5, 3)))
    logits = head(embedding)
    expected = embedding.numpy() @ head.linear.weight.detach().numpy().T \
        + head.linear.bias.detach().numpy()
    np.testing.assert_allclose(logits.detach().numpy(), expected, rtol=1e-10)
    targets = np.array([3, 1, 2, 0, 0])
    log_softmax = expected - np.log(np.exp(expected).sum(1, keepdims=True))
    np.testing.assert_allclose(
        head.loss(logits, torch.from_numpy(targets)).item(),
        -log_softmax[np.arange(5), targets].mean(), rtol=1e-10)


@pytest.mark.parametrize('targets, message', [
    ([0, 4], r'must lie in \[0, 3\] \(4 classes\), found \[0, 4\]'),
    ([-1, 0], r'found \[-1, 0\]'),
    ([0], r'shape \(2,\).*found shape \(1,\)'),
    ([0., 1.], 'integer class indices'),
])
def test_bad_targets(targets, message):
    with pytest.raises(ValueError, match=message):
        additive_margin_cross_entropy(torch.zeros(2, 4), targets)
    with pytest.raises(ValueError, match=message):
        LinearClassifier(3, 4).loss(torch.zeros(2, 4), targets)
