"""Export a vocoder to one file and load it back safely.

The file format and the safety rules are those of every exported model of
this package (:mod:`padertorch_audio.export`), with the task ``'vocoder'``.
The model's config holds everything the conditioning needs (``n_mels``,
``sample_rate``, the STFT's ``shift``, ``window_length`` and
``stft_size``, ``fmin``, ``fmax``): the loaded model's ``log_mel`` computes
the mel frames exactly as in training, so the file needs no other
attributes.
"""
from padertorch_audio import export as _export
from padertorch_audio.export import FORMAT, FORMAT_VERSION, ExportedModelError

__all__ = ['export_model', 'load_model', 'ExportedModelError', 'FORMAT',
           'FORMAT_VERSION', 'TASK']

#: The task of a vocoder file.
TASK = 'vocoder'

#: What a model must have to be used as a vocoder (synthesize, the CLI).
VOCODER_ATTRIBUTES = ('n_mels', 'sample_rate', 'shift', 'window_length',
                      'log_mel', 'frames_needed')


def _missing(model):
    return [name for name in VOCODER_ATTRIBUTES
            if getattr(model, name, None) is None]


def export_model(model, path, *, sample_rate, task=TASK, config=None,
                 training_summary=None, evaluation_summary=None):
    """Write the vocoder ``model`` (config and weights) to the file ``path``.

    Args:
        model: A :class:`~padertorch_audio.vocoder.WaveNet` (anything with
            ``n_mels``, ``sample_rate``, ``shift``, ``window_length``,
            ``log_mel`` and ``frames_needed``); its ``state_dict`` is saved
            (moved to the CPU).
        path: The file; written atomically, its directory must exist.
        sample_rate: In Hz, the rate the model works at (must equal
            ``model.sample_rate``).
        task: What the model does (``load_model`` checks it).
        config: The config that builds ``model``; default ``model.config``.
        training_summary, evaluation_summary: JSON-serialisable values or
            None, e.g. ``{'iterations': 2000}``, ``{'means': {...}}``.

    Returns:
        ``path`` as a ``pathlib.Path``.

    Raises:
        ValueError: the model is no vocoder, or ``sample_rate`` differs from
            the model's.

    >>> import tempfile, pathlib
    >>> from padertorch_audio.vocoder import TINY_WAVENET, WaveNet
    >>> path = pathlib.Path(tempfile.mkdtemp()) / 'vocoder.pt'
    >>> _ = export_model(WaveNet.from_config(TINY_WAVENET), path,
    ...                  sample_rate=16000)
    >>> model = load_model(path)
    >>> model.n_mels, model.sample_rate, model.export_info['task']
    (8, 16000, 'vocoder')
    """
    missing = _missing(model)
    if missing:
        raise ValueError(
            f'export_model: expected a vocoder (e.g. a WaveNet) with '
            f'{", ".join(VOCODER_ATTRIBUTES)}; the {type(model).__name__} '
            f'has no {", ".join(missing)}.')
    if model.sample_rate != sample_rate:
        raise ValueError(f'export_model: sample_rate={sample_rate!r}, but '
                         f'the model works at {model.sample_rate} Hz.')
    return _export.export_model(
        model, path, task=task, sample_rate=sample_rate, config=config,
        training_summary=training_summary,
        evaluation_summary=evaluation_summary)


def load_model(path, trusted=False, task=TASK):
    """Load a vocoder written by :func:`export_model`.

    Args:
        path: The file.
        trusted: Build any class or function its config names (see
            :mod:`padertorch_audio.export`: without it, only
            ``torch.nn.Module`` classes of ``padertorch_audio`` and
            ``torch.nn``); only for files you trust like code.
        task: The task the file must be for.

    Returns:
        The model in eval mode, built from the stored config with the
        stored weights, with ``sample_rate`` (Hz) and ``export_info``
        (``{'versions', 'task', 'training_summary',
        'evaluation_summary'}``).

    Raises:
        ExportedModelError: the file is no exported model, not one that may
            be loaded (see :func:`padertorch_audio.export.load_model`), is
            for another task (the message names it, e.g. a separation
            model), or its model is no vocoder; the message names the file.
        FileNotFoundError: no such file.
    """
    try:
        model = _export.load_model(path, task=task, trusted=trusted)
    except ExportedModelError:
        found = _task_of(path)
        if found in (None, task):
            raise
        command = {'separation': ' (for padertorch-audio separate)',
                   'speaker_classification': ' (for padertorch-audio '
                   'classify, embed and verify)'}.get(found, '')
        raise ExportedModelError(
            f'{path}: is a {found} model{command}, expected a vocoder model '
            f'(task {task!r})') from None
    missing = _missing(model)
    if missing:
        raise ExportedModelError(
            f'{path}: its config builds a {type(model).__name__} without '
            f'{", ".join(missing)}, expected a vocoder (e.g. a WaveNet)')
    return model


def _task_of(path):
    """The task a model file says it is for; None when it cannot be read."""
    try:
        return _export.read_model_file(path).get('task')
    except Exception:  # noqa: BLE001 - the loader's error says why
        return None
