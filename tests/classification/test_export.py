import pytest
import torch

from padertorch_audio import export
from padertorch_audio.classification import (
    TINY_SPEAKER_MODEL, ExportedModelError, SpeakerClassifier, export_model,
    load_model)
from padertorch_audio.separation import TINY_DPRNN, TasNet
from padertorch_audio.separation import export_model as export_separation
from tests.classification.test_resnet import randomise_batch_norms
from tests.test_export_security import ForeignModule, _shell_factories

SPEAKERS = ['1089', '121', '1284']


@pytest.fixture
def model():
    torch.manual_seed(0)
    return randomise_batch_norms(
        SpeakerClassifier.from_config(TINY_SPEAKER_MODEL))


@pytest.mark.parametrize('classifier', ['am_softmax', 'softmax'])
def test_round_trip_gives_the_same_logits_and_embeddings(tmp_path, classifier):
    torch.manual_seed(0)
    model = randomise_batch_norms(SpeakerClassifier.from_config(
        {**TINY_SPEAKER_MODEL, 'classifier': classifier})).eval()
    path = export_model(model, tmp_path / 'model.pt', sample_rate=16000,
                        speakers=SPEAKERS, eer_threshold=0.42,
                        training_summary={'iterations': 10},
                        evaluation_summary={'accuracy': 0.9})
    loaded = load_model(path)  # untrusted: every class is allowed
    assert type(loaded) is SpeakerClassifier and not loaded.training
    assert loaded.config == model.config
    assert (loaded.sample_rate, loaded.speakers, loaded.eer_threshold) \
        == (16000, SPEAKERS, 0.42)
    assert loaded.export_info['task'] == 'speaker_classification'
    assert loaded.export_info['training_summary'] == {'iterations': 10}
    assert loaded.export_info['evaluation_summary'] == {'accuracy': 0.9}
    audio, num_samples = torch.randn(3, 6000), torch.tensor([6000, 2500, 999])
    with torch.no_grad():
        for method in ('embed', 'classify'):
            assert torch.equal(getattr(loaded, method)(audio, num_samples),
                               getattr(model, method)(audio, num_samples))


def test_without_threshold(tmp_path, model):
    path = export_model(model, tmp_path / 'model.pt', sample_rate=16000,
                        speakers=tuple(SPEAKERS))
    loaded = load_model(path)
    assert loaded.eer_threshold is None and loaded.speakers == SPEAKERS


@pytest.mark.parametrize('arguments, message', [
    ({'speakers': SPEAKERS[:2]}, '2 speakers given, but the model has '
                                 'num_classes=3'),
    ({'speakers': [1089, 121, 1284]}, 'speakers must be a list of strings'),
    ({'speakers': 'abc'}, 'speakers must be a list of strings'),
    ({'speakers': SPEAKERS, 'eer_threshold': float('nan')},
     'eer_threshold must be a finite float or None, found nan'),
    ({'speakers': SPEAKERS, 'eer_threshold': '0.5'},
     "eer_threshold must be a finite float or None, found '0.5'"),
    ({'speakers': SPEAKERS, 'sample_rate': 8000},
     'sample_rate=8000, but the model works at 16000 Hz'),
])
def test_export_checks_its_arguments(tmp_path, model, arguments, message):
    arguments = {'sample_rate': 16000, **arguments}
    with pytest.raises(ValueError, match=message):
        export_model(model, tmp_path / 'model.pt', **arguments)
    assert not (tmp_path / 'model.pt').exists()


def test_a_separation_model_is_refused(tmp_path):
    path = export_separation(TasNet.from_config(TINY_DPRNN),
                             tmp_path / 'separation.pt', sample_rate=8000,
                             num_speakers=2)
    with pytest.raises(ExportedModelError,
                       match=f"{path} holds a model for the task "
                             f"'separation', expected "
                             f"'speaker_classification'"):
        load_model(path)


@pytest.mark.parametrize('attributes, found', [
    ({}, 'found None'),
    ({'speakers': SPEAKERS[:2]}, 'found 2 labels'),
    ({'speakers': [1, 2, 3]}, 'found 3 labels'),
    ({'speakers': SPEAKERS, 'eer_threshold': 'high'},
     "eer_threshold must be a finite float or None, found 'high'"),
])
def test_a_file_without_valid_speakers_is_refused(tmp_path, model,
                                                  attributes, found):
    path = export.export_model(model, tmp_path / 'model.pt',
                               task='speaker_classification',
                               sample_rate=16000, **attributes)
    with pytest.raises(ExportedModelError, match=found) as error:
        load_model(path)
    assert str(path) in str(error.value)


def test_a_config_naming_a_foreign_factory_is_refused(tmp_path, model):
    """The attacks of tests/test_export_security.py, put into a speaker
    model's file: none is built, none runs."""
    marker = tmp_path / 'marker'
    good = torch.load(export_model(model, tmp_path / 'good.pt',
                                   sample_rate=16000, speakers=SPEAKERS),
                      weights_only=True)
    factories = [*_shell_factories(marker, tmp_path),
                 {'factory': f'{ForeignModule.__module__}.ForeignModule'}]
    for index, factory in enumerate(factories):
        path = tmp_path / f'evil{index}.pt'
        torch.save({**good, 'config': {**good['config'],
                                       'front_end': factory}}, path)
        with pytest.raises(ExportedModelError,
                           match='its config names what a model file may '
                                 'not build') as error:
            load_model(path)
        assert 'front_end.factory' in str(error.value)
        assert not marker.exists(), factory
