import functools
import itertools
import math

import numpy as np
import pytest
import torch

from padertorch_audio.ops import (
    apply_permutation, best_permutation, log1p_mse, mse, pit_loss, sdr_loss,
    si_sdr_loss)


def brute_force(estimate, target, loss_fn):
    """Reference: for every example and every permutation the full loss of
    the permuted estimate; the minimum and its permutation."""
    losses, permutations = [], []
    for e, t in zip(estimate, target):
        candidates = [
            (loss_fn(e[list(p)], t, reduction='none').mean().item(), p)
            for p in itertools.permutations(range(e.shape[0]))]
        loss, permutation = min(candidates)
        losses.append(loss)
        permutations.append(permutation)
    return torch.tensor(losses, dtype=torch.float64), torch.tensor(permutations)


@pytest.mark.parametrize('loss_fn', [si_sdr_loss, mse, sdr_loss])
@pytest.mark.parametrize('num_sources', [2, 3, 4, 5, 6])
@pytest.mark.parametrize('enumeration_limit', [1, 6])  # Hungarian / enumeration
def test_pit_equals_brute_force(loss_fn, num_sources, enumeration_limit):
    torch.manual_seed(num_sources)
    estimate = torch.randn(3, num_sources, 64, dtype=torch.float64)
    target = torch.randn(3, num_sources, 64, dtype=torch.float64)
    loss, permutation = pit_loss(
        estimate, target, loss_fn=loss_fn, return_permutation=True,
        reduction='none', enumeration_limit=enumeration_limit)
    expected_loss, expected_permutation = brute_force(estimate, target, loss_fn)
    torch.testing.assert_close(loss, expected_loss)
    assert torch.equal(permutation, expected_permutation)
    torch.testing.assert_close(
        pit_loss(estimate, target, loss_fn=loss_fn), expected_loss.mean())


@pytest.mark.parametrize('num_sources', [7, 8])
def test_best_permutation_above_the_enumeration_limit_equals_brute_force(num_sources):
    rng = np.random.default_rng(num_sources)
    matrix = rng.normal(size=(2, num_sources, num_sources))
    permutation = best_permutation(torch.from_numpy(matrix))
    columns = np.arange(num_sources)
    for m, p in zip(matrix, permutation.tolist()):
        best = min(itertools.permutations(range(num_sources)),
                   key=lambda q: m[list(q), columns].sum())
        assert tuple(p) == best


def test_the_permutation_puts_the_estimates_into_the_order_of_the_targets():
    target = torch.randn(4, 5, 200)
    order = torch.stack([torch.randperm(5) for _ in range(4)])
    estimate = apply_permutation(target, order) + 0.01 * torch.randn(4, 5, 200)
    for limit in (1, 5):
        _, permutation = pit_loss(estimate, target, return_permutation=True,
                                  enumeration_limit=limit)
        assert permutation.shape == (4, 5)
        for b in range(4):  # estimate[b, permutation[b, k]] pairs with target[b, k]
            for k in range(5):
                assert order[b, permutation[b, k]] == k
        reordered = apply_permutation(estimate, permutation)
        torch.testing.assert_close(reordered, target, atol=0.1, rtol=0)


@pytest.mark.parametrize('enumeration_limit', [1, 5])
def test_the_gradient_flows_through_the_chosen_pairs_only(enumeration_limit):
    estimate = torch.randn(3, 4, 100, requires_grad=True)
    target = torch.randn(3, 4, 100)
    matrices = []

    def recording_loss(estimate, target, **kwargs):
        matrix = si_sdr_loss(estimate, target, **kwargs)
        matrix.retain_grad()
        matrices.append(matrix)
        return matrix

    loss, permutation = pit_loss(estimate, target, loss_fn=recording_loss,
                                 return_permutation=True,
                                 enumeration_limit=enumeration_limit)
    loss.backward()
    assert len(matrices) == 1  # all K² pairs in one call
    chosen = torch.zeros(3, 4, 4, dtype=torch.bool)
    for b in range(3):
        for k in range(4):
            chosen[b, permutation[b, k], k] = True
    grad = matrices[0].grad
    assert (grad[~chosen] == 0).all() and (grad[chosen] == 1 / 12).all()

    # equal to the gradient of the loss on the manually permuted estimate
    reference = estimate.detach().clone().requires_grad_(True)
    si_sdr_loss(apply_permutation(reference, permutation), target).backward()
    torch.testing.assert_close(estimate.grad, reference.grad)


def test_batched_equals_item_wise():
    estimate, target = torch.randn(5, 3, 80), torch.randn(5, 3, 80)
    loss, permutation = pit_loss(estimate, target, return_permutation=True,
                                 reduction='none')
    for b in range(5):
        item_loss, item_permutation = pit_loss(
            estimate[b], target[b], axis=0, return_permutation=True)
        torch.testing.assert_close(loss[b], item_loss)
        assert torch.equal(permutation[b], item_permutation)


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_dtypes(dtype):
    estimate = torch.randn(2, 3, 80, dtype=torch.float64)
    target = torch.randn(2, 3, 80, dtype=torch.float64)
    expected, _ = brute_force(estimate, target, si_sdr_loss)
    loss = pit_loss(estimate.to(dtype), target.to(dtype), reduction='sum')
    assert loss.dtype == dtype
    torch.testing.assert_close(loss.double(), expected.sum(), rtol=1e-5, atol=1e-5)


def test_sequence_lengths_are_passed_to_the_loss():
    lengths = [80, 33]
    estimate, target = torch.randn(2, 3, 80), torch.randn(2, 3, 80)
    estimate[1, :, 33:] = math.nan
    loss = pit_loss(estimate, target, sequence_lengths=lengths, reduction='none')
    for b, n in enumerate(lengths):
        expected, _ = brute_force(estimate[b:b + 1, :, :n], target[b:b + 1, :, :n],
                                  si_sdr_loss)
        assert loss[b].item() == pytest.approx(expected.item(), abs=1e-4)


def test_other_axis_and_a_loss_over_spectra():
    estimate, target = torch.rand(2, 3, 4, 6, 5), torch.rand(2, 3, 4, 6, 5)  # (batch, channel, K, frames, bins)
    loss_fn = functools.partial(log1p_mse, axis=(-2, -1))
    loss, permutation = pit_loss(estimate, target, axis=2, loss_fn=loss_fn,
                                 return_permutation=True, reduction='none')
    assert loss.shape == (2, 3) and permutation.shape == (2, 3, 4)
    for b in range(2):
        for c in range(3):
            expected, expected_permutation = brute_force(
                estimate[b, c][None], target[b, c][None], loss_fn)
            assert loss[b, c].item() == pytest.approx(expected.item(), rel=1e-5)
            assert torch.equal(permutation[b, c], expected_permutation[0])


@pytest.mark.parametrize('enumeration_limit', [1, 5])
def test_nan_is_not_turned_into_a_number(enumeration_limit):
    estimate, target = torch.randn(3, 3, 50), torch.randn(3, 3, 50)
    estimate[1, 2, 7] = math.nan
    loss = pit_loss(estimate, target, reduction='none',
                    enumeration_limit=enumeration_limit)
    assert torch.isfinite(loss[[0, 2]]).all() and torch.isnan(loss[1])

    def nan_for_one_pair(e, t, reduction):
        matrix = mse(e, t, reduction=reduction)
        return torch.where(torch.eye(3, dtype=torch.bool), math.nan, matrix)
    assert torch.isnan(pit_loss(torch.randn(3, 50), torch.randn(3, 50), axis=0,
                                loss_fn=nan_for_one_pair,
                                enumeration_limit=enumeration_limit))


def test_mismatched_shapes_are_reported():
    with pytest.raises(ValueError, match=r'estimate \(2, 3, 50\) and target \(2, 2, 50\)'):
        pit_loss(torch.zeros(2, 3, 50), torch.zeros(2, 2, 50))
    with pytest.raises(ValueError, match=r'estimate \(2, 3, 50\) and target \(2, 3, 40\)'):
        pit_loss(torch.zeros(2, 3, 50), torch.zeros(2, 3, 40))
    with pytest.raises(ValueError, match=r'\(2, 3, 3\), found \(\)'):
        pit_loss(torch.zeros(2, 3, 50), torch.zeros(2, 3, 50),
                 loss_fn=lambda e, t, reduction: mse(e, t, reduction='mean'))
    with pytest.raises(ValueError, match='axis 3 is out of range'):
        pit_loss(torch.zeros(2, 3, 50), torch.zeros(2, 3, 50), axis=3)


def test_apply_permutation_numpy_torch_and_shared():
    x = np.arange(24).reshape(2, 3, 4)
    permutation = np.array([[2, 0, 1], [1, 2, 0]])
    expected = np.stack([x[0, [2, 0, 1]], x[1, [1, 2, 0]]])
    np.testing.assert_array_equal(apply_permutation(x, permutation), expected)
    np.testing.assert_array_equal(
        apply_permutation(torch.from_numpy(x), torch.from_numpy(permutation)).numpy(),
        expected)
    np.testing.assert_array_equal(apply_permutation(x, [2, 0, 1]), x[:, [2, 0, 1]])
    np.testing.assert_array_equal(
        apply_permutation(torch.from_numpy(x), [2, 0, 1]).numpy(), x[:, [2, 0, 1]])
    with pytest.raises(ValueError, match=r'\(2, 3\) or \(3,\) for x of shape \(2, 3, 4\).*found \(2, 4\)'):
        apply_permutation(x, np.zeros((2, 4), dtype=int))


def fixed_matrix(matrix):
    """A pairwise 'loss' that returns the given (batch, K, K) matrix."""
    def loss_fn(estimate, target, reduction):
        assert torch.broadcast_shapes(estimate.shape, target.shape)[:-1] \
            == matrix.shape
        return matrix
    return loss_fn


def brute_force_on_matrix(matrix):
    """min over all permutations p of mean_k matrix[p[k], k], per example."""
    num_sources = matrix.shape[-1]
    return torch.tensor([
        min(sum(m[p[k], k].item() for k in range(num_sources)) / num_sources
            for p in itertools.permutations(range(num_sources)))
        for m in matrix], dtype=torch.float64)


@pytest.mark.parametrize('num_sources', [2, 3, 4, 6])
@pytest.mark.parametrize('enumeration_limit', [1, 6])  # Hungarian / enumeration
@pytest.mark.parametrize('sign', [1., -1.])  # mse-like / si-sdr-like values
def test_a_nan_pair_that_another_permutation_avoids_keeps_the_loss_nan(
        num_sources, enumeration_limit, sign):
    """Example b < K*K has one NaN pair, (b // K, b % K); the assignment
    could avoid it, but the loss must show it. The last example is clean."""
    generator = torch.Generator().manual_seed(num_sources)
    pairs = num_sources ** 2
    matrix = sign * (1 + torch.rand(pairs + 1, num_sources, num_sources,
                                    generator=generator, dtype=torch.float64))
    for b in range(pairs):
        matrix[b, b // num_sources, b % num_sources] = math.nan
    estimate = torch.zeros(pairs + 1, num_sources, 1)

    loss, permutation = pit_loss(
        estimate, estimate, loss_fn=fixed_matrix(matrix), reduction='none',
        return_permutation=True, enumeration_limit=enumeration_limit)

    assert torch.isnan(loss[:pairs]).all(), loss
    assert loss[pairs].item() == pytest.approx(
        brute_force_on_matrix(matrix[pairs:])[0].item(), rel=1e-12)
    assert torch.equal(permutation.sort(-1).values,
                       torch.arange(num_sources).expand(pairs + 1, -1))
    assert torch.isnan(pit_loss(estimate, estimate, loss_fn=fixed_matrix(matrix),
                                enumeration_limit=enumeration_limit))


@pytest.mark.parametrize('enumeration_limit', [1, 6])
def test_an_inf_pair_that_another_permutation_avoids_is_avoided(
        enumeration_limit):
    """+inf is a number: the best assignment goes around it."""
    generator = torch.Generator().manual_seed(0)
    matrix = 1 + torch.rand(9, 3, 3, generator=generator, dtype=torch.float64)
    for b in range(9):
        matrix[b, b // 3, b % 3] = math.inf
    matrix[0, 0, 0] = -10.  # the inf is not in this example's best assignment
    matrix[0, 1, 1] = math.inf
    estimate = torch.zeros(9, 3, 1)

    loss = pit_loss(estimate, estimate, loss_fn=fixed_matrix(matrix),
                    reduction='none', enumeration_limit=enumeration_limit)

    expected = brute_force_on_matrix(matrix)
    assert torch.isfinite(expected).all()
    torch.testing.assert_close(loss, expected, rtol=1e-12, atol=0)
