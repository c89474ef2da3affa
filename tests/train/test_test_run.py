"""trainer.test_run: a quick check of model and data before a long run."""
import copy

import pytest
import torch

import padertorch_audio as pa
from padertorch_audio.train import optimizer as optimizers
from padertorch_audio.train.test_run import TestRunError


class Regression(pa.Model):
    """Linear regression with dropout (uses the RNG in training mode)."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(3, 2)
        self.dropout = torch.nn.Dropout(0.2)

    def forward(self, example):
        return self.linear(self.dropout(example['x']))

    def review(self, example, output):
        return {'loss': ((output - example['y']) ** 2).mean()}


class NoisyValidation(Regression):
    """Adds random noise to the loss, also in eval mode."""

    def review(self, example, output):
        review = super().review(example, output)
        review['loss'] = review['loss'] + 0.01 * torch.rand(())
        return review


class Detached(Regression):
    def forward(self, example):
        return super().forward(example).detach()


class NoLoss(Regression):
    def review(self, example, output):
        return {'scalars': {'error': ((output - example['y']) ** 2).mean()}}


def make_batches(n, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [{'x': torch.randn(4, 3, generator=generator),
             'y': torch.randn(4, 2, generator=generator)} for _ in range(n)]


def state(trainer):
    return copy.deepcopy({'model': trainer.model.state_dict(),
                          'optimizer': trainer.optimizer.state_dict()})


def assert_nested_equal(a, b):
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            assert_nested_equal(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_nested_equal(x, y)
    else:
        assert a == b


def trainer_for(model, storage_dir, optimizer=None, **kwargs):
    optimizer = optimizer or optimizers.Adam(lr=0.01)
    return pa.Trainer(model, storage_dir, optimizer, progress=False, **kwargs)


def test_a_good_model_passes_without_side_effects(tmp_path):
    torch.manual_seed(0)
    trainer = trainer_for(Regression(), tmp_path / 'run')
    before = state(trainer)
    rng = torch.get_rng_state()

    trainer.test_run(make_batches(4), make_batches(2, seed=1), device='cpu')

    assert not (tmp_path / 'run').exists()
    assert list(tmp_path.iterdir()) == []
    assert_nested_equal(state(trainer), before)  # parameters and Adam state
    assert torch.equal(torch.get_rng_state(), rng)
    assert (trainer.iteration, trainer.epoch) == (0, 0)


def test_training_after_a_test_run_equals_training_without_it(tmp_path):
    def train(with_test_run, directory):
        torch.manual_seed(0)
        trainer = trainer_for(Regression(), directory, stop_trigger=(2, 'epoch'))
        if with_test_run:
            trainer.test_run(make_batches(4), make_batches(2, seed=1),
                             device='cpu')
        trainer.train(make_batches(4), device='cpu')
        return trainer.model.state_dict()

    assert_nested_equal(train(True, tmp_path / 'a'), train(False, tmp_path / 'b'))


def test_a_test_run_with_virtual_minibatches_passes(tmp_path):
    trainer = trainer_for(Regression(), tmp_path / 'run',
                          virtual_minibatch_size=2)
    trainer.test_run(make_batches(4), make_batches(2, seed=1), device='cpu')
    assert not (tmp_path / 'run').exists()


@pytest.mark.parametrize('model, lr, fragments', [
    (NoisyValidation, 0.01, ['not deterministic', 'eval mode']),
    (Detached, 0.01, ['detached', 'no grad_fn']),
    (Regression, 0., ['no parameter changed', 'learning rate 0']),
    (NoLoss, 0.01, ["no 'loss'"]),
], ids=['random validation', 'detached output', 'lr 0', 'no loss'])
def test_a_broken_setup_fails_with_a_helpful_test_run_error(
        tmp_path, model, lr, fragments):
    trainer = trainer_for(model(), tmp_path / 'run', optimizers.SGD(lr=lr))
    before = state(trainer)
    rng = torch.get_rng_state()

    with pytest.raises(TestRunError) as error:
        trainer.test_run(make_batches(4), make_batches(2, seed=1), device='cpu')

    for fragment in fragments:
        assert fragment in str(error.value)
    assert not (tmp_path / 'run').exists()
    assert_nested_equal(state(trainer), before)
    assert torch.equal(torch.get_rng_state(), rng)


def test_an_empty_validation_iterable_is_a_test_run_error(tmp_path):
    trainer = trainer_for(Regression(), tmp_path / 'run')
    with pytest.raises(TestRunError, match='validation iterable yielded no'):
        trainer.test_run(make_batches(4), [], device='cpu')
