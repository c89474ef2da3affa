"""TasNet: mask-based separation in a learned (or STFT) encoder domain.

A :class:`TasNet` is three modules, each given by a nested factory config:

- an **encoder** turns the mixture ``(batch, samples)`` into a
  representation ``(batch, N, frames)``: the learned 1-D convolution of
  :class:`Encoder` (``N`` filters of ``window_length`` samples, stride
  ``window_length / 2``, as in TasNet / Conv-TasNet / DPRNN) or the STFT of
  :class:`StftEncoder` (complex, ``N = size // 2 + 1`` bins);
- a **separator** (:class:`~padertorch_audio.separation.DPRNN`,
  :class:`~padertorch_audio.separation.TCN` (Conv-TasNet),
  :class:`~padertorch_audio.separation.BLSTMSeparator` (PIT-BLSTM)) turns
  the encoder's real features ``(batch, N, frames)`` into ``K`` masks
  ``(batch, K, N, frames)``;
- a **decoder** turns each masked representation back into a signal:
  the transposed convolution (overlap-add of learned basis signals) of
  :class:`Decoder`, or the inverse STFT of :class:`IstftDecoder`.

The decoder must invert its encoder's framing; :class:`TasNet` checks that
they agree (``framing``) and that the separator takes ``N`` features.

Framing of the learned encoder: the signal is padded with ``window_length -
stride`` zeros in front and at the end (so that every sample lies in equally
many frames, as the STFT's ``fading``) plus what completes the last frame:
``frames = ceil((samples + window_length - 2 stride) / stride) + 1``. The
decoder removes that padding again.

Training (see :meth:`TasNet.review`): every loss is computed under one
utterance-level PIT permutation per example, chosen on the SI-SDR pair
matrix (:func:`padertorch_audio.ops.pit_loss`), and ignores the padding
given by ``example['num_samples']``.
"""
import torch

from padertorch_audio.base import Model, Module
from padertorch_audio.features import ISTFT, STFT
from padertorch_audio.ops import (
    apply_permutation, get_activation, log1p_mse, log_mse, pit_loss, si_sdr,
    si_sdr_loss)
from padertorch_audio.separation.dprnn import DPRNN

__all__ = ['Encoder', 'Decoder', 'StftEncoder', 'IstftDecoder', 'TasNet']


def _check_window(window_length, stride):
    if stride is None:
        if window_length % 2:
            raise ValueError(
                f'The default stride is window_length / 2; give a stride for '
                f'the odd window_length={window_length}.')
        stride = window_length // 2
    if not (isinstance(window_length, int) and isinstance(stride, int)
            and 0 < stride <= window_length):
        raise ValueError(
            f'Expected integers 0 < stride <= window_length, found '
            f'window_length={window_length!r}, stride={stride!r}.')
    return stride


def _check_signal(signal, where):
    if not isinstance(signal, torch.Tensor) or signal.dim() != 2:
        shape = (tuple(signal.shape) if isinstance(signal, torch.Tensor)
                 else type(signal).__name__)
        raise ValueError(f'{where} expects a signal (batch, samples), found '
                         f'{shape}.')
    if signal.shape[-1] == 0:
        raise ValueError(f'{where}: the signal of shape '
                         f'{tuple(signal.shape)} has no samples.')


class Encoder(Module):
    """Learned encoder: ``N`` filters of ``window_length`` samples.

    ``(batch, samples)`` -> ``(batch, num_filters, frames)``: a strided
    1-D convolution (no bias) of the padded signal (see the module doc for
    the padding), followed by ``activation`` (ReLU in Conv-TasNet).

    Args:
        num_filters: ``N``, the number of basis functions.
        window_length: ``L`` in samples.
        stride: In samples; default ``L // 2``.
        activation: Name for :func:`padertorch_audio.ops.get_activation`.

    >>> encoder = Encoder(num_filters=64, window_length=16)
    >>> encoder(torch.zeros(2, 8000)).shape  # ceil((8000 + 0) / 8) + 1
    torch.Size([2, 64, 1001])
    """

    def __init__(self, num_filters: int = 64, window_length: int = 16,
                 stride: int = None, activation: str = 'relu'):
        super().__init__()
        self.stride = _check_window(window_length, stride)
        self.num_filters = num_filters
        self.window_length = window_length
        self.conv = torch.nn.Conv1d(1, num_filters, window_length,
                                    stride=self.stride, bias=False)
        self.activation = get_activation(activation)

    @property
    def num_features(self):
        """``N``, the size of the separator's input features."""
        return self.num_filters

    @property
    def framing(self):
        """What a matching decoder must agree on."""
        return {'kind': 'learned', 'num_filters': self.num_filters,
                'window_length': self.window_length, 'stride': self.stride}

    def num_frames(self, num_samples):
        """Frames of a signal of ``num_samples`` samples (int or tensor)."""
        padded = num_samples + 2 * (self.window_length - self.stride)
        return -((self.window_length - padded) // self.stride) + 1

    def forward(self, signal):
        """``(batch, samples)`` -> ``(batch, num_filters, frames)``."""
        _check_signal(signal, type(self).__name__)
        num_samples = signal.shape[-1]
        front = self.window_length - self.stride
        back = ((self.num_frames(num_samples) - 1) * self.stride
                + self.window_length - num_samples - front)
        padded = torch.nn.functional.pad(signal[:, None], (front, back))
        return self.activation(self.conv(padded))

    def features(self, representation):
        """The separator's input: the representation itself."""
        return representation


class Decoder(Module):
    """Learned decoder: overlap-add of ``N`` learned basis signals.

    ``(batch, K, num_filters, frames)`` -> ``(batch, K, samples)``: a
    transposed 1-D convolution (no bias), i.e. frame ``m`` contributes
    ``Σ_n x[n, m] basis[n]`` at sample ``m * stride``; the padding of
    :class:`Encoder` is cut away and the result trimmed to
    ``num_samples``.

    Args: as :class:`Encoder` (``num_filters``, ``window_length``,
    ``stride``).

    >>> decoder = Decoder(num_filters=64, window_length=16)
    >>> decoder(torch.zeros(2, 3, 64, 1001), num_samples=8000).shape
    torch.Size([2, 3, 8000])
    """

    def __init__(self, num_filters: int = 64, window_length: int = 16,
                 stride: int = None):
        super().__init__()
        self.stride = _check_window(window_length, stride)
        self.num_filters = num_filters
        self.window_length = window_length
        self.conv = torch.nn.ConvTranspose1d(
            num_filters, 1, window_length, stride=self.stride, bias=False)

    @property
    def framing(self):
        return {'kind': 'learned', 'num_filters': self.num_filters,
                'window_length': self.window_length, 'stride': self.stride}

    def forward(self, representation, num_samples):
        """``(..., num_filters, frames)`` -> ``(..., num_samples)``."""
        if (representation.dim() < 2
                or representation.shape[-2] != self.num_filters):
            raise ValueError(
                f'Decoder expects (..., num_filters={self.num_filters}, '
                f'frames), found {tuple(representation.shape)}.')
        leading = representation.shape[:-2]
        flat = representation.reshape(-1, *representation.shape[-2:])
        signal = self.conv(flat)[:, 0]
        front = self.window_length - self.stride
        if not 0 <= num_samples <= signal.shape[-1] - front:
            raise ValueError(
                f'num_samples={num_samples} does not fit into '
                f'{representation.shape[-1]} frames (at most '
                f'{signal.shape[-1] - front}).')
        signal = signal[:, front:front + num_samples]
        return signal.reshape(*leading, num_samples)


_STFT_FEATURES = ('magnitude', 'log1p', 'log')


class StftEncoder(Module):
    """STFT encoder: the complex spectrum, bins first.

    ``(batch, samples)`` -> complex ``(batch, size // 2 + 1, frames)``
    (:class:`padertorch_audio.features.STFT` with ``fading`` and ``pad``,
    transposed to the TasNet layout). The separator sees a real feature of
    it (:meth:`features`): ``|X|`` (``'magnitude'``), ``log(1 + |X|)``
    (``'log1p'``) or ``log(|X| + eps)`` (``'log'``). Masks multiply the
    complex spectrum (the mixture's phase is kept).

    >>> StftEncoder(size=256, shift=64)(torch.zeros(2, 8000)).shape
    torch.Size([2, 129, 128])
    """

    def __init__(self, size: int = 256, shift: int = 64,
                 window: str = 'hann', window_length: int = None,
                 feature: str = 'log1p', eps: float = 1e-6):
        super().__init__()
        if feature not in _STFT_FEATURES:
            raise ValueError(f'feature must be one of {_STFT_FEATURES}, '
                             f'found {feature!r}.')
        self.stft = STFT(size, shift, window, window_length)
        self.feature, self.eps = feature, eps
        self.window = window

    @property
    def num_features(self):
        return self.stft.size // 2 + 1

    @property
    def framing(self):
        return {'kind': 'stft', 'size': self.stft.size,
                'shift': self.stft.shift, 'window': self.window,
                'window_length': self.stft.window_length}

    def forward(self, signal):
        """``(batch, samples)`` -> complex ``(batch, bins, frames)``."""
        _check_signal(signal, type(self).__name__)
        return self.stft(signal).transpose(-1, -2)

    def features(self, representation):
        """Complex ``(batch, bins, frames)`` -> real features, same shape."""
        magnitude = representation.abs()
        if self.feature == 'log1p':
            return torch.log1p(magnitude)
        if self.feature == 'log':
            return torch.log(magnitude + self.eps)
        return magnitude


class IstftDecoder(Module):
    """Inverse STFT decoder for :class:`StftEncoder`.

    Complex ``(batch, K, bins, frames)`` -> ``(batch, K, samples)`` with
    :class:`padertorch_audio.features.ISTFT` (least-squares inverse).

    >>> encoder, decoder = StftEncoder(256, 64), IstftDecoder(256, 64)
    >>> x = torch.randn(1, 1000)
    >>> y = decoder(encoder(x)[:, None], num_samples=1000)
    >>> y.shape, bool((y[:, 0] - x).abs().max() < 1e-5)
    (torch.Size([1, 1, 1000]), True)
    """

    def __init__(self, size: int = 256, shift: int = 64,
                 window: str = 'hann', window_length: int = None):
        super().__init__()
        self.istft = ISTFT(size, shift, window, window_length)
        self.window = window

    @property
    def framing(self):
        return {'kind': 'stft', 'size': self.istft.size,
                'shift': self.istft.shift, 'window': self.window,
                'window_length': self.istft.window_length}

    def forward(self, representation, num_samples):
        """Complex ``(..., bins, frames)`` -> ``(..., num_samples)``."""
        return self.istft(representation.transpose(-1, -2),
                          num_samples=num_samples)


class TasNet(Model):
    """Mask-based separation: encoder, separator, decoder.

    Args:
        encoder: :class:`Encoder` or :class:`StftEncoder` (config).
        separator: A module ``(batch, N, frames)`` -> masks ``(batch, K, N,
            frames)`` with attributes ``input_size`` (``N``) and
            ``num_speakers`` (``K``), e.g.
            :class:`~padertorch_audio.separation.DPRNN` (the default, the
            paper configuration for window 16).
        decoder: :class:`Decoder` or :class:`IstftDecoder`, with the
            encoder's framing.

    ``forward(example)`` takes ``example['observation']`` ``(batch,
    samples)`` and returns the separated signals ``(batch, K, samples)``.
    The separator sees the padding of a batch (as in the papers' code);
    the losses of :meth:`review` ignore it.

    Paper configurations: :data:`~padertorch_audio.separation.DPRNN_PAPER`,
    :data:`~padertorch_audio.separation.CONVTASNET_PAPER`, ... with
    ``TasNet.get_config(...)``.

    >>> from padertorch_audio.separation import TINY_DPRNN
    >>> model = TasNet.from_config(TINY_DPRNN)
    >>> model({'observation': torch.zeros(2, 1000)}).shape
    torch.Size([2, 2, 1000])
    """

    def __init__(self, encoder: Module = Encoder, separator: Module = DPRNN,
                 decoder: Module = Decoder):
        super().__init__()
        # A class (the signature default) stands for its default instance.
        encoder, separator, decoder = [
            part() if isinstance(part, type) else part
            for part in (encoder, separator, decoder)]
        if encoder.framing != decoder.framing:
            raise ValueError(
                f'The decoder does not invert the encoder: encoder framing '
                f'{encoder.framing}, decoder framing {decoder.framing}.')
        if separator.input_size != encoder.num_features:
            raise ValueError(
                f'The separator takes input_size={separator.input_size} '
                f'features, the encoder gives {encoder.num_features}.')
        self.encoder = encoder
        self.separator = separator
        self.decoder = decoder

    @property
    def num_speakers(self):
        """``K``, the number of separated signals."""
        return self.separator.num_speakers

    def forward(self, example):
        """``example['observation']`` ``(batch, samples)`` -> separated
        signals ``(batch, K, samples)``."""
        observation = example['observation']
        _check_signal(observation, type(self).__name__)
        representation = self.encoder(observation)
        masks = self.separator(self.encoder.features(representation))
        masked = masks * representation.unsqueeze(1)
        return self.decoder(masked, num_samples=observation.shape[-1])

    def review(self, example, output):
        """Losses and scalars for the trainer.

        All losses use one permutation per example: the utterance-level PIT
        assignment that maximises the mean SI-SDR (chosen on the ``K x K``
        SI-SDR pair matrix by :func:`padertorch_audio.ops.pit_loss`). The
        estimates are reordered with it and the other losses computed
        against the targets in that order (so ``log_mse`` and
        ``log1p_mse`` are not minimised over permutations themselves).
        Padded samples (``example['num_samples']``) are ignored.

        Args:
            example: ``'speech_source'`` ``(batch, K, samples)``,
                ``'observation'`` ``(batch, samples)``, optionally
                ``'num_samples'`` ``(batch,)``.
            output: ``forward(example)``, ``(batch, K, samples)``.

        Returns:
            ``{'losses': {'si_sdr': -SI-SDR in dB, 'log_mse': ln MSE,
            'log1p_mse': ln(1 + MSE)}, 'scalars': {'si_sdr': SI-SDR in dB,
            'si_sdr_improvement': SI-SDR minus that of the mixture, dB}}``,
            all means over the sources and examples. The trainer's
            ``loss_weights`` select or combine the losses, e.g.
            ``{'si_sdr': 1, 'log_mse': 0, 'log1p_mse': 0}``.
        """
        target = example['speech_source']
        if output.shape != target.shape:
            raise ValueError(
                f'review: the output {tuple(output.shape)} and '
                f"example['speech_source'] {tuple(target.shape)} differ in "
                f'shape.')
        lengths = example.get('num_samples')
        if lengths is not None:
            lengths = torch.as_tensor(lengths, device=output.device)
        si_sdr_value, permutation = pit_loss(
            output, target, loss_fn=si_sdr_loss, sequence_lengths=lengths,
            return_permutation=True)
        estimate = apply_permutation(output, permutation)
        losses = {
            'si_sdr': si_sdr_value,
            'log_mse': log_mse(estimate, target, sequence_lengths=lengths),
            'log1p_mse': log1p_mse(estimate, target, sequence_lengths=lengths),
        }
        with torch.no_grad():
            mixture = example['observation'][:, None].to(target.dtype)
            mixture_si_sdr = si_sdr(mixture, target, sequence_lengths=lengths,
                                    reduction='mean')
            separated_si_sdr = -si_sdr_value.detach()
        scalars = {
            'si_sdr': separated_si_sdr,
            'si_sdr_improvement': separated_si_sdr - mixture_si_sdr,
        }
        return {'losses': losses, 'scalars': scalars}
