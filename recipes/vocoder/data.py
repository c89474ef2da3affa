"""The recipe's data pipeline: database JSON -> lazy_dataset -> batches.

An utterance is read whole (first channel), resampled to the model's rate
when its file has another, and its mel computed with the model's
``log_mel`` (the one definition of the conditioning features); training
takes a random segment of it with the aligned mel frames
(:func:`padertorch_audio.vocoder.random_segment`, starts at multiples of
the STFT shift), validation a fixed segment per utterance (seeded by its
id), in background workers (:func:`padertorch_audio.recipe.data_loader`:
each rank its shard under torchrun). Reading the whole utterance (not only
the segment) lets the mel frames at the segment's edges see the utterance's
samples, as they do at synthesis time.
"""
import functools
import zlib

import numpy as np

from padertorch_audio.data.database import load_database
from padertorch_audio.features import resample
from padertorch_audio.inference import read_input
from padertorch_audio.recipe import data_loader
from padertorch_audio.vocoder.data import random_segment, segment_frames

__all__ = ['load_audio', 'load_segment', 'training_data', 'validation_data',
           'evaluation_data']


def load_audio(example, sample_rate):
    """The utterance's samples ``(samples,)`` float32 at ``sample_rate``
    (the first channel of a multi-channel file)."""
    audio, file_rate, _ = read_input(example['audio_path']['observation'],
                                     notes=[])
    if file_rate != sample_rate:
        audio = resample(audio, file_rate, sample_rate).astype(np.float32)
    return audio


def load_segment(example, model, length, rng=np.random):
    """A random segment of ``length`` samples of the utterance and its mel
    frames: ``{'example_id', 'audio' (length,), 'mel' (frames, n_mels),
    'num_samples'}`` (see :func:`padertorch_audio.vocoder.random_segment`;
    ``rng=None``: a segment seeded by the example id, the same every
    time)."""
    if rng is None:
        rng = np.random.RandomState(
            zlib.crc32(example['example_id'].encode('utf-8')))
    audio = load_audio(example, model.sample_rate)
    segment = random_segment(audio, model.log_mel(audio), length,
                             shift=model.shift,
                             num_frames=segment_frames(model, length),
                             rng=rng)
    return {'example_id': example['example_id'], 'audio': segment['audio'],
            'mel': segment['mel'], 'num_samples': segment['num_samples']}


def training_data(database_json, model, batch_size, segment_seconds=1.0,
                  dataset='train', num_workers=2):
    """Batches of random segments, shuffled anew every epoch;
    ``batch_size`` is per process (under torchrun each rank reads only its
    shard). ``model``: the WaveNet being trained (its ``log_mel``, shift
    and rate)."""
    length = round(segment_seconds * model.sample_rate)
    data = load_database(database_json).get_dataset(dataset)
    return data_loader(
        data.map(functools.partial(load_segment, model=model, length=length)),
        batch_size, shuffle=True, shard=True, num_workers=num_workers)


def validation_data(database_json, model, batch_size, segment_seconds=1.0,
                    dataset='validation', max_examples=None, num_workers=1):
    """The same segment of each validation utterance every time (seeded by
    its id), in a fixed order."""
    length = round(segment_seconds * model.sample_rate)
    data = load_database(database_json).get_dataset(dataset)
    if max_examples is not None:
        data = data[:max_examples]
    return data_loader(
        data.map(functools.partial(load_segment, model=model, length=length,
                                   rng=None)),
        batch_size, num_workers=num_workers)


def evaluation_data(database_json, dataset='test', max_examples=None):
    """The examples of ``dataset`` (not loaded), for parallel evaluation:
    the first ``max_examples`` in the database's (sorted) order."""
    examples = load_database(database_json).get_dataset(dataset)
    return list(examples)[:max_examples]
