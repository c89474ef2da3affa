"""Normalisation layers for padded batches of sequences.

Every module takes ``forward(x, sequence_lengths=None)`` with a 3-D input
``x`` in one of two layouts, chosen by the ``layout`` argument:

- ``'btc'``: ``(batch, time, channels)``, e.g. features or spectra
  ``(batch, frames, bins)`` (the project's convention for spectra);
- ``'bct'``: ``(batch, channels, time)``, the layout of convolutional
  networks such as TasNet / Conv-TasNet.

The defaults follow where each layer is used: :class:`BatchNorm` and
:class:`LayerNorm` default to ``'btc'``, :class:`GlobalLayerNorm` and
:class:`CumulativeLayerNorm` (from Conv-TasNet) to ``'bct'``.

``sequence_lengths`` (``(batch,)`` ints) marks frames ``t >= length`` as
padding. Padded frames never enter a statistic (their values may be
anything, even NaN), and the output is zero there. ``channels`` is the
normalised feature axis; each module has a learnable gain (``weight``) and
``bias`` per channel when ``affine=True``.

====================  ======================================  ============
module                statistics over                          layout
====================  ======================================  ============
BatchNorm             batch and valid time, per channel        ``'btc'``
LayerNorm             channels, per frame                      ``'btc'``
GlobalLayerNorm       channels and valid time, per example     ``'bct'``
CumulativeLayerNorm   channels and time ``<= t``, per example  ``'bct'``
====================  ======================================  ============
"""
import torch

from padertorch_audio.base import Module
from padertorch_audio.ops.sequence import compute_mask

__all__ = ['BatchNorm', 'LayerNorm', 'GlobalLayerNorm', 'CumulativeLayerNorm']

#: layout -> (time axis, channel axis) of a 3-D input.
_LAYOUTS = {'btc': (1, 2), 'bct': (2, 1)}
_LAYOUT_NAMES = {'btc': '(batch, time, channels)',
                 'bct': '(batch, channels, time)'}


class _SequenceNorm(Module):
    """Layout, mask and affine parameters shared by the layers below."""

    def __init__(self, num_channels, layout, eps, affine):
        super().__init__()
        if layout not in _LAYOUTS:
            raise ValueError(
                f'layout must be one of {sorted(_LAYOUTS)} ("btc": (batch, '
                f'time, channels), "bct": (batch, channels, time)), got '
                f'{layout!r}.')
        self.num_channels = num_channels
        self.layout = layout
        self.time_axis, self.channel_axis = _LAYOUTS[layout]
        self.eps = eps
        if affine:
            self.weight = torch.nn.Parameter(torch.ones(num_channels))
            self.bias = torch.nn.Parameter(torch.zeros(num_channels))
        else:
            self.register_parameter('weight', None)
            self.register_parameter('bias', None)

    def extra_repr(self):
        return (f'{self.num_channels}, layout={self.layout!r}, '
                f'eps={self.eps}, affine={self.weight is not None}')

    def _channel_shape(self):
        shape = [1, 1, 1]
        shape[self.channel_axis] = -1
        return shape

    def _prepare(self, x, sequence_lengths):
        """Check ``x``; return it with zeros in the padding, and the mask.

        The mask is None without ``sequence_lengths``, else a bool tensor of
        ``x``'s shape with size 1 on the channel axis.
        """
        if x.dim() != 3 or x.shape[self.channel_axis] != self.num_channels:
            raise ValueError(
                f'{type(self).__name__}(layout={self.layout!r}) expects an '
                f'input {_LAYOUT_NAMES[self.layout]} with channels = '
                f'{self.num_channels}, found shape {tuple(x.shape)}.')
        if sequence_lengths is None:
            return x, None
        mask = compute_mask(x.narrow(self.channel_axis, 0, 1),
                            sequence_lengths, batch_axis=0,
                            sequence_axis=self.time_axis)
        return torch.where(mask, x, 0.), mask

    def _finish(self, y, mask):
        """Apply gain and bias; zero the padded frames."""
        if self.weight is not None:
            shape = self._channel_shape()
            y = y * self.weight.view(shape) + self.bias.view(shape)
        if mask is not None:
            y = torch.where(mask, y, 0.)
        return y


class BatchNorm(_SequenceNorm):
    """Batch normalisation over batch and time that ignores padded frames.

    ``x``: ``(batch, time, channels)`` (``layout='btc'``, default) or
    ``(batch, channels, time)`` (``layout='bct'``); the output has the
    same shape. In training, each channel is normalised with the mean and
    (biased) variance of all valid frames of the batch; the running
    statistics (unbiased variance) are updated from the same frames, as
    ``torch.nn.BatchNorm1d`` would do on the valid frames alone. In eval
    mode the running statistics are used. The parameter and buffer names
    are those of ``torch.nn.BatchNorm1d``, so its state dict loads.

    Args:
        num_channels: Size of the channel axis.
        layout: ``'btc'`` or ``'bct'`` (see above).
        eps: Added to the variance.
        momentum: Weight of the new batch in the running statistics; None
            for a cumulative average (as in torch).
        affine: Learnable gain and bias per channel.
        track_running_stats: Keep running statistics for eval mode (else
            the batch statistics are used in eval mode, too).

    >>> norm = BatchNorm(2)
    >>> x = torch.tensor([[[1., 10.], [3., 30.], [99., 99.]]])  # (1, 3, 2)
    >>> norm(x, sequence_lengths=[2])  # the third frame is padding
    tensor([[[-1.0000, -1.0000],
             [ 1.0000,  1.0000],
             [ 0.0000,  0.0000]]], grad_fn=<WhereBackward0>)
    >>> norm.running_mean  # 0.9 * 0 + 0.1 * mean of the valid frames
    tensor([0.2000, 2.0000])
    """

    def __init__(self, num_channels: int, layout: str = 'btc',
                 eps: float = 1e-5, momentum=0.1, affine: bool = True,
                 track_running_stats: bool = True):
        super().__init__(num_channels, layout, eps, affine)
        self.momentum = momentum
        self.track_running_stats = track_running_stats
        if track_running_stats:
            self.register_buffer('running_mean', torch.zeros(num_channels))
            self.register_buffer('running_var', torch.ones(num_channels))
            self.register_buffer('num_batches_tracked',
                                 torch.tensor(0, dtype=torch.long))
        else:
            self.register_buffer('running_mean', None)
            self.register_buffer('running_var', None)
            self.register_buffer('num_batches_tracked', None)

    def forward(self, x, sequence_lengths=None):
        """``x``: see the class doc; returns a tensor of ``x``'s shape."""
        x, mask = self._prepare(x, sequence_lengths)
        shape = self._channel_shape()
        if self.training or not self.track_running_stats:
            axes = (0, self.time_axis)
            if mask is None:
                count = x.shape[0] * x.shape[self.time_axis]
                mean = x.mean(axes, keepdim=True)
                centered = x - mean
            else:
                count = int(mask.sum())
                mean = x.sum(axes, keepdim=True) / max(count, 1)
                centered = torch.where(mask, x - mean, 0.)
            if count < 2 and self.training:
                raise ValueError(
                    f'BatchNorm needs more than one valid frame per channel '
                    f'in training, found {count} (input shape '
                    f'{tuple(x.shape)}, sequence_lengths '
                    f'{sequence_lengths}).')
            var = (centered ** 2).sum(axes, keepdim=True) / max(count, 1)
            if self.training and self.track_running_stats:
                self._update_running_stats(mean, var, count)
        else:
            mean = self.running_mean.view(shape)
            var = self.running_var.view(shape)
        y = (x - mean) / torch.sqrt(var + self.eps)
        return self._finish(y, mask)

    @torch.no_grad()
    def _update_running_stats(self, mean, var, count):
        self.num_batches_tracked += 1
        if self.momentum is None:
            factor = 1. / float(self.num_batches_tracked)
        else:
            factor = self.momentum
        unbiased = var.reshape(-1) * count / (count - 1)
        self.running_mean.lerp_(mean.reshape(-1).to(self.running_mean), factor)
        self.running_var.lerp_(unbiased.to(self.running_var), factor)


class LayerNorm(_SequenceNorm):
    """Layer normalisation over the channels of each frame.

    ``x``: ``(batch, time, channels)`` (``layout='btc'``, default) or
    ``(batch, channels, time)`` (``layout='bct'``). Each frame is
    normalised with the mean and (biased) variance of its channels (as
    ``torch.nn.LayerNorm(channels)``), so padding cannot reach a valid
    frame; with ``sequence_lengths`` the padded frames of the output are
    zero.

    >>> norm = LayerNorm(2, layout='bct')
    >>> norm(torch.tensor([[[1., 5.], [3., 5.]]]))  # (1, channels=2, time=2)
    tensor([[[-1.0000,  0.0000],
             [ 1.0000,  0.0000]]], grad_fn=<AddBackward0>)
    """

    def __init__(self, num_channels: int, layout: str = 'btc',
                 eps: float = 1e-5, affine: bool = True):
        super().__init__(num_channels, layout, eps, affine)

    def forward(self, x, sequence_lengths=None):
        """``x``: see the class doc; returns a tensor of ``x``'s shape."""
        x, mask = self._prepare(x, sequence_lengths)
        mean = x.mean(self.channel_axis, keepdim=True)
        var = ((x - mean) ** 2).mean(self.channel_axis, keepdim=True)
        y = (x - mean) / torch.sqrt(var + self.eps)
        return self._finish(y, mask)


class GlobalLayerNorm(_SequenceNorm):
    """Global layer normalisation (gLN, Conv-TasNet).

    ``x``: ``(batch, channels, time)`` (``layout='bct'``, default) or
    ``(batch, time, channels)`` (``layout='btc'``). Each example is
    normalised with the mean and (biased) variance over all its channels
    and valid frames::

        gLN(x) = weight * (x - mean) / sqrt(var + eps) + bias

    Args:
        num_channels: Size of the channel axis.
        layout: ``'bct'`` or ``'btc'`` (see above).
        eps: Added to the variance (1e-8 as in Conv-TasNet).
        affine: Learnable gain and bias per channel.

    >>> norm = GlobalLayerNorm(2)
    >>> x = torch.tensor([[[1., 3., 7.], [3., 1., 7.]]])  # (1, 2, 3)
    >>> norm(x, sequence_lengths=[2])  # mean 2, variance 1 of the valid part
    tensor([[[-1.,  1.,  0.],
             [ 1., -1.,  0.]]], grad_fn=<WhereBackward0>)
    """

    def __init__(self, num_channels: int, layout: str = 'bct',
                 eps: float = 1e-8, affine: bool = True):
        super().__init__(num_channels, layout, eps, affine)

    def forward(self, x, sequence_lengths=None):
        """``x``: see the class doc; returns a tensor of ``x``'s shape."""
        x, mask = self._prepare(x, sequence_lengths)
        axes = (1, 2)
        if mask is None:
            mean = x.mean(axes, keepdim=True)
            var = ((x - mean) ** 2).mean(axes, keepdim=True)
        else:
            count = mask.sum(axes, keepdim=True) * self.num_channels
            count = count.clamp(min=1).to(x.dtype)
            mean = x.sum(axes, keepdim=True) / count
            centered = torch.where(mask, x - mean, 0.)
            var = (centered ** 2).sum(axes, keepdim=True) / count
        y = (x - mean) / torch.sqrt(var + self.eps)
        return self._finish(y, mask)


class CumulativeLayerNorm(_SequenceNorm):
    """Cumulative layer normalisation (cLN, causal Conv-TasNet).

    ``x``: ``(batch, channels, time)`` (``layout='bct'``, default) or
    ``(batch, time, channels)`` (``layout='btc'``). Frame ``t`` of each
    example is normalised with the mean and (biased) variance over all
    channels of the frames ``0 .. t``, so the output at ``t`` depends on
    the past only (and padding at the end cannot reach a valid frame)::

        cLN(x)[:, :, t] = weight * (x[:, :, t] - mean_t) / sqrt(var_t + eps)
                          + bias,  mean_t, var_t over x[:, :, :t + 1]

    The running sums are taken relative to the mean of the first frame,
    which keeps ``E[x^2] - E[x]^2`` accurate for inputs with a large
    offset.

    Args:
        num_channels: Size of the channel axis.
        layout: ``'bct'`` or ``'btc'`` (see above).
        eps: Added to the variance (1e-8 as in Conv-TasNet).
        affine: Learnable gain and bias per channel.

    >>> norm = CumulativeLayerNorm(1)
    >>> norm(torch.tensor([[[1., 3., 2.]]]))  # frame 2: mean 2, var 2/3
    tensor([[[0., 1., 0.]]], grad_fn=<AddBackward0>)
    """

    def __init__(self, num_channels: int, layout: str = 'bct',
                 eps: float = 1e-8, affine: bool = True):
        super().__init__(num_channels, layout, eps, affine)

    def forward(self, x, sequence_lengths=None):
        """``x``: see the class doc; returns a tensor of ``x``'s shape."""
        x, mask = self._prepare(x, sequence_lengths)
        time_axis, channel_axis = self.time_axis, self.channel_axis
        reference = x.narrow(time_axis, 0, 1).mean(channel_axis, keepdim=True)
        shifted = x - reference
        count = torch.arange(1, x.shape[time_axis] + 1, dtype=x.dtype,
                             device=x.device) * self.num_channels
        count = count.view([-1 if axis == time_axis else 1
                            for axis in range(3)])
        mean = shifted.sum(channel_axis, keepdim=True).cumsum(time_axis) / count
        power = (shifted ** 2).sum(channel_axis, keepdim=True).cumsum(
            time_axis) / count
        var = (power - mean ** 2).clamp(min=0)
        y = (shifted - mean) / torch.sqrt(var + self.eps)
        return self._finish(y, mask)
