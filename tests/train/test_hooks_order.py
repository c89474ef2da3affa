"""The order in which the Trainer calls its hooks, pinned by a recorded log."""
import pytest
import torch

import padertorch_audio as pa
from tests.train.models import Regression
from padertorch_audio.train import NonFiniteLossError
from padertorch_audio.train import optimizer as optimizers


class Recorder(pa.Hook):
    """Logs (method, trainer.iteration, trainer.epoch) of every call."""

    def __init__(self, log=None, name=None, priority=50):
        self.log = [] if log is None else log
        self.name = name
        self.priority = priority

    def _record(self, method, trainer):
        self.log.append((method, trainer.iteration, trainer.epoch))

    def pre_train(self, trainer):
        self._record('pre_train', trainer)

    def pre_step(self, trainer):
        self._record('pre_step', trainer)

    def post_step(self, trainer, step):
        self._record('post_step', trainer)

    def post_epoch(self, trainer):
        self._record('post_epoch', trainer)

    def post_train(self, trainer):
        self._record('post_train', trainer)

    def close(self, trainer):
        self._record('close', trainer)


class StepCounter(pa.Hook):
    """Counts post_step calls; the count is its checkpointed state."""

    def __init__(self, name=None):
        self.name = name
        self.count = 0
        self.count_at_pre_train = None

    def pre_train(self, trainer):
        self.count_at_pre_train = self.count

    def post_step(self, trainer, step):
        self.count += 1

    def state_dict(self):
        return {'count': self.count}

    def load_state_dict(self, state):
        self.count = state['count']


def make_batches(n, nan_at=None):
    generator = torch.Generator().manual_seed(0)
    batches = [{'x': torch.randn(2, 3, generator=generator),
                'y': torch.randn(2, 2, generator=generator)} for _ in range(n)]
    if nan_at is not None:
        batches[nan_at]['y'][0, 0] = float('nan')
    return batches


def trainer_for(storage_dir, **kwargs):
    return pa.Trainer(Regression(), storage_dir, optimizers.SGD(lr=0.1),
                      progress=False, **kwargs)


def test_hook_calls_over_two_epochs_of_three_examples(tmp_path):
    trainer = trainer_for(tmp_path, stop_trigger=(2, 'epoch'))
    recorder = trainer.register_hook(Recorder())
    trainer.train(make_batches(3), device='cpu')

    assert recorder.log == [
        ('pre_train', 0, 0),
        ('pre_step', 0, 0), ('post_step', 1, 0),
        ('pre_step', 1, 0), ('post_step', 2, 0),
        ('pre_step', 2, 0), ('post_step', 3, 0),
        ('post_epoch', 3, 1),
        ('pre_step', 3, 1), ('post_step', 4, 1),
        ('pre_step', 4, 1), ('post_step', 5, 1),
        ('pre_step', 5, 1), ('post_step', 6, 1),
        ('post_epoch', 6, 2),
        ('post_train', 6, 2),
        ('close', 6, 2),
    ]


def test_hook_calls_with_virtual_minibatches_and_an_iteration_stop(tmp_path):
    # 5 examples, 2 per step: steps on (0, 1), (2, 3), (4); stop after 4 steps.
    trainer = trainer_for(tmp_path, virtual_minibatch_size=2,
                          stop_trigger=(4, 'iteration'))
    recorder = trainer.register_hook(Recorder())
    trainer.train(make_batches(5), device='cpu')

    assert recorder.log == [
        ('pre_train', 0, 0),
        ('pre_step', 0, 0), ('post_step', 1, 0),
        ('pre_step', 1, 0), ('post_step', 2, 0),
        ('pre_step', 2, 0), ('post_step', 3, 0),
        ('post_epoch', 3, 1),
        ('pre_step', 3, 1), ('post_step', 4, 1),
        ('post_train', 4, 1),
        ('close', 4, 1),
    ]


def test_after_an_error_close_is_called_but_not_post_train(tmp_path):
    trainer = trainer_for(tmp_path)
    recorder = trainer.register_hook(Recorder())
    with pytest.raises(NonFiniteLossError):
        trainer.train(make_batches(3, nan_at=1), device='cpu')

    assert recorder.log == [
        ('pre_train', 0, 0),
        ('pre_step', 0, 0), ('post_step', 1, 0),
        ('pre_step', 1, 0),
        ('close', 1, 0),
    ]


def test_hooks_run_in_priority_order_lower_first(tmp_path):
    log = []
    trainer = trainer_for(tmp_path, stop_trigger=(1, 'iteration'))
    trainer.register_hook(Recorder(log, name='late', priority=70))
    trainer.register_hook(Recorder(log, name='early', priority=10))
    trainer.train(make_batches(2), device='cpu')

    names = [hook.name for hook in trainer.hooks if hook.name]
    assert names == ['early', 'late']
    # every call of 'early' comes right before the same call of 'late'
    assert log[0::2] == log[1::2]
    assert [method for method, _, _ in log[0::2]] == [
        'pre_train', 'pre_step', 'post_step', 'post_train', 'close']


def test_user_hooks_run_between_summary_and_checkpoint_hooks(tmp_path):
    trainer = trainer_for(tmp_path)
    trainer.register_hook(Recorder())
    kinds = [type(hook).__name__ for hook in trainer.hooks]
    assert kinds == ['SummaryHook', 'Recorder', 'CheckpointHook']


def test_two_hooks_with_the_same_name_are_rejected(tmp_path):
    trainer = trainer_for(tmp_path)
    trainer.register_hook(Recorder())
    with pytest.raises(ValueError, match="'Recorder'"):
        trainer.register_hook(Recorder())
    trainer.register_hook(Recorder(name='second'))


def test_user_hook_state_is_in_the_checkpoint_under_its_name(tmp_path):
    trainer = trainer_for(tmp_path, stop_trigger=(2, 'epoch'))
    trainer.register_hook(StepCounter())
    trainer.register_hook(StepCounter(name='named counter'))
    trainer.train(make_batches(3), device='cpu')

    for iteration in (3, 6):
        state = torch.load(tmp_path / 'checkpoints' / f'ckpt_{iteration}.pth',
                           weights_only=True)
        assert state['hooks']['StepCounter'] == {'count': iteration}
        assert state['hooks']['named counter'] == {'count': iteration}


def test_user_hook_state_is_restored_on_resume_before_pre_train(tmp_path):
    first = trainer_for(tmp_path, stop_trigger=(2, 'epoch'))
    first.register_hook(StepCounter())
    first.train(make_batches(3), device='cpu')

    resumed = trainer_for(tmp_path, stop_trigger=(3, 'epoch'))
    counter = resumed.register_hook(StepCounter())
    resumed.train(make_batches(3), device='cpu', resume=True)

    assert counter.count_at_pre_train == 6
    assert counter.count == 9
    assert (resumed.iteration, resumed.epoch) == (9, 3)


def test_register_hook_rejects_objects_that_are_no_hooks(tmp_path):
    trainer = trainer_for(tmp_path)
    with pytest.raises(TypeError, match='Hook'):
        trainer.register_hook(lambda trainer: None)
