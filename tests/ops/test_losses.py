import math

import numpy as np
import pytest
import scipy.signal
import torch
from pb_bss_eval.evaluation import si_sdr as reference_si_sdr

from padertorch_audio.ops import (
    gaussian_kl_divergence, log1p_mse, log_mse, masked_cross_entropy, mse, sdr,
    sdr_loss, si_sdr, si_sdr_loss)


def realistic_signals(seed, num_samples=16000):
    """A speech-like target (harmonics, syllable envelope, reverberation) and
    estimates of it at several distortion levels (filtered target, another
    voice, noise)."""
    rng = np.random.default_rng(seed)
    t = np.arange(num_samples) / 8000

    def voice(f0):
        pitch = f0 * (1 + 0.1 * np.sin(2 * np.pi * 3 * t))
        phase = 2 * np.pi * np.cumsum(pitch) / 8000
        x = sum(np.sin(k * phase) / k for k in range(1, 12))
        envelope = np.clip(np.sin(2 * np.pi * 4 * t + rng.uniform(0, 6)), 0, None)
        room = rng.normal(size=800) * np.exp(-np.arange(800) / 150)
        return 0.1 * scipy.signal.fftconvolve(x * envelope, room)[:num_samples]

    target, other = voice(120), voice(210)
    distortion = (scipy.signal.lfilter([0, 0.3, 0.1], [1], target) + other
                  + 0.01 * rng.normal(size=num_samples))
    return target, np.stack([target + level * distortion
                             for level in (1., 0.3, 0.05, 0.005, 3e-4)])


# --- SI-SDR -----------------------------------------------------------------

@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_si_sdr_agrees_with_pb_bss_eval_on_random_signals(dtype):
    rng = np.random.default_rng(0)
    target = rng.normal(size=(3, 2, 1000)).astype(np.float32)
    estimate = (target + rng.uniform(0.01, 2, size=(3, 2, 1)) *
                rng.normal(size=(3, 2, 1000))).astype(np.float32)
    value = si_sdr(torch.from_numpy(estimate).to(dtype),
                   torch.from_numpy(target).to(dtype))
    assert value.dtype == dtype and value.shape == (3, 2)
    expected = reference_si_sdr(target.astype(np.float64), estimate.astype(np.float64))
    np.testing.assert_allclose(value.double().numpy(), expected, rtol=0, atol=1e-4)


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_si_sdr_agrees_with_pb_bss_eval_on_realistic_signals(dtype):
    for seed in range(2):
        target, estimates = realistic_signals(seed)
        target, estimates = target.astype(np.float32), estimates.astype(np.float32)
        expected = reference_si_sdr(target.astype(np.float64),
                                    estimates.astype(np.float64))
        assert expected.min() < 5 and expected.max() > 50  # a wide range
        value = si_sdr(torch.from_numpy(estimates).to(dtype),
                       torch.from_numpy(target).to(dtype))
        np.testing.assert_allclose(value.double().numpy(), expected, rtol=0, atol=1e-4)


def test_si_sdr_is_invariant_to_scale_and_offset_and_loss_is_its_negative():
    target, estimates = map(torch.from_numpy, realistic_signals(2))
    value = si_sdr(estimates, target)
    torch.testing.assert_close(si_sdr(0.2 * estimates + 3, target - 1, eps=0),
                               si_sdr(estimates, target, eps=0))
    torch.testing.assert_close(si_sdr_loss(estimates, target, reduction='none'), -value)
    torch.testing.assert_close(si_sdr_loss(estimates, target), -value.mean())


def test_si_sdr_without_zero_mean_equals_the_formula():
    rng = np.random.default_rng(1)
    s, e = rng.normal(size=50) + 1, rng.normal(size=50) + 2
    alpha = e @ s / (s @ s)
    expected = 10 * np.log10(np.sum((alpha * s) ** 2) / np.sum((alpha * s - e) ** 2))
    value = si_sdr(torch.from_numpy(e), torch.from_numpy(s), zero_mean=False, eps=0)
    assert value.item() == pytest.approx(expected, abs=1e-10)


def test_si_sdr_of_a_perfect_or_silent_estimate_is_finite_by_eps():
    target = torch.randn(100, dtype=torch.float64)
    energy = ((target - target.mean()) ** 2).sum().item()
    assert si_sdr(target, target).item() == pytest.approx(10 * math.log10(energy / 1e-8))
    assert si_sdr(torch.zeros(100), torch.zeros(100)).item() == pytest.approx(-80)
    assert si_sdr(target, target, eps=0).item() > 140  # float64 rounding or inf


def test_si_sdr_is_accurate_for_high_values_in_float32():
    target = torch.randn(8000)
    estimate = target + 1e-4 * torch.randn(8000)
    expected = reference_si_sdr(target.double().numpy(), estimate.double().numpy())
    assert expected > 75
    assert si_sdr(estimate, target).item() == pytest.approx(expected, abs=1e-4)


# --- SDR, MSE family: reference formulas --------------------------------------

def test_sdr_equals_the_formula_and_loss_is_its_negative():
    rng = np.random.default_rng(3)
    s, e = rng.normal(size=(4, 300)), rng.normal(size=(4, 300))
    expected = [10 * np.log10(np.sum(a ** 2) / np.sum((a - b) ** 2)) for a, b in zip(s, e)]
    value = sdr(torch.from_numpy(e), torch.from_numpy(s), eps=0)
    np.testing.assert_allclose(value.numpy(), expected, rtol=1e-10)
    assert sdr_loss(torch.from_numpy(e), torch.from_numpy(s)).item() == pytest.approx(
        -np.mean(expected), abs=1e-6)


def test_mse_log_mse_and_log1p_mse_equal_the_formulas():
    rng = np.random.default_rng(4)
    s, e = rng.normal(size=(3, 200)), 2 * rng.normal(size=(3, 200))
    error = np.mean((s - e) ** 2, axis=-1)
    args = torch.from_numpy(e), torch.from_numpy(s)
    np.testing.assert_allclose(mse(*args, reduction='none').numpy(), error)
    assert mse(*args).item() == pytest.approx(
        torch.nn.functional.mse_loss(*args).item())
    np.testing.assert_allclose(log_mse(*args, reduction='none').numpy(),
                               np.log(error + 1e-8))
    np.testing.assert_allclose(log1p_mse(*args, reduction='none').numpy(),
                               np.log1p(error))
    assert log1p_mse(*args, reduction='sum').item() == pytest.approx(np.log1p(error).sum())


def test_mse_over_spectra_masks_frames():
    x, y = torch.randn(2, 3, 7, 5), torch.randn(2, 3, 7, 5)  # (batch, K, frames, bins)
    value = mse(x, y, sequence_lengths=[7, 4], axis=(-2, -1), reduction='none')
    for b, n in enumerate([7, 4]):
        for k in range(3):
            expected = torch.nn.functional.mse_loss(x[b, k, :n], y[b, k, :n])
            assert value[b, k].item() == pytest.approx(expected.item(), rel=1e-5)


# --- common interface --------------------------------------------------------

SIGNAL_FUNCTIONS = [si_sdr, sdr, mse, log_mse, log1p_mse]


@pytest.mark.parametrize('function', SIGNAL_FUNCTIONS)
def test_pairwise_broadcasting_equals_a_loop_over_pairs(function):
    estimate, target = torch.randn(2, 3, 400), torch.randn(2, 3, 400)
    matrix = function(estimate[:, :, None], target[:, None, :], reduction='none')
    assert matrix.shape == (2, 3, 3)
    for b in range(2):
        for i in range(3):
            for j in range(3):
                expected = function(estimate[b, i], target[b, j], reduction='none')
                torch.testing.assert_close(matrix[b, i, j], expected)


@pytest.mark.parametrize('function', SIGNAL_FUNCTIONS)
def test_padded_batch_equals_item_wise_and_ignores_the_padding(function):
    lengths = [500, 123, 7]
    estimate = torch.full((3, 2, 500), math.nan)
    target = torch.full((3, 2, 500), math.nan)
    items = [(torch.randn(2, n), torch.randn(2, n)) for n in lengths]
    for b, (e, t) in enumerate(items):
        estimate[b, :, :lengths[b]], target[b, :, :lengths[b]] = e, t
    estimate.requires_grad_(True)
    value = function(estimate, target, sequence_lengths=lengths, reduction='none')
    expected = torch.stack([function(e, t, reduction='none') for e, t in items])
    torch.testing.assert_close(value, expected)
    value.sum().backward()
    grad = estimate.grad
    for b, n in enumerate(lengths):
        assert torch.isfinite(grad[b, :, :n]).all() and (grad[b, :, n:] == 0).all()


@pytest.mark.parametrize('function', SIGNAL_FUNCTIONS)
def test_float32_equals_float64(function):
    estimate, target = torch.randn(3, 2, 300, dtype=torch.float64), torch.randn(3, 2, 300, dtype=torch.float64)
    value64 = function(estimate, target, reduction='none')
    value32 = function(estimate.float(), target.float(), reduction='none')
    assert value64.dtype == torch.float64 and value32.dtype == torch.float32
    torch.testing.assert_close(value32.double(), value64, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('function', SIGNAL_FUNCTIONS)
def test_gradients_are_correct(function):
    estimate = torch.randn(2, 30, dtype=torch.float64, requires_grad=True)
    target = torch.randn(2, 30, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda e, t: function(e, t, sequence_lengths=[30, 20], reduction='sum'),
        (estimate, target))


@pytest.mark.parametrize('function', SIGNAL_FUNCTIONS)
def test_nan_in_valid_samples_gives_nan(function):
    estimate, target = torch.randn(2, 50), torch.randn(2, 50)
    estimate[1, 3] = math.nan
    value = function(estimate, target, reduction='none')
    assert torch.isfinite(value[0]) and torch.isnan(value[1])
    assert torch.isnan(function(estimate, target, reduction='mean'))


@pytest.mark.parametrize('function', SIGNAL_FUNCTIONS)
def test_reductions(function):
    estimate, target = torch.randn(2, 3, 50), torch.randn(2, 3, 50)
    values = function(estimate, target, reduction='none')
    torch.testing.assert_close(function(estimate, target, reduction='mean'), values.mean())
    torch.testing.assert_close(function(estimate, target, reduction='sum'), values.sum())
    with pytest.raises(ValueError, match="'none', 'mean', 'sum'"):
        function(estimate, target, reduction='average')


@pytest.mark.parametrize('function', SIGNAL_FUNCTIONS)
def test_bad_shapes_are_reported(function):
    with pytest.raises(ValueError, match=r'\(2, 50\).*\(2, 49\)'):
        function(torch.zeros(2, 50), torch.zeros(2, 49))
    with pytest.raises(ValueError, match=r'\(3, 50\).*\(2, 50\)'):
        function(torch.zeros(3, 50), torch.zeros(2, 50))
    with pytest.raises(ValueError, match=r'one entry per example.*\(2, 50\).*\(1,\)'):
        function(torch.zeros(2, 50), torch.zeros(2, 50), sequence_lengths=[50])
    with pytest.raises(TypeError, match='torch.Tensor, found ndarray'):
        function(np.zeros(5), torch.zeros(5))


# --- Gaussian KL divergence ---------------------------------------------------

def test_gaussian_kl_divergence_equals_torch_distributions():
    mean_p, mean_q = torch.randn(4, 6, 3), torch.randn(4, 6, 3)
    log_var_p, log_var_q = torch.randn(4, 6, 3), torch.randn(4, 6, 3)
    expected = torch.distributions.kl_divergence(
        torch.distributions.Normal(mean_p, (0.5 * log_var_p).exp()),
        torch.distributions.Normal(mean_q, (0.5 * log_var_q).exp())).sum(-1)
    value = gaussian_kl_divergence(mean_p, mean_q, log_var_p=log_var_p,
                                   log_var_q=log_var_q, reduction='none')
    torch.testing.assert_close(value, expected)
    from_variances = gaussian_kl_divergence(
        mean_p, mean_q, var_p=log_var_p.exp(), var_q=log_var_q.exp(), reduction='none')
    torch.testing.assert_close(from_variances, expected)
    standard = torch.distributions.kl_divergence(
        torch.distributions.Normal(mean_p, (0.5 * log_var_p).exp()),
        torch.distributions.Normal(0., 1.)).sum(-1)
    torch.testing.assert_close(
        gaussian_kl_divergence(mean_p, log_var_p=log_var_p), standard.mean())


def test_gaussian_kl_divergence_masks_frames_and_passes_gradients():
    mean = torch.randn(2, 5, 3, requires_grad=True)
    log_var = torch.randn(2, 5, 3).detach()
    log_var[1, 2:] = math.nan  # padding
    value = gaussian_kl_divergence(mean, log_var_p=log_var, sequence_lengths=[5, 2],
                                   reduction='none')
    assert value[1, 2:].eq(0).all()
    mean_value = gaussian_kl_divergence(mean, log_var_p=log_var, sequence_lengths=[5, 2])
    items = [gaussian_kl_divergence(mean[b, :n], log_var_p=log_var[b, :n], reduction='sum')
             for b, n in enumerate([5, 2])]
    torch.testing.assert_close(mean_value, sum(items) / 7)
    mean_value.backward()
    assert torch.isfinite(mean.grad).all() and mean.grad[1, 2:].eq(0).all()


def test_gaussian_kl_divergence_and_cross_entropy_keep_nan():
    mean = torch.zeros(2, 3)
    mean[1, 0] = math.nan
    value = gaussian_kl_divergence(mean, log_var_p=torch.zeros(2, 3), reduction='none')
    assert value[0] == 0 and torch.isnan(value[1])
    logits = torch.zeros(2, 4)
    logits[0, 1] = math.nan
    value = masked_cross_entropy(logits, torch.tensor([0, 0]), reduction='none')
    assert torch.isnan(value[0]) and value[1].item() == pytest.approx(math.log(4))


def test_gaussian_kl_divergence_rejects_ambiguous_variances():
    with pytest.raises(ValueError, match='exactly one of log_var_p and var_p, found both'):
        gaussian_kl_divergence(torch.zeros(3), log_var_p=torch.zeros(3), var_p=torch.ones(3))
    with pytest.raises(ValueError, match='found neither'):
        gaussian_kl_divergence(torch.zeros(3))
    with pytest.raises(ValueError, match=r'\(2, 3\), \(4, 3\)'):
        gaussian_kl_divergence(torch.zeros(2, 3), torch.zeros(4, 3), log_var_p=torch.zeros(3))


# --- masked cross-entropy -----------------------------------------------------

@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_masked_cross_entropy_equals_torch_on_the_valid_frames(dtype):
    lengths = [6, 2, 4]
    logits = torch.randn(3, 6, 5, dtype=dtype)  # (batch, frames, classes)
    targets = torch.randint(0, 5, (3, 6))
    logits[1, 2:] = math.nan
    targets[1, 2:] = -1
    logits.requires_grad_(True)
    value = masked_cross_entropy(logits, targets, lengths)
    assert value.dtype == dtype
    valid_logits = torch.cat([logits[b, :n] for b, n in enumerate(lengths)])
    valid_targets = torch.cat([targets[b, :n] for b, n in enumerate(lengths)])
    torch.testing.assert_close(
        value, torch.nn.functional.cross_entropy(valid_logits, valid_targets))
    per_entry = masked_cross_entropy(logits, targets, lengths, reduction='none')
    assert per_entry.shape == (3, 6) and per_entry[1, 2:].eq(0).all()
    torch.testing.assert_close(
        masked_cross_entropy(logits, targets, lengths, reduction='sum'),
        torch.nn.functional.cross_entropy(valid_logits, valid_targets, reduction='sum'))
    value.backward()
    assert torch.isfinite(logits.grad).all() and logits.grad[1, 2:].eq(0).all()


def test_masked_cross_entropy_with_torch_layout_and_without_lengths():
    logits, targets = torch.randn(2, 4, 7), torch.randint(0, 4, (2, 7))  # (batch, classes, frames)
    torch.testing.assert_close(
        masked_cross_entropy(logits.movedim(1, -1), targets),
        torch.nn.functional.cross_entropy(logits, targets))


def test_masked_cross_entropy_reports_bad_input():
    with pytest.raises(ValueError, match=r'\(2, 4, 7\).*\(2, 7\).*movedim'):
        masked_cross_entropy(torch.zeros(2, 4, 7), torch.zeros(2, 7, dtype=torch.long))
    with pytest.raises(ValueError, match=r'\[0, 4\).*from 0 to 4'):
        masked_cross_entropy(torch.zeros(2, 4), torch.tensor([0, 4]))
    with pytest.raises(ValueError, match='int.*float32'):
        masked_cross_entropy(torch.zeros(2, 4), torch.zeros(2))
