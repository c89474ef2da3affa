"""Spectrogram, mask and audio summaries for tensorboard, and a reader
for event files.

In ``Model.review``::

    from padertorch_audio import summary
    review['images'] = {'observation': summary.spectrogram_to_image(X[0]),
                        'mask': summary.mask_to_image(mask[0])}
    review['audios'] = {'estimate': summary.audio(estimate[0], 8000)}
    review['figures'] = {'spectrogram': summary.plot_spectrogram(X[0])}

and to read a run back (tests, notebooks)::

    losses = summary.read_events_by_tag(storage_dir, 'scalar')['training/loss']

Colormaps and figures need matplotlib (``pip install
padertorch_audio[plot]``); everything else does not.
"""
from padertorch_audio.summary.images import (
    spectrogram_to_image, mask_to_image, magnitude_to_db)
from padertorch_audio.summary.audios import audio
from padertorch_audio.summary.figures import plot_spectrogram
from padertorch_audio.summary.events import (
    Record, Histogram, read_events, read_events_by_tag)

__all__ = [
    'spectrogram_to_image',
    'mask_to_image',
    'magnitude_to_db',
    'audio',
    'plot_spectrogram',
    'Record',
    'Histogram',
    'read_events',
    'read_events_by_tag',
]
