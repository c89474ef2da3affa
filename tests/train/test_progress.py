"""The tqdm progress bar: on for terminals, off when asked or not a terminal."""
import torch

import padertorch_audio as pa
from tests.train import models
from padertorch_audio.train import trainer as trainer_module


class Regression(models.Regression):
    def __init__(self):
        super().__init__(num_features=2, num_outputs=1)


DATA = [{'x': torch.ones(4, 2), 'y': torch.zeros(4, 1)}] * 3


def train(tmp_path, progress):
    trainer = pa.Trainer(Regression(), tmp_path / 'run', pa.optimizer.SGD(),
                         stop_trigger=(2, 'epoch'), progress=progress)
    trainer.train(DATA, device='cpu')


def test_progress_bar_shows_iteration_epoch_loss_and_rate(tmp_path, capsys,
                                                        monkeypatch):
    monkeypatch.setattr(trainer_module, '_is_terminal', lambda: True)
    train(tmp_path, progress=True)
    err = capsys.readouterr().err
    final = err.replace('\r', '\n').strip().splitlines()[-1]
    assert final.startswith('training: 100%')
    assert '6/6' in final          # 2 epochs of 3 iterations
    assert 'it/s' in final
    assert 'epoch=' in final and 'loss=' in final


def test_no_progress_bar_when_asked(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(trainer_module, '_is_terminal', lambda: True)
    train(tmp_path, progress=False)
    assert 'training' not in capsys.readouterr().err


def test_no_progress_bar_when_stderr_is_no_terminal(tmp_path, capsys):
    train(tmp_path, progress=True)   # pytest captures stderr: no terminal
    assert 'training' not in capsys.readouterr().err
