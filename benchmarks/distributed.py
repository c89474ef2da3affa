"""Overhead of the distributed Trainer over a hand-written DDP loop.

Both run under ``torchrun --nproc_per_node 2`` with gloo on the CPU (one
thread per process): an MLP (256 -> 1024 -> 1024 -> 10, 1.3M parameters,
batch 64 per rank, SGD), the hand-written loop with
``DistributedDataParallel`` and a ``DistributedSampler``-like shard of the
data, the Trainer with its default hooks on the same shard. The two
alternate; the ratio of the median steady-state step times (after
``WARMUP`` steps, to the last step) is printed as a JSON line, with the
whole run times and the parameters of both compared (they must agree).

    python benchmarks/distributed.py [--steps 300] [--repeats 3]

Target: ratio <= 1.10. The Trainer's extra cost per step is one small
all-reduce (the ranks agree whether the epoch goes on and whether a signal
arrived) besides DDP's gradient all-reduce.
"""
import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

import padertorch_audio as pa

BATCH = 64
WARMUP = 10  # steps before the steady-state clock starts


def make_network(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(256, 1024), torch.nn.ReLU(),
        torch.nn.Linear(1024, 1024), torch.nn.ReLU(),
        torch.nn.Linear(1024, 10))


def make_data(steps, seed=0):
    """The global batches (both ranks' data) of one epoch."""
    generator = torch.Generator().manual_seed(seed)
    return [{'features': torch.randn(BATCH, 256, generator=generator),
             'label': torch.randint(0, 10, (BATCH,), generator=generator)}
            for _ in range(2 * steps)]


class MLP(pa.Model):
    def __init__(self):
        super().__init__()
        self.network = make_network()

    def forward(self, example):
        return self.network(example['features'])

    def review(self, example, output):
        return {'loss': torch.nn.functional.cross_entropy(
            output, example['label'])}


def hand_written(data):
    torch.distributed.init_process_group('gloo')
    rank = torch.distributed.get_rank()
    network = torch.nn.parallel.DistributedDataParallel(make_network())
    optimizer = torch.optim.SGD(network.parameters(), lr=1e-2)
    shard = data[rank::2]
    torch.distributed.barrier()
    start = time.perf_counter()
    for step, example in enumerate(shard, 1):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(
            network(example['features']), example['label'])
        loss.backward()
        optimizer.step()
        if step == WARMUP:
            steady = time.perf_counter()
    end = time.perf_counter()
    parameters = [p.detach().clone() for p in network.module.parameters()]
    torch.distributed.destroy_process_group()
    return end - start, end - steady, len(shard), parameters


class StepClock(pa.Hook):
    """Notes the time after step WARMUP and after the last step."""

    def post_step(self, trainer, step):
        if trainer.iteration == WARMUP:
            self.steady = time.perf_counter()
        self.end = time.perf_counter()


def with_trainer(data):
    # As in the hand-written loop, the group exists before the clock starts
    # (the Trainer uses it; it creates one itself when there is none).
    torch.distributed.init_process_group('gloo')
    model = MLP()
    torch.distributed.barrier()
    with tempfile.TemporaryDirectory() as directory:
        trainer = pa.Trainer(model, Path(directory) / 'run',
                             pa.optimizer.SGD(lr=1e-2), progress=False)
        clock = trainer.register_hook(StepClock())
        start = time.perf_counter()
        trainer.train(data, device='cpu')  # shards the list itself
        seconds = time.perf_counter() - start
    torch.distributed.destroy_process_group()
    return seconds, clock.end - clock.steady, trainer.iteration, [
        p.detach().clone() for p in model.parameters()]


def worker(mode, steps, out):
    torch.set_num_threads(1)
    data = make_data(steps)
    seconds, steady, num_steps, parameters = (
        hand_written if mode == 'hand' else with_trainer)(data)
    if int(os.environ['RANK']) == 0:
        torch.save({'seconds': seconds, 'steady': steady, 'steps': num_steps,
                    'parameters': parameters}, out)


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def launch(mode, steps, directory):
    out = Path(directory) / f'{mode}.pt'
    subprocess.run([
        sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node',
        '2', '--rdzv_backend', 'c10d', '--rdzv_endpoint',
        f'127.0.0.1:{free_port()}', __file__, '--worker', mode, '--steps',
        str(steps), '--out', str(out)], check=True,
        env={**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONPATH': str(
            Path(__file__).resolve().parents[1])},
        stderr=subprocess.DEVNULL)
    return torch.load(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--steps', type=int, default=300)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--worker', choices=['hand', 'trainer'])
    parser.add_argument('--out')
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, args.steps, args.out)
    times = {'hand': [], 'trainer': []}
    totals = {'hand': [], 'trainer': []}
    with tempfile.TemporaryDirectory() as directory:
        for _ in range(args.repeats):
            for mode in times:
                result = launch(mode, args.steps, directory)
                times[mode].append(
                    result['steady'] / (result['steps'] - WARMUP))
                totals[mode].append(result['seconds'])
                parameters = result['parameters']
                if mode == 'hand':
                    reference = parameters
    same = all(torch.allclose(a, b, atol=1e-5)
               for a, b in zip(reference, parameters))
    hand, trainer = (statistics.median(times['hand']),
                     statistics.median(times['trainer']))
    print(json.dumps({
        'benchmark': 'distributed_overhead',
        'processes': 2, 'backend': 'gloo', 'threads_per_process': 1,
        'steps': args.steps, 'batch_size_per_rank': BATCH,
        'repeats': args.repeats,
        'hand_written_ms_per_step': round(1e3 * hand, 3),
        'trainer_ms_per_step': round(1e3 * trainer, 3),
        'ratio': round(trainer / hand, 3),
        'target_ratio': 1.10,
        # Whole train() call: + config, tensorboard, DDP set-up, the
        # checkpoint at the end of the epoch.
        'hand_written_total_s': round(statistics.median(totals['hand']), 3),
        'trainer_total_s': round(statistics.median(totals['trainer']), 3),
        'same_parameters': same,
    }))


if __name__ == '__main__':
    main()
