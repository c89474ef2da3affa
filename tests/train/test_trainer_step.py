"""One Trainer step against a hand-written PyTorch loop.

Every test trains a copy of the same tiny model twice, once with the
Trainer and once with the textbook loop (zero_grad, forward, loss,
backward, [clip], step), and compares the parameters.
"""
import copy

import lazy_dataset
import pytest
import torch

import padertorch_audio as pa
from padertorch_audio.train import ReviewError
from padertorch_audio.train import optimizer as optimizers


class Regression(pa.Model):
    """Linear regression 3 -> 2 with a mean squared error."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(3, 2)
        self.forward_calls = 0

    def forward(self, example):
        self.forward_calls += 1
        return self.linear(example['x'])

    def review(self, example, output):
        return {'loss': ((output - example['y']) ** 2).mean()}


class TwoLosses(Regression):
    """The same regression with a squared and an absolute error."""

    def review(self, example, output):
        error = output - example['y']
        return {'losses': {'mse': (error ** 2).mean(), 'l1': error.abs().mean()}}


class OneNamedLoss(Regression):
    def review(self, example, output):
        return {'losses': {'mse': ((output - example['y']) ** 2).mean()}}


def make_batches(n, batch_size=4, scale=1., seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [{'x': torch.randn(batch_size, 3, generator=generator),
             'y': scale * torch.randn(batch_size, 2, generator=generator)}
            for _ in range(n)]


def concatenate(batches):
    return {key: torch.cat([b[key] for b in batches]) for key in batches[0]}


def mse(model, batch):
    return ((model.linear(batch['x']) - batch['y']) ** 2).mean()


def hand_loop(model, optimizer, batches, epochs=1, loss_fn=mse, max_norm=None):
    """The reference: the textbook PyTorch training loop."""
    norms = []
    for _ in range(epochs):
        for batch in batches:
            optimizer.zero_grad()
            loss_fn(model, batch).backward()
            if max_norm is not None:
                norms.append(torch.nn.utils.clip_grad_norm_(
                    model.parameters(), max_norm).item())
            optimizer.step()
    return norms


def new_model(cls=Regression, seed=0):
    torch.manual_seed(seed)
    return cls()


def assert_same_parameters(model, reference, rtol=1e-6, atol=1e-7):
    for (name, value), (_, expected) in zip(
            model.named_parameters(), reference.named_parameters()):
        torch.testing.assert_close(value, expected, rtol=rtol, atol=atol,
                                   msg=f'parameter {name} differs')


def trainer_for(model, storage_dir, optimizer, **kwargs):
    return pa.Trainer(model, storage_dir, optimizer, progress=False, **kwargs)


OPTIMIZERS = {
    'SGD with momentum': (
        lambda: optimizers.SGD(lr=0.1, momentum=0.9),
        lambda params: torch.optim.SGD(params, lr=0.1, momentum=0.9)),
    'Adam': (
        lambda: optimizers.Adam(lr=0.01),
        lambda params: torch.optim.Adam(params, lr=0.01)),
    'AdamW': (
        lambda: optimizers.AdamW(lr=0.01, weight_decay=0.1),
        lambda params: torch.optim.AdamW(params, lr=0.01, weight_decay=0.1)),
}


@pytest.mark.parametrize('name', list(OPTIMIZERS))
def test_two_epochs_equal_the_hand_written_loop(tmp_path, name):
    wrapper, torch_optimizer = OPTIMIZERS[name]
    batches = make_batches(5)
    model = new_model()
    reference = copy.deepcopy(model)

    trainer = trainer_for(model, tmp_path / 'run', wrapper(),
                          stop_trigger=(2, 'epoch'))
    trainer.train(batches, device='cpu')
    hand_loop(reference, torch_optimizer(reference.parameters()), batches,
              epochs=2)

    assert (trainer.iteration, trainer.epoch) == (10, 2)
    assert_same_parameters(model, reference)


def test_gradient_clipping_equals_clip_grad_norm_in_the_hand_loop(tmp_path):
    batches = make_batches(5, scale=100.)  # gradients far above the limit
    model = new_model()
    reference = copy.deepcopy(model)

    trainer = trainer_for(
        model, tmp_path / 'run', optimizers.SGD(lr=0.01, gradient_clipping=1.))
    trainer.train(batches, device='cpu')
    norms = hand_loop(reference, torch.optim.SGD(reference.parameters(), lr=0.01),
                      batches, max_norm=1.)

    assert min(norms) > 10, 'the test needs gradients that get clipped'
    assert_same_parameters(model, reference)


def _examples(batches):
    return [{key: batch[key][i] for key in batch}
            for batch in batches for i in range(len(batch['x']))]


ITERABLES = {
    'list': lambda batches: batches,
    'tuple': lambda batches: tuple(batches),
    'DataLoader': lambda batches: torch.utils.data.DataLoader(
        _examples(batches), batch_size=4, shuffle=False),
    'lazy_dataset from a list': lambda batches: lazy_dataset.new(batches),
    'lazy_dataset from a dict': lambda batches: lazy_dataset.new(
        {f'batch{i}': batch for i, batch in enumerate(batches)}),
}


@pytest.mark.parametrize('kind', list(ITERABLES))
def test_any_reiterable_trains_like_the_list_of_batches(tmp_path, kind):
    batches = make_batches(5)
    model = new_model()
    reference = copy.deepcopy(model)

    trainer = trainer_for(model, tmp_path / 'run', optimizers.SGD(lr=0.1),
                          stop_trigger=(2, 'epoch'))
    trainer.train(ITERABLES[kind](batches), device='cpu')
    hand_loop(reference, torch.optim.SGD(reference.parameters(), lr=0.1),
              batches, epochs=2)

    assert (trainer.iteration, trainer.epoch) == (10, 2)
    assert_same_parameters(model, reference)


def test_a_generator_trains_one_epoch(tmp_path):
    batches = make_batches(5)
    model = new_model()
    reference = copy.deepcopy(model)

    trainer = trainer_for(model, tmp_path / 'run', optimizers.SGD(lr=0.1),
                          stop_trigger=(1, 'epoch'))
    trainer.train((batch for batch in batches), device='cpu')
    hand_loop(reference, torch.optim.SGD(reference.parameters(), lr=0.1), batches)

    assert (trainer.iteration, trainer.epoch) == (5, 1)
    assert_same_parameters(model, reference)


def test_a_torch_optimizer_instance_is_accepted(tmp_path):
    batches = make_batches(5)
    model = new_model()
    reference = copy.deepcopy(model)

    trainer = trainer_for(
        model, tmp_path / 'run',
        torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.5))
    trainer.train(batches, device='cpu')
    hand_loop(reference,
              torch.optim.SGD(reference.parameters(), lr=0.1, momentum=0.5),
              batches)

    assert_same_parameters(model, reference)


def test_a_torch_optimizer_of_another_model_is_rejected(tmp_path):
    other = torch.nn.Linear(3, 2)
    with pytest.raises(ValueError, match='model.parameters'):
        trainer_for(new_model(), tmp_path / 'run',
                    torch.optim.SGD(other.parameters(), lr=0.1))


def test_device_defaults_to_cuda_if_available_else_cpu(tmp_path):
    model = new_model()
    trainer = trainer_for(model, tmp_path / 'run', optimizers.SGD(lr=0.1))
    trainer.train(make_batches(2))  # no device given

    expected = 'cuda' if torch.cuda.is_available() else 'cpu'
    assert trainer.device.type == expected
    assert all(p.device.type == expected for p in model.parameters())


# ---------------------------------------------------------------------------
# virtual minibatches: the gradients of the k passes are AVERAGED


@pytest.mark.parametrize('name', ['SGD with momentum', 'Adam'])
def test_one_virtual_minibatch_step_equals_one_step_on_the_concatenation(
        tmp_path, name):
    """k passes with a mean loss over equally sized batches, gradients
    averaged: the same as one pass over the k batches concatenated."""
    wrapper, torch_optimizer = OPTIMIZERS[name]
    batches = make_batches(2)
    model = new_model()
    reference = copy.deepcopy(model)

    trainer = trainer_for(model, tmp_path / 'run', wrapper(),
                          virtual_minibatch_size=2,
                          stop_trigger=(1, 'iteration'))
    trainer.train(batches, device='cpu')
    hand_loop(reference, torch_optimizer(reference.parameters()),
              [concatenate(batches)])

    assert trainer.iteration == 1 and model.forward_calls == 2
    assert_same_parameters(model, reference, rtol=1e-5, atol=1e-6)


def test_virtual_minibatch_gradients_are_averaged_over_several_sgd_steps(
        tmp_path):
    batches = make_batches(8)
    model = new_model()
    reference = copy.deepcopy(model)

    trainer = trainer_for(model, tmp_path / 'run',
                          optimizers.SGD(lr=0.1, momentum=0.9),
                          virtual_minibatch_size=2)
    trainer.train(batches, device='cpu')
    pairs = [concatenate(batches[i:i + 2]) for i in range(0, 8, 2)]
    hand_loop(reference,
              torch.optim.SGD(reference.parameters(), lr=0.1, momentum=0.9),
              pairs)

    assert trainer.iteration == 4
    assert_same_parameters(model, reference, rtol=1e-5, atol=1e-6)


def test_an_incomplete_last_virtual_minibatch_steps_with_the_mean_of_its_passes(
        tmp_path):
    batches = make_batches(5)  # k=3: steps on batches 0-2 and on 3-4
    model = new_model()
    reference = copy.deepcopy(model)

    trainer = trainer_for(model, tmp_path / 'run', optimizers.SGD(lr=0.1),
                          virtual_minibatch_size=3, stop_trigger=(2, 'epoch'))
    trainer.train(batches, device='cpu')
    steps = [concatenate(batches[:3]), concatenate(batches[3:])]
    hand_loop(reference, torch.optim.SGD(reference.parameters(), lr=0.1),
              steps, epochs=2)

    assert (trainer.iteration, trainer.epoch) == (4, 2)
    assert_same_parameters(model, reference, rtol=1e-5, atol=1e-6)


def test_iteration_counts_optimizer_steps_not_forward_passes(tmp_path):
    model = new_model()
    trainer = trainer_for(model, tmp_path / 'run', optimizers.SGD(lr=0.01),
                          virtual_minibatch_size=2, stop_trigger=(3, 'epoch'))
    trainer.train(make_batches(7), device='cpu')

    assert model.forward_calls == 3 * 7
    assert trainer.iteration == 3 * 4  # ceil(7 / 2) steps per epoch
    assert trainer.epoch == 3


# ---------------------------------------------------------------------------
# several losses


def test_losses_are_combined_with_loss_weights_as_a_weighted_sum(tmp_path):
    batches = make_batches(5)
    model = new_model(TwoLosses)
    reference = copy.deepcopy(model)

    def weighted_sum(model, batch):
        error = model.linear(batch['x']) - batch['y']
        return 2. * (error ** 2).mean() + 0.3 * error.abs().mean()

    trainer = trainer_for(model, tmp_path / 'run', optimizers.SGD(lr=0.1),
                          loss_weights={'mse': 2., 'l1': 0.3})
    trainer.train(batches, device='cpu')
    hand_loop(reference, torch.optim.SGD(reference.parameters(), lr=0.1),
              batches, loss_fn=weighted_sum)

    assert_same_parameters(model, reference)


def test_a_single_named_loss_needs_no_weight(tmp_path):
    batches = make_batches(3)
    model = new_model(OneNamedLoss)
    reference = copy.deepcopy(model)

    trainer_for(model, tmp_path / 'run', optimizers.SGD(lr=0.1)).train(
        batches, device='cpu')
    hand_loop(reference, torch.optim.SGD(reference.parameters(), lr=0.1), batches)

    assert_same_parameters(model, reference)


def test_several_losses_without_loss_weights_raise_a_review_error_naming_them(
        tmp_path):
    trainer = trainer_for(new_model(TwoLosses), tmp_path / 'run',
                          optimizers.SGD(lr=0.1))
    with pytest.raises(ReviewError, match='loss_weights') as error:
        trainer.train(make_batches(2), device='cpu')
    assert "'l1'" in str(error.value) and "'mse'" in str(error.value)


def test_loss_weights_that_do_not_match_the_losses_raise_a_review_error(
        tmp_path):
    trainer = trainer_for(new_model(TwoLosses), tmp_path / 'run',
                          optimizers.SGD(lr=0.1),
                          loss_weights={'mse': 1., 'l2': 1.})
    with pytest.raises(ReviewError, match='do not match') as error:
        trainer.train(make_batches(2), device='cpu')
    assert "'l2'" in str(error.value) and "'l1'" in str(error.value)
