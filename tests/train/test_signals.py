"""SIGTERM / SIGINT: write a checkpoint, exit, and resume to the same result.

The training runs in a child process that sends the signal to itself from a
hook at a chosen iteration (deterministic, no sleeps).
"""
import functools
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import padertorch_audio as pa
from tests.train import models

REPOSITORY = Path(__file__).resolve().parents[2]
ITERATIONS_PER_EPOCH = 4
EPOCHS = 3


class Regression(models.Regression):
    def __init__(self):
        super().__init__(num_features=4, num_outputs=1)


class SignalAtIteration(pa.Hook):
    """Sends ``signum`` to its own process after step ``iteration``."""

    def __init__(self, iteration, signum):
        self.iteration, self.signum = iteration, signum

    def post_step(self, trainer, step):
        if trainer.iteration == self.iteration:
            os.kill(os.getpid(), self.signum)


def batches(n, seed):
    generator = torch.Generator().manual_seed(seed)
    return [{'x': torch.randn(4, 4, generator=generator),
             'y': torch.randn(4, 1, generator=generator)} for _ in range(n)]


def build_trainer(storage_dir):
    """The same run in the child and in the test process (a plain list, no dropout)."""
    torch.manual_seed(0)
    trainer = pa.Trainer(
        Regression(), storage_dir, pa.optimizer.Adam(lr=0.05, gradient_clipping=1.),
        stop_trigger=(EPOCHS, 'epoch'), progress=False)
    trainer.register_validation_hook(batches(1, seed=2))
    trainer.register_lr_scheduler(functools.partial(
        torch.optim.lr_scheduler.StepLR, step_size=1, gamma=0.5), interval='epoch')
    return trainer


def train_until_signal(storage_dir, iteration, signum):
    """Run in the child process."""
    trainer = build_trainer(storage_dir)
    trainer.register_hook(SignalAtIteration(iteration, signum))
    trainer.train(batches(ITERATIONS_PER_EPOCH, seed=1), device='cpu')


def run_child(storage_dir, iteration, signum):
    script = (f'import sys; sys.path.insert(0, {str(REPOSITORY)!r}); '
              f'from tests.train.test_signals import train_until_signal; '
              f'train_until_signal({str(storage_dir)!r}, {iteration}, {int(signum)})')
    child = subprocess.Popen([sys.executable, '-c', script], cwd=REPOSITORY,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout, stderr = child.communicate(timeout=120)
    return child.returncode, stderr


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory):
    trainer = build_trainer(tmp_path_factory.mktemp('uninterrupted'))
    trainer.train(batches(ITERATIONS_PER_EPOCH, seed=1), device='cpu')
    assert (trainer.iteration, trainer.epoch) == (12, 3)
    return trainer


def resume_and_compare(storage_dir, reference):
    resumed = build_trainer(storage_dir)
    resumed.train(batches(ITERATIONS_PER_EPOCH, seed=1), resume=True, device='cpu')
    assert (resumed.iteration, resumed.epoch) == (reference.iteration, reference.epoch)
    assert resumed.optimizer.lr == reference.optimizer.lr
    for name, value in reference.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[name], value), name


@pytest.mark.parametrize('iteration', [6, 8])  # inside epoch 2 / its last step
def test_sigterm_checkpoints_exits_143_and_resumes_exactly(tmp_path, uninterrupted, iteration):
    returncode, stderr = run_child(tmp_path, iteration, signal.SIGTERM)

    assert returncode == 128 + signal.SIGTERM, stderr
    state = torch.load(tmp_path / 'checkpoints' / 'ckpt_latest.pth', weights_only=True)
    assert state['iteration'] == iteration
    assert state['epoch'] * ITERATIONS_PER_EPOCH + state['epoch_position'] == iteration
    if iteration == 6:
        assert (state['epoch'], state['epoch_position']) == (1, 2)
    assert (tmp_path / 'checkpoints' / f'ckpt_{iteration}.pth').is_file()
    resume_and_compare(tmp_path, uninterrupted)


def test_sigint_checkpoints_raises_keyboard_interrupt_and_resumes_exactly(
        tmp_path, uninterrupted):
    returncode, stderr = run_child(tmp_path, 5, signal.SIGINT)

    assert returncode != 0 and 'KeyboardInterrupt' in stderr, stderr
    assert 'resume=True' in stderr  # the message says how to continue
    state = torch.load(tmp_path / 'checkpoints' / 'ckpt_latest.pth', weights_only=True)
    assert (state['iteration'], state['epoch'], state['epoch_position']) == (5, 1, 1)
    resume_and_compare(tmp_path, uninterrupted)


def test_signal_handlers_are_restored_after_training(tmp_path):
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    build_trainer(tmp_path).train(batches(2, seed=1), device='cpu')
    assert {sig: signal.getsignal(sig) for sig in before} == before
