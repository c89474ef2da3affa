"""Distributed training with torchrun, gloo and 2 processes on the CPU.

The references are hand-written single-process loops over the
concatenated batches of all ranks (float64, so that the only differences
are rounding).
"""
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from padertorch_audio.train import checkpoint as ckpt
from tests.train.distributed_worker import make_batches, _Dataset

WORKER = Path(__file__).with_name('distributed_worker.py')
ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    not torch.distributed.is_available()
    or not torch.distributed.is_gloo_available(),
    reason='torch without gloo')


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def torchrun(scenario, storage_dir, timeout=120, **options):
    """Run the worker on 2 processes; return (returncode, output, seconds)."""
    command = [
        sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
        '--rdzv_backend', 'c10d', '--rdzv_endpoint', f'127.0.0.1:{free_port()}',
        '--monitor_interval', '0.2',
        str(WORKER), scenario, str(storage_dir), json.dumps(options)]
    env = {**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1'}
    start = time.monotonic()
    process = subprocess.run(command, capture_output=True, text=True,
                             timeout=timeout, env=env, cwd=ROOT)
    return (process.returncode, process.stdout + process.stderr,
            time.monotonic() - start)


def rank_results(storage_dir):
    return [json.loads((storage_dir.parent
                        / f'{storage_dir.name}.rank{rank}.json').read_text())
            for rank in (0, 1)]


def reference_training(step_batches, epochs=1):
    """Hand-written loop: one SGD step per list of batches (concatenated)."""
    torch.manual_seed(0)
    linear = torch.nn.Linear(3, 2).double()
    optimizer = torch.optim.SGD(linear.parameters(), lr=0.1, momentum=0.9)
    for epoch in range(epochs):
        for batches in step_batches(epoch):
            x = torch.cat([b['x'] for b in batches])
            y = torch.cat([b['y'] for b in batches])
            optimizer.zero_grad()
            ((linear(x) - y) ** 2).mean().backward()
            optimizer.step()
    return linear


def reference_validation(linear):
    with torch.no_grad():
        losses = [((linear(b['x']) - b['y']) ** 2).mean().item()
                  for b in make_batches(3, 4, seed=1)]
    return float(np.mean(losses))


def assert_parameters(result, linear, tolerance=1e-6):
    np.testing.assert_allclose(result['parameters']['linear.weight'],
                               linear.weight.detach().numpy(), atol=tolerance)
    np.testing.assert_allclose(result['parameters']['linear.bias'],
                               linear.bias.detach().numpy(), atol=tolerance)


def in_groups(batches, size):
    return [batches[i:i + size] for i in range(0, len(batches), size)]


@pytest.mark.parametrize('virtual_minibatch_size,num_batches', [
    (1, 8),     # 4 steps of 2 ranks x 1 batch
    (2, 6),     # no_sync accumulation, then an incomplete last step
])
def test_two_processes_equal_one_over_concatenated_batches(
        tmp_path, virtual_minibatch_size, num_batches):
    storage = tmp_path / 'run'
    code, output, _ = torchrun(
        'lists', storage, virtual_minibatch_size=virtual_minibatch_size,
        num_batches=num_batches)
    assert code == 0, output
    batches = make_batches(num_batches, 4)
    # Rank r gets the global batches r, r + 2, ...; a step takes
    # virtual_minibatch_size of them from each rank.
    reference = reference_training(
        lambda epoch: in_groups(batches, 2 * virtual_minibatch_size))
    results = rank_results(storage)
    for rank, result in enumerate(results):
        assert result['world_size'] == 2
        assert_parameters(result, reference)
        assert result['seen'] == [b['index'].tolist()
                                  for b in batches[rank::2]]
    # Validation: 3 batches over 2 ranks (2 + 1), metrics summed over both.
    ranking = json.loads(
        (storage / 'checkpoints' / 'ckpt_ranking.json').read_text())
    assert ranking['checkpoints'][0]['value'] == pytest.approx(
        reference_validation(reference), abs=1e-9)
    # Only rank 0 wrote: one event file, one set of checkpoints.
    assert len(list(storage.glob('events.out.tfevents.*'))) == 1
    environment = json.loads((storage / 'environment.json').read_text())
    assert environment['world_size'] == 2
    state = ckpt.load_checkpoint(storage / 'checkpoints' / 'ckpt_latest.pth')
    assert len(state['rank_rng']) == 2


def loader_steps(epoch, batch_size=3):
    """The documented shard contract: one permutation of all ranks from
    numpy's default_rng([seed, epoch]), rank r takes perm[r::2]."""
    permutation = np.random.default_rng([0, epoch]).permutation(24)
    shards = [permutation[rank::2] for rank in (0, 1)]
    return [[shard[i:i + batch_size] for shard in shards]
            for i in range(0, 12, batch_size)]


def loader_batches(epoch):
    examples = make_batches(24, 1)
    return [[{key: torch.cat([examples[i][key] for i in indices])
              for key in ('x', 'y')} for indices in step]
            for step in loader_steps(epoch)]


def test_dataloader_shards_are_disjoint_and_reshuffled(tmp_path):
    storage = tmp_path / 'run'
    code, output, _ = torchrun('loader', storage, epochs=2)
    assert code == 0, output
    results = rank_results(storage)
    for epoch in range(2):
        seen = [result['seen'][4 * epoch:4 * (epoch + 1)]
                for result in results]
        flat = [sorted(sum(rank_seen, [])) for rank_seen in seen]
        assert not set(flat[0]) & set(flat[1])          # disjoint
        assert sorted(flat[0] + flat[1]) == list(range(24))  # complete
        for rank in (0, 1):
            assert seen[rank] == [list(step[rank]) for step in
                                  loader_steps(epoch)]
    assert results[0]['seen'][:4] != results[0]['seen'][4:]  # reshuffled
    reference = reference_training(loader_batches, epochs=2)
    for result in results:
        assert_parameters(result, reference)


def test_resume_of_a_two_process_run(tmp_path):
    storage = tmp_path / 'run'
    code, output, _ = torchrun('loader', storage, epochs=1)
    assert code == 0, output
    code, output, _ = torchrun('loader', storage, epochs=3, resume=True)
    assert code == 0, output
    reference = reference_training(loader_batches, epochs=3)
    for result in rank_results(storage):
        assert result['iteration'] == 12
        assert_parameters(result, reference)


def test_sigterm_on_one_rank_gives_one_consistent_checkpoint(tmp_path):
    storage = tmp_path / 'run'
    # Rank 1 alone gets SIGTERM in its 6th forward pass (epoch 2).
    code, output, _ = torchrun('lists', storage, epochs=3,
                               signal_at=[1, 6])
    assert code != 0
    results = rank_results(storage)
    assert [r['iteration'] for r in results] == [6, 6], output
    latest = ckpt.resolve_link(storage / 'checkpoints' / 'ckpt_latest.pth')
    assert latest.name == 'ckpt_6.pth'
    assert ckpt.load_checkpoint(latest)['iteration'] == 6
    assert not list((storage / 'checkpoints').glob('.*tmp*'))
    code, output, _ = torchrun('lists', storage, epochs=3, resume=True)
    assert code == 0, output
    batches = make_batches(8, 4)
    reference = reference_training(lambda epoch: in_groups(batches, 2),
                                   epochs=3)
    for result in rank_results(storage):
        assert result['iteration'] == 12
        assert_parameters(result, reference)


def test_a_rank_that_raises_ends_the_job_with_its_error(tmp_path):
    storage = tmp_path / 'run'
    code, output, seconds = torchrun('lists', storage, fail_at=[1, 3])
    assert code != 0
    assert seconds < 60
    assert 'boom on rank 1 at pass 3' in output
    # The epoch never ended: no checkpoint, no temporary file.
    assert not (storage / 'checkpoints').exists() or not [
        p for p in (storage / 'checkpoints').iterdir()]


def run_rank_alone(tmp_path, env_changes, timeout=60):
    """One rank of a world of 2 whose peer never comes."""
    script = (
        'import sys, torch, padertorch_audio as pa\n'
        'from tests.train.models import Regression\n'
        'trainer = pa.Trainer(Regression(), sys.argv[1], '
        'pa.optimizer.SGD(lr=0.1), progress=False)\n'
        'data = [{"x": torch.ones(2, 3), "y": torch.ones(2, 2)}] * 4\n'
        'trainer.train(data, device="cpu")\n')
    env = {key: value for key, value in os.environ.items()
           if key not in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT',
                          'LOCAL_RANK')}
    env.update({'PYTHONPATH': str(ROOT), **env_changes})
    start = time.monotonic()
    process = subprocess.run(
        [sys.executable, '-c', script, str(tmp_path / 'run')],
        capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)
    return process, time.monotonic() - start


@pytest.mark.parametrize('rank', ['0', '1'])
def test_a_rank_that_cannot_reach_the_others_fails_in_time(tmp_path, rank):
    port = str(free_port())
    process, seconds = run_rank_alone(tmp_path, {
        'WORLD_SIZE': '2', 'RANK': rank, 'LOCAL_RANK': rank,
        'MASTER_ADDR': '127.0.0.1', 'MASTER_PORT': port,
        'PADERTORCH_AUDIO_DIST_TIMEOUT': '3'})
    assert process.returncode != 0
    assert seconds < 40
    assert 'DistributedError' in process.stderr
    assert f'could not join the others at 127.0.0.1:{port}' in process.stderr
    assert not (tmp_path / 'run').exists()   # nothing written


def test_a_missing_rendezvous_endpoint_is_named(tmp_path):
    process, _ = run_rank_alone(tmp_path, {'WORLD_SIZE': '2', 'RANK': '0'})
    assert process.returncode != 0
    assert ('WORLD_SIZE=2, but MASTER_ADDR, MASTER_PORT are not set'
            in process.stderr)
    assert not (tmp_path / 'run').exists()


# --------------------------------------------------------------------------
# The sharding helpers, in one process (rank and world size given)
# --------------------------------------------------------------------------

from padertorch_audio.train import distributed  # noqa: E402


@pytest.mark.parametrize('length,drop_last', [(10, False), (10, True),
                                              (9, False), (9, True)])
def test_shard_sampler_splits_one_permutation(length, drop_last):
    samplers = [distributed.ShardSampler(range(length), shuffle=True,
                                         seed=3, drop_last=drop_last,
                                         rank=rank, world_size=3)
                for rank in range(3)]
    for epoch in (0, 1):
        for s in samplers:
            s.set_epoch(epoch)
        shards = [list(s) for s in samplers]
        assert len({len(shard) for shard in shards}) == 1   # even
        assert all(len(shard) == len(s) for shard, s in zip(shards, samplers))
        permutation = np.random.default_rng([3, epoch]).permutation(length)
        expected = list(permutation)
        if drop_last:
            expected = expected[:length - length % 3]
        else:  # repeated from the start to a multiple of 3
            expected += expected[:(-length) % 3]
        interleaved = [shards[i % 3][i // 3] for i in range(len(expected))]
        assert interleaved == expected


def test_shard_dataset_continues_a_lazy_pipeline():
    import lazy_dataset
    base = lazy_dataset.new({f'e{i}': {'value': i} for i in range(7)})
    shards = [distributed.ShardDataset(base, seed=1, rank=rank, world_size=2)
              .map(lambda example: example['value']).batch(2)
              for rank in range(2)]
    for epoch in (0, 1):
        for pipeline in shards:
            distributed.set_epoch(pipeline, epoch)   # found down the chain
        values = [[v for batch in pipeline for v in batch]
                  for pipeline in shards]
        permutation = np.random.default_rng([1, epoch]).permutation(7)
        padded = list(permutation) + [permutation[0]]
        keys = list(base.keys())
        expected = [[int(keys[i][1:]) for i in padded[rank::2]]
                    for rank in range(2)]
        assert values == expected
    with pytest.raises(TypeError, match='indexable'):
        distributed.ShardDataset(base.shuffle(reshuffle=True))


def test_shard_of_lists_loaders_and_iterables(monkeypatch):
    monkeypatch.setenv('WORLD_SIZE', '2')
    monkeypatch.setenv('RANK', '1')
    assert distributed.shard(list(range(7))) == [1, 3, 5]
    assert distributed.shard(list(range(7)), even=False) == [1, 3, 5]
    assert distributed.shard(tuple(range(6))) == (1, 3, 5)
    # Validation: exactly every 2nd batch of the original loader.
    loader = torch.utils.data.DataLoader(_Dataset(list(range(7))),
                                         batch_size=2)
    sharded = distributed.shard(loader, even=False)
    assert [b.tolist() for b in sharded] == [[2, 3], [6]]
    assert distributed.is_sharded(sharded)
    # Training: a ShardSampler in place of the loader's sampler.
    loader = torch.utils.data.DataLoader(_Dataset(list(range(8))),
                                         batch_size=2, shuffle=True)
    sharded = distributed.shard(loader)
    distributed.set_epoch(sharded, 4)
    assert sharded.sampler.epoch == 4 and sharded.sampler.shuffle
    permutation = np.random.default_rng([0, 4]).permutation(8)
    assert [v for b in sharded for v in b.tolist()] == list(permutation[1::2])
    # Anything else: every 2nd element of its iteration.
    strided = distributed.shard(range(5))
    assert list(strided) == [1, 3] and len(strided) == 2
    assert not distributed.is_sharded(loader)


def test_per_rank_batch_size_and_world_of_one(monkeypatch):
    monkeypatch.delenv('WORLD_SIZE', raising=False)
    monkeypatch.delenv('RANK', raising=False)
    assert distributed.get_world_size() == 1 and distributed.get_rank() == 0
    data = [1, 2, 3]
    assert distributed.shard(data) is data
    assert distributed.per_rank_batch_size(6) == 6
    with pytest.raises(ValueError, match='batch size 6 is not divisible by '
                                         'the world size 4'):
        distributed.per_rank_batch_size(6, world_size=4)
    monkeypatch.setenv('WORLD_SIZE', 'two')
    with pytest.raises(distributed.DistributedError, match="WORLD_SIZE='two'"):
        distributed.get_world_size()
