"""Fast exact incremental synthesis with a :class:`~padertorch_audio.
vocoder.wavenet.WaveNet`.

**One step per sample, nothing recomputed.** Generating sample ``t``
needs, in layer ``l`` with dilation ``d``, the layer's input at ``t`` and
at ``t - d``. The product of the older tap's weights with the input at
``t - d`` is computed at step ``t - d`` and kept in a ring buffer of ``d``
slots per layer until step ``t`` reads it, so a sample costs one matrix
product per weight matrix of the network (2 ``residual x 2 residual``
taps, the residual and skip products, the head) and nothing of the
receptive field is recomputed.

**Conditioning once.** The conditioning is constant over the samples of a
frame (the upsampler repeats frames), so it is computed once per *frame*
for all layers, ``(frames, layers, 2 * residual)``, and looked up; the
biases of the dilated and residual convolutions are folded into it.

**Rows.** The steps run over a batch of independent sequences ("rows")
with plain matrix products (BLAS). A row is an utterance, or, for long
utterances, a chunk of one: the utterance is cut into chunks of
``chunk_length`` samples that are generated side by side; every chunk but
the first starts ``warmup`` samples before its first kept sample from an
empty history (as the first chunk does at sample 0), generates these
``warmup`` samples with the utterance's conditioning and throws them away.
A chunk's kept samples therefore do not continue the previous chunk's
last samples: at a seam the waveform may jump (the effect on quality is
measured in ``recipes/vocoder/README.md``). ``chunk_length=None`` generates
every utterance as one sequence. Rows are split over ``workers`` threads.

**Exact.** Every row computes what the teacher-forced ``WaveNet.forward``
computes on the row's own samples (same input values, same zero history
before its first sample, same conditioning): the distributions agree to
rounding (``tests/vocoder``). The only rewrite is ``tanh(a) = 1 - 2
sigmoid(-2 a)`` (one sigmoid call per layer instead of tanh and sigmoid;
equal to rounding).

**Sampling.** Inverse-CDF sampling with one uniform number per sample
(drawn up front from ``generator``), so the audio of a seed does not
depend on the number of workers.
"""
import functools
import math
from concurrent.futures import ThreadPoolExecutor

import torch
import tqdm

from padertorch_audio.vocoder.distributions import sample_logistic_mixture

__all__ = ['synthesize', 'default_num_samples', 'default_warmup',
           'DEFAULT_CHUNK_LENGTH']

#: Samples every chunk of a long utterance keeps (rounded up to a multiple
#: of the model's shift); see :func:`synthesize`.
DEFAULT_CHUNK_LENGTH = 2000


def default_num_samples(num_frames, shift, window_length):
    """The longest signal whose STFT (``fading=True``, ``pad=True``) has
    ``num_frames`` frames: ``(num_frames + 1) * shift - window_length``.

    >>> default_num_samples(10, 200, 800)
    1400
    """
    return (num_frames + 1) * shift - window_length


def _round_up(value, multiple):
    return -(-value // multiple) * multiple


def default_warmup(model):
    """The warm-up of every chunk but the first: the receptive field
    rounded up to a multiple of the shift (600 samples with the default
    model), so a chunk's first kept sample sees only generated samples."""
    return _round_up(model.receptive_field, model.shift)


class _Stack:
    """The model's weights arranged for one step of ``rows`` sequences:
    ``(rows, in) @ (in, out)`` products, the gate's ``a`` half scaled by
    ``-2`` (``tanh(a) = 1 - 2 sigmoid(-2 a)``), biases folded.

    The running residual ``h'`` of layer ``l`` is the model's ``h_l``
    minus ``c_l``, the sum of the residual biases of the layers before;
    ``(W0 + W1) c_l`` and the dilated convolution's bias go into the
    frame conditioning. The older tap sees zeros before a row's first
    sample, not ``c_l``: its memory starts at ``-W0 c_l``
    (``older_bias``).
    """

    def __init__(self, model):
        weight = model.input_convolution.weight.detach()
        channels = model.residual_channels
        scale = weight.new_ones(2 * channels)
        scale[:channels] = -2
        self.scale = scale
        self.channels = channels
        self.dilations = list(model.dilations)
        self.input_weight = weight[:, 0, 0].clone()
        self.input_bias = model.input_convolution.bias.detach().clone()
        self.older, self.newer, self.older_bias, frame_bias = [], [], [], []
        self.residual = []
        offset = weight.new_zeros(channels)  # c_l
        for layer, convolution in enumerate(model.dilated_convolutions):
            w0 = convolution.weight.detach()[:, :, 0] * scale[:, None]
            w1 = convolution.weight.detach()[:, :, 1] * scale[:, None]
            self.older.append(w0.T.contiguous())
            self.newer.append(w1.T.contiguous())
            self.older_bias.append(w0 @ offset)
            frame_bias.append(convolution.bias.detach() * scale
                              + (w0 + w1) @ offset)
            if layer < len(model.residual_convolutions):
                residual = model.residual_convolutions[layer]
                self.residual.append(
                    residual.weight.detach()[:, :, 0].T.contiguous())
                offset = offset + residual.bias.detach()
        self.frame_bias = torch.stack(frame_bias)  # (layers, 2 channels)
        self.skip = torch.cat([
            convolution.weight.detach()[:, :, 0].T
            for convolution in model.skip_convolutions]).contiguous()
        self.skip_bias = sum(convolution.bias.detach()
                             for convolution in model.skip_convolutions)
        self.head = [(convolution.weight.detach()[:, :, 0].T.contiguous(),
                      convolution.bias.detach())
                     for convolution in (model.output_convolution,
                                         model.logit_convolution)]

    def frame_conditioning(self, conditioning):
        """``(batch, layers, 2 channels, frames)`` -> ``(batch * frames,
        layers, 2 channels)`` with the scaling and the folded biases."""
        batch, _, _, frames = conditioning.shape
        conditioning = conditioning.permute(0, 3, 1, 2) * self.scale \
            + self.frame_bias
        return conditioning.reshape(batch * frames, *conditioning.shape[2:])


class _Rows:
    """Which utterance and samples every row generates.

    Row ``r`` generates the positions ``start[r] ... start[r] + steps - 1``
    of utterance ``utterance[r]`` from an empty history and keeps its last
    ``keep[r]`` samples, the positions ``first_kept[r] ...``.
    """

    def __init__(self, batch, num_samples, chunk_length, warmup):
        if chunk_length is None or num_samples <= chunk_length + warmup:
            self.steps = num_samples
            self.starts = [0]
        else:
            # the first chunk keeps all its warmup + chunk_length samples,
            # chunk k > 0 starts at k * chunk_length and keeps its last
            # chunk_length samples
            self.steps = warmup + chunk_length
            count = 1 + -(-(num_samples - self.steps) // chunk_length)
            self.starts = [k * chunk_length for k in range(count)]
        self.warmup = 0 if len(self.starts) == 1 else warmup
        self.batch, self.num_samples = batch, num_samples
        self.utterance = [b for b in range(batch) for _ in self.starts]
        self.start = [s for _ in range(batch) for s in self.starts]

    def __len__(self):
        return len(self.start)

    def kept(self, r):
        """(first step kept, first position kept, number kept) of row r."""
        start = self.start[r]
        skip = 0 if start == 0 else self.warmup
        count = min(self.steps - skip, self.num_samples - start - skip)
        return skip, start + skip, count

    def assemble(self, per_row):
        """``(..., rows, steps)`` -> ``(..., batch, num_samples)``."""
        output = per_row.new_empty(*per_row.shape[:-2], self.batch,
                                   self.num_samples)
        for r in range(len(self)):
            skip, first, count = self.kept(r)
            output[..., self.utterance[r], first:first + count] = \
                per_row[..., r, skip:skip + count]
        return output


class _Output:
    """Sampling from the model's output distribution with pre-drawn
    uniform numbers (``numbers`` per sample), and what is fed back."""

    def __init__(self, model, temperature):
        self.temperature = temperature
        self.mixture = model.is_mixture
        self.dtype = None if self.mixture else torch.int64
        self.numbers = 2 if self.mixture else 1
        if not self.mixture:
            weight = model.input_convolution.weight
            self.values = model.input_values(torch.arange(
                model.quantization_channels, device=weight.device))

    def draw(self, logits, uniform):
        """``(rows, output_channels)`` and ``(rows, numbers)`` (None: the
        most likely sample) -> ``(rows,)`` samples."""
        if self.mixture:
            return sample_logistic_mixture(
                logits, 0 if uniform is None else self.temperature,
                uniform=None if uniform is None else uniform.T)
        if uniform is None:
            return logits.argmax(1)
        # inverse CDF: the smallest class whose cumulative probability
        # exceeds the uniform number
        if self.temperature != 1:
            logits = logits / self.temperature
        cdf = torch.cumsum(torch.softmax(logits, dim=1), dim=1)
        target = uniform * cdf[:, -1:]
        return torch.searchsorted(cdf, target, right=True)[:, 0].clamp_(
            max=cdf.shape[1] - 1)

    def feed(self, sample, value):
        """Write the network input of ``sample`` into ``value``."""
        if self.mixture:
            value.copy_(sample)  # on the 16-bit levels already
        else:
            torch.index_select(self.values, 0, sample, out=value)


@torch.no_grad()
def _generate(stack, conditioning, frames, keys, output, uniform,
              record_logits, progress):
    """Run ``steps`` steps for a set of rows.

    Args:
        conditioning: ``(utterance frames, layers, 2 channels)`` from
            :meth:`_Stack.frame_conditioning`.
        frames: ``frames(step) -> (rows,)`` int64 indices into
            ``conditioning``.
        keys: ``keys[step]`` equal for steps with equal ``frames`` (all
            rows change frames at the same steps).
        output: The :class:`_Output` of the model's distribution.
        uniform: ``(steps, rows, ...)`` random numbers or None (the most
            likely sample).

    Returns:
        samples ``(rows, steps)`` and the logits ``(classes, rows, steps)``
        or None.
    """
    channels, dilations = stack.channels, stack.dilations
    like = conditioning
    rows, steps = len(frames(0)), len(keys)
    layers = len(dilations)
    offsets = [sum(dilations[:layer]) for layer in range(layers + 1)]
    # slot t % d of a layer holds the older tap's product of step t - d
    # (before step d: minus W0 c_l, which the frame conditioning adds)
    memory = like.new_empty(offsets[-1], rows, 2 * channels)
    slots = [[memory[offsets[layer] + slot] for slot in range(dilation)]
             for layer, dilation in enumerate(dilations)]
    for layer, dilation in enumerate(dilations):
        memory[offsets[layer]:offsets[layer + 1]] = -stack.older_bias[layer]
    period = math.lcm(*dilations)
    gather = torch.tensor([[offsets[layer] + t % dilation
                            for layer, dilation in enumerate(dilations)]
                           for t in range(period)], device=like.device)
    cache = {}

    def frame_conditioning(step):  # (layers, rows, 2 channels)
        key = keys[step]
        if key not in cache:
            cache.clear()
            cache[key] = conditioning.index_select(
                0, frames(step)).transpose(0, 1).contiguous()
        return cache[key]

    pre = like.new_empty(layers, rows, 2 * channels)
    pre_of = list(pre)
    gates = [(pre[layer, :, :channels], pre[layer, :, channels:])
             for layer in range(layers)]
    z = like.new_empty(rows, layers * channels)
    z_of = [z[:, layer * channels:(layer + 1) * channels]
            for layer in range(layers)]
    h = like.new_empty(rows, channels)
    skip = like.new_empty(rows, stack.skip.shape[1])
    hidden = like.new_empty(rows, stack.head[0][0].shape[1])
    logits = like.new_empty(rows, stack.head[1][0].shape[1])
    samples = torch.empty(steps, rows, dtype=output.dtype or like.dtype,
                          device=like.device)
    all_logits = like.new_empty(steps, rows, logits.shape[1]) \
        if record_logits else None
    value = like.new_zeros(rows)  # no previous sample: 0
    last = len(stack.residual)
    (output_weight, output_bias), (logit_weight, logit_bias) = stack.head
    layer_weights = [
        (pre_of[layer], stack.newer[layer], stack.older[layer],
         slots[layer], dilations[layer], gates[layer], z_of[layer],
         stack.residual[layer] if layer < last else None)
        for layer in range(layers)]
    for t in (tqdm.trange(steps, desc='synthesize', unit='step',
                          leave=False) if progress else range(steps)):
        torch.index_select(memory, 0, gather[t % period], out=pre)
        pre.add_(frame_conditioning(t))
        torch.addcmul(stack.input_bias, value[:, None], stack.input_weight,
                      out=h)
        for (pre_l, newer_w, older_w, slots_l, dilation, (older, newer),
             z_l, residual_w) in layer_weights:
            pre_l.addmm_(h, newer_w)
            torch.mm(h, older_w, out=slots_l[t % dilation])
            pre_l.sigmoid_()
            torch.addcmul(newer, older, newer, value=-2, out=z_l)
            if residual_w is not None:
                h.addmm_(z_l, residual_w)
        torch.addmm(stack.skip_bias, z, stack.skip, out=skip)
        torch.addmm(output_bias, skip.relu_(), output_weight, out=hidden)
        torch.addmm(logit_bias, hidden.relu_(), logit_weight, out=logits)
        if record_logits:
            all_logits[t] = logits
        sample = output.draw(logits, None if uniform is None else uniform[t])
        samples[t] = sample
        output.feed(sample, value)
    return samples.T, None if all_logits is None else all_logits.permute(
        2, 1, 0)


@torch.no_grad()
def synthesize(model, mel, *, num_samples=None, temperature=1.0,
               generator=None, speaker_index=None, return_logits=False,
               progress=False, chunk_length=DEFAULT_CHUNK_LENGTH,
               warmup=None, workers=None):
    """Generate audio sample by sample.

    Args:
        model: A :class:`~padertorch_audio.vocoder.wavenet.WaveNet` (in
            the mode the caller chose; it has no dropout or batch norm).
        mel: Log-mel frames ``(batch, frames, n_mels)`` (or ``(frames,
            n_mels)``), computed as the model's were (``model.log_mel``).
        num_samples: Samples to generate per utterance; default the
            longest signal with ``frames`` frames,
            :func:`default_num_samples`.
        temperature: The logits are divided by it before sampling; ``0``
            or ``'argmax'`` take the most likely class (deterministic).
        generator: A ``torch.Generator`` for the sampling (on the model's
            device), for reproducible output.
        speaker_index: Int ``(batch,)`` for a model with speakers.
        return_logits: Also return the logits of every kept sample.
        progress: Show a tqdm progress bar over the steps (on stderr).
        chunk_length: Utterances longer than ``chunk_length + warmup``
            samples are generated as chunks of this many samples side by
            side (rounded up to a multiple of the model's shift); ``None``:
            every utterance is one sequence (slowest; no seams).
        warmup: Samples each chunk after the first generates before its
            first kept one; default the receptive field rounded up to a
            multiple of the shift (600 with the default model).
        workers: Threads that generate the rows (BLAS runs single-threaded
            in each while they work); default ``torch.get_num_threads()``.

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
    shift = model.shift
    if warmup is None:
        warmup = default_warmup(model)
    if chunk_length is not None:
        if chunk_length < 1 or warmup < 0:
            raise ValueError(f'synthesize: chunk_length must be None or >= '
                             f'1 and warmup >= 0, found {chunk_length} and '
                             f'{warmup}.')
        # chunks start on frame boundaries: all rows change frames at the
        # same steps
        chunk_length = _round_up(chunk_length, shift)
        warmup = _round_up(warmup, shift)
    workers = torch.get_num_threads() if workers is None else workers
    if workers < 1:
        raise ValueError(f'synthesize: workers must be >= 1, found '
                         f'{workers}.')

    stack = _Stack(model)
    frame_count = model.frames_needed(num_samples)
    frame_conditioning = model.frame_conditioning(mel, speaker_index)
    if frame_conditioning.shape[-1] < frame_count:
        raise ValueError(
            f'synthesize: {num_samples} samples need at least '
            f'{frame_count} mel frames (shift={shift}, window_length='
            f'{model.window_length}), found {frame_conditioning.shape[-1]} '
            f'(mel of shape {tuple(mel.shape)}).')
    conditioning = stack.frame_conditioning(
        frame_conditioning[..., :frame_count])
    rows = _Rows(mel.shape[0], num_samples, chunk_length, warmup)
    device = conditioning.device
    utterance = torch.tensor(rows.utterance, device=device)
    start = torch.tensor(rows.start, device=device)
    frame_of_sample = model.upsampler.frame_of_sample

    def frames(step, index):
        frame = frame_of_sample(start[index] + step).clamp(
            max=frame_count - 1)
        return utterance[index] * frame_count + frame

    # chunks start on frame boundaries: every row changes frames at the
    # steps where row 0 does
    keys = frame_of_sample(torch.arange(rows.steps)).tolist()

    output = _Output(model, temperature)
    uniform = None if argmax else torch.rand(
        rows.steps, len(rows), output.numbers, generator=generator,
        dtype=conditioning.dtype, device=device)
    groups = [list(range(len(rows)))[w::workers] for w in range(workers)]
    groups = [group for group in groups if group]

    def run(group, show, single_threaded=False):
        if single_threaded:  # per thread: each worker's BLAS on one core
            torch.set_num_threads(1)
        index = torch.tensor(group, device=device)
        return _generate(
            stack, conditioning, functools.partial(frames, index=index),
            keys, output, None if uniform is None else uniform[:, index],
            return_logits, progress and show)

    if len(groups) == 1:
        results = [run(groups[0], True)]
    else:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with ThreadPoolExecutor(len(groups)) as pool:
                results = list(pool.map(
                    run, groups, [True] + [False] * (len(groups) - 1),
                    [True] * len(groups)))
        finally:
            torch.set_num_threads(threads)
    order = torch.tensor([r for group in groups for r in group])
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(len(order))
    samples = torch.cat([sample for sample, _ in results])[inverse]
    audio = model.sample_to_audio(rows.assemble(samples))
    logits = None
    if return_logits:
        logits = rows.assemble(torch.cat(
            [lg for _, lg in results], dim=1)[:, inverse])
        logits = logits.permute(1, 0, 2)
    if single:
        audio = audio[0]
        logits = None if logits is None else logits[0]
    return (audio, logits) if return_logits else audio
