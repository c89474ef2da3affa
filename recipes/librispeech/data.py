"""The recipe's data pipeline: database JSON -> lazy_dataset -> batches.

Training reads random crops of 1-4 s (only the samples needed are read
from disk), validation and evaluation whole utterances, in background
worker processes (:func:`padertorch_audio.recipe.data_loader`:
reproducible random crops, each rank its shard under torchrun). The class
of an utterance is the index of its speaker in :func:`speaker_labels`.
"""
import functools

import numpy as np

from padertorch_audio.classification import random_crop
from padertorch_audio.data.database import load_database
from padertorch_audio.features import resample
from padertorch_audio.io import read_audio
from padertorch_audio.recipe import data_loader

__all__ = ['speaker_labels', 'load_example', 'training_data',
           'validation_data', 'evaluation_data']


def speaker_labels(database_json, dataset='train'):
    """The sorted speaker ids of ``dataset``: class ``i`` is speaker
    ``speaker_labels(...)[i]`` (every speaker of the closed-set split has
    training utterances)."""
    examples = load_database(database_json).get_dataset(dataset)
    return sorted({example['speaker_id'] for example in examples})


def load_example(example, speakers, sample_rate=16000, crop_seconds=None,
                 rng=np.random):
    """Read an utterance (float32, resampled to ``sample_rate`` when the
    file has another rate).

    ``crop_seconds=(low, high)``: a random crop of a length drawn in
    ``[low, high]`` s (:func:`~padertorch_audio.classification.random_crop`).

    Returns a dict with ``'example_id'``, ``'audio'`` ``(samples,)``,
    ``'num_samples'``, ``'speaker_id'`` and ``'speaker_index'`` (its class).
    """
    start, stop = 0, None
    file_rate = example.get('sample_rate', sample_rate)
    if crop_seconds is not None:
        start, stop = random_crop(example['num_samples'], rng, *crop_seconds,
                                  sample_rate=file_rate)
    audio, file_rate = read_audio(example['audio_path']['observation'],
                                  start, stop)
    if audio.ndim > 1:  # several channels: the first
        audio = audio[0]
    if file_rate != sample_rate:
        audio = resample(audio, file_rate, sample_rate).astype(np.float32)
    speaker = example['speaker_id']
    if speaker not in speakers:
        raise KeyError(f'{example["example_id"]}: speaker {speaker!r} has no '
                       f'class (the model knows {len(speakers)} speakers of '
                       f'the train set).')
    return {
        'example_id': example['example_id'],
        'audio': audio,
        'num_samples': audio.shape[-1],
        'speaker_id': speaker,
        'speaker_index': speakers.index(speaker),
    }


def training_data(database_json, speakers, dataset='train', batch_size=16,
                  crop_seconds=(1.0, 4.0), sample_rate=16000, num_workers=2):
    """Batches of random crops, shuffled anew every epoch; ``batch_size``
    is per process (under torchrun each rank reads only its shard)."""
    data = load_database(database_json).get_dataset(dataset)
    data = data.map(functools.partial(
        load_example, speakers=speakers, sample_rate=sample_rate,
        crop_seconds=tuple(crop_seconds)))
    return data_loader(data, batch_size, shuffle=True, shard=True,
                       num_workers=num_workers)


def validation_data(database_json, speakers, dataset='validation',
                    batch_size=8, sample_rate=16000, num_workers=1,
                    max_examples=None):
    """Whole utterances in a fixed order, sorted by length (little
    padding; the model ignores the padded frames)."""
    data = load_database(database_json).get_dataset(dataset)
    if max_examples is not None:
        data = data[:max_examples]
    data = data.sort(lambda example: example['num_samples'])
    return data_loader(data.map(functools.partial(
        load_example, speakers=speakers, sample_rate=sample_rate)),
        batch_size, num_workers=num_workers)


def evaluation_data(database_json, dataset='test'):
    """The examples of ``dataset`` (not loaded), for parallel evaluation."""
    return load_database(database_json).get_dataset(dataset)
