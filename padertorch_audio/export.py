"""Exported model files: one file per trained model, safe to load.

Every model type of this package (separation, and the classification and
vocoder models) is exported and loaded by the two functions here; the
domain packages add only their own checks (e.g.
:func:`padertorch_audio.separation.export_model` checks ``num_speakers``).

File format: a zip archive written by ``torch.save`` that holds one dict of
tensors and JSON data::

    {'format': 'padertorch_audio.exported_model', 'format_version': 1,
     'task': 'separation',
     'config': {...},          # complete config, rebuilds the model
     'state_dict': {...},      # its parameters and buffers (CPU tensors)
     'sample_rate': 8000,      # Hz
     'versions': {'padertorch_audio': ..., 'torch': ..., 'python': ...},
     'training_summary': ..., 'evaluation_summary': ...,  # JSON or None
     'num_speakers': 2, ...}   # the task's attributes (JSON values)

Loading a file from someone else must not run their code. What
:func:`load_model` accepts is defined by what is known to be good, checked
before anything is called:

1. The file must be a ``torch.save`` zip archive (not the legacy format,
   not TorchScript). Its pickle is read
   instruction by instruction (without running it) and may only use the
   instructions that tensors, dicts, lists, strings and numbers need, and
   only these Python objects: the function that rebuilds a tensor, tensor
   storage types and ``collections.OrderedDict``. Anything else (a
   ``__reduce__`` payload, any other class or function) is refused, and
   the message names it.
2. Then ``torch.load(weights_only=True)`` reads it (torch's own allow-list
   as a second line), and the result must be plain data: the config JSON
   only, the state dict tensors only.
3. Without ``trusted=True``, every ``'factory'`` in the config, nested ones
   too, must name a ``torch.nn.Module`` subclass defined in
   ``padertorch_audio`` or ``torch.nn`` under exactly that path (the class's
   own ``__module__`` + ``__qualname__``; no aliases, no walking through
   module attributes, see :func:`padertorch_audio.configurable.import_class`).
   Functions, modules, builtins and everything else are refused before
   any of the config is built; the keyword values are JSON data.

``trusted=True`` lifts rule 3 only (any factory the config names is
imported and called): use it for files you wrote yourself or trust like
code. Rules 1 and 2 always hold.
"""
import _compat_pickle
import inspect
import io
import json
import pickletools
import platform
import warnings
from pathlib import Path

import torch

import padertorch_audio
from padertorch_audio.configurable import (
    ConfigError, build, factory_to_str, get_config, import_class,
    import_factory)
from padertorch_audio.io import atomic_write

__all__ = ['export_model', 'load_model', 'read_model_file',
           'ExportedModelError', 'FORMAT', 'FORMAT_VERSION',
           'MODEL_PACKAGES']

FORMAT = 'padertorch_audio.exported_model'
FORMAT_VERSION = 1

#: Where the classes of an untrusted file's config may be defined.
MODEL_PACKAGES = ('padertorch_audio', 'torch.nn')

#: The keys every file has; the others are the task's attributes, which
#: :func:`load_model` sets on the model.
_FILE_KEYS = frozenset({
    'format', 'format_version', 'task', 'config', 'state_dict', 'versions',
    'training_summary', 'evaluation_summary'})

#: The Python objects that the pickle of a file written by export_model
#: refers to (torch.save of a dict of tensors and JSON data).
_KNOWN_GOOD_GLOBALS = frozenset({
    'collections.OrderedDict',           # tensor metadata (backward hooks)
    'torch._utils._rebuild_tensor_v2',   # a tensor from its storage
    *(f'torch.{kind}Storage' for kind in (
        'Float', 'Double', 'Half', 'BFloat16', 'Long', 'Int', 'Short',
        'Char', 'Byte', 'Bool', 'ComplexFloat', 'ComplexDouble')),
})

#: The pickle instructions those need (protocol 2, torch.save's default).
_KNOWN_GOOD_OPCODES = frozenset({
    'PROTO', 'STOP', 'GLOBAL', 'REDUCE', 'BINPERSID', 'MARK',
    'BUILD',  # the attributes of an OrderedDict (a state dict's _metadata)
    'EMPTY_DICT', 'EMPTY_LIST', 'EMPTY_TUPLE', 'TUPLE', 'TUPLE1', 'TUPLE2',
    'TUPLE3', 'SETITEM', 'SETITEMS', 'APPEND', 'APPENDS',
    'BINPUT', 'LONG_BINPUT', 'BINGET', 'LONG_BINGET',
    'NONE', 'NEWTRUE', 'NEWFALSE', 'BININT', 'BININT1', 'BININT2', 'LONG1',
    'BINFLOAT', 'BINUNICODE',
})

_STRING_OPCODES = frozenset({'SHORT_BINUNICODE', 'BINUNICODE',
                             'BINUNICODE8', 'UNICODE', 'STRING',
                             'BINSTRING', 'SHORT_BINSTRING'})


class ExportedModelError(ValueError):
    """A file is no exported model, or not one that may be loaded."""


# --------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------

def _json_data(name, value):
    """A JSON copy of ``value`` or a ValueError naming ``name``."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as error:
        raise ValueError(
            f'export_model: {name} must be JSON-serialisable (numbers, strings, '
            f'lists, dicts), found {type(value).__name__}: {error}') from None


def _canonical_factories(config):
    """``config`` with every class factory written as the path where the
    class is defined (the only form load_model accepts)."""
    if isinstance(config, dict):
        config = {key: _canonical_factories(value)
                  for key, value in config.items()}
        if 'factory' in config:
            factory = import_factory(config['factory'])
            if inspect.isclass(factory):
                config['factory'] = factory_to_str(factory)
        return config
    if isinstance(config, list):
        return [_canonical_factories(value) for value in config]
    return config


def export_model(model, path, *, task, sample_rate, config=None,
                 training_summary=None, evaluation_summary=None,
                 **attributes):
    """Write ``model`` (config and weights) to the file ``path``.

    Args:
        model: A ``torch.nn.Module``; its ``state_dict`` is saved (moved to
            the CPU).
        path: The file; written atomically (a reader never sees half a
            file), its directory must exist.
        task: What the model does, e.g. ``'separation'``
            (:func:`load_model` checks it).
        sample_rate: In Hz, the rate the model works at.
        config: The config that builds ``model``; default ``model.config``
            (recorded by the models of this package).
        training_summary, evaluation_summary: JSON data or None, e.g.
            ``{'iterations': 200000, 'si_sdr_improvement': 16.4}``.
        **attributes: JSON values that :func:`load_model` sets as
            attributes of the loaded model, e.g. ``num_speakers=2``.

    Returns:
        ``path`` as a ``pathlib.Path``.
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f'export_model: expected a torch.nn.Module, found '
                        f'{type(model).__name__}.')
    if config is None:
        config = getattr(model, 'config', None)
        if not isinstance(config, dict):
            raise ConfigError(
                f'export_model: {type(model).__name__} does not record its '
                f'constructor arguments (no .config); build it from a '
                f'config, or pass config=.')
    config = _canonical_factories(_json_data('config', get_config(config)))
    if not isinstance(task, str) or not task:
        raise ValueError(f'export_model: task must be a non-empty string, '
                         f'found {task!r}.')
    if not isinstance(sample_rate, int) or sample_rate <= 0:
        raise ValueError(f'export_model: sample_rate must be a positive int '
                         f'(Hz), found {sample_rate!r}.')
    for name in attributes:
        if name in _FILE_KEYS or not name.isidentifier() or name[0] == '_':
            raise ValueError(f'export_model: {name!r} cannot be an '
                             f'attribute of an exported model.')
    content = {
        'format': FORMAT,
        'format_version': FORMAT_VERSION,
        'task': task,
        'config': config,
        'state_dict': {name: tensor.detach().cpu().clone() for name, tensor
                       in model.state_dict().items()},
        'sample_rate': sample_rate,
        'versions': {'padertorch_audio': str(padertorch_audio.__version__),
                     'torch': str(torch.__version__),
                     'python': platform.python_version()},
        'training_summary': _json_data('training_summary', training_summary),
        'evaluation_summary': _json_data('evaluation_summary',
                                         evaluation_summary),
        **{name: _json_data(name, value)
           for name, value in attributes.items()},
    }
    path = Path(path)
    with atomic_write(path, 'wb') as file:
        torch.save(content, file)
    return path


# --------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------

def _not_a_model_file(path, size):
    return ExportedModelError(
        f'{path}: the file is truncated or not a model file ({size} bytes)')


def _pickle_of(path, data):
    """The pickle inside the torch.save zip archive ``data``.

    Read with the zip reader that torch.load itself uses, so that the
    pickle checked here is the one torch.load runs.
    """
    try:
        reader = torch._C.PyTorchFileReader(io.BytesIO(data))
        records = reader.get_all_records()
        if 'constants.pkl' in records or any(
                name.startswith('code/') for name in records):
            raise ExportedModelError(
                f'{path}: the file is a TorchScript archive, not a model '
                f'file (written by export_model)')
        return reader.get_record('data.pkl')
    except ExportedModelError:
        raise
    except Exception:  # noqa: BLE001 - no zip archive, or a damaged one
        raise _not_a_model_file(path, len(data)) from None


def _python3_name(module, name):
    """``module.name`` as Python 3 knows it (protocol 2 pickles write
    ``__builtin__.exec`` for ``builtins.exec``)."""
    module, name = _compat_pickle.NAME_MAPPING.get(
        (module, name), (_compat_pickle.IMPORT_MAPPING.get(module, module),
                         name))
    return f'{module}.{name}'


def _stack_global_name(previous):
    """'module.name' of a STACK_GLOBAL whose operands were pushed just
    before it (for the message only: the instruction is refused anyway)."""
    strings = [arg for name, arg in previous if name in _STRING_OPCODES]
    if len(previous) >= 2 and len(strings) == 2:
        return '.'.join(strings)
    return 'an object named at run time (STACK_GLOBAL)'


def _check_pickle(path, data, size):
    """Refuse a pickle that needs more than tensors and JSON data, before
    anything of it runs; names the objects it refers to."""
    foreign, instructions, previous = set(), set(), []
    try:
        for opcode, arg, _ in pickletools.genops(data):
            name = opcode.name
            if name == 'GLOBAL':
                module, _, attribute = arg.partition(' ')
                if f'{module}.{attribute}' not in _KNOWN_GOOD_GLOBALS:
                    foreign.add(_python3_name(module, attribute))
            elif name == 'INST':
                foreign.add(_python3_name(*arg.split(' ', 1)))
            elif name == 'STACK_GLOBAL':
                global_name = _stack_global_name(previous)
                if global_name not in _KNOWN_GOOD_GLOBALS:
                    foreign.add(global_name)
            if name not in _KNOWN_GOOD_OPCODES:
                instructions.add(name)
            if name not in ('MEMOIZE', 'BINPUT', 'LONG_BINPUT', 'PUT'):
                previous = [*previous[-1:], (name, arg)]
    except Exception:  # noqa: BLE001 - a truncated or corrupt pickle
        raise _not_a_model_file(path, size) from None
    if foreign:
        raise ExportedModelError(
            f'{path}: the file contains Python objects that a model file may '
            f'not hold: {", ".join(sorted(foreign))}')
    if instructions:  # e.g. a protocol-4 pickle of nothing but tensors
        raise ExportedModelError(
            f'{path}: the file uses pickle instructions that a model file '
            f'does not need ({", ".join(sorted(instructions))}); it was not '
            f'written by export_model')


def _check_json(value, where):
    """Raise unless ``value`` is JSON data; ``where`` names its place."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f'{where} has the key {key!r}, keys must be '
                                f'strings')
            _check_json(item, f'{where}.{key}')
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_json(item, f'{where}[{index}]')
    elif not (value is None or type(value) in (bool, int, float, str)):
        raise TypeError(f'{where} is a {type(value).__name__}, expected '
                        f'JSON data')


def _check_content(path, content):
    """The loaded dict must be tensors (state dict) and JSON data."""
    try:
        for key, value in content.items():
            if not isinstance(key, str):
                raise TypeError(f'the key {key!r} is not a string')
            if key == 'state_dict':
                if not isinstance(value, dict):
                    raise TypeError(f'state_dict is a {type(value).__name__},'
                                    f' expected a dict of tensors')
                for name, tensor in value.items():
                    if not (isinstance(name, str)
                            and type(tensor) is torch.Tensor):
                        raise TypeError(
                            f'state_dict[{name!r}] is a '
                            f'{type(tensor).__name__}, expected a tensor')
            else:
                _check_json(value, key)
    except (TypeError, RecursionError) as error:
        raise ExportedModelError(f'{path}: not a valid model file: '
                                 f'{error}') from None


def read_model_file(path, task=None):
    """The checked content of an exported model file; builds nothing.

    Args:
        path: The file.
        task: The task the file must be for; None: any.

    Returns:
        The dict described in the module doc: ``'config'`` and the other
        values are JSON data, ``'state_dict'`` maps names to tensors.

    Raises:
        FileNotFoundError: no such file.
        ExportedModelError: the file is empty, truncated, not a model file,
            holds Python objects other than tensors and JSON data, has an
            unknown format version or is for another task; the message
            names the file and says why, in one line.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'load_model: no such file: {path}')
    data = path.read_bytes()  # once: what is checked is what is loaded
    if not data:
        raise ExportedModelError(f'{path}: the file is empty')
    _check_pickle(path, _pickle_of(path, data), len(data))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            content = torch.load(io.BytesIO(data), map_location='cpu',
                                 weights_only=True)
    except Exception:  # noqa: BLE001 - e.g. a storage record is missing
        raise _not_a_model_file(path, len(data)) from None
    if not isinstance(content, dict) or content.get('format') != FORMAT:
        found = (f"keys {sorted(map(str, content))[:5]}"
                 if isinstance(content, dict) else type(content).__name__)
        raise ExportedModelError(
            f"{path} is not an exported model: expected a dict with "
            f"'format': {FORMAT!r} (written by export_model), found {found}.")
    _check_content(path, content)
    if content.get('format_version') != FORMAT_VERSION:
        raise ExportedModelError(
            f'{path} has format_version {content.get("format_version")!r}; '
            f'this padertorch_audio reads version {FORMAT_VERSION}.')
    if task is not None and content.get('task') != task:
        raise ExportedModelError(
            f'{path} holds a model for the task {content.get("task")!r}, '
            f'expected {task!r}.')
    missing = sorted({'config', 'state_dict', 'sample_rate'} - set(content))
    if missing or not isinstance(content['config'], dict):
        raise ExportedModelError(
            f'{path}: not a valid model file: '
            + (f'no {", ".join(missing)}' if missing else
               'its config is not a dict'))
    return content


def _model_classes(path, config):
    """``{factory path: class}`` of every factory in ``config``, each one a
    torch.nn.Module subclass of :data:`MODEL_PACKAGES`; else an error that
    lists every one that is not."""
    classes, refused = {}, []

    def visit(value, where):
        if isinstance(value, dict):
            if 'factory' in value:
                name = value['factory']
                try:
                    classes[name] = import_class(
                        name, base=torch.nn.Module, packages=MODEL_PACKAGES)
                except (ConfigError, ImportError) as error:
                    refused.append(f'{where or "config"}.factory = {error}')
            for key, item in value.items():
                visit(item, f'{where}.{key}' if where else key)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                visit(item, f'{where}[{index}]')

    visit(config, '')
    if refused:
        raise ExportedModelError(
            f'{path}: its config names what a model file may not build: '
            f'{"; ".join(refused)}. Only torch.nn.Module classes of '
            f'{" and ".join(MODEL_PACKAGES)} are built; load it with '
            f'trusted=True (--trusted) only if you trust the file like '
            f'code.')
    return classes


def _set_attributes(path, model, content):
    """Set the task's attributes (``sample_rate``, ...) on ``model``; one
    it already has (e.g. a property) must agree, and no method, module or
    tensor of it is replaced."""
    for name, value in content.items():
        if name in _FILE_KEYS:
            continue
        if not name.isidentifier() or name.startswith('_'):
            raise ExportedModelError(
                f'{path}: not a valid model file: {name!r} is no attribute '
                f'name')
        if not hasattr(model, name):
            setattr(model, name, value)
            continue
        current = getattr(model, name)
        if callable(current) or isinstance(current, torch.Tensor):
            raise ExportedModelError(
                f'{path}: not a valid model file: it sets {name!r}, which '
                f'is a {type(current).__name__} of the model')
        if current != value:
            raise ExportedModelError(
                f'{path}: the model has {name}={current!r}, the file says '
                f'{value!r}.')


def load_model(path, *, task=None, trusted=False):
    """Load a model written by :func:`export_model` (see the module doc for
    what a file may hold).

    Args:
        path: The file.
        task: The task the file must be for; None: any.
        trusted: Build any factory the config names (only for files you
            trust like code).

    Returns:
        The model in eval mode, built from the stored config with the
        stored weights, with the attributes ``sample_rate`` (Hz), the
        task's attributes (e.g. ``num_speakers``) and ``export_info``
        (``{'versions', 'task', 'training_summary', 'evaluation_summary'}``).

    Raises:
        FileNotFoundError: no such file.
        ExportedModelError: see :func:`read_model_file`; also a config that
            names anything but a model class of :data:`MODEL_PACKAGES`
            (without ``trusted``), or weights that do not fit the model.
    """
    content = read_model_file(path, task)
    config = content['config']
    if trusted:
        resolve, config = import_factory, get_config(config)
    else:
        resolve = _model_classes(path, config).__getitem__
    try:
        model = build(config, resolve)
    except Exception as error:  # noqa: BLE001 - a config that does not fit
        raise ExportedModelError(
            f'{path}: cannot build the model from its config '
            f'({type(error).__name__}: {error})') from None
    if not isinstance(model, torch.nn.Module):
        raise ExportedModelError(
            f'{path}: its config builds a {type(model).__name__}, not a '
            f'torch.nn.Module.')
    try:
        model.load_state_dict(content['state_dict'])
    except RuntimeError as error:
        reason = ' '.join(str(error).split())
        raise ExportedModelError(
            f'{path}: the weights do not fit the model its config builds: '
            f'{reason}') from None
    model.eval()
    _set_attributes(path, model, content)
    model.export_info = {key: content.get(key) for key in (
        'versions', 'task', 'training_summary', 'evaluation_summary')}
    return model
