"""Export a speaker model to one file and load it back safely.

The file format and the safety rules are those of every exported model of
this package (:mod:`padertorch_audio.export`); a speaker model's file also
holds

- ``speakers``: the speaker label of each class index (a list of
  ``num_classes`` strings), so that the logits can be named, and
- ``eer_threshold``: the cosine similarity of two embeddings at the
  equal-error-rate operating point of the verification evaluation (a float,
  or None when the model was not evaluated), the default decision
  threshold for "same speaker".
"""
import math
import numbers

from padertorch_audio import export as _export
from padertorch_audio.export import FORMAT, FORMAT_VERSION, ExportedModelError

__all__ = ['export_model', 'load_model', 'ExportedModelError', 'FORMAT',
           'FORMAT_VERSION', 'TASK']

#: The task of a speaker model file.
TASK = 'speaker_classification'


def _threshold(value):
    """``value`` as a finite float or None; else None and the reason."""
    if value is None:
        return None, None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not math.isfinite(value):
        return None, f'a finite float or None, found {value!r}'
    return float(value), None


def export_model(model, path, *, sample_rate, speakers, eer_threshold=None,
                 task=TASK, config=None, training_summary=None,
                 evaluation_summary=None):
    """Write ``model`` (config and weights) to the file ``path``.

    Args:
        model: A ``torch.nn.Module`` with ``num_classes`` (e.g. a
            :class:`~padertorch_audio.classification.SpeakerClassifier`);
            its ``state_dict`` is saved (moved to the CPU).
        path: The file; written atomically, its directory must exist.
        sample_rate: In Hz, the rate the model works at (must equal
            ``model.sample_rate`` where the model has one).
        speakers: The speaker label of each class index: a list of
            ``model.num_classes`` strings.
        eer_threshold: The cosine threshold of the verification EER
            operating point, or None.
        task: What the model does (``load_model`` checks it).
        config: The config that builds ``model``; default ``model.config``.
        training_summary, evaluation_summary: JSON-serialisable values or
            None, e.g. ``{'iterations': 2000, 'accuracy': 0.97}``.

    Returns:
        ``path`` as a ``pathlib.Path``.

    Raises:
        ValueError: ``speakers`` is not a list of ``num_classes`` strings,
            ``eer_threshold`` is not a finite number or None, or
            ``sample_rate`` differs from the model's.
    """
    num_classes = getattr(model, 'num_classes', None)
    if not isinstance(num_classes, int):
        raise ValueError(f'export_model: the model ({type(model).__name__}) '
                         f'has no num_classes.')
    if not (isinstance(speakers, (list, tuple))
            and all(isinstance(label, str) for label in speakers)):
        raise ValueError(f'export_model: speakers must be a list of strings '
                         f'(the speaker of each class index), found '
                         f'{speakers!r:.200}.')
    if len(speakers) != num_classes:
        raise ValueError(f'export_model: {len(speakers)} speakers given, '
                         f'but the model has num_classes={num_classes}.')
    eer_threshold, problem = _threshold(eer_threshold)
    if problem:
        raise ValueError(f'export_model: eer_threshold must be {problem}.')
    if getattr(model, 'sample_rate', sample_rate) != sample_rate:
        raise ValueError(f'export_model: sample_rate={sample_rate!r}, but '
                         f'the model works at {model.sample_rate} Hz.')
    return _export.export_model(
        model, path, task=task, sample_rate=sample_rate, config=config,
        training_summary=training_summary,
        evaluation_summary=evaluation_summary, speakers=list(speakers),
        eer_threshold=eer_threshold)


def load_model(path, trusted=False, task=TASK):
    """Load a speaker model written by :func:`export_model`.

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
        ``speakers`` (list of ``num_classes`` str), ``eer_threshold``
        (float or None) and ``export_info`` (``{'versions', 'task',
        'training_summary', 'evaluation_summary'}``).

    Raises:
        ExportedModelError: the file is no exported model, not one that may
            be loaded (see :func:`padertorch_audio.export.load_model`), is
            for another task, or has no valid ``speakers`` /
            ``eer_threshold``; the message names the file.
        FileNotFoundError: no such file.
    """
    model = _export.load_model(path, task=task, trusted=trusted)
    speakers = getattr(model, 'speakers', None)
    num_classes = getattr(model, 'num_classes', None)
    if not (isinstance(speakers, list)
            and all(isinstance(label, str) for label in speakers)
            and len(speakers) == num_classes):
        found = (f'{len(speakers)} labels' if isinstance(speakers, list)
                 else repr(speakers))
        raise ExportedModelError(
            f'{path}: a speaker model file must hold speakers, a list of '
            f'num_classes={num_classes} strings (the speaker of each '
            f'class), found {found}.')
    eer_threshold, problem = _threshold(getattr(model, 'eer_threshold', None))
    if problem:
        raise ExportedModelError(f'{path}: eer_threshold must be {problem}.')
    model.eer_threshold = eer_threshold
    return model
