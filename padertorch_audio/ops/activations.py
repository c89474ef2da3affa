"""Activation functions by name, for configs (``'activation': 'relu'``)."""
import functools

import torch

__all__ = ['ACTIVATIONS', 'get_activation']

#: Name -> factory of a fresh ``torch.nn.Module``. ``softmax`` and
#: ``log_softmax`` act on the last axis (features last, this package's
#: convention); ``linear`` is another name of ``identity``.
ACTIVATIONS = {
    'identity': torch.nn.Identity,
    'linear': torch.nn.Identity,
    'relu': torch.nn.ReLU,
    'leaky_relu': torch.nn.LeakyReLU,
    'prelu': torch.nn.PReLU,
    'elu': torch.nn.ELU,
    'selu': torch.nn.SELU,
    'gelu': torch.nn.GELU,
    'silu': torch.nn.SiLU,
    'swish': torch.nn.SiLU,
    'softplus': torch.nn.Softplus,
    'sigmoid': torch.nn.Sigmoid,
    'tanh': torch.nn.Tanh,
    'hardtanh': torch.nn.Hardtanh,
    'softmax': functools.partial(torch.nn.Softmax, dim=-1),
    'log_softmax': functools.partial(torch.nn.LogSoftmax, dim=-1),
}


def get_activation(name, **kwargs):
    """A fresh activation module for ``name``.

    Args:
        name: A key of :data:`ACTIVATIONS` (case-insensitive); None means
            ``'identity'``; a ``torch.nn.Module`` is returned as it is.
        **kwargs: Passed to the module, e.g. ``negative_slope=0.2`` for
            ``'leaky_relu'``, ``num_parameters=64`` for ``'prelu'``, ``dim=1``
            for ``'softmax'``.

    Returns:
        A new ``torch.nn.Module`` (a new one per call, so that ``'prelu'``
        layers do not share their parameter).

    >>> get_activation('leaky_relu', negative_slope=0.5)(torch.tensor([-2., 3.]))
    tensor([-1.,  3.])
    >>> get_activation('softmax')(torch.zeros(1, 4))
    tensor([[0.2500, 0.2500, 0.2500, 0.2500]])
    """
    if isinstance(name, torch.nn.Module):
        if kwargs:
            raise ValueError(f'Arguments {sorted(kwargs)} cannot apply to the '
                             f'given module {name!r}.')
        return name
    if name is None:
        name = 'identity'
    if not isinstance(name, str) or name.lower() not in ACTIVATIONS:
        raise ValueError(
            f'Unknown activation {name!r}; expected one of '
            f'{", ".join(sorted(ACTIVATIONS))}, None or a torch.nn.Module.')
    return ACTIVATIONS[name.lower()](**kwargs)
