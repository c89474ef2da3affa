"""A 2-process run with dropout: exact resume and summaries over all ranks.

Both ranks train the same model, each with its own random generator
(different dropout masks). Stopped and resumed, the run must equal the
uninterrupted one bitwise: every rank gets its own generator state back.
The training scalars in tensorboard are the means over both ranks.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from padertorch_audio.summary import read_events_by_tag
from tests.train.test_distributed import free_port

WORKER = Path(__file__).with_name('distributed_dropout_worker.py')
ROOT = Path(__file__).resolve().parents[2]
SUMMARY_PERIOD = 2  # the worker's summary trigger, in iterations

pytestmark = pytest.mark.skipif(
    not torch.distributed.is_available()
    or not torch.distributed.is_gloo_available(),
    reason='torch without gloo')


def launch(storage_dir, stop, resume=False):
    """The worker on 2 gloo processes, trained until ``stop``; returns
    both ranks' results."""
    command = [
        sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
        '--rdzv_backend', 'c10d', '--rdzv_endpoint', f'127.0.0.1:{free_port()}',
        '--monitor_interval', '0.2', str(WORKER), str(storage_dir),
        json.dumps({'stop': stop, 'resume': resume})]
    env = {**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1'}
    process = subprocess.run(command, capture_output=True, text=True,
                             timeout=180, env=env, cwd=ROOT)
    assert process.returncode == 0, process.stdout + process.stderr
    return [torch.load(storage_dir.parent / f'{storage_dir.name}.rank{rank}.pt',
                       weights_only=True) for rank in (0, 1)]


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory):
    storage = tmp_path_factory.mktemp('uninterrupted') / 'run'
    return storage, launch(storage, [3, 'epoch'])


def test_a_stopped_and_resumed_run_with_dropout_equals_the_uninterrupted_one(
        tmp_path, uninterrupted):
    reference_storage, reference = uninterrupted
    storage = tmp_path / 'run'
    launch(storage, [6, 'iteration'])  # stopped inside the 2nd epoch
    resumed = launch(storage, [3, 'epoch'], resume=True)

    # The ranks drew different masks: their losses differ.
    assert reference[0]['losses'][1] != reference[1]['losses'][1]
    for rank in (0, 1):
        assert resumed[rank]['iteration'] == reference[rank]['iteration'] == 12
        for name, value in reference[rank]['parameters'].items():
            assert torch.equal(resumed[rank]['parameters'][name], value), (
                rank, name)
        assert torch.equal(resumed[rank]['rng'], reference[rank]['rng']), rank
        for iteration in range(7, 13):  # the steps of the last part
            assert resumed[rank]['losses'][iteration] \
                == reference[rank]['losses'][iteration], (rank, iteration)
    # The summaries are the uninterrupted ones (the stop added a validation
    # at iteration 6).
    scalars = read_events_by_tag(storage, 'scalar')
    expected = read_events_by_tag(reference_storage, 'scalar')
    for tag in ('training/loss', 'training/rank', 'validation/loss'):
        for step, value in expected[tag].items():
            assert scalars[tag][step] == value, (tag, step)


def test_training_scalars_are_the_means_over_the_ranks(uninterrupted):
    storage, results = uninterrupted
    scalars = read_events_by_tag(storage, 'scalar')

    steps = range(SUMMARY_PERIOD, 13, SUMMARY_PERIOD)
    assert sorted(scalars['training/loss']) == list(steps)
    for step in steps:
        interval = range(step - SUMMARY_PERIOD + 1, step + 1)
        losses = [result['losses'][iteration]
                  for result in results for iteration in interval]
        assert len(losses) == 2 * SUMMARY_PERIOD
        assert scalars['training/loss'][step] == pytest.approx(
            sum(losses) / len(losses), rel=1e-6)
        assert scalars['training/rank'][step] == 0.5  # (0 + 1) / 2
