"""How the training loop runs: alone, or as one rank of several.

:func:`join` gives a :class:`SingleProcess` (every method the identity, or
nothing) or, under torchrun, a :class:`DataParallel`: it wraps the model in
``DistributedDataParallel``, keeps the gradients of accumulation passes on
the rank (``no_sync``), lets the ranks agree before every forward pass
whether an epoch has ended or a signal arrived, gathers every rank's random
generator states into the checkpoint and gives rank 0's results (e.g. a
loaded checkpoint) to all. The collectives themselves are in
:mod:`padertorch_audio.train.distributed`.
"""
import contextlib
import logging
import signal

import torch

from padertorch_audio.train import distributed

__all__ = ['join', 'SingleProcess', 'DataParallel', 'END']

# A child of the Trainer's logger: whoever configures that one gets the
# messages of the run from here too.
log = logging.getLogger('padertorch_audio.train.trainer.parallel')

#: What :meth:`SingleProcess.next_example` returns when the epoch ended.
END = object()
_NO_CONTEXT = contextlib.nullcontext()  # reusable; cheaper than a new one


def join(enabled=None, ddp_options=None):
    """The parallel set-up of a training run.

    Args:
        enabled: None: distributed when started by torchrun; False: this
            process trains alone (also inside a distributed job).
        ddp_options: Keyword arguments for ``DistributedDataParallel``.
    """
    if enabled is False or not distributed.is_distributed():
        return SingleProcess()
    created = distributed.init_distributed()
    return DataParallel(created, ddp_options or {})


class SingleProcess:
    """One process trains alone: rank 0 of a world of 1."""
    rank, world_size = 0, 1

    def __init__(self):
        #: What the training loop calls with an example.
        self.module = None
        self.epoch = 0

    def start_epoch(self, iterable, epoch):
        """Tell the data pipeline (samplers, shards) the epoch number."""
        self.epoch = epoch
        distributed.set_epoch(iterable, epoch)

    def select_device(self, device=None):
        """The device of this process (default: CUDA when available; under
        torchrun ``cuda:LOCAL_RANK``); made the current CUDA device."""
        if device is None:
            device = 'cuda' if torch.cuda.is_available() else 'cpu'
        device = torch.device(device)
        if (device.type == 'cuda' and device.index is None
                and self.world_size > 1):
            device = torch.device('cuda', distributed.get_local_rank())
        if device.type == 'cuda':
            torch.cuda.set_device(device)
        return device

    def wrap(self, model, device):
        self.module = model

    def shard(self, iterable):
        """This rank's part of the training data."""
        return iterable

    def on_main(self, function, *args):
        """``function(*args)`` on rank 0; its result (or error) on all."""
        return function(*args)

    def no_sync(self, accumulating):
        """The context of a forward and backward pass (``accumulating``:
        another pass of the same step follows)."""
        return _NO_CONTEXT

    def next_example(self, iterator, in_step, signals):
        """The next example, :data:`END` when the epoch ended, or None when
        a signal on another rank stops training (``in_step``: passes of the
        current step are done already)."""
        return next(iterator, END)

    def stop_on_signal(self, signals) -> bool:
        """Whether a signal stops training after this step."""
        return signals.received is not None

    def average_gradients(self):
        """Average the gradients of passes that were not synchronised."""

    def agree_on_signal(self, signals):
        """At the end of training: adopt a signal of another rank."""

    def barrier(self):
        pass

    def gather_rng(self, state):
        """Add every rank's random generator states to a checkpoint
        ``state`` (``rank_rng``, ``rank_epoch_rng``)."""

    def release(self, leave_group=True):
        """Drop the wrapped model; ``leave_group``: leave a process group
        this run created."""
        self.module = None


class DataParallel(SingleProcess):
    """One rank of a ``torch.distributed`` job (see the module doc)."""

    def __init__(self, created_group, ddp_options):
        super().__init__()
        self.created_group = created_group
        self.ddp_options = ddp_options
        self.rank = distributed.get_rank()
        self.world_size = distributed.get_world_size()

    def wrap(self, model, device):
        self.module = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device] if device.type == 'cuda' else None,
            **self.ddp_options)

    def shard(self, iterable):
        if distributed.is_sharded(iterable):
            return iterable
        sharded = distributed.shard(iterable)
        if isinstance(sharded, distributed.StridedIterable):
            log.warning(
                'Rank %d reads all of train_iterable (%s) and keeps every '
                '%d-th batch: shard it before loading (distributed.'
                'ShardDataset, distributed.sampler) to read only its part.',
                self.rank, type(iterable).__name__, self.world_size)
        return sharded

    def on_main(self, function, *args):
        return distributed.run_on_main(function, *args)

    def no_sync(self, accumulating):
        # Accumulation passes keep their gradients on this rank.
        return self.module.no_sync() if accumulating else _NO_CONTEXT

    def next_example(self, iterator, in_step, signals):
        example = next(iterator, END)
        ended, signalled = distributed.any_rank(
            [example is END, signals.received is not None])
        if signalled and not in_step:
            if signals.received is None:
                signals.received = signal.SIGTERM
            return None
        if ended and example is not END:
            log.warning('Rank %d has more training batches in epoch %d than '
                        'another rank; the rest of its shard is left out. '
                        'Give every rank equally many (distributed.shard).',
                        self.rank, self.epoch + 1)
            return END
        return example

    def stop_on_signal(self, signals):
        return False  # the ranks stop together at the next step boundary

    def average_gradients(self):
        """What DDP does in a synchronised backward pass."""
        grads = [p.grad for p in self.module.module.parameters()
                 if p.grad is not None]
        if grads:
            flat = torch.cat([g.reshape(-1) for g in grads])
            torch.distributed.all_reduce(flat)
            flat /= self.world_size
            parts = flat.split([g.numel() for g in grads])
            torch._foreach_copy_(
                grads, [part.view_as(g) for part, g in zip(parts, grads)])

    def agree_on_signal(self, signals):
        # Every rank takes part, also those that have a signal already.
        signalled, = distributed.any_rank([signals.received is not None])
        if signalled and signals.received is None:
            signals.received = signal.SIGTERM  # another rank got one

    def barrier(self):
        distributed.barrier()

    def gather_rng(self, state):
        states = distributed.all_gather((state['rng'], state['epoch_rng']))
        state['rank_rng'] = [rng for rng, _ in states]
        state['rank_epoch_rng'] = [epoch_rng for _, epoch_rng in states]

    def release(self, leave_group=True):
        self.module = None
        if (leave_group and self.created_group
                and torch.distributed.is_initialized()):
            torch.distributed.destroy_process_group()
