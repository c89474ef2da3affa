"""Speed of ``pit_loss`` against enumerating permutations with a full loss.

For K = 2..8 sources, batch 4, 4 s at 8 kHz (32000 samples), SI-SDR pair
loss, float32, 1 thread, forward only (ours also with the backward pass):

- ``ours``: ``pit_loss`` (one broadcast call for the K x K pair losses, then
  the assignment on the matrix: all K! permutations gathered for K <= 5,
  scipy's Hungarian algorithm above);
- ``naive``: for each of the K! permutations the full ``si_sdr_loss`` of the
  permuted estimate, then the minimum (the textbook PIT). It is measured only
  up to ``--naive-max`` sources (default 6: 720 full losses); beyond, its
  time grows with K! (K = 7: 7x, K = 8: 56x that of K = 6) and is reported
  as null.

Each timing is the median of ``--repeats`` runs; one JSON line per K.

    python benchmarks/pit.py [--repeats 15] [--naive-max 6]

Targets: ours faster than naive from K = 3 on; ours < 10 ms at K = 8.
"""
import argparse
import itertools
import json
import statistics
import time

import torch

from padertorch_audio.ops import pit_loss, si_sdr_loss


def naive_pit_loss(estimate, target):
    """Mean over the batch of the minimum over all permutations of the full
    loss of the permuted estimate."""
    num_sources = estimate.shape[1]
    losses = torch.stack([
        si_sdr_loss(estimate[:, list(p)], target, reduction='none').mean(-1)
        for p in itertools.permutations(range(num_sources))
    ], dim=-1)
    return losses.min(-1).values.mean()


def median_time(function, repeats):
    function()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeats', type=int, default=15)
    parser.add_argument('--naive-max', type=int, default=6)
    parser.add_argument('--batch', type=int, default=4)
    parser.add_argument('--samples', type=int, default=32000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    for num_sources in range(2, 9):
        generator = torch.Generator().manual_seed(num_sources)
        shape = (args.batch, num_sources, args.samples)
        estimate = torch.randn(shape, generator=generator)
        target = torch.randn(shape, generator=generator)
        ours = median_time(lambda: pit_loss(estimate, target), args.repeats)
        trainable = estimate.clone().requires_grad_(True)
        with_backward = median_time(
            lambda: pit_loss(trainable, target).backward(), args.repeats)
        line = {
            'benchmark': 'pit', 'num_sources': num_sources,
            'batch': args.batch, 'samples': args.samples, 'threads': 1,
            'loss': 'si_sdr', 'ours_ms': round(ours * 1e3, 3),
            'ours_with_backward_ms': round(with_backward * 1e3, 3),
            'assignment': 'enumeration' if num_sources <= 5 else 'hungarian',
        }
        if num_sources <= args.naive_max:
            expected = naive_pit_loss(estimate, target)
            torch.testing.assert_close(pit_loss(estimate, target), expected)
            naive = median_time(lambda: naive_pit_loss(estimate, target),
                                max(1, min(args.repeats, 3)
                                    if num_sources >= 6 else args.repeats))
            line.update(naive_ms=round(naive * 1e3, 3),
                        speedup=round(naive / ours, 1))
        else:
            line.update(naive_ms=None, speedup=None,
                        note=f'naive not measured: {num_sources}! full losses')
        print(json.dumps(line), flush=True)


if __name__ == '__main__':
    main()
