import pytest
import torch

from padertorch_audio.ops import ACTIVATIONS, get_activation


@pytest.mark.parametrize('name, reference', [
    ('relu', torch.relu),
    ('sigmoid', torch.sigmoid),
    ('tanh', torch.tanh),
    ('elu', torch.nn.functional.elu),
    ('selu', torch.nn.functional.selu),
    ('gelu', torch.nn.functional.gelu),
    ('silu', torch.nn.functional.silu),
    ('swish', torch.nn.functional.silu),
    ('softplus', torch.nn.functional.softplus),
    ('leaky_relu', torch.nn.functional.leaky_relu),
    ('prelu', lambda x: torch.where(x > 0, x, 0.25 * x)),  # torch's initial slope
    ('hardtanh', lambda x: x.clamp(-1, 1)),
    ('softmax', lambda x: torch.softmax(x, dim=-1)),
    ('log_softmax', lambda x: torch.log_softmax(x, dim=-1)),
    ('identity', lambda x: x),
    ('linear', lambda x: x),
])
def test_activation_equals_the_torch_function(name, reference):
    x = torch.randn(3, 5) * 3
    torch.testing.assert_close(get_activation(name)(x), reference(x))
    torch.testing.assert_close(get_activation(name.upper())(x), reference(x))


def test_every_name_builds_a_fresh_module():
    for name in ACTIVATIONS:
        first, second = get_activation(name), get_activation(name)
        assert isinstance(first, torch.nn.Module) and first is not second
    a, b = get_activation('prelu'), get_activation('prelu')
    assert a.weight is not b.weight


def test_arguments_none_and_modules():
    x = torch.tensor([[-2., 1.], [0., 3.]])
    torch.testing.assert_close(get_activation('leaky_relu', negative_slope=0.5)(x),
                               torch.tensor([[-1., 1.], [0., 3.]]))
    torch.testing.assert_close(get_activation('softmax', dim=0)(x), torch.softmax(x, 0))
    assert get_activation('prelu', num_parameters=4).weight.shape == (4,)
    assert isinstance(get_activation(None), torch.nn.Identity)
    module = torch.nn.Tanh()
    assert get_activation(module) is module


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(ValueError, match="'rellu'.*gelu.*relu.*tanh"):
        get_activation('rellu')
    with pytest.raises(ValueError, match='Unknown activation 3'):
        get_activation(3)
