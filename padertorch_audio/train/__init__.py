"""Training: the Trainer, its hooks, triggers, optimizers and checkpoints."""
from padertorch_audio.train.review import ReviewError
from padertorch_audio.train.trainer import Trainer, NonFiniteLossError
from padertorch_audio.train.hooks import (
    Hook, TriggeredHook, SummaryHook, ValidationHook, CheckpointHook,
    LRSchedulerHook, ProgressHook)
from padertorch_audio.train.triggers import Trigger
from padertorch_audio.train import optimizer
from padertorch_audio.train import distributed
from padertorch_audio.train.checkpoint import load_checkpoint

__all__ = [
    'Trainer', 'NonFiniteLossError', 'ReviewError', 'Hook', 'TriggeredHook',
    'SummaryHook', 'ValidationHook', 'CheckpointHook', 'LRSchedulerHook',
    'ProgressHook', 'Trigger', 'optimizer', 'distributed', 'load_checkpoint',
]
