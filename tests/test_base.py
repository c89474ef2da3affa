"""Specification of the Module/Model contract."""
import numpy as np
import pytest
import torch

import padertorch_audio as pa
from padertorch_audio.configurable import Configurable


class Regression(pa.Model):
    def __init__(self, in_size=2):
        super().__init__()
        self.linear = torch.nn.Linear(in_size, 1)

    def forward(self, example):
        return self.linear(example['x'])

    def review(self, example, output):
        return {'loss': ((output - example['y']) ** 2).mean(),
                'scalars': {'mean_output': output.mean()}}


class Unfinished(pa.Model):
    pass


def test_module_is_a_configurable_torch_module():
    assert issubclass(pa.Module, torch.nn.Module)
    assert issubclass(pa.Module, Configurable)
    assert issubclass(pa.Model, pa.Module)


def test_model_is_built_from_its_config_with_registered_parameters():
    config = Regression.get_config({'in_size': 3})
    assert config == {'factory': 'tests.test_base.Regression', 'in_size': 3}
    model = Regression.from_config(config)
    assert type(model) is Regression
    assert [tuple(p.shape) for p in model.parameters()] == [(1, 3), (1,)]


def test_example_to_device_converts_numpy_arrays_to_tensors():
    example = {'x': np.ones((4, 2), np.float32), 'y': np.zeros((4, 1)),
               'id': 'a0'}
    moved = Regression().example_to_device(example, 'cpu')
    assert moved['x'].dtype == torch.float32 and moved['x'].shape == (4, 2)
    assert moved['y'].dtype == torch.float64
    assert moved['id'] == 'a0'
    assert isinstance(example['x'], np.ndarray)  # the input is not modified


def test_forward_and_review_on_a_converted_example():
    model = Regression()
    with torch.no_grad():
        model.linear.weight.fill_(1.)
        model.linear.bias.fill_(0.)
    example = model.example_to_device(
        {'x': np.ones((4, 2), np.float32), 'y': np.ones((4, 1), np.float32)},
        'cpu')
    review = model.review(example, model(example))
    assert set(review) <= pa.base.REVIEW_KEYS
    assert review['loss'].item() == pytest.approx(1.)  # (2 - 1) ** 2
    assert review['scalars']['mean_output'].item() == pytest.approx(2.)


def test_modify_summary_is_the_identity_by_default():
    summary = {'scalars': {'loss': 1.}, 'images': {}}
    assert Regression().modify_summary(summary) is summary
    assert summary == {'scalars': {'loss': 1.}, 'images': {}}


def test_missing_forward_names_the_class():
    with pytest.raises(NotImplementedError,
                       match=r'Unfinished must implement forward\(example\)'):
        Unfinished()({'x': torch.ones(1)})


def test_missing_review_names_the_class():
    with pytest.raises(NotImplementedError,
                       match=r'Unfinished must implement review'):
        Unfinished().review({}, None)


# --- Module.config: the recorded constructor arguments ---------------------

class Encoder(pa.Module):
    def __init__(self, size=4, layers=(8, 8)):
        super().__init__()
        self.linear = torch.nn.Linear(size, layers[-1])


class Separator(pa.Model):
    """A user model with nested modules given as arguments."""

    def __init__(self, encoder, masks=(), scale=1.0, name='separator'):
        super().__init__()
        self.encoder = encoder
        self.masks = torch.nn.ModuleList(masks)

    def forward(self, example):
        return self.encoder.linear(example['x'])

    def review(self, example, output):
        return {'loss': output.pow(2).mean()}


class Wider(Encoder):
    """Calls the parent's __init__ with other arguments than its own."""

    def __init__(self, width=16):
        super().__init__(size=2, layers=[width])


class KeepsOwnConfig(pa.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config


def test_a_module_built_by_its_constructor_knows_its_complete_config():
    model = Separator(Encoder(size=3), masks=[Encoder(), Wider(width=5)],
                      scale=0.5)
    encoder_defaults = {'factory': 'tests.test_base.Encoder', 'size': 4,
                        'layers': [8, 8]}
    assert model.config == {
        'factory': 'tests.test_base.Separator',
        'encoder': {**encoder_defaults, 'size': 3},
        'masks': [encoder_defaults,
                  {'factory': 'tests.test_base.Wider', 'width': 5}],
        'scale': 0.5,
        'name': 'separator',
    }
    rebuilt = Separator.from_config(model.config)
    assert rebuilt.config == model.config
    rebuilt.load_state_dict(model.state_dict())  # the same architecture


def test_only_the_outermost_constructor_call_is_recorded():
    assert Wider(width=3).config == {'factory': 'tests.test_base.Wider',
                                     'width': 3}
    assert Wider().linear.out_features == 16


def test_a_module_that_sets_its_own_config_keeps_it():
    assert KeepsOwnConfig({'anything': 1}).config == {'anything': 1}


def test_a_nested_plain_torch_module_is_named_when_it_cannot_be_described():
    model = Separator(torch.nn.Linear(2, 2))
    with pytest.raises(pa.configurable.ConfigError,
                       match=r'Linear \(at Separator.encoder\)'):
        model.config


def test_config_of_describes_a_module_by_its_recorded_config():
    from padertorch_audio.base import config_of
    assert config_of(Encoder(size=2))['size'] == 2
