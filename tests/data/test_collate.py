import pickle

import numpy as np
import pytest
import torch

from padertorch_audio.data import Collate, collate


def test_equal_shapes_are_stacked_without_lengths():
    batch = collate([
        {'x': np.array([1, 2]), 't': torch.tensor([1.]), 'id': 'a', 'n': 3, 'ok': True},
        {'x': np.array([3, 4]), 't': torch.tensor([2.]), 'id': 'b', 'n': 4, 'ok': False},
    ])
    assert list(batch) == ['x', 't', 'id', 'n', 'ok']
    np.testing.assert_array_equal(batch['x'], np.array([[1, 2], [3, 4]]))
    torch.testing.assert_close(batch['t'], torch.tensor([[1.], [2.]]))
    assert batch['id'] == ['a', 'b']
    np.testing.assert_array_equal(batch['n'], np.array([3, 4]))
    assert batch['ok'].dtype == np.bool_ and batch['ok'].tolist() == [True, False]


def test_numpy_arrays_are_padded_at_the_end_of_the_last_axis():
    batch = collate([
        {'audio': np.array([[1., 2.], [3., 4.]])},
        {'audio': np.array([[5., 6., 7.], [8., 9., 10.]])},
        {'audio': np.array([[11.], [12.]])},
    ], pad_value=-1)
    expected = np.array([
        [[1., 2., -1], [3., 4., -1]],
        [[5., 6., 7.], [8., 9., 10.]],
        [[11., -1, -1], [12., -1, -1]],
    ])
    np.testing.assert_array_equal(batch['audio'], expected)
    assert batch['audio_lengths'].dtype == np.int64
    assert batch['audio_lengths'].tolist() == [2, 3, 1]


def test_tensors_are_padded_and_get_tensor_lengths():
    batch = collate([{'x': torch.tensor([1, 2, 3])}, {'x': torch.tensor([4])}])
    torch.testing.assert_close(batch['x'], torch.tensor([[1, 2, 3], [4, 0, 0]]))
    torch.testing.assert_close(batch['x_lengths'], torch.tensor([3, 1]))
    assert batch['x_lengths'].dtype == torch.int64


@pytest.mark.parametrize('library', ['numpy', 'torch'])
def test_padding_along_the_frame_axis_equals_a_brute_force_loop(library):
    rng = np.random.default_rng(0)
    frames = [5, 2, 7, 7]
    arrays = [rng.normal(size=(3, n, 4)) for n in frames]  # (channels, frames, bins)
    examples = [{'stft': a if library == 'numpy' else torch.from_numpy(a)} for a in arrays]

    batch = collate(examples, pad_axis=1, pad_value=np.nan)

    expected = np.full((4, 3, 7, 4), np.nan)
    for b, array in enumerate(arrays):
        for c in range(3):
            for t in range(array.shape[1]):
                expected[b, c, t] = array[c, t]
    np.testing.assert_array_equal(np.asarray(batch['stft']), expected)
    assert np.asarray(batch['stft_lengths']).tolist() == frames


def test_nested_dicts_are_collated_with_lengths_beside_their_key():
    batch = collate([
        {'audio': {'observation': np.ones(3), 'speech': np.ones(3)}, 'id': 'a'},
        {'audio': {'observation': np.ones(2), 'speech': np.ones(3)}, 'id': 'b'},
    ])
    assert list(batch['audio']) == ['observation', 'observation_lengths', 'speech']
    np.testing.assert_array_equal(batch['audio']['observation'], [[1, 1, 1], [1, 1, 0]])
    assert batch['audio']['observation_lengths'].tolist() == [3, 2]


def test_a_pad_axis_dict_pads_only_the_named_keys_and_always_gives_lengths():
    examples = [{'x': np.ones((2, 4)), 'y': np.ones(3), 'z': np.ones(1)},
                {'x': np.ones((3, 4)), 'y': np.ones(3), 'z': np.ones(2)}]
    batch = collate(examples[:1] + examples[:1], pad_axis={'x': 0, 'y': -1})
    assert sorted(batch) == ['x', 'x_lengths', 'y', 'y_lengths', 'z']
    assert batch['x_lengths'].tolist() == [2, 2]

    with pytest.raises(ValueError, match=r"'z'.*not padded.*\[\(1,\), \(2,\)\]"):
        collate(examples, pad_axis={'x': 0, 'y': -1})


def test_a_pad_axis_dict_may_name_nested_keys_by_path():
    examples = [{'a': {'x': np.ones(2)}, 'b': {'x': np.ones(1)}},
                {'a': {'x': np.ones(1)}, 'b': {'x': np.ones(1)}}]
    batch = collate(examples, pad_axis={'a.x': -1})
    assert batch['a']['x_lengths'].tolist() == [2, 1]
    assert list(batch['b']) == ['x']


def test_mixed_or_other_values_become_lists():
    batch = collate([{'v': None, 'w': 1, 'l': [1]}, {'v': np.ones(1), 'w': 'x', 'l': [2, 3]}])
    assert batch['v'][0] is None and batch['w'] == [1, 'x'] and batch['l'] == [[1], [2, 3]]


def test_collate_class_is_picklable_and_works_as_dataloader_collate_fn():
    collate_fn = pickle.loads(pickle.dumps(Collate(pad_axis={'x': -1}, pad_value=9)))
    dataset = [{'x': np.arange(n)} for n in [1, 3]]
    [batch] = torch.utils.data.DataLoader(dataset, batch_size=2, collate_fn=collate_fn)
    np.testing.assert_array_equal(batch['x'], [[0, 9, 9], [0, 1, 2]])


def test_collate_class_in_a_lazy_dataset_pipeline():
    lazy_dataset = pytest.importorskip('lazy_dataset')
    dataset = lazy_dataset.new([{'x': np.ones(n)} for n in [1, 2, 3]])
    batches = list(dataset.batch(2).map(Collate()))
    assert [b['x'].shape for b in batches] == [(2, 2), (1, 3)]


# --- errors ----------------------------------------------------------------

def test_empty_list_is_an_error():
    with pytest.raises(ValueError, match='at least one example'):
        collate([])


def test_a_missing_key_is_named_with_the_example_and_its_keys():
    with pytest.raises(KeyError, match=r"'speaker'.*example 1.*\['audio'\]"):
        collate([{'audio': 1, 'speaker': 'a'}, {'audio': 2}])
    with pytest.raises(KeyError, match=r"'extra'.*example 0"):
        collate([{'audio': 1}, {'audio': 2, 'extra': 3}])
    with pytest.raises(KeyError, match=r"'audio.speech'.*example 1"):
        collate([{'audio': {'speech': 1}}, {'audio': {}}])


def test_shapes_that_differ_along_another_axis_are_named():
    examples = [{'stft': np.ones((5, 257))}, {'stft': np.ones((5, 129))}]
    with pytest.raises(ValueError, match=r"'stft'.*\(5, 257\).*\(5, 129\)"):
        collate(examples, pad_axis=0)
    with pytest.raises(ValueError, match=r"'stft'.*\(5, 257\).*\(5,\)"):
        collate([{'stft': np.ones((5, 257))}, {'stft': np.ones(5)}])


def test_a_clash_with_an_existing_lengths_key_is_an_error():
    examples = [{'x': np.ones(2), 'x_lengths': 2}, {'x': np.ones(1), 'x_lengths': 1}]
    with pytest.raises(ValueError, match="'x_lengths'"):
        collate(examples)


def test_a_dict_beside_a_non_dict_is_an_error():
    with pytest.raises(TypeError, match=r"'audio'.*dict in example 0.*str in example 1"):
        collate([{'audio': {'speech': 1}}, {'audio': 'path.wav'}])


def test_a_wrong_pad_axis_is_an_error():
    with pytest.raises(TypeError, match='pad_axis'):
        Collate(pad_axis='time')
    with pytest.raises(ValueError, match=r"'x'.*pad_axis=2.*shape \(2,\)"):
        collate([{'x': np.ones(2)}, {'x': np.ones(3)}], pad_axis=2)
