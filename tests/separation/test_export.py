import copy
import os

import pytest
import torch

from padertorch_audio.separation import (
    TINY_CONVTASNET, TINY_DPRNN, TINY_PIT_BLSTM, ExportedModelError, TasNet,
    export_model, load_model, separate)
from padertorch_audio.separation.export import FORMAT


class Doubler(torch.nn.Module):
    """A model outside padertorch_audio and torch (for trusted=True)."""

    def __init__(self, gain: float = 2.):
        super().__init__()
        self.gain = torch.nn.Parameter(torch.tensor(gain))

    def forward(self, example):
        return self.gain * example['observation'][:, None]


@pytest.mark.parametrize('config', [TINY_DPRNN, TINY_CONVTASNET,
                                    TINY_PIT_BLSTM])
def test_round_trip(tmp_path, config):
    torch.manual_seed(0)
    model = TasNet.from_config(config).train()
    path = export_model(model, tmp_path / 'model.pt', sample_rate=8000,
                        num_speakers=2, training_summary={'iterations': 3},
                        evaluation_summary={'si_sdr_improvement': 1.5})
    assert sorted(os.listdir(tmp_path)) == ['model.pt']  # no temporary file
    loaded = load_model(path)
    assert type(loaded) is type(model)
    assert not loaded.training
    assert loaded.sample_rate == 8000 and loaded.num_speakers == 2
    assert loaded.export_info['training_summary'] == {'iterations': 3}
    assert loaded.export_info['versions']['torch'] == str(torch.__version__)
    for name, value in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], value)
    x = torch.randn(2000)
    torch.testing.assert_close(separate(loaded, x),
                               separate(model, x, sample_rate=8000))
    content = torch.load(path, weights_only=True)
    assert content['format'] == FORMAT and content['format_version'] == 1
    assert content['task'] == 'separation'
    assert content['config'] == model.config


def test_explicit_config_and_overwrite(tmp_path):
    model = TasNet.from_config(TINY_DPRNN)
    path = tmp_path / 'model.pt'
    export_model(model, path, sample_rate=8000, num_speakers=2)
    config = copy.deepcopy(model.config)
    export_model(model, path, sample_rate=16000, num_speakers=2,
                 config=config)  # replaces the file atomically
    assert load_model(path).sample_rate == 16000
    with pytest.raises(ValueError, match='num_speakers=3'):
        export_model(model, path, sample_rate=8000, num_speakers=3)
    with pytest.raises(ValueError, match='JSON-serialisable'):
        export_model(model, path, sample_rate=8000, num_speakers=2,
                     training_summary={'loss': torch.tensor(1.)})
    with pytest.raises(ValueError, match='does not record'):
        export_model(Doubler(), path, sample_rate=8000, num_speakers=1)


def test_refuses_random_bytes(tmp_path):
    path = tmp_path / 'noise.pt'
    path.write_bytes(os.urandom(1000))
    with pytest.raises(ExportedModelError, match='noise.pt: the file is '
                       r'truncated or not a model file \(1000 bytes\)'):
        load_model(path)


def test_refuses_a_plain_state_dict(tmp_path):
    path = tmp_path / 'weights.pt'
    torch.save(TasNet.from_config(TINY_DPRNN).state_dict(), path)
    with pytest.raises(ExportedModelError,
                       match="weights.pt is not an exported model: expected "
                             "a dict with 'format'"):
        load_model(path)


def test_refuses_another_task(tmp_path):
    path = tmp_path / 'model.pt'
    export_model(TasNet.from_config(TINY_DPRNN), path, sample_rate=8000,
                 num_speakers=2, task='enhancement')
    with pytest.raises(ExportedModelError,
                       match="model.pt holds a model for the task "
                             "'enhancement', expected 'separation'"):
        load_model(path)
    assert load_model(path, task='enhancement').num_speakers == 2


def test_refuses_foreign_factories_unless_trusted(tmp_path):
    model = TasNet.from_config(TINY_DPRNN)
    path = tmp_path / 'model.pt'
    export_model(model, path, sample_rate=8000, num_speakers=2)
    content = torch.load(path, weights_only=True)
    content['config']['separator'] = {'factory': 'os.system',
                                      'command': 'echo hacked'}
    torch.save(content, path)
    with pytest.raises(ExportedModelError, match="model.pt: its config names "
                       "what a model file may not build: separator.factory = "
                       "'os.system' is not inside padertorch_audio or "
                       "torch.nn"):
        load_model(path)
    content['config']['separator'] = {'factory': 'torch.hub.load'}
    torch.save(content, path)
    with pytest.raises(ExportedModelError, match='torch.hub.load'):
        load_model(path)

    # A foreign (but trusted) model class loads with trusted=True.
    doubler = Doubler(3.)
    config = {'factory': f'{__name__}.Doubler', 'gain': 3.}
    export_model(doubler, path, sample_rate=8000, num_speakers=1,
                 config=config)
    with pytest.raises(ExportedModelError, match='Doubler'):
        load_model(path)
    loaded = load_model(path, trusted=True)
    assert loaded.gain.item() == 3. and loaded.num_speakers == 1


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='absent.pt'):
        load_model(tmp_path / 'absent.pt')
