import collections

import numpy as np
import pytest
import torch

from padertorch_audio.data import example_to_device

Pair = collections.namedtuple('Pair', ['first', 'second'])


def test_nested_structure_is_kept_and_arrays_become_tensors():
    example = {
        'audio': np.arange(6, dtype=np.float32).reshape(2, 3),
        'meta': {'ids': ['a', 'b'], 'num_samples': (3, np.array([1, 2]))},
        'pair': Pair(torch.ones(2), None),
    }
    out = example_to_device(example, 'cpu')

    assert out.keys() == example.keys()
    torch.testing.assert_close(out['audio'], torch.tensor([[0., 1, 2], [3, 4, 5]]))
    assert out['meta']['ids'] == ['a', 'b']
    assert type(out['meta']['num_samples']) is tuple
    assert out['meta']['num_samples'][0] == 3
    torch.testing.assert_close(out['meta']['num_samples'][1], torch.tensor([1, 2]))
    assert type(out['pair']) is Pair and out['pair'].second is None
    assert isinstance(example['audio'], np.ndarray)  # the input is not modified


@pytest.mark.parametrize('dtype', [
    np.float16, np.float32, np.float64, np.complex64, np.complex128,
    np.int8, np.int16, np.int32, np.int64, np.uint8, np.bool_,
])
def test_dtype_and_values_are_kept(dtype):
    array = (np.arange(4) % 3).astype(dtype)
    tensor = example_to_device(array)
    assert tensor.dtype == torch.from_numpy(np.zeros(1, dtype)).dtype
    np.testing.assert_array_equal(tensor.numpy(), array)


@pytest.mark.parametrize('array', [
    np.arange(5.)[::-1],                          # negative stride
    np.arange(6.).reshape(2, 3).T,                # not contiguous
    np.arange(5, dtype='>f4'),                    # big endian
    np.frombuffer(b'\x01\x02\x03', np.uint8),     # read only
], ids=['negative-stride', 'transposed', 'big-endian', 'read-only'])
def test_unusual_arrays_are_converted_by_value(array):
    tensor = example_to_device(array, 'cpu')
    assert tensor.tolist() == array.tolist()


def test_leaves_that_are_not_arrays_pass_through_unchanged():
    leaves = ['id', b'raw', 3, 2.5, True, None, np.float32(1.5),
              np.array(['a', 'bc']), np.array([b'a']), np.array([{}, 1], dtype=object),
              {'a', 'b'}, torch.float32]
    out = example_to_device(leaves, 'cpu')
    assert all(o is leaf for o, leaf in zip(out, leaves))


def test_device_none_converts_arrays_but_keeps_tensors():
    tensor = torch.zeros(2)
    out = example_to_device({'tensor': tensor, 'array': np.zeros(2)})
    assert out['tensor'] is tensor
    assert isinstance(out['array'], torch.Tensor) and out['array'].device.type == 'cpu'


def test_tensor_already_on_the_device_is_returned_as_is():
    tensor = torch.zeros(2)
    assert example_to_device([tensor], 'cpu')[0] is tensor
    assert example_to_device([tensor], torch.device('cpu'))[0] is tensor


def test_tensors_are_moved_to_another_device():
    # The 'meta' device moves tensors for real without needing a GPU.
    out = example_to_device({'x': torch.zeros(2, 3), 'y': [np.zeros(4)]}, 'meta')
    assert out['x'].device.type == 'meta' and out['x'].shape == (2, 3)
    assert out['y'][0].device.type == 'meta' and out['y'][0].dtype == torch.float64


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a GPU')
def test_tensors_are_moved_to_the_gpu():
    out = example_to_device({'x': torch.arange(3), 'y': np.arange(3)}, 'cuda',
                            non_blocking=True)
    assert out['x'].is_cuda and out['y'].is_cuda
    assert out['x'].tolist() == out['y'].tolist() == [0, 1, 2]


def test_container_subclasses_keep_their_type():
    counts = collections.defaultdict(list, {'x': np.ones(1)})
    ordered = collections.OrderedDict([('b', np.ones(1)), ('a', 1)])
    out = example_to_device([counts, ordered, torch.Size([2, 3])])
    assert type(out[0]) is collections.defaultdict and out[0].default_factory is list
    assert type(out[1]) is collections.OrderedDict and list(out[1]) == ['b', 'a']
    assert isinstance(out[0]['x'], torch.Tensor) and isinstance(out[1]['b'], torch.Tensor)
    assert out[2] == torch.Size([2, 3])


def test_parameter_is_handled_like_a_tensor():
    parameter = torch.nn.Parameter(torch.zeros(2))
    assert example_to_device({'p': parameter}, 'cpu')['p'] is parameter
