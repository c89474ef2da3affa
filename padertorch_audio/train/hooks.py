"""Hooks: everything around the training loop.

A hook is called by the :class:`~padertorch_audio.Trainer` at fixed points::

    pre_train                     once, after a resume has been loaded
    for each epoch:
        for each step:
            pre_step              before the first forward pass of a step
            post_step             after the optimizer step (trainer.iteration
                                  already counts it)
        post_epoch                after the last step of an epoch
                                  (trainer.epoch already counts it)
    post_train                    when training stops normally
    close                         always, also after an error

Hooks run in the order of their ``priority`` (lower first). The built-in
hooks use: summary 0, lr scheduler 85 (after validation, for
ReduceLROnPlateau), validation 80, checkpoint 90, progress 100; user hooks
default to 50, so their state is in the checkpoint written at the same
trigger. ``state_dict`` / ``load_state_dict`` store a hook's state in every
checkpoint (plain Python values and tensors only), under ``hook.name``.

In a distributed run every rank calls every hook (the checkpoint holds rank
0's hook states); ``trainer.writer`` writes nothing on the other ranks, and
``trainer.is_main_process`` tells a hook whether to write files.

A user hook, e.g. one that logs the weight norm every 100 iterations::

    class WeightNormHook(padertorch_audio.Hook):
        def __init__(self):
            self.trigger = Trigger.new((100, 'iteration'))

        def post_step(self, trainer, step):
            if self.trigger.fires_after_step(trainer.iteration):
                norm = sum(p.norm() ** 2 for p in trainer.model.parameters())
                trainer.writer.add_scalar('weight_norm', norm ** 0.5,
                                          trainer.iteration)

    trainer.register_hook(WeightNormHook())

``step`` (given to ``post_step``) is a dict with ``'loss'`` (the combined
loss, detached), ``'losses'`` (``{name: detached loss}`` or None), ``'review'`` (the
last review dict of the step), ``'scalars'`` (the review scalars of every
forward pass of the step) and ``'grad_norm'`` (before clipping). The
gradient norm costs time, so it is only computed when the optimizer clips
gradients, for fp16, or when a hook's ``needs_grad_norm(trainer)`` says
that the coming step's ``post_step`` uses it (the summary hook asks for it
every ``Trainer.grad_norm_interval`` iterations and before its
iteration-triggered summaries); on other steps it is None.
``trainer.timings`` holds the seconds spent in each part of the steps
(data, to_device, forward, review, backward, optimizer) since training
started.
"""
import logging
import math
import sys
import time

import numpy as np
import torch

from padertorch_audio.io import dump_json
from padertorch_audio.train import checkpoint as ckpt
from padertorch_audio.train import distributed
from padertorch_audio.train.review import forward_review
from padertorch_audio.train.triggers import Trigger

__all__ = [
    'Hook', 'TriggeredHook', 'SummaryHook', 'ValidationHook',
    'CheckpointHook', 'LRSchedulerHook', 'ProgressHook', 'acts_on',
    'step_record',
]

# A child of the Trainer's logger: whoever configures that one gets the
# messages of the run from here too.
log = logging.getLogger('padertorch_audio.train.trainer.hooks')


class Hook:
    """Base class; override the methods you need (see the module doc)."""
    priority = 50
    #: Key of the hook's state in the checkpoint (default: the class name).
    name = None

    def pre_train(self, trainer):
        pass

    def pre_step(self, trainer):
        pass

    def post_step(self, trainer, step: dict):
        pass

    def post_epoch(self, trainer):
        pass

    def post_train(self, trainer):
        pass

    def close(self, trainer):
        pass

    def needs_grad_norm(self, trainer) -> bool:
        """Whether ``post_step`` of the coming step (the one after
        ``trainer.iteration`` steps) uses ``step['grad_norm']``."""
        return False

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict):
        pass


class TriggeredHook(Hook):
    """A hook that calls ``fire(trainer)`` whenever its trigger fires."""

    def __init__(self, trigger):
        self.trigger = Trigger.new(trigger)

    def fire(self, trainer):
        raise NotImplementedError

    def post_step(self, trainer, step):
        if self.trigger.fires_after_step(trainer.iteration):
            self.fire(trainer)

    def post_epoch(self, trainer):
        if self.trigger.fires_after_epoch(trainer.epoch):
            self.fire(trainer)


def acts_on(hook, method) -> bool:
    """Whether calling ``hook.<method>`` can do anything (the training loop
    calls only those hooks)."""
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


def step_record(passes, review, grad_norm):
    """The ``step`` dict for ``post_step`` (see the module doc) of the
    passes ``(detached loss, losses, scalars)`` of one step; the loss and
    the losses are averaged over the passes."""
    if len(passes) == 1:
        loss, losses, _ = passes[0]
        if losses is not None and len(losses) > 1:
            losses = {n: v.detach() for n, v in losses.items()}
    else:
        loss = torch.stack([p[0] for p in passes]).mean()
        losses = passes[0][1]
        if losses is not None:
            losses = {name: torch.stack([p[1][name].detach()
                                         for p in passes]).mean()
                      for name in losses}
    return {'loss': loss, 'losses': losses, 'review': review,
            'grad_norm': grad_norm,
            'scalars': [p[2] for p in passes if p[2]]}


def _mean(values):
    if isinstance(values[0], torch.Tensor):
        return torch.stack([v.float() for v in values]).mean().item()
    return float(np.mean(values))


def _merge_over_ranks(trainer, sums, count):
    """``(sums, count)`` of all ranks added up (a distributed run)."""
    if trainer.world_size == 1:
        return sums, count
    total, total_count = {}, 0
    for rank_sums, rank_count in distributed.all_gather((sums, count)):
        for name, value in rank_sums.items():
            total[name] = total.get(name, 0.) + value
        total_count += rank_count
    return total, total_count


def _scalar(value):
    if isinstance(value, torch.Tensor):
        return value.detach()
    return value


def write_summary(writer, summary: dict, iteration: int, prefix: str):
    """Write a summary dict (review keys, scalars averaged) to tensorboard."""
    for name, value in summary.get('scalars', {}).items():
        writer.add_scalar(f'{prefix}/{name}', value, iteration)
    for name, value in summary.get('histograms', {}).items():
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().float().numpy()
        writer.add_histogram(f'{prefix}/{name}', np.asarray(value), iteration)
    for name, value in summary.get('images', {}).items():
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu()
            if value.dtype != torch.uint8:  # uint8 images are not rescaled
                value = value.float()
            value = value.numpy()
        value = np.asarray(value)
        dataformats = 'HW' if value.ndim == 2 else 'CHW'
        writer.add_image(f'{prefix}/{name}', value, iteration,
                         dataformats=dataformats)
    for name, value in summary.get('audios', {}).items():
        sample_rate = 16000
        if isinstance(value, (tuple, list)):
            value, sample_rate = value
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().float().numpy()
        value = np.asarray(value, dtype=np.float32).reshape(-1)
        peak = np.max(np.abs(value)) if value.size else 0.
        if peak > 1:
            value = value / peak
        writer.add_audio(f'{prefix}/{name}', value, iteration,
                         sample_rate=int(sample_rate))
    for name, figure in summary.get('figures', {}).items():
        writer.add_figure(f'{prefix}/{name}', figure, iteration)
    for name, text in summary.get('texts', {}).items():
        writer.add_text(f'{prefix}/{name}', str(text), iteration)


class SummaryHook(TriggeredHook):
    """Training summaries in tensorboard (``training/...``).

    Scalars (loss, losses, review scalars, gradient norm) are averaged over
    the summary interval; the time split per step is written in
    milliseconds (``training_timings/...``); the learning rate is the one at
    the summary; images, audios, histograms, figures and texts come from the
    interval's last review.
    """
    priority = 0

    def __init__(self, trigger):
        super().__init__(trigger)
        self.reset()
        self.timings, self.start_iteration = {}, 0

    def reset(self, trainer=None):
        self.scalars = {'loss': [], 'grad_norm': []}
        self.last_review = None
        if trainer is not None:
            self.timings = dict(trainer.timings)
            self.start_iteration = trainer.iteration

    def pre_train(self, trainer):
        self.reset(trainer)

    def needs_grad_norm(self, trainer):
        iteration = trainer.iteration
        return (iteration % trainer.grad_norm_interval == 0
                or (self.trigger.unit == 'iteration'
                    and (iteration + 1) % self.trigger.period == 0))

    def post_step(self, trainer, step):
        scalars = self.scalars
        scalars['loss'].append(step['loss'])
        if step['grad_norm'] is not None:
            scalars['grad_norm'].append(step['grad_norm'])
        losses = step['losses']
        if losses is not None and len(losses) > 1:
            for name, value in losses.items():
                scalars.setdefault(f'losses/{name}', []).append(value)
        for pass_scalars in step['scalars']:  # one dict per forward pass
            for name, value in pass_scalars.items():
                scalars.setdefault(name, []).append(_scalar(value))
        self.last_review = step['review']
        if self.trigger.fires_after_step(trainer.iteration):
            self.fire(trainer)

    def fire(self, trainer):
        steps = trainer.iteration - self.start_iteration
        if not steps or self.last_review is None:
            return
        summary = {
            key: self.last_review[key]
            for key in ('histograms', 'images', 'audios', 'figures', 'texts')
            if key in self.last_review
        }
        summary['scalars'] = self._scalar_means(trainer)
        summary['scalars']['lr'] = trainer.optimizer.lr
        if trainer.mixed_precision == 'fp16':
            summary['scalars']['skipped_steps'] = trainer.skipped_steps
        if not trainer.is_main_process:
            self.reset(trainer)
            return
        summary = trainer.model.modify_summary(summary)
        writer = trainer.writer
        write_summary(writer, summary, trainer.iteration, 'training')
        for name, seconds in trainer.timings.items():
            writer.add_scalar(
                f'training_timings/{name}_ms',
                1000 * (seconds - self.timings.get(name, 0.)) / steps,
                trainer.iteration)
        self.reset(trainer)

    def _scalar_means(self, trainer):
        """The interval's mean of every scalar (over all ranks)."""
        if trainer.world_size == 1:
            return {name: _mean(values)
                    for name, values in self.scalars.items() if values}
        sums = {name: _mean(values) * len(values)
                for name, values in self.scalars.items() if values}
        counts = {name: len(values) for name, values in self.scalars.items()
                  if values}
        totals, numbers = {}, {}
        for rank_sums, rank_counts in distributed.all_gather((sums, counts)):
            for name, value in rank_sums.items():
                totals[name] = totals.get(name, 0.) + value
                numbers[name] = numbers.get(name, 0) + rank_counts[name]
        return {name: totals[name] / numbers[name] for name in totals}

    def post_train(self, trainer):
        self.fire(trainer)

    def close(self, trainer):
        self.reset()


class ValidationHook(TriggeredHook):
    """Validation, checkpoint ranking, backoff and early stopping.

    Runs at the checkpoint trigger, before the checkpoint is written. The
    metric is ``'loss'`` (the combined loss), a name in the review's
    ``'losses'`` or ``'scalars'``, averaged over the validation batches.
    See :meth:`padertorch_audio.Trainer.register_validation_hook`.
    """
    priority = 80

    def __init__(self, iterable, trigger, metric='loss', maximize=False,
                 max_checkpoints=1, early_stopping_patience=None,
                 n_back_off=0, back_off_patience=None, lr_update_factor=0.1):
        super().__init__(trigger)
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
        if back_off_patience is None:
            back_off_patience = early_stopping_patience
        if n_back_off and not back_off_patience:
            raise ValueError(
                'n_back_off > 0 needs back_off_patience (or '
                'early_stopping_patience) to know when to back off.')
        if max_checkpoints is not None and max_checkpoints < 1:
            raise ValueError(
                f'max_checkpoints must be >= 1 or None, got {max_checkpoints}.')
        self.iterable = iterable
        self.metric = metric
        self.maximize = maximize
        self.max_checkpoints = max_checkpoints
        self.early_stopping_patience = early_stopping_patience
        self.n_back_off = n_back_off
        self.back_off_patience = back_off_patience
        self.lr_update_factor = lr_update_factor
        self.ranking = []          # [{'iteration': int, 'value': float}]
        self.best_iteration = None
        self.best_value = None
        self.n_bad = 0             # validations since the last improvement
        self.n_back_offs_done = 0
        self.pending_back_off = False
        self.last_value = None

    def state_dict(self):
        return {
            'ranking': [dict(entry) for entry in self.ranking],
            'best_iteration': self.best_iteration,
            'best_value': self.best_value,
            'n_bad': self.n_bad,
            'n_back_offs_done': self.n_back_offs_done,
            'pending_back_off': self.pending_back_off,
            'last_value': self.last_value,
        }

    def load_state_dict(self, state):
        self.ranking = [dict(entry) for entry in state['ranking']]
        self.best_iteration = state['best_iteration']
        self.best_value = state['best_value']
        self.n_bad = state['n_bad']
        self.n_back_offs_done = state['n_back_offs_done']
        self.pending_back_off = state['pending_back_off']
        self.last_value = state['last_value']

    def is_better(self, value, reference):
        if not math.isfinite(value):
            return False
        if reference is None:
            return True
        return value > reference if self.maximize else value < reference

    def _shard(self, trainer):
        """This rank's validation batches: every ``world_size``-th one."""
        if trainer.world_size == 1:
            return self.iterable
        if getattr(self, '_sharded', (None,))[0] is not self.iterable:
            self._sharded = (self.iterable,
                             distributed.shard(self.iterable, even=False))
        return self._sharded[1]

    def validate(self, trainer) -> dict:
        """Average the review scalars over the validation iterable.

        In a distributed run each rank validates every ``world_size``-th
        batch and the sums are added up over the ranks, so that all of them
        get the values one process would compute.
        """
        model = trainer.model
        was_training = model.training
        model.eval()
        sums, count, last_review = {}, 0, None
        try:
            with torch.no_grad():
                for example in self._shard(trainer):
                    example = model.example_to_device(example, trainer.device)
                    loss, losses, review = forward_review(
                        model, example, trainer.precision,
                        trainer.loss_weights, 'validation')
                    values = {'loss': loss}
                    if losses is not None and len(losses) > 1:
                        values.update(
                            {f'losses/{k}': v for k, v in losses.items()})
                    values.update(review.get('scalars', {}))
                    for name, value in values.items():
                        value = float(value)
                        sums[name] = sums.get(name, 0.) + value
                    count += 1
                    last_review = review
        finally:
            model.train(was_training)
        sums, count = _merge_over_ranks(trainer, sums, count)
        if count == 0:
            raise ValueError(
                'The validation iterable yielded no examples (is it a '
                'generator that was used up? Pass a list, a DataLoader or a '
                'lazy_dataset, which can be iterated again).')
        scalars = {name: total / count for name, total in sums.items()}
        summary = {
            key: last_review[key]
            for key in ('histograms', 'images', 'audios', 'figures', 'texts')
            if last_review is not None and key in last_review
        }
        summary['scalars'] = scalars
        return summary

    def metric_value(self, scalars):
        for name in (self.metric, f'losses/{self.metric}'):
            if name in scalars:
                return scalars[name]
        raise KeyError(
            f'Validation metric {self.metric!r} is not in the review: '
            f'available are {", ".join(sorted(scalars))}.')

    def fire(self, trainer):
        summary = self.validate(trainer)
        value = self.metric_value(summary['scalars'])
        if trainer.is_main_process:
            summary = trainer.model.modify_summary(summary)
            write_summary(trainer.writer, summary, trainer.iteration,
                          'validation')
        self.record(trainer, value)

    def record(self, trainer, value):
        """Rank a validation result; decide backoff and early stopping."""
        self.last_value = value
        self.ranking.append({'iteration': trainer.iteration, 'value': value})
        if self.is_better(value, self.best_value):
            self.best_iteration, self.best_value = trainer.iteration, value
            self.n_bad = 0
            return
        self.n_bad += 1
        if (self.n_back_offs_done < self.n_back_off
                and self.n_bad >= self.back_off_patience):
            self.n_back_offs_done += 1
            self.n_bad = 0
            # Done before the next step, after the checkpoint of this
            # validation has been written: a resume repeats it exactly.
            self.pending_back_off = True
        elif (self.early_stopping_patience is not None
              and self.n_back_offs_done >= self.n_back_off
              and self.n_bad >= self.early_stopping_patience):
            trainer.request_stop(
                f'early stopping: no improvement of validation '
                f'{self.metric} in {self.n_bad} validations (best '
                f'{self.best_value:.6g} at iteration {self.best_iteration})')

    def pre_step(self, trainer):
        if self.pending_back_off:
            self.pending_back_off = False
            self.back_off(trainer)

    def back_off(self, trainer):
        """Reload model and optimizer from the best checkpoint; multiply the
        learning rate (and a schedule's base rates) by ``lr_update_factor``.
        """
        path = ckpt.checkpoint_path(trainer.checkpoint_dir,
                                    self.best_iteration)
        optimizer = trainer.optimizer
        lrs = [group['lr'] for group in optimizer.optimizer.param_groups]
        state = trainer.parallel.on_main(ckpt.load_checkpoint, path)
        trainer.model.load_state_dict(state['model'])
        optimizer.load_state_dict(state['optimizer'])
        for group, lr in zip(optimizer.optimizer.param_groups, lrs):
            group['lr'] = lr * self.lr_update_factor
        if trainer.lr_scheduler_hook is not None:
            trainer.lr_scheduler_hook.scale_base_lrs(self.lr_update_factor)
        log.info('Back-off at iteration %d: reloaded %s, lr x %g',
                 trainer.iteration, path, self.lr_update_factor)

    def post_train(self, trainer):
        if not self.ranking or self.ranking[-1]['iteration'] != trainer.iteration:
            self.fire(trainer)

    def best_checkpoint_name(self):
        return f'ckpt_best_{self.metric.replace("/", "_")}.pth'


class CheckpointHook(TriggeredHook):
    """Writes ``ckpt_<iteration>.pth``, the latest/best links, the ranking.

    Keeps the newest ``max_checkpoints`` checkpoints and the best one
    (``None`` keeps all). Never writes non-finite parameters.
    """
    priority = 90

    def __init__(self, trigger, max_checkpoints=None):
        super().__init__(trigger)
        self.max_checkpoints = max_checkpoints
        self.last_saved_iteration = None

    def fire(self, trainer):
        self.save(trainer)

    def save(self, trainer):
        directory = trainer.checkpoint_dir
        path = ckpt.checkpoint_path(directory, trainer.iteration)
        trainer.save_checkpoint(path)  # every rank: it gathers their states
        self.last_saved_iteration = trainer.iteration
        if not trainer.is_main_process:
            return
        ckpt.write_link(directory / 'ckpt_latest.pth', path)
        validation = trainer.validation_hook
        keep = set()
        if validation is not None and validation.best_iteration is not None:
            best = ckpt.checkpoint_path(directory, validation.best_iteration)
            if best.exists():
                ckpt.write_link(
                    directory / validation.best_checkpoint_name(), best)
                keep.add(validation.best_iteration)
            dump_json({
                'metric': validation.metric,
                'maximize': validation.maximize,
                'best_iteration': validation.best_iteration,
                'best_value': validation.best_value,
                'checkpoints': [
                    {**entry, 'file': f'ckpt_{entry["iteration"]}.pth'}
                    for entry in validation.ranking
                ],
            }, directory / 'ckpt_ranking.json')
        if self.max_checkpoints is not None:
            existing = ckpt.list_checkpoints(directory)
            keep.update(list(existing)[-self.max_checkpoints:])
            for iteration, old in existing.items():
                if iteration not in keep:
                    old.unlink()

    def post_train(self, trainer):
        if self.last_saved_iteration != trainer.iteration:
            self.save(trainer)


class LRSchedulerHook(Hook):
    """Steps a ``torch.optim.lr_scheduler`` per iteration or per epoch.

    ``ReduceLROnPlateau`` gets the last validation value (it then needs a
    validation hook and steps at the validation trigger).
    """
    priority = 85

    def __init__(self, scheduler, interval='epoch', optimizer=None):
        if interval not in ('iteration', 'epoch'):
            raise ValueError(
                f"interval must be 'iteration' or 'epoch', got {interval!r}.")
        if optimizer is not None:  # the torch optimizer the trainer steps
            if callable(scheduler) and not hasattr(scheduler, 'state_dict'):
                scheduler = scheduler(optimizer)
            if getattr(scheduler, 'optimizer', None) is not optimizer:
                raise ValueError(
                    'The lr scheduler must be built on trainer.optimizer.'
                    'optimizer (the torch optimizer the trainer steps).')
        self.scheduler = scheduler
        self.interval = interval
        self.plateau = isinstance(
            scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
        self._last_stepped_value_iteration = None

    def _step(self, trainer):
        if not self.plateau:
            self.scheduler.step()
            return
        validation = trainer.validation_hook
        if validation is None:
            raise RuntimeError(
                'ReduceLROnPlateau needs a validation hook: call '
                'trainer.register_validation_hook(...) first.')
        if (validation.ranking and validation.ranking[-1]['iteration']
                == trainer.iteration
                and self._last_stepped_value_iteration != trainer.iteration):
            self._last_stepped_value_iteration = trainer.iteration
            self.scheduler.step(validation.last_value)

    def post_step(self, trainer, step):
        if self.interval == 'iteration' or self.plateau:
            self._step(trainer)

    def post_epoch(self, trainer):
        if self.interval == 'epoch' or self.plateau:
            self._step(trainer)

    def scale_base_lrs(self, factor):
        if hasattr(self.scheduler, 'base_lrs'):
            self.scheduler.base_lrs = [
                lr * factor for lr in self.scheduler.base_lrs]

    def state_dict(self):
        return {'scheduler': self.scheduler.state_dict(),
                'last': self._last_stepped_value_iteration}

    def load_state_dict(self, state):
        self.scheduler.load_state_dict(state['scheduler'])
        self._last_stepped_value_iteration = state['last']


class ProgressHook(Hook):
    """A tqdm progress bar with iteration, epoch, loss and it/s."""
    priority = 100

    def __init__(self, stop_trigger, file=None):
        self.stop_trigger = stop_trigger
        self.file = file
        self.bar = None
        self._last_postfix = 0.

    def pre_train(self, trainer):
        from tqdm import tqdm
        total = None
        if self.stop_trigger.unit == 'iteration':
            total = self.stop_trigger.period
        elif trainer.iterations_per_epoch is not None:
            total = self.stop_trigger.period * trainer.iterations_per_epoch
        self.bar = tqdm(total=total, initial=trainer.iteration, unit='it',
                        file=self.file or sys.stderr, dynamic_ncols=True,
                        desc='training')

    def post_step(self, trainer, step):
        self.bar.update()
        now = time.monotonic()
        if now - self._last_postfix > 0.5:
            self._last_postfix = now
            self.bar.set_postfix(epoch=trainer.epoch,
                                 loss=f'{step["loss"].item():.4g}',
                                 refresh=False)

    def close(self, trainer):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
