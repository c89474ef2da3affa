"""No checkpoint ever holds a non-finite parameter.

A step can make the parameters non-finite although its loss was finite: a
NaN gradient on a step whose gradient norm is not computed (no clipping,
not every ``grad_norm_interval``), or an update (a huge learning rate times
a large, finite gradient) that overflows float32. The checkpoint written after such a step must
not be written; the checkpoints before it stay byte-equal.
"""
import functools
import math

import pytest
import torch
from paderbox.utils.nested import flatten

import padertorch_audio as pa
from padertorch_audio.train import NonFiniteLossError
from tests.train.models import Regression
from tests.train.test_bad_input import NanGradient, make_batches


def exploding_lr(iteration):
    """lr 1e36 (a float32) from the 3rd step on."""
    return 1e37 if iteration >= 2 else 1.


def make_trainer(storage_dir, stop_trigger, bad_step):
    """SGD without clipping, a checkpoint every step; the step of iteration
    2 makes the parameters non-finite with a finite loss."""
    torch.manual_seed(0)
    model = NanGradient() if bad_step == 'nan gradient' else Regression()
    trainer = pa.Trainer(model, storage_dir, pa.optimizer.SGD(lr=0.1),
                         checkpoint_trigger=(1, 'iteration'),
                         stop_trigger=stop_trigger, progress=False)
    if bad_step == 'overflowing update':
        trainer.register_lr_scheduler(functools.partial(
            torch.optim.lr_scheduler.LambdaLR, lr_lambda=exploding_lr),
            interval='iteration')
    return trainer


def checkpoint_files(directory):
    """{name: bytes or link target} of everything in the checkpoint dir."""
    return {path.name: (('link', str(path.readlink())) if path.is_symlink()
                        else path.read_bytes())
            for path in sorted(directory.iterdir())}


@pytest.mark.parametrize('bad_step', ['nan gradient', 'overflowing update'])
def test_non_finite_parameters_are_never_written_into_a_checkpoint(
        tmp_path, bad_step):
    data = make_batches(4)
    data[2]['nan_grad'] = True  # read by NanGradient only
    if bad_step == 'overflowing update':  # gradients ~1e8, lr 1e36
        data[2]['x'] = data[2]['x'] * 1e4
    make_trainer(tmp_path, (2, 'iteration'), bad_step).train(
        data, device='cpu')
    directory = tmp_path / 'checkpoints'
    before = checkpoint_files(directory)
    assert {'ckpt_1.pth', 'ckpt_2.pth', 'ckpt_latest.pth'} <= set(before)

    trainer = make_trainer(tmp_path, (2, 'epoch'), bad_step)
    with pytest.raises(NonFiniteLossError, match='iteration'):
        trainer.train(data, resume=True, device='cpu')

    # No checkpoint holds non-finite values; the earlier ones are untouched.
    assert checkpoint_files(directory) == before
    for path in directory.glob('*.pth'):
        state = torch.load(path, weights_only=True)
        optimizer_state = flatten(state['optimizer']['state'], sep=None)
        for name, value in [*state['model'].items(), *optimizer_state.items()]:
            if isinstance(value, torch.Tensor):
                assert torch.isfinite(value).all(), (path.name, name)
        assert math.isfinite(state['optimizer']['param_groups'][0]['lr'])
