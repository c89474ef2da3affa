"""Generic building blocks (no audio knowledge).

- :class:`FullyConnected`: a stack of linear layers with activations.
- Normalisation of padded sequence batches (``forward(x, sequence_lengths)``,
  padded frames never enter a statistic): :class:`BatchNorm`,
  :class:`LayerNorm`, :class:`GlobalLayerNorm` (gLN) and
  :class:`CumulativeLayerNorm` (cLN). See
  :mod:`padertorch_audio.modules.normalization` for their layouts.
"""
from padertorch_audio.modules.fully_connected import FullyConnected
from padertorch_audio.modules.normalization import (
    BatchNorm, LayerNorm, GlobalLayerNorm, CumulativeLayerNorm)

__all__ = [
    'FullyConnected',
    'BatchNorm',
    'LayerNorm',
    'GlobalLayerNorm',
    'CumulativeLayerNorm',
]
