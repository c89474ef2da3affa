import mpmath
import numpy as np
import pytest
import scipy.stats
import torch

from padertorch_audio.vocoder.distributions import (
    logistic_mixture_log_likelihood,
    logistic_mixture_mean,
    quantize_to_bins,
    sample_logistic_mixture,
    split_mixture_parameters,
)

#: Three components: mixture logits, means, log scales.
LOGITS = [0.5, -0.3, 0.1]
MEANS = [-0.5, 0.1, 0.6]
LOG_SCALES = [-3., -2.5, -3.5]


def parameters(batch=1, logits=LOGITS, means=MEANS, log_scales=LOG_SCALES,
               dtype=torch.float64):
    row = torch.tensor([*logits, *means, *log_scales], dtype=dtype)
    return row.expand(batch, -1).clone()


def reference_probabilities(logits, means, log_scales, num_classes,
                            log_scale_min=-7.):
    """Probability of every level, a sum over the components of the
    logistic CDF's increase over the level's bin (scipy; above the mean as
    the decrease of the survival function, which does not cancel there)."""
    levels = np.linspace(-1, 1, num_classes)
    half = 1 / (num_classes - 1)
    upper = np.append(levels[:-1] + half, np.inf)
    lower = np.insert(levels[1:] - half, 0, -np.inf)
    weights = scipy.special.softmax(np.asarray(logits, dtype=np.float64))
    probabilities = 0
    for weight, mean, log_scale in zip(weights, means, log_scales):
        scale = np.exp(max(log_scale, log_scale_min))
        probabilities = probabilities + weight * np.where(
            levels <= mean,
            scipy.stats.logistic.cdf(upper, mean, scale)
            - scipy.stats.logistic.cdf(lower, mean, scale),
            scipy.stats.logistic.sf(lower, mean, scale)
            - scipy.stats.logistic.sf(upper, mean, scale))
    return levels, probabilities


def test_quantize_to_bins_takes_the_nearest_level():
    generator = np.random.default_rng(0)
    x = generator.uniform(-1.3, 1.3, 1000)
    for num_classes in (2, 7, 256):
        grid = np.linspace(-1, 1, num_classes)
        expected = grid[np.abs(x[:, None] - grid).argmin(axis=1)]
        result = quantize_to_bins(torch.tensor(x), num_classes)
        assert result.dtype == torch.float64
        np.testing.assert_allclose(result.numpy(), expected, atol=1e-15)
    # 16 bit: 2 / 65535 apart; quantizing again changes nothing (float32)
    x = torch.tensor(x, dtype=torch.float32)
    levels = quantize_to_bins(x)
    assert levels.dtype == torch.float32
    indices = (levels.double().numpy() + 1) * 65535 / 2
    np.testing.assert_allclose(indices, np.round(indices), atol=1e-2)
    errors = (levels.double() - x.double().clamp(-1, 1)).abs()
    assert errors.max() <= 1 / 65535 + 1e-7
    assert torch.equal(quantize_to_bins(levels), levels)
    with pytest.raises(ValueError, match='NaN'):
        quantize_to_bins(torch.tensor([0., float('nan')]))
    with pytest.raises(ValueError, match='num_classes must be an int >= 2'):
        quantize_to_bins(torch.zeros(3), num_classes=1)


def test_split_clamps_only_the_log_scales():
    logits, means, log_scales = split_mixture_parameters(
        parameters(2, log_scales=[-9., 0., -7.]))
    assert logits.shape == means.shape == log_scales.shape == (2, 3)
    assert logits[0].tolist() == LOGITS and means[0].tolist() == MEANS
    assert log_scales[0].tolist() == [-7., 0., -7.]
    with pytest.raises(ValueError, match=r'\(batch, 3 K, \.\.\.\)'):
        split_mixture_parameters(torch.zeros(2, 8))


def test_log_likelihood_equals_a_sum_over_the_bins_of_logistic_cdfs():
    generator = torch.Generator().manual_seed(0)
    num_mixtures, shape = 4, (2, 6)
    params = torch.cat([
        torch.randn(shape[0], num_mixtures, shape[1], generator=generator),
        0.5 * torch.randn(shape[0], num_mixtures, shape[1],
                          generator=generator),
        -4 + 2 * torch.rand(shape[0], num_mixtures, shape[1],
                            generator=generator),
    ], dim=1).double()
    params[0, 2 * num_mixtures, 0] = -9.  # below the clamp at -7
    targets = 2 * torch.rand(shape, generator=generator).double() - 1
    targets[0, :3] = torch.tensor([-1., 1., 1 - 0.4 / 65535])  # edges
    targets[1, 0] = 0.9999  # between the last two levels
    result = logistic_mixture_log_likelihood(params, targets)
    assert result.shape == shape and result.dtype == torch.float64
    for b in range(shape[0]):
        for n in range(shape[1]):
            p = params[b, :, n].numpy()
            levels, probabilities = reference_probabilities(
                p[:num_mixtures], p[num_mixtures:2 * num_mixtures],
                p[2 * num_mixtures:], 65536)
            index = np.abs(levels - targets[b, n].item()).argmin()
            assert result[b, n].item() == pytest.approx(
                np.log(probabilities[index]), rel=1e-9)


@pytest.mark.parametrize('num_classes', [7, 256])
def test_the_probabilities_of_all_levels_sum_to_one(num_classes):
    levels = torch.linspace(-1, 1, num_classes, dtype=torch.float64)
    params = parameters(num_classes)
    probabilities = logistic_mixture_log_likelihood(
        params, levels, num_classes=num_classes).exp()
    assert probabilities.sum().item() == pytest.approx(1, abs=1e-12)
    _, expected = reference_probabilities(LOGITS, MEANS, LOG_SCALES,
                                          num_classes)
    np.testing.assert_allclose(probabilities.numpy(), expected, rtol=1e-9)


def test_far_tails_stay_finite_and_accurate_in_float32():
    # 0.95 away from the mean with a scale of exp(-7): probabilities of
    # exp(-1000), beyond float64; reference with 50 digits (mpmath)
    cases = [(0.9, -0.05, -7.), (-0.9, 0.05, -7.), (0.3, -1., -7.),
             (0.3, 0.3, 3.), (0.3, 1 - 2 / 65535, -7.), (0.3, -1., 2.)]
    mpmath.mp.dps = 50
    h = mpmath.mpf(1) / 65535
    for mean, target, log_scale in cases:
        index = round((target + 1) * 65535 / 2)
        level = mpmath.mpf(2 * index) / 65535 - 1
        s = mpmath.exp(log_scale)

        def cdf(x):
            return 1 / (1 + mpmath.exp(-(x - mean) / s))

        def sf(x):
            return 1 / (1 + mpmath.exp((x - mean) / s))

        if level <= mean:
            upper = 1 if index == 65535 else cdf(level + h)
            lower = 0 if index == 0 else cdf(level - h)
            probability = upper - lower
        else:
            upper = 0 if index == 65535 else sf(level + h)
            lower = 1 if index == 0 else sf(level - h)
            probability = lower - upper
        expected = float(mpmath.log(probability))
        params = torch.tensor([[0., mean, log_scale]], requires_grad=True)
        result = logistic_mixture_log_likelihood(params,
                                                 torch.tensor([target]))
        assert result.dtype == torch.float32
        assert result.item() == pytest.approx(expected, rel=1e-5, abs=2e-3)
        result.sum().backward()
        assert torch.isfinite(params.grad).all()


def test_gradients_match_finite_differences():
    generator = torch.Generator().manual_seed(3)
    params = torch.cat([torch.randn(2, 3, 4, generator=generator),
                        0.3 * torch.randn(2, 3, 4, generator=generator),
                        -3 + torch.rand(2, 3, 4, generator=generator)],
                       dim=1).double().requires_grad_()
    targets = torch.rand(2, 4, generator=generator).double() * 2 - 1
    targets[0, 0], targets[1, 0] = -1, 1
    assert torch.autograd.gradcheck(
        lambda p: logistic_mixture_log_likelihood(p, targets, 256),
        (params,))


def test_sampling_follows_the_discretized_mixture():
    num_draws = 200_000
    draws = sample_logistic_mixture(
        parameters(num_draws), generator=torch.Generator().manual_seed(0))
    assert draws.shape == (num_draws,) and draws.dtype == torch.float64
    assert torch.equal(quantize_to_bins(draws), draws)
    levels, probabilities = reference_probabilities(LOGITS, MEANS,
                                                    LOG_SCALES, 65536)
    mean = np.sum(levels * probabilities)
    variance = np.sum((levels - mean) ** 2 * probabilities)
    standard_error = np.sqrt(variance / num_draws)
    assert abs(draws.mean().item() - mean) < 4 * standard_error
    assert draws.var().item() == pytest.approx(variance, rel=0.02)
    # histogram over 32 groups of 2048 levels: chi-square test
    groups = np.add.reduceat(probabilities, np.arange(0, 65536, 2048))
    indices = np.round((draws.numpy() + 1) * 65535 / 2).astype(int)
    counts = np.bincount(indices // 2048, minlength=32)
    rare = groups * num_draws < 20  # merged into one cell
    observed = np.append(counts[~rare], counts[rare].sum())
    expected = np.append(groups[~rare], groups[rare].sum()) * num_draws
    _, p_value = scipy.stats.chisquare(observed, expected)
    assert p_value > 1e-3


def test_the_temperature_sharpens_the_choice_and_the_spread():
    num_draws, temperature = 100_000, 0.5
    logits, means, log_scales = [0.4, 0., -0.4], [-0.6, 0., 0.6], [-4.] * 3
    draws = sample_logistic_mixture(
        parameters(num_draws, logits, means, log_scales), temperature,
        generator=torch.Generator().manual_seed(1)).numpy()
    component = np.abs(draws[:, None] - np.array(means)).argmin(axis=1)
    weights = scipy.special.softmax(np.array(logits) / temperature)
    _, p_value = scipy.stats.chisquare(np.bincount(component),
                                       weights * num_draws)
    assert p_value > 1e-3
    # a logistic's standard deviation is scale * pi / sqrt(3)
    spread = temperature * np.exp(-4.) * np.pi / np.sqrt(3)
    for k, mean in enumerate(means):
        assert np.std(draws[component == k] - mean) == pytest.approx(
            spread, rel=0.03)


def test_temperature_zero_takes_the_mean_of_the_most_probable_component():
    params = torch.cat([parameters(1),
                        parameters(1, logits=[0., 2., 1.],
                                   means=[0., 1.7, 0.])], dim=0)
    params = params[:, :, None].expand(-1, -1, 3)  # (2, 9, 3)
    draws = sample_logistic_mixture(params, temperature=0)
    assert draws.shape == (2, 3)
    # component 0 (mean -0.5, on no level) and component 1 (mean 1.7: +1)
    expected = np.round((-0.5 + 1) * 65535 / 2) * 2 / 65535 - 1
    np.testing.assert_array_equal(draws[0].numpy(), expected)
    np.testing.assert_array_equal(draws[1].numpy(), 1.)


def test_a_generator_makes_the_draws_reproducible():
    params = parameters(1000, dtype=torch.float32)

    def draw(seed):
        return sample_logistic_mixture(
            params, generator=torch.Generator().manual_seed(seed))

    assert torch.equal(draw(5), draw(5))
    assert not torch.equal(draw(5), draw(6))
    assert draw(5).dtype == torch.float32


def test_the_mixture_mean():
    params = parameters(2)[:, :, None]
    weights = scipy.special.softmax(np.array(LOGITS))
    expected = np.sum(weights * np.array(MEANS))
    np.testing.assert_allclose(logistic_mixture_mean(params).numpy(),
                               expected, rtol=1e-12)


def test_bad_arguments_say_what_was_expected():
    params = parameters(2)
    with pytest.raises(ValueError, match='temperature must be a number >= 0'):
        sample_logistic_mixture(params, temperature=-1)
    with pytest.raises(ValueError, match='temperature must be a number >= 0'):
        sample_logistic_mixture(params, temperature='argmax')
    with pytest.raises(ValueError, match=r'found torch.float64 of shape '
                                         r'\(2, 8\)'):
        sample_logistic_mixture(params[:, :8])
    with pytest.raises(ValueError, match=r'targets must have shape \(2,\)'):
        logistic_mixture_log_likelihood(params, torch.zeros(2, 1))
    with pytest.raises(ValueError, match='NaN'):
        logistic_mixture_log_likelihood(params,
                                        torch.tensor([0., float('nan')]))
