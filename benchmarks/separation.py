"""Speed and memory of the DPRNN-TasNet (paper configuration, window 16).

Three measurements, one JSON line each (2 threads, float32, CPU):

(a) ``train_step``: one training step (forward, PIT SI-SDR loss, backward,
    Adam step) on a batch of 4 x 4 s at 8 kHz, against the floor measured
    in the same run: the same 12 BiLSTM passes (6 intra-chunk, 6
    inter-chunk) with their linear projections alone, forward and backward
    on tensors of the same shapes (``batch_first`` LSTMs, as a plain
    implementation calls them). They are timed alternately (the machine
    may be shared) and compared by their medians; the ratio of the minima
    is printed too. Target: ratio <= 1.05. For reference, also against a
    stricter floor: the same passes sequence-first on contiguous tensors
    (no transposed copies at all; the model uses sequence-first LSTMs).
(b) ``inference_rtf``: real-time factor of ``separate`` (default chunks)
    on a 60-s mixture (seconds of computation per second of audio), in a
    fresh process after a 1-s warm-up. Target: <= 0.06.
(c) ``memory``: peak resident memory (``ru_maxrss`` of a fresh process,
    torch included; also ``VmHWM`` from ``/proc``) while separating a
    10-minute mixture. Target: <= 2 GB.

    python benchmarks/separation.py [--repeats 5] [--skip train_step ...]
"""
import argparse
import json
import math
import statistics
import subprocess
import sys
import textwrap
import time

import torch

from padertorch_audio.separation import DPRNN_PAPER, TasNet

SAMPLE_RATE = 8000
THREADS = 2


def timed(function):
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def lstm_floor(model, batch, num_samples, batch_first=True):
    """A function running the 12 BiLSTM passes and their projections
    (forward + backward) on random tensors of the model's shapes:
    ``linear(lstm(x)[0])`` with ``x`` of shape ``(batch * chunks, chunk,
    size)`` (intra) and ``(batch * chunk, chunks, size)`` (inter) for
    ``batch_first``, else the same sequence-first and contiguous (the layout
    the LSTM kernel computes in, so no transposed copies at all)."""
    separator = model.separator
    frames = model.encoder.num_frames(num_samples)
    chunk, hop = separator.chunk_size, separator.hop_size
    chunks = math.ceil(max(frames - chunk, 0) / hop) + 1
    size = separator.bottleneck.out_channels
    hidden = separator.blocks[0].intra_lstm.hidden_size
    layers = []
    for _ in separator.blocks:
        for _ in ('intra', 'inter'):
            layers.append((
                torch.nn.LSTM(size, hidden, batch_first=batch_first,
                              bidirectional=True),
                torch.nn.Linear(2 * hidden, size)))
    intra = torch.randn(batch * chunks, chunk, size, requires_grad=True)
    inter = torch.randn(batch * chunk, chunks, size, requires_grad=True)
    if not batch_first:
        intra = torch.randn(chunk, batch * chunks, size, requires_grad=True)
        inter = torch.randn(chunks, batch * chunk, size, requires_grad=True)

    def run():
        total = 0
        for index, (lstm, linear) in enumerate(layers):
            x = intra if index % 2 == 0 else inter
            total = total + linear(lstm(x)[0]).sum()
        total.backward()
    return run, {'chunks': chunks, 'chunk': chunk, 'frames': frames}


def train_step_benchmark(repeats):
    torch.manual_seed(0)
    batch, num_samples = 4, 4 * SAMPLE_RATE
    model = TasNet.from_config(DPRNN_PAPER).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    target = 0.1 * torch.randn(batch, 2, num_samples)
    example = {'observation': target.sum(1), 'speech_source': target,
               'num_samples': torch.full((batch,), num_samples)}

    def step():
        output = model(example)
        loss = model.review(example, output)['losses']['si_sdr']
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    floor, shapes = lstm_floor(model, batch, num_samples)
    floor_sequence_first, _ = lstm_floor(model, batch, num_samples, False)
    step()
    floor()  # warm-up
    floor_sequence_first()
    steps, floors, floors_sequence_first = [], [], []
    for _ in range(repeats):
        steps.append(timed(step))
        floors.append(timed(floor))
        floors_sequence_first.append(timed(floor_sequence_first))
    ratio = statistics.median(steps) / statistics.median(floors)
    strict = statistics.median(steps) / statistics.median(
        floors_sequence_first)
    return {
        'benchmark': 'train_step', 'model': 'DPRNN_PAPER (window 16)',
        'batch': batch, 'seconds': num_samples / SAMPLE_RATE,
        'threads': THREADS, **shapes,
        'step_s': round(statistics.median(steps), 3),
        'floor_s': round(statistics.median(floors), 3),
        'ratio': round(ratio, 3),
        'ratio_of_minima': round(min(steps) / min(floors), 3),
        'target_ratio': 1.05, 'met': ratio <= 1.05,
        'floor_sequence_first_s': round(
            statistics.median(floors_sequence_first), 3),
        'ratio_to_sequence_first_floor': round(strict, 3),
        'steps_s': [round(t, 3) for t in steps],
        'floors_s': [round(t, 3) for t in floors],
        'floors_sequence_first_s': [round(t, 3)
                                    for t in floors_sequence_first],
    }


def run_fresh(script):
    """Run a Python script in a fresh process and return its stdout.

    Started from a shell that forks it (not directly from this process):
    Linux carries the peak RSS of the process that execs into the new
    program's ``ru_maxrss``, and Python's subprocess vforks, so a direct
    child would report at least this (large) process's peak.
    """
    result = subprocess.run(
        ['/bin/sh', '-c', '"$0" -c "$1"; exit $?', sys.executable, script],
        check=True, capture_output=True, text=True)
    return result.stdout


INFERENCE_SCRIPT = textwrap.dedent('''
    import json, time, torch
    from padertorch_audio.separation import DPRNN_PAPER, TasNet, separate
    torch.set_num_threads({threads})
    torch.manual_seed(0)
    model = TasNet.from_config(DPRNN_PAPER)
    signal = 0.1 * torch.randn(round({seconds} * {rate}))
    separate(model, signal[:{rate}], {rate})  # warm-up
    times = []
    for _ in range({repeats}):
        start = time.perf_counter()
        separate(model, signal, {rate})
        times.append(time.perf_counter() - start)
    print(json.dumps(times))
''')


def inference_benchmark(repeats, seconds=60.):
    """RTF of ``separate`` (default chunking) in a fresh process: the
    allocator state this process has after the training benchmark would
    flatter the result."""
    script = INFERENCE_SCRIPT.format(threads=THREADS, seconds=seconds,
                                     rate=SAMPLE_RATE, repeats=repeats)
    times = json.loads(run_fresh(script).strip().splitlines()[-1])
    rtf = statistics.median(times) / seconds
    return {
        'benchmark': 'inference_rtf', 'model': 'DPRNN_PAPER (window 16)',
        'seconds': seconds, 'threads': THREADS,
        'time_s': round(statistics.median(times), 3),
        'rtf': round(rtf, 4), 'target_rtf': 0.06, 'met': rtf <= 0.06,
        'times_s': [round(t, 3) for t in times],
    }


MEMORY_SCRIPT = textwrap.dedent('''
    import json, resource, sys, time, torch
    from padertorch_audio.separation import DPRNN_PAPER, TasNet, separate
    torch.set_num_threads({threads})
    torch.manual_seed(0)
    model = TasNet.from_config(DPRNN_PAPER)
    signal = 0.1 * torch.randn({seconds} * {rate})
    start = time.perf_counter()
    output = separate(model, signal, {rate})
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    hwm = [int(line.split()[1]) * 1024 for line in open('/proc/self/status')
           if line.startswith('VmHWM:')]
    print(json.dumps({{'peak_bytes': peak, 'time_s': elapsed,
                      'vm_hwm_bytes': hwm[0] if hwm else None,
                      'shape': list(output.shape)}}))
''')


def memory_benchmark(seconds=600):
    script = MEMORY_SCRIPT.format(threads=THREADS, seconds=seconds,
                                  rate=SAMPLE_RATE)
    report = json.loads(run_fresh(script).strip().splitlines()[-1])
    peak_gb = report['peak_bytes'] / 1e9
    return {
        'benchmark': 'memory', 'model': 'DPRNN_PAPER (window 16)',
        'seconds': seconds, 'threads': THREADS,
        'peak_gb': round(peak_gb, 3), 'target_gb': 2.0,
        'met': peak_gb <= 2.0, 'vm_hwm_gb': (
            round(report['vm_hwm_bytes'] / 1e9, 3)
            if report['vm_hwm_bytes'] else None),
        'time_s': round(report['time_s'], 2),
        'rtf': round(report['time_s'] / seconds, 4),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--skip', nargs='*', default=[],
                        choices=['train_step', 'inference_rtf', 'memory'])
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    if 'train_step' not in args.skip:
        print(json.dumps(train_step_benchmark(args.repeats)), flush=True)
    if 'inference_rtf' not in args.skip:
        print(json.dumps(inference_benchmark(args.repeats)), flush=True)
    if 'memory' not in args.skip:
        print(json.dumps(memory_benchmark()), flush=True)


if __name__ == '__main__':
    main()
