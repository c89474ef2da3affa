"""Tiny models shared by the trainer tests."""
import torch

import padertorch_audio as pa


class Regression(pa.Model):
    """Linear regression ``x -> y`` with a mean squared error loss."""

    def __init__(self, num_features=3, num_outputs=2):
        super().__init__()
        self.linear = torch.nn.Linear(num_features, num_outputs)

    def forward(self, example):
        return self.linear(example['x'])

    def review(self, example, output):
        return {'loss': ((output - example['y']) ** 2).mean()}
