"""The Trainer: a short optimisation loop; everything else is a hook."""
import contextlib
import functools
import itertools
import json
import logging
import math
import os
import platform
import signal
import threading
import time
from pathlib import Path

import torch

from padertorch_audio.base import REVIEW_KEYS
from padertorch_audio.configurable import Configurable, build, factory_to_str
from padertorch_audio.io import check_writable, dump_json
from padertorch_audio.train import checkpoint as ckpt
from padertorch_audio.train import distributed
from padertorch_audio.train.hooks import (
    Hook, TriggeredHook, SummaryHook, ValidationHook, CheckpointHook,
    LRSchedulerHook, ProgressHook)
from padertorch_audio.train.optimizer import Optimizer, TorchOptimizer
from padertorch_audio.train.triggers import Trigger

__all__ = ['Trainer', 'NonFiniteLossError', 'ReviewError']

log = logging.getLogger(__name__)


_TIMINGS = ('data', 'to_device', 'forward', 'review', 'backward', 'optimizer')
_END = object()  # the end of an epoch's iterator
_MIXED_PRECISION = {'bf16': torch.bfloat16, 'fp16': torch.float16}
_NO_CONTEXT = contextlib.nullcontext()  # reusable; cheaper than a new one


class NonFiniteLossError(FloatingPointError):
    """The loss or the gradient norm is nan or inf."""


class ReviewError(ValueError):
    """A review dict does not follow the review convention."""


class Trainer(Configurable):
    """Train ``model`` on any iterable of examples.

    Args:
        model: A :class:`padertorch_audio.Model` (``forward`` + ``review``).
        storage_dir: Where checkpoints, tensorboard files and the config of
            this run go. May exist, but must not hold another run unless
            ``train(..., resume=True)``.
        optimizer: A wrapper from :mod:`padertorch_audio.train.optimizer`
            (e.g. ``Adam(lr=1e-3, gradient_clipping=10)``) or a
            ``torch.optim.Optimizer`` built on ``model.parameters()``.
        loss_weights: ``{name: weight}`` to combine the review's
            ``'losses'``; needed when there is more than one.
        summary_trigger, checkpoint_trigger: ``(n, 'iteration' | 'epoch')``:
            when tensorboard summaries / checkpoints (and validation) are
            written.
        stop_trigger: ``(n, 'iteration' | 'epoch')``: train until ``n``
            iterations / epochs are done in all (a resumed run counts the
            ones before).
        virtual_minibatch_size: Forward/backward passes per optimizer step.
            The gradients of the passes are **averaged**, so with a mean
            loss over equally sized batches one step equals a step on their
            concatenation.
        progress: Show a tqdm progress bar (only when stderr is a terminal).
        mixed_precision: ``None`` (float32), ``'bf16'`` or ``'fp16'``:
            forward and review run under ``torch.autocast`` with that
            dtype. ``'fp16'`` scales the loss with a ``GradScaler`` (its
            state is checkpointed); a step whose gradients overflow is
            skipped, counted in ``skipped_steps`` and logged, not fatal.

    **Distributed**: started by ``torchrun``, every process runs the same
    script and ``train`` joins the process group (NCCL on GPUs, gloo on
    CPUs; see :mod:`padertorch_audio.train.distributed`). The model is
    wrapped in ``DistributedDataParallel`` (gradients averaged over the
    ranks; ``no_sync`` on the accumulation passes of a virtual minibatch),
    the training data is sharded (lists, DataLoaders and indexable
    lazy_datasets are sharded automatically; ``distributed.shard`` does it
    by hand), validation is sharded and its metrics summed over all ranks,
    and only rank 0 writes the storage dir, the summaries and the progress
    bar. The ranks decide together, before every forward pass, whether an
    epoch has ended or a signal arrived, so they never wait for each other
    in vain. Set ``trainer.distributed = False`` to train this process
    alone inside a distributed job.

    An iteration is one optimizer step. The gradient norm (before
    clipping) is computed at every step when the optimizer clips gradients;
    without clipping, it costs a noticeable part of a small model's step
    (5 % for a tiny MLP) and is computed every ``grad_norm_interval`` (100)
    iterations and on the steps just before an iteration-triggered summary.

    >>> import tempfile, torch, padertorch_audio as pa
    >>> class Regression(pa.Model):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.linear = torch.nn.Linear(2, 1)
    ...     def forward(self, example):
    ...         return self.linear(example['x'])
    ...     def review(self, example, output):
    ...         return {'loss': ((output - example['y']) ** 2).mean()}
    >>> data = [{'x': torch.ones(4, 2), 'y': torch.full((4, 1), 3.)}] * 5
    >>> trainer = pa.Trainer(Regression(), tempfile.mkdtemp(),
    ...                      pa.optimizer.SGD(lr=0.1), stop_trigger=(4, 'epoch'))
    >>> trainer.train(data, device='cpu')
    >>> trainer.iteration, trainer.epoch
    (20, 4)
    >>> sorted(p.name for p in trainer.checkpoint_dir.iterdir())
    ['ckpt_10.pth', 'ckpt_15.pth', 'ckpt_20.pth', 'ckpt_5.pth', 'ckpt_latest.pth']
    """

    #: Without gradient clipping, the gradient norm is computed (for the
    #: summary) every this many iterations and at iteration-triggered
    #: summary steps.
    grad_norm_interval = 100

    def __init__(
            self,
            model,
            storage_dir,
            optimizer,
            loss_weights=None,
            summary_trigger=(1, 'epoch'),
            checkpoint_trigger=(1, 'epoch'),
            stop_trigger=(1, 'epoch'),
            virtual_minibatch_size=1,
            progress=True,
            mixed_precision=None,
    ):
        if not isinstance(model, torch.nn.Module):
            raise TypeError(
                f'model must be a torch.nn.Module (a padertorch_audio.Model),'
                f' got {type(model).__name__}.')
        for method in ('review', 'example_to_device'):
            if not callable(getattr(model, method, None)):
                raise TypeError(
                    f'model ({type(model).__name__}) has no {method} method: '
                    f'derive it from padertorch_audio.Model.')
        if isinstance(optimizer, torch.optim.Optimizer):
            optimizer = TorchOptimizer(optimizer)
        if not isinstance(optimizer, Optimizer):
            raise TypeError(
                f'optimizer must be a padertorch_audio.optimizer wrapper or a '
                f'torch.optim.Optimizer, got {type(optimizer).__name__}.')
        if (isinstance(virtual_minibatch_size, bool)
                or not isinstance(virtual_minibatch_size, int)
                or virtual_minibatch_size < 1):
            raise ValueError(
                f'virtual_minibatch_size must be a positive int, got '
                f'{virtual_minibatch_size!r}.')
        if mixed_precision is not None and (
                mixed_precision not in _MIXED_PRECISION):
            raise ValueError(
                f"mixed_precision must be None, 'bf16' or 'fp16', got "
                f"{mixed_precision!r}.")
        if loss_weights is not None and not isinstance(loss_weights, dict):
            raise TypeError(
                f'loss_weights must be a dict {{name: weight}}, got '
                f'{type(loss_weights).__name__}.')

        self.model = model
        self.storage_dir = Path(storage_dir).expanduser().absolute()
        self.optimizer = optimizer
        self.optimizer.set_parameters(model.parameters())
        self.loss_weights = loss_weights
        self.virtual_minibatch_size = virtual_minibatch_size
        self.summary_trigger = Trigger.new(summary_trigger)
        self.checkpoint_trigger = Trigger.new(checkpoint_trigger)
        self.stop_trigger = Trigger.new(stop_trigger)
        self.progress = progress
        self.mixed_precision = mixed_precision
        #: None: distributed when started by torchrun; False: this process
        #: trains alone.
        self.distributed = None
        #: Keyword arguments for ``DistributedDataParallel``.
        self.ddp_options = {}
        #: Steps skipped because fp16 gradients overflowed.
        self.skipped_steps = 0
        self.rank, self.world_size = 0, 1
        self._ddp = None
        self._grad_scaler = None

        self.iteration = 0
        self.epoch = 0
        self.epoch_position = 0     # examples consumed in the current epoch
        self.device = None
        self.iterations_per_epoch = None
        self.config = None          # set by from_config
        self._writer = None
        self._stop_reason = None
        self._signal = None
        self._storage_ready = False
        self._epoch_rng_state = None
        #: Seconds spent in each part of the steps since ``train`` started.
        self.timings = dict.fromkeys(_TIMINGS, 0.)

        self.hooks = []
        self.validation_hook = None
        self.lr_scheduler_hook = None
        self.checkpoint_hook = CheckpointHook(self.checkpoint_trigger)
        self.register_hook(SummaryHook(self.summary_trigger))
        self.register_hook(self.checkpoint_hook)

    # ------------------------------------------------------------------
    # configuration

    @classmethod
    def from_config(cls, config=None):
        config = cls._complete_config(config)
        trainer = build(config)
        trainer.config = config
        return trainer

    def describe(self) -> dict:
        """The config of this trainer (complete when built by from_config)."""
        if self.config is not None:
            return self.config
        model = {'factory': factory_to_str(type(self.model))}
        optimizer = {'factory': factory_to_str(type(self.optimizer))}
        if not isinstance(self.optimizer, TorchOptimizer):
            optimizer = type(self.optimizer).get_config({
                **{k: v for k, v in self.optimizer.kwargs.items()},
                'gradient_clipping': self.optimizer.gradient_clipping,
            })
        return {
            'factory': factory_to_str(type(self)),
            'model': model,
            'storage_dir': str(self.storage_dir),
            'optimizer': optimizer,
            'loss_weights': self.loss_weights,
            'summary_trigger': self.summary_trigger.to_config(),
            'checkpoint_trigger': self.checkpoint_trigger.to_config(),
            'stop_trigger': self.stop_trigger.to_config(),
            'virtual_minibatch_size': self.virtual_minibatch_size,
            'progress': self.progress,
            'mixed_precision': self.mixed_precision,
        }

    # ------------------------------------------------------------------
    # hooks

    def register_hook(self, hook: Hook):
        """Add a :class:`~padertorch_audio.Hook` (run in priority order)."""
        if not isinstance(hook, Hook):
            raise TypeError(
                f'register_hook expects a padertorch_audio.Hook, got '
                f'{type(hook).__name__}.')
        names = {self._hook_name(h) for h in self.hooks}
        if self._hook_name(hook) in names:
            raise ValueError(
                f'A hook named {self._hook_name(hook)!r} is registered '
                f'already; give the new one another `name`.')
        self.hooks.append(hook)
        self.hooks.sort(key=lambda h: h.priority)
        return hook

    @staticmethod
    def _hook_name(hook):
        return hook.name or type(hook).__name__

    def register_validation_hook(
            self, iterable, metric='loss', maximize=False, max_checkpoints=1,
            early_stopping_patience=None, n_back_off=0,
            back_off_patience=None, lr_update_factor=0.1):
        """Validate at every checkpoint trigger; rank and keep checkpoints.

        Args:
            iterable: Validation examples (re-iterable: a list, DataLoader,
                lazy_dataset).
            metric: ``'loss'`` or a name in the review's ``'losses'`` /
                ``'scalars'``, averaged over the validation iterable.
            maximize: Whether a larger metric is better.
            max_checkpoints: Keep the newest ``max_checkpoints`` checkpoints
                plus the best; ``None`` keeps all.
            early_stopping_patience: Stop after this many validations
                without improvement (after all backoffs are used up).
            n_back_off: How often to back off at most: reload the best
                checkpoint (model and optimizer) and multiply the learning
                rate by ``lr_update_factor``.
            back_off_patience: Validations without improvement before a
                backoff (default: ``early_stopping_patience``).
        """
        if self.validation_hook is not None:
            raise ValueError('A validation hook is registered already.')
        if isinstance(iterable, (str, bytes)) or not hasattr(
                iterable, '__iter__'):
            raise TypeError(
                f'The validation iterable must be iterable, got '
                f'{type(iterable).__name__}.')
        if iter(iterable) is iterable:
            raise TypeError(
                'The validation iterable is an iterator (e.g. a generator) '
                'that would be used up after one validation; pass a list, a '
                'DataLoader or a lazy_dataset.')
        hook = ValidationHook(
            iterable, self.checkpoint_trigger, metric=metric,
            maximize=maximize, max_checkpoints=max_checkpoints,
            early_stopping_patience=early_stopping_patience,
            n_back_off=n_back_off, back_off_patience=back_off_patience,
            lr_update_factor=lr_update_factor)
        self.validation_hook = self.register_hook(hook)
        self.checkpoint_hook.max_checkpoints = max_checkpoints
        return hook

    def register_lr_scheduler(self, scheduler, interval='epoch'):
        """Step a learning-rate schedule every ``'iteration'`` or ``'epoch'``.

        ``scheduler`` is a ``torch.optim.lr_scheduler`` object built on
        ``trainer.optimizer.optimizer``, or a callable that builds one from
        the torch optimizer, e.g.
        ``functools.partial(torch.optim.lr_scheduler.StepLR, step_size=10)``.
        """
        if self.lr_scheduler_hook is not None:
            raise ValueError('An lr scheduler is registered already.')
        if callable(scheduler) and not hasattr(scheduler, 'state_dict'):
            scheduler = scheduler(self.optimizer.optimizer)
        if getattr(scheduler, 'optimizer', None) is not self.optimizer.optimizer:
            raise ValueError(
                'The lr scheduler must be built on trainer.optimizer.optimizer'
                ' (the torch optimizer the trainer steps).')
        self.lr_scheduler_hook = self.register_hook(
            LRSchedulerHook(scheduler, interval))
        return self.lr_scheduler_hook

    @property
    def is_main_process(self) -> bool:
        """Rank 0 (or a single process): the one that writes files."""
        return self.rank == 0

    @property
    def writer(self):
        """The tensorboardX SummaryWriter of ``storage_dir`` (lazy); on the
        other ranks of a distributed run, a writer that writes nothing."""
        if not self.is_main_process:
            return _NullWriter()
        if self._writer is None:
            from tensorboardX import SummaryWriter
            self._writer = SummaryWriter(str(self.storage_dir))
        return self._writer

    @property
    def checkpoint_dir(self) -> Path:
        return self.storage_dir / 'checkpoints'

    def request_stop(self, reason: str):
        """Stop after the current step/epoch (used by hooks)."""
        if self._stop_reason is None:
            self._stop_reason = reason

    # ------------------------------------------------------------------
    # losses

    def combine_losses(self, review, where='training'):
        """Check a review dict; return (combined loss, losses or None)."""
        if type(review) is not dict:
            raise ReviewError(
                f'{where}: model.review must return a dict, got '
                f'{type(review).__name__}.')
        if not review.keys() <= REVIEW_KEYS:
            raise ReviewError(
                f'{where}: unknown review key(s) '
                f'{sorted(review.keys() - REVIEW_KEYS)}; allowed are '
                f'{sorted(REVIEW_KEYS)}.')
        if 'loss' in review:
            if 'losses' in review:
                raise ReviewError(
                    f"{where}: the review has both 'loss' and 'losses'; "
                    f"give one of them.")
            loss = review['loss']
            self._check_scalar('loss', loss, where)
            if self.loss_weights is not None:
                raise ReviewError(
                    f"{where}: the trainer has loss_weights "
                    f"{sorted(self.loss_weights)}, but the review gives a "
                    f"single 'loss'; give 'losses': {{name: loss}} instead.")
            return loss, None
        losses = review.get('losses')
        if not losses:
            raise ReviewError(
                f"{where}: the review has no 'loss' (or 'losses') entry; "
                f"found keys {sorted(review)}.")
        for name, value in losses.items():
            self._check_scalar(f'losses/{name}', value, where)
        weights = self.loss_weights
        if weights is None:
            if len(losses) > 1:
                raise ReviewError(
                    f'{where}: the review has {len(losses)} losses '
                    f'{sorted(losses)} but the trainer has no loss_weights '
                    f'to combine them.')
            return next(iter(losses.values())), losses
        if weights.keys() != losses.keys():
            raise ReviewError(
                f'{where}: loss_weights {sorted(weights)} do not match the '
                f'review losses {sorted(losses)}.')
        loss = sum(weights[name] * value for name, value in losses.items())
        return loss, losses

    @staticmethod
    def _check_scalar(name, value, where):
        if not isinstance(value, torch.Tensor) or value.numel() != 1:
            shape = (tuple(value.shape) if isinstance(value, torch.Tensor)
                     else type(value).__name__)
            raise ReviewError(
                f'{where}: review {name!r} must be a scalar tensor, got '
                f'{shape}.')

    # ------------------------------------------------------------------
    # checkpoints

    def state_dict(self) -> dict:
        return {
            'model': self.model.state_dict(),
            'optimizer': self.optimizer.state_dict(),
            'iteration': self.iteration,
            'epoch': self.epoch,
            'epoch_position': self.epoch_position,
            'hooks': {self._hook_name(h): h.state_dict() for h in self.hooks},
            'rng': ckpt.get_rng_state(),
            'epoch_rng': self._epoch_rng_state,
            'skipped_steps': self.skipped_steps,
            'grad_scaler': (self._grad_scaler.state_dict()
                            if self._grad_scaler is not None else None),
            'version': _version(),
        }

    def save_checkpoint(self, path):
        """Write the full training state to ``path`` (atomically).

        In a distributed run every rank calls this (the random generator
        states of all ranks are gathered into the file); rank 0 writes.
        """
        norms = torch._foreach_norm(
            [p.detach() for p in self.model.parameters()])
        if norms and not torch.isfinite(torch.stack(norms)).all():
            raise NonFiniteLossError(
                f'Not writing {path}: the model has non-finite parameters at '
                f'iteration {self.iteration}.')
        state = self.state_dict()
        if self.world_size > 1:
            states = distributed.all_gather(
                (state['rng'], state['epoch_rng']))
            state['rank_rng'] = [rng for rng, _ in states]
            state['rank_epoch_rng'] = [epoch_rng for _, epoch_rng in states]
        if self.is_main_process:
            ckpt.save_checkpoint(state, path)

    def load_state_dict(self, state: dict, path='checkpoint'):
        self.model.load_state_dict(state['model'])
        self.optimizer.load_state_dict(state['optimizer'])
        self.iteration = state['iteration']
        self.epoch = state['epoch']
        self.epoch_position = state['epoch_position']
        hook_states = state['hooks']
        for hook in self.hooks:
            name = self._hook_name(hook)
            if name in hook_states:
                hook.load_state_dict(hook_states[name])
            elif hook.state_dict():
                log.warning('%s has no state for hook %s', path, name)
        self.skipped_steps = state.get('skipped_steps', 0)
        if self._grad_scaler is not None and state.get('grad_scaler'):
            self._grad_scaler.load_state_dict(state['grad_scaler'])
        # One random state per rank (a single-process checkpoint has one).
        ranks = state.get('rank_rng') or [state['rng']]
        epoch_ranks = state.get('rank_epoch_rng') or [state.get('epoch_rng')]
        if len(ranks) != self.world_size:
            log.warning('%s holds the random states of %d rank(s), this run '
                        'has %d: the resume is not exact.', path, len(ranks),
                        self.world_size)
        ckpt.set_rng_state(ranks[self.rank % len(ranks)])
        self._epoch_rng_state = epoch_ranks[self.rank % len(ranks)]

    def back_off(self, checkpoint_path, lr_factor):
        """Reload model and optimizer from a checkpoint, scale the lr."""
        lrs = [group['lr'] for group in self.optimizer.optimizer.param_groups]
        state = self._on_main(ckpt.load_checkpoint, checkpoint_path)
        self.model.load_state_dict(state['model'])
        self.optimizer.load_state_dict(state['optimizer'])
        for group, lr in zip(self.optimizer.optimizer.param_groups, lrs):
            group['lr'] = lr * lr_factor
        if self.lr_scheduler_hook is not None:
            self.lr_scheduler_hook.scale_base_lrs(lr_factor)
        log.info('Back-off at iteration %d: reloaded %s, lr x %g',
                 self.iteration, checkpoint_path, lr_factor)

    # ------------------------------------------------------------------
    # training

    def _check_storage_dir(self, resume):
        directory = self.storage_dir
        check_writable(directory)
        if resume:
            latest = self.checkpoint_dir / 'ckpt_latest.pth'
            if not (latest.exists() or latest.is_symlink()):
                raise FileNotFoundError(
                    f'resume=True, but there is no checkpoint to resume from:'
                    f' {latest} does not exist.')
            if not ckpt.resolve_link(latest).is_file():
                raise FileNotFoundError(
                    f'resume=True, but {latest} points to a missing file '
                    f'{ckpt.resolve_link(latest)}.')
            return
        found = [name for name in ('config.json', 'checkpoints')
                 if (directory / name).exists()]
        if directory.is_dir():
            found += sorted(p.name for p in directory.glob('events.out.*'))
        if found:
            raise FileExistsError(
                f'storage_dir {directory} already holds a training run '
                f'({", ".join(found[:3])}). Pass resume=True to continue it, '
                f'or choose a new directory (padertorch_audio.io.'
                f'get_new_storage_dir).')

    def _setup_storage(self, resume):
        """Create the storage dir and write config (after the 1st review)."""
        self._storage_ready = True
        if not self.is_main_process:
            return
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        stale = ckpt.remove_stale_temporaries(self.checkpoint_dir)
        if stale:
            log.warning('Removed %d temporary file(s) that an interrupted '
                        'checkpoint write left in %s: %s', len(stale),
                        self.checkpoint_dir, ', '.join(p.name for p in stale))
        config = self.describe()
        config_path = self.storage_dir / 'config.json'
        if not resume:
            dump_json(config, config_path)
        else:
            try:
                old = json.loads(config_path.read_text())
            except (OSError, ValueError):
                old = None
            if old != json.loads(json.dumps(config)):
                dump_json(config, self.storage_dir
                          / f'config_resume_{self.iteration}.json')
        dump_json({**_environment(), 'world_size': self.world_size},
                  self.storage_dir / 'environment.json')

    def _epoch_iterator(self, train_iterable, skip):
        """The iterator of an epoch, ``skip`` examples in (after a resume).

        The random generator states at the start of each epoch are kept (and
        checkpointed): a resume inside an epoch rebuilds that epoch's order
        (e.g. a shuffling DataLoader's permutation) under them and skips the
        examples already used, so it continues exactly where it stopped.
        Skipping loads those examples once more, except for lists/tuples.
        """
        if skip and isinstance(train_iterable, (list, tuple)):
            return iter(train_iterable[skip:])
        if not skip:
            self._epoch_rng_state = ckpt.get_rng_state()
            return iter(train_iterable)
        current = ckpt.get_rng_state()
        if self._epoch_rng_state is not None:
            ckpt.set_rng_state(self._epoch_rng_state)
        iterator = iter(train_iterable)
        # Samplers draw their seed at the first next(), so skip under the
        # epoch's states too.
        for _ in itertools.islice(iterator, skip):
            pass
        ckpt.set_rng_state(current)
        return iterator

    def _install_signal_handlers(self):
        if threading.current_thread() is not threading.main_thread():
            return {}
        previous = {}

        def handler(signum, frame):
            self._signal = signum
            # A second signal acts as usual (e.g. a second Ctrl-C kills).
            for sig, old in previous.items():
                signal.signal(sig, old)

        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.getsignal(sig)
            signal.signal(sig, handler)
        return previous

    def train(self, train_iterable, resume=False, device=None):
        """Train until the stop trigger; see the class docstring.

        Args:
            train_iterable: Any iterable of (batched) examples: a list, a
                ``torch.utils.data.DataLoader``, a lazy_dataset. It is
                iterated once per epoch. In a distributed run, each rank's
                shard of it (see the class docstring).
            resume: Continue from ``storage_dir/checkpoints/ckpt_latest.pth``
                (model, optimizer, scheduler, hooks, iteration, epoch,
                position in the epoch and random generator states).
                ``'auto'``: continue when that checkpoint exists, else start
                a new run (what a script that is simply started again
                wants).
            device: Default: ``'cuda'`` when available (``cuda:LOCAL_RANK``
                under torchrun), else ``'cpu'``.
        """
        if isinstance(train_iterable, (str, bytes)) or not hasattr(
                train_iterable, '__iter__'):
            raise TypeError(
                f'train_iterable must be an iterable of examples, got '
                f'{type(train_iterable).__name__}.')
        created_group = self._join_group()
        try:
            self._train(train_iterable, resume, device)
        except (SystemExit, KeyboardInterrupt):
            self._leave_group(created_group)
            raise
        except BaseException:
            self._ddp = None  # the process ends; the group goes with it
            raise
        self._leave_group(created_group)

    def _join_group(self) -> bool:
        if self.distributed is False or not distributed.is_distributed():
            self.rank, self.world_size = 0, 1
            return False
        created = distributed.init_distributed()
        self.rank = distributed.get_rank()
        self.world_size = distributed.get_world_size()
        return created

    def _leave_group(self, created_group):
        self._ddp = None
        if created_group and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()

    def _on_main(self, function, *args):
        """``function(*args)`` on rank 0; its result (or error) on all."""
        if self.world_size > 1:
            return distributed.run_on_main(function, *args)
        return function(*args)

    def _shard(self, train_iterable):
        """Each rank's part of the training data (distributed runs)."""
        if self.world_size == 1 or distributed.is_sharded(train_iterable):
            return train_iterable
        sharded = distributed.shard(train_iterable)
        if isinstance(sharded, distributed.StridedIterable):
            log.warning(
                'Rank %d reads all of train_iterable (%s) and keeps every '
                '%d-th batch: shard it before loading (distributed.'
                'ShardDataset, distributed.sampler) to read only its part.',
                self.rank, type(train_iterable).__name__, self.world_size)
        return sharded

    def _default_device(self, device):
        if device is None:
            device = 'cuda' if torch.cuda.is_available() else 'cpu'
        device = torch.device(device)
        if (device.type == 'cuda' and device.index is None
                and self.world_size > 1):
            device = torch.device('cuda', distributed.get_local_rank())
        return device

    def _has_checkpoint(self):
        latest = self.checkpoint_dir / 'ckpt_latest.pth'
        return latest.exists() or latest.is_symlink()

    def _train(self, train_iterable, resume, device):
        train_iterable = self._shard(train_iterable)
        if resume == 'auto':
            resume = self._on_main(self._has_checkpoint)
        elif not isinstance(resume, bool):
            raise ValueError(f"resume must be True, False or 'auto', found "
                             f"{resume!r}.")
        self._on_main(self._check_storage_dir, resume)
        state = None
        if resume:
            state = self._on_main(ckpt.load_checkpoint,
                                  self.checkpoint_dir / 'ckpt_latest.pth')
        self.device = self._default_device(device)
        if self.device.type == 'cuda':
            torch.cuda.set_device(self.device)
        self.model.to(self.device)
        self._grad_scaler = (torch.amp.GradScaler(self.device.type)
                             if self.mixed_precision == 'fp16' else None)
        if state is not None:
            self.load_state_dict(state, self.checkpoint_dir / 'ckpt_latest.pth')
            del state
        if self.world_size > 1:
            self._ddp = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=(
                    [self.device] if self.device.type == 'cuda' else None),
                **self.ddp_options)
        try:
            self.iterations_per_epoch = -(
                -len(train_iterable) // self.virtual_minibatch_size)
        except (TypeError, NotImplementedError):
            self.iterations_per_epoch = None
        self._stop_reason = None
        self._signal = None
        self._storage_ready = False
        self.timings = dict.fromkeys(_TIMINGS, 0.)
        if self.stop_trigger.reached(self.iteration, self.epoch):
            log.warning('Nothing to train: the stop trigger %s is reached '
                        'at iteration %d, epoch %d.', self.stop_trigger,
                        self.iteration, self.epoch)
            return

        hooks = list(self.hooks)
        if self.progress and self.is_main_process and _is_terminal():
            hooks.append(ProgressHook(self.stop_trigger))
        previous_handlers = self._install_signal_handlers()
        self.model.train()
        self.optimizer.zero_grad()
        try:
            for hook in hooks:
                hook.pre_train(self)
            self._loop(train_iterable, hooks, resume)
            if self.world_size > 1 and self._signal is None and (
                    distributed.any_rank([False])[0]):
                self._signal = signal.SIGTERM  # another rank got one
            if self._signal is not None:
                if self._storage_ready:
                    self.checkpoint_hook.save(self)
                if self.world_size > 1:  # nobody exits before it is written
                    distributed.barrier()
            else:
                for hook in hooks:
                    hook.post_train(self)
        finally:
            for sig, handler in previous_handlers.items():
                signal.signal(sig, handler)
            for hook in hooks:
                hook.close(self)
            if self._writer is not None:
                self._writer.close()
                self._writer = None
        if self._signal is not None:
            self._exit_on_signal()
        if self._stop_reason:
            log.info('Training stopped: %s', self._stop_reason)

    def _autocast(self):
        if self.mixed_precision is None:
            return _NO_CONTEXT
        return torch.autocast(self.device.type,
                              dtype=_MIXED_PRECISION[self.mixed_precision])

    def _next_example(self, iterator, passes):
        """The next example of this rank, or ``_END`` when the epoch ends.

        In a distributed run, the ranks agree on it: the epoch ends for all
        when one rank has no example left, and a signal on any rank stops
        all of them at the next step boundary (``_signal`` set, ``None``
        returned).
        """
        example = next(iterator, _END)
        if self.world_size == 1:
            return example
        ended, signalled = distributed.any_rank(
            [example is _END, self._signal is not None])
        if signalled and not passes:
            if self._signal is None:
                self._signal = signal.SIGTERM
            return None
        if ended and example is not _END:
            log.warning('Rank %d has more training batches in epoch %d than '
                        'another rank; the rest of its shard is left out. '
                        'Give every rank equally many (distributed.shard).',
                        self.rank, self.epoch + 1)
            return _END
        return example

    def _loop(self, train_iterable, hooks, resume):
        pre_step = [h for h in hooks if _acts_on(h, 'pre_step')]
        post_step = [h for h in hooks if _acts_on(h, 'post_step')]
        post_epoch = [h for h in hooks if _acts_on(h, 'post_epoch')]
        model = self.model
        ddp = self._ddp
        forward = model if ddp is None else ddp
        scaler = self._grad_scaler
        device = self.device
        k = self.virtual_minibatch_size
        clock = time.perf_counter

        while True:
            distributed.set_epoch(train_iterable, self.epoch)
            iterator = self._epoch_iterator(train_iterable, self.epoch_position)
            examples_in_epoch = 0
            passes = []  # (detached loss, losses) of the current step
            timings = self.timings
            t_end = clock()
            while True:
                example = self._next_example(iterator, passes)
                if example is _END:
                    break
                if example is None:  # a signal on another rank
                    return
                if not passes:
                    for hook in pre_step:
                        hook.pre_step(self)
                t0 = clock()
                example = model.example_to_device(example, device)
                t1 = clock()
                # Accumulation passes keep their gradients on this rank.
                no_sync = (ddp.no_sync() if ddp is not None
                           and len(passes) < k - 1 else _NO_CONTEXT)
                with no_sync:
                    with self._autocast():
                        output = forward(example)
                        t2 = clock()
                        review = model.review(example, output)
                        loss, losses = self.combine_losses(review)
                    t3 = clock()
                    if not math.isfinite(loss.item()):
                        raise NonFiniteLossError(
                            f'Non-finite loss {loss.item()} at iteration '
                            f'{self.iteration} (epoch {self.epoch}): '
                            f'{_format_losses(losses)}. No step was taken '
                            f'with it; the last checkpoint is intact.')
                    if not self._storage_ready:
                        self._setup_storage(resume)
                    (loss if scaler is None else scaler.scale(loss)).backward()
                t4 = clock()
                passes.append((loss.detach(), losses, review.get('scalars')))
                examples_in_epoch += 1
                self.epoch_position += 1
                timings['data'] += t0 - t_end
                timings['to_device'] += t1 - t0
                timings['forward'] += t2 - t1
                timings['review'] += t3 - t2
                timings['backward'] += t4 - t3
                if len(passes) == k:
                    if self._step(passes, review, post_step):
                        return
                    passes = []
                t_end = clock()
            if passes:  # an incomplete virtual minibatch ends the epoch
                if ddp is not None:  # its passes were all local
                    self._average_gradients()
                if self._step(passes, review, post_step):
                    return
            if examples_in_epoch == 0 and self.epoch_position == 0:
                used_up = self.epoch > 0 and iter(
                    train_iterable) is train_iterable
                raise ValueError(
                    f'train_iterable yielded no examples in epoch '
                    f'{self.epoch + 1}'
                    + (f' on at least one of the {self.world_size} ranks'
                       if self.world_size > 1 else '')
                    + (' (it is an iterator, e.g. a generator, that the '
                       'previous epoch used up; pass a list, a DataLoader or '
                       'a lazy_dataset)' if used_up else '') + '.')
            self.epoch += 1
            self.epoch_position = 0
            for hook in post_epoch:
                hook.post_epoch(self)
            if self._stop_reason is not None or (
                    self._signal is not None and self.world_size == 1):
                return
            if self.stop_trigger.reached(self.iteration, self.epoch):
                return

    def _average_gradients(self):
        """Average the gradients over the ranks (what DDP does in a synced
        backward pass)."""
        grads = [p.grad for p in self.model.parameters() if p.grad is not None]
        if grads:
            flat = torch.cat([g.reshape(-1) for g in grads])
            torch.distributed.all_reduce(flat)
            flat /= self.world_size
            parts = flat.split([g.numel() for g in grads])
            torch._foreach_copy_(
                grads, [part.view_as(g) for part, g in zip(parts, grads)])

    def _step(self, passes, review, post_step) -> bool:
        """Optimizer step after ``len(passes)`` backward passes.

        Returns whether training has to stop now.
        """
        t0 = time.perf_counter()
        optimizer = self.optimizer
        scaler = self._grad_scaler
        if scaler is not None:
            scaler.unscale_(optimizer.optimizer)
        if len(passes) > 1:  # average the gradients of the passes
            optimizer.scale_grad(1. / len(passes))
        iteration = self.iteration
        if (optimizer.gradient_clipping is not None or scaler is not None
                or iteration % self.grad_norm_interval == 0
                or (self.summary_trigger.unit == 'iteration' and (
                    iteration + 1) % self.summary_trigger.period == 0)):
            grad_norm = optimizer.clip_grad()
            if scaler is None and not math.isfinite(grad_norm.item()):
                optimizer.zero_grad()
                raise NonFiniteLossError(
                    f'Non-finite gradient norm {grad_norm.item()} at '
                    f'iteration {self.iteration} (epoch {self.epoch}) with a '
                    f'finite loss. No step was taken; the last checkpoint is '
                    f'intact.')
        else:
            grad_norm = None
        if scaler is None:
            optimizer.step()
        else:  # skips the step when the gradients overflowed
            if not math.isfinite(grad_norm.item()):
                self.skipped_steps += 1
                log.warning(
                    'fp16 gradients overflowed at iteration %d (loss scale '
                    '%g): step skipped (%d so far), the loss scale is '
                    'lowered.', iteration, scaler.get_scale(),
                    self.skipped_steps)
                grad_norm = None
            scaler.step(optimizer.optimizer)
            scaler.update()
        optimizer.zero_grad()
        self.iteration += 1
        self.timings['optimizer'] += time.perf_counter() - t0

        if len(passes) == 1:
            loss, losses, _ = passes[0]
            if losses is not None and len(losses) > 1:
                losses = {n: v.detach() for n, v in losses.items()}
        else:
            loss = torch.stack([p[0] for p in passes]).mean()
            losses = passes[0][1]
            if losses is not None:
                losses = {
                    name: torch.stack([p[1][name].detach()
                                       for p in passes]).mean()
                    for name in losses
                }
        step = {'loss': loss, 'losses': losses, 'review': review,
                'grad_norm': grad_norm,
                'scalars': [p[2] for p in passes if p[2]]}
        for hook in post_step:
            hook.post_step(self, step)
        return ((self._signal is not None and self.world_size == 1)
                or self._stop_reason is not None
                or (self.stop_trigger.unit == 'iteration'
                    and self.stop_trigger.reached(self.iteration, 0)))

    def _exit_on_signal(self):
        signum = self._signal
        name = signal.Signals(signum).name
        if self._storage_ready:
            message = (f'Received {name} at iteration {self.iteration}; '
                       f'wrote {self.checkpoint_dir / "ckpt_latest.pth"}. '
                       f'Continue with train(..., resume=True).')
        else:
            message = (f'Received {name} before the first step; nothing '
                       f'was written.')
        log.warning(message)
        if signum == signal.SIGINT:
            raise KeyboardInterrupt(message)
        raise SystemExit(128 + signum)

    # ------------------------------------------------------------------

    def test_run(self, train_iterable, validation_iterable, device=None,
                 num_steps=2):
        """Check the model before a long run; see :func:`test_run`."""
        from padertorch_audio.train.test_run import test_run
        return test_run(self, train_iterable, validation_iterable,
                        device=device, num_steps=num_steps)


class _NullWriter:
    """Stands in for the SummaryWriter on ranks other than 0."""

    def __getattr__(self, name):
        return _do_nothing


def _do_nothing(*args, **kwargs):
    pass


def _acts_on(hook, method):
    """Whether calling ``hook.<method>`` can do anything (hot-loop filter)."""
    implementation = getattr(type(hook), method)
    if implementation is getattr(Hook, method):
        return False
    if isinstance(hook, TriggeredHook):
        # A TriggeredHook's own post_step/post_epoch only check the trigger.
        unit = hook.trigger.unit
        if method == 'post_step' and unit == 'epoch':
            return implementation is not TriggeredHook.post_step
        if method == 'post_epoch' and unit == 'iteration':
            return implementation is not TriggeredHook.post_epoch
    return True


def _format_losses(losses):
    if losses is None:
        return 'single loss'
    return 'losses ' + ', '.join(
        f'{name}={value.item():.6g}' for name, value in losses.items())


def _is_terminal():
    import sys
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _version():
    from padertorch_audio import __version__
    return __version__


@functools.lru_cache(maxsize=1)
def _package_versions():
    """Versions of Python and the packages a run depends on (cached: the
    metadata look-ups take milliseconds)."""
    from importlib import metadata
    versions = {'python': platform.python_version()}
    for name in ('padertorch_audio', 'torch', 'numpy', 'scipy',
                 'lazy_dataset', 'paderbox', 'tensorboardX', 'soundfile'):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def _environment():
    """Package versions and host facts for ``environment.json``."""
    import sys
    return {
        'versions': dict(_package_versions()),
        'host': platform.node(),
        'cuda_available': torch.cuda.is_available(),
        'argv': list(sys.argv),
        'pid': os.getpid(),
        'time': time.strftime('%Y-%m-%d %H:%M:%S'),
    }
