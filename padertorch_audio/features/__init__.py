"""Audio features: STFT/ISTFT, mel filterbanks, log-mel, normalization,
resampling, mu-law (re-exported from :mod:`padertorch_audio.ops.mu_law`).

Spectra are ``(..., frames, bins)``, feature matrices ``(..., frames,
features)``. Functions take tensors (differentiable) or numpy arrays (for
the data pipeline) and return the same type.
"""
from padertorch_audio.features.inverse import (
    griffin_lim,
    log_mel_to_audio,
    log_mel_to_magnitude,
)
from padertorch_audio.features.mel import LogMel, log_mel, mel_filterbank
from padertorch_audio.features.normalization import (
    GlobalNormalization,
    UtteranceNormalization,
    normalize_per_utterance,
)
from padertorch_audio.features.resample import resample
from padertorch_audio.features.stft import (
    ISTFT,
    STFT,
    get_window,
    istft,
    samples_to_frames,
    stft,
)
from padertorch_audio.ops.mu_law import mu_law_decode, mu_law_encode

__all__ = [
    'stft',
    'istft',
    'STFT',
    'ISTFT',
    'get_window',
    'samples_to_frames',
    'mel_filterbank',
    'log_mel',
    'LogMel',
    'log_mel_to_magnitude',
    'griffin_lim',
    'log_mel_to_audio',
    'normalize_per_utterance',
    'UtteranceNormalization',
    'GlobalNormalization',
    'resample',
    'mu_law_encode',
    'mu_law_decode',
]
