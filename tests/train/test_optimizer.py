"""Optimizer wrappers: configs, learning rate, gradients."""
import json
import math

import pytest
import torch

import padertorch_audio as pa
from padertorch_audio.configurable import Configurable
from padertorch_audio.train import optimizer as optimizers


def linear_with_grads(scale=1.):
    """A Linear(3, 2) whose .grad are set to known values."""
    model = torch.nn.Linear(3, 2)
    model.weight.grad = scale * torch.tensor([[1., 2., 2.], [0., 0., 4.]])
    model.bias.grad = scale * torch.tensor([2., 0.])
    return model  # total gradient norm: sqrt(1+4+4+16+4) = sqrt(29)


def test_adam_get_config_fills_in_the_defaults():
    assert optimizers.Adam.get_config({'lr': 0.1}) == {
        'factory': 'padertorch_audio.train.optimizer.Adam',
        'lr': 0.1, 'betas': [0.9, 0.999], 'eps': 1e-8, 'weight_decay': 0.,
        'amsgrad': False, 'gradient_clipping': None,
    }


def test_sgd_and_adamw_get_config_defaults():
    assert optimizers.SGD.get_config() == {
        'factory': 'padertorch_audio.train.optimizer.SGD',
        'lr': 0.01, 'momentum': 0., 'dampening': 0., 'weight_decay': 0.,
        'nesterov': False, 'gradient_clipping': None,
    }
    assert optimizers.AdamW.get_config()['weight_decay'] == 0.01


def test_a_config_survives_json_and_builds_the_torch_optimizer():
    config = optimizers.Adam.get_config({'lr': 0.1, 'gradient_clipping': 5.})
    config = json.loads(json.dumps(config))
    optimizer = Configurable.from_config(config)
    optimizer.set_parameters(torch.nn.Linear(3, 2).parameters())

    assert type(optimizer) is optimizers.Adam
    assert optimizer.gradient_clipping == 5.
    assert isinstance(optimizer.optimizer, torch.optim.Adam)
    group = optimizer.optimizer.param_groups[0]
    assert group['lr'] == 0.1 and tuple(group['betas']) == (0.9, 0.999)


def test_the_trainer_describes_its_optimizer_by_the_wrapper_config(tmp_path):
    model = pa.Model()
    model.linear = torch.nn.Linear(3, 2)
    trainer = pa.Trainer(model, tmp_path, optimizers.SGD(lr=0.5, momentum=0.9))
    assert trainer.describe()['optimizer'] == optimizers.SGD.get_config(
        {'lr': 0.5, 'momentum': 0.9})


def test_lr_is_the_configured_one_before_and_the_live_one_after_set_parameters():
    optimizer = optimizers.SGD(lr=0.3)
    assert optimizer.lr == 0.3
    optimizer.set_parameters(torch.nn.Linear(3, 2).parameters())
    optimizer.optimizer.param_groups[0]['lr'] = 0.05
    assert optimizer.lr == 0.05


def test_scale_lr_multiplies_the_lr_of_every_parameter_group():
    model = torch.nn.Linear(3, 2)
    optimizer = optimizers.SGD(lr=0.2)
    optimizer.set_parameters([{'params': [model.weight]},
                              {'params': [model.bias], 'lr': 0.8}])
    optimizer.scale_lr(0.5)
    assert [g['lr'] for g in optimizer.optimizer.param_groups] == [0.1, 0.4]


def test_scale_lr_before_set_parameters_says_what_to_do():
    with pytest.raises(RuntimeError, match='set_parameters'):
        optimizers.Adam().scale_lr(0.1)


@pytest.mark.parametrize('make', [
    lambda model: optimizers.SGD(lr=0.1),
    lambda model: optimizers.TorchOptimizer(
        torch.optim.SGD(model.parameters(), lr=0.1)),
], ids=['wrapper', 'TorchOptimizer'])
def test_zero_grad_sets_the_gradients_to_none(make):
    model = linear_with_grads()
    optimizer = make(model)
    optimizer.set_parameters(model.parameters())
    optimizer.zero_grad()
    assert model.weight.grad is None and model.bias.grad is None


def test_zero_grad_without_set_to_none_zeros_the_gradients():
    model = linear_with_grads()
    optimizer = optimizers.SGD()
    optimizer.set_parameters(model.parameters())
    optimizer.zero_grad(set_to_none=False)
    assert torch.equal(model.weight.grad, torch.zeros(2, 3))
    assert torch.equal(model.bias.grad, torch.zeros(2))


def test_scale_grad_multiplies_every_gradient():
    model, expected = linear_with_grads(), linear_with_grads(scale=0.25)
    optimizer = optimizers.SGD()
    optimizer.set_parameters(model.parameters())
    optimizer.scale_grad(0.25)
    assert torch.equal(model.weight.grad, expected.weight.grad)
    assert torch.equal(model.bias.grad, expected.bias.grad)


def test_clip_grad_without_clipping_returns_the_total_norm_and_keeps_grads():
    model, expected = linear_with_grads(), linear_with_grads()
    optimizer = optimizers.SGD()
    optimizer.set_parameters(model.parameters())
    norm = optimizer.clip_grad()
    assert norm.item() == pytest.approx(math.sqrt(29))
    assert torch.equal(model.weight.grad, expected.weight.grad)


def test_clip_grad_clips_like_clip_grad_norm_and_returns_the_norm_before():
    model, expected = linear_with_grads(), linear_with_grads()
    optimizer = optimizers.SGD(gradient_clipping=1.)
    optimizer.set_parameters(model.parameters())

    norm = optimizer.clip_grad()
    torch.nn.utils.clip_grad_norm_(expected.parameters(), 1.)

    assert norm.item() == pytest.approx(math.sqrt(29))
    torch.testing.assert_close(model.weight.grad, expected.weight.grad)
    torch.testing.assert_close(model.bias.grad, expected.bias.grad)
    clipped = torch.cat([model.weight.grad.flatten(), model.bias.grad])
    assert clipped.norm().item() == pytest.approx(1., rel=1e-5)


def test_grad_norm_is_nan_or_inf_for_non_finite_gradients():
    model = linear_with_grads()
    model.bias.grad[0] = float('inf')
    assert optimizers.grad_norm(model.parameters()).item() == float('inf')
    model.bias.grad[0] = float('nan')
    assert math.isnan(optimizers.grad_norm(model.parameters()).item())


def test_grad_norm_of_parameters_without_gradients_is_zero():
    assert optimizers.grad_norm(torch.nn.Linear(3, 2).parameters()).item() == 0.


@pytest.mark.parametrize('value', [0, -1.])
def test_gradient_clipping_must_be_positive(value):
    with pytest.raises(ValueError, match='gradient_clipping'):
        optimizers.Adam(gradient_clipping=value)


def test_set_parameters_without_parameters_is_an_error():
    with pytest.raises(ValueError, match='no parameters'):
        optimizers.Adam().set_parameters([])


def test_state_dict_round_trip_continues_adam_exactly():
    torch.manual_seed(0)
    data = torch.randn(5, 3)

    def steps(model, optimizer, n):
        for _ in range(n):
            optimizer.zero_grad()
            model(data).pow(2).mean().backward()
            optimizer.step()

    model = torch.nn.Linear(3, 2)
    reference = torch.nn.Linear(3, 2)
    reference.load_state_dict(model.state_dict())
    optimizer = optimizers.Adam(lr=0.1)
    optimizer.set_parameters(model.parameters())
    steps(model, optimizer, 2)

    resumed = optimizers.Adam(lr=0.1)
    resumed.set_parameters(model.parameters())
    resumed.load_state_dict(optimizer.state_dict())
    steps(model, resumed, 2)
    steps(reference, torch.optim.Adam(reference.parameters(), lr=0.1), 4)

    torch.testing.assert_close(model.weight, reference.weight)
