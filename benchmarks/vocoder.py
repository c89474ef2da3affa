"""Speed of WaveNet synthesis (``padertorch_audio.vocoder.synthesize``).

The model is the default :class:`~padertorch_audio.vocoder.WaveNet`
(padertorch's configuration: 16 layers, dilations 1..128, 64 residual, 256
skip channels, 256 mu-law classes, 80 mels, 16 kHz, hop 200), randomly
initialised with a fixed seed (the speed does not depend on the values of
the weights); the input is the log-mel (``model.log_mel``) of a 10-s
synthetic voice-like signal. Every figure includes the conditioning
(upsampling and the 1x1 conditioning convolution) and the sampling
(temperature 1). One JSON line per measurement, median, min and max over
the repeats; the compared variants run alternately in every repeat (the
machine may be shared):

(a) ``synthesis_rtf``: seconds of computation per second of audio of
    ``synthesize(model, mel)`` with its defaults (chunks of
    ``DEFAULT_CHUNK_LENGTH`` samples generated side by side after a
    warm-up), float32, 2 and 1 torch threads (2 threads: 2 worker threads
    of single-threaded BLAS). Target at 2 threads: RTF <= 0.5 (>= 32,000
    samples per second), stretch 0.25.
(b) ``synthesis_speedup``: samples per second of three slower ways to
    generate the same model's audio, measured in the same run on a short
    excerpt (they are slow), against (a) at the same thread count:
    ``naive`` re-runs the teacher-forced network on the last receptive
    field (511 samples) for every new sample; ``conv1d_loop`` is the plain
    incremental loop of ``torch.nn.Conv1d`` calls, one sample at a time,
    keeping every layer's last ``d + 1`` inputs; ``one_sequence`` is
    ``synthesize(..., chunk_length=None)`` (our cached steps without
    chunks: one row).
(c) ``synthesis_rtf_gpu``: (a) on CUDA when a GPU is present (float32).

    python benchmarks/vocoder.py [--repeats 3] [--seconds 10]
        [--skip NAME ...]
"""
import argparse
import json
import os
import statistics
import time

import numpy as np
import torch

from padertorch_audio.vocoder import WaveNet, synthesize
from padertorch_audio.vocoder.synthesis import (
    DEFAULT_CHUNK_LENGTH, default_warmup)

BENCHMARKS = ('synthesis_rtf', 'synthesis_speedup', 'synthesis_rtf_gpu')
TARGET_RTF, STRETCH_RTF = 0.5, 0.25


def summary(values, digits=4):
    """``{'median', 'min', 'max'}`` of ``values``, rounded."""
    return {'median': round(statistics.median(values), digits),
            'min': round(min(values), digits),
            'max': round(max(values), digits)}


def environment():
    return {'torch': torch.__version__, 'cpu_count': os.cpu_count(),
            'usable_cpus': len(os.sched_getaffinity(0))}


def voice_like(seconds, sample_rate=16000, seed=0):
    """A harmonic signal with a gliding pitch and noise, in [-1, 1]."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    pitch = 120 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / sample_rate
    signal = sum(np.sin(k * phase) / k for k in range(1, 20))
    signal = signal * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2)
    signal = signal + 0.05 * rng.standard_normal(len(t))
    return (0.5 * signal / np.abs(signal).max()).astype(np.float32)


def default_model(device='cpu'):
    torch.manual_seed(0)
    return WaveNet().eval().to(device)


def timed(function):
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def with_threads(threads, function):
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return timed(function)
    finally:
        torch.set_num_threads(previous)


# --------------------------------------------------------------------------
# The slower ways of generating (references)
# --------------------------------------------------------------------------

@torch.no_grad()
def naive_generation(model, conditioning, steps, generator):
    """Re-run the teacher-forced network on the last receptive field for
    every sample; conditioning ``(1, layers, 2 R, >= steps)``."""
    field = model.receptive_field
    values = torch.zeros(1, field + steps)  # zeros: the empty history
    padded = torch.nn.functional.pad(conditioning, (field, 0))
    for t in range(steps):
        window = values[:, t + 1:t + field + 1]  # the last position is t
        logits = model.teacher_forced(
            window, padded[..., t + 1:t + field + 1])[..., -1]
        sample = model.sample_from_logits(logits, generator=generator)
        values[0, field + t] = model.sample_to_input(sample)[0]
    return values[0, field:]


@torch.no_grad()
def conv1d_loop(model, conditioning, steps, generator):
    """One sample at a time with the model's ``torch.nn.Conv1d`` modules,
    keeping every layer's last ``d + 1`` inputs."""
    channels = model.residual_channels
    history = [torch.zeros(1, channels, d + 1) for d in model.dilations]
    value = torch.zeros(1, 1, 1)
    out = torch.empty(steps)
    for t in range(steps):
        h = model.input_convolution(value)
        skip = 0
        for layer, convolution in enumerate(model.dilated_convolutions):
            history[layer] = torch.cat([history[layer][:, :, 1:], h], 2)
            z = model.gated_unit(convolution(history[layer]),
                                 conditioning[:, layer, :, t:t + 1])
            skip = skip + model.skip_convolutions[layer](z)
            if layer < len(model.residual_convolutions):
                h = h + model.residual_convolutions[layer](z)
        logits = model.head(skip)[..., 0]
        sample = model.sample_from_logits(logits, generator=generator)
        out[t] = model.sample_to_input(sample)[0]
        value = out[t].reshape(1, 1, 1)
    return out


# --------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------

def rtf_benchmark(model, mel, num_samples, repeats, thread_counts=(2, 1)):
    seconds = num_samples / model.sample_rate
    times = {threads: [] for threads in thread_counts}
    synthesize(model, mel[:, :20], generator=torch.Generator().manual_seed(0))
    for _ in range(repeats):
        for threads in thread_counts:
            times[threads].append(with_threads(threads, lambda: synthesize(
                model, mel, num_samples=num_samples,
                generator=torch.Generator().manual_seed(0))))
    return {
        threads: {'rtf': summary([t / seconds for t in values]),
                  'samples_per_second': summary(
                      [num_samples / t for t in values], 0)}
        for threads, values in times.items()}


def rtf_line(results, seconds, warmup):
    two = results[2]['rtf']['median']
    return {
        'benchmark': 'synthesis_rtf', 'model': 'WaveNet() defaults',
        'dtype': 'float32', 'seconds_of_audio': seconds,
        'chunk_length': DEFAULT_CHUNK_LENGTH, 'warmup': warmup,
        'threads_2': results[2], 'threads_1': results[1],
        'target_rtf_2_threads': TARGET_RTF, 'stretch_rtf': STRETCH_RTF,
        'meets_target': two <= TARGET_RTF,
        'meets_stretch': two <= STRETCH_RTF,
        'environment': environment()}


def speedup_benchmark(model, mel, fast, repeats, steps=200,
                      one_sequence_samples=4000):
    """Samples per second of the references (``steps`` samples each) and
    of the unchunked synthesis, 2 and 1 threads, against ``fast``."""
    with torch.no_grad():
        conditioning = model.gate_conditioning(mel, one_sequence_samples)
    references = {
        'naive': lambda: naive_generation(
            model, conditioning, steps, torch.Generator().manual_seed(0)),
        'conv1d_loop': lambda: conv1d_loop(
            model, conditioning, steps, torch.Generator().manual_seed(0)),
        'one_sequence': lambda: synthesize(
            model, mel, num_samples=one_sequence_samples, chunk_length=None,
            generator=torch.Generator().manual_seed(0)),
    }
    counts = {'naive': steps, 'conv1d_loop': steps,
              'one_sequence': one_sequence_samples}
    rates = {(name, threads): [] for name in references for threads in (2, 1)}
    for _ in range(repeats):
        for name, function in references.items():
            for threads in (2, 1):
                rates[name, threads].append(
                    counts[name] / with_threads(threads, function))
    line = {'benchmark': 'synthesis_speedup',
            'reference_samples': counts, 'environment': environment()}
    for threads in (2, 1):
        ours = fast[threads]['samples_per_second']['median']
        line[f'threads_{threads}'] = {
            'synthesize_samples_per_second': ours,
            **{f'{name}_samples_per_second': summary(
                rates[name, threads], 1) for name in references},
            **{f'speedup_over_{name}': round(
                ours / statistics.median(rates[name, threads]), 1)
               for name in references}}
    return line


def gpu_benchmark(mel, num_samples, repeats):
    model = default_model('cuda')
    mel = mel.to('cuda')
    seconds = num_samples / model.sample_rate

    def run():
        synthesize(model, mel, num_samples=num_samples,
                   generator=torch.Generator('cuda').manual_seed(0),
                   workers=1)
        torch.cuda.synchronize()

    run()
    times = [timed(run) for _ in range(repeats)]
    return {'benchmark': 'synthesis_rtf_gpu', 'dtype': 'float32',
            'device': torch.cuda.get_device_name(),
            'seconds_of_audio': seconds,
            'rtf': summary([t / seconds for t in times]),
            'samples_per_second': summary(
                [num_samples / t for t in times], 0)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--seconds', type=float, default=10.)
    parser.add_argument('--skip', nargs='*', default=[], choices=BENCHMARKS)
    args = parser.parse_args()
    model = default_model()
    audio = voice_like(args.seconds, model.sample_rate)
    mel = torch.as_tensor(model.log_mel(audio))[None]
    num_samples = len(audio)
    warmup = default_warmup(model)
    fast = None
    if 'synthesis_rtf' not in args.skip \
            or 'synthesis_speedup' not in args.skip:
        fast = rtf_benchmark(model, mel, num_samples, args.repeats)
    if 'synthesis_rtf' not in args.skip:
        print(json.dumps(rtf_line(fast, args.seconds, warmup)), flush=True)
    if 'synthesis_speedup' not in args.skip:
        print(json.dumps(speedup_benchmark(model, mel, fast, args.repeats)),
              flush=True)
    if 'synthesis_rtf_gpu' not in args.skip and torch.cuda.is_available():
        print(json.dumps(gpu_benchmark(mel, num_samples, args.repeats)),
              flush=True)


if __name__ == '__main__':
    main()
