"""Move a (nested) example to a device as torch tensors.

This runs once per training step, so the common case (a dict of a few
tensors) is kept cheap: the conversion is looked up by the exact type of
each value in a dict instead of walking an isinstance chain, and a tensor
already on the target device is returned as it is.
"""
import copy

import numpy as np
import torch

__all__ = [
    'example_to_device',
]

# numpy dtype kinds that torch can represent: bool, int, uint, float, complex.
_NUMERIC_KINDS = frozenset('biufc')


def example_to_device(example, device=None, non_blocking=False):
    """Convert the arrays in a nested example to torch tensors on `device`.

    Walks dicts, lists and tuples (and their subclasses, namedtuples
    included), keeping their types, and converts the leaves:

    - torch.Tensor: moved to `device` (returned as is when already there or
      when `device` is None).
    - numpy.ndarray of bool/int/float/complex dtype: a tensor of the same
      dtype and shape (sharing memory with the array where possible) on
      `device` (on the CPU when `device` is None).
    - everything else, numpy arrays of strings or objects (dtype kind 'U',
      'S', 'O') included, is returned unchanged (strings, numbers, None).

    Args:
        example: nested dicts/lists/tuples with the leaves described above.
        device: torch.device, str (e.g. 'cpu', 'cuda:0') or None.
        non_blocking: passed to ``Tensor.to``: asynchronous copies to a GPU
            for tensors in pinned memory.

    Returns:
        An example of the same structure. The input is not modified.

    >>> import numpy as np, torch
    >>> example = {'audio': np.zeros((2, 3), dtype=np.float32),
    ...            'lengths': [torch.tensor(3)], 'id': 'a0', 'rate': 8000}
    >>> out = example_to_device(example, 'cpu')
    >>> out['audio'].dtype, tuple(out['audio'].shape), out['audio'].device
    (torch.float32, (2, 3), device(type='cpu'))
    >>> out['lengths'], out['id'], out['rate']
    ([tensor(3)], 'a0', 8000)
    """
    if device is not None and type(device) is not torch.device:
        device = torch.device(device)
    return _to_device(example, device, non_blocking)


def _to_device(value, device, non_blocking):
    convert = _CONVERTERS.get(type(value))
    if convert is None:
        convert = _converter_for(type(value))
    return convert(value, device, non_blocking)


def _tensor_to_device(tensor, device, non_blocking):
    if device is None or tensor.device == device:
        return tensor
    return tensor.to(device, non_blocking=non_blocking)


def _array_to_device(array, device, non_blocking):
    if array.dtype.kind not in _NUMERIC_KINDS:
        return array
    if not array.flags.writeable:
        # A tensor sharing read-only memory could be written in place.
        array = np.array(array)
    try:
        tensor = torch.from_numpy(array)
    except ValueError:
        # Negative strides or non-native byte order: torch needs a copy.
        array = np.ascontiguousarray(
            array, dtype=array.dtype.newbyteorder('='))
        tensor = torch.from_numpy(array)
    if device is None:
        return tensor
    return tensor.to(device, non_blocking=non_blocking)


def _dict_to_device(dictionary, device, non_blocking):
    get = _CONVERTERS.get
    return {
        key: (get(type(value)) or _converter_for(type(value)))(
            value, device, non_blocking)
        for key, value in dictionary.items()
    }


def _list_to_device(values, device, non_blocking):
    return [_to_device(value, device, non_blocking) for value in values]


def _tuple_to_device(values, device, non_blocking):
    return tuple([_to_device(value, device, non_blocking) for value in values])


def _dict_subclass_to_device(dictionary, device, non_blocking):
    # copy.copy keeps the subclass and its state (e.g. a defaultdict's
    # default_factory, an OrderedDict's order).
    new = copy.copy(dictionary)
    for key, value in dictionary.items():
        new[key] = _to_device(value, device, non_blocking)
    return new


def _list_subclass_to_device(values, device, non_blocking):
    new = copy.copy(values)
    new[:] = [_to_device(value, device, non_blocking) for value in values]
    return new


def _namedtuple_to_device(values, device, non_blocking):
    return type(values)(
        *[_to_device(value, device, non_blocking) for value in values])


def _tuple_subclass_to_device(values, device, non_blocking):
    return type(values)(
        [_to_device(value, device, non_blocking) for value in values])


def _unchanged(value, device, non_blocking):
    return value


# Exact type -> converter. Types seen for the first time are classified by
# _converter_for and added, so later lookups are a single dict access.
_CONVERTERS = {
    torch.Tensor: _tensor_to_device,
    np.ndarray: _array_to_device,
    dict: _dict_to_device,
    list: _list_to_device,
    tuple: _tuple_to_device,
    str: _unchanged,
    bytes: _unchanged,
    int: _unchanged,
    float: _unchanged,
    bool: _unchanged,
    complex: _unchanged,
    type(None): _unchanged,
    torch.Size: _unchanged,
    torch.device: _unchanged,
    torch.dtype: _unchanged,
}


def _converter_for(cls):
    if issubclass(cls, torch.Tensor):  # e.g. torch.nn.Parameter
        convert = _tensor_to_device
    elif issubclass(cls, np.ndarray):  # e.g. numpy.memmap
        convert = _array_to_device
    elif issubclass(cls, dict):
        convert = _dict_subclass_to_device
    elif issubclass(cls, list):
        convert = _list_subclass_to_device
    elif issubclass(cls, tuple) and hasattr(cls, '_fields'):
        convert = _namedtuple_to_device
    elif issubclass(cls, tuple):
        convert = _tuple_subclass_to_device
    else:
        convert = _unchanged
    _CONVERTERS[cls] = convert
    return convert
