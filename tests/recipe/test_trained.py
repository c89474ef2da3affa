"""load_trained_model and export_experiment on a real (tiny) training:
the weights are the checkpoint's tensors, read back with torch.load."""
import json

import pytest
import torch

import padertorch_audio as pa
from padertorch_audio.recipe import (
    find_checkpoint, export_experiment, load_trained_model)
from padertorch_audio.separation import (
    TINY_DPRNN, ToyModelWarning, export_model, load_model, separate_files)


def _batches(n, seed):
    generator = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(n):
        sources = torch.randn(2, 2, 800, generator=generator)
        batches.append({'observation': sources.sum(1),
                        'speech_source': sources})
    return batches


@pytest.fixture(scope='module')
def exp_dir(tmp_path_factory):
    """3 epochs of 2 steps, a checkpoint and a validation every epoch."""
    exp_dir = tmp_path_factory.mktemp('exp')
    torch.manual_seed(0)
    trainer = pa.Trainer.from_config({
        'model': TINY_DPRNN, 'storage_dir': str(exp_dir),
        'optimizer': {'factory': 'padertorch_audio.train.optimizer.Adam',
                      'lr': 1e-2},
        'stop_trigger': [3, 'epoch'], 'checkpoint_trigger': [1, 'epoch'],
        'loss_weights': {'si_sdr': 1.0, 'log_mse': 0.0, 'log1p_mse': 0.0},
        'progress': False})
    trainer.register_validation_hook(_batches(1, 2), metric='si_sdr',
                                     maximize=True, max_checkpoints=None)
    trainer.train(_batches(2, 1), device='cpu')
    return exp_dir


def _weights(path):
    return torch.load(path, map_location='cpu', weights_only=True)['model']


def _assert_weights(model, expected):
    state = model.state_dict()
    assert state.keys() == expected.keys()
    for name, tensor in expected.items():
        assert torch.equal(state[name], tensor), name


def test_the_model_has_the_weights_of_the_named_checkpoint(exp_dir):
    ranking = json.loads(
        (exp_dir / 'checkpoints' / 'ckpt_ranking.json').read_text())
    values = {entry['iteration']: entry['value']
              for entry in ranking['checkpoints']}
    best = max(values, key=values.get)
    for checkpoint, iteration in (('best', best), ('latest', 6),
                                  ('ckpt_4.pth', 4)):
        model, path = load_trained_model(exp_dir, checkpoint)
        assert not model.training
        _assert_weights(model, _weights(
            exp_dir / 'checkpoints' / f'ckpt_{iteration}.pth'))
        assert path == find_checkpoint(exp_dir, checkpoint)


def test_missing_checkpoints_and_experiments_name_what_is_missing(
        exp_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match='No checkpoint ckpt_9.pth'):
        load_trained_model(exp_dir, 'ckpt_9.pth')
    with pytest.raises(FileNotFoundError, match='config.json not found'):
        load_trained_model(tmp_path)
    (tmp_path / 'checkpoints').mkdir()
    with pytest.raises(FileNotFoundError, match='No best checkpoint'):
        find_checkpoint(tmp_path)


def test_export_writes_the_best_weights_and_the_summaries(exp_dir, tmp_path):
    (exp_dir / 'eval' / 'tt').mkdir(parents=True)
    final = {'means': {'si_sdr': 1.5}, 'num_utterances': 3}
    (exp_dir / 'eval' / 'tt' / 'final_metrics.json').write_text(
        json.dumps(final))
    path = export_experiment(exp_dir, tmp_path / 'model.pt', export_model,
                             eval_dataset='tt', corpus='toy',
                             sample_rate=8000, num_speakers=2)
    assert path == find_checkpoint(exp_dir, 'best')
    model = load_model(tmp_path / 'model.pt')
    _assert_weights(model, _weights(path))
    ranking = json.loads(
        (exp_dir / 'checkpoints' / 'ckpt_ranking.json').read_text())
    assert model.export_info['training_summary'] == {**ranking,
                                                     'corpus': 'toy'}
    assert model.export_info['evaluation_summary'] == final
    assert (model.sample_rate, model.num_speakers) == (8000, 2)

    # Exported without a corpus (and the default exporter): no toy mark.
    export_experiment(exp_dir, tmp_path / 'plain.pt', checkpoint='latest',
                      task='separation', sample_rate=8000, num_speakers=2)
    plain = load_model(tmp_path / 'plain.pt')
    assert plain.export_info['training_summary'] == ranking
    assert plain.export_info['evaluation_summary'] is None
    _assert_weights(plain, _weights(exp_dir / 'checkpoints' / 'ckpt_6.pth'))

    # The toy mark reaches the user of the file.
    wav = tmp_path / 'x.wav'
    import soundfile
    soundfile.write(wav, torch.zeros(800).numpy(), 8000)
    with pytest.warns(ToyModelWarning):
        separate_files(tmp_path / 'model.pt', [wav], tmp_path / 'out')
