"""vocoder.export_model / load_model: the round trip keeps the model (same
logits, same mel, same synthesis), other tasks are named, and the attacks
of tests/test_export_security.py put into a vocoder file are refused."""
import pytest
import torch

from padertorch_audio.separation import TINY_DPRNN, TasNet
from padertorch_audio.separation import export_model as export_separation
from padertorch_audio.vocoder import TINY_WAVENET, WaveNet, synthesize
from padertorch_audio.vocoder.export import (
    ExportedModelError, export_model, load_model)
from tests.test_export_security import _shell_factories


@pytest.fixture
def model():
    torch.manual_seed(0)
    return WaveNet.from_config({**TINY_WAVENET, 'fmin': 50.}).eval()


def test_round_trip_gives_the_same_model(tmp_path, model):
    path = export_model(model, tmp_path / 'vocoder.pt', sample_rate=16000,
                        training_summary={'corpus': 'toy'},
                        evaluation_summary={'means': {'wavenet_rmse': 0.1}})
    loaded = load_model(path)  # untrusted
    assert type(loaded) is WaveNet and not loaded.training
    assert loaded.config == model.config
    assert loaded.sample_rate == 16000 and loaded.fmin == 50.
    assert loaded.export_info['task'] == 'vocoder'
    assert loaded.export_info['training_summary'] == {'corpus': 'toy'}
    audio = torch.rand(2, 500) - 0.5
    mel = model.log_mel(audio)
    assert torch.equal(loaded.log_mel(audio), mel)
    example = {'audio': audio, 'mel': mel}
    with torch.no_grad():
        assert torch.equal(loaded(example)['logits'],
                           model(example)['logits'])
    assert torch.equal(
        synthesize(loaded, mel, generator=torch.Generator().manual_seed(1)),
        synthesize(model, mel, generator=torch.Generator().manual_seed(1)))


def test_export_checks_the_sample_rate_and_the_model(tmp_path, model):
    with pytest.raises(ValueError, match='sample_rate=8000, but the model '
                                         'works at 16000 Hz'):
        export_model(model, tmp_path / 'a.pt', sample_rate=8000)
    with pytest.raises(ValueError, match='expected a vocoder .* the Linear '
                                         'has no n_mels, sample_rate'):
        export_model(torch.nn.Linear(2, 2), tmp_path / 'b.pt',
                     sample_rate=16000)
    assert not list(tmp_path.iterdir())


def test_a_separation_model_is_named_as_such(tmp_path):
    path = export_separation(TasNet.from_config(TINY_DPRNN),
                             tmp_path / 'separation.pt', sample_rate=8000,
                             num_speakers=2)
    with pytest.raises(ExportedModelError, match='is a separation model '
                       r'\(for padertorch-audio separate\), expected a '
                       "vocoder model \\(task 'vocoder'\\)") as error:
        load_model(path)
    assert str(error.value).startswith(str(path))


def test_a_vocoder_file_with_a_foreign_factory_is_refused(tmp_path, model):
    """The attacks of tests/test_export_security.py, put into a vocoder's
    file: none is built, none runs."""
    marker = tmp_path / 'marker'
    good = torch.load(export_model(model, tmp_path / 'good.pt',
                                   sample_rate=16000), weights_only=True)
    for index, factory in enumerate(_shell_factories(marker, tmp_path)):
        path = tmp_path / f'evil{index}.pt'
        torch.save({**good, 'config': {**good['config'],
                                       'upsampler': factory}}, path)
        with pytest.raises(ExportedModelError,
                           match='its config names what a model file may '
                                 'not build') as error:
            load_model(path)
        assert 'upsampler.factory' in str(error.value)
        assert not marker.exists(), factory
