"""The librispeech recipe end to end on the tiny toy corpus (all 5 stages)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

REPO = Path(__file__).parents[2]
RUN = REPO / 'recipes' / 'librispeech' / 'run.sh'


def run(*args, **environment):
    environment = {**os.environ, 'PYTHON': sys.executable, **environment}
    return subprocess.run(['bash', str(RUN), *args], cwd=REPO,
                          env=environment, capture_output=True, text=True,
                          timeout=600)


def tiny(tmp_path, *args):
    return run('--exp_dir', str(tmp_path / 'exp'),
               f'toy_root={tmp_path / "toy"}', 'toy_size=tiny',
               f'database_json={tmp_path / "db.json"}',
               "trainer.stop_trigger=[2,'epoch']", 'batch_size=4',
               'num_workers=0', 'model.front_end.channels=[4,8]',
               'model.front_end.num_blocks=[1,1]',
               'model.front_end.strides=[1,2]', 'model.n_mels=16',
               'model.embedding_size=8', *args)


@pytest.fixture(scope='module')
def experiment(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp('librispeech')
    result = tiny(tmp_path, 'split=[0.2,0.4,0.4]')
    assert result.returncode == 0, \
        result.stdout[-3000:] + result.stderr[-3000:]
    return tmp_path, result


def test_all_stages_on_the_tiny_toy_corpus(experiment):
    tmp_path, result = experiment
    assert 'TOY corpus' in result.stdout
    assert 'nothing about LibriSpeech' in result.stdout
    database = json.loads((tmp_path / 'db.json').read_text())
    # 4 speakers x 5 utterances: 2 test, 2 validation, 1 train each
    assert {name: len(examples) for name, examples
            in database['datasets'].items()} == {
        'train': 4, 'validation': 8, 'test': 8}

    exp = tmp_path / 'exp'
    speakers = json.loads((exp / 'speakers.json').read_text())
    assert speakers == sorted({example['speaker_id'] for example
                               in database['datasets']['train'].values()})
    assert (exp / 'checkpoints' / 'ckpt_best_accuracy.pth').exists()
    eval_dir = exp / 'eval' / 'test'
    final = json.loads((eval_dir / 'final_metrics.json').read_text())
    assert final['num_utterances'] == 8
    per_utterance = json.loads((eval_dir / 'per_utterance.json').read_text())
    correct = [result['correct'] for result in per_utterance.values()]
    assert final['accuracy'] == pytest.approx(100 * np.mean(correct))
    assert set(final['per_speaker_accuracy']) == set(speakers)
    # 4 speakers x 2 test utterances: 28 pairs, 4 of one speaker
    trials = (eval_dir / 'trials.txt').read_text().splitlines()
    assert len(trials) == 28
    assert sum(line.startswith('1 ') for line in trials) == 4
    assert 0 <= final['eer'] <= 100 and final['min_dcf'] >= 0
    for name in ('confusion_matrix.png', 'det_curve.png'):
        assert (eval_dir / name).stat().st_size > 0
    misclassified = json.loads((eval_dir / 'misclassified.json').read_text())
    assert len(misclassified) == correct.count(0)

    from padertorch_audio.classification import load_model
    model = load_model(exp / 'model.pt')
    assert model.speakers == speakers
    assert model.eer_threshold == pytest.approx(final['eer_threshold'])
    assert model.export_info['training_summary']['corpus'] == 'toy'
    # stage 4: the first test utterances classified, one line each
    assert 'accuracy' in result.stdout and 'EER' in result.stdout
    first = sorted(database['datasets']['test'])[0]
    assert first in result.stdout or any(
        first in line for line in result.stdout.splitlines())


def test_a_resumed_evaluation_gives_the_same_metrics(experiment):
    tmp_path, _ = experiment
    eval_dir = tmp_path / 'exp' / 'eval' / 'test'
    before = json.loads((eval_dir / 'final_metrics.json').read_text())
    lines = (eval_dir / 'results.jsonl').read_text().splitlines()
    (eval_dir / 'results.jsonl').write_text('\n'.join(lines[:3]) + '\n')
    result = tiny(tmp_path, 'split=[0.2,0.4,0.4]', '--stage', '2',
                  '--stop_stage', '2')
    assert result.returncode == 0, result.stderr[-3000:]
    after = json.loads((eval_dir / 'final_metrics.json').read_text())
    for key in ('accuracy', 'top5_accuracy', 'eer', 'min_dcf'):
        assert after[key] == pytest.approx(before[key], abs=1e-6), key


def test_bad_options_are_named(tmp_path):
    result = run('--subsets', '', '--exp_dir', str(tmp_path))
    assert result.returncode == 2
    assert '--subsets must name at least one subset' in result.stderr
    result = run('--librispeech_root', str(tmp_path / 'missing'))
    assert result.returncode == 2 and 'is not a folder' in result.stderr
    result = run('--model', 'big')
    assert result.returncode == 2 and "--model must be" in result.stderr


def test_a_subset_that_does_not_exist_is_named(tmp_path):
    from padertorch_audio.toy import create_librispeech
    create_librispeech(tmp_path / 'corpus', size='tiny')
    result = run('--librispeech_root', str(tmp_path / 'corpus'),
                 '--subsets', 'train-clean-360', '--stop_stage', '0',
                 f'database_json={tmp_path / "db.json"}')
    assert result.returncode != 0
    assert 'train-clean-360' in result.stderr
    assert not (tmp_path / 'db.json').exists()


def test_an_audio_file_of_another_rate_is_resampled(tmp_path):
    from recipes.librispeech.data import load_example
    path = tmp_path / 'a.flac'
    soundfile.write(path, np.random.default_rng(0).uniform(
        -0.5, 0.5, 8000).astype(np.float32), 8000)
    example = load_example(
        {'example_id': 'a', 'audio_path': {'observation': str(path)},
         'num_samples': 8000, 'sample_rate': 8000, 'speaker_id': '7'},
        ['3', '7'], sample_rate=16000)
    assert example['audio'].shape == (16000,)
    assert example['speaker_index'] == 1


def test_two_processes_train_and_evaluate_like_one(experiment):
    import shutil
    tmp_path, _ = experiment
    exp = tmp_path / 'two'
    result = tiny(tmp_path, '--ngpu', '2', '--stage', '1', '--stop_stage',
                  '2', '--exp_dir', str(exp))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert json.loads((exp / 'environment.json').read_text())[
        'world_size'] == 2
    eval_dir = exp / 'eval' / 'test'
    lines = [(eval_dir / f'results.rank{rank}.jsonl').read_text()
             .splitlines() for rank in (0, 1)]
    assert [len(lines[0]), len(lines[1])] == [4, 4]

    # The same checkpoint evaluated by one process: the same numbers.
    single = tmp_path / 'single'
    single.mkdir()
    for name in ('config.json', 'speakers.json'):
        (single / name).write_bytes((exp / name).read_bytes())
    shutil.copytree(exp / 'checkpoints', single / 'checkpoints')
    result = tiny(tmp_path, '--stage', '2', '--stop_stage', '2',
                  '--exp_dir', str(single))
    assert result.returncode == 0, result.stderr[-3000:]
    two = json.loads((eval_dir / 'per_utterance.json').read_text())
    one = json.loads((single / 'eval' / 'test' / 'per_utterance.json')
                     .read_text())
    assert two.keys() == one.keys()
    for example_id, result in one.items():
        assert two[example_id]['predicted'] == result['predicted']
        np.testing.assert_allclose(two[example_id]['embedding'],
                                   result['embedding'], atol=1e-5)
    final_two = json.loads((eval_dir / 'final_metrics.json').read_text())
    final_one = json.loads((single / 'eval' / 'test' / 'final_metrics.json')
                           .read_text())
    for key in ('accuracy', 'top5_accuracy', 'eer', 'min_dcf'):
        assert final_two[key] == pytest.approx(final_one[key]), key


def test_one_test_utterance_per_speaker_skips_only_the_verification(
        tmp_path):
    # tiny: 5 utterances per speaker, 80/10/10 -> 1 test utterance each
    result = tiny(tmp_path, '--stop_stage', '3')
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'warning: no speaker verification on test' in result.stdout
    assert 'no verification' in result.stdout
    final = json.loads((tmp_path / 'exp' / 'eval' / 'test'
                        / 'final_metrics.json').read_text())
    assert final['num_utterances'] == 4 and 'accuracy' in final
    assert 'eer' not in final and 'verification_error' in final
    from padertorch_audio.classification import load_model
    assert load_model(tmp_path / 'exp' / 'model.pt').eer_threshold is None
