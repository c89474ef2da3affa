"""Exact incremental synthesis with a :class:`~padertorch_audio.vocoder.
wavenet.WaveNet`.

Generating sample ``t`` needs, in layer ``l`` with dilation ``d``, the
layer's input at ``t`` and at ``t - d``. Every layer keeps the last ``d``
inputs in a ring buffer (slot ``t % d`` holds the input of step ``t - d``
until step ``t`` reads it and writes its own), so a new sample costs one
step per layer (two ``residual x 2 residual`` products for the dilated
convolution, the residual and skip products, the head) and nothing of the
receptive field is recomputed. The conditioning of all samples and layers
is computed once up front; the batch axis runs over utterances.

The computation is that of the teacher-forced ``WaveNet.forward`` on the
generated samples (same input values, same zero history before the first
sample): the distributions agree to rounding (see ``tests/vocoder``).
"""
import torch
import tqdm

from padertorch_audio.ops.mu_law import mu_law_decode

__all__ = ['synthesize', 'default_num_samples']


def default_num_samples(num_frames, shift, window_length):
    """The longest signal whose STFT (``fading=True``, ``pad=True``) has
    ``num_frames`` frames: ``(num_frames + 1) * shift - window_length``.

    >>> default_num_samples(10, 200, 800)
    1400
    """
    return (num_frames + 1) * shift - window_length


def _pointwise(convolution, x):
    """A 1x1 (or one tap of a) ``Conv1d`` on ``(batch, channels)``."""
    return torch.nn.functional.linear(x, convolution.weight[:, :, 0],
                                      convolution.bias)


@torch.no_grad()
def synthesize(model, mel, *, num_samples=None, temperature=1.0,
               generator=None, speaker_index=None, return_logits=False,
               progress=False):
    """Generate audio sample by sample.

    Args:
        model: A :class:`~padertorch_audio.vocoder.wavenet.WaveNet` (in
            the mode the caller chose; it has no dropout or batch norm).
        mel: Log-mel frames ``(batch, frames, n_mels)`` (or ``(frames,
            n_mels)``), computed as the model's were.
        num_samples: Samples to generate per utterance; default the
            longest signal with ``frames`` frames,
            :func:`default_num_samples`.
        temperature: The logits are divided by it before sampling; ``0``
            or ``'argmax'`` take the most likely class (deterministic).
        generator: A ``torch.Generator`` for the sampling (on the model's
            device), for reproducible output.
        speaker_index: Int ``(batch,)`` for a model with speakers.
        return_logits: Also return the logits of every step.
        progress: Show a tqdm progress bar over the generated samples
            (on stderr).

    Returns:
        Audio ``(batch, num_samples)`` in ``[-1, 1]`` in the model's dtype
        (``(num_samples,)`` for a 2-D mel); with ``return_logits`` also the
        logits ``(batch, quantization_channels, num_samples)`` the samples
        were drawn from (before the temperature).

    >>> from padertorch_audio.vocoder import TINY_WAVENET, WaveNet
    >>> model = WaveNet.from_config(TINY_WAVENET)
    >>> audio = synthesize(model, torch.zeros(2, 10, 8), temperature=0)
    >>> audio.shape
    torch.Size([2, 112])
    """
    argmax = temperature == 'argmax' or (
        not isinstance(temperature, str) and temperature == 0)
    if not argmax and (isinstance(temperature, str) or not temperature > 0):
        raise ValueError(f"synthesize: temperature must be > 0, 0 or "
                         f"'argmax', found {temperature!r}.")
    mel = torch.as_tensor(mel)
    single = mel.dim() == 2
    if single:
        mel = mel[None]
        if speaker_index is not None:
            speaker_index = torch.as_tensor(speaker_index).reshape(1)
    if mel.dim() != 3:
        raise ValueError(f'synthesize expects the mel (batch, frames, '
                         f'n_mels) or (frames, n_mels), found shape '
                         f'{tuple(mel.shape)}.')
    if num_samples is None:
        num_samples = default_num_samples(mel.shape[1], model.shift,
                                          model.window_length)
    if num_samples < 1:
        raise ValueError(f'synthesize: num_samples must be >= 1, found '
                         f'{num_samples} (mel of shape {tuple(mel.shape)}).')
    conditioning = model.gate_conditioning(mel, num_samples, speaker_index)
    batch = mel.shape[0]
    weight = model.input_convolution.weight
    channels = model.residual_channels
    buffers = [weight.new_zeros(batch, channels, dilation)
               for dilation in model.dilations]
    classes = torch.empty(batch, num_samples, dtype=torch.int64,
                          device=weight.device)
    all_logits = weight.new_empty(
        batch, model.quantization_channels, num_samples) \
        if return_logits else None
    value = weight.new_zeros(batch)  # no previous sample: 0
    last = len(model.residual_convolutions)
    steps = range(num_samples)
    if progress:
        steps = tqdm.tqdm(steps, desc='synthesize', unit='sample',
                          unit_scale=True, leave=False)
    for t in steps:
        h = _pointwise(model.input_convolution, value[:, None])
        skip = 0
        for layer, dilation in enumerate(model.dilations):
            slot = t % dilation
            past = buffers[layer][:, :, slot].clone()
            buffers[layer][:, :, slot] = h
            convolution = model.dilated_convolutions[layer]
            convolved = torch.nn.functional.linear(
                past, convolution.weight[:, :, 0]) + torch.nn.functional.linear(
                h, convolution.weight[:, :, 1], convolution.bias)
            z = model.gated_unit(convolved, conditioning[:, layer, :, t])
            skip = skip + _pointwise(model.skip_convolutions[layer], z)
            if layer < last:
                h = h + _pointwise(model.residual_convolutions[layer], z)
        logits = model.head(skip[:, :, None])[:, :, 0]
        if return_logits:
            all_logits[:, :, t] = logits
        if argmax:
            sample = logits.argmax(-1)
        else:
            probabilities = torch.softmax(logits / temperature, dim=-1)
            sample = torch.multinomial(probabilities, 1,
                                       generator=generator)[:, 0]
        classes[:, t] = sample
        value = model.input_values(sample)
    audio = mu_law_decode(classes, model.quantization_channels).to(
        weight.dtype)
    if single:
        audio = audio[0]
        all_logits = None if all_logits is None else all_logits[0]
    return (audio, all_logits) if return_logits else audio
