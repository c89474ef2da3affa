"""The wsj0_2mix recipe's results are right, not only its files.

A tiny run (stages 0-3 on the tiny toy corpus, a validation after every
step) is checked against what its own files say, with public
library functions and an independent SI-SDR (pb_bss_eval):

- the best link points to the maximum of ``ckpt_ranking.json``;
- ``model.pt`` holds the weights of the best checkpoint (not the latest);
- an utterance's SI-SDR, recomputed from the best checkpoint (the model
  rebuilt from ``config.json``), equals its line in ``results.jsonl``.

The run *un*-trains (loss weight -1 on the SI-SDR loss) and stops early
after one backoff (patience 1), so that it ends on a validation that is
not the best: the best checkpoint is not the latest one.
"""
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from pb_bss_eval.evaluation import si_sdr

import padertorch_audio as pa

REPO = Path(__file__).parents[2]
RUN = REPO / 'recipes' / 'wsj0_2mix' / 'run.sh'


@pytest.fixture(scope='module')
def experiment(tmp_path_factory):
    root = tmp_path_factory.mktemp('wsj0_2mix_results')
    environment = {**os.environ, 'PYTHON': sys.executable}
    result = subprocess.run(
        ['bash', str(RUN), '--stop_stage', '3', '--exp_dir', str(root / 'exp'),
         f'toy_root={root / "toy"}', 'toy_size=tiny',
         f'database_json={root / "db.json"}', 'seed=0', 'batch_size=2',
         'segment_seconds=1.0', "trainer.stop_trigger=[8,'iteration']",
         "trainer.checkpoint_trigger=[1,'iteration']",
         'trainer.loss_weights.si_sdr=-1.0', 'back_off_patience=1',
         'early_stopping_patience=1', 'validation_examples=2',
         "metrics=['si_sdr']", 'max_eval_examples=2'],
        cwd=REPO, env=environment, capture_output=True, text=True,
        timeout=600)
    assert result.returncode == 0, (result.stdout[-3000:]
                                    + result.stderr[-3000:])
    return root


def load(path):
    return torch.load(path, map_location='cpu', weights_only=True)


def assert_same_weights(state, reference):
    assert state.keys() == reference.keys()
    for name in reference:
        assert torch.equal(state[name], reference[name]), name


def best_and_latest(exp):
    directory = exp / 'checkpoints'
    return (directory / 'ckpt_best_si_sdr.pth').resolve(), \
        (directory / 'ckpt_latest.pth').resolve()


def test_the_best_link_points_to_the_maximum_of_the_ranking(experiment):
    exp = experiment / 'exp'
    ranking = json.loads((exp / 'checkpoints' / 'ckpt_ranking.json')
                         .read_text())
    values = {entry['iteration']: entry['value']
              for entry in ranking['checkpoints']}
    best, latest = best_and_latest(exp)
    assert sorted(values) == list(range(1, load(latest)['iteration'] + 1))
    best_iteration = max(values, key=values.get)  # si_sdr: larger is better
    assert best.name == f'ckpt_{best_iteration}.pth'
    assert load(best)['iteration'] == best_iteration
    assert ranking['best_iteration'] == best_iteration
    assert ranking['best_value'] == values[best_iteration]
    # The run stopped early, on a validation worse than the best.
    assert latest.name == f'ckpt_{max(values)}.pth' != best.name


def test_model_pt_holds_the_weights_of_the_best_checkpoint(experiment):
    exp = experiment / 'exp'
    best, latest = best_and_latest(exp)
    exported = load(exp / 'model.pt')
    assert_same_weights(exported['state_dict'], load(best)['model'])
    latest_weights = load(latest)['model']
    assert any(not torch.equal(exported['state_dict'][name], value)
               for name, value in latest_weights.items())


def test_an_utterance_si_sdr_recomputed_from_the_best_checkpoint(experiment):
    exp = experiment / 'exp'
    config = json.loads((exp / 'config.json').read_text())
    model = pa.Module.from_config(config['model'])
    model.load_state_dict(load(best_and_latest(exp)[0])['model'])
    model.eval()
    line = json.loads((exp / 'eval' / 'tt' / 'results.jsonl').read_text()
                      .splitlines()[0])
    database = json.loads((experiment / 'db.json').read_text())
    paths = database['datasets']['tt'][line['example_id']]['audio_path']
    observation, _ = soundfile.read(paths['observation'], dtype='float32')
    sources = np.stack([soundfile.read(path)[0]
                        for path in paths['speech_source']])

    with torch.no_grad():
        estimate = model({'observation': torch.from_numpy(observation)[None],
                          'num_samples': torch.tensor([len(observation)])})
    estimate = estimate[0].double().numpy()
    assert estimate.shape == sources.shape
    # The assignment with the largest mean SI-SDR; estimate p[k] is source k.
    per_source, permutation = max(
        ((si_sdr(sources, estimate[list(p)]), p)
         for p in itertools.permutations(range(len(sources)))),
        key=lambda candidate: candidate[0].mean())
    assert line['permutation'] == list(permutation)
    assert line['per_source']['si_sdr'] == pytest.approx(per_source, abs=1e-3)
    assert line['si_sdr'] == pytest.approx(per_source.mean(), abs=1e-3)
