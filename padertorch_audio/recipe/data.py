"""Batches for a recipe: a DataLoader over a lazy_dataset pipeline.

A recipe's data pipeline is ``database JSON -> lazy_dataset -> loader``::

    from padertorch_audio.data.database import load_database
    from padertorch_audio.io import read_audio

    def load(example, rng=np.random):
        start, stop = random_segment(example['num_samples'], 32000, rng)
        audio, _ = read_audio(example['audio_path']['observation'],
                              start, stop)   # reads only these samples
        return {'example_id': example['example_id'], 'audio': audio}

    data = load_database(database_json).get_dataset('train').map(load)
    training = data_loader(data, batch_size=8, shard=True, num_workers=4)
    trainer.train(training, resume='auto')

:func:`padertorch_audio.io.read_audio` ``(path, start, stop)`` reads a
segment of a file without reading the rest; :func:`random_segment` draws
the segment.
"""
import numpy as np

__all__ = ['data_loader', 'random_segment']


def random_segment(num_samples, length, rng=np.random):
    """``(start, stop)`` of a random segment of ``length`` samples of a
    signal of ``num_samples`` (``(0, None)``: all of it, when it is not
    longer than ``length`` or ``length`` is None), drawn with
    ``rng.randint`` (a ``numpy.random.RandomState`` or the ``numpy.random``
    module, whose state the DataLoader seeds in every worker).

    >>> random_segment(100, 30, np.random.RandomState(0))
    (44, 74)
    >>> random_segment(20, 30)
    (0, None)
    """
    if length is None or num_samples <= length:
        return 0, None
    start = int(rng.randint(0, num_samples - length + 1))
    return start, start + length


def data_loader(dataset, batch_size=1, *, shuffle=False, shard=False,
                num_workers=0, pad_axis=-1, seed=0, drop_last=False):
    """A ``torch.utils.data.DataLoader`` of ``dataset`` for the Trainer.

    Args:
        dataset: Indexable examples (a lazy_dataset pipeline, a list); the
            examples are dicts, loaded in ``num_workers`` background
            processes.
        batch_size: Examples per batch (per rank: see
            :func:`padertorch_audio.train.distributed.per_rank_batch_size`).
        shuffle: A new order every epoch.
        shard: Read only this rank's part under torchrun (a
            :func:`padertorch_audio.train.distributed.sampler`: one
            permutation per epoch, seeded by ``(seed, epoch)`` and shared by
            all ranks, every ``world_size``-th example of it; the Trainer
            sets the epoch). In a world of one: all of it. Use it for
            training data.
        num_workers: Loading processes (0: in this process).
        pad_axis: The axis that :class:`padertorch_audio.data.Collate` pads
            to the longest example (time, last).
        seed, drop_last: Of the shard sampler (``drop_last``: the last
            examples that do not fill a shard of every rank are left out;
            without it, some are repeated).

    Random numbers in the loading (e.g. :func:`random_segment`): the
    DataLoader seeds ``random``, ``numpy.random`` and ``torch`` in every
    worker from a base seed it draws from torch's random generator each
    epoch, so they are the same in every run with the same torch seed, and
    an exact resume (which restores torch's generator) stays exact.
    """
    import torch

    from padertorch_audio.data import Collate
    from padertorch_audio.train import distributed
    sampler = None
    if shard:
        sampler = distributed.sampler(dataset, shuffle=shuffle, seed=seed,
                                      drop_last=drop_last)
        shuffle = False  # the sampler shuffles
    return torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=shuffle, sampler=sampler,
        num_workers=num_workers, collate_fn=Collate(pad_axis=pad_axis),
        persistent_workers=False)
