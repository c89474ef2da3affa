"""Conv-TasNet's separator: a temporal convolutional network (TCN).

Luo & Mesgarani 2019. The encoder's features ``(batch, N, frames)`` are
normalised and projected to ``B`` bottleneck channels by a 1x1
convolution, then pass ``R`` repeats of ``X`` 1-D convolutional blocks with
dilations ``1, 2, ..., 2**(X-1)``. A block (``B`` -> ``H`` -> ``B``):

    1x1 conv B->H, PReLU, norm, depthwise conv (kernel P, dilation d),
    PReLU, norm, then a 1x1 conv H->B (residual) and a 1x1 conv H->Sc (skip)

The skip outputs of all blocks are summed; PReLU and a 1x1 convolution give
``K x N`` mask values per frame, and the mask nonlinearity the masks
``(batch, K, N, frames)``.

Non-causal: symmetric zero padding, gLN. Causal (``causal=True``): padding
in the past only and cLN, so the masks at frame ``t`` depend on frames
``<= t`` only.

Paper configuration (:data:`CONVTASNET_PAPER`): N=512, L=16, B=128,
H=512, Sc=128, P=3, X=8, R=3, gLN, non-causal, sigmoid masks: 4.98M
parameters (the paper: 5.1M; the difference is mostly the residual 1x1
conv of the last block, whose output nothing uses, so it is left out
here).
"""
import torch

from padertorch_audio.base import Module
from padertorch_audio.ops import get_activation
from padertorch_audio.separation._norm import make_norm
from padertorch_audio.separation.masks import get_mask_activation

__all__ = ['TCN', 'ConvBlock', 'CONVTASNET_PAPER', 'TINY_CONVTASNET']


class ConvBlock(Module):
    """One 1-D convolutional block; ``(batch, B, frames)`` -> residual
    ``(batch, B, frames)`` and skip ``(batch, Sc, frames)`` outputs.

    With ``residual=False`` (the last block, whose residual output nothing
    uses) the residual output is None and the block has no residual conv.

    >>> block = ConvBlock(4, 8, 2, kernel_size=3, dilation=2)
    >>> [y.shape for y in block(torch.zeros(1, 4, 10))]
    [torch.Size([1, 4, 10]), torch.Size([1, 2, 10])]
    """

    def __init__(self, bottleneck_size: int, hidden_size: int,
                 skip_size: int, kernel_size: int = 3, dilation: int = 1,
                 norm: str = 'gln', causal: bool = False,
                 residual: bool = True):
        super().__init__()
        self.input_conv = torch.nn.Conv1d(bottleneck_size, hidden_size, 1)
        self.activation1 = get_activation('prelu')
        self.norm1 = make_norm(norm, hidden_size, channels_last=False)
        padding = (kernel_size - 1) * dilation
        self.padding = (padding, 0) if causal else (
            padding // 2, padding - padding // 2)
        self.depthwise_conv = torch.nn.Conv1d(
            hidden_size, hidden_size, kernel_size, dilation=dilation,
            groups=hidden_size)
        self.activation2 = get_activation('prelu')
        self.norm2 = make_norm(norm, hidden_size, channels_last=False)
        self.residual_conv = torch.nn.Conv1d(
            hidden_size, bottleneck_size, 1) if residual else None
        self.skip_conv = torch.nn.Conv1d(hidden_size, skip_size, 1)

    def forward(self, x):
        y = self.norm1(self.activation1(self.input_conv(x)))
        y = torch.nn.functional.pad(y, self.padding)
        y = self.norm2(self.activation2(self.depthwise_conv(y)))
        if self.residual_conv is None:
            return None, self.skip_conv(y)
        return x + self.residual_conv(y), self.skip_conv(y)


class TCN(Module):
    """Conv-TasNet separator: features ``(batch, input_size, frames)`` ->
    masks ``(batch, num_speakers, input_size, frames)``.

    Args:
        input_size: ``N``, the encoder's features.
        bottleneck_size: ``B``.
        hidden_size: ``H``, channels inside the blocks.
        skip_size: ``Sc``, channels of the skip connections.
        kernel_size: ``P``.
        num_layers: ``X``, blocks per repeat (dilations ``1 .. 2**(X-1)``).
        num_stacks: ``R``, repeats.
        num_speakers: ``K``.
        mask_activation: See
            :func:`padertorch_audio.separation.masks.get_mask_activation`.
        norm: ``'gln'``, ``'ln'`` or ``'cln'``; default ``'gln'``, or
            ``'cln'`` when ``causal``.
        causal: Use only past frames (padding in the past).

    >>> separator = TCN(input_size=16, bottleneck_size=8, hidden_size=8,
    ...                 skip_size=8, num_layers=2, num_stacks=1)
    >>> separator(torch.zeros(2, 16, 30)).shape
    torch.Size([2, 2, 16, 30])
    """

    def __init__(self, input_size: int = 512, bottleneck_size: int = 128,
                 hidden_size: int = 512, skip_size: int = 128,
                 kernel_size: int = 3, num_layers: int = 8,
                 num_stacks: int = 3, num_speakers: int = 2,
                 mask_activation: str = 'sigmoid', norm: str = None,
                 causal: bool = False):
        super().__init__()
        if norm is None:
            norm = 'cln' if causal else 'gln'
        self.input_size, self.num_speakers = input_size, num_speakers
        self.causal = causal
        self.input_norm = make_norm('cln' if causal else 'gln', input_size,
                                    channels_last=False)
        self.bottleneck = torch.nn.Conv1d(input_size, bottleneck_size, 1)
        dilations = [2 ** layer for _ in range(num_stacks)
                     for layer in range(num_layers)]
        self.blocks = torch.nn.ModuleList([
            ConvBlock(bottleneck_size, hidden_size, skip_size, kernel_size,
                      dilation, norm, causal,
                      residual=index < len(dilations) - 1)
            for index, dilation in enumerate(dilations)])
        self.output_activation = get_activation('prelu')
        self.output = torch.nn.Conv1d(skip_size, num_speakers * input_size, 1)
        self.mask_activation = get_mask_activation(mask_activation)

    def forward(self, features):
        """``(batch, input_size, frames)`` -> masks ``(batch, K,
        input_size, frames)``."""
        if features.dim() != 3 or features.shape[1] != self.input_size:
            raise ValueError(
                f'TCN expects features (batch, input_size={self.input_size},'
                f' frames), found {tuple(features.shape)}.')
        batch, _, frames = features.shape
        x = self.bottleneck(self.input_norm(features))
        skip = 0
        for block in self.blocks:
            x, skip_output = block(x)
            skip = skip + skip_output
        masks = self.output(self.output_activation(skip))
        masks = masks.view(batch, self.num_speakers, self.input_size, frames)
        return self.mask_activation(masks)


_TASNET = 'padertorch_audio.separation.tasnet.'


def _convtasnet(num_filters, window_length, bottleneck_size, hidden_size,
                skip_size, kernel_size, num_layers, num_stacks):
    return {
        'factory': _TASNET + 'TasNet',
        'encoder': {'factory': _TASNET + 'Encoder',
                    'num_filters': num_filters,
                    'window_length': window_length},
        'separator': {
            'factory': 'padertorch_audio.separation.convtasnet.TCN',
            'input_size': num_filters, 'bottleneck_size': bottleneck_size,
            'hidden_size': hidden_size, 'skip_size': skip_size,
            'kernel_size': kernel_size, 'num_layers': num_layers,
            'num_stacks': num_stacks, 'num_speakers': 2},
        'decoder': {'factory': _TASNET + 'Decoder',
                    'num_filters': num_filters,
                    'window_length': window_length},
    }


#: Conv-TasNet of the paper (N=512, L=16, B=128, H=512, P=3, X=8, R=3,
#: gLN, non-causal): ``TasNet.from_config(CONVTASNET_PAPER)``.
CONVTASNET_PAPER = _convtasnet(512, 16, 128, 512, 128, 3, 8, 3)

#: A tiny Conv-TasNet for tests and examples.
TINY_CONVTASNET = _convtasnet(16, 16, 8, 16, 8, 3, 3, 1)
