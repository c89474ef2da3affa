"""FullyConnected against a hand-built torch.nn.Sequential."""
import json

import pytest
import torch

from padertorch_audio.modules import FullyConnected


def reference_sequential(net, activation, output_activation, dropout=0.):
    """The same network written out by hand, with ``net``'s weights."""
    layers = []
    linears = list(net.linears)
    for linear in linears[:-1]:
        layers += [linear, activation(), torch.nn.Dropout(dropout)]
    layers += [linears[-1]]
    if output_activation is not None:
        layers += [output_activation()]
    return torch.nn.Sequential(*layers)


def test_parameter_count_is_that_of_the_linear_layers():
    net = FullyConnected(5, 7, 3, num_layers=3)
    assert sum(p.numel() for p in net.parameters()) == (
        5 * 7 + 7) + (7 * 7 + 7) + (7 * 3 + 3)
    assert [tuple(linear.weight.shape) for linear in net.linears] == [
        (7, 5), (7, 7), (3, 7)]


def test_a_list_of_hidden_sizes_gives_one_size_per_hidden_layer():
    net = FullyConnected(5, [8, 6], 3, num_layers=3)
    assert [tuple(linear.weight.shape) for linear in net.linears] == [
        (8, 5), (6, 8), (3, 6)]


@pytest.mark.parametrize('activation, output_activation, torch_act, torch_out', [
    ('relu', None, torch.nn.ReLU, None),
    ('tanh', 'sigmoid', torch.nn.Tanh, torch.nn.Sigmoid),
])
def test_output_equals_a_hand_built_sequential(
        activation, output_activation, torch_act, torch_out):
    torch.manual_seed(0)
    net = FullyConnected(4, 6, 2, num_layers=3, activation=activation,
                         output_activation=output_activation)
    reference = reference_sequential(net, torch_act, torch_out)
    x = torch.randn(3, 5, 4)
    torch.testing.assert_close(net(x), reference(x))


def test_one_layer_is_a_single_linear_map():
    torch.manual_seed(0)
    net = FullyConnected(4, None, 2, num_layers=1)
    x = torch.randn(3, 4)
    torch.testing.assert_close(
        net(x), x @ net.linears[0].weight.T + net.linears[0].bias)


def test_dropout_follows_each_hidden_activation_in_training_only():
    torch.manual_seed(0)
    net = FullyConnected(4, 16, 2, num_layers=3, dropout=0.5)
    reference = reference_sequential(net, torch.nn.ReLU, None, dropout=0.5)
    x = torch.randn(8, 4)

    torch.manual_seed(1)
    trained = net(x)
    torch.manual_seed(1)  # the same dropout masks
    torch.testing.assert_close(trained, reference(x))

    net.eval(), reference.eval()
    torch.testing.assert_close(net(x), reference(x))
    assert not torch.allclose(net(x), trained)


def test_config_is_json_and_builds_the_same_architecture():
    config = FullyConnected.get_config(
        {'input_size': 4, 'hidden_size': 8, 'output_size': 2,
         'output_activation': 'sigmoid'})
    assert json.loads(json.dumps(config)) == config
    assert config['activation'] == 'relu' and config['dropout'] == 0.
    net = FullyConnected.from_config(config)
    assert isinstance(net.output_activation, torch.nn.Sigmoid)
    assert net(torch.zeros(1, 4)).shape == (1, 2)


def test_bad_arguments_and_inputs_are_reported():
    with pytest.raises(ValueError, match="Unknown activation 'rleu'"):
        FullyConnected(4, 8, 2, activation='rleu')
    with pytest.raises(ValueError, match=r'num_layers - 1 = 2 ints, got \[8\]'):
        FullyConnected(4, [8], 2, num_layers=3)
    with pytest.raises(ValueError, match=r'input \(\.\.\., 4\), found shape '
                                         r'\(3, 5\)'):
        FullyConnected(4, 8, 2)(torch.zeros(3, 5))
