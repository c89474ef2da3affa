"""WaveNet vocoder: mu-law samples from log-mel frames (van den Oord et al.
2016; the layout of nv-wavenet and padertorch)::

    previous sample's mu-law class i (batch, samples), shifted right by one
      -> value 2 i / mu - 1 in [-1, 1] (0 before the first sample)
      -> 1x1 conv to residual_channels                      h_0
      -> num_layers times, dilation d = 2 ** (layer % cycle):
           a, b = split(causal conv, kernel 2, dilation d (h) + c_layer)
           z = tanh(a) * sigmoid(b)                         gated unit
           skip += skip_conv(z);  h = h + residual_conv(z)
      -> ReLU -> 1x1 conv -> ReLU -> 1x1 conv               logits
         (batch, quantization_channels, samples)

``c_layer`` is the conditioning of the layer's gate: the log-mel frames
``(batch, frames, n_mels)`` upsampled to one vector per sample by
:class:`~padertorch_audio.vocoder.upsampling.FrameUpsampler` (aligned with
the STFT framing of :mod:`padertorch_audio.features`), mapped by one 1x1
conv to all layers' ``2 * residual_channels`` at once, plus optionally a
speaker embedding (global conditioning).

Position ``n`` of the logits predicts the mu-law class of sample ``n`` from
the samples ``n - receptive_field ... n - 1`` and the conditioning of
sample ``n``; the receptive field is ``sum(dilations) + 1`` samples (511
with the defaults; the dilated stack with kernel 2 sees ``sum(dilations) +
1`` inputs, the samples before ``n``).
"""
import math

import torch

from padertorch_audio.base import Model
from padertorch_audio.features.mel import log_mel
from padertorch_audio.ops.mu_law import mu_law_encode
from padertorch_audio.ops.sequence import compute_mask
from padertorch_audio.vocoder.upsampling import FrameUpsampler

__all__ = ['WaveNet', 'TINY_WAVENET']


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
        quantization_channels: mu-law classes (output logits).
        upsampling_context: Frames on each side that the learnable
            convolution of the upsampling sees.
        num_speakers: Speakers of the global conditioning; None: none.
        fmin, fmax: In Hz, of the mel filterbank of :meth:`log_mel`.

    ``forward(example)``: ``example['audio']`` float ``(batch, samples)``
    in ``[-1, 1]``, ``example['mel']`` ``(batch, frames, n_mels)`` with at
    least ``frames_needed(samples)`` frames (more are ignored), optionally
    ``example['speaker_index']`` int ``(batch,)`` -> ``{'logits': (batch,
    quantization_channels, samples)}`` (teacher forcing).

    >>> model = WaveNet.from_config(TINY_WAVENET)
    >>> output = model({'audio': torch.zeros(2, 300),
    ...                 'mel': torch.zeros(2, 22, 8)})
    >>> output['logits'].shape
    torch.Size([2, 256, 300])
    >>> WaveNet(n_mels=80).receptive_field
    511
    """

    def __init__(self, n_mels: int = 80, sample_rate: int = 16000,
                 shift: int = 200, window_length: int = 800,
                 stft_size: int = 1024, residual_channels: int = 64,
                 skip_channels: int = 256, num_layers: int = 16,
                 max_dilation: int = 128, quantization_channels: int = 256,
                 upsampling_context: int = 1, num_speakers: int = None,
                 fmin: float = 0., fmax: float = None):
        super().__init__()
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
            skip_channels, quantization_channels, 1)

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

    def input_values(self, classes):
        """mu-law classes ``(batch, samples)`` -> the network's input values
        ``2 i / mu - 1`` in the parameters' dtype."""
        mu = self.quantization_channels - 1
        weight = self.input_convolution.weight
        return classes.to(weight.dtype) * (2 / mu) - 1

    def gate_conditioning(self, mel, num_samples, speaker_index=None):
        """The conditioning of every gate, ``(batch, num_layers, 2 *
        residual_channels, num_samples)``: upsampled mel (and speaker)."""
        weight = self.conditioning.weight
        mel = torch.as_tensor(mel).to(device=weight.device, dtype=weight.dtype)
        if mel.dim() != 3 or mel.shape[-1] != self.n_mels:
            raise ValueError(
                f"WaveNet expects the mel (batch, frames, {self.n_mels}), "
                f"found shape {tuple(mel.shape)}.")
        conditioning = self.conditioning(self.upsampler(mel, num_samples))
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
            num_samples)

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
        classes = mu_law_encode(audio, self.quantization_channels)
        values = self.input_values(classes.to(conditioning.device))
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
        return {'logits': self.head(skip)}

    def review(self, example, output):
        """Cross-entropy of the logits and the mu-law classes of
        ``example['audio']``.

        With ``example['num_samples']`` ``(batch,)`` (padded batches) only
        the valid samples count.

        Returns:
            ``{'loss': mean cross-entropy (nats per sample), 'scalars':
            {'accuracy': fraction of samples whose most likely class is
            right}}``.
        """
        logits = output['logits']
        targets = mu_law_encode(torch.as_tensor(example['audio']),
                                self.quantization_channels).to(logits.device)
        if targets.shape != logits.shape[:1] + logits.shape[2:]:
            raise ValueError(
                f"review: example['audio'] of shape {tuple(targets.shape)} "
                f"does not match the logits of shape {tuple(logits.shape)}.")
        losses = torch.nn.functional.cross_entropy(
            logits, targets, reduction='none')
        hits = (logits.argmax(1) == targets).to(losses.dtype)
        num_samples = example.get('num_samples')
        if num_samples is None:
            mask = torch.ones_like(losses)
        else:
            mask = compute_mask(losses, num_samples).to(losses.dtype)
        total = mask.sum()
        loss = (losses * mask).sum() / total
        accuracy = ((hits * mask).sum() / total).item()
        return {'loss': loss, 'scalars': {'accuracy': accuracy}}


_FACTORY = 'padertorch_audio.vocoder.wavenet.WaveNet'

#: A tiny model for tests and examples: 8 mels, 6 layers with dilations
#: 1..8, 16 residual and 32 skip channels, STFT 64/16/64.
TINY_WAVENET = WaveNet.get_config({
    'factory': _FACTORY, 'n_mels': 8, 'shift': 16, 'window_length': 64,
    'stft_size': 64, 'residual_channels': 16, 'skip_channels': 32,
    'num_layers': 6, 'max_dilation': 8,
})
