"""Model files from strangers: nothing in them may run code.

Written as an attacker would: every file below tries to run a command
(creating a marker file) through the config, through the pickle, or both;
each must be refused by ``load_model`` and by the CLI *without the command
having run* (the marker never appears), whether or not the rest of the file
is a well-formed model file. A legitimate file (a fixture written by the
code of the previous release) keeps loading.
"""
import inspect
import os
import pickle
import pkgutil
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import padertorch_audio
from padertorch_audio import export
from padertorch_audio.cli import main
from padertorch_audio.separation import (
    TINY_DPRNN, ExportedModelError, TasNet, export_model, load_model,
    separate)

FIXTURES = Path(__file__).parent / 'fixtures'


class Payload:
    """Unpickling this runs ``os.system('touch <marker>')``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f'touch {self.marker}',)


class ExecPayload:
    """Unpickling this runs Python code through ``builtins.exec``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f'open({self.marker!r}, "w").close()',)


class ForeignModule(torch.nn.Module):
    """A real torch.nn.Module, but defined outside padertorch_audio."""

    def __init__(self, size: int = 2):
        super().__init__()
        self.linear = torch.nn.Linear(size, size)


@pytest.fixture
def marker(tmp_path):
    path = tmp_path / 'marker'
    yield path
    assert not path.exists(), 'the payload ran'


@pytest.fixture(scope='module')
def good_content(tmp_path_factory):
    """The content of a well-formed exported model file."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp('good') / 'model.pt'
    export_model(TasNet.from_config(TINY_DPRNN), path, sample_rate=8000,
                 num_speakers=2)
    return torch.load(path, weights_only=True)


def _save(path, content, **kwargs):
    torch.save(content, path, **kwargs)
    return path


def _refused(path, match, trusted=False):
    with pytest.raises(ExportedModelError, match=match) as error:
        load_model(path, trusted=trusted)
    message = str(error.value)
    assert '\n' not in message
    assert 'weights_only=False' not in message
    assert str(path) in message
    return message


# --------------------------------------------------------------------------
# The config: every way to reach a shell through a 'factory'
# --------------------------------------------------------------------------

def _shell_factories(marker, tmp_path):
    """(factory config, what makes it unsafe) pairs that would run
    ``touch marker`` (or code that creates it) when built."""
    evil_pickle = tmp_path / 'evil.pkl'
    evil_pickle.write_bytes(pickle.dumps(Payload(marker)))
    script = tmp_path / 'script.py'
    script.write_text(f'open({str(marker)!r}, "w").close()\n')
    hub = tmp_path / 'hub'
    hub.mkdir(exist_ok=True)
    (hub / 'hubconf.py').write_text(
        f'open({str(marker)!r}, "w").close()\ndef model(): pass\n')
    inner = tmp_path / 'inner.pt'
    command = f'touch {marker}'
    yield {'factory': 'os.system', 'command': command}
    yield {'factory': 'posix.system', 'command': command}
    # Attribute chains through modules that an allowed prefix re-exports.
    yield {'factory': 'torch.os.system', 'command': command}
    yield {'factory': 'torch.nn.modules.module.torch.os.system',
           'command': command}
    yield {'factory': 'padertorch_audio.io.os.system', 'command': command}
    yield {'factory': 'padertorch_audio.export.torch.os.system',
           'command': command}
    yield {'factory': 'padertorch_audio.cli.subprocess.run',
           'args': ['touch', str(marker)]}
    yield {'factory': 'subprocess.run', 'args': ['touch', str(marker)]}
    # Blocked functions under another name, and loaders of other files.
    yield {'factory': 'torch.serialization.load', 'f': str(evil_pickle),
           'weights_only': False}
    yield {'factory': 'torch.load', 'f': str(evil_pickle),
           'weights_only': False}
    yield {'factory': 'torch.hub.load', 'repo_or_dir': str(hub),
           'model': 'model', 'source': 'local', 'trust_repo': True}
    yield {'factory': 'runpy.run_path', 'path_name': str(script)}
    yield {'factory': 'pickle.loads', 'data': 'ignored'}
    yield {'factory': 'numpy.load', 'file': str(evil_pickle),
           'allow_pickle': True}
    # Allowed package, but functions that take a "trusted" flag.
    _save(inner, {**_good_content_without_factory_check(),
                  'config': {'factory': 'os.system', 'command': command}})
    yield {'factory': 'padertorch_audio.separation.export.load_model',
           'path': str(inner), 'trusted': True}
    yield {'factory': 'padertorch_audio.export.load_model',
           'path': str(inner), 'trusted': True}
    # Private names, __main__ modules, classes' attributes, non-strings.
    yield {'factory': 'padertorch_audio.toy.__main__.main'}
    yield {'factory': 'padertorch_audio.separation.tasnet.TasNet.'
                      'load_state_dict', 'state_dict': {}}
    yield {'factory': 'padertorch_audio.separation.tasnet.TasNet.__init__'}
    yield {'factory': ['os', 'system'], 'command': command}


def _good_content_without_factory_check():
    """A well-formed file's content, apart from its config."""
    return {'format': export.FORMAT, 'format_version': 1,
            'task': 'separation', 'state_dict': {}, 'sample_rate': 8000,
            'num_speakers': 2}


def test_config_factories_that_reach_a_shell_are_refused(
        tmp_path, marker, good_content):
    factories = list(_shell_factories(marker, tmp_path))
    assert len(factories) >= 20
    for index, factory in enumerate(factories):
        # well-formed otherwise: the attack replaces a nested module ...
        nested = {**good_content, 'config': {
            **good_content['config'], 'separator': factory}}
        # ... or is the model itself, or deep inside a list
        top = {**good_content, 'config': factory}
        deep = {**good_content, 'config': {
            **good_content['config'],
            'encoder': {**good_content['config']['encoder'],
                        'extra': [{'x': factory}]}}}
        for name, content in (('nested', nested), ('top', top),
                              ('deep', deep)):
            path = _save(tmp_path / f'{name}{index}.pt', content)
            message = _refused(path, 'its config names what a model file '
                                     'may not build')
            assert 'trusted=True' in message
            assert not marker.exists(), (factory, name)


def test_the_first_problem_is_found_before_anything_is_built(
        tmp_path, marker, good_content, monkeypatch):
    """A good class next to a bad factory: nothing is constructed."""
    built = []
    original = TasNet.__init__

    def spy(self, *args, **kwargs):
        built.append(type(self))
        original(self, *args, **kwargs)
    monkeypatch.setattr(TasNet, '__init__', spy)
    content = {**good_content, 'config': {
        **good_content['config'],
        'decoder': {'factory': 'os.system', 'command': f'touch {marker}'}}}
    _refused(_save(tmp_path / 'model.pt', content), 'decoder.factory')
    assert built == []


@pytest.mark.parametrize('factory, reason', [
    ('padertorch_audio.separation.TasNet',
     'not the path where the class is defined: it names '
     'padertorch_audio.separation.tasnet.TasNet'),
    ('torch.nn.Linear', 'it names torch.nn.modules.linear.Linear'),
    (f'{__name__}.ForeignModule', 'is not inside padertorch_audio or '
                                  'torch.nn'),
    ('padertorch_audio.io', 'is not a class: padertorch_audio.io is a '
                            'module'),
    ('padertorch_audio.train.optimizer.Adam',
     'is not a subclass of torch.nn.modules.module.Module'),
    ('padertorch_audio.separation.tasnet.Nowhere',
     'padertorch_audio.separation.tasnet.Nowhere is not defined'),
])
def test_only_model_classes_under_their_own_path(tmp_path, good_content,
                                                 factory, reason):
    content = {**good_content, 'config': {**good_content['config'],
                                          'separator': {'factory': factory}}}
    message = _refused(_save(tmp_path / 'model.pt', content),
                       'may not build')
    assert reason in message


def test_config_values_must_be_json_data(tmp_path, good_content):
    content = {**good_content, 'config': {**good_content['config'],
                                          'num_speakers': torch.ones(1)}}
    _refused(_save(tmp_path / 'model.pt', content),
             'config.num_speakers is a Tensor, expected JSON data')
    content = {**good_content, 'versions': {'torch': (1, 2)}}
    _refused(_save(tmp_path / 'model.pt', content),
             'versions.torch is a tuple')


def test_trusted_builds_foreign_classes_but_never_lifts_the_pickle_rules(
        tmp_path, marker, good_content):
    content = {**good_content, 'task': 'foreign',
               'config': {'factory': f'{__name__}.ForeignModule', 'size': 2},
               'state_dict': {k: v.clone() for k, v in
                              ForeignModule().state_dict().items()}}
    path = _save(tmp_path / 'foreign.pt', content)
    with pytest.raises(ExportedModelError, match='ForeignModule'):
        export.load_model(path)
    assert isinstance(export.load_model(path, trusted=True), ForeignModule)
    evil = {**good_content, 'training_summary': Payload(marker)}
    _refused(_save(tmp_path / 'evil.pt', evil), 'posix.system',
             trusted=True)


# --------------------------------------------------------------------------
# The pickle: __reduce__ payloads in every torch.save format
# --------------------------------------------------------------------------

def _pickle_attacks(marker, good_content):
    """(name, content) with a payload at the top or inside a good file."""
    for payload in (Payload(marker), ExecPayload(marker)):
        kind = type(payload).__name__
        yield f'{kind}-alone', payload
        yield f'{kind}-in-summary', {**good_content,
                                     'training_summary': payload}
        yield f'{kind}-in-config', {**good_content, 'config': {
            **good_content['config'], 'x': payload}}
        yield f'{kind}-in-state-dict', {**good_content, 'state_dict': {
            **good_content['state_dict'], 'x': payload}}


@pytest.mark.parametrize('protocol', [2, 4, 5])
def test_reduce_payloads_in_the_zip_format(tmp_path, marker, good_content,
                                           protocol):
    for name, content in _pickle_attacks(marker, good_content):
        path = _save(tmp_path / f'{name}.pt', content,
                     pickle_protocol=protocol)
        expected = ('builtins.exec' if 'Exec' in name else
                    f'{os.system.__module__}.system')
        message = _refused(path, 'the file contains Python objects that a '
                                 'model file may not hold: ')
        assert message.endswith(expected), message
        assert not marker.exists()


def test_reduce_payloads_in_the_legacy_format_and_plain_pickles(
        tmp_path, marker, good_content):
    for name, content in _pickle_attacks(marker, good_content):
        path = _save(tmp_path / f'{name}.pt', content,
                     _use_new_zipfile_serialization=False)
        size = path.stat().st_size
        _refused(path, rf'truncated or not a model file \({size} bytes\)')
        for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
            path = tmp_path / f'{name}.{protocol}.pkl'
            path.write_bytes(pickle.dumps(content, protocol=protocol))
            _refused(path, 'truncated or not a model file')


def _replace_pickle(source, target, data):
    """A copy of the zip archive ``source`` whose data.pkl is ``data``."""
    with zipfile.ZipFile(source) as old, \
            zipfile.ZipFile(target, 'w', zipfile.ZIP_STORED) as new:
        for item in old.infolist():
            new.writestr(item, data if item.filename.endswith('/data.pkl')
                         else old.read(item))
    return target


def test_hand_crafted_pickles(tmp_path, marker, good_content):
    good = _save(tmp_path / 'good.pt', good_content)
    command = f'touch {marker}'.encode()
    length = bytes([len(command)])
    system = f'{os.system.__module__}\nsystem\n'.encode()
    attacks = {
        # protocol 0: INST builds an instance of any class by name
        'inst': b'(S"' + command + b'"\ni' + system + b'.',
        # GLOBAL + REDUCE
        'global': b'\x80\x02c' + system + b'U' + length + command
                  + b'\x85R.',
        # STACK_GLOBAL whose operands are not the strings pushed just
        # before it: pushes "posix" "system" "torch._utils"
        # "_rebuild_tensor_v2", pops two, then STACK_GLOBAL
        'stack-global-shuffle': (
            b'\x80\x04\x8c' + bytes([len(os.system.__module__)])
            + os.system.__module__.encode() + b'\x8c\x06system'
            + b'\x8c\x0ctorch._utils\x8c\x12_rebuild_tensor_v2'
            + b'00\x93\x8c' + length + command + b'\x85R.'),
        # the payload after a first, harmless pickle in the same record
        'two-pickles': pickle.dumps({}, protocol=2)
                       + b'\x80\x02c' + system + b'U' + length + command
                       + b'\x85R.',
    }
    for name, data in attacks.items():
        path = _replace_pickle(good, tmp_path / f'{name}.pt', data)
        if name == 'two-pickles':  # torch.load stops at the first STOP
            _refused(path, 'is not an exported model')
        elif name == 'stack-global-shuffle':
            _refused(path, 'model file may not hold: an object named at '
                           r'run time \(STACK_GLOBAL\)$')
        else:
            _refused(path, 'model file may not hold: '
                           f'{os.system.__module__}.system$')
        assert not marker.exists(), name


def test_a_duplicated_data_pkl_record_is_not_a_way_around(
        tmp_path, marker, good_content):
    """Two records named data.pkl: the one torch.load reads is checked."""
    good = _save(tmp_path / 'good.pt', good_content)
    evil = _save(tmp_path / 'evil.pt', Payload(marker))
    with zipfile.ZipFile(evil) as archive:
        evil_pickle = archive.read(
            next(n for n in archive.namelist() if n.endswith('/data.pkl')))
    target = tmp_path / 'both.pt'
    with zipfile.ZipFile(good) as old, \
            zipfile.ZipFile(target, 'w', zipfile.ZIP_STORED) as new, \
            warnings.catch_warnings():
        warnings.simplefilter('ignore')  # zipfile: duplicate name
        for order in (0, 1):
            for name in old.namelist():
                if name.endswith('/data.pkl'):
                    new.writestr(name, evil_pickle if order == 0
                                 else old.read(name))
                elif order == 0:
                    new.writestr(name, old.read(name))
    with pytest.raises(ExportedModelError, match='may not hold: '
                       f'{os.system.__module__}.system$'):
        load_model(target)


def test_torchscript_archives_are_refused_without_warnings(tmp_path):
    path = tmp_path / 'scripted.pt'
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # torch.jit is deprecated
        torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        _refused(path, 'the file is a TorchScript archive, not a model file')
    assert caught == []


def test_damaged_files_say_why_in_one_line(tmp_path, good_content):
    good = _save(tmp_path / 'good.pt', good_content)
    empty = tmp_path / 'empty.pt'
    empty.touch()
    _refused(empty, 'empty.pt: the file is empty$')
    data = good.read_bytes()
    for cut in (10, len(data) // 2, len(data) - 30):
        path = tmp_path / f'cut{cut}.pt'
        path.write_bytes(data[:cut])
        _refused(path, rf'cut{cut}.pt: the file is truncated or not a model '
                       rf'file \({cut} bytes\)$')
    text = tmp_path / 'notes.txt'
    text.write_text('not a model')
    _refused(text, r'the file is truncated or not a model file \(11 bytes\)')
    plain = _save(tmp_path / 'weights.pt',
                  TasNet.from_config(TINY_DPRNN).state_dict())
    _refused(plain, "is not an exported model: expected a dict with 'format'")


def test_attributes_cannot_replace_what_the_model_has(tmp_path, good_content):
    content = {**good_content, 'forward': 'replaced'}
    _refused(_save(tmp_path / 'model.pt', content),
             "it sets 'forward', which is a method of the model")
    content = {**good_content, 'num_speakers': 3}
    _refused(_save(tmp_path / 'model.pt', content),
             'the model has num_speakers=2, the file says 3')


# --------------------------------------------------------------------------
# The CLI
# --------------------------------------------------------------------------

def _cli_attack_files(tmp_path, marker, good_content):
    nested = {**good_content, 'config': {**good_content['config'],
              'separator': {'factory': 'torch.os.system',
                            'command': f'touch {marker}'}}}
    yield _save(tmp_path / 'config.pt', nested)
    yield _save(tmp_path / 'pickle.pt',
                {**good_content, 'evaluation_summary': Payload(marker)})
    yield _save(tmp_path / 'legacy.pt', Payload(marker),
                _use_new_zipfile_serialization=False)
    no_format = {'config': nested['config'], 'state_dict': {}}
    yield _save(tmp_path / 'no_format.pt', no_format)


def test_the_cli_refuses_every_attack_before_creating_anything(
        tmp_path, marker, good_content, capsys):
    wav = tmp_path / 'x.wav'
    import soundfile
    soundfile.write(wav, np.zeros(800), 8000)
    for path in _cli_attack_files(tmp_path, marker, good_content):
        for trusted in ([], ['--trusted']):
            if trusted and path.name == 'config.pt':
                continue  # --trusted builds whatever the config names
            out = tmp_path / f'out_{path.stem}'
            assert main(['separate', '--model', str(path), str(wav), '-o',
                         str(out), *trusted]) == 2
            captured = capsys.readouterr()
            lines = captured.err.splitlines()
            assert len(lines) == 1 and lines[0].startswith(
                f'error: {path}'), captured.err
            assert captured.out == ''
            assert not out.exists()
            assert not marker.exists()


def test_the_cli_prints_one_line_and_no_warnings(tmp_path, marker):
    legacy = _save(tmp_path / 'legacy.pt', Payload(marker),
                   _use_new_zipfile_serialization=False)
    result = subprocess.run(
        [sys.executable, '-m', 'padertorch_audio.cli', 'separate', '-m',
         str(legacy), str(tmp_path / 'x.wav'), '-o', str(tmp_path / 'out')],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, 'PYTHONWARNINGS': 'always'})
    assert result.returncode == 2
    assert result.stderr == (f'error: {legacy}: the file is truncated or not '
                             f'a model file ({legacy.stat().st_size} '
                             f'bytes)\n')
    assert not (tmp_path / 'out').exists()


# --------------------------------------------------------------------------
# What is good keeps loading
# --------------------------------------------------------------------------

def test_a_model_file_of_the_previous_release_loads():
    """tiny_dprnn_v1.pt was written by export_model before the loader was
    rewritten, with the separated output of a fixed input."""
    model = load_model(FIXTURES / 'tiny_dprnn_v1.pt')
    assert isinstance(model, TasNet)
    assert (model.sample_rate, model.num_speakers) == (8000, 2)
    assert model.export_info['training_summary'] == {'iterations': 0}
    reference = np.load(FIXTURES / 'tiny_dprnn_v1_output.npz')
    estimate = separate(model, torch.from_numpy(reference['input']))
    np.testing.assert_allclose(estimate.numpy(), reference['output'],
                               atol=1e-5)


def test_torch_nn_classes_load_untrusted_under_their_defining_path(tmp_path):
    linear = torch.nn.Linear(3, 2)
    path = export.export_model(
        linear, tmp_path / 'linear.pt', task='toy', sample_rate=16000,
        config={'factory': 'torch.nn.Linear', 'in_features': 3,
                'out_features': 2})  # an alias: written canonically
    content = torch.load(path, weights_only=True)
    assert content['config']['factory'] == 'torch.nn.modules.linear.Linear'
    loaded = export.load_model(path, task='toy')
    torch.testing.assert_close(loaded.weight, linear.weight)
    assert loaded.sample_rate == 16000


def _padertorch_audio_module_classes():
    for info in pkgutil.walk_packages(padertorch_audio.__path__,
                                      'padertorch_audio.'):
        if info.name.endswith('__main__'):
            continue
        module = __import__(info.name, fromlist=['_'])
        for value in vars(module).values():
            if (inspect.isclass(value) and issubclass(value, torch.nn.Module)
                    and value.__module__ == info.name):
                yield value


def test_no_model_class_of_the_package_reads_files_or_takes_trust():
    """What an untrusted config may build: the constructors of the
    package's torch.nn.Module classes take no paths, files or trust."""
    classes = list(_padertorch_audio_module_classes())
    assert len(classes) >= 15
    suspicious = ('path', 'file', 'dir', 'trust', 'url', 'checkpoint',
                  'command', 'factory', 'load')
    for cls in classes:
        for name in inspect.signature(cls.__init__).parameters:
            assert not any(word in name.lower() for word in suspicious), \
                f'{cls.__module__}.{cls.__qualname__}({name}=...)'
