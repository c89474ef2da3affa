"""Losses and signal-quality measures as plain functions.

Sign convention: the SDR-type functions (:func:`si_sdr`, :func:`sdr`) are
*measures* in dB, higher is better; their ``*_loss`` twins are their
negatives, lower is better. Everything else here (:func:`mse`,
:func:`log_mse`, :func:`log1p_mse`, :func:`gaussian_kl_divergence`,
:func:`masked_cross_entropy`) is a loss, lower is better.

Common interface of the signal functions:

- ``estimate`` and ``target`` are ``(..., samples)`` tensors whose leading
  axes broadcast against each other (the sample axes must be equal). One value
  is computed per signal, i.e. the result has the broadcast leading shape.
  Because of the broadcasting, ``f(estimate[:, :, None], target[:, None])``
  gives the matrix of all pairs of sources (as ``pit_loss`` uses it) at the
  cost of one batched matrix product, without ever forming the ``(batch, K,
  K, samples)`` tensor.
- ``sequence_lengths``: ``(batch,)`` number of valid samples per example,
  ``batch`` being axis 0; the samples beyond are padding and are ignored
  (padded NaNs too; their gradient is zero). Means (zero-mean, MSE) are taken
  over the valid samples only.
- ``reduction``: ``'none'`` returns the per-signal values, ``'mean'`` their
  mean, ``'sum'`` their sum. The measures default to ``'none'`` (evaluation
  wants per-signal values), the losses to ``'mean'`` (training wants a
  scalar).
- Precision: the inner products ``<s, s>``, ``<ŝ, ŝ>``, ``<ŝ, s>`` are
  accumulated in float64 and the result is returned in the input dtype (at
  least float32). So high values (an SI-SDR of 80 dB) are accurate for
  float32 inputs too, although the residual energy is computed from the inner
  products instead of from the residual signal.
- Epsilon policy: ``eps`` (default ``1e-8``, absolute, in squared signal
  units) keeps the SDR-type values finite: it is added to the target energy
  in the SI-SDR scale factor, to the residual energy and to the ratio, i.e.
  ``10 log10(signal / (residual + eps) + eps)`` (as pb_bss_eval does). A
  perfect estimate gives ``10 log10(signal / eps)`` instead of inf, a silent
  target (and estimate) -80 dB instead of NaN. The value changes by about
  ``4.3 eps / residual`` dB, i.e. only for near-perfect estimates (1e-3 dB at
  a residual energy of 4e-5). ``eps=0`` gives the plain formula (a perfect
  estimate then gives about 150 dB, from float64 rounding, or inf).
  :func:`log_mse` adds the same ``eps`` to the MSE; the other losses need none.
- NaN or inf in valid samples make the value NaN (never silently a number).
"""
import torch

from padertorch_audio.ops.sequence import compute_mask

__all__ = [
    'si_sdr',
    'si_sdr_loss',
    'sdr',
    'sdr_loss',
    'mse',
    'log_mse',
    'log1p_mse',
    'gaussian_kl_divergence',
    'masked_cross_entropy',
]

EPS = 1e-8
REDUCTIONS = ('none', 'mean', 'sum')


def _reduce(values, reduction, mask=None):
    """Reduce per-item values; entries where ``mask`` is False do not count."""
    if reduction not in REDUCTIONS:
        raise ValueError(f'Unknown reduction {reduction!r}; expected one of '
                         f'{", ".join(map(repr, REDUCTIONS))}.')
    if mask is not None:
        values = torch.where(mask, values, 0)
    if reduction == 'none':
        return values
    if reduction == 'sum':
        return values.sum()
    if mask is None:
        return values.mean()
    return values.sum() / mask.sum()


def _check_tensor(name, x, function):
    if not isinstance(x, torch.Tensor):
        raise TypeError(f'{function}: expected {name} to be a torch.Tensor, '
                        f'found {type(x).__name__}.')


def _dot(a, b):
    """``Σ_t a[..., t] b[..., t]`` with broadcasting, as a batched matrix
    product: pairs ``(..., K, 1, T)`` and ``(..., 1, K, T)`` never form the
    ``(..., K, K, T)`` product. (The extra size-1 axis makes torch's CPU
    einsum about 2x faster.)"""
    product = torch.einsum('...t,...t->...', a[..., None, :], b[..., None, :])
    return product[..., 0]


def _signal_statistics(estimate, target, sequence_lengths, zero_mean, axis,
                       function):
    """Energies and inner product of the (masked, optionally zero-mean)
    signals, in float64.

    Returns ``(energy_estimate, energy_target, inner_product, num_samples,
    out_dtype)``, the first three broadcast against each other with the
    leading shape (the signal axes reduced).
    """
    _check_tensor('estimate', estimate, function)
    _check_tensor('target', target, function)
    try:
        shape = torch.broadcast_shapes(estimate.shape, target.shape)
    except RuntimeError:
        shape = None
    ndim = len(shape) if shape is not None else 0
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    if shape is None or ndim == 0:
        raise ValueError(
            f'{function}: expected estimate and target (..., samples) whose '
            f'leading axes broadcast, found estimate '
            f'{tuple(estimate.shape)} and target {tuple(target.shape)}.')
    shapes = (f'estimate {tuple(estimate.shape)} and target '
              f'{tuple(target.shape)}')
    estimate = estimate[(None,) * (ndim - estimate.dim())]
    target = target[(None,) * (ndim - target.dim())]
    axes = [a % ndim for a in axes]
    if len(set(axes)) != len(axes):
        raise ValueError(f'{function}: axis {axis} names an axis twice (for '
                         f'{shapes}).')
    if any(estimate.shape[a] != target.shape[a] for a in axes):
        raise ValueError(
            f'{function}: estimate and target must have the same size along '
            f'the signal axes {tuple(axes)}, found {shapes}.')
    if estimate.is_complex() or target.is_complex():
        raise ValueError(f'{function}: expected real signals, found dtypes '
                         f'{estimate.dtype} and {target.dtype} ({shapes}).')
    out_dtype = torch.promote_types(estimate.dtype, target.dtype)
    if not out_dtype.is_floating_point or out_dtype.itemsize < 4:
        out_dtype = torch.promote_types(out_dtype, torch.float32)
    time_axis = axes[0]
    num_samples = 1
    for a in axes[1:]:
        num_samples *= shape[a]
    padding = None
    if sequence_lengths is not None:
        if ndim < 2 or 0 in axes:
            raise ValueError(
                f'{function}: sequence_lengths needs a batch axis 0 before '
                f'the signal axes {tuple(axes)}, found {shapes}.')
        mask_shape = [1] * ndim
        mask_shape[0] = shape[0]
        for a in axes:
            mask_shape[a] = shape[a]
        padding = ~compute_mask(
            torch.empty((), device=estimate.device).expand(mask_shape),
            sequence_lengths, batch_axis=0, sequence_axis=time_axis)
        lengths = torch.as_tensor(sequence_lengths, device=estimate.device)
        num_samples = num_samples * lengths.to(torch.float64).view(
            [-1] + [1] * (ndim - 1 - len(axes)))
    else:
        num_samples = num_samples * shape[time_axis]

    # A float64 copy of each signal, masked and zero-mean in place: one new
    # buffer per signal (they are large; for K x K pairs they have K, not K²
    # signals).
    keep = [a for a in range(ndim) if a not in axes]
    signals = []
    for x in (estimate, target):
        if padding is not None:
            x = x.expand(torch.broadcast_shapes(x.shape, padding.shape))
        x = x.to(torch.float64, copy=True)
        if padding is not None:
            x.masked_fill_(padding, 0)
        signals.append(x)
    # Move the signal axes to the end and flatten them into one.
    estimate, target = [x.permute(keep + axes).flatten(len(keep))
                        for x in signals]
    if zero_mean:
        if padding is not None:
            padding = padding.permute(keep + axes).flatten(len(keep))
            count = num_samples.clamp(min=1).unsqueeze(-1)
        else:
            count = num_samples
        for x in (estimate, target):
            x.sub_(x.sum(-1, keepdim=True) / count)
            if padding is not None:
                x.masked_fill_(padding, 0)
    energy_estimate = _dot(estimate, estimate)
    energy_target = _dot(target, target)
    inner_product = _dot(estimate, target)
    return energy_estimate, energy_target, inner_product, num_samples, out_dtype


def si_sdr(estimate, target, sequence_lengths=None, reduction='none',
           zero_mean=True, eps=EPS):
    """Scale-invariant signal-to-distortion ratio in dB (higher is better).

    SI-SDR (= SI-SNR, Le Roux et al. 2019): with target ``s`` and estimate
    ``ŝ`` (both made zero-mean if ``zero_mean``), ``α = <ŝ, s> / <s, s>`` and
    ``SI-SDR = 10 log10(||α s||² / ||α s - ŝ||²)``. See the module docstring
    for broadcasting, ``sequence_lengths``, precision and the ``eps`` policy.

    Args:
        estimate, target: ``(..., samples)``; the leading axes broadcast.
        sequence_lengths: ``(batch,)`` valid samples per example (axis 0).
        reduction: ``'none'`` (per signal, the broadcast leading shape),
            ``'mean'`` or ``'sum'``.
        zero_mean: Remove the mean (of the valid samples) first, as the
            definition does; False gives the variant that is not invariant to
            an offset.
        eps: See the module docstring; 0 for the exact formula.

    Returns:
        SI-SDR in dB, in the input dtype (at least float32).

    >>> target = torch.tensor([1., -1., 2., -2.])
    >>> estimate = target + torch.tensor([1., 1., -1., -1.])
    >>> si_sdr(estimate, target), si_sdr(3 * estimate, target)  # scale-invariant
    (tensor(3.9794), tensor(3.9794))
    >>> si_sdr(target, target)  # 10 log10(||s||² / eps), capped by eps
    tensor(90.)
    >>> si_sdr(torch.randn(2, 3, 100), torch.randn(2, 3, 100)).shape
    torch.Size([2, 3])
    """
    energy_estimate, energy_target, inner, _, dtype = _signal_statistics(
        estimate, target, sequence_lengths, zero_mean, -1, 'si_sdr')
    scale = inner / (energy_target + eps)
    signal = scale * scale * energy_target
    residual = (energy_estimate - 2 * scale * inner + signal).clamp(min=0)
    value = 10 * torch.log10(signal / (residual + eps) + eps)
    return _reduce(value.to(dtype), reduction)


def si_sdr_loss(estimate, target, sequence_lengths=None, reduction='mean',
                zero_mean=True, eps=EPS):
    """``-si_sdr(...)`` in dB (lower is better); arguments as :func:`si_sdr`,
    but the mean over the signals by default.

    >>> target = torch.tensor([[1., -1., 2., -2.]])
    >>> si_sdr_loss(target + torch.tensor([[1., 1., -1., -1.]]), target)
    tensor(-3.9794)
    """
    return -si_sdr(estimate, target, sequence_lengths, reduction, zero_mean,
                   eps)


def sdr(estimate, target, sequence_lengths=None, reduction='none', eps=EPS):
    """Plain signal-to-distortion ratio in dB (higher is better).

    ``SDR = 10 log10(||s||² / ||s - ŝ||²)`` without any scaling or filtering
    of the target, as TasNet training uses it (this is *not* BSS-Eval's SDR,
    which allows a 512-tap distortion filter). Arguments, broadcasting,
    ``sequence_lengths`` and ``eps`` as in :func:`si_sdr`.

    Returns:
        SDR in dB, per signal for ``reduction='none'``.

    >>> target = torch.tensor([1., -1., 2., -2.])
    >>> round(sdr(target + 0.1, target).item(), 2)  # ||s||² = 10, ||e||² = 0.04
    23.98
    """
    energy_estimate, energy_target, inner, _, dtype = _signal_statistics(
        estimate, target, sequence_lengths, False, -1, 'sdr')
    residual = (energy_estimate - 2 * inner + energy_target).clamp(min=0)
    value = 10 * torch.log10(energy_target / (residual + eps) + eps)
    return _reduce(value.to(dtype), reduction)


def sdr_loss(estimate, target, sequence_lengths=None, reduction='mean',
             eps=EPS):
    """``-sdr(...)`` in dB (lower is better); arguments as :func:`sdr`, but
    the mean over the signals by default."""
    return -sdr(estimate, target, sequence_lengths, reduction, eps)


def _squared_error(estimate, target, sequence_lengths, axis, function):
    """Per-signal mean squared error, in float64, and the output dtype."""
    energy_estimate, energy_target, inner, num_samples, dtype = \
        _signal_statistics(estimate, target, sequence_lengths, False, axis,
                           function)
    residual = (energy_estimate - 2 * inner + energy_target).clamp(min=0)
    if isinstance(num_samples, torch.Tensor):
        num_samples = num_samples.clamp(min=1)
    else:
        num_samples = max(num_samples, 1)
    return residual / num_samples, dtype


def mse(estimate, target, sequence_lengths=None, reduction='mean', axis=-1):
    """Mean squared error per signal: ``(1/N) Σ_n (ŝ_n - s_n)²`` over the
    ``N`` valid samples (lower is better).

    Args:
        estimate, target: ``(..., samples)``; the leading axes broadcast.
        sequence_lengths: ``(batch,)`` valid entries along the first of
            ``axis`` (samples; frames for spectra), batch being axis 0.
        reduction: ``'none'`` (per signal), ``'mean'`` or ``'sum'`` over the
            signals.
        axis: The axis or axes that form one signal and are averaged, e.g.
            ``(-2, -1)`` for spectra or masks ``(..., frames, bins)``.

    Returns:
        The MSE in squared signal units; an empty signal (length 0) has MSE 0.

    >>> mse(torch.tensor([[1., 2., 3.]]), torch.tensor([[1., 2., 5.]]))
    tensor(1.3333)
    >>> mse(torch.tensor([[1., 2., 3.]]), torch.tensor([[1., 2., 5.]]),
    ...     sequence_lengths=[2], reduction='none')
    tensor([0.])
    """
    error, dtype = _squared_error(estimate, target, sequence_lengths, axis,
                                  'mse')
    return _reduce(error.to(dtype), reduction)


def log_mse(estimate, target, sequence_lengths=None, reduction='mean',
            axis=-1, eps=EPS):
    """Natural logarithm of the per-signal MSE: ``ln(MSE + eps)``.

    The logarithm makes the loss invariant to the scale of each signal's
    error, so quiet and loud utterances weigh alike (``10 / ln 10`` times it
    is the error power in dB). ``eps`` (default 1e-8, squared signal units)
    bounds it from below for a perfect estimate. Arguments as :func:`mse`;
    the reduction acts on the per-signal logarithms.

    >>> round(log_mse(torch.zeros(1, 4), torch.ones(1, 4)).item(), 6)
    0.0
    """
    error, dtype = _squared_error(estimate, target, sequence_lengths, axis,
                                  'log_mse')
    return _reduce(torch.log(error + eps).to(dtype), reduction)


def log1p_mse(estimate, target, sequence_lengths=None, reduction='mean',
              axis=-1):
    """``ln(1 + MSE)`` per signal, the MSE averaged over the valid samples.

    A logarithmic loss that stays finite (0) for a perfect estimate without
    an epsilon (the "log1p-MSE" that von Neumann et al. 2020 use to train
    TasNet jointly with ASR, there written with log10 and summed over the
    samples: ``log10(1 + Σ_n e_n²)``; pass the sum ``N · MSE`` yourself, i.e.
    ``torch.log1p(num_samples * mse(..., reduction='none')) / ln 10``, for
    that variant). Below MSE ≈ 1 it behaves like the MSE, above like the log.
    Arguments as :func:`mse`.

    >>> round(log1p_mse(torch.zeros(1, 4), torch.ones(1, 4)).item(), 4)  # ln 2
    0.6931
    """
    error, dtype = _squared_error(estimate, target, sequence_lengths, axis,
                                  'log1p_mse')
    return _reduce(torch.log1p(error).to(dtype), reduction)


def _frame_mask(values, sequence_lengths, sequence_axis, function, shapes):
    if sequence_lengths is None:
        return None
    if values.dim() < 2:
        raise ValueError(
            f'{function}: sequence_lengths needs a batch axis 0 and a '
            f'sequence axis, found inputs of shapes {shapes}.')
    return compute_mask(values, sequence_lengths, batch_axis=0,
                        sequence_axis=sequence_axis)


def gaussian_kl_divergence(mean_p, mean_q=None, *, log_var_p=None,
                           var_p=None, log_var_q=None, var_q=None,
                           sequence_lengths=None, sequence_axis=1,
                           reduction='mean'):
    """KL divergence ``KL(p || q)`` in nats between diagonal Gaussians.

    ``p = N(mean_p, diag(σ_p²))`` and ``q = N(mean_q, diag(σ_q²))`` over the
    last axis (the features, size ``D``)::

        KL = 1/2 Σ_d [ln σ_q² - ln σ_p² + (σ_p² + (μ_p - μ_q)²) / σ_q² - 1]

    Give each variance either as log-variance (``log_var_*``, the usual
    network output, numerically safe) or as variance (``var_*``, must be
    positive), not both. ``q`` defaults to the standard normal (mean 0,
    variance 1), the VAE prior.

    Args:
        mean_p, mean_q: ``(..., features)``; all inputs broadcast.
        log_var_p, var_p, log_var_q, var_q: ``(..., features)``.
        sequence_lengths: ``(batch,)`` valid entries along ``sequence_axis``
            of the per-vector result ``(...)``; e.g. for ``(batch, frames,
            features)`` inputs the default ``sequence_axis=1`` masks frames.
        reduction: ``'none'``: per vector ``(...)`` (padded vectors 0);
            ``'mean'``: mean over the (valid) vectors; ``'sum'``: their sum.

    >>> mean = torch.tensor([[0., 1.]])
    >>> gaussian_kl_divergence(mean, log_var_p=torch.zeros(1, 2))  # 1/2 μ²
    tensor(0.5000)
    >>> gaussian_kl_divergence(mean, mean, var_p=torch.ones(1, 2),
    ...                        var_q=torch.ones(1, 2))
    tensor(0.)
    """
    def log_variance(log_var, var, name):
        if (log_var is None) == (var is None):
            raise ValueError(
                f'gaussian_kl_divergence: give exactly one of log_var_{name} '
                f'and var_{name}, found '
                f'{"both" if log_var is not None else "neither"}.')
        return log_var if log_var is not None else torch.log(var)

    _check_tensor('mean_p', mean_p, 'gaussian_kl_divergence')
    log_var_p = log_variance(log_var_p, var_p, 'p')
    if log_var_q is None and var_q is None:
        log_var_q = torch.zeros((), dtype=mean_p.dtype, device=mean_p.device)
    log_var_q = log_variance(log_var_q, var_q, 'q')
    if mean_q is None:
        mean_q = torch.zeros((), dtype=mean_p.dtype, device=mean_p.device)
    inputs = (mean_p, mean_q, log_var_p, log_var_q)
    shapes = tuple(tuple(x.shape) for x in inputs)
    try:
        shape = torch.broadcast_shapes(*(x.shape for x in inputs))
    except RuntimeError:
        raise ValueError(f'gaussian_kl_divergence: the inputs must '
                         f'broadcast, found shapes (mean_p, mean_q, '
                         f'variance p, variance q) {shapes}.') from None
    if len(shape) == 0:
        raise ValueError(f'gaussian_kl_divergence: expected (..., features) '
                         f'inputs, found shapes {shapes}.')
    vectors = torch.empty((), device=mean_p.device).expand(shape[:-1])
    mask = _frame_mask(vectors, sequence_lengths, sequence_axis,
                       'gaussian_kl_divergence', shapes)
    if mask is not None:  # zero the padded vectors (their NaNs, gradients)
        inputs = [torch.where(mask[..., None], x, 0) for x in inputs]
    mean_p, mean_q, log_var_p, log_var_q = inputs
    kl = 0.5 * (log_var_q - log_var_p
                + (torch.exp(log_var_p) + (mean_p - mean_q) ** 2)
                * torch.exp(-log_var_q) - 1).sum(-1)
    return _reduce(kl, reduction, mask)


def masked_cross_entropy(logits, targets, sequence_lengths=None,
                         sequence_axis=1, reduction='mean'):
    """Cross-entropy in nats of class logits, ignoring padded entries.

    ``-log softmax(logits)[target]`` per entry. The classes are the *last*
    axis of ``logits`` (this package's features-last convention, as for
    spectra ``(..., frames, bins)``); for torch's ``(batch, classes, ...)``
    layout pass ``logits.movedim(1, -1)``.

    Args:
        logits: ``(batch, ..., classes)`` unnormalised log-probabilities.
        targets: ``(batch, ...)`` class indices (int). Padded entries may hold
            anything (e.g. -1); valid ones must lie in ``[0, classes)``.
        sequence_lengths: ``(batch,)`` valid entries along ``sequence_axis``
            of ``targets`` (default 1: frames of ``(batch, frames)``).
        reduction: ``'none'``: per entry ``(batch, ...)``, padded entries 0;
            ``'mean'``: mean over the valid entries; ``'sum'``: their sum.

    >>> logits = torch.tensor([[[0., 0.], [9., 0.]]])  # (batch, frames, classes)
    >>> masked_cross_entropy(logits, torch.tensor([[1, -1]]), [1])  # ln 2
    tensor(0.6931)
    """
    _check_tensor('logits', logits, 'masked_cross_entropy')
    _check_tensor('targets', targets, 'masked_cross_entropy')
    if logits.dim() < 1 or logits.shape[:-1] != targets.shape:
        raise ValueError(
            f'masked_cross_entropy: expected logits (batch, ..., classes) and '
            f'targets (batch, ...) of the same leading shape, found logits '
            f'{tuple(logits.shape)} and targets {tuple(targets.shape)} '
            f'(for (batch, classes, ...) logits use logits.movedim(1, -1)).')
    if targets.is_floating_point() or targets.is_complex():
        raise ValueError(f'masked_cross_entropy: targets must be class '
                         f'indices (int), found dtype {targets.dtype}.')
    shapes = (tuple(logits.shape), tuple(targets.shape))
    mask = _frame_mask(targets, sequence_lengths, sequence_axis,
                       'masked_cross_entropy', shapes)
    if mask is not None:
        targets = torch.where(mask, targets, 0)
        logits = torch.where(mask[..., None], logits,
                             0)
    num_classes = logits.shape[-1]
    if targets.numel() and (targets.min() < 0 or targets.max() >= num_classes):
        raise ValueError(
            f'masked_cross_entropy: targets must lie in [0, {num_classes}) '
            f'(logits {shapes[0]}), found values from {targets.min().item()} '
            f'to {targets.max().item()} in the valid entries.')
    log_probabilities = torch.log_softmax(logits, dim=-1)
    entropy = -log_probabilities.gather(-1, targets[..., None])[..., 0]
    return _reduce(entropy, reduction, mask)
