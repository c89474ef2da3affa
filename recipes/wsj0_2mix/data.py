"""The recipe's data pipeline: database JSON -> lazy_dataset -> batches.

Training reads random segments (only the samples needed are read from
disk), validation and evaluation whole utterances. Loading runs in
background worker processes of a ``torch.utils.data.DataLoader`` so that
the trainer does not wait on data. The DataLoader seeds numpy in every
worker from the torch generator, so the random segments are reproducible
and an exact resume stays exact.
"""
import functools

import numpy as np

from padertorch_audio.data import Collate
from padertorch_audio.data.database import load_database
from padertorch_audio.io import read_audio

__all__ = ['load_example', 'training_data', 'validation_data',
           'evaluation_data']


def load_example(example, segment_samples=None, rng=np.random):
    """Read the mixture and its sources (float32).

    With ``segment_samples``, a random segment of that length (the whole
    utterance when it is shorter) is read.

    Returns a dict with ``'example_id'``, ``'observation'`` ``(samples,)``,
    ``'speech_source'`` ``(K, samples)``, ``'num_samples'``.
    """
    num_samples = example['num_samples']
    start, stop = 0, None
    if segment_samples is not None and num_samples > segment_samples:
        start = int(rng.randint(0, num_samples - segment_samples + 1))
        stop = start + segment_samples
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


def _loader(dataset, batch_size, num_workers, shuffle=False, sampler=None):
    import torch
    return torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=shuffle, sampler=sampler,
        num_workers=num_workers, collate_fn=Collate(pad_axis=-1),
        persistent_workers=False)


def training_data(database_json, dataset='tr', batch_size=4,
                  segment_seconds=4.0, sample_rate=8000, num_workers=2):
    """Batches of random segments, shuffled anew every epoch.

    ``batch_size`` is per process. Under torchrun each rank reads only its
    shard of the data set (a :func:`~padertorch_audio.train.distributed.
    sampler`: one permutation per epoch shared by all ranks, every
    ``world_size``-th example of it); in a world of one, all of it.
    """
    from padertorch_audio.train import distributed
    data = load_database(database_json).get_dataset(dataset)
    segment = int(segment_seconds * sample_rate)
    data = data.map(functools.partial(load_example, segment_samples=segment))
    return _loader(data, batch_size, num_workers,
                   sampler=distributed.sampler(data, shuffle=True))


def validation_data(database_json, dataset='cv', batch_size=1,
                    num_workers=1, max_examples=None):
    """Whole utterances in a fixed order (batch size 1: no padding)."""
    data = load_database(database_json).get_dataset(dataset)
    if max_examples is not None:
        data = data[:max_examples]
    return _loader(data.map(load_example), batch_size, num_workers,
                   shuffle=False)


def evaluation_data(database_json, dataset='tt'):
    """The examples of ``dataset`` (not loaded), for parallel evaluation."""
    return load_database(database_json).get_dataset(dataset)
