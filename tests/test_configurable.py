"""Specification of configs: get_config fills defaults, from_config builds."""
import copy
import json
import sys

import pytest
import torch

import padertorch_audio as pa
from padertorch_audio.configurable import (
    ConfigError, Configurable, get_config)
from padertorch_audio.train.optimizer import SGD, Adam, Optimizer

HERE = 'tests.test_configurable'

#: Names of the factories whose ``__init__`` ran (see the ``built`` fixture).
BUILT = []


class Encoder(pa.Module):
    def __init__(self, hidden_size=32, num_layers=2):
        super().__init__()
        BUILT.append('Encoder')
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.linear = torch.nn.Linear(4, hidden_size)


class ConvEncoder(pa.Module):
    def __init__(self, channels=16, kernel_size=3):
        super().__init__()
        BUILT.append('ConvEncoder')
        self.conv = torch.nn.Conv1d(1, channels, kernel_size)


class Decoder(pa.Module):
    def __init__(self, out_size, hidden_size=32):
        super().__init__()
        BUILT.append('Decoder')
        self.out_size = out_size
        self.hidden_size = hidden_size


class Autoencoder(pa.Model):
    def __init__(
            self,
            encoder=Encoder,
            decoder={'factory': f'{HERE}.Decoder', 'out_size': 4,
                     'hidden_size': 16},
            sizes=(4, 8),
            activation=torch.tanh,
            dropout=0.,
    ):
        super().__init__()
        BUILT.append('Autoencoder')
        self.encoder = encoder
        self.decoder = decoder
        self.sizes = sizes
        self.activation = activation
        self.dropout = dropout

    def forward(self, example):
        return self.encoder.linear(example['x'])

    def review(self, example, output):
        return {'loss': output.pow(2).mean()}


class Pipeline(Configurable):
    """A dict default whose sub-config itself overrides a nested default."""

    def __init__(self, stage={'factory': f'{HERE}.Autoencoder',
                              'encoder': {'factory': f'{HERE}.Encoder',
                                          'hidden_size': 8}}):
        self.stage = stage


class Flexible(Configurable):
    def __init__(self, scale=1., **kwargs):
        self.scale = scale
        self.kwargs = kwargs


AUTOENCODER_DEFAULTS = {
    'factory': f'{HERE}.Autoencoder',
    'encoder': {'factory': f'{HERE}.Encoder', 'hidden_size': 32,
                'num_layers': 2},
    'decoder': {'factory': f'{HERE}.Decoder', 'out_size': 4,
                'hidden_size': 16},
    'sizes': [4, 8],
    'dropout': 0.,
}


@pytest.fixture
def built():
    BUILT.clear()
    yield BUILT
    BUILT.clear()


# ---------------------------------------------------------------------------
# get_config


def test_get_config_fills_all_defaults_recursively():
    # The Configurable class default (encoder) and the dict default with a
    # 'factory' (decoder) are both filled in; the tuple became a list; the
    # function default (activation) is left out.
    config = Autoencoder.get_config()
    assert config == AUTOENCODER_DEFAULTS
    assert json.loads(json.dumps(config)) == config


def test_tuples_in_updates_become_lists():
    config = Autoencoder.get_config({'sizes': (1, (2, 3))})
    assert config['sizes'] == [1, [2, 3]]


def test_update_without_factory_merges_into_the_default_sub_config():
    config = Autoencoder.get_config(
        {'encoder': {'num_layers': 4}, 'decoder': {'hidden_size': 8}})
    assert config == {
        'factory': f'{HERE}.Autoencoder',
        'encoder': {'factory': f'{HERE}.Encoder', 'hidden_size': 32,
                    'num_layers': 4},
        'decoder': {'factory': f'{HERE}.Decoder', 'out_size': 4,
                    'hidden_size': 8},
        'sizes': [4, 8],
        'dropout': 0.,
    }


@pytest.mark.parametrize('update', [
    {'factory': f'{HERE}.ConvEncoder', 'channels': 8},
    {'factory': ConvEncoder, 'channels': 8},
], ids=['dotted-path', 'class'])
def test_new_nested_factory_replaces_the_sub_config(update):
    config = Autoencoder.get_config({'encoder': update})
    # hidden_size and num_layers of the old factory are gone.
    assert config['encoder'] == {
        'factory': f'{HERE}.ConvEncoder', 'channels': 8, 'kernel_size': 3}
    assert type(Autoencoder.from_config(config).encoder) is ConvEncoder


def test_update_merges_into_the_nested_overrides_of_a_dict_default():
    # The default stage sets encoder.hidden_size = 8; changing only
    # encoder.num_layers must keep it.
    config = Pipeline.get_config({'stage': {'encoder': {'num_layers': 3}}})
    assert config == {
        'factory': f'{HERE}.Pipeline',
        'stage': {
            'factory': f'{HERE}.Autoencoder',
            'encoder': {'factory': f'{HERE}.Encoder', 'hidden_size': 8,
                        'num_layers': 3},
            'decoder': {'factory': f'{HERE}.Decoder', 'out_size': 4,
                        'hidden_size': 16},
            'sizes': [4, 8],
            'dropout': 0.,
        },
    }


def test_get_config_changes_neither_the_updates_nor_the_defaults():
    updates = {'encoder': {'num_layers': 4}, 'decoder': {'hidden_size': 8},
               'sizes': (1,)}
    original = copy.deepcopy(updates)
    Autoencoder.get_config(updates)['decoder']['out_size'] = 99
    assert updates == original
    assert Autoencoder.get_config() == AUTOENCODER_DEFAULTS


def test_module_level_get_config_needs_a_factory():
    with pytest.raises(ConfigError, match="'factory'"):
        get_config({'in_features': 3})


def test_factory_with_var_kwargs_accepts_any_key():
    config = Flexible.get_config({'anything': (1, 2), 'nested': {'a': 1}})
    assert config == {'factory': f'{HERE}.Flexible', 'scale': 1.,
                      'anything': [1, 2], 'nested': {'a': 1}}
    flexible = Flexible.from_config(config)
    assert flexible.kwargs == {'anything': [1, 2], 'nested': {'a': 1}}


# ---------------------------------------------------------------------------
# from_config and round trips


def test_from_config_builds_the_nested_objects(built):
    model = Autoencoder.from_config(
        {'encoder': {'hidden_size': 5}, 'decoder': {'out_size': 3}})
    assert type(model) is Autoencoder
    assert type(model.encoder) is Encoder and model.encoder.hidden_size == 5
    assert model.encoder.linear.out_features == 5
    assert type(model.decoder) is Decoder
    assert (model.decoder.out_size, model.decoder.hidden_size) == (3, 16)
    assert model.sizes == [4, 8] and model.dropout == 0.
    assert model.activation is torch.tanh  # left out, the default is kept
    assert sorted(built) == ['Autoencoder', 'Decoder', 'Encoder']


def test_round_trip_through_json_is_exact():
    config = Autoencoder.get_config(
        {'encoder': {'factory': ConvEncoder, 'channels': 2}, 'dropout': 0.5})
    reloaded = json.loads(json.dumps(config))
    assert Autoencoder.get_config(reloaded) == config
    assert Configurable.get_config(reloaded) == config
    assert type(Autoencoder.from_config(reloaded).encoder) is ConvEncoder


def test_objects_are_passed_through_by_from_config_but_not_by_get_config():
    encoder = ConvEncoder(channels=2)
    assert Autoencoder.from_config({'encoder': encoder}).encoder is encoder
    with pytest.raises(ConfigError, match='not JSON-serialisable'):
        Autoencoder.get_config({'encoder': encoder})


def test_configurable_builds_any_importable_factory():
    config = Configurable.get_config(
        {'factory': 'torch.nn.Linear', 'in_features': 3, 'out_features': 2})
    assert config == {'factory': 'torch.nn.Linear', 'in_features': 3,
                      'out_features': 2, 'bias': True, 'device': None,
                      'dtype': None}
    linear = Configurable.from_config(config)
    assert type(linear) is torch.nn.Linear and linear.weight.shape == (2, 3)


# ---------------------------------------------------------------------------
# errors


def test_unknown_key_names_the_key_and_the_closest_valid_ones(built):
    with pytest.raises(ConfigError) as error:
        Autoencoder.from_config({'dropuot': 0.1})
    assert str(error.value) == (
        f"Unknown key 'dropuot' for factory {HERE}.Autoencoder. Did you mean "
        f"'dropout'? Valid keys: activation, decoder, dropout, encoder, sizes")
    assert built == []


def test_unknown_nested_key_names_its_path_before_anything_is_built(built):
    # encoder comes before decoder, so a build-as-you-go would build it.
    with pytest.raises(ConfigError) as error:
        Autoencoder.from_config({'decoder': {'hiden_size': 64}})
    message = str(error.value)
    assert "'hiden_size'" in message
    assert 'decoder.hiden_size' in message
    assert "Did you mean 'hidden_size'?" in message
    assert built == []


def test_unknown_key_inside_a_replaced_sub_config_is_refused():
    with pytest.raises(ConfigError, match="'hidden_size'.*ConvEncoder"):
        Autoencoder.get_config(
            {'encoder': {'factory': ConvEncoder, 'hidden_size': 3}})


def test_missing_required_keys_are_named():
    with pytest.raises(ConfigError) as error:
        Decoder.get_config()
    assert str(error.value) == (
        f"Missing required key(s) 'out_size' for factory {HERE}.Decoder.")


def test_missing_required_nested_key_names_its_place(built):
    # The new factory brings its own defaults: the old out_size is gone.
    with pytest.raises(ConfigError, match=r"'out_size'.*\(at decoder\)"):
        Autoencoder.from_config({'decoder': {'factory': f'{HERE}.Decoder'}})
    assert built == []


@pytest.mark.parametrize('factory, expected', [
    (f'{HERE}.NoSuchModel', f"Cannot import factory '{HERE}.NoSuchModel'"),
    ('no_such_package.Model', "Cannot import factory 'no_such_package.Model'"),
    ('Model', "Cannot import factory 'Model'"),
])
def test_unimportable_factory_raises_a_clear_error(factory, expected):
    with pytest.raises(ConfigError, match=expected):
        Configurable.get_config({'factory': factory})
    with pytest.raises(ConfigError, match=expected):
        Autoencoder.get_config({'encoder': {'factory': factory}})


def test_import_error_inside_a_factory_module_is_not_hidden(
        tmp_path, monkeypatch):
    # The module exists but imports a missing dependency whose name is a
    # prefix of the package name: that ModuleNotFoundError must surface.
    package = tmp_path / 'cfgtest_pkg'
    package.mkdir()
    (package / '__init__.py').write_text('')
    (package / 'broken.py').write_text(
        'import cfgtest\n\nclass Model:\n    pass\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        with pytest.raises(ModuleNotFoundError, match="'cfgtest'"):
            Configurable.get_config({'factory': 'cfgtest_pkg.broken.Model'})
    finally:
        sys.modules.pop('cfgtest_pkg', None)


def test_factory_that_is_no_subclass_is_refused():
    with pytest.raises(ConfigError) as error:
        Encoder.get_config({'factory': f'{HERE}.ConvEncoder'})
    assert str(error.value) == (
        f'Encoder.get_config: factory {HERE}.ConvEncoder is no subclass of '
        f'{HERE}.Encoder.')
    with pytest.raises(ConfigError, match='no subclass'):
        pa.Trainer.get_config({'factory': 'torch.nn.Linear'})


# ---------------------------------------------------------------------------
# optimizers and the Trainer

ADAM_DEFAULTS = {
    'factory': 'padertorch_audio.train.optimizer.Adam',
    'lr': 1e-3, 'betas': [0.9, 0.999], 'eps': 1e-8, 'weight_decay': 0.,
    'amsgrad': False, 'gradient_clipping': None,
}


def test_optimizer_config_and_build():
    assert Adam.get_config() == ADAM_DEFAULTS
    config = Optimizer.get_config({'factory': SGD, 'lr': 0.1})
    assert config == {
        'factory': 'padertorch_audio.train.optimizer.SGD', 'lr': 0.1,
        'momentum': 0., 'dampening': 0., 'weight_decay': 0.,
        'nesterov': False, 'gradient_clipping': None}
    sgd = Optimizer.from_config(config)
    assert type(sgd) is SGD and sgd.lr == 0.1 and sgd.gradient_clipping is None


def test_optimizer_refuses_keys_of_other_optimizers():
    with pytest.raises(ConfigError, match="Unknown key 'momentum'"):
        Adam.get_config({'momentum': 0.9})
    with pytest.raises(ConfigError, match='no subclass'):
        Adam.get_config({'factory': SGD})


def trainer_updates(storage_dir):
    return {
        'model': {'factory': f'{HERE}.Autoencoder',
                  'encoder': {'hidden_size': 3}},
        'storage_dir': str(storage_dir),
        'optimizer': {'factory': 'padertorch_audio.train.optimizer.Adam',
                      'lr': 0.01},
        'stop_trigger': (10, 'iteration'),
    }


def test_trainer_from_config_builds_model_and_optimizer(tmp_path):
    trainer = pa.Trainer.from_config(trainer_updates(tmp_path))
    assert type(trainer.model) is Autoencoder
    assert type(trainer.model.encoder) is Encoder
    assert trainer.model.encoder.hidden_size == 3
    assert type(trainer.optimizer) is Adam
    assert trainer.optimizer.lr == 0.01
    assert type(trainer.optimizer.optimizer) is torch.optim.Adam
    assert (trainer.stop_trigger.period, trainer.stop_trigger.unit) == (
        10, 'iteration')


def test_trainer_config_is_complete_and_json_serialisable(tmp_path):
    expected = {
        'factory': 'padertorch_audio.train.trainer.Trainer',
        'model': {
            'factory': f'{HERE}.Autoencoder',
            'encoder': {'factory': f'{HERE}.Encoder', 'hidden_size': 3,
                        'num_layers': 2},
            'decoder': {'factory': f'{HERE}.Decoder', 'out_size': 4,
                        'hidden_size': 16},
            'sizes': [4, 8],
            'dropout': 0.,
        },
        'storage_dir': str(tmp_path),
        'optimizer': {**ADAM_DEFAULTS, 'lr': 0.01},
        'loss_weights': None,
        'summary_trigger': [1, 'epoch'],
        'checkpoint_trigger': [1, 'epoch'],
        'stop_trigger': [10, 'iteration'],
        'virtual_minibatch_size': 1,
        'progress': True,
        'mixed_precision': None,
    }
    trainer = pa.Trainer.from_config(trainer_updates(tmp_path))
    assert pa.Trainer.get_config(trainer_updates(tmp_path)) == expected
    assert trainer.config == expected
    assert trainer.describe() == expected
    assert json.loads(json.dumps(trainer.config)) == expected
    rebuilt = pa.Trainer.from_config(json.loads(json.dumps(trainer.config)))
    assert rebuilt.config == expected


def test_trainer_config_names_its_missing_required_keys():
    with pytest.raises(ConfigError) as error:
        pa.Trainer.get_config()
    assert str(error.value) == (
        "Missing required key(s) 'model', 'storage_dir', 'optimizer' for "
        "factory padertorch_audio.train.trainer.Trainer.")


def test_describe_of_a_directly_built_trainer_completes_to_its_config(
        tmp_path):
    model = Autoencoder(encoder=Encoder(), decoder=Decoder(out_size=4,
                                                            hidden_size=16))
    trainer = pa.Trainer(model, tmp_path,
                         Adam(lr=0.01, gradient_clipping=1.),
                         stop_trigger=(10, 'iteration'))
    description = trainer.describe()
    assert json.loads(json.dumps(description)) == description
    assert description['optimizer'] == {
        **ADAM_DEFAULTS, 'lr': 0.01, 'gradient_clipping': 1.}
    assert pa.Trainer.get_config(description) == {
        **pa.Trainer.get_config(trainer_updates(tmp_path)),
        'model': AUTOENCODER_DEFAULTS,
        'optimizer': {**ADAM_DEFAULTS, 'lr': 0.01, 'gradient_clipping': 1.},
    }
