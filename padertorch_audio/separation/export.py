"""Export a trained model to one file and load it back safely.

File format (a ``torch.save``'d dict that ``torch.load(weights_only=True)``
reads, i.e. only tensors and plain Python values)::

    {'format': 'padertorch_audio.exported_model', 'format_version': 1,
     'task': 'separation',
     'config': {...},          # complete config, rebuilds the model
     'state_dict': {...},      # its parameters and buffers
     'sample_rate': 8000, 'num_speakers': 2,
     'versions': {'padertorch_audio': ..., 'torch': ..., 'python': ...},
     'training_summary': ..., 'evaluation_summary': ...}  # JSON-like or None

The config comes from the ``config`` argument of :func:`export_model`, or
else from the model itself: the models of this package record their
constructor arguments (``model.config``), however they were built.

:func:`load_model` builds only factories from ``padertorch_audio.`` and
``torch.`` (without torch's own loaders: ``torch.hub``, ``torch.load``,
``torch.package``, ``torch.jit``, ``torch.utils``) unless ``trusted=True``.
This guards against a config that imports and calls arbitrary code; it is
no sandbox, so load files from untrusted sources with care all the same.
"""
import json
import platform
from pathlib import Path

import torch

import padertorch_audio
from padertorch_audio.configurable import build, get_config
from padertorch_audio.io import atomic_write
from padertorch_audio.separation._config import config_of

__all__ = ['export_model', 'load_model', 'ExportedModelError', 'FORMAT',
           'FORMAT_VERSION']

FORMAT = 'padertorch_audio.exported_model'
FORMAT_VERSION = 1

#: Factory prefixes that load_model builds without ``trusted=True`` ...
SAFE_PREFIXES = ('padertorch_audio.', 'torch.')
#: ... except these, which load or compile code.
UNSAFE_PREFIXES = ('torch.hub', 'torch.load', 'torch.package', 'torch.jit',
                   'torch.utils', 'torch.ops', 'torch.classes')


class ExportedModelError(ValueError):
    """A file is no exported model, or not one that may be loaded."""


def _check_summary(name, summary):
    if summary is None:
        return None
    try:
        return json.loads(json.dumps(summary))
    except (TypeError, ValueError) as error:
        raise ValueError(
            f'export_model: {name} must be JSON-serialisable (numbers, '
            f'strings, lists, dicts), found {type(summary).__name__}: '
            f'{error}') from None


def export_model(model, path, *, sample_rate, num_speakers,
                 task='separation', config=None, training_summary=None,
                 evaluation_summary=None):
    """Write ``model`` (config and weights) to the file ``path``.

    Args:
        model: A ``torch.nn.Module``; its ``state_dict`` is saved (moved to
            the CPU).
        path: The file; written atomically (a reader never sees half a
            file), its directory must exist.
        sample_rate: In Hz, the rate the model works at.
        num_speakers: Sources the model separates.
        task: What the model does (``load_model`` checks it).
        config: The config that builds ``model``; default ``model.config``
            (recorded by the models of this package).
        training_summary, evaluation_summary: JSON-serialisable values or
            None, e.g. ``{'iterations': 200000, 'si_sdr_improvement': 16.4}``.

    Returns:
        ``path`` as a ``pathlib.Path``.
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f'export_model: expected a torch.nn.Module, found '
                        f'{type(model).__name__}.')
    config = get_config(config_of(model) if config is None else config)
    if not isinstance(sample_rate, int) or sample_rate <= 0:
        raise ValueError(f'export_model: sample_rate must be a positive int '
                         f'(Hz), found {sample_rate!r}.')
    if not isinstance(num_speakers, int) or num_speakers <= 0:
        raise ValueError(f'export_model: num_speakers must be a positive '
                         f'int, found {num_speakers!r}.')
    if getattr(model, 'num_speakers', num_speakers) != num_speakers:
        raise ValueError(
            f'export_model: num_speakers={num_speakers}, but the model '
            f'separates {model.num_speakers} sources.')
    content = {
        'format': FORMAT,
        'format_version': FORMAT_VERSION,
        'task': task,
        'config': config,
        'state_dict': {name: tensor.detach().cpu() for name, tensor
                       in model.state_dict().items()},
        'sample_rate': sample_rate,
        'num_speakers': num_speakers,
        'versions': {'padertorch_audio': str(padertorch_audio.__version__),
                     'torch': str(torch.__version__),
                     'python': platform.python_version()},
        'training_summary': _check_summary('training_summary',
                                           training_summary),
        'evaluation_summary': _check_summary('evaluation_summary',
                                             evaluation_summary),
    }
    path = Path(path)
    with atomic_write(path, 'wb') as file:
        torch.save(content, file)
    return path


def _factories(config):
    """All ``'factory'`` values in a nested config."""
    if isinstance(config, dict):
        if 'factory' in config:
            yield config['factory']
        for value in config.values():
            yield from _factories(value)
    elif isinstance(config, (list, tuple)):
        for value in config:
            yield from _factories(value)


def _is_safe(factory):
    return (isinstance(factory, str)
            and factory.startswith(SAFE_PREFIXES)
            and not any(factory == p or factory.startswith(p + '.')
                        for p in UNSAFE_PREFIXES))


def _reason(error):
    """The informative line of a torch.load error."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    for line in lines:
        if 'WeightsUnpickler error' in line:
            return line
    return lines[0] if lines else ''


def load_model(path, trusted=False, task='separation'):
    """Load a model written by :func:`export_model`.

    Args:
        path: The file.
        trusted: Also build factories outside ``padertorch_audio.`` and
            ``torch.`` (see the module doc).
        task: The task the file must be for.

    Returns:
        The model in eval mode, built from the stored config with the
        stored weights, with the attributes ``sample_rate`` (Hz),
        ``num_speakers`` and ``export_info`` (``{'versions', 'task',
        'training_summary', 'evaluation_summary'}``).

    Raises:
        ExportedModelError: the file cannot be read by ``torch.load(...,
            weights_only=True)``, is no exported model (e.g. a plain state
            dict or a checkpoint), has an unknown format version, is for
            another task, or its config names a factory that is not
            allowed; the message names the file.
        FileNotFoundError: no such file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'load_model: no such file: {path}')
    try:
        content = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as error:  # any unreadable or unsafe pickle
        raise ExportedModelError(
            f'{path} is not an exported model: torch.load(weights_only=True) '
            f'cannot read it ({type(error).__name__}: '
            f'{_reason(error)}).') from None
    if not isinstance(content, dict) or content.get('format') != FORMAT:
        found = (f"keys {sorted(map(str, content))[:5]}"
                 if isinstance(content, dict) else type(content).__name__)
        raise ExportedModelError(
            f"{path} is not an exported model: expected a dict with "
            f"'format': {FORMAT!r} (written by export_model), found {found}.")
    if content.get('format_version') != FORMAT_VERSION:
        raise ExportedModelError(
            f'{path} has format_version {content.get("format_version")!r}; '
            f'this padertorch_audio reads version {FORMAT_VERSION}.')
    if content.get('task') != task:
        raise ExportedModelError(
            f'{path} holds a model for the task {content.get("task")!r}, '
            f'expected {task!r}.')
    config = content['config']
    if not trusted:
        unsafe = sorted({str(f) for f in _factories(config)
                         if not _is_safe(f)})
        if unsafe:
            raise ExportedModelError(
                f'{path}: its config names factories outside '
                f'padertorch_audio and torch: {", ".join(unsafe)}. Load it '
                f'with trusted=True only if you trust the file.')
    model = build(get_config(config))
    if not isinstance(model, torch.nn.Module):
        raise ExportedModelError(
            f'{path}: its config builds a {type(model).__name__}, not a '
            f'torch.nn.Module.')
    model.load_state_dict(content['state_dict'])
    model.eval()
    for name in ('sample_rate', 'num_speakers'):
        if isinstance(getattr(type(model), name, None), property):
            if getattr(model, name) != content[name]:
                raise ExportedModelError(
                    f'{path}: the model has {name}={getattr(model, name)!r}, '
                    f'the file says {content[name]!r}.')
        else:
            setattr(model, name, content[name])
    model.export_info = {key: content.get(key) for key in (
        'versions', 'task', 'training_summary', 'evaluation_summary')}
    return model
