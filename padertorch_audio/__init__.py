"""padertorch_audio: a PyTorch toolkit for speech and audio research.

The core (this package's top level, ``train``, ``data``, ``io``, ``ops``,
``modules``) knows nothing about audio: users bring a :class:`Model`
(``forward`` + ``review``) and any iterable of examples, and the
:class:`Trainer` does the rest.
"""
__version__ = '0.1.0'

from padertorch_audio.configurable import Configurable
from padertorch_audio.base import Module, Model
from padertorch_audio import io
from padertorch_audio import data
from padertorch_audio.train import Trainer, Hook
from padertorch_audio.train import optimizer

__all__ = [
    '__version__',
    'Configurable',
    'Module',
    'Model',
    'Trainer',
    'Hook',
    'optimizer',
    'io',
    'data',
]
