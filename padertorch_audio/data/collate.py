"""Combine a list of examples into one batch, padding where lengths differ.

Use :func:`collate` directly, or :class:`Collate` where a picklable callable
is needed (``torch.utils.data.DataLoader(collate_fn=Collate())``,
``lazy_dataset`` pipelines: ``dataset.batch(8).map(Collate())``).
"""
import functools
import numbers

import numpy as np
import torch

__all__ = [
    'collate',
    'Collate',
]


def collate(examples, pad_axis=-1, pad_value=0):
    """Combine a list of example dicts into one batch dict.

    All examples must have the same keys. Per key, the values of all
    examples become:

    - numpy arrays: one numpy array ``(batch, *shape)``.
    - torch tensors: one tensor ``(batch, *shape)`` (torch.stack).
    - Python/numpy numbers and bools: a numpy array ``(batch,)``.
    - dicts: a dict, collated recursively with the same rules.
    - anything else (strings, None, lists, a mix of the above): a list.

    Arrays (or tensors) whose shapes differ only along the pad axis are
    padded at the end of that axis with `pad_value` to the longest one, and
    stacked. Their original sizes along the pad axis are then stored under
    the sibling key ``f'{key}_lengths'`` as an int64 array ``(batch,)``
    (a numpy array for numpy data, a tensor on the data's device for torch
    data). With an int `pad_axis`, the lengths are stored only for keys
    that needed padding in this batch; keys named in a dict `pad_axis` always
    get them, so that every batch has the same keys.

    Args:
        examples: a non-empty list of dicts.
        pad_axis: the axis of one example's array (before stacking; -1 is
            the last axis) along which arrays may differ in size:
            - an int: for all keys,
            - a dict ``{key: axis}``: only for these keys; the other keys
              are never padded. A nested key is named by its own name or
              by its path joined with '.' (``'audio.observation'``),
            - None: no padding; shapes must match.
        pad_value: the value that fills the padding.

    Returns:
        A dict with the keys of the examples (plus the ``_lengths`` keys).

    Raises:
        ValueError: no examples; shapes that differ along another axis than
            the pad axis; an example that already has a ``{key}_lengths``
            key where lengths are to be stored.
        KeyError: a key missing in some example.
        TypeError: an example (or a nested value) is not a dict where the
            others are.

    >>> import numpy as np
    >>> batch = collate([
    ...     {'audio': np.array([1., 2., 3.]), 'speaker': 'A', 'gain': 0.5},
    ...     {'audio': np.array([4.]), 'speaker': 'B', 'gain': 1.0},
    ... ])
    >>> batch['audio']
    array([[1., 2., 3.],
           [4., 0., 0.]])
    >>> batch['audio_lengths']
    array([3, 1])
    >>> batch['speaker'], batch['gain']
    (['A', 'B'], array([0.5, 1. ]))
    """
    _check_pad_axis(pad_axis)
    if isinstance(examples, dict):
        raise TypeError(
            'collate expects a list of example dicts, got a single dict '
            f'with the keys {list(examples)}.'
        )
    examples = list(examples)
    if not examples:
        raise ValueError('collate expects at least one example, got none.')
    for index, example in enumerate(examples):
        if not isinstance(example, dict):
            raise TypeError(
                f'collate expects a list of example dicts, but example '
                f'{index} is a {type(example).__name__}: {example!r:.100}'
            )
    return _collate_dicts(examples, (), pad_axis, pad_value)


class Collate:
    """Picklable :func:`collate` with fixed arguments.

    >>> import pickle, numpy as np
    >>> collate_fn = pickle.loads(pickle.dumps(Collate(pad_value=-1)))
    >>> collate_fn
    Collate(pad_axis=-1, pad_value=-1)
    >>> collate_fn([{'x': np.array([1, 2])}, {'x': np.array([3])}])['x']
    array([[ 1,  2],
           [ 3, -1]])
    """

    def __init__(self, pad_axis=-1, pad_value=0):
        _check_pad_axis(pad_axis)
        self.pad_axis = dict(pad_axis) if isinstance(pad_axis, dict) \
            else pad_axis
        self.pad_value = pad_value

    def __call__(self, examples):
        return collate(examples, self.pad_axis, self.pad_value)

    def __repr__(self):
        return (f'{type(self).__name__}(pad_axis={self.pad_axis!r}, '
                f'pad_value={self.pad_value!r})')


def _check_pad_axis(pad_axis):
    def is_axis(axis):
        return isinstance(axis, (int, np.integer)) \
            and not isinstance(axis, (bool, np.bool_))

    if pad_axis is None or is_axis(pad_axis):
        return
    if isinstance(pad_axis, dict):
        wrong = {k: v for k, v in pad_axis.items() if not is_axis(v)}
        if wrong:
            raise TypeError(
                f'pad_axis maps keys to int axes, found non-int axes for the '
                f'keys {wrong}.'
            )
        return
    raise TypeError(
        f'pad_axis must be an int, a dict {{key: axis}} or None, '
        f'got {pad_axis!r} ({type(pad_axis).__name__}).'
    )


def _name(path):
    return '.'.join(map(str, path))


def _pad_axis_for(pad_axis, path):
    """Return (axis or None, whether the key was named explicitly)."""
    if not isinstance(pad_axis, dict):
        return pad_axis, False
    name = _name(path)
    if name in pad_axis:
        return pad_axis[name], True
    if path[-1] in pad_axis:
        return pad_axis[path[-1]], True
    return None, False


def _check_same_keys(dicts, path):
    keys = dicts[0].keys()
    if all(d.keys() == keys for d in dicts):
        return
    all_keys = list(dict.fromkeys(k for d in dicts for k in d))
    for key in all_keys:
        for index, d in enumerate(dicts):
            if key not in d:
                raise KeyError(
                    f'Key {_name(path + (key,))!r} is missing in example '
                    f'{index}, which has the keys {list(d)} '
                    f'(example {_first_with(dicts, key)} has it).'
                )


def _first_with(dicts, key):
    return next(index for index, d in enumerate(dicts) if key in d)


def _is_number(value):
    return isinstance(value, (numbers.Number, np.bool_))


def _collate_dicts(dicts, path, pad_axis, pad_value):
    _check_same_keys(dicts, path)
    batch = {}
    for key in dicts[0]:
        key_path = path + (key,)
        values = [d[key] for d in dicts]
        first_type = type(values[0])
        if all(type(v) is first_type for v in values) \
                and first_type in (np.ndarray, torch.Tensor):
            is_torch = first_type is torch.Tensor
        elif all(isinstance(v, np.ndarray) for v in values):
            is_torch = False
        elif all(isinstance(v, torch.Tensor) for v in values):
            is_torch = True
        elif any(isinstance(v, dict) for v in values):
            for index, value in enumerate(values):
                if not isinstance(value, dict):
                    raise TypeError(
                        f'Key {_name(key_path)!r} holds a dict in example '
                        f'{_first_with_dict(values)}, but a '
                        f'{type(value).__name__} in example {index}: '
                        f'{value!r:.100}'
                    )
            batch[key] = _collate_dicts(values, key_path, pad_axis, pad_value)
            continue
        elif all(_is_number(v) for v in values):
            batch[key] = np.array(values)
            continue
        else:
            batch[key] = values
            continue

        axis, explicit = _pad_axis_for(pad_axis, key_path)
        batch[key], lengths = _pad_and_stack(
            values, key_path, axis, explicit, pad_value, is_torch)
        if lengths is not None:
            lengths_key = f'{key}_lengths'
            if lengths_key in dicts[0]:
                raise ValueError(
                    f'Cannot store the lengths of the padded key '
                    f'{_name(key_path)!r} under '
                    f'{_name(path + (lengths_key,))!r}: the examples already '
                    f'have this key. Rename it, or exclude {key!r} from '
                    f'padding with a dict pad_axis.'
                )
            batch[lengths_key] = lengths
    return batch


def _first_with_dict(values):
    return next(i for i, v in enumerate(values) if isinstance(v, dict))


def _pad_and_stack(values, path, axis, explicit, pad_value, is_torch):
    """Stack arrays, padding along `axis`; return (stacked, lengths|None)."""
    shapes = [tuple(v.shape) for v in values]
    first = shapes[0]
    needs_padding = any(shape != first for shape in shapes)
    if not needs_padding and not explicit:
        return (torch.stack(values) if is_torch else np.stack(values)), None

    name = _name(path)
    for index, shape in enumerate(shapes):
        if len(shape) != len(first):
            raise ValueError(
                f'Cannot collate key {name!r}: example 0 has shape {first}, '
                f'example {index} has shape {shape} (a different number of '
                f'dimensions).'
            )
    if needs_padding and axis is None:
        raise ValueError(
            f'Cannot collate key {name!r}: the shapes differ and the key is '
            f'not padded (pad_axis does not name it); shapes: {shapes}.'
        )
    ndim = len(first)
    if not -ndim <= axis < ndim:
        raise ValueError(
            f'Cannot pad key {name!r} along pad_axis={axis}: its arrays have '
            f'{ndim} dimensions (shape {first}).'
        )
    axis = axis % ndim
    for index, shape in enumerate(shapes):
        for dim in range(ndim):
            if dim != axis and shape[dim] != first[dim]:
                raise ValueError(
                    f'Cannot collate key {name!r}: the shapes may differ '
                    f'only along the pad axis {axis}, but example 0 has '
                    f'shape {first} and example {index} has shape {shape}.'
                )

    lengths = [shape[axis] for shape in shapes]
    padded_shape = (len(values),) + tuple(
        max(lengths) if dim == axis else first[dim] for dim in range(ndim))
    if is_torch:
        dtype = functools.reduce(torch.promote_types, [v.dtype for v in values])
        device = values[0].device
        if needs_padding:
            stacked = torch.full(
                padded_shape, pad_value, dtype=dtype, device=device)
            for index, value in enumerate(values):
                stacked[(index,) + tuple(map(slice, value.shape))] = value
        else:
            stacked = torch.stack(values)
        lengths = torch.tensor(lengths, dtype=torch.int64, device=device)
    else:
        if needs_padding:
            dtype = functools.reduce(np.promote_types, [v.dtype for v in values])
            stacked = np.full(padded_shape, pad_value, dtype=dtype)
            for index, value in enumerate(values):
                stacked[(index,) + tuple(map(slice, value.shape))] = value
        else:
            stacked = np.stack(values)
        lengths = np.array(lengths, dtype=np.int64)
    return stacked, lengths
