"""Speaker classification and speaker embeddings from waveforms.

:class:`SpeakerClassifier` is the whole chain from the waveform to the
speaker posteriors, so that an exported model takes audio::

    waveform (batch, samples)
      -> log-mel (batch, frames, n_mels)        features.LogMel, 25/10 ms
      -> minus the mean over the valid frames   features.normalize_per_utterance
      -> front-end (batch, C * mels', frames')  a ResNet by default
      -> statistics pooling (batch, 2 C mels')  mean and std over valid frames
      -> embedding (batch, embedding_size)      Linear + BatchNorm
      -> logits (batch, num_classes)            AM-softmax or linear head

Padded batches (``example['num_samples']``) give in eval mode the results of
every item on its own: the padding is zeroed, every statistic is taken over
the valid frames only, and the front-end zeroes the padded frames after
every layer (see :mod:`padertorch_audio.classification.resnet`).

The embedding (before the classifier head) is the speaker embedding for
verification: compare two with the cosine similarity.
"""
import math

import numpy as np
import torch

from padertorch_audio.base import Model, Module
from padertorch_audio.classification.margin import (
    CosineClassifier, LinearClassifier)
from padertorch_audio.classification.pooling import statistics_pooling
from padertorch_audio.classification.resnet import ResNet
from padertorch_audio.features import (
    LogMel, normalize_per_utterance, samples_to_frames)
from padertorch_audio.ops.sequence import compute_mask

__all__ = ['SpeakerClassifier', 'TINY_SPEAKER_MODEL', 'SPEAKER_RESNET',
           'SPEAKER_RESNET34', 'CLASSIFIERS']

#: The classifier heads by name.
CLASSIFIERS = ('am_softmax', 'softmax')


def _signal_shape(audio):
    shape = getattr(audio, 'shape', None)
    return type(audio).__name__ if shape is None else tuple(shape)


class SpeakerClassifier(Model):
    """Speaker identification and embeddings from waveforms.

    Args:
        num_classes: Number of speakers in training.
        sample_rate: In Hz, of the waveforms the model takes.
        n_mels: Mel bands of the log-mel features.
        front_end: A module ``(features (batch, frames, n_mels),
            sequence_lengths) -> ((batch, size, frames'), lengths')`` with
            ``output_size(n_mels) -> size``; default :class:`ResNet` with
            its defaults (channels 16, 32, 64, 128, one block each).
        embedding_size: Size of the speaker embedding.
        classifier: ``'am_softmax'`` (cosine logits ``scale * cos``, the
            additive margin ``margin`` in the loss only) or ``'softmax'``
            (a linear layer, cross-entropy).
        margin, scale: Of the AM-softmax (unused for ``'softmax'``).
        window_length, shift, stft_size: Of the STFT in samples; defaults
            25 ms, 10 ms and the next power of two of the window (400, 160
            and 512 at 16 kHz).
        variance_normalization: Also divide the features by their standard
            deviation over the utterance (default: mean only).
        embedding_norm: BatchNorm after the embedding layer.

    ``forward(example)``: ``example['audio']`` float ``(batch, samples)``,
    optionally ``example['num_samples']`` ``(batch,)`` (the valid samples
    of each padded item; ``example['audio_lengths']`` of
    :class:`padertorch_audio.data.Collate` serves as well) -> ``{'logits':
    (batch, num_classes), 'embedding': (batch, embedding_size)}``.

    >>> from padertorch_audio.classification import TINY_SPEAKER_MODEL
    >>> model = SpeakerClassifier.from_config(TINY_SPEAKER_MODEL).eval()
    >>> output = model({'audio': torch.randn(2, 8000),
    ...                 'num_samples': torch.tensor([8000, 5000])})
    >>> output['logits'].shape, output['embedding'].shape
    (torch.Size([2, 3]), torch.Size([2, 16]))
    >>> model.embed(torch.randn(16000)).shape
    torch.Size([16])
    """

    def __init__(self, num_classes: int, sample_rate: int = 16000,
                 n_mels: int = 64, front_end: Module = ResNet,
                 embedding_size: int = 128, classifier: str = 'am_softmax',
                 margin: float = 0.2, scale: float = 30.0,
                 window_length: int = None, shift: int = None,
                 stft_size: int = None, variance_normalization: bool = False,
                 embedding_norm: bool = True):
        super().__init__()
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f'SpeakerClassifier: num_classes must be a '
                             f'positive int, found {num_classes!r}.')
        if classifier not in CLASSIFIERS:
            raise ValueError(f'SpeakerClassifier: classifier must be one of '
                             f'{CLASSIFIERS}, found {classifier!r}.')
        if isinstance(front_end, type):  # the signature default
            front_end = front_end()
        window_length = round(0.025 * sample_rate) if window_length is None \
            else window_length
        shift = round(0.010 * sample_rate) if shift is None else shift
        stft_size = 2 ** math.ceil(math.log2(window_length)) \
            if stft_size is None else stft_size
        self.sample_rate = sample_rate
        self.variance_normalization = variance_normalization
        self.log_mel = LogMel(sample_rate, stft_size, shift,
                              window_length=window_length, n_mels=n_mels)
        self.front_end = front_end
        self.embedding_layer = torch.nn.Linear(
            2 * front_end.output_size(n_mels), embedding_size)
        self.embedding_norm = torch.nn.BatchNorm1d(embedding_size) \
            if embedding_norm else None
        if classifier == 'am_softmax':
            self.classifier = CosineClassifier(embedding_size, num_classes,
                                               margin, scale)
        else:
            self.classifier = LinearClassifier(embedding_size, num_classes)

    @property
    def num_classes(self):
        """The number of speakers (classes)."""
        return self.classifier.num_classes

    @property
    def embedding_size(self):
        return self.embedding_layer.out_features

    # ----------------------------------------------------------------------
    # The chain
    # ----------------------------------------------------------------------

    def _check_audio(self, audio, num_samples, where):
        """``audio`` as a float tensor ``(batch, samples)`` in the
        parameters' dtype and device, and the checked ``num_samples``."""
        if isinstance(audio, np.ndarray):
            audio = torch.from_numpy(audio)
        if not isinstance(audio, torch.Tensor) or audio.dim() != 2 \
                or not audio.is_floating_point():
            raise ValueError(
                f'{where} expects float audio (batch, samples), found '
                f'{getattr(audio, "dtype", type(audio).__name__)} of shape '
                f'{_signal_shape(audio)}.')
        if audio.shape[-1] == 0:
            raise ValueError(f'{where}: the audio of shape '
                             f'{tuple(audio.shape)} has no samples.')
        parameter = self.embedding_layer.weight
        audio = audio.to(device=parameter.device, dtype=parameter.dtype)
        if num_samples is None:
            return audio, None
        num_samples = torch.as_tensor(num_samples, device=audio.device)
        if num_samples.shape != audio.shape[:1] \
                or num_samples.is_floating_point():
            raise ValueError(
                f'{where}: num_samples must be ints of shape '
                f'{tuple(audio.shape[:1])} (one per example of the audio '
                f'with shape {tuple(audio.shape)}), found '
                f'{num_samples.dtype} of shape {tuple(num_samples.shape)}.')
        if (num_samples < 1).any() or (num_samples > audio.shape[-1]).any():
            raise ValueError(
                f'{where}: num_samples {num_samples.tolist()} must lie in '
                f'[1, {audio.shape[-1]}] (the samples of the audio with '
                f'shape {tuple(audio.shape)}).')
        num_samples = num_samples.to(torch.int64)
        return torch.where(compute_mask(audio, num_samples), audio, 0), \
            num_samples

    def features(self, audio, num_samples=None):
        """Normalised log-mel features ``(batch, frames, n_mels)`` and the
        valid frames ``(batch,)`` (None without ``num_samples``)."""
        features = self.log_mel(audio)
        frames = None
        if num_samples is not None:
            frames = samples_to_frames(
                num_samples, self.log_mel.size, self.log_mel.shift,
                self.log_mel.window_length, self.log_mel.fading,
                self.log_mel.pad)
        features = normalize_per_utterance(
            features, frames, variance=self.variance_normalization)
        return features, frames

    def _embedding(self, audio, num_samples):
        features, frames = self.features(audio, num_samples)
        x, lengths = self.front_end(features, frames)
        embedding = self.embedding_layer(statistics_pooling(x, lengths))
        if self.embedding_norm is not None:
            embedding = self.embedding_norm(embedding)
        return embedding

    def forward(self, example):
        """``example['audio']`` ``(batch, samples)`` (and optionally
        ``example['num_samples']`` ``(batch,)``) -> ``{'logits': (batch,
        num_classes), 'embedding': (batch, embedding_size)}``; the logits
        hold no margin."""
        num_samples = example.get('num_samples')
        if num_samples is None:
            num_samples = example.get('audio_lengths')
        audio, num_samples = self._check_audio(
            example['audio'], num_samples, type(self).__name__)
        embedding = self._embedding(audio, num_samples)
        return {'logits': self.classifier(embedding), 'embedding': embedding}

    def _single_or_batch(self, audio, num_samples, where):
        """(batched audio, num_samples, whether the input had no batch
        axis)."""
        if isinstance(audio, np.ndarray):
            audio = torch.from_numpy(audio)
        if isinstance(audio, torch.Tensor) and audio.dim() == 1:
            if num_samples is not None:
                num_samples = torch.as_tensor(num_samples).reshape(1)
            return audio[None], num_samples, True
        if not isinstance(audio, torch.Tensor) or audio.dim() != 2:
            raise ValueError(
                f'{where} expects float audio (samples,) or (batch, '
                f'samples), found shape {_signal_shape(audio)}.')
        return audio, num_samples, False

    def embed(self, audio, num_samples=None):
        """Speaker embeddings of waveforms.

        Args:
            audio: Float ``(batch, samples)`` or ``(samples,)`` at
                :attr:`sample_rate` (tensor or numpy array).
            num_samples: Valid samples per item, ``(batch,)``, for a padded
                batch; None: all.

        Returns:
            ``(batch, embedding_size)``, or ``(embedding_size,)`` for 1-D
            audio. The caller chooses train/eval mode and ``no_grad``.
        """
        audio, num_samples, single = self._single_or_batch(
            audio, num_samples, f'{type(self).__name__}.embed')
        audio, num_samples = self._check_audio(
            audio, num_samples, f'{type(self).__name__}.embed')
        embedding = self._embedding(audio, num_samples)
        return embedding[0] if single else embedding

    def classify(self, audio, num_samples=None):
        """Speaker logits of waveforms (as :meth:`embed`): ``(batch,
        num_classes)``, or ``(num_classes,)`` for 1-D audio; no margin
        (softmax gives the posteriors)."""
        audio, num_samples, single = self._single_or_batch(
            audio, num_samples, f'{type(self).__name__}.classify')
        audio, num_samples = self._check_audio(
            audio, num_samples, f'{type(self).__name__}.classify')
        logits = self.classifier(self._embedding(audio, num_samples))
        return logits[0] if single else logits

    # ----------------------------------------------------------------------
    # Training
    # ----------------------------------------------------------------------

    def review(self, example, output):
        """The loss and accuracies for the trainer.

        Args:
            example: ``'speaker_index'`` int ``(batch,)``, the class of each
                example.
            output: ``forward(example)``.

        Returns:
            ``{'loss': cross-entropy (with the additive margin for
            'am_softmax'), 'scalars': {'accuracy': top-1,
            'top5_accuracy': top-min(5, num_classes)}}``, the accuracies as
            floats in [0, 1].

        Raises:
            ValueError: ``speaker_index`` has the wrong shape or a value
                outside ``[0, num_classes - 1]`` (the message names it).
        """
        logits = output['logits']
        targets = torch.as_tensor(example['speaker_index'])
        if targets.shape != logits.shape[:1] or targets.is_floating_point():
            raise ValueError(
                f"review: example['speaker_index'] must be ints of shape "
                f"{tuple(logits.shape[:1])}, found {targets.dtype} of shape "
                f"{tuple(targets.shape)}.")
        if (targets < 0).any() or (targets >= self.num_classes).any():
            raise ValueError(
                f"review: example['speaker_index'] {targets.tolist()} must "
                f"lie in [0, {self.num_classes - 1}] (the model has "
                f"{self.num_classes} classes).")
        targets = targets.to(device=logits.device, dtype=torch.int64)
        loss = self.classifier.loss(logits, targets)
        with torch.no_grad():
            k = min(5, self.num_classes)
            top = logits.topk(k, dim=-1).indices
            hits = top == targets[:, None]
            accuracy = hits[:, 0].double().mean().item()
            top5_accuracy = hits.any(-1).double().mean().item()
        return {'loss': loss, 'scalars': {'accuracy': accuracy,
                                          'top5_accuracy': top5_accuracy}}


_FACTORY = 'padertorch_audio.classification.model.SpeakerClassifier'
_RESNET = 'padertorch_audio.classification.resnet.ResNet'

#: A tiny model for tests and examples (3 classes, 16 mels, two stages of
#: 4 and 8 channels, embedding 16).
TINY_SPEAKER_MODEL = SpeakerClassifier.get_config({
    'factory': _FACTORY, 'num_classes': 3, 'n_mels': 16,
    'embedding_size': 16,
    'front_end': {'factory': _RESNET, 'channels': [4, 8],
                  'num_blocks': [1, 1], 'strides': [1, 2]},
})

#: The recipe's default: a small ResNet (channels 16, 32, 64, 128, one
#: basic block each, every stage strided by 2 in time and frequency: a
#: training step of 16 crops of 1-4 s takes about 0.4 s on 2 CPU cores),
#: 64 mels, embedding 128, AM-softmax (m=0.2, s=30). ``num_classes`` is a
#: placeholder: set it to the speakers of the training data.
SPEAKER_RESNET = SpeakerClassifier.get_config({
    'factory': _FACTORY, 'num_classes': 20,
    'front_end': {'factory': _RESNET, 'channels': [16, 32, 64, 128],
                  'num_blocks': [1, 1, 1, 1], 'strides': [2, 2, 2, 2]},
})

#: A larger model for the real corpus: the ResNet-34 layout (3, 4, 6, 3
#: blocks) with 32 to 256 channels, embedding 256, 80 mels, 251 classes
#: (train-clean-100).
SPEAKER_RESNET34 = SpeakerClassifier.get_config({
    'factory': _FACTORY, 'num_classes': 251, 'n_mels': 80,
    'embedding_size': 256,
    'front_end': {'factory': _RESNET, 'channels': [32, 64, 128, 256],
                  'num_blocks': [3, 4, 6, 3], 'strides': [1, 2, 2, 2]},
})
