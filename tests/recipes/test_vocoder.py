"""The vocoder recipe end to end on the tiny toy corpus (all 5 stages) with
a tiny WaveNet: the database, the kept checkpoint, the evaluation's files
and metrics (RMSE recomputed from the written WAVs), the exported model and
the synthesised files; a resumed evaluation; bad options."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

REPO = Path(__file__).parents[2]
RUN = REPO / 'recipes' / 'vocoder' / 'run.sh'


def run(*args):
    environment = {**os.environ, 'PYTHON': sys.executable}
    return subprocess.run(['bash', str(RUN), *args], cwd=REPO,
                          env=environment, capture_output=True, text=True,
                          timeout=600)


def tiny(tmp_path, *args):
    return run('--exp_dir', str(tmp_path / 'exp'),
               f'toy_root={tmp_path / "toy"}', 'toy_size=tiny',
               f'database_json={tmp_path / "db.json"}',
               "trainer.stop_trigger=[4,'iteration']",
               "trainer.checkpoint_trigger=[2,'iteration']",
               "trainer.summary_trigger=[2,'iteration']",
               'batch_size=2', 'segment_seconds=0.1', 'num_workers=0',
               'validation_examples=2', 'model.residual_channels=8',
               'model.skip_channels=16', 'model.num_layers=4',
               'model.max_dilation=8', 'max_eval_examples=3',
               'max_eval_seconds=0.5', 'griffin_lim_iterations=4',
               'num_audio_examples=2', *args)


@pytest.fixture(scope='module')
def experiment(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp('vocoder')
    result = tiny(tmp_path)
    assert result.returncode == 0, \
        result.stdout[-3000:] + result.stderr[-3000:]
    return tmp_path, result


def test_the_database_splits_librispeech_by_subset(experiment):
    tmp_path, result = experiment
    assert 'TOY corpus' in result.stdout
    assert 'nothing about LibriSpeech' in result.stdout
    database = json.loads((tmp_path / 'db.json').read_text())['datasets']
    # tiny: train-clean-100 4 x 5, dev-clean 2 x 2, test-clean 2 x 2
    assert {name: len(examples) for name, examples in database.items()} \
        == {'train': 20, 'validation': 4, 'test': 4}
    for name, subset in (('train', 'train-clean-100'),
                         ('validation', 'dev-clean'), ('test', 'test-clean')):
        for example in database[name].values():
            assert example['subset'] == subset
            path = example['audio_path']['observation']
            assert f'/{subset}/' in path and Path(path).is_absolute()
            info = soundfile.info(path)
            assert (example['num_samples'], example['sample_rate']) \
                == (info.frames, info.samplerate)


def test_training_keeps_the_best_validation_loss(experiment):
    exp = experiment[0] / 'exp'
    ranking = json.loads((exp / 'checkpoints' / 'ckpt_ranking.json')
                         .read_text())
    assert ranking['metric'] == 'loss' and not ranking['maximize']
    values = [entry['value'] for entry in ranking['checkpoints']]
    assert len(values) == 2 and ranking['best_value'] == min(values)
    assert all(np.isfinite(values))
    assert (exp / 'checkpoints' / 'ckpt_best_loss.pth').exists()


def test_evaluation_files_and_metrics(experiment):
    tmp_path, result = experiment
    database = json.loads((tmp_path / 'db.json').read_text())['datasets']
    first = sorted(database['test'])[:3]
    eval_dir = tmp_path / 'exp' / 'eval' / 'test'
    final = json.loads((eval_dir / 'final_metrics.json').read_text())
    assert final['num_utterances'] == 3 and not final['failed_utterances']
    for system in ('wavenet', 'griffin_lim', 'quantized'):
        assert set(final[system]) == {'rmse', 'log_spectral_distance',
                                      'mel_cepstral_distortion'}
        assert all(np.isfinite(value) and value >= 0
                   for value in final[system].values())
    per_utterance = json.loads((eval_dir / 'per_utterance.json').read_text())
    assert sorted(per_utterance) == first
    assert final['wavenet']['rmse'] == pytest.approx(np.mean(
        [result['wavenet_rmse'] for result in per_utterance.values()]))
    # The WAVs of the first two: 0.5 s (or the whole utterance), the RMSE
    # of the WaveNet and Griffin-Lim resyntheses against the original
    # recomputed from them (16-bit files).
    wavs = sorted(path.name for path in (eval_dir / 'audio').iterdir())
    assert wavs == sorted(f'{name}_{system}.wav' for name in first[:2]
                          for system in ('original', 'wavenet',
                                         'griffin_lim'))
    for name in first[:2]:
        original, rate = soundfile.read(eval_dir / 'audio'
                                        / f'{name}_original.wav')
        assert rate == 16000
        assert len(original) == min(8000, database['test'][name][
            'num_samples'])
        for system in ('wavenet', 'griffin_lim'):
            signal, _ = soundfile.read(eval_dir / 'audio'
                                       / f'{name}_{system}.wav')
            assert signal.shape == original.shape
            assert np.isfinite(signal).all() and np.abs(signal).max() <= 1
            rmse = np.sqrt(np.mean((signal - original) ** 2))
            assert per_utterance[name][f'{system}_rmse'] == pytest.approx(
                rmse, abs=1e-4)
        # the original on the 256 mu-law levels, by hand
        classes = np.round((np.sign(original) * np.log1p(255 * np.abs(
            original)) / np.log1p(255) + 1) / 2 * 255)
        levels = 2 * classes / 255 - 1
        levels = np.sign(levels) * (256. ** np.abs(levels) - 1) / 255
        assert per_utterance[name]['quantized_rmse'] == pytest.approx(
            np.sqrt(np.mean((levels - original) ** 2)), rel=1e-6)
    assert (eval_dir / 'spectrograms.png').read_bytes()[:8] \
        == b'\x89PNG\r\n\x1a\n'
    assert 'WaveNet' in result.stdout and 'Griffin-Lim' in result.stdout
    assert 'real-time factor' in result.stdout


def test_export_and_synthesis(experiment):
    tmp_path, result = experiment
    from padertorch_audio.vocoder.export import load_model
    exp = tmp_path / 'exp'
    model = load_model(exp / 'model.pt')
    assert model.export_info['training_summary']['corpus'] == 'toy'
    final = json.loads((exp / 'eval' / 'test' / 'final_metrics.json')
                       .read_text())
    assert model.export_info['evaluation_summary']['means'] == final['means']
    assert model.residual_channels == 8
    database = json.loads((tmp_path / 'db.json').read_text())['datasets']
    for name in sorted(database['test'])[:2]:
        written, rate = soundfile.read(exp / 'synthesized' / f'{name}.wav')
        assert rate == 16000
        assert len(written) == database['test'][name]['num_samples']
        assert np.isfinite(written).all() and np.abs(written).max() <= 1
        assert str(exp / 'synthesized' / f'{name}.wav') in result.stdout


def test_a_resumed_evaluation_gives_the_same_metrics(experiment):
    tmp_path, _ = experiment
    eval_dir = tmp_path / 'exp' / 'eval' / 'test'
    before = json.loads((eval_dir / 'final_metrics.json').read_text())
    lines = (eval_dir / 'results.jsonl').read_text().splitlines()
    (eval_dir / 'results.jsonl').write_text(lines[0] + '\n')
    result = tiny(tmp_path, '--stage', '2', '--stop_stage', '2')
    assert result.returncode == 0, result.stderr[-3000:]
    after = json.loads((eval_dir / 'final_metrics.json').read_text())
    for system in ('wavenet', 'griffin_lim'):
        for metric, value in before[system].items():
            assert after[system][metric] == pytest.approx(value), metric
    # other options would mix results: refused, nothing changed
    result = tiny(tmp_path, '--stage', '2', '--stop_stage', '2',
                  'temperature=0.5')
    assert result.returncode != 0
    assert 'remove the folder' in result.stderr
    assert json.loads((eval_dir / 'final_metrics.json').read_text()) == after


def test_bad_options_are_named(tmp_path):
    result = run('--librispeech_root', str(tmp_path), '--wav_dir',
                 str(tmp_path))
    assert result.returncode == 2 and 'not both' in result.stderr
    result = run('--wav_dir', str(tmp_path / 'missing'))
    assert result.returncode == 2 and 'is not a folder' in result.stderr
    result = run('--model', 'big')
    assert result.returncode == 2 and '--model must be toy or paper' \
        in result.stderr
    result = run('--subsets', '')
    assert result.returncode == 2 and '--subsets must name' in result.stderr
