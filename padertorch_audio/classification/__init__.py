"""Speaker models: identification (classification), embeddings and the
building blocks (ResNet front-end, statistics pooling, AM-softmax).

>>> import torch
>>> from padertorch_audio.classification import (
...     SpeakerClassifier, TINY_SPEAKER_MODEL)
>>> model = SpeakerClassifier.from_config(TINY_SPEAKER_MODEL).eval()
>>> with torch.no_grad():
...     embeddings = model.embed(torch.randn(2, 16000))
...     logits = model.classify(torch.randn(16000))
>>> embeddings.shape, logits.shape
(torch.Size([2, 16]), torch.Size([3]))

Training: ``model(example)`` with ``example['audio']`` ``(batch,
samples)`` (and ``'num_samples'``), ``model.review(example, output)`` with
``example['speaker_index']``; :func:`random_crop` draws training excerpts.
Exported models (:func:`export_model`, :func:`load_model`) know the
speaker of each class and the verification threshold.

Configurations (``SpeakerClassifier.from_config``): :data:`SPEAKER_RESNET`
(the recipe's default), :data:`SPEAKER_RESNET34` (larger, for the real
corpus), :data:`TINY_SPEAKER_MODEL` (tests).
"""
from padertorch_audio.classification.crop import random_crop
from padertorch_audio.classification.export import (
    ExportedModelError, export_model, load_model)
from padertorch_audio.classification.margin import (
    CosineClassifier, LinearClassifier, additive_margin_cross_entropy)
from padertorch_audio.classification.model import (
    SPEAKER_RESNET, SPEAKER_RESNET34, TINY_SPEAKER_MODEL, SpeakerClassifier)
from padertorch_audio.classification.pooling import (
    StatisticsPooling, statistics_pooling)
from padertorch_audio.classification.resnet import BasicBlock, ResNet

__all__ = [
    'SpeakerClassifier',
    'ResNet',
    'BasicBlock',
    'statistics_pooling',
    'StatisticsPooling',
    'CosineClassifier',
    'LinearClassifier',
    'additive_margin_cross_entropy',
    'random_crop',
    'export_model',
    'load_model',
    'ExportedModelError',
    'TINY_SPEAKER_MODEL',
    'SPEAKER_RESNET',
    'SPEAKER_RESNET34',
]
