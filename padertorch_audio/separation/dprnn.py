"""DPRNN: the dual-path recurrent separator (Luo, Chen & Yoshioka 2020).

The encoder's features ``(batch, N, frames)`` are normalised (gLN) and
projected to ``bottleneck_size`` features by a 1x1 convolution, then cut
into chunks of ``chunk_size`` frames with 50 % overlap
(:func:`padertorch_audio.ops.segment`), giving ``(batch, chunks, chunk,
features)``. Each of ``num_blocks`` dual-path blocks applies

1. intra-chunk: a BiLSTM along each chunk (all chunks of all examples are
   one LSTM batch), a linear layer back to ``bottleneck_size``, a norm and
   a residual connection;
2. inter-chunk: the same along the chunk axis (one sequence per position
   inside the chunk).

PReLU and a linear layer (the paper's 1x1 2-D convolution) give ``K x N``
mask values per frame of each chunk; the chunks are overlap-added
(:func:`padertorch_audio.ops.overlap_add`) back to ``(batch, K, N,
frames)`` and the mask nonlinearity applied. (The linear layer commutes
with the overlap-add, so it is applied after it, to fewer values.)

Implementation: the tensors stay channels-last and contiguous, so that the
intra-chunk LSTM reads a view ``(batch * chunks, chunk, features)`` and
only the inter-chunk path needs one transposed copy per block; all chunks go
through each ``torch.nn.LSTM`` call at once (no Python loop over chunks or
time). gLN is one fused ``layer_norm``.

Paper configuration (:data:`DPRNN_PAPER`): 64 filters of 16 samples
(stride 8), bottleneck 64, 128 LSTM units per direction, 6 blocks, chunks
of 100 frames with hop 50, about 2.6M parameters; with a window of 2
samples, chunks of 250 with hop 125 (:data:`DPRNN_PAPER_WINDOW2`).
"""
import torch

from padertorch_audio.base import Module
from padertorch_audio.ops import get_activation, overlap_add, segment
from padertorch_audio.separation._norm import GlobalNorm, make_norm
from padertorch_audio.separation.masks import get_mask_activation

__all__ = [
    'DPRNN',
    'DualPathBlock',
    'DPRNN_PAPER',
    'DPRNN_PAPER_WINDOW2',
    'TINY_DPRNN',
]


class DualPathBlock(Module):
    """One intra-chunk and one inter-chunk BiLSTM pass with projections,
    norms and residual connections.

    ``(batch, chunks, chunk, features)`` -> the same shape (contiguous).

    >>> block = DualPathBlock(size=8, hidden_size=4)
    >>> block(torch.zeros(2, 5, 10, 8)).shape
    torch.Size([2, 5, 10, 8])
    """

    def __init__(self, size: int, hidden_size: int, norm: str = 'gln'):
        super().__init__()
        # Sequence-first LSTMs: their outputs (time, batch, 2 * hidden) are
        # contiguous, so the projections read them without a copy, and the
        # inter-chunk LSTM reads (chunks, batch * chunk, size) directly.
        self.intra_lstm = torch.nn.LSTM(size, hidden_size, bidirectional=True)
        self.intra_linear = torch.nn.Linear(2 * hidden_size, size)
        self.intra_norm = make_norm(norm, size, channels_last=True)
        self.inter_lstm = torch.nn.LSTM(size, hidden_size, bidirectional=True)
        self.inter_linear = torch.nn.Linear(2 * hidden_size, size)
        self.inter_norm = make_norm(norm, size, channels_last=True)

    def forward(self, x):
        batch, chunks, chunk, size = x.shape
        # Intra-chunk: every chunk is a sequence of `chunk` frames.
        y = x.view(batch * chunks, chunk, size).transpose(0, 1)
        y = self.intra_linear(self.intra_lstm(y)[0])  # (chunk, b * S, size)
        y = y.transpose(0, 1).reshape(batch, chunks, chunk, size)
        x = x + self.intra_norm(y)
        # Inter-chunk: every position in the chunk is a sequence over the
        # chunks (a view without copy for batch 1).
        y = x.transpose(0, 1).reshape(chunks, batch * chunk, size)
        y = self.inter_linear(self.inter_lstm(y)[0])  # (S, b * chunk, size)
        y = y.view(chunks, batch, chunk, size).transpose(0, 1)
        return x + self.inter_norm(y)

class DPRNN(Module):
    """Dual-path RNN separator: features ``(batch, input_size, frames)``
    -> masks ``(batch, num_speakers, input_size, frames)``.

    Args:
        input_size: ``N``, the encoder's features.
        bottleneck_size: Features inside the dual-path blocks.
        hidden_size: LSTM units per direction.
        num_blocks: Dual-path blocks.
        chunk_size: Frames per chunk.
        hop_size: Frames between chunk starts; default ``chunk_size // 2``
            (50 % overlap).
        num_speakers: ``K``.
        mask_activation: See
            :func:`padertorch_audio.separation.masks.get_mask_activation`.
        norm: ``'gln'`` (paper) or ``'ln'`` inside the blocks (the input
            is always normalised with gLN).

    >>> separator = DPRNN(input_size=16, bottleneck_size=8, hidden_size=4,
    ...                   num_blocks=1, chunk_size=10, num_speakers=3)
    >>> separator(torch.zeros(2, 16, 47)).shape
    torch.Size([2, 3, 16, 47])
    """

    def __init__(self, input_size: int = 64, bottleneck_size: int = 64,
                 hidden_size: int = 128, num_blocks: int = 6,
                 chunk_size: int = 100, hop_size: int = None,
                 num_speakers: int = 2, mask_activation: str = 'sigmoid',
                 norm: str = 'gln'):
        super().__init__()
        if hop_size is None:
            hop_size = chunk_size // 2
        if not 0 < hop_size <= chunk_size:
            raise ValueError(f'Expected 0 < hop_size <= chunk_size, found '
                             f'hop_size={hop_size}, chunk_size={chunk_size}.')
        self.input_size, self.num_speakers = input_size, num_speakers
        self.chunk_size, self.hop_size = chunk_size, hop_size
        self.input_norm = GlobalNorm(input_size, channels_last=False)
        self.bottleneck = torch.nn.Conv1d(input_size, bottleneck_size, 1)
        self.blocks = torch.nn.ModuleList([
            DualPathBlock(bottleneck_size, hidden_size, norm)
            for _ in range(num_blocks)])
        self.output_activation = get_activation('prelu')
        self.output = torch.nn.Linear(bottleneck_size,
                                      num_speakers * input_size)
        self.mask_activation = get_mask_activation(mask_activation)

    def forward(self, features):
        """``(batch, input_size, frames)`` -> masks ``(batch, K,
        input_size, frames)``."""
        if features.dim() != 3 or features.shape[1] != self.input_size:
            raise ValueError(
                f'DPRNN expects features (batch, input_size='
                f'{self.input_size}, frames), found {tuple(features.shape)}.')
        batch, _, frames = features.shape
        x = self.bottleneck(self.input_norm(features))
        # (batch, size, chunks, chunk) -> channels last, contiguous
        x = segment(x, self.chunk_size, self.hop_size)
        x = x.permute(0, 2, 3, 1).contiguous()
        for block in self.blocks:
            x = block(x)
        # The output layer (the paper's 1x1 2-D convolution) is linear and
        # acts on every frame of every chunk, so it commutes with the
        # overlap-add: overlap-add the bottleneck features (fewer than the
        # K x N outputs), then apply it to the frames (its bias counted once
        # per chunk that covers a frame).
        x = self.output_activation(x).permute(0, 3, 1, 2)  # (b, size, S, K)
        x = overlap_add(x, self.hop_size, frames)  # (batch, size, frames)
        masks = torch.nn.functional.conv1d(x, self.output.weight[..., None])
        masks = masks + self.output.bias[:, None] * self._coverage(frames, x)
        masks = masks.view(batch, self.num_speakers, self.input_size, frames)
        return self.mask_activation(masks)

    def _coverage(self, frames, like):
        """``(frames,)``: how many chunks cover each frame."""
        ones = like.new_ones(1, 1, frames)
        return overlap_add(segment(ones, self.chunk_size, self.hop_size),
                           self.hop_size, frames)[0]


_TASNET = 'padertorch_audio.separation.tasnet.'


def _dprnn_tasnet(num_filters, window_length, chunk_size, hop_size,
                  bottleneck_size, hidden_size, num_blocks):
    return {
        'factory': _TASNET + 'TasNet',
        'encoder': {'factory': _TASNET + 'Encoder',
                    'num_filters': num_filters,
                    'window_length': window_length},
        'separator': {'factory': 'padertorch_audio.separation.dprnn.DPRNN',
                      'input_size': num_filters,
                      'bottleneck_size': bottleneck_size,
                      'hidden_size': hidden_size, 'num_blocks': num_blocks,
                      'chunk_size': chunk_size, 'hop_size': hop_size,
                      'num_speakers': 2},
        'decoder': {'factory': _TASNET + 'Decoder',
                    'num_filters': num_filters,
                    'window_length': window_length},
    }


#: DPRNN-TasNet of the paper, window 16 (stride 8), chunk 100 / hop 50:
#: ``TasNet.from_config(DPRNN_PAPER)`` (2.6M parameters).
DPRNN_PAPER = _dprnn_tasnet(64, 16, 100, 50, 64, 128, 6)

#: DPRNN-TasNet of the paper, window 2 (stride 1), chunk 250 / hop 125.
DPRNN_PAPER_WINDOW2 = _dprnn_tasnet(64, 2, 250, 125, 64, 128, 6)

#: A tiny DPRNN-TasNet for tests and examples (about 21k parameters).
TINY_DPRNN = _dprnn_tasnet(16, 16, 20, 10, 16, 16, 2)
