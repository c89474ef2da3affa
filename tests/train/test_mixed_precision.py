"""Mixed precision: autocast, the fp16 GradScaler, skipped overflow steps.

The references are hand-written loops following torch's documented AMP
recipe (autocast around forward and loss, scaler.scale(loss).backward(),
scaler.step, scaler.update).
"""
import logging

import pytest
import torch

import padertorch_audio as pa
from padertorch_audio.summary.events import read_events_by_tag
from padertorch_audio.train import checkpoint as ckpt
from tests.train.models import Regression

DTYPES = {'bf16': torch.bfloat16, 'fp16': torch.float16}


class DtypeRecorder(Regression):
    """Records the dtype of the forward output."""

    def __init__(self):
        super().__init__()
        self.dtypes = set()

    def forward(self, example):
        output = super().forward(example)
        self.dtypes.add(output.dtype)
        return output


def make_data(n=6, scale=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [{'x': scale * torch.randn(16, 3, generator=g),
             'y': torch.randn(16, 2, generator=g)} for _ in range(n)]


def reference(mixed_precision, data, epochs):
    """torch's AMP recipe by hand; returns (parameters, skipped, scale)."""
    torch.manual_seed(0)
    model = Regression()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    scaler = (torch.amp.GradScaler('cpu') if mixed_precision == 'fp16'
              else None)
    skipped = 0
    for _ in range(epochs):
        for example in data:
            optimizer.zero_grad()
            with torch.autocast('cpu', dtype=DTYPES[mixed_precision]):
                output = model.linear(example['x'])
                loss = ((output - example['y']) ** 2).mean()
            if scaler is None:
                loss.backward()
                optimizer.step()
                continue
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            norms = [p.grad.norm() for p in model.parameters()]
            skipped += not all(torch.isfinite(n) for n in norms)
            scaler.step(optimizer)
            scaler.update()
    return (dict(model.named_parameters()), skipped,
            scaler.get_scale() if scaler else None)


def train(tmp_path, mixed_precision, data, epochs, resume=False,
          name='run'):
    torch.manual_seed(0)
    model = DtypeRecorder()
    trainer = pa.Trainer(model, tmp_path / name, pa.optimizer.SGD(lr=0.05),
                         stop_trigger=(epochs, 'epoch'), progress=False,
                         summary_trigger=(1, 'epoch'),
                         mixed_precision=mixed_precision)
    trainer.train(data, device='cpu', resume=resume)
    return trainer


@pytest.mark.parametrize('mixed_precision', ['bf16', 'fp16'])
def test_training_equals_the_amp_recipe(tmp_path, mixed_precision):
    data = make_data()
    trainer = train(tmp_path, mixed_precision, data, epochs=2)
    assert trainer.model.dtypes == {DTYPES[mixed_precision]}
    assert all(p.dtype == torch.float32 for p in trainer.model.parameters())
    parameters, skipped, scale = reference(mixed_precision, data, epochs=2)
    for name, value in trainer.model.named_parameters():
        torch.testing.assert_close(value, parameters[name], rtol=0, atol=1e-6)
    assert trainer.skipped_steps == skipped
    if mixed_precision == 'fp16':
        assert trainer._grad_scaler.get_scale() == scale


def test_fp16_overflow_skips_steps_and_goes_on(tmp_path, caplog):
    # Inputs of ~3: the gradients scaled by 65536 overflow fp16 at first.
    data = make_data(n=4, scale=3.0)
    with caplog.at_level(logging.WARNING):
        trainer = train(tmp_path, 'fp16', data, epochs=2)
    parameters, skipped, scale = reference('fp16', data, epochs=2)
    assert skipped >= 1                       # the data does overflow
    assert trainer.skipped_steps == skipped
    assert trainer.iteration == 8             # skipped steps still count
    assert trainer._grad_scaler.get_scale() == scale < 65536
    for name, value in trainer.model.named_parameters():
        torch.testing.assert_close(value, parameters[name], rtol=0, atol=1e-6)
        assert torch.isfinite(value).all()
    assert 'fp16 gradients overflowed at iteration 0' in caplog.text
    logged = read_events_by_tag(tmp_path / 'run', kind='scalar')
    assert logged['training/skipped_steps'] == {4: skipped, 8: skipped}


def test_fp16_grad_scaler_state_is_checkpointed_and_resumed(tmp_path):
    data = make_data(n=4, scale=3.0)
    whole = train(tmp_path, 'fp16', data, epochs=3, name='whole')
    train(tmp_path, 'fp16', data, epochs=1, name='split')
    state = ckpt.load_checkpoint(
        tmp_path / 'split' / 'checkpoints' / 'ckpt_latest.pth')
    assert state['grad_scaler']['scale'] < 65536
    assert state['skipped_steps'] >= 1
    resumed = train(tmp_path, 'fp16', data, epochs=3, resume=True,
                    name='split')
    assert resumed.skipped_steps == whole.skipped_steps
    assert resumed._grad_scaler.get_scale() == whole._grad_scaler.get_scale()
    for (name, a), b in zip(whole.model.named_parameters(),
                            resumed.model.parameters()):
        assert torch.equal(a, b), name


def test_test_run_and_config_carry_mixed_precision(tmp_path):
    torch.manual_seed(0)
    config = pa.Trainer.get_config({
        'model': {'factory': Regression}, 'storage_dir': str(tmp_path / 'r'),
        'optimizer': {'factory': pa.optimizer.SGD},
        'mixed_precision': 'bf16'})
    assert config['mixed_precision'] == 'bf16'
    trainer = pa.Trainer.from_config(config)
    trainer.test_run(make_data(2), make_data(2, seed=1), device='cpu')
    assert not (tmp_path / 'r').exists()


@pytest.mark.parametrize('value', ['fp32', 'float16', True, 16])
def test_unknown_mixed_precision_is_refused(tmp_path, value):
    with pytest.raises(ValueError, match="mixed_precision must be None, "
                                         "'bf16' or 'fp16', got"):
        pa.Trainer(Regression(), tmp_path, pa.optimizer.SGD(),
                   mixed_precision=value)
