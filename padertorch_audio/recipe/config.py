"""Config helpers for recipes: nested dicts changed by key name."""
import copy

from paderbox.utils.nested import deflatten, flatten

__all__ = ['set_everywhere']


def set_everywhere(config, key, value):
    """A copy of the nested ``config`` with every entry named ``key`` (at any
    depth of nested dicts) set to ``value``, e.g. the number of speakers of
    a model config wherever its modules take it.

    Raises:
        KeyError: ``config`` has no entry named ``key``.

    >>> set_everywhere({'separator': {'num_speakers': 2, 'size': 8},
    ...                 'num_speakers': 2}, 'num_speakers', 3)
    {'separator': {'num_speakers': 3, 'size': 8}, 'num_speakers': 3}
    """
    flat = flatten(copy.deepcopy(dict(config)), sep=None)
    found = [path for path in flat if path[-1] == key]
    if not found:
        raise KeyError(f'The config has no entry {key!r} (its keys: '
                       f'{sorted(".".join(path) for path in flat)}).')
    for path in found:
        flat[path] = value
    return deflatten(flat, sep=None)
