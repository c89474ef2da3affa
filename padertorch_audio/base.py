"""The user-facing building blocks: :class:`Module` and :class:`Model`."""
import functools
import inspect

import torch

from padertorch_audio.configurable import (
    ConfigError, Configurable, factory_to_str, get_config)
from padertorch_audio.data.device import example_to_device

__all__ = ['Module', 'Model', 'REVIEW_KEYS', 'config_of']

#: Keys a review dict may hold (see :meth:`Model.review`).
REVIEW_KEYS = frozenset({
    'loss', 'losses', 'scalars', 'histograms', 'images', 'audios', 'figures',
    'texts',
})


def _recording(init):
    """``init`` that first records the arguments of the outermost call."""
    signature = inspect.signature(init)
    self_name = next(iter(signature.parameters))

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        if '_recorded_arguments' not in self.__dict__:
            try:
                bound = signature.bind(self, *args, **kwargs)
            except TypeError:
                bound = None  # init raises its own error
            if bound is not None:
                arguments = dict(bound.arguments)
                del arguments[self_name]
                for name, parameter in signature.parameters.items():
                    if parameter.kind is parameter.VAR_KEYWORD:
                        arguments.update(arguments.pop(name, {}))
                # Before torch.nn.Module.__init__: bypass its __setattr__.
                object.__setattr__(self, '_recorded_arguments', arguments)
        init(self, *args, **kwargs)

    return __init__


class _RecordedConfig:
    """``module.config``: the complete config of the recorded arguments.

    A non-data descriptor: a subclass that sets ``self.config`` itself
    keeps its own value.
    """

    def __get__(self, module, owner=None):
        if module is None:
            return self
        arguments = module.__dict__.get('_recorded_arguments')
        if arguments is None:
            if type(module).__init__ is not torch.nn.Module.__init__:
                raise ConfigError(f'{type(module).__name__} recorded no '
                                  f'constructor arguments.')
            arguments = {}  # no __init__ of its own: nothing to record
        name = type(module).__name__
        updates = {'factory': factory_to_str(type(module))}
        for key, value in arguments.items():
            updates[key] = _describe(value, f'{name}.{key}')
        return get_config(updates)


def _describe(value, where):
    if isinstance(value, torch.nn.Module):
        return config_of(value, where)
    if isinstance(value, (list, tuple)):
        return [_describe(v, f'{where}[{i}]') for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: _describe(v, f'{where}.{k}') for k, v in value.items()}
    return value


def config_of(module, where=None) -> dict:
    """The config of ``module`` (see :attr:`Module.config`), or a
    ConfigError that names the module (and ``where`` it sits)."""
    try:
        config = getattr(module, 'config', None)
    except ConfigError:
        config = None
    if not isinstance(config, dict):
        where = f' (at {where})' if where else ''
        raise ConfigError(
            f'Cannot describe {type(module).__name__}{where} by a config: '
            f'it does not record its constructor arguments. Build it from a '
            f'config, or pass the config explicitly.')
    return config


class Module(Configurable, torch.nn.Module):
    """A ``torch.nn.Module`` that can be described by a config.

    Subclasses write ``__init__`` and ``forward`` as for any torch module;
    :meth:`get_config` and :meth:`from_config` come for free. Every Module
    records the arguments of its (outermost) ``__init__`` call, so that
    ``module.config`` is the complete config that rebuilds it with
    ``from_config`` (with fresh parameters), however it was built: from a
    config, nested in another config, or by a plain constructor call.
    Arguments that are modules are described by their own ``config``;
    everything else should be JSON-serialisable.

    >>> from padertorch_audio.modules import FullyConnected
    >>> net = FullyConnected(4, hidden_size=8, output_size=2)
    >>> net.config == FullyConnected.get_config(
    ...     {'input_size': 4, 'hidden_size': 8, 'output_size': 2})
    True
    >>> type(FullyConnected.from_config(net.config)).__name__
    'FullyConnected'
    """

    config = _RecordedConfig()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get('__init__')
        if init is not None:
            cls.__init__ = _recording(init)


class Model(Module):
    """A trainable model: ``forward(example)`` and ``review(example, output)``.

    The :class:`~padertorch_audio.Trainer` calls, for every (batched)
    example::

        example = model.example_to_device(example, device)
        output = model(example)
        review = model.review(example, output)

    ``review`` returns a dict with

    - ``'loss'``: a scalar tensor, or ``'losses'``: ``{name: scalar tensor}``
      (combined with the trainer's ``loss_weights``; one loss needs no
      weight, several do),
    - optionally ``'scalars'`` (``{name: number or scalar tensor}``,
      averaged over the summary interval), ``'histograms'`` (``{name:
      tensor}``), ``'images'`` (``{name: (channels, height, width) or
      (height, width) array}``), ``'audios'`` (``{name: (samples,) array or
      (array, sample_rate)}``), ``'figures'`` (``{name: matplotlib
      figure}``) and ``'texts'`` (``{name: str}``) for tensorboard.
    """

    def forward(self, example):
        raise NotImplementedError(
            f'{type(self).__name__} must implement forward(example).')

    def review(self, example, output) -> dict:
        raise NotImplementedError(
            f'{type(self).__name__} must implement review(example, output) '
            f'and return a dict with a "loss" or "losses" entry.')

    def example_to_device(self, example, device):
        """Move the tensors and numpy arrays of ``example`` to ``device``."""
        return example_to_device(example, device)

    def modify_summary(self, summary: dict) -> dict:
        """Change the summary before it is written to tensorboard.

        ``summary`` has the review keys (``'scalars'`` already averaged over
        the summary interval, the others from the interval's last review).
        Return the (modified) summary.
        """
        return summary
