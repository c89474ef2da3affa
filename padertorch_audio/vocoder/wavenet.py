"""WaveNet vocoder: audio samples from log-mel frames (van den Oord et al.
2016; the layout of nv-wavenet and padertorch)::

    previous sample (batch, samples), shifted right by one
      -> its input value in [-1, 1] (0 before the first sample)
      -> 1x1 conv to residual_channels                      h_0
      -> num_layers times, dilation d = 2 ** (layer % cycle):
           a, b = split(causal conv, kernel 2, dilation d (h) + c_layer)
           z = tanh(a) * sigmoid(b)                         gated unit
           skip += skip_conv(z);  h = h + residual_conv(z)
      -> ReLU -> 1x1 conv -> ReLU -> 1x1 conv               logits
         (batch, output_channels, samples)

Two output distributions (``output_distribution``):

- ``'categorical'`` (default): a softmax over ``quantization_channels``
  mu-law classes (:mod:`padertorch_audio.ops.mu_law`); the input value of a
  sample of class ``i`` is ``2 i / mu - 1`` (``mu = quantization_channels
  - 1``). ``output_channels = quantization_channels``.
- ``'logistic_mixture'``: a discretized mixture of ``num_mixtures``
  logistics over the 65536 levels of 16-bit audio
  (:mod:`padertorch_audio.vocoder.distributions`; Salimans et al. 2017,
  Parallel WaveNet). The logits are the raw parameters, ``output_channels =
  3 * num_mixtures`` along axis 1: ``[mixture logits (K), means (K), log
  scales (K)]``, the log scales clamped from below at -7 where they are
  used. The input value of a sample is the sample itself, quantized to the
  16-bit levels, so the synthesis feeds back exactly what it draws.

``c_layer`` is the conditioning of the layer's gate: the log-mel frames
``(batch, frames, n_mels)`` upsampled to one vector per sample by
:class:`~padertorch_audio.vocoder.upsampling.FrameUpsampler` (aligned with
the STFT framing of :mod:`padertorch_audio.features`), mapped by one 1x1
conv to all layers' ``2 * residual_channels`` at once, plus optionally a
speaker embedding (global conditioning).

Position ``n`` of the logits predicts (the class of) sample ``n`` from
the samples ``n - receptive_field ... n - 1`` and the conditioning of
sample ``n``; the receptive field is ``sum(dilations) + 1`` samples (511
with the defaults; the dilated stack with kernel 2 sees ``sum(dilations) +
1`` inputs, the samples before ``n``).
"""
import math

import numpy as np
import torch

from padertorch_audio import summary
from padertorch_audio.base import Model
from padertorch_audio.features.mel import log_mel
from padertorch_audio.features.stft import stft
from padertorch_audio.ops.mu_law import mu_law_decode, mu_law_encode
from padertorch_audio.ops.sequence import compute_mask
from padertorch_audio.vocoder import distributions
from padertorch_audio.vocoder.upsampling import FrameUpsampler

__all__ = ['WaveNet', 'TINY_WAVENET', 'TINY_WAVENET_MIXTURE',
           'OUTPUT_DISTRIBUTIONS']

#: The choices of ``WaveNet(output_distribution=...)``.
OUTPUT_DISTRIBUTIONS = ('categorical', 'logistic_mixture')


class WaveNet(Model):
    """WaveNet with local (mel) and optional global (speaker) conditioning.

    Args:
        n_mels: Mel bands per frame of the conditioning.
        sample_rate: In Hz, of the audio.
        shift, window_length, stft_size: Of the STFT of the mel features in
            samples (``features.log_mel(..., size=stft_size, shift=shift,
            window_length=window_length)`` with its default ``fading`` and
            ``pad``); shift and window_length set the alignment of the
            upsampling, stft_size is kept for the feature extraction.
        residual_channels, skip_channels: Channels of the residual stack
            and of the skip connections / output head.
        num_layers: Dilated layers.
        max_dilation: Largest dilation, a power of two; the dilations are
            ``2 ** (layer % cycle)`` with ``cycle = log2(max_dilation) + 1``.
        quantization_channels: mu-law classes (the logits of the
            categorical output; unused by the mixture).
        upsampling_context: Frames on each side that the learnable
            convolution of the upsampling sees.
        num_speakers: Speakers of the global conditioning; None: none.
        fmin, fmax: In Hz, of the mel filterbank of :meth:`log_mel`.
        output_distribution: ``'categorical'`` (mu-law softmax) or
            ``'logistic_mixture'`` (see the module docstring).
        num_mixtures: Components ``K`` of the logistic mixture (>= 1).

    ``forward(example)``: ``example['audio']`` float ``(batch, samples)``
    in ``[-1, 1]``, ``example['mel']`` ``(batch, frames, n_mels)`` with at
    least ``frames_needed(samples)`` frames (more are ignored), optionally
    ``example['speaker_index']`` int ``(batch,)`` -> ``{'logits': (batch,
    output_channels, samples)}`` (teacher forcing; for the mixture the raw
    distribution parameters).

    Sampling, the same for both distributions (the incremental synthesis
    uses these): :meth:`sample_from_logits` draws a ``sample`` (a class or
    a 16-bit value), :meth:`sample_to_input` is the network's next input
    value and :meth:`sample_to_audio` the audio value.

    >>> model = WaveNet.from_config(TINY_WAVENET)
    >>> output = model({'audio': torch.zeros(2, 300),
    ...                 'mel': torch.zeros(2, 22, 8)})
    >>> output['logits'].shape
    torch.Size([2, 256, 300])
    >>> WaveNet(n_mels=80).receptive_field
    511
    >>> WaveNet.from_config(TINY_WAVENET_MIXTURE).output_channels  # 3 * 4
    12
    """

    def __init__(self, n_mels: int = 80, sample_rate: int = 16000,
                 shift: int = 200, window_length: int = 800,
                 stft_size: int = 1024, residual_channels: int = 64,
                 skip_channels: int = 256, num_layers: int = 16,
                 max_dilation: int = 128, quantization_channels: int = 256,
                 upsampling_context: int = 1, num_speakers: int = None,
                 fmin: float = 0., fmax: float = None,
                 output_distribution: str = 'categorical',
                 num_mixtures: int = 10):
        super().__init__()
        if output_distribution not in OUTPUT_DISTRIBUTIONS:
            raise ValueError(
                f'WaveNet: output_distribution must be one of '
                f'{", ".join(map(repr, OUTPUT_DISTRIBUTIONS))}, found '
                f'{output_distribution!r}.')
        if not isinstance(num_mixtures, (int, np.integer)) \
                or isinstance(num_mixtures, bool) or num_mixtures < 1:
            raise ValueError(f'WaveNet: num_mixtures must be an int >= 1, '
                             f'found {num_mixtures!r}.')
        if max_dilation < 1 or max_dilation & (max_dilation - 1):
            raise ValueError(f'WaveNet: max_dilation must be a power of two, '
                             f'found {max_dilation}.')
        if num_layers < 1:
            raise ValueError(f'WaveNet: num_layers must be >= 1, found '
                             f'{num_layers}.')
        if num_speakers is not None and num_speakers < 1:
            raise ValueError(f'WaveNet: num_speakers must be None or >= 1, '
                             f'found {num_speakers}.')
        self.n_mels, self.sample_rate = n_mels, sample_rate
        self.shift, self.window_length = shift, window_length
        self.stft_size = stft_size
        self.fmin, self.fmax = fmin, fmax
        self.residual_channels = residual_channels
        self.quantization_channels = quantization_channels
        self.output_distribution = output_distribution
        self.num_mixtures = int(num_mixtures)
        #: Channels of the logits: the classes, or 3 * num_mixtures.
        self.output_channels = quantization_channels \
            if output_distribution == 'categorical' else 3 * self.num_mixtures
        self.num_speakers = num_speakers
        cycle = int(math.log2(max_dilation)) + 1
        self.dilations = [2 ** (layer % cycle) for layer in range(num_layers)]
        gates = 2 * residual_channels
        self.upsampler = FrameUpsampler(
            n_mels, n_mels, shift, window_length, context=upsampling_context)
        self.conditioning = torch.nn.Conv1d(n_mels, num_layers * gates, 1)
        self.speaker_embedding = None if num_speakers is None else \
            torch.nn.Embedding(num_speakers, num_layers * gates)
        self.input_convolution = torch.nn.Conv1d(1, residual_channels, 1)
        self.dilated_convolutions = torch.nn.ModuleList(
            torch.nn.Conv1d(residual_channels, gates, 2, dilation=dilation)
            for dilation in self.dilations)
        # The last layer's residual output would be unused.
        self.residual_convolutions = torch.nn.ModuleList(
            torch.nn.Conv1d(residual_channels, residual_channels, 1)
            for _ in range(num_layers - 1))
        self.skip_convolutions = torch.nn.ModuleList(
            torch.nn.Conv1d(residual_channels, skip_channels, 1)
            for _ in range(num_layers))
        self.output_convolution = torch.nn.Conv1d(
            skip_channels, skip_channels, 1)
        self.logit_convolution = torch.nn.Conv1d(
            skip_channels, self.output_channels, 1)

    @property
    def receptive_field(self):
        """Past samples that position n sees (``n - receptive_field ... n -
        1``): ``sum(dilations) + 1``."""
        return sum(self.dilations) + 1

    def log_mel(self, audio):
        """The conditioning features of ``audio`` ``(..., samples)``
        (tensor or numpy array): :func:`padertorch_audio.features.log_mel`
        with the model's STFT and filterbank -> ``(..., frames, n_mels)``.
        Every caller (training data, evaluation, the command line) computes
        the mel with this one definition."""
        return log_mel(audio, self.sample_rate, size=self.stft_size,
                       shift=self.shift, window_length=self.window_length,
                       n_mels=self.n_mels, fmin=self.fmin, fmax=self.fmax)

    def frames_needed(self, num_samples):
        """Mel frames needed to condition ``num_samples`` samples."""
        return self.upsampler.frames_needed(num_samples)

    # ----------------------------------------------------------------------
    # Pieces shared with the incremental synthesis
    # ----------------------------------------------------------------------

    @property
    def is_mixture(self):
        """Whether the output is the logistic mixture."""
        return self.output_distribution == 'logistic_mixture'

    def input_values(self, classes):
        """mu-law classes ``(batch, samples)`` -> the network's input values
        ``2 i / mu - 1`` in the parameters' dtype (the categorical output's
        input; :meth:`sample_to_input` serves both distributions)."""
        mu = self.quantization_channels - 1
        weight = self.input_convolution.weight
        return classes.to(weight.dtype) * (2 / mu) - 1

    def input_values_from_audio(self, audio):
        """Audio ``(batch, samples)`` in ``[-1, 1]`` -> the network's input
        value of every sample (not shifted), in the parameters' dtype and
        on their device: categorical ``input_values(mu_law_encode(audio))``,
        mixture the audio quantized to the 16-bit levels. Values outside
        ``[-1, 1]`` are clipped; NaN raises a ValueError."""
        weight = self.input_convolution.weight
        audio = torch.as_tensor(audio)
        if self.is_mixture:
            values = distributions.quantize_to_bins(audio.to(torch.float64))
            return values.to(device=weight.device, dtype=weight.dtype)
        classes = mu_law_encode(audio, self.quantization_channels)
        return self.input_values(classes.to(weight.device))

    def sample_from_logits(self, logits, temperature=1.0, generator=None):
        """One draw per position from the output distribution.

        Args:
            logits: ``(batch, output_channels, ...)`` (e.g. one step of the
                synthesis, ``(batch, output_channels)``).
            temperature: ``>= 0``; 0 is the most likely sample
                (deterministic). Categorical: a class from
                ``softmax(logits / temperature)`` (``torch.multinomial``,
                the positions in row-major order), 0 the argmax. Mixture:
                :func:`~padertorch_audio.vocoder.distributions.
                sample_logistic_mixture`, 0 the mean of the most probable
                component.
            generator: A ``torch.Generator`` on the logits' device.

        Returns:
            ``sample`` ``(batch, ...)``: int64 mu-law classes, or for the
            mixture float values on the 16-bit levels in the logits' dtype.
            Feed back :meth:`sample_to_input` of it; the audio is
            :meth:`sample_to_audio` of it.
        """
        logits = torch.as_tensor(logits).detach()
        if logits.dim() < 2 or logits.shape[1] != self.output_channels:
            raise ValueError(
                f'WaveNet.sample_from_logits expects (batch, '
                f'{self.output_channels}, ...) logits, found shape '
                f'{tuple(logits.shape)}.')
        if self.is_mixture:
            return distributions.sample_logistic_mixture(
                logits, temperature, generator)
        if isinstance(temperature, (bool, str)) or not temperature >= 0:
            raise ValueError(f'WaveNet.sample_from_logits: temperature must '
                             f'be a number >= 0, found {temperature!r}.')
        if temperature == 0:
            return logits.argmax(dim=1)
        flat = logits.movedim(1, -1).reshape(-1, self.output_channels)
        probabilities = torch.softmax(flat / temperature, dim=-1)
        classes = torch.multinomial(probabilities, 1, generator=generator)
        return classes.reshape(logits.shape[:1] + logits.shape[2:])

    def sample_to_input(self, sample):
        """The network's input value for a ``sample`` of
        :meth:`sample_from_logits` (what the synthesis feeds back for the
        next step), in the parameters' dtype: ``2 i / mu - 1`` for a class
        ``i``; for the mixture the value itself (already on the 16-bit
        levels; it is quantized again, which leaves it unchanged)."""
        if self.is_mixture:
            return self.input_values_from_audio(sample)
        return self.input_values(sample)

    def sample_to_audio(self, sample):
        """Audio values in ``[-1, 1]`` of a ``sample`` of
        :meth:`sample_from_logits`, in the parameters' dtype: the mu-law
        decode of the classes, or the mixture's values themselves."""
        weight = self.input_convolution.weight
        if self.is_mixture:
            return torch.as_tensor(sample).to(weight.dtype)
        return mu_law_decode(sample, self.quantization_channels).to(
            weight.dtype)

    def log_likelihood(self, logits, audio):
        """Log-probability ``(batch, samples)`` (nats) of each sample of
        ``audio`` ``(batch, samples)`` under the ``logits`` ``(batch,
        output_channels, samples)``: of its mu-law class, or of its 16-bit
        level under the logistic mixture (computed in at least float32)."""
        audio = torch.as_tensor(audio)
        expected = logits.shape[:1] + logits.shape[2:]
        if audio.shape != expected:
            raise ValueError(
                f"WaveNet.log_likelihood: the audio of shape "
                f"{tuple(audio.shape)} does not match the logits of shape "
                f"{tuple(logits.shape)}.")
        if self.is_mixture:
            if logits.element_size() < 4:  # half precision
                logits = logits.float()
            return distributions.logistic_mixture_log_likelihood(
                logits, audio.to(logits.device))
        targets = mu_law_encode(audio, self.quantization_channels).to(
            logits.device)
        return -torch.nn.functional.cross_entropy(logits, targets,
                                                  reduction='none')

    def frame_conditioning(self, mel, speaker_index=None):
        """The conditioning of every gate once per frame, ``(batch,
        num_layers, 2 * residual_channels, frames)``: the upsampler's
        convolution of the mel frames, the 1x1 conditioning convolution
        (and the speaker embedding). Sample ``n`` gets the vector of frame
        ``upsampler.frame_of_sample(n)`` (:meth:`gate_conditioning`)."""
        weight = self.conditioning.weight
        mel = torch.as_tensor(mel).to(device=weight.device, dtype=weight.dtype)
        if mel.dim() != 3 or mel.shape[-1] != self.n_mels:
            raise ValueError(
                f"WaveNet expects the mel (batch, frames, {self.n_mels}), "
                f"found shape {tuple(mel.shape)}.")
        conditioning = self.conditioning(self.upsampler.convolve(mel))
        if self.speaker_embedding is not None:
            if speaker_index is None:
                raise ValueError(
                    f"WaveNet with num_speakers={self.num_speakers} needs "
                    f"the speaker_index (batch,), found None.")
            speaker_index = torch.as_tensor(speaker_index,
                                            device=weight.device)
            if speaker_index.shape != mel.shape[:1] \
                    or speaker_index.is_floating_point() \
                    or (speaker_index < 0).any() \
                    or (speaker_index >= self.num_speakers).any():
                raise ValueError(
                    f"WaveNet: speaker_index must be ints in [0, "
                    f"{self.num_speakers - 1}] of shape "
                    f"{tuple(mel.shape[:1])}, found {speaker_index.dtype} "
                    f"{speaker_index.tolist()}.")
            conditioning = conditioning + self.speaker_embedding(
                speaker_index.long())[:, :, None]
        elif speaker_index is not None:
            raise ValueError('WaveNet: got a speaker_index, but the model '
                             'has no global conditioning (num_speakers=None).')
        return conditioning.reshape(
            mel.shape[0], len(self.dilations), 2 * self.residual_channels,
            mel.shape[1])

    def gate_conditioning(self, mel, num_samples, speaker_index=None):
        """The conditioning of every gate, ``(batch, num_layers, 2 *
        residual_channels, num_samples)``: :meth:`frame_conditioning`
        repeated over the samples of each frame."""
        conditioning = self.frame_conditioning(mel, speaker_index)
        return self.upsampler.repeat(conditioning, num_samples)

    def gated_unit(self, convolved, conditioning):
        """``tanh(a) * sigmoid(b)`` of the convolved input plus the
        conditioning, both ``(batch, 2 * residual_channels, ...)``."""
        a, b = (convolved + conditioning).chunk(2, dim=1)
        return torch.tanh(a) * torch.sigmoid(b)

    def head(self, skip):
        """Skip sum ``(batch, skip_channels, ...)`` -> logits."""
        x = self.output_convolution(torch.relu(skip))
        return self.logit_convolution(torch.relu(x))

    # ----------------------------------------------------------------------
    # Teacher forcing
    # ----------------------------------------------------------------------

    def forward(self, example):
        audio = torch.as_tensor(example['audio'])
        if audio.dim() != 2 or not audio.is_floating_point() \
                or audio.shape[-1] == 0:
            raise ValueError(
                f"WaveNet expects example['audio'] float (batch, samples) "
                f"with samples > 0, found {audio.dtype} of shape "
                f"{tuple(audio.shape)}.")
        batch, num_samples = audio.shape
        conditioning = self.gate_conditioning(
            example['mel'], num_samples, example.get('speaker_index'))
        if conditioning.shape[0] != batch:
            raise ValueError(
                f"WaveNet: example['mel'] has batch size "
                f"{conditioning.shape[0]}, example['audio'] of shape "
                f"{tuple(audio.shape)} has {batch}.")
        return {'logits': self.teacher_forced(
            self.input_values_from_audio(audio), conditioning)}

    def teacher_forced(self, values, conditioning):
        """The logits ``(batch, output_channels, samples)`` of every sample
        given the true previous ones: ``values`` ``(batch, samples)`` are
        the network inputs of the samples (:meth:`input_values_from_audio`;
        zero history before the first), ``conditioning`` that of
        :meth:`gate_conditioning` for these samples."""
        previous = torch.nn.functional.pad(values[:, :-1], (1, 0))
        h = self.input_convolution(previous[:, None])
        skip = 0
        for layer, dilation in enumerate(self.dilations):
            convolved = self.dilated_convolutions[layer](
                torch.nn.functional.pad(h, (dilation, 0)))
            z = self.gated_unit(convolved, conditioning[:, layer])
            skip = skip + self.skip_convolutions[layer](z)
            if layer < len(self.residual_convolutions):
                h = h + self.residual_convolutions[layer](z)
        return self.head(skip)

    def review(self, example, output):
        """The negative log-likelihood of ``example['audio']`` under the
        logits, and summaries of the first example.

        With ``example['num_samples']`` ``(batch,)`` (padded batches) only
        the valid samples count.

        Returns:
            ``'loss'``: the mean negative log-likelihood in nats per sample
            (categorical: the cross-entropy of the mu-law classes; mixture:
            of the 16-bit levels under the discretized logistic mixture).

            ``'scalars'``: categorical ``{'accuracy': fraction of samples
            whose most likely class is right}``; mixture
            ``{'mean_absolute_error': mean |mixture mean - audio|}`` (the
            mixture mean ``sum_k softmax(logits)_k means_k``).

            ``'audios'``: ``{'target', 'teacher_forced'}``, each
            ``(float32 array (samples,), sample_rate)`` (the format of
            :func:`padertorch_audio.summary.audio`, not normalized): the
            first example's audio (clipped to ``[-1, 1]``) and the most
            likely sample at every step given the true history (the argmax
            class, or the mean of the most probable mixture component:
            ``sample_to_audio(sample_from_logits(logits, temperature=0))``),
            both cropped to the first ``min(num_samples, sample_rate)``
            samples (at most one second).

            ``'images'``: ``{'spectrogram'}``: the log-magnitude STFT (the
            model's ``stft_size``, ``shift``, ``window_length``; 80 dB
            range, :func:`padertorch_audio.summary.spectrogram_to_image`
            with ``colormap=None``) of the cropped target on top of that of
            the teacher-forced audio: a grey uint8 ``(2 * (stft_size // 2 +
            1), frames)`` image, low frequencies at the bottom of each half.

            The summaries are computed without gradient, on the CPU.
        """
        logits = output['logits']
        audio = torch.as_tensor(example['audio'])
        if audio.shape != logits.shape[:1] + logits.shape[2:]:
            raise ValueError(
                f"review: example['audio'] of shape {tuple(audio.shape)} "
                f"does not match the logits of shape {tuple(logits.shape)}.")
        log_likelihoods = self.log_likelihood(logits, audio)
        num_samples = example.get('num_samples')
        if num_samples is None:
            mask = torch.ones_like(log_likelihoods)
        else:
            mask = compute_mask(log_likelihoods, num_samples).to(
                log_likelihoods.dtype)
        total = mask.sum()
        loss = -(log_likelihoods * mask).sum() / total
        with torch.no_grad():
            if self.is_mixture:
                means = distributions.logistic_mixture_mean(logits.detach())
                errors = (means - audio.to(means.device, means.dtype)).abs()
                scalars = {'mean_absolute_error':
                           ((errors * mask).sum() / total).item()}
            else:
                targets = mu_law_encode(audio, self.quantization_channels)
                hits = (logits.detach().argmax(1) == targets.to(
                    logits.device)).to(mask.dtype)
                scalars = {'accuracy': ((hits * mask).sum() / total).item()}
        review = {'loss': loss, 'scalars': scalars}
        length = audio.shape[-1] if num_samples is None \
            else int(torch.as_tensor(num_samples)[0])
        length = min(length, self.sample_rate)
        if length > 0:
            review.update(self._teacher_forced_summaries(
                audio[0, :length], logits[:1, :, :length]))
        return review

    @torch.no_grad()
    def _teacher_forced_summaries(self, target, logits):
        """``'audios'`` and ``'images'`` of one example: ``target``
        ``(samples,)``, its ``logits`` ``(1, output_channels, samples)``."""
        predicted = self.sample_to_audio(self.sample_from_logits(
            logits.detach(), temperature=0))[0]
        signals = {
            'target': target.detach().cpu().to(torch.float64).clamp(-1, 1),
            'teacher_forced': predicted.cpu().to(torch.float64),
        }
        images = [summary.spectrogram_to_image(
            stft(signal.numpy(), size=self.stft_size, shift=self.shift,
                 window_length=self.window_length), colormap=None)
            for signal in signals.values()]
        return {
            'audios': {name: summary.audio(signal, self.sample_rate,
                                           normalize=False)
                       for name, signal in signals.items()},
            'images': {'spectrogram': np.concatenate(images, axis=0)},
        }


_FACTORY = 'padertorch_audio.vocoder.wavenet.WaveNet'

#: A tiny model for tests and examples: 8 mels, 6 layers with dilations
#: 1..8, 16 residual and 32 skip channels, STFT 64/16/64.
TINY_WAVENET = WaveNet.get_config({
    'factory': _FACTORY, 'n_mels': 8, 'shift': 16, 'window_length': 64,
    'stft_size': 64, 'residual_channels': 16, 'skip_channels': 32,
    'num_layers': 6, 'max_dilation': 8,
})

#: :data:`TINY_WAVENET` with the logistic mixture output of 4 components.
TINY_WAVENET_MIXTURE = WaveNet.get_config({
    **TINY_WAVENET, 'output_distribution': 'logistic_mixture',
    'num_mixtures': 4,
})
