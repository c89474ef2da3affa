"""Overhead of the Trainer over a hand-written PyTorch loop.

The same tiny MLP (64 -> 128 -> 10, batch 32, cross entropy, Adam) is trained
for 2000 steps on one thread by a plain loop and by ``Trainer`` with its
default hooks (summary, checkpoint; one epoch of 2000 batches). The two run
alternately; the ratio of the median times is printed as a JSON line.

    python benchmarks/trainer_overhead.py [--steps 2000] [--repeats 5]

Target: ratio <= 1.10 (padertorch's trainer: 1.73 on this setup).
"""
import argparse
import json
import statistics
import tempfile
import time

import torch

import padertorch_audio as pa


def make_data(steps, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [
        {'features': torch.randn(32, 64, generator=generator),
         'label': torch.randint(0, 10, (32,), generator=generator)}
        for _ in range(steps)
    ]


def make_network(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))


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
    network = make_network()
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-3)
    start = time.perf_counter()
    for example in data:
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(
            network(example['features']), example['label'])
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start, network


def with_trainer(data):
    model = MLP()
    with tempfile.TemporaryDirectory() as directory:
        trainer = pa.Trainer(model, directory, pa.optimizer.Adam(lr=1e-3))
        start = time.perf_counter()
        trainer.train(data, device='cpu')
        elapsed = time.perf_counter() - start
    return elapsed, model.network


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--steps', type=int, default=2000)
    parser.add_argument('--repeats', type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = make_data(args.steps)
    hand_written(data[:200])  # warm-up of both paths
    with_trainer(data[:200])

    hand_times, trainer_times = [], []
    for _ in range(args.repeats):
        seconds, reference = hand_written(data)
        hand_times.append(seconds)
        seconds, trained = with_trainer(data)
        trainer_times.append(seconds)
    # Same data, same initialisation, same optimizer: same parameters.
    same = all(torch.allclose(a, b, atol=1e-5) for a, b in zip(
        reference.parameters(), trained.parameters()))
    hand, trainer = statistics.median(hand_times), statistics.median(
        trainer_times)
    print(json.dumps({
        'benchmark': 'trainer_overhead',
        'steps': args.steps, 'batch_size': 32, 'threads': 1,
        'repeats': args.repeats,
        'hand_written_s': round(hand, 4),
        'trainer_s': round(trainer, 4),
        'hand_written_us_per_step': round(1e6 * hand / args.steps, 1),
        'trainer_us_per_step': round(1e6 * trainer / args.steps, 1),
        'ratio': round(trainer / hand, 3),
        'target_ratio': 1.10,
        'same_parameters': same,
    }))


if __name__ == '__main__':
    main()
