"""Modules that remember how they were built.

A separation model is exported with its config (see
:mod:`padertorch_audio.separation.export`). To have that config whichever way
the model was built (``from_config``, a nested factory in a trainer config,
or a plain constructor call), the modules of this package derive from
:class:`RecordsConfig`: it records the arguments of the outermost
``__init__`` call, and :attr:`RecordsConfig.config` turns them back into a
complete config (nested modules by their own ``config``).
"""
import functools
import inspect

import torch

from padertorch_audio.configurable import (
    ConfigError, factory_to_str, get_config)

__all__ = ['RecordsConfig', 'config_of']


class RecordsConfig:
    """Mixin: ``self.config`` is the complete config of this object.

    Put it before :class:`padertorch_audio.Module` in the bases. Arguments
    that are modules must themselves record their config (any module of
    this package does); anything else must be JSON-serialisable.

    >>> from padertorch_audio.separation import Encoder
    >>> Encoder(num_filters=8, window_length=4).config['num_filters']
    8
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get('__init__')
        if init is None:
            return
        signature = inspect.signature(init)

        @functools.wraps(init)
        def __init__(self, *args, **kw):
            if '_recorded_arguments' not in self.__dict__:
                bound = signature.bind(self, *args, **kw)
                arguments = dict(bound.arguments)
                arguments.pop(next(iter(signature.parameters)))  # self
                for name, parameter in signature.parameters.items():
                    if parameter.kind is parameter.VAR_KEYWORD:
                        arguments.update(arguments.pop(name, {}))
                # Before torch.nn.Module.__init__: bypass its __setattr__.
                object.__setattr__(self, '_recorded_arguments', arguments)
            init(self, *args, **kw)

        cls.__init__ = __init__

    @property
    def config(self) -> dict:
        """The complete config (defaults filled in) that rebuilds this
        object with ``from_config`` (with fresh parameters)."""
        arguments = self.__dict__.get('_recorded_arguments')
        if arguments is None:
            raise ConfigError(
                f'{type(self).__name__} recorded no constructor arguments.')
        updates = {'factory': factory_to_str(type(self))}
        for name, value in arguments.items():
            updates[name] = _describe(value, f'{type(self).__name__}.{name}')
        return get_config(updates)


def _describe(value, where):
    if isinstance(value, torch.nn.Module):
        return config_of(value, where)
    if isinstance(value, (list, tuple)):
        return [_describe(v, f'{where}[{i}]') for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: _describe(v, f'{where}.{k}') for k, v in value.items()}
    return value


def config_of(module, where=None):
    """The config of ``module`` if it records one, else a ConfigError."""
    config = getattr(module, 'config', None)
    if not isinstance(config, dict):
        where = f' (at {where})' if where else ''
        raise ConfigError(
            f'Cannot describe {type(module).__name__}{where} by a config: '
            f'it does not record its constructor arguments. Build it from a '
            f'config, or pass the config explicitly.')
    return config
