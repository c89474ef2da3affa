"""data_loader (Collate padding, shards, reproducible random loading in the
workers), random_segment and set_everywhere."""
import numpy as np
import pytest
import torch

from padertorch_audio.recipe import data_loader, random_segment, set_everywhere
from padertorch_audio.train import distributed


class _Signals:
    """Examples of different lengths; with ``random``, a value drawn from
    numpy's global generator (what a random segment uses)."""

    def __init__(self, n, random=False):
        self.n, self.random = n, random

    def __len__(self):
        return self.n

    def __getitem__(self, index):
        example = {'example_id': f'e{index}',
                   'audio': np.full(3 + index, index, np.float32)}
        if self.random:
            example['draw'] = np.random.randint(0, 2 ** 30)
        return example


def test_batches_are_padded_to_the_longest_example():
    batches = list(data_loader(_Signals(5), batch_size=2))
    assert [batch['example_id'] for batch in batches] == [
        ['e0', 'e1'], ['e2', 'e3'], ['e4']]
    expected = np.zeros((2, 6), np.float32)  # lengths 5 and 6
    expected[0, :5], expected[1] = 2, 3
    np.testing.assert_array_equal(np.asarray(batches[1]['audio']), expected)


def _orders(monkeypatch, rank, world_size, epochs=(0, 1)):
    monkeypatch.setenv('RANK', str(rank))
    monkeypatch.setenv('WORLD_SIZE', str(world_size))
    loader = data_loader(_Signals(10), batch_size=1, shuffle=True,
                         shard=True)
    orders = []
    for epoch in epochs:
        distributed.set_epoch(loader, epoch)  # as the Trainer does
        orders.append([int(batch['example_id'][0][1:]) for batch in loader])
    return orders


def test_shards_are_disjoint_and_reshuffled_every_epoch(monkeypatch):
    first, second = _orders(monkeypatch, 0, 1)
    assert sorted(first) == sorted(second) == list(range(10))
    assert first != second
    rank0, rank1 = _orders(monkeypatch, 0, 2), _orders(monkeypatch, 1, 2)
    for epoch in (0, 1):
        assert len(rank0[epoch]) == len(rank1[epoch]) == 5
        assert sorted(rank0[epoch] + rank1[epoch]) == list(range(10))


def _draws(seed, num_workers):
    torch.manual_seed(seed)
    loader = data_loader(_Signals(6, random=True), batch_size=2,
                         num_workers=num_workers)
    return [draw for _ in range(2) for batch in loader
            for draw in np.asarray(batch['draw']).tolist()]


def test_random_loading_in_the_workers_is_reproducible():
    draws = _draws(0, num_workers=2)
    assert draws == _draws(0, num_workers=2)
    assert draws != _draws(1, num_workers=2)
    assert draws[:6] != draws[6:]  # each epoch new numbers
    assert len(set(draws[:6])) == 6  # each worker its own numbers


def test_random_segment_covers_every_start():
    rng = np.random.RandomState(0)
    segments = {random_segment(10, 7, rng) for _ in range(200)}
    assert segments == {(start, start + 7) for start in range(4)}
    assert random_segment(7, 7) == random_segment(3, 7) == (0, None)
    assert random_segment(100, None) == (0, None)


def test_set_everywhere_changes_every_entry_of_the_name_only():
    config = {'factory': 'M', 'num_speakers': 2, 'encoder': {'size': 4},
              'separator': {'factory': 'S', 'num_speakers': 2,
                            'layers': [{'num_speakers': 2}]}}
    changed = set_everywhere(config, 'num_speakers', 3)
    assert changed == {'factory': 'M', 'num_speakers': 3,
                       'encoder': {'size': 4},
                       'separator': {'factory': 'S', 'num_speakers': 3,
                                     'layers': [{'num_speakers': 2}]}}
    assert config['separator']['num_speakers'] == 2  # a copy
    with pytest.raises(KeyError, match="no entry 'num_classes'"):
        set_everywhere(config, 'num_classes', 3)
