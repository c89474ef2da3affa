"""Data handling between the lazy pipeline and the model.

- :func:`collate` / :class:`Collate`: a list of examples -> one padded batch.
- :func:`example_to_device`: numpy arrays and tensors -> tensors on a device.
"""
from padertorch_audio.data.collate import Collate, collate
from padertorch_audio.data.device import example_to_device

__all__ = [
    'Collate',
    'collate',
    'example_to_device',
]
