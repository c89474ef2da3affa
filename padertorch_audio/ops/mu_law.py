"""mu-law companding and quantisation (ITU-T G.711 style, as WaveNet uses).

``F(x) = sign(x) ln(1 + μ|x|) / ln(1 + μ)`` with ``μ = quantization_channels
- 1`` maps ``[-1, 1]`` onto ``[-1, 1]``, fine near 0 and coarse near ±1; the
result is quantised uniformly to ``quantization_channels`` levels (indices
``0 ... μ``, index ``round((F(x) + 1) / 2 μ)``). Decoding maps index ``i``
to ``F⁻¹(2 i / μ - 1)`` with ``F⁻¹(y) = sign(y) ((1 + μ)^|y| - 1) / μ``.

Both functions accept numpy arrays (or array-likes) and torch tensors and
return the same kind; they compute in float64.
"""
import numpy as np
import torch

__all__ = ['mu_law_encode', 'mu_law_decode']


def _check_channels(quantization_channels):
    if (not isinstance(quantization_channels, (int, np.integer))
            or quantization_channels < 2):
        raise ValueError(f'quantization_channels must be an int >= 2, found '
                         f'{quantization_channels!r}.')
    return int(quantization_channels) - 1


def mu_law_encode(x, quantization_channels=256):
    """Quantise a signal to mu-law indices.

    Args:
        x: Signal in ``[-1, 1]``, any shape (numpy array or torch tensor).
            Values outside are clipped to ±1 (so an overdriven signal maps to
            the extreme indices, as a converter would); NaN raises a
            ValueError.
        quantization_channels: Number of levels ``Q``; ``μ = Q - 1``.

    Returns:
        int64 indices in ``[0, Q - 1]`` of ``x``'s shape (same kind as
        ``x``): index 0 is -1, ``Q - 1`` is +1. For even ``Q``, 0 lies
        halfway between the two levels nearest to it and rounds up to
        ``Q // 2``. No gradient (indices are discrete).

    >>> mu_law_encode(np.array([-1., -0.01, 0., 0.01, 1.]))
    array([  0,  98, 128, 157, 255])
    >>> mu_law_encode(torch.tensor([2., -3.]))  # clipped
    tensor([255,   0])
    """
    mu = _check_channels(quantization_channels)
    is_tensor = isinstance(x, torch.Tensor)
    values = x.detach().to(torch.float64) if is_tensor else torch.as_tensor(
        np.asarray(x, dtype=np.float64))
    if torch.isnan(values).any():
        raise ValueError(f'mu_law_encode: x (shape {tuple(values.shape)}) '
                         f'contains NaN, which has no mu-law index.')
    values = values.clamp(-1, 1)
    companded = (torch.sign(values) * torch.log1p(mu * values.abs())
                 / np.log1p(mu))
    indices = torch.floor((companded + 1) / 2 * mu + 0.5).to(torch.int64)
    return indices if is_tensor else indices.numpy()


def mu_law_decode(indices, quantization_channels=256):
    """Signal values of mu-law indices, the inverse of :func:`mu_law_encode`
    on its grid (``mu_law_encode(mu_law_decode(i)) == i`` for every index).

    Args:
        indices: Integers in ``[0, Q - 1]``, any shape (numpy array or torch
            tensor); others raise a ValueError.
        quantization_channels: Number of levels ``Q``; ``μ = Q - 1``.

    Returns:
        Values in ``[-1, 1]`` of the indices' shape: a tensor of torch's
        default dtype for tensors, a float64 array otherwise.

    >>> mu_law_decode(np.array([0, 127, 128, 255]))
    array([-1.00000000e+00, -8.62115957e-05,  8.62115957e-05,  1.00000000e+00])
    """
    mu = _check_channels(quantization_channels)
    is_tensor = isinstance(indices, torch.Tensor)
    values = indices if is_tensor else torch.as_tensor(np.asarray(indices))
    if (values.is_floating_point() or values.is_complex()
            or values.dtype == torch.bool):
        raise ValueError(f'mu_law_decode: expected integer indices, found '
                         f'dtype {values.dtype} (shape {tuple(values.shape)}).')
    if values.numel() and (values.min() < 0 or values.max() > mu):
        raise ValueError(
            f'mu_law_decode: indices must lie in [0, {mu}] for '
            f'{quantization_channels} channels, found values from '
            f'{values.min().item()} to {values.max().item()} (shape '
            f'{tuple(values.shape)}).')
    companded = 2 * values.to(torch.float64) / mu - 1
    # (1 + μ)^|y| - 1 rather than expm1: exactly ±1 at the ends
    signal = torch.sign(companded) * (
        torch.pow(float(1 + mu), companded.abs()) - 1) / mu
    if is_tensor:
        return signal.to(torch.get_default_dtype())
    return signal.numpy()
