"""The discretized mixture of logistics (Salimans et al. 2017, PixelCNN++;
with 16-bit bins as in Parallel WaveNet) as an output distribution for
audio.

**Levels.** Audio in ``[-1, 1]`` is quantized to ``num_classes`` (default
65536, 16 bit) equally spaced levels ``x_i = 2 i / (num_classes - 1) - 1``,
``i = 0 ... num_classes - 1`` (:func:`quantize_to_bins`); level ``i`` owns
the bin ``[x_i - h, x_i + h]`` with ``h = 1 / (num_classes - 1)``, except
that the two edge bins take the tails: level 0 (-1) owns ``(-inf, -1 + h]``
and the last level (+1) owns ``[1 - h, inf)``. So the probabilities of all
levels sum to one.

**Parameters.** ``3 K`` values along axis 1 for ``K`` components, in this
order: the mixture logits ``(K)``, the means ``(K)`` and the log scales
``(K)`` (:func:`split_mixture_parameters`). The log scales are clamped from
below at ``log_scale_min`` (default -7, as PixelCNN++: scales of at least
``exp(-7) = 9.1e-4``, 30 bins of 16 bit) so that no component collapses
onto one bin; the means are not constrained.

**Probability of level i** under component ``k`` with mean ``m`` and scale
``s``: ``sigmoid((x_i + h - m) / s) - sigmoid((x_i - h - m) / s)``, the
logistic CDF's increase over the bin. It is evaluated in the log domain as
``logsigmoid(u) + logsigmoid(-l) + log(1 - exp(-(u - l)))`` (``u``, ``l``
the standardized upper and lower edges; ``sigmoid(u) - sigmoid(l) =
sigmoid(u) sigmoid(-l) (1 - exp(l - u))``), which is exact and does not
lose precision in the tails, where the difference of two CDF values
cancels (PixelCNN++ switches there to the density at the bin centre times
the bin width). The small-width fallback is the series ``log(1 - exp(-d))
= log d - d / 2 + O(d^2)`` for ``d = 2 h / s < 1e-4``. The edge levels use
``logsigmoid(u)`` (level 0) and ``logsigmoid(-l)`` (last level); the
components are combined with a log-sum-exp over ``log_softmax(logits)``
plus the components' log-probabilities.
"""
import numpy as np
import torch

__all__ = [
    'NUM_CLASSES',
    'LOG_SCALE_MIN',
    'quantize_to_bins',
    'split_mixture_parameters',
    'logistic_mixture_log_likelihood',
    'logistic_mixture_mean',
    'sample_logistic_mixture',
]

#: Levels of the discretization (16 bit).
NUM_CLASSES = 65536
#: Lower bound of the log scales.
LOG_SCALE_MIN = -7.
#: Below this standardized bin width, ``log(1 - exp(-d))`` is taken from
#: its series.
_SMALL_WIDTH = 1e-4


def _check_num_classes(num_classes):
    if (not isinstance(num_classes, (int, np.integer))
            or isinstance(num_classes, bool) or num_classes < 2):
        raise ValueError(f'num_classes must be an int >= 2, found '
                         f'{num_classes!r}.')
    return int(num_classes)


def _bin_indices(x, num_classes):
    """Indices ``(x's shape)`` int64 of the levels nearest to ``x`` (clipped
    to ``[-1, 1]``), computed in float64."""
    x = torch.as_tensor(x)
    if x.is_complex() or not (x.is_floating_point()
                              or x.dtype in (torch.int32, torch.int64)):
        raise ValueError(f'Expected real audio values in [-1, 1], found '
                         f'dtype {x.dtype} (shape {tuple(x.shape)}).')
    values = x.detach().to(torch.float64)
    if torch.isnan(values).any():
        raise ValueError(f'The audio values (shape {tuple(values.shape)}) '
                         f'contain NaN, which has no quantization level.')
    scaled = (values.clamp(-1, 1) + 1) * ((num_classes - 1) / 2)
    return torch.floor(scaled + 0.5).to(torch.int64)


def _levels(indices, num_classes, dtype):
    """Level values ``2 i / (num_classes - 1) - 1`` in ``dtype``."""
    values = indices.to(torch.float64) * (2 / (num_classes - 1)) - 1
    return values.to(dtype)


def quantize_to_bins(x, num_classes=NUM_CLASSES):
    """The nearest of the ``num_classes`` levels ``2 i / (num_classes - 1)
    - 1`` to every value of ``x``.

    Args:
        x: Audio values, any shape (tensor or array-like); values outside
            ``[-1, 1]`` are clipped to it; NaN raises a ValueError.
        num_classes: Number of levels (65536: 16 bit).

    Returns:
        A tensor of ``x``'s shape, in ``x``'s floating dtype (torch's
        default dtype for integers and non-tensors), on its device. The
        rounding is done in float64, so quantizing a quantized tensor again
        returns it unchanged (also in float32).

    >>> quantize_to_bins(torch.tensor([-2., -0.3, 0.2, 1.]), num_classes=5)
    tensor([-1.0000, -0.5000,  0.0000,  1.0000])
    """
    num_classes = _check_num_classes(num_classes)
    x = torch.as_tensor(x)
    dtype = x.dtype if x.is_floating_point() else torch.get_default_dtype()
    return _levels(_bin_indices(x, num_classes), num_classes, dtype)


def split_mixture_parameters(parameters, log_scale_min=LOG_SCALE_MIN):
    """``(batch, 3 K, ...)`` -> the mixture logits, the means and the log
    scales (clamped from below at ``log_scale_min``), each ``(batch, K,
    ...)``.

    >>> logits, means, log_scales = split_mixture_parameters(
    ...     torch.tensor([[0., 1., 0.5, -0.5, -9., 2.]]))
    >>> logits.tolist(), means.tolist(), log_scales.tolist()
    ([[0.0, 1.0]], [[0.5, -0.5]], [[-7.0, 2.0]])
    """
    parameters = torch.as_tensor(parameters)
    if parameters.dim() < 2 or parameters.shape[1] % 3 \
            or parameters.shape[1] == 0 \
            or not parameters.is_floating_point():
        raise ValueError(
            f'The logistic mixture parameters must be float (batch, 3 K, '
            f'...) (K mixture logits, K means, K log scales), found '
            f'{parameters.dtype} of shape {tuple(parameters.shape)}.')
    logits, means, log_scales = parameters.chunk(3, dim=1)
    return logits, means, log_scales.clamp(min=log_scale_min)


def logistic_mixture_log_likelihood(parameters, targets,
                                    num_classes=NUM_CLASSES,
                                    log_scale_min=LOG_SCALE_MIN):
    """The log-probability of every target's level under the discretized
    logistic mixture (see the module docstring).

    Args:
        parameters: ``(batch, 3 K, ...)``: mixture logits, means, log
            scales.
        targets: ``(batch, ...)`` audio values; each is quantized to its
            nearest level first (:func:`quantize_to_bins`).
        num_classes: Levels of the discretization.
        log_scale_min: Lower bound of the log scales.
        uniform: Optional pre-drawn ``U(0, 1)`` numbers ``(2, positions)``
            used instead of the generator: the first row picks the
            component by inverse CDF (the smallest ``k`` whose cumulative
            probability exceeds it), the second is ``u``.

    Returns:
        ``(batch, ...)`` log-probabilities (nats, ``<= 0``) in the
        parameters' dtype; differentiable with respect to the parameters.

    >>> parameters = torch.tensor([[0., 0., -2.]])  # K = 1: mean 0
    >>> logistic_mixture_log_likelihood(parameters, torch.tensor([0.]))
    tensor([-9.7835])
    """
    num_classes = _check_num_classes(num_classes)
    logits, means, log_scales = split_mixture_parameters(parameters,
                                                         log_scale_min)
    targets = torch.as_tensor(targets, device=parameters.device)
    expected = parameters.shape[:1] + parameters.shape[2:]
    if targets.shape != expected:
        raise ValueError(
            f'logistic_mixture_log_likelihood: the targets must have shape '
            f'{tuple(expected)} (the parameters {tuple(parameters.shape)} '
            f'without axis 1), found {tuple(targets.shape)}.')
    indices = _bin_indices(targets, num_classes)[:, None]
    centres = _levels(indices, num_classes, parameters.dtype)
    half_width = 1 / (num_classes - 1)
    inverse_scales = torch.exp(-log_scales)
    centred = (centres - means) * inverse_scales
    upper = centred + half_width * inverse_scales
    lower = centred - half_width * inverse_scales
    width = 2 * half_width * inverse_scales  # upper - lower, uncancelled
    log_bin_fraction = torch.where(
        width > _SMALL_WIDTH,
        torch.log(-torch.expm1(-width.clamp(min=_SMALL_WIDTH))),
        np.log(2 * half_width) - log_scales - width / 2)
    interior = (torch.nn.functional.logsigmoid(upper)
                + torch.nn.functional.logsigmoid(-lower) + log_bin_fraction)
    log_probabilities = torch.where(
        indices == 0, torch.nn.functional.logsigmoid(upper),
        torch.where(indices == num_classes - 1,
                    torch.nn.functional.logsigmoid(-lower), interior))
    return torch.logsumexp(
        torch.log_softmax(logits, dim=1) + log_probabilities, dim=1)


def logistic_mixture_mean(parameters):
    """The mixture's mean ``sum_k softmax(logits)_k means_k`` ``(batch,
    ...)`` (of the continuous mixture, ignoring the clipping to ``[-1,
    1]``).

    >>> logistic_mixture_mean(torch.tensor([[0., 0., -0.5, 0.5, 0., 0.]]))
    tensor([0.])
    """
    logits, means, _ = split_mixture_parameters(parameters)
    return (torch.softmax(logits, dim=1) * means).sum(dim=1)


def sample_logistic_mixture(parameters, temperature=1.0, generator=None,
                            num_classes=NUM_CLASSES,
                            log_scale_min=LOG_SCALE_MIN, uniform=None):
    """One draw from the discretized logistic mixture at every position.

    A component ``k`` is drawn from ``softmax(logits / temperature)`` over
    axis 1 (``torch.multinomial`` on the positions flattened in row-major
    order), then ``u ~ U(0, 1)`` (``torch.rand``, same order) gives ``x =
    means_k + temperature * exp(log_scales_k) * (log u - log(1 - u))``,
    clipped to ``[-1, 1]`` and quantized to the nearest level. Temperature 0
    takes the mean of the most probable component (deterministic, no
    random numbers used); temperature 1 samples the model's distribution.

    Args:
        parameters: ``(batch, 3 K, ...)``: mixture logits, means, log
            scales (see the module docstring).
        temperature: A number ``>= 0``.
        generator: A ``torch.Generator`` on the parameters' device, for
            reproducible draws.
        num_classes: Levels of the discretization.
        log_scale_min: Lower bound of the log scales.
        uniform: Optional pre-drawn ``U(0, 1)`` numbers ``(2, positions)``
            used instead of the generator: the first row picks the
            component by inverse CDF (the smallest ``k`` whose cumulative
            probability exceeds it), the second is ``u``.

    Returns:
        ``(batch, ...)`` values on the levels (in ``[-1, 1]``), in the
        parameters' dtype, no gradient. They are what the network takes as
        its next input (:meth:`WaveNet.sample_to_input
        <padertorch_audio.vocoder.wavenet.WaveNet.sample_to_input>`) and
        the audio itself.

    >>> parameters = torch.tensor([[0., 3., 0.2, -0.4, -2., -2.]])
    >>> sample_logistic_mixture(parameters, temperature=0)  # mean of k = 1
    tensor([-0.4000])
    """
    num_classes = _check_num_classes(num_classes)
    if isinstance(temperature, (bool, str)) or not temperature >= 0:
        raise ValueError(f'sample_logistic_mixture: temperature must be a '
                         f'number >= 0, found {temperature!r}.')
    parameters = torch.as_tensor(parameters).detach()
    logits, means, log_scales = split_mixture_parameters(parameters,
                                                         log_scale_min)
    num_mixtures = logits.shape[1]
    # (batch, K, ...) -> (positions, K)
    logits, means, log_scales = (
        value.movedim(1, -1).reshape(-1, num_mixtures)
        for value in (logits, means, log_scales))
    if temperature == 0:
        component = logits.argmax(dim=1, keepdim=True)
        values = means.gather(1, component)[:, 0]
    else:
        probabilities = torch.softmax(logits / temperature, dim=1)
        if uniform is None:
            component = torch.multinomial(probabilities, 1,
                                          generator=generator)
            uniform = torch.rand(component.shape[0], generator=generator,
                                 dtype=means.dtype, device=means.device)
        else:
            uniform = torch.as_tensor(uniform, dtype=means.dtype,
                                      device=means.device)
            if uniform.shape != (2, logits.shape[0]):
                raise ValueError(
                    f'sample_logistic_mixture: uniform must be (2, '
                    f'{logits.shape[0]}), found {tuple(uniform.shape)}.')
            cdf = probabilities.cumsum(1)
            component = torch.searchsorted(
                cdf, (uniform[0] * cdf[:, -1])[:, None], right=True).clamp(
                max=num_mixtures - 1)
            uniform = uniform[1]
        uniform = uniform.clamp(min=torch.finfo(means.dtype).tiny)  # < 1
        noise = torch.log(uniform) - torch.log1p(-uniform)
        values = (means.gather(1, component)[:, 0] + temperature * torch.exp(
            log_scales.gather(1, component)[:, 0]) * noise)
    shape = parameters.shape[:1] + parameters.shape[2:]
    return quantize_to_bins(values.clamp(-1, 1),
                            num_classes).reshape(shape)
