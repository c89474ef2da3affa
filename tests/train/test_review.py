"""The review contract (train/review.py) and the one forward pass that the
training loop, the validation hook and test_run share.

References: sums and norms written out by hand, torch.autocast used
directly, a plain SGD loop.
"""
import ast
import json
import logging
from pathlib import Path

import pytest
import torch

import padertorch_audio as pa
from padertorch_audio.train import optimizer as optimizers
from padertorch_audio.train.precision import Precision
from padertorch_audio.train.review import (
    REVIEW_KEYS, ReviewError, combine_losses, forward_review)
from tests.train.models import Regression

TRAIN = Path(pa.__file__).parent / 'train'


def batches(n, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [{'x': torch.randn(4, 3, generator=generator),
             'y': torch.randn(4, 2, generator=generator)} for _ in range(n)]


class TwoLosses(Regression):
    def review(self, example, output):
        error = output - example['y']
        return {'losses': {'mse': (error ** 2).mean(),
                           'l1': error.abs().mean()},
                'scalars': {'dtype_bits': float(output.dtype.itemsize * 8)}}


# ---------------------------------------------------------------------------
# combine_losses


def test_weighted_losses_are_summed_as_written_out():
    losses = {'a': torch.tensor(2.), 'b': torch.tensor(-3.), 'c': torch.tensor(.5)}
    weights = {'a': 1., 'b': 0.25, 'c': 4.}
    loss, returned = combine_losses({'losses': losses}, weights)
    assert loss.item() == 2. * 1. + -3. * 0.25 + .5 * 4.
    assert returned is losses


def test_one_loss_needs_no_weight():
    value = torch.tensor(1.5)
    assert combine_losses({'loss': value}) == (value, None)
    loss, losses = combine_losses({'losses': {'only': value}})
    assert loss is value and losses == {'only': value}


@pytest.mark.parametrize('review, weights, message', [
    ([1.], None, 'must return a dict, got list'),
    ({'loss': torch.tensor(1.), 'scalar': {}}, None, "unknown review key(s) ['scalar']"),
    ({'loss': torch.tensor(1.), 'losses': {}}, None, "both 'loss' and 'losses'"),
    ({'loss': torch.ones(3)}, None, "review 'loss' must be a scalar tensor, got (3,)"),
    ({'losses': {'a': 1.}}, None, "review 'losses/a' must be a scalar tensor, got float"),
    ({'scalars': {}}, None, "no 'loss' (or 'losses') entry; found keys ['scalars']"),
    ({'loss': torch.tensor(1.)}, {'a': 1.}, "gives a single 'loss'"),
    ({'losses': {'a': torch.tensor(1.), 'b': torch.tensor(1.)}}, None,
     'has 2 losses'),
    ({'losses': {'a': torch.tensor(1.)}}, {'b': 1.}, "loss_weights ['b'] do not match"),
])
def test_a_review_against_the_convention_names_the_place_and_the_fault(
        review, weights, message):
    with pytest.raises(ReviewError) as error:
        combine_losses(review, weights, where='validation')
    assert str(error.value).startswith('validation: ')
    assert message in str(error.value)


def test_the_review_keys_are_the_models_contract():
    assert REVIEW_KEYS is pa.base.REVIEW_KEYS
    assert REVIEW_KEYS == {'loss', 'losses', 'scalars', 'histograms', 'images',
                           'audios', 'figures', 'texts'}


# ---------------------------------------------------------------------------
# forward_review


def test_forward_review_equals_forward_review_and_combine_by_hand():
    torch.manual_seed(0)
    model = TwoLosses()
    example = batches(1)[0]
    weights = {'mse': 1., 'l1': 0.5}
    loss, losses, review = forward_review(model, example, None, weights)
    output = model.linear(example['x'])
    error = output - example['y']
    expected = (error ** 2).mean() + 0.5 * error.abs().mean()
    assert torch.equal(loss, expected)
    assert set(losses) == {'mse', 'l1'}
    assert review['scalars'] == {'dtype_bits': 32.}
    loss.backward()  # the graph reaches the parameters
    assert model.linear.weight.grad is not None


def test_forward_review_runs_forward_and_review_under_the_precision():
    torch.manual_seed(0)
    model = TwoLosses()
    example = batches(1)[0]
    precision = Precision('bf16')
    precision.start('cpu')
    loss, _, review = forward_review(model, example, precision,
                                     {'mse': 1., 'l1': 1.})
    assert review['scalars'] == {'dtype_bits': 16.}
    with torch.autocast('cpu', dtype=torch.bfloat16):
        error = model.linear(example['x']) - example['y']
        expected = (error ** 2).mean() + error.abs().mean()
    assert torch.equal(loss, expected)


def test_forward_review_calls_the_given_forward_and_reviews_with_the_model():
    model = Regression()
    calls = []

    def forward(example):
        calls.append(example)
        return model(example)

    example = batches(1)[0]
    forward_review(model, example, forward=forward)
    assert calls == [example]


def test_validation_and_test_run_review_as_the_training_loop_does(tmp_path):
    """The three users of forward_review name their place in the error."""
    class NoLoss(Regression):
        def review(self, example, output):
            return {'scalars': {'mean': output.mean()}}

    trainer = pa.Trainer(NoLoss(), tmp_path / 'run', optimizers.SGD(lr=0.1),
                         progress=False)
    with pytest.raises(ReviewError, match=r"^training: the review has no 'loss'"):
        trainer.train(batches(2), device='cpu')
    hook = trainer.register_validation_hook(batches(1))
    trainer.device = torch.device('cpu')
    with pytest.raises(ReviewError, match=r"^validation: the review has no 'loss'"):
        hook.validate(trainer)
    with pytest.raises(pa.train.test_run.TestRunError,
                       match=r"test_run \(training\): the review has no 'loss'"):
        trainer.test_run(batches(2), batches(2), device='cpu')


def test_validation_runs_under_the_trainers_mixed_precision(tmp_path):
    torch.manual_seed(0)
    model = TwoLosses()
    trainer = pa.Trainer(model, tmp_path, optimizers.SGD(lr=0.1),
                         loss_weights={'mse': 1., 'l1': 1.}, progress=False,
                         mixed_precision='bf16')
    hook = trainer.register_validation_hook(batches(2, seed=1))
    trainer.device = torch.device('cpu')
    trainer.precision.start('cpu')
    scalars = hook.validate(trainer)['scalars']
    assert scalars['dtype_bits'] == 16.
    expected = []
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        for example in batches(2, seed=1):
            error = model.linear(example['x']) - example['y']
            expected.append(((error ** 2).mean() + error.abs().mean()).item())
    assert scalars['loss'] == pytest.approx(sum(expected) / 2, rel=0, abs=0)


# ---------------------------------------------------------------------------
# hooks and the public Trainer API


def test_the_hooks_use_only_the_public_trainer_api():
    tree = ast.parse((TRAIN / 'hooks.py').read_text())
    private = sorted({
        node.attr for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
        and node.value.id == 'trainer' and node.attr.startswith('_')})
    assert private == []


class NormRecorder(pa.Hook):
    """Asks for the gradient norm on every step and records it."""

    def __init__(self):
        self.norms = []

    def needs_grad_norm(self, trainer):
        return True

    def post_step(self, trainer, step):
        self.norms.append(step['grad_norm'])


def test_a_hook_that_needs_the_gradient_norm_gets_it_on_every_step(tmp_path):
    torch.manual_seed(0)
    model = Regression()
    reference = Regression()
    reference.load_state_dict(model.state_dict())
    data = batches(5)
    trainer = pa.Trainer(model, tmp_path, optimizers.SGD(lr=0.1),
                         progress=False)
    recorder = trainer.register_hook(NormRecorder())
    trainer.train(data, device='cpu')

    optimizer = torch.optim.SGD(reference.parameters(), lr=0.1)
    expected = []
    for example in data:
        optimizer.zero_grad()
        ((reference.linear(example['x']) - example['y']) ** 2).mean().backward()
        expected.append(sum(float((p.grad ** 2).sum())
                            for p in reference.parameters()) ** 0.5)
        optimizer.step()
    assert [norm.item() for norm in recorder.norms] == pytest.approx(
        expected, rel=1e-6)


def test_without_a_hook_asking_the_gradient_norm_is_left_out(tmp_path):
    """The summary hook asks only every grad_norm_interval iterations and
    before its iteration-triggered summaries; a plain hook gets None."""
    trainer = pa.Trainer(Regression(), tmp_path, optimizers.SGD(lr=0.1),
                         summary_trigger=(3, 'iteration'), progress=False)
    trainer.grad_norm_interval = 4
    recorder = trainer.register_hook(NormRecorder())
    recorder.needs_grad_norm = lambda trainer: False
    trainer.train(batches(9), device='cpu')
    # step i (counting from 0) is asked for when i % 4 == 0 or (i + 1) % 3 == 0
    asked = [i for i in range(9) if i % 4 == 0 or (i + 1) % 3 == 0]
    assert [i for i, norm in enumerate(recorder.norms)
            if norm is not None] == asked


# ---------------------------------------------------------------------------
# the model's config in config.json


class Encoder(pa.Module):
    def __init__(self, size=3, hidden=5):
        super().__init__()
        self.linear = torch.nn.Linear(size, hidden)


class Head(pa.Module):
    def __init__(self, hidden, outputs=2):
        super().__init__()
        self.linear = torch.nn.Linear(hidden, outputs)


class Nested(pa.Model):
    def __init__(self, encoder, head, dropout=0.):
        super().__init__()
        self.encoder, self.head = encoder, head
        self.dropout = torch.nn.Dropout(dropout)

    def forward(self, example):
        return self.head.linear(self.dropout(self.encoder.linear(example['x'])))

    def review(self, example, output):
        return {'loss': ((output - example['y']) ** 2).mean()}


def test_config_json_of_a_directly_built_trainer_holds_the_models_config(
        tmp_path):
    model = Nested(Encoder(hidden=4), Head(4), dropout=0.25)
    trainer = pa.Trainer(model, tmp_path / 'run', optimizers.SGD(lr=0.1),
                         stop_trigger=(1, 'iteration'), progress=False)
    trainer.train(batches(1), device='cpu')
    written = json.loads((tmp_path / 'run' / 'config.json').read_text())
    here = __name__
    assert written['model'] == {
        'factory': f'{here}.Nested',
        'encoder': {'factory': f'{here}.Encoder', 'size': 3, 'hidden': 4},
        'head': {'factory': f'{here}.Head', 'hidden': 4, 'outputs': 2},
        'dropout': 0.25,
    }
    assert written == trainer.describe()
    # The recorded config rebuilds the run.
    written['storage_dir'] = str(tmp_path / 'again')
    again = pa.Trainer.from_config(written)
    again.model.load_state_dict(model.state_dict())
    again.train(batches(1), device='cpu')


def test_a_model_that_cannot_be_described_is_recorded_by_its_factory(
        tmp_path, caplog):
    model = Nested(torch.nn.Linear(3, 4), Head(4))  # a plain torch module
    trainer = pa.Trainer(model, tmp_path, optimizers.SGD(lr=0.1))
    with caplog.at_level(logging.WARNING):
        assert trainer.describe()['model'] == {'factory': f'{__name__}.Nested'}
    assert 'Linear (at Nested.encoder)' in caplog.text
