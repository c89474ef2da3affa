"""Audio features: STFT/ISTFT, mel filterbanks, log-mel, normalization,
resampling."""
from padertorch_audio.features.stft import (
    ISTFT,
    STFT,
    get_window,
    istft,
    samples_to_frames,
    stft,
)

__all__ = [
    'stft',
    'istft',
    'STFT',
    'ISTFT',
    'get_window',
    'samples_to_frames',
]
