"""PIT-BLSTM: STFT-domain mask estimation with a BLSTM (Kolbæk et al. 2017).

:class:`PITBLSTM` is a :class:`~padertorch_audio.separation.TasNet` whose
encoder is the STFT (:class:`~padertorch_audio.separation.StftEncoder`,
features ``log(1 + |X|)`` by default, or ``|X|``, ``log |X|``), whose
separator is :class:`BLSTMSeparator` (stacked BLSTMs and a linear layer
with one sigmoid mask per speaker and frequency bin) and whose decoder is
the inverse STFT of the masked mixture spectrum
(:class:`~padertorch_audio.separation.IstftDecoder`). Training uses the
same utterance-level PIT losses as TasNet (:meth:`TasNet.review`).

The paper uses 3 BLSTM layers of 896 units (here ``hidden_size`` per
direction) on 129-bin magnitude spectra at 8 kHz; our default STFT is 256
samples (32 ms) with a shift of 64 (:data:`PIT_BLSTM_PAPER`).
"""
import torch

from padertorch_audio.base import Module
from padertorch_audio.separation.masks import get_mask_activation
from padertorch_audio.separation.tasnet import (
    IstftDecoder, StftEncoder, TasNet)

__all__ = ['BLSTMSeparator', 'PITBLSTM', 'PIT_BLSTM_PAPER', 'TINY_PIT_BLSTM']


class BLSTMSeparator(Module):
    """Stacked BLSTMs: features ``(batch, input_size, frames)`` -> masks
    ``(batch, num_speakers, input_size, frames)``.

    Args:
        input_size: Feature bins (``size // 2 + 1`` of the STFT).
        hidden_size: LSTM units per direction.
        num_layers: BLSTM layers.
        num_speakers: ``K``.
        mask_activation: ``'sigmoid'`` (paper) or see
            :func:`padertorch_audio.separation.masks.get_mask_activation`.
        dropout: Dropout between the LSTM layers.

    >>> separator = BLSTMSeparator(input_size=5, hidden_size=4, num_layers=2)
    >>> separator(torch.zeros(2, 5, 7)).shape
    torch.Size([2, 2, 5, 7])
    """

    def __init__(self, input_size: int = 129, hidden_size: int = 896,
                 num_layers: int = 3, num_speakers: int = 2,
                 mask_activation: str = 'sigmoid', dropout: float = 0.):
        super().__init__()
        self.input_size, self.num_speakers = input_size, num_speakers
        self.lstm = torch.nn.LSTM(input_size, hidden_size, num_layers,
                                  batch_first=True, bidirectional=True,
                                  dropout=dropout)
        self.output = torch.nn.Linear(2 * hidden_size,
                                      num_speakers * input_size)
        self.mask_activation = get_mask_activation(mask_activation)

    def forward(self, features):
        """``(batch, input_size, frames)`` -> ``(batch, K, input_size,
        frames)``."""
        if features.dim() != 3 or features.shape[1] != self.input_size:
            raise ValueError(
                f'BLSTMSeparator expects features (batch, input_size='
                f'{self.input_size}, frames), found '
                f'{tuple(features.shape)}.')
        batch, _, frames = features.shape
        x, _ = self.lstm(features.transpose(1, 2))
        x = self.output(x)  # (batch, frames, K * input_size)
        x = x.view(batch, frames, self.num_speakers, self.input_size)
        return self.mask_activation(x.permute(0, 2, 3, 1))


class PITBLSTM(TasNet):
    """:class:`TasNet` with STFT encoder, BLSTM separator and iSTFT decoder
    (the defaults: :data:`PIT_BLSTM_PAPER`).

    >>> model = PITBLSTM.from_config(TINY_PIT_BLSTM)
    >>> model({'observation': torch.zeros(2, 1000)}).shape
    torch.Size([2, 2, 1000])
    """

    def __init__(self, encoder: Module = StftEncoder,
                 separator: Module = BLSTMSeparator,
                 decoder: Module = IstftDecoder):
        super().__init__(encoder, separator, decoder)


_TASNET = 'padertorch_audio.separation.tasnet.'


def _pit_blstm(size, shift, hidden_size, num_layers):
    return {
        'factory': 'padertorch_audio.separation.pit_blstm.PITBLSTM',
        'encoder': {'factory': _TASNET + 'StftEncoder', 'size': size,
                    'shift': shift, 'feature': 'log1p'},
        'separator': {
            'factory': 'padertorch_audio.separation.pit_blstm.BLSTMSeparator',
            'input_size': size // 2 + 1, 'hidden_size': hidden_size,
            'num_layers': num_layers, 'num_speakers': 2,
            'mask_activation': 'sigmoid'},
        'decoder': {'factory': _TASNET + 'IstftDecoder', 'size': size,
                    'shift': shift},
    }


#: PIT-BLSTM: 3 BLSTM layers of 896 units per direction on a 256-point STFT
#: (129 bins, shift 64), sigmoid masks.
PIT_BLSTM_PAPER = _pit_blstm(256, 64, 896, 3)

#: A tiny PIT-BLSTM for tests and examples.
TINY_PIT_BLSTM = _pit_blstm(64, 16, 8, 2)
