"""The Trainer: a short optimisation loop; everything else is a hook."""
import json
import logging
import math
from pathlib import Path

import torch

from padertorch_audio.configurable import (
    ConfigError, Configurable, build, factory_to_str)
from padertorch_audio.train import checkpoint as ckpt
from padertorch_audio.train import parallel as parallelism
from padertorch_audio.train.hooks import (
    Hook, SummaryHook, ValidationHook, CheckpointHook, LRSchedulerHook,
    ProgressHook, acts_on, step_record)
from padertorch_audio.train.optimizer import Optimizer, TorchOptimizer
from padertorch_audio.train.precision import Precision
from padertorch_audio.train.review import (
    ReviewError, combine_losses, forward_review)
from padertorch_audio.train.signals import SignalGuard
from padertorch_audio.train.storage import RunStorage
from padertorch_audio.train.test_run import test_run
from padertorch_audio.train.timing import StepTimer
from padertorch_audio.train.triggers import Trigger

__all__ = ['Trainer', 'NonFiniteLossError', 'ReviewError']

log = logging.getLogger(__name__)


class NonFiniteLossError(FloatingPointError):
    """The loss or the gradient norm is nan or inf."""


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
    clipping) is computed at every step when the optimizer clips gradients
    (or with fp16); without clipping, it costs a noticeable part of a small
    model's step (5 % for a tiny MLP) and is computed only when a hook asks
    for it (``Hook.needs_grad_norm``): the summary hook every
    ``grad_norm_interval`` (100) iterations and on the steps just before an
    iteration-triggered summary.

    The loop itself is short; each concern around it is a small object:
    ``trainer.precision`` (:mod:`~padertorch_audio.train.precision`),
    ``trainer.parallel`` (:mod:`~padertorch_audio.train.parallel`),
    ``trainer.signals`` (:mod:`~padertorch_audio.train.signals`), the step
    timer (:mod:`~padertorch_audio.train.timing`), the storage dir
    (:mod:`~padertorch_audio.train.storage`) and one forward pass
    (:func:`~padertorch_audio.train.review.forward_review`).

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
        #: Autocast, the fp16 loss scaler and skipped overflow steps.
        self.precision = Precision(mixed_precision)
        #: None: distributed when started by torchrun; False: this process
        #: trains alone.
        self.distributed = None
        #: Keyword arguments for ``DistributedDataParallel``.
        self.ddp_options = {}
        #: One process, or one rank of several (set by ``train``).
        self.parallel = parallelism.SingleProcess()
        #: SIGINT/SIGTERM while training: checkpoint and exit.
        self.signals = SignalGuard()
        self.timer = StepTimer()

        self.iteration = 0
        self.epoch = 0
        self.epoch_position = 0     # examples consumed in the current epoch
        self.device = None
        self.iterations_per_epoch = None
        self.config = None          # set by from_config
        self._writer = None
        self._stop_reason = None
        self._storage = RunStorage(self.storage_dir)
        self._epoch_rng_state = None

        self.hooks = []
        self.validation_hook = None
        self.lr_scheduler_hook = None
        self.checkpoint_hook = CheckpointHook(self.checkpoint_trigger)
        self.register_hook(SummaryHook(self.summary_trigger))
        self.register_hook(self.checkpoint_hook)

    @property
    def mixed_precision(self):
        """``None``, ``'bf16'`` or ``'fp16'`` (see the class docstring)."""
        return self.precision.mode

    @property
    def skipped_steps(self) -> int:
        """Steps skipped because fp16 gradients overflowed."""
        return self.precision.skipped_steps

    @property
    def _grad_scaler(self):
        return self.precision.scaler

    @property
    def timings(self) -> dict:
        """Seconds spent in each part of the steps since ``train`` started."""
        return self.timer.totals

    @property
    def rank(self) -> int:
        return self.parallel.rank

    @property
    def world_size(self) -> int:
        return self.parallel.world_size

    # ------------------------------------------------------------------
    # configuration

    @classmethod
    def from_config(cls, config=None):
        config = cls._complete_config(config)
        trainer = build(config)
        trainer.config = config
        return trainer

    def describe(self) -> dict:
        """The config of this trainer: complete when built by from_config,
        and with the model's recorded config (:attr:`Module.config
        <padertorch_audio.Module>`) when built directly."""
        if self.config is not None:
            return self.config
        optimizer = {'factory': factory_to_str(type(self.optimizer))}
        if not isinstance(self.optimizer, TorchOptimizer):
            optimizer = type(self.optimizer).get_config({
                **{k: v for k, v in self.optimizer.kwargs.items()},
                'gradient_clipping': self.optimizer.gradient_clipping,
            })
        return {
            'factory': factory_to_str(type(self)),
            'model': _model_config(self.model),
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
        self.lr_scheduler_hook = self.register_hook(LRSchedulerHook(
            scheduler, interval, optimizer=self.optimizer.optimizer))
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
        """Check a review dict; return (combined loss, losses or None).

        See :func:`padertorch_audio.train.review.combine_losses`.
        """
        return combine_losses(review, self.loss_weights, where)

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
            **self.precision.state_dict(),  # skipped_steps, grad_scaler
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
        self.parallel.gather_rng(state)
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
        self.precision.load_state_dict(state)
        # One random state per rank (a single-process checkpoint has one).
        ranks = state.get('rank_rng') or [state['rng']]
        epoch_ranks = state.get('rank_epoch_rng') or [state.get('epoch_rng')]
        if len(ranks) != self.world_size:
            log.warning('%s holds the random states of %d rank(s), this run '
                        'has %d: the resume is not exact.', path, len(ranks),
                        self.world_size)
        ckpt.set_rng_state(ranks[self.rank % len(ranks)])
        self._epoch_rng_state = epoch_ranks[self.rank % len(ranks)]

    # ------------------------------------------------------------------
    # training

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
        if resume != 'auto' and not isinstance(resume, bool):
            raise ValueError(f"resume must be True, False or 'auto', found "
                             f"{resume!r}.")
        self.parallel = parallelism.join(self.distributed, self.ddp_options)
        try:
            self._train(train_iterable, resume, device)
        except (SystemExit, KeyboardInterrupt):
            self.parallel.release()
            raise
        except BaseException:
            # The process ends; the process group goes with it.
            self.parallel.release(leave_group=False)
            raise
        self.parallel.release()

    def _train(self, train_iterable, resume, device):
        parallel = self.parallel
        train_iterable = parallel.shard(train_iterable)
        storage = self._storage = RunStorage(self.storage_dir)
        if resume == 'auto':
            resume = parallel.on_main(storage.has_checkpoint)
        parallel.on_main(storage.check, resume)
        state = parallel.on_main(ckpt.load_checkpoint, storage.latest) \
            if resume else None
        self.device = parallel.select_device(device)
        self.model.to(self.device)
        self.precision.start(self.device)
        if state is not None:
            self.load_state_dict(state, storage.latest)
            del state
        parallel.wrap(self.model, self.device)
        try:
            self.iterations_per_epoch = -(
                -len(train_iterable) // self.virtual_minibatch_size)
        except (TypeError, NotImplementedError):
            self.iterations_per_epoch = None
        self._stop_reason = None
        self.timer = StepTimer()
        if self.stop_trigger.reached(self.iteration, self.epoch):
            log.warning('Nothing to train: the stop trigger %s is reached '
                        'at iteration %d, epoch %d.', self.stop_trigger,
                        self.iteration, self.epoch)
            return

        hooks = list(self.hooks)
        if self.progress and self.is_main_process and _is_terminal():
            hooks.append(ProgressHook(self.stop_trigger))
        signals = self.signals
        signals.install()
        self.model.train()
        self.optimizer.zero_grad()
        try:
            for hook in hooks:
                hook.pre_train(self)
            self._loop(train_iterable, hooks, resume)
            parallel.agree_on_signal(signals)
            if signals.received is not None:
                if storage.ready:
                    self.checkpoint_hook.save(self)
                parallel.barrier()  # nobody exits before it is written
            else:
                for hook in hooks:
                    hook.post_train(self)
        finally:
            signals.restore()
            for hook in hooks:
                hook.close(self)
            if self._writer is not None:
                self._writer.close()
                self._writer = None
        if signals.received is not None:
            signals.exit(
                f'Received {signals.name} at iteration {self.iteration}; '
                f'wrote {storage.latest}. Continue with train(..., '
                f'resume=True).' if storage.ready else
                f'Received {signals.name} before the first step; nothing '
                f'was written.')
        if self._stop_reason:
            log.info('Training stopped: %s', self._stop_reason)

    def _loop(self, train_iterable, hooks, resume):
        """Epochs of steps until the stop trigger, a stop or a signal."""
        pre_step, post_step, post_epoch, grad_norm = (
            [hook for hook in hooks if acts_on(hook, method)] for method in
            ('pre_step', 'post_step', 'post_epoch', 'needs_grad_norm'))
        model, parallel, precision = self.model, self.parallel, self.precision
        timer, signals, k = self.timer, self.signals, self.virtual_minibatch_size
        while True:
            parallel.start_epoch(train_iterable, self.epoch)
            iterator, self._epoch_rng_state = ckpt.epoch_iterator(
                train_iterable, self.epoch_position, self._epoch_rng_state)
            passes = []  # (detached loss, losses, scalars) of the step
            examples_in_epoch = 0
            timer.restart()
            while True:
                example = parallel.next_example(iterator, passes, signals)
                if example is parallelism.END:
                    break
                if example is None:  # a signal on another rank
                    return
                if not passes:
                    for hook in pre_step:
                        hook.pre_step(self)
                timer.lap('data')
                example = model.example_to_device(example, self.device)
                timer.lap('to_device')
                with parallel.no_sync(len(passes) < k - 1):
                    loss, losses, review = forward_review(
                        model, example, precision, self.loss_weights,
                        forward=parallel.module, timer=timer)
                    if not math.isfinite(loss.item()):
                        raise self._non_finite('loss', loss, losses)
                    if not self._storage.ready:  # after the first review
                        self._prepare_storage(resume)
                    precision.backward(loss)
                timer.lap('backward')
                passes.append((loss.detach(), losses, review.get('scalars')))
                examples_in_epoch += 1
                self.epoch_position += 1
                if len(passes) == k:
                    if self._step(passes, review, post_step, grad_norm):
                        return
                    passes = []
                timer.restart()
            if passes:  # an incomplete virtual minibatch ends the epoch
                parallel.average_gradients()  # its passes were all local
                if self._step(passes, review, post_step, grad_norm):
                    return
            if examples_in_epoch == 0 and self.epoch_position == 0:
                raise self._no_examples(train_iterable)
            self.epoch += 1
            self.epoch_position = 0
            for hook in post_epoch:
                hook.post_epoch(self)
            if self._stopping() or self.stop_trigger.reached(
                    self.iteration, self.epoch):
                return

    def _step(self, passes, review, post_step, grad_norm_hooks) -> bool:
        """The optimizer step after ``len(passes)`` backward passes; returns
        whether training stops now."""
        optimizer, precision = self.optimizer, self.precision
        precision.unscale(optimizer)
        if len(passes) > 1:  # average the gradients of the passes
            optimizer.scale_grad(1. / len(passes))
        grad_norm = None
        if (optimizer.gradient_clipping is not None or precision.needs_grad_norm
                or any(h.needs_grad_norm(self) for h in grad_norm_hooks)):
            grad_norm = optimizer.clip_grad()
            if not precision.needs_grad_norm and not math.isfinite(
                    grad_norm.item()):
                optimizer.zero_grad()
                raise self._non_finite('gradient norm', grad_norm, None)
        grad_norm = precision.step(optimizer, grad_norm, self.iteration)
        optimizer.zero_grad()
        self.iteration += 1
        self.timer.lap('optimizer')
        step = step_record(passes, review, grad_norm)
        for hook in post_step:
            hook.post_step(self, step)
        return self._stopping() or (
            self.stop_trigger.unit == 'iteration'
            and self.stop_trigger.reached(self.iteration, 0))

    def _stopping(self) -> bool:
        """A hook asked to stop, or a signal stops training now."""
        return (self._stop_reason is not None
                or self.parallel.stop_on_signal(self.signals))

    def _prepare_storage(self, resume):
        main = self.is_main_process
        self._storage.prepare(self.describe() if main else None, resume,
                              self.iteration, self.world_size, write=main)

    def _non_finite(self, what, value, losses):
        if what == 'loss':
            return NonFiniteLossError(
                f'Non-finite loss {value.item()} at iteration '
                f'{self.iteration} (epoch {self.epoch}): '
                f'{_format_losses(losses)}. No step was taken with it; the '
                f'last checkpoint is intact.')
        return NonFiniteLossError(
            f'Non-finite gradient norm {value.item()} at iteration '
            f'{self.iteration} (epoch {self.epoch}) with a finite loss. No '
            f'step was taken; the last checkpoint is intact.')

    def _no_examples(self, train_iterable):
        used_up = self.epoch > 0 and iter(train_iterable) is train_iterable
        return ValueError(
            f'train_iterable yielded no examples in epoch {self.epoch + 1}'
            + (f' on at least one of the {self.world_size} ranks'
               if self.world_size > 1 else '')
            + (' (it is an iterator, e.g. a generator, that the previous '
               'epoch used up; pass a list, a DataLoader or a lazy_dataset)'
               if used_up else '') + '.')

    # ------------------------------------------------------------------

    def test_run(self, train_iterable, validation_iterable, device=None,
                 num_steps=2):
        """Check the model before a long run; see
        :func:`~padertorch_audio.train.test_run.test_run`."""
        return test_run(self, train_iterable, validation_iterable,
                        device=device, num_steps=num_steps)


class _NullWriter:
    """Stands in for the SummaryWriter on ranks other than 0."""

    def __getattr__(self, name):
        return _do_nothing


def _do_nothing(*args, **kwargs):
    pass


def _model_config(model):
    """The model's recorded config, or only its factory (with a warning)
    when it cannot be described by JSON."""
    try:
        config = model.config
        json.dumps(config)
        return config
    except (AttributeError, ConfigError, TypeError, ValueError) as error:
        log.warning('config.json records only the factory of the model: '
                    '%s', error)
        return {'factory': factory_to_str(type(model))}


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
