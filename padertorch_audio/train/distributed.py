"""Distributed data-parallel training: ``torch.distributed`` under torchrun.

The :class:`~padertorch_audio.Trainer` needs nothing from the user to run
distributed: started by ``torchrun`` (which sets ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``), it joins the process
group (NCCL on GPUs, gloo on CPUs), wraps the model in
``DistributedDataParallel``, shards the data and lets rank 0 alone write.
This module holds the pieces it uses, and the helpers for building sharded
training data before ``train`` is called:

- :func:`shard` (any iterable), :func:`sampler` (for a ``DataLoader``),
  :class:`ShardDataset` (a lazy_dataset pipeline): every rank gets a
  distinct, equally long part of the data, reshuffled every epoch with a
  seed shared by all ranks (the Trainer calls :func:`set_epoch`);
- :func:`per_rank_batch_size`: a global batch size split over the ranks;
- :func:`get_rank`, :func:`get_world_size`, :func:`is_main_process`: valid
  before the process group exists (they read torchrun's variables).

Without torchrun (``WORLD_SIZE`` unset or 1) all of this is the identity:
rank 0 of a world of 1.
"""
import datetime
import itertools
import logging
import os
import socket

import numpy as np
import torch

__all__ = [
    'DistributedError', 'get_rank', 'get_world_size', 'get_local_rank',
    'is_main_process', 'is_distributed', 'init_distributed',
    'per_rank_batch_size', 'shard', 'sampler', 'ShardDataset',
    'ShardSampler', 'StridedIterable', 'set_epoch', 'is_sharded', 'run_on_main',
    'all_reduce_sums', 'all_gather', 'any_rank', 'barrier',
]

log = logging.getLogger(__name__)

#: Seconds a collective (or joining the group) may wait for the other
#: ranks before the job ends with an error (``PADERTORCH_AUDIO_DIST_TIMEOUT``
#: overrides it).
DEFAULT_TIMEOUT = 600


class DistributedError(RuntimeError):
    """Another rank failed, or the ranks could not reach each other."""


def _environment_int(name, default):
    value = os.environ.get(name)
    if value in (None, ''):
        return default
    try:
        return int(value)
    except ValueError:
        raise DistributedError(
            f'The environment variable {name}={value!r} is not an integer '
            f'(torchrun sets it; is the job started correctly?).') from None


def is_distributed() -> bool:
    """Whether this process is one of several ranks (process group or
    torchrun environment)."""
    return get_world_size() > 1


def get_world_size() -> int:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_world_size()
    return _environment_int('WORLD_SIZE', 1)


def get_rank() -> int:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank()
    return _environment_int('RANK', 0)


def get_local_rank() -> int:
    """The rank on this machine (selects the GPU)."""
    return _environment_int('LOCAL_RANK', 0)


def is_main_process() -> bool:
    """Rank 0: the one that writes checkpoints, summaries and progress."""
    return get_rank() == 0


def _timeout(timeout):
    if timeout is None:
        timeout = float(os.environ.get('PADERTORCH_AUDIO_DIST_TIMEOUT',
                                       DEFAULT_TIMEOUT))
    return datetime.timedelta(seconds=timeout)


def init_distributed(backend=None, timeout=None) -> bool:
    """Join the process group described by torchrun's environment.

    Args:
        backend: ``'nccl'`` or ``'gloo'``; default: NCCL when CUDA is
            available, else gloo.
        timeout: Seconds to wait for the other ranks (joining and every
            collective) before failing; default :data:`DEFAULT_TIMEOUT`.

    Returns:
        Whether this call created the group (False: a world of one, or a
        group that exists already).

    Raises:
        DistributedError: a variable of the torchrun environment is
            missing, or the rendezvous at ``MASTER_ADDR:MASTER_PORT`` was not
            reached within ``timeout``.
    """
    if torch.distributed.is_initialized():
        return False
    world_size = _environment_int('WORLD_SIZE', 1)
    if world_size <= 1:
        return False
    missing = [name for name in ('RANK', 'MASTER_ADDR', 'MASTER_PORT')
               if not os.environ.get(name)]
    if missing:
        raise DistributedError(
            f'WORLD_SIZE={world_size}, but {", ".join(missing)} '
            f'{"is" if len(missing) == 1 else "are"} not set: start the job '
            f'with torchrun (--nproc_per_node, and --nnodes with '
            f'--rdzv_endpoint HOST:PORT for several machines).')
    rank = _environment_int('RANK', 0)
    if not 0 <= rank < world_size:
        raise DistributedError(
            f'RANK={rank} is outside the world of WORLD_SIZE={world_size}.')
    if backend is None:
        backend = 'nccl' if torch.cuda.is_available() else 'gloo'
    if backend == 'nccl':
        torch.cuda.set_device(get_local_rank())
    address = f'{os.environ["MASTER_ADDR"]}:{os.environ["MASTER_PORT"]}'
    timeout = _timeout(timeout)
    try:
        torch.distributed.init_process_group(
            backend, rank=rank, world_size=world_size, timeout=timeout)
        # The first collective connects all ranks: fail here, not later.
        flag = torch.ones(1, device=_collective_device())
        torch.distributed.all_reduce(flag)
    except Exception as error:
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
        raise DistributedError(
            f'Rank {rank} of {world_size} on {socket.gethostname()} could not '
            f'join the others at {address} ({backend}) within '
            f'{timeout.total_seconds():g} s: {type(error).__name__}: '
            f'{error}'.rstrip()) from error
    log.info('Rank %d of %d joined the %s group at %s', rank, world_size,
             backend, address)
    return True


def _collective_device():
    if torch.distributed.get_backend() == 'nccl':
        return torch.device('cuda', torch.cuda.current_device())
    return torch.device('cpu')


def barrier():
    if is_distributed():
        torch.distributed.barrier()


def all_gather(value) -> list:
    """Every rank's ``value`` (picklable), in rank order."""
    if not is_distributed():
        return [value]
    values = [None] * get_world_size()
    torch.distributed.all_gather_object(values, value)
    return values


def all_reduce_sums(values: dict) -> dict:
    """Sum ``{name: number}`` over the ranks (float64); every rank must give
    the same names."""
    if not is_distributed() or not values:
        return dict(values)
    names = sorted(values)
    tensor = torch.tensor([float(values[name]) for name in names],
                          dtype=torch.float64, device=_collective_device())
    torch.distributed.all_reduce(tensor)
    return dict(zip(names, tensor.tolist()))


def any_rank(flags):
    """Element-wise OR of a list of booleans over the ranks."""
    if not is_distributed():
        return [bool(flag) for flag in flags]
    tensor = torch.tensor([int(bool(flag)) for flag in flags],
                          dtype=torch.int32, device=_collective_device())
    torch.distributed.all_reduce(tensor, op=torch.distributed.ReduceOp.MAX)
    return [bool(flag) for flag in tensor.tolist()]


def run_on_main(function, *args, **kwargs):
    """Run ``function`` on rank 0 only; every rank gets its result.

    An exception on rank 0 is raised on every rank: on rank 0 as it is, on
    the others as a :class:`DistributedError` with rank 0's message, so that
    a bad input ends all ranks at once instead of leaving them waiting.
    """
    if not is_distributed():
        return function(*args, **kwargs)
    message = [None, None]
    if is_main_process():
        try:
            message = [function(*args, **kwargs), None]
        except Exception as error:
            message = [None, f'{type(error).__name__}: {error}']
            torch.distributed.broadcast_object_list(message, src=0)
            raise
    torch.distributed.broadcast_object_list(message, src=0)
    result, error = message
    if error is not None:
        raise DistributedError(f'Rank 0 failed: {error}')
    return result


# --------------------------------------------------------------------------
# Batch sizes and shards
# --------------------------------------------------------------------------

def per_rank_batch_size(batch_size: int, world_size=None) -> int:
    """The batch size of one rank for a global ``batch_size``.

    With gradients averaged over the ranks, ``world_size`` ranks with
    ``batch_size / world_size`` examples each take the step of one process
    with ``batch_size``.

    >>> per_rank_batch_size(8, world_size=2)
    4
    >>> per_rank_batch_size(6, world_size=4)
    Traceback (most recent call last):
    ...
    ValueError: The batch size 6 is not divisible by the world size 4 (the number of processes: torchrun --nproc_per_node x --nnodes); choose a batch size that is a multiple of 4.
    """
    if world_size is None:
        world_size = get_world_size()
    if (isinstance(batch_size, bool) or not isinstance(batch_size, int)
            or batch_size < 1):
        raise ValueError(
            f'The batch size must be a positive int, got {batch_size!r}.')
    if batch_size % world_size:
        raise ValueError(
            f'The batch size {batch_size} is not divisible by the world size '
            f'{world_size} (the number of processes: torchrun '
            f'--nproc_per_node x --nnodes); choose a batch size that is a '
            f'multiple of {world_size}.')
    return batch_size // world_size


def _epoch_indices(length, epoch, shuffle, seed, rank, world_size,
                   drop_last):
    """This rank's indices of an epoch: a permutation shared by all ranks
    (seeded by ``(seed, epoch)``), made a multiple of the world size, then
    every ``world_size``-th index from ``rank`` on."""
    if shuffle:
        indices = np.random.default_rng([seed, epoch]).permutation(length)
    else:
        indices = np.arange(length)
    if drop_last:
        indices = indices[:length - length % world_size]
    elif length % world_size:  # repeat the first ones: equal shards
        extra = world_size - length % world_size
        indices = np.concatenate([indices, np.resize(indices, extra)])
    return indices[rank::world_size]


class ShardSampler(torch.utils.data.Sampler):
    """A ``DataLoader`` sampler: this rank's part of the data set.

    Like ``torch.utils.data.DistributedSampler``: all ranks draw the same
    permutation (from ``seed`` and the epoch, which the Trainer sets with
    :func:`set_epoch`) and take every ``world_size``-th index, so that the
    shards are disjoint; the last indices are repeated (or, with
    ``drop_last``, left out) so that every rank gets as many.
    """

    def __init__(self, data_source, shuffle=True, seed=0, drop_last=False,
                 rank=None, world_size=None):
        self.length = len(data_source)
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.rank = get_rank() if rank is None else rank
        self.world_size = get_world_size() if world_size is None \
            else world_size
        self.epoch = 0

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __len__(self):
        if self.drop_last:
            return self.length // self.world_size
        return -(-self.length // self.world_size)

    def __iter__(self):
        return iter(_epoch_indices(
            self.length, self.epoch, self.shuffle, self.seed, self.rank,
            self.world_size, self.drop_last).tolist())


def sampler(dataset, shuffle=True, seed=0, drop_last=False):
    """A :class:`ShardSampler` of this rank for ``DataLoader(dataset,
    sampler=...)`` (use it instead of ``shuffle=True``)."""
    return ShardSampler(dataset, shuffle=shuffle, seed=seed,
                        drop_last=drop_last)


def _lazy_dataset_base():
    try:
        import lazy_dataset
    except ImportError:  # pragma: no cover - a dependency of the package
        return None
    return lazy_dataset.Dataset


def _make_shard_dataset():
    base = _lazy_dataset_base()

    class ShardDataset(base):
        """This rank's part of an indexable lazy_dataset, reshuffled every
        epoch with a seed shared by all ranks (see :class:`ShardSampler`).

        It is a lazy_dataset, so the pipeline goes on after it::

            data = distributed.ShardDataset(database.get_dataset('tr'))
            data = data.map(load_example).batch(4).map(Collate())
        """

        def __init__(self, input_dataset, shuffle=True, seed=0,
                     drop_last=False, rank=None, world_size=None):
            if not getattr(input_dataset, 'indexable', False):
                raise TypeError(
                    f'ShardDataset needs an indexable dataset (shard before '
                    f'shuffle(reshuffle=True), filter or batch), got '
                    f'{type(input_dataset).__name__}.')
            self.input_dataset = input_dataset
            self.shuffle = shuffle
            self.seed = seed
            self.drop_last = drop_last
            self.rank = get_rank() if rank is None else rank
            self.world_size = (get_world_size() if world_size is None
                               else world_size)
            self.epoch = 0

        def set_epoch(self, epoch):
            self.epoch = epoch

        def copy(self, freeze=False):
            copy = self.__class__(
                self.input_dataset.copy(freeze=freeze), self.shuffle,
                self.seed, self.drop_last, self.rank, self.world_size)
            copy.epoch = self.epoch
            return copy

        @property
        def indexable(self):
            return False

        @property
        def ordered(self):
            return not self.shuffle

        def __len__(self):
            length = len(self.input_dataset)
            if self.drop_last:
                return length // self.world_size
            return -(-length // self.world_size)

        def _indices(self):
            return _epoch_indices(
                len(self.input_dataset), self.epoch, self.shuffle, self.seed,
                self.rank, self.world_size, self.drop_last)

        def __iter__(self, with_key=False):
            indices = self._indices()
            if with_key:
                keys = self.input_dataset.keys()
                for index in indices:
                    yield keys[index], self.input_dataset[int(index)]
            else:
                for index in indices:
                    yield self.input_dataset[int(index)]

        def __getitem__(self, item):
            if isinstance(item, str):
                return self.input_dataset[item]
            return super().__getitem__(item)

    ShardDataset.__module__ = __name__
    ShardDataset.__qualname__ = 'ShardDataset'
    return ShardDataset


ShardDataset = _make_shard_dataset()


class StridedIterable:
    """Every ``world_size``-th element of an iterable (from ``rank`` on)."""
    sharded = True

    def __init__(self, iterable, rank, world_size):
        self.iterable = iterable
        self.rank = rank
        self.world_size = world_size

    def __len__(self):
        return len(range(self.rank, len(self.iterable), self.world_size))

    def __iter__(self):
        return itertools.islice(iter(self.iterable), self.rank, None,
                                self.world_size)


class _BatchShard(torch.utils.data.Sampler):
    """Every ``world_size``-th batch of a batch sampler (uneven allowed)."""

    def __init__(self, batch_sampler, rank, world_size):
        self.batch_sampler = batch_sampler
        self.rank = rank
        self.world_size = world_size

    def __len__(self):
        return len(range(self.rank, len(self.batch_sampler),
                         self.world_size))

    def __iter__(self):
        return itertools.islice(iter(self.batch_sampler), self.rank, None,
                                self.world_size)


def _rebuild_loader(loader, **changes):
    arguments = dict(
        dataset=loader.dataset, num_workers=loader.num_workers,
        collate_fn=loader.collate_fn, pin_memory=loader.pin_memory,
        timeout=loader.timeout, worker_init_fn=loader.worker_init_fn,
        multiprocessing_context=loader.multiprocessing_context,
        generator=loader.generator,
        persistent_workers=loader.persistent_workers)
    if loader.num_workers:
        arguments['prefetch_factor'] = loader.prefetch_factor
    arguments.update(changes)
    return torch.utils.data.DataLoader(**arguments)


def shard(iterable, shuffle=None, seed=0, even=True):
    """This rank's part of ``iterable``.

    - a list or tuple: every ``world_size``-th element (from ``rank`` on);
    - a ``DataLoader`` over a map-style data set: the same loader with a
      :class:`ShardSampler` (``shuffle`` defaults to whether the loader
      shuffled); with ``even=False`` its batches are dealt out to the ranks
      instead, exactly the batches one process would see (for validation);
    - an indexable lazy_dataset: a :class:`ShardDataset`;
    - anything else: every ``world_size``-th element of its iteration (each
      rank still reads, but skips, the others' elements).

    ``even=True`` (training) gives every rank equally many elements (lists
    lose their last ``len % world_size`` elements, sampled data sets repeat
    a few), because every training step waits for all ranks.
    In a world of one, ``iterable`` is returned as it is.
    """
    rank, world_size = get_rank(), get_world_size()
    if world_size == 1:
        return iterable
    if isinstance(iterable, (list, tuple)):
        length = len(iterable)
        if even:
            length -= length % world_size
        return iterable[rank:length:world_size]
    if isinstance(iterable, torch.utils.data.DataLoader) and not isinstance(
            iterable.dataset, torch.utils.data.IterableDataset):
        if not even:
            return _rebuild_loader(iterable, batch_sampler=_BatchShard(
                iterable.batch_sampler, rank, world_size))
        if shuffle is None:
            shuffle = isinstance(iterable.sampler,
                                 torch.utils.data.RandomSampler)
        return _rebuild_loader(
            iterable, batch_size=iterable.batch_size,
            drop_last=iterable.drop_last,
            sampler=ShardSampler(iterable.dataset, shuffle=shuffle, seed=seed))
    base = _lazy_dataset_base()
    if base is not None and isinstance(iterable, base) and getattr(
            iterable, 'indexable', False):
        if even:
            return ShardDataset(iterable, shuffle=bool(shuffle), seed=seed)
        return iterable[rank::world_size]
    return StridedIterable(iterable, rank, world_size)


def _children(obj):
    """Objects of a data pipeline that ``obj`` is built on."""
    if isinstance(obj, torch.utils.data.DataLoader):
        return [obj.sampler, obj.batch_sampler, obj.dataset]
    if isinstance(obj, torch.utils.data.BatchSampler):
        return [obj.sampler]
    children = []
    for name in ('input_dataset', 'iterable', 'batch_sampler'):
        child = getattr(obj, name, None)
        if child is not None:
            children.append(child)
    children.extend(getattr(obj, 'input_datasets', None) or [])
    return children


def _walk(obj, depth=0):
    if obj is None or depth > 50:
        return
    yield obj
    for child in _children(obj):
        yield from _walk(child, depth + 1)


def set_epoch(iterable, epoch):
    """Call ``set_epoch(epoch)`` on every part of a data pipeline that has
    it (samplers, :class:`ShardDataset`), down a DataLoader or a
    lazy_dataset chain. The Trainer calls it before each epoch."""
    seen = set()
    for part in _walk(iterable):
        method = getattr(part, 'set_epoch', None)
        if id(part) in seen or not callable(method):
            continue
        seen.add(id(part))
        method(epoch)


def is_sharded(iterable) -> bool:
    """Whether a data pipeline holds a per-rank sharding step (our shards,
    ``DistributedSampler``, or an object with ``sharded = True``)."""
    for part in _walk(iterable):
        if isinstance(part, (ShardSampler, ShardDataset, StridedIterable,
                             _BatchShard,
                             torch.utils.data.DistributedSampler)):
            return True
        if getattr(part, 'sharded', False) is True:
            return True
    return False
