"""Mask nonlinearities of the separators.

A separator returns one mask per speaker, ``(batch, K, features, frames)``.
Every activation of :data:`padertorch_audio.ops.ACTIVATIONS` applies
elementwise, except ``'softmax'``, which here normalises over the speaker
axis (so the masks of a frame and feature sum to one).
"""
import torch

from padertorch_audio.ops import get_activation

__all__ = ['get_mask_activation', 'SPEAKER_AXIS']

#: The speaker axis of ``(batch, K, features, frames)`` masks.
SPEAKER_AXIS = 1


def get_mask_activation(name):
    """A fresh module for the mask nonlinearity ``name``.

    Args:
        name: ``'sigmoid'``, ``'relu'``, ``'softmax'`` (over the speakers)
            or another name of :data:`padertorch_audio.ops.ACTIVATIONS`.

    >>> masks = get_mask_activation('softmax')(torch.zeros(1, 4, 2, 3))
    >>> masks[0, :, 0, 0]
    tensor([0.2500, 0.2500, 0.2500, 0.2500])
    """
    if isinstance(name, str) and name.lower() == 'softmax':
        return torch.nn.Softmax(dim=SPEAKER_AXIS)
    if isinstance(name, str) and name.lower() == 'log_softmax':
        raise ValueError("'log_softmax' gives no masks; use 'softmax'.")
    return get_activation(name)
