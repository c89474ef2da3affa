"""A residual CNN front-end for log-mel features (ResNet, He et al. 2016).

The log-mel matrix ``(batch, frames, mels)`` is read as a one-channel image
``(batch, 1, frames, mels)``: a 3x3 convolution (the stem), then stages of
basic blocks (two 3x3 convolutions with BatchNorm and ReLU, and a residual
connection; a 1x1 convolution with BatchNorm where the shape changes). The
first block of a stage may stride by 2 in time and frequency. The output is
the channels and the remaining frequencies of each frame stacked,
``(batch, channels * mels', frames')``, for a pooling layer.

Padding. The input and every layer's output are set to zero at the
frames beyond each example's length (a mask from ``sequence_lengths``,
updated at every stride: ``ceil(L / stride)`` frames remain of ``L``,
kernel 3 and padding 1). A convolution's zero padding at the end of an unpadded example then
sees exactly the zeros of the padded one, so that in eval mode a padded
batch gives, on the valid frames, the results of each example on its own.
BatchNorm's statistics (batch statistics in training, hence the running
statistics used in eval mode) are those of the valid frames only
(:class:`FrameBatchNorm`), so that what a model learns does not depend on
how much padding its training batches held.
"""
import math

import torch

from padertorch_audio.base import Module

__all__ = ['BasicBlock', 'ResNet', 'FrameBatchNorm', 'strided_lengths']


def strided_lengths(lengths, stride):
    """Valid frames after a kernel-3, padding-1 convolution with ``stride``:
    ``ceil(lengths / stride)`` (int or tensor).

    >>> strided_lengths(torch.tensor([1, 4, 5]), 2)
    tensor([1, 2, 3])
    """
    return -(-lengths // stride)


def _mask(x, lengths):
    """``x`` ``(batch, channels, frames, mels)`` with the frames beyond
    ``lengths`` set to 0 (None: unchanged)."""
    if lengths is None:
        return x
    return torch.where(_valid_frames(x, lengths), x, 0)


def _valid_frames(x, lengths):
    """``(batch, 1, frames, 1)`` bool: the frames of ``x`` ``(batch,
    channels, frames, mels)`` before ``lengths`` (checked by the caller:
    this runs in every layer)."""
    valid = torch.arange(x.shape[2], device=x.device) < lengths[:, None]
    return valid[:, None, :, None]


class FrameBatchNorm(Module):
    """Batch normalisation of ``(batch, channels, frames, mels)`` per
    channel over the valid frames (all their mels) of the batch, as
    ``torch.nn.BatchNorm2d`` on the valid frames alone (same parameter and
    buffer names, momentum 0.1, unbiased running variance); padded frames
    are 0 in the output. ``forward(x, lengths=None)``: ``lengths``
    ``(batch,)`` valid frames (None: all).

    >>> norm = FrameBatchNorm(1)
    >>> x = torch.tensor([[[[1., 3.], [5., 7.], [99., 99.]]]])  # (1, 1, 3, 2)
    >>> norm(x, torch.tensor([2]))[0, 0]  # mean 4, variance 5 of 1, 3, 5, 7
    tensor([[-1.3416, -0.4472],
            [ 0.4472,  1.3416],
            [ 0.0000,  0.0000]], grad_fn=<SelectBackward0>)
    """

    def __init__(self, num_channels: int, eps: float = 1e-5,
                 momentum: float = 0.1):
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.weight = torch.nn.Parameter(torch.ones(num_channels))
        self.bias = torch.nn.Parameter(torch.zeros(num_channels))
        self.register_buffer('running_mean', torch.zeros(num_channels))
        self.register_buffer('running_var', torch.ones(num_channels))
        self.register_buffer('num_batches_tracked',
                             torch.tensor(0, dtype=torch.long))

    def forward(self, x, lengths=None):
        if lengths is None or not self.training:
            y = torch.nn.functional.batch_norm(
                x, self.running_mean, self.running_var, self.weight,
                self.bias, self.training, self.momentum, self.eps)
            if self.training:
                self.num_batches_tracked += 1
            return _mask(y, lengths)
        valid = _valid_frames(x, lengths)
        count = int(lengths.sum()) * x.shape[3]
        if count < 2:
            raise ValueError(
                f'FrameBatchNorm needs more than one valid value per channel '
                f'in training, found {count} (input shape {tuple(x.shape)}, '
                f'lengths {lengths.tolist()}).')
        masked = torch.where(valid, x, 0.)
        mean = masked.sum((0, 2, 3)) / count
        var = (masked * masked).sum((0, 2, 3)) / count - mean * mean
        scale = self.weight * torch.rsqrt(var.clamp_min(0) + self.eps)
        shift = self.bias - mean * scale
        with torch.no_grad():
            self.num_batches_tracked += 1
            self.running_mean.lerp_(mean.detach(), self.momentum)
            self.running_var.lerp_(var.detach() * count / (count - 1),
                                   self.momentum)
        return torch.where(valid, torch.addcmul(
            shift[:, None, None], masked, scale[:, None, None]), 0.)


class BasicBlock(Module):
    """Two 3x3 convolutions with BatchNorm and ReLU, plus the input.

    ``(batch, in_channels, frames, mels)`` -> ``(batch, out_channels,
    ceil(frames / stride), ceil(mels / stride))``; the shortcut is a 1x1
    convolution (with BatchNorm) where the shape changes, else the input.

    ``forward(x, lengths=None)`` returns the output and the new lengths.

    >>> block = BasicBlock(4, 8, stride=2)
    >>> y, lengths = block(torch.randn(2, 4, 9, 16), torch.tensor([9, 5]))
    >>> y.shape, lengths.tolist()
    (torch.Size([2, 8, 5, 8]), [5, 3])
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f'BasicBlock: stride must be 1 or 2, found '
                             f'{stride!r}.')
        self.stride = stride
        self.conv1 = torch.nn.Conv2d(in_channels, out_channels, 3, stride,
                                     padding=1, bias=False)
        self.norm1 = FrameBatchNorm(out_channels)
        self.conv2 = torch.nn.Conv2d(out_channels, out_channels, 3,
                                     padding=1, bias=False)
        self.norm2 = FrameBatchNorm(out_channels)
        if stride != 1 or in_channels != out_channels:
            self.shortcut_conv = torch.nn.Conv2d(
                in_channels, out_channels, 1, stride, bias=False)
            self.shortcut_norm = FrameBatchNorm(out_channels)
        else:
            self.shortcut_conv = self.shortcut_norm = None

    def forward(self, x, lengths=None):
        if lengths is not None:
            lengths = strided_lengths(lengths, self.stride)
        y = torch.relu(self.norm1(self.conv1(x), lengths))
        y = self.norm2(self.conv2(y), lengths)
        if self.shortcut_conv is not None:
            x = self.shortcut_norm(self.shortcut_conv(x), lengths)
        return torch.relu(x + y), lengths


class ResNet(Module):
    """ResNet front-end: log-mel ``(batch, frames, mels)`` -> frame
    features ``(batch, channels[-1] * mels', frames')``.

    Args:
        channels: Channels of each stage.
        num_blocks: Basic blocks of each stage.
        strides: Stride (1 or 2, in time and frequency) of the first block
            of each stage.
        stem_channels: Channels of the first 3x3 convolution; default
            ``channels[0]``.

    ``mels' = ceil(mels / prod(strides))``, ``frames'`` likewise (see
    :meth:`output_size` and :meth:`output_lengths`).
    ``forward(features, sequence_lengths=None)`` returns the features and
    their lengths ``(batch,)`` (None without ``sequence_lengths``).

    >>> resnet = ResNet(channels=(4, 8), num_blocks=(1, 1), strides=(1, 2))
    >>> y, lengths = resnet(torch.randn(2, 50, 16), torch.tensor([50, 31]))
    >>> y.shape, lengths.tolist(), resnet.output_size(16)
    (torch.Size([2, 64, 25]), [25, 16], 64)
    """

    def __init__(self, channels=(16, 32, 64, 128), num_blocks=(1, 1, 1, 1),
                 strides=(2, 2, 2, 2), stem_channels: int = None):
        super().__init__()
        channels, num_blocks, strides = (
            list(channels), list(num_blocks), list(strides))
        if not (len(channels) == len(num_blocks) == len(strides) >= 1):
            raise ValueError(
                f'ResNet: channels, num_blocks and strides need one entry '
                f'per stage, found {channels}, {num_blocks}, {strides}.')
        if not all(isinstance(n, int) and n >= 1 for n in num_blocks):
            raise ValueError(f'ResNet: num_blocks must be positive ints, '
                             f'found {num_blocks}.')
        stem_channels = channels[0] if stem_channels is None \
            else stem_channels
        self.channels, self.strides = channels, strides
        self.stem_conv = torch.nn.Conv2d(1, stem_channels, 3, padding=1,
                                         bias=False)
        self.stem_norm = FrameBatchNorm(stem_channels)
        blocks, previous = [], stem_channels
        for size, count, stride in zip(channels, num_blocks, strides):
            for index in range(count):
                blocks.append(BasicBlock(previous, size,
                                         stride if index == 0 else 1))
                previous = size
        self.blocks = torch.nn.ModuleList(blocks)

    @property
    def stride(self):
        """The total stride in time (and frequency)."""
        return math.prod(self.strides)

    def output_size(self, num_mels):
        """Features per output frame for ``num_mels`` input features."""
        mels = num_mels
        for stride in self.strides:
            mels = strided_lengths(mels, stride)
        return self.channels[-1] * mels

    def output_lengths(self, lengths):
        """Output frames for ``lengths`` input frames (int or tensor)."""
        for stride in self.strides:
            lengths = strided_lengths(lengths, stride)
        return lengths

    def forward(self, features, sequence_lengths=None):
        if not isinstance(features, torch.Tensor) or features.dim() != 3:
            raise ValueError(
                f'ResNet expects features (batch, frames, mels), found '
                f'shape {tuple(getattr(features, "shape", ()))}.')
        lengths = None
        if sequence_lengths is not None:
            lengths = torch.as_tensor(sequence_lengths,
                                      device=features.device)
            if lengths.shape != features.shape[:1]:
                raise ValueError(
                    f'ResNet: sequence_lengths of shape '
                    f'{tuple(lengths.shape)} do not fit features of shape '
                    f'{tuple(features.shape)} (one length per example).')
            lengths = lengths.to(torch.int64)
        x = _mask(features[:, None], lengths)  # padding may hold anything
        x = torch.relu(self.stem_norm(self.stem_conv(x), lengths))
        for block in self.blocks:
            x, lengths = block(x, lengths)
        batch, channels, frames, mels = x.shape
        x = x.permute(0, 1, 3, 2).reshape(batch, channels * mels, frames)
        return x, lengths

    def extra_repr(self):
        return f'channels={self.channels}, strides={self.strides}'
