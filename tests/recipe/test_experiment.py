"""Experiment: rank 0 records the observed commands in <exp_dir>/sacred; a
global batch size the ranks cannot share fails before anything exists."""
import json

import pytest

from padertorch_audio.recipe import Experiment


def _experiment(exp_dir, batch_size):
    ex = Experiment('test', save_git_info=False)
    ex.add_config(exp_dir=str(exp_dir), batch_size=batch_size)
    calls = []

    @ex.command
    def train(batch_size):
        calls.append(('train', batch_size))

    @ex.command
    def evaluate(exp_dir):
        calls.append(('evaluate', exp_dir))
    return ex, calls


def _run(ex, command):
    return ex.run(command, options={'--loglevel': 'ERROR'})


def _world(monkeypatch, rank, world_size):
    monkeypatch.setenv('RANK', str(rank))
    monkeypatch.setenv('WORLD_SIZE', str(world_size))


def test_one_process_records_train_only(tmp_path):
    ex, calls = _experiment(tmp_path / 'exp', 4)
    _run(ex, 'evaluate')
    assert not (tmp_path / 'exp').exists()
    _run(ex, 'train')
    records = [path.parent for path in
               (tmp_path / 'exp' / 'sacred').glob('*/run.json')]
    assert [path.name for path in records] == ['1']
    config = json.loads((records[0] / 'config.json').read_text())
    assert config['batch_size'] == 4
    run = json.loads((records[0] / 'run.json').read_text())
    assert run['command'] == 'train' and run['status'] == 'COMPLETED'
    assert calls == [('evaluate', str(tmp_path / 'exp')), ('train', 4)]


def test_only_rank_0_records(tmp_path, monkeypatch):
    _world(monkeypatch, 1, 2)
    ex, calls = _experiment(tmp_path / 'exp', 4)
    _run(ex, 'train')
    assert calls == [('train', 4)]
    assert not (tmp_path / 'exp').exists()
    _world(monkeypatch, 0, 2)
    _run(ex, 'train')
    assert len(list((tmp_path / 'exp' / 'sacred').glob('*/run.json'))) == 1


@pytest.mark.parametrize('rank', [0, 1])
def test_a_batch_size_the_ranks_cannot_share_fails_first(
        tmp_path, monkeypatch, rank):
    _world(monkeypatch, rank, 2)
    ex, calls = _experiment(tmp_path / 'exp', 3)
    with pytest.raises(ValueError, match='batch size 3 is not divisible by '
                                         'the world size 2'):
        _run(ex, 'train')
    assert calls == [] and not (tmp_path / 'exp').exists()


def test_a_config_without_batch_size_is_named(tmp_path):
    ex = Experiment('named', save_git_info=False)
    ex.add_config(exp_dir=str(tmp_path))

    @ex.command
    def train():
        pass
    with pytest.raises(KeyError, match="'named' experiment has no "
                                       "'batch_size'"):
        _run(ex, 'train')
