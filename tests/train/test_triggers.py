"""Triggers: when hooks act, and when training stops."""
import pytest
import torch

import padertorch_audio as pa
from tests.train.models import Regression
from padertorch_audio.train import Trigger, TriggeredHook
from padertorch_audio.train import optimizer as optimizers


def test_an_iteration_trigger_fires_after_every_nth_step_only():
    trigger = Trigger.new((3, 'iteration'))
    assert [i for i in range(1, 11) if trigger.fires_after_step(i)] == [3, 6, 9]
    assert not any(trigger.fires_after_epoch(e) for e in range(1, 11))


def test_an_epoch_trigger_fires_after_every_nth_epoch_only():
    trigger = Trigger.new((2, 'epoch'))
    assert [e for e in range(1, 8) if trigger.fires_after_epoch(e)] == [2, 4, 6]
    assert not any(trigger.fires_after_step(i) for i in range(1, 11))


def test_reached_counts_the_unit_of_the_trigger():
    by_iteration, by_epoch = Trigger(100, 'iteration'), Trigger(2, 'epoch')
    assert not by_iteration.reached(iteration=99, epoch=50)
    assert by_iteration.reached(iteration=100, epoch=0)
    assert by_iteration.reached(iteration=101, epoch=0)
    assert not by_epoch.reached(iteration=1000, epoch=1)
    assert by_epoch.reached(iteration=0, epoch=2)


@pytest.mark.parametrize('unit, expected', [
    ('iteration', 'iteration'), ('iterations', 'iteration'), ('it', 'iteration'),
    ('epoch', 'epoch'), ('epochs', 'epoch')])
def test_unit_aliases(unit, expected):
    assert Trigger.new((5, unit)).unit == expected


def test_new_accepts_a_trigger_a_tuple_or_a_list():
    trigger = Trigger(4, 'epoch')
    assert Trigger.new(trigger) is trigger
    assert Trigger.new([4, 'epoch']).to_config() == [4, 'epoch']
    assert repr(Trigger.new((4, 'it'))) == "Trigger(4, 'iteration')"


@pytest.mark.parametrize('spec, fragment', [
    ((0, 'epoch'), 'positive int, got 0'),
    ((1, 'day'), "got 'day'"),
    ((True, 'epoch'), 'positive int, got True'),
    ((2.0, 'epoch'), 'positive int, got 2.0'),
    ((1,), '(period, unit) pair'),
    (10, '(period, unit) pair'),
])
def test_bad_triggers_raise_value_errors(spec, fragment):
    with pytest.raises(ValueError) as error:
        Trigger.new(spec)
    assert fragment in str(error.value)


# ---------------------------------------------------------------------------
# triggers in the Trainer


def make_batches(n):
    generator = torch.Generator().manual_seed(0)
    return [{'x': torch.randn(2, 3, generator=generator),
             'y': torch.randn(2, 2, generator=generator)} for _ in range(n)]


def checkpoint_names(trainer):
    return sorted(path.name for path in trainer.checkpoint_dir.iterdir())


def test_an_iteration_stop_trigger_stops_in_the_middle_of_an_epoch(tmp_path):
    trainer = pa.Trainer(Regression(), tmp_path, optimizers.SGD(lr=0.1),
                         checkpoint_trigger=(2, 'iteration'),
                         stop_trigger=(5, 'iteration'), progress=False)
    trainer.train(make_batches(3), device='cpu')

    assert (trainer.iteration, trainer.epoch) == (5, 1)
    # every 2 iterations, and the last one when training ends
    assert checkpoint_names(trainer) == [
        'ckpt_2.pth', 'ckpt_4.pth', 'ckpt_5.pth', 'ckpt_latest.pth']


def test_an_epoch_checkpoint_trigger_counts_epochs(tmp_path):
    trainer = pa.Trainer(Regression(), tmp_path, optimizers.SGD(lr=0.1),
                         checkpoint_trigger=(2, 'epoch'),
                         stop_trigger=(5, 'epoch'), progress=False)
    trainer.train(make_batches(3), device='cpu')

    assert (trainer.iteration, trainer.epoch) == (15, 5)
    assert checkpoint_names(trainer) == [
        'ckpt_12.pth', 'ckpt_15.pth', 'ckpt_6.pth', 'ckpt_latest.pth']


def test_a_resumed_run_counts_the_stop_trigger_from_the_start(tmp_path):
    pa.Trainer(Regression(), tmp_path, optimizers.SGD(lr=0.1),
               stop_trigger=(2, 'epoch'), progress=False).train(
        make_batches(3), device='cpu')
    trainer = pa.Trainer(Regression(), tmp_path, optimizers.SGD(lr=0.1),
                         stop_trigger=(3, 'epoch'), progress=False)
    trainer.train(make_batches(3), device='cpu', resume=True)

    assert (trainer.iteration, trainer.epoch) == (9, 3)


class FireLog(TriggeredHook):
    """Logs the iteration of every fire."""

    def __init__(self, trigger, name):
        super().__init__(trigger)
        self.name = name
        self.fired = []

    def fire(self, trainer):
        self.fired.append((trainer.iteration, trainer.epoch))


def test_a_triggered_hook_fires_at_its_trigger(tmp_path):
    trainer = pa.Trainer(Regression(), tmp_path, optimizers.SGD(lr=0.1),
                         stop_trigger=(2, 'epoch'), progress=False)
    every_2_steps = trainer.register_hook(FireLog((2, 'iteration'), 'steps'))
    every_epoch = trainer.register_hook(FireLog((1, 'epoch'), 'epochs'))
    trainer.train(make_batches(3), device='cpu')

    assert every_2_steps.fired == [(2, 0), (4, 1), (6, 1)]
    assert every_epoch.fired == [(3, 1), (6, 2)]
