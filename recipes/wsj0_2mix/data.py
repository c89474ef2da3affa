"""The recipe's data pipeline: database JSON -> lazy_dataset -> batches.

Training reads random segments (only the samples needed are read from
disk), validation and evaluation whole utterances, in background worker
processes (:func:`padertorch_audio.recipe.data_loader`: reproducible
random segments, each rank its shard under torchrun).
"""
import functools

import numpy as np

from padertorch_audio.data.database import load_database
from padertorch_audio.io import read_audio
from padertorch_audio.recipe import data_loader, random_segment

__all__ = ['load_example', 'training_data', 'validation_data',
           'evaluation_data']


def load_example(example, segment_samples=None, rng=np.random):
    """Read the mixture and its sources (float32).

    With ``segment_samples``, a random segment of that length (the whole
    utterance when it is shorter) is read.

    Returns a dict with ``'example_id'``, ``'observation'`` ``(samples,)``,
    ``'speech_source'`` ``(K, samples)``, ``'num_samples'``.
    """
    start, stop = random_segment(example['num_samples'], segment_samples, rng)
    paths = example['audio_path']
    observation, _ = read_audio(paths['observation'], start, stop)
    sources = np.stack([read_audio(path, start, stop)[0]
                        for path in paths['speech_source']])
    return {
        'example_id': example['example_id'],
        'observation': observation,
        'speech_source': sources,
        'num_samples': observation.shape[-1],
    }


def training_data(database_json, dataset='tr', batch_size=4,
                  segment_seconds=4.0, sample_rate=8000, num_workers=2):
    """Batches of random segments, shuffled anew every epoch; ``batch_size``
    is per process (under torchrun each rank reads only its shard)."""
    data = load_database(database_json).get_dataset(dataset)
    segment = int(segment_seconds * sample_rate)
    data = data.map(functools.partial(load_example, segment_samples=segment))
    return data_loader(data, batch_size, shuffle=True, shard=True,
                       num_workers=num_workers)


def validation_data(database_json, dataset='cv', batch_size=1,
                    num_workers=1, max_examples=None):
    """Whole utterances in a fixed order (batch size 1: no padding)."""
    data = load_database(database_json).get_dataset(dataset)
    if max_examples is not None:
        data = data[:max_examples]
    return data_loader(data.map(load_example), batch_size,
                       num_workers=num_workers)


def evaluation_data(database_json, dataset='tt'):
    """The examples of ``dataset`` (not loaded), for parallel evaluation."""
    return load_database(database_json).get_dataset(dataset)
