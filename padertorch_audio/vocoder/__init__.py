"""WaveNet vocoder: mu-law audio from log-mel frames.

- :class:`WaveNet` (a :class:`~padertorch_audio.base.Model`): teacher-forced
  training, ``forward(example) -> {'logits': (batch, 256, samples)}``.
- :func:`synthesize`: exact incremental generation with per-layer caches.
- :class:`FrameUpsampler`: frame-rate features to one conditioning vector
  per sample, aligned with the STFT framing of
  :mod:`padertorch_audio.features`.
"""
from padertorch_audio.vocoder.synthesis import default_num_samples, synthesize
from padertorch_audio.vocoder.upsampling import FrameUpsampler
from padertorch_audio.vocoder.wavenet import TINY_WAVENET, WaveNet

__all__ = [
    'WaveNet',
    'TINY_WAVENET',
    'synthesize',
    'default_num_samples',
    'FrameUpsampler',
]
