"""Export a separation model to one file and load it back safely.

The file format and the safety rules are those of every exported model of
this package (:mod:`padertorch_audio.export`); a separation model's file
also holds ``num_speakers``, the number of sources it separates.
"""
from padertorch_audio import export as _export
from padertorch_audio.export import FORMAT, FORMAT_VERSION, ExportedModelError

__all__ = ['export_model', 'load_model', 'ExportedModelError', 'FORMAT',
           'FORMAT_VERSION']


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
    if not isinstance(num_speakers, int) or num_speakers <= 0:
        raise ValueError(f'export_model: num_speakers must be a positive '
                         f'int, found {num_speakers!r}.')
    if getattr(model, 'num_speakers', num_speakers) != num_speakers:
        raise ValueError(
            f'export_model: num_speakers={num_speakers}, but the model '
            f'separates {model.num_speakers} sources.')
    return _export.export_model(
        model, path, task=task, sample_rate=sample_rate, config=config,
        training_summary=training_summary,
        evaluation_summary=evaluation_summary, num_speakers=num_speakers)


def load_model(path, trusted=False, task='separation'):
    """Load a separation model written by :func:`export_model`.

    Args:
        path: The file.
        trusted: Build any class or function its config names (see
            :mod:`padertorch_audio.export`: without it, only
            ``torch.nn.Module`` classes of ``padertorch_audio`` and
            ``torch.nn``); only for files you trust like code.
        task: The task the file must be for.

    Returns:
        The model in eval mode, built from the stored config with the
        stored weights, with the attributes ``sample_rate`` (Hz),
        ``num_speakers`` and ``export_info`` (``{'versions', 'task',
        'training_summary', 'evaluation_summary'}``).

    Raises:
        ExportedModelError: the file is no exported model, not one that may
            be loaded (see :func:`padertorch_audio.export.load_model`), or
            is for another task; the message names the file.
        FileNotFoundError: no such file.
    """
    model = _export.load_model(path, task=task, trusted=trusted)
    if not isinstance(getattr(model, 'num_speakers', None), int):
        raise ExportedModelError(
            f'{path}: a separation model file must say how many sources '
            f'the model separates (num_speakers).')
    return model
