"""Run under torchrun by tests/train/test_distributed.py.

    torchrun --nproc_per_node 2 distributed_worker.py SCENARIO STORAGE_DIR ...

Each rank trains the same tiny float64 model on its shard and writes what
the test checks (seen example indices, final parameters) next to the
storage dir, one file per rank.
"""
import json
import os
import signal
import sys
from pathlib import Path

import torch

import padertorch_audio as pa

NUM_FEATURES = 3


class Tracking(pa.Model):
    """Linear regression that records the example indices it trains on."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(NUM_FEATURES, 2).double()
        self.seen = []
        self.fail_at = None     # (rank, forward pass) that raises
        self.signal_at = None   # (rank, forward pass) that gets SIGTERM
        self.passes = 0

    def forward(self, example):
        if self.training:
            self.passes += 1
            rank = int(os.environ.get('RANK', 0))
            if self.fail_at == (rank, self.passes):
                raise ValueError(f'boom on rank {rank} at pass {self.passes}')
            if self.signal_at == (rank, self.passes):
                os.kill(os.getpid(), signal.SIGTERM)
            self.seen.append(example['index'].tolist())
        return self.linear(example['x'])

    def review(self, example, output):
        return {'loss': ((output - example['y']) ** 2).mean()}


def make_batches(num_batches, batch_size, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(num_batches * batch_size, NUM_FEATURES, generator=g,
                    dtype=torch.float64)
    y = torch.randn(num_batches * batch_size, 2, generator=g,
                    dtype=torch.float64)
    index = torch.arange(num_batches * batch_size)
    return [{'x': x[i:i + batch_size], 'y': y[i:i + batch_size],
             'index': index[i:i + batch_size]}
            for i in range(0, num_batches * batch_size, batch_size)]


class _Dataset(torch.utils.data.Dataset):
    def __init__(self, examples):
        self.examples = examples

    def __len__(self):
        return len(self.examples)

    def __getitem__(self, i):
        return self.examples[i]


def main():
    scenario, storage_dir = sys.argv[1], Path(sys.argv[2])
    options = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
    torch.manual_seed(0)
    model = Tracking()
    model.fail_at = tuple(options['fail_at']) if 'fail_at' in options else None
    model.signal_at = (tuple(options['signal_at'])
                       if 'signal_at' in options else None)
    trainer = pa.Trainer(
        model, storage_dir,
        pa.optimizer.SGD(lr=0.1, momentum=0.9),
        stop_trigger=(options.get('epochs', 1), 'epoch'),
        checkpoint_trigger=(1, 'epoch'),
        virtual_minibatch_size=options.get('virtual_minibatch_size', 1),
        progress=False)
    validation = make_batches(3, 4, seed=1)   # 3 batches: uneven shards
    trainer.register_validation_hook(validation)
    if scenario == 'lists':
        # Global batches; the Trainer deals them out (rank r: r, r+2, ...).
        training = make_batches(options.get('num_batches', 8), 4)
    elif scenario == 'loader':
        examples = [{'x': b['x'][0], 'y': b['y'][0], 'index': b['index'][0]}
                    for b in make_batches(24, 1)]
        training = torch.utils.data.DataLoader(
            _Dataset(examples), batch_size=3, shuffle=True,
            collate_fn=pa.data.Collate())
    else:
        raise ValueError(scenario)
    try:
        trainer.train(training, resume=options.get('resume', False),
                      device='cpu')
    finally:
        rank = int(os.environ.get('RANK', 0))
        out = storage_dir.parent / f'{storage_dir.name}.rank{rank}.json'
        out.write_text(json.dumps({
            'seen': model.seen,
            'iteration': trainer.iteration,
            'parameters': {name: p.tolist()
                           for name, p in model.named_parameters()},
            'world_size': trainer.world_size,
        }))


if __name__ == '__main__':
    main()
