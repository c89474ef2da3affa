"""Run under torchrun by tests/train/test_distributed_resume.py.

    torchrun --nproc_per_node 2 distributed_dropout_worker.py STORAGE_DIR OPTIONS

A tiny float64 model with dropout. The weights are initialised alike on
every rank; then every rank seeds its own generator (``100 + rank``), so
the ranks draw different dropout masks. Each rank writes
``<STORAGE_DIR>.rank<r>.pt``: its final parameters and torch generator
state, and the loss of every step it took.
"""
import json
import os
import sys
from pathlib import Path

import torch

import padertorch_audio as pa
from tests.train.distributed_worker import make_batches


class DropoutRegression(pa.Model):
    """3 -> 8 -> dropout(0.5) -> 2, mean squared error; the review's scalar
    ``'rank'`` is the rank's number (its mean over the ranks is known)."""

    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(3, 8), torch.nn.Dropout(0.5),
            torch.nn.Linear(8, 2)).double()

    def forward(self, example):
        return self.net(example['x'])

    def review(self, example, output):
        rank = float(os.environ.get('RANK', 0))
        return {'loss': ((output - example['y']) ** 2).mean(),
                'scalars': {'rank': torch.tensor(rank)}}


class StepLosses(pa.Hook):
    """This rank's loss of every step: ``{iteration: loss}``."""

    def __init__(self):
        self.losses = {}

    def post_step(self, trainer, step):
        self.losses[trainer.iteration] = step['loss'].item()


def main():
    storage_dir = Path(sys.argv[1])
    options = json.loads(sys.argv[2])
    rank = int(os.environ['RANK'])
    torch.manual_seed(0)
    model = DropoutRegression()
    torch.manual_seed(100 + rank)
    trainer = pa.Trainer(
        model, storage_dir, pa.optimizer.Adam(lr=0.01),
        summary_trigger=(2, 'iteration'), checkpoint_trigger=(1, 'epoch'),
        stop_trigger=tuple(options['stop']), progress=False)
    trainer.register_validation_hook(make_batches(3, 4, seed=1))
    losses = trainer.register_hook(StepLosses())
    # 8 global batches: 4 steps per epoch on each of the 2 ranks.
    trainer.train(make_batches(8, 4), resume=options['resume'], device='cpu')
    torch.save({
        'parameters': model.state_dict(),
        'rng': torch.get_rng_state(),
        'iteration': trainer.iteration,
        'losses': losses.losses,
    }, storage_dir.parent / f'{storage_dir.name}.rank{rank}.pt')


if __name__ == '__main__':
    main()
