"""Normalisation layers of the separators, fused for speed.

- ``'gln'`` (global layer norm, Conv-TasNet / DPRNN): per example, mean and
  (biased) variance over all non-batch axes, gain and bias per channel.
  It is torch's fused ``group_norm`` with one group (statistics and affine
  in one kernel). Channels-last tensors (DPRNN's ``(batch, chunks, chunk,
  features)``) are passed as a channels-last 4-D view ``(batch, channels,
  positions, 1)``, which the CPU kernel reads in place (no transposed
  copy). Equal to :class:`padertorch_audio.modules.GlobalLayerNorm`.
- ``'ln'``: per frame over the channels (``torch.nn.LayerNorm``).
- ``'cln'`` (cumulative layer norm, causal Conv-TasNet; channels first
  only): :class:`padertorch_audio.modules.CumulativeLayerNorm`.
"""
import torch

from padertorch_audio.base import Module
from padertorch_audio.modules import CumulativeLayerNorm, LayerNorm

__all__ = ['GlobalNorm', 'make_norm', 'NORMS']

NORMS = ('gln', 'ln', 'cln')


class GlobalNorm(Module):
    """gLN for ``(batch, ..., channels)`` (``channels_last``) or
    ``(batch, channels, ...)`` tensors; eps 1e-8 as in Conv-TasNet.

    >>> x = torch.tensor([[[1., 3.], [3., 1.]]])
    >>> GlobalNorm(2)(x)  # mean 2, variance 1 over the example
    tensor([[[-1.,  1.],
             [ 1., -1.]]], grad_fn=<ViewBackward0>)
    """

    def __init__(self, num_channels: int, channels_last: bool = True,
                 eps: float = 1e-8):
        super().__init__()
        self.num_channels, self.channels_last = num_channels, channels_last
        self.eps = eps
        self.weight = torch.nn.Parameter(torch.ones(num_channels))
        self.bias = torch.nn.Parameter(torch.zeros(num_channels))

    def forward(self, x):
        if self.channels_last:
            shape = x.shape
            view = x.reshape(shape[0], -1, 1, shape[-1]).permute(0, 3, 1, 2)
            y = torch.nn.functional.group_norm(view, 1, self.weight,
                                               self.bias, self.eps)
            return y.permute(0, 2, 3, 1).reshape(shape)
        return torch.nn.functional.group_norm(x, 1, self.weight, self.bias,
                                              self.eps)

    def extra_repr(self):
        return (f'{self.num_channels}, channels_last={self.channels_last}, '
                f'eps={self.eps}')


def make_norm(name, num_channels, channels_last):
    """The normalisation ``name`` (one of :data:`NORMS`) for tensors with
    ``num_channels`` channels (last axis if ``channels_last``, else axis
    1)."""
    if name == 'gln':
        return GlobalNorm(num_channels, channels_last)
    if name == 'ln':
        if channels_last:
            return torch.nn.LayerNorm(num_channels)
        return LayerNorm(num_channels, layout='bct')
    if name == 'cln' and not channels_last:
        return CumulativeLayerNorm(num_channels, layout='bct')
    valid = NORMS if not channels_last else ('gln', 'ln')
    raise ValueError(f'Unknown normalisation {name!r}; expected one of '
                     f'{", ".join(map(repr, valid))}.')
