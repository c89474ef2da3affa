"""Applying an exported model to audio files: what the file functions of
the domain packages share (:func:`padertorch_audio.separation.separate_files`,
:mod:`padertorch_audio.classification.files`) and what the
``padertorch-audio`` commands print of it.

- :func:`load_model_file`: a model, or the one of a model file (a missing
  or unloadable file is one error that names it);
- :func:`warn_if_toy_model`: one :class:`ToyModelWarning` for a model whose
  file says it was trained on the toy corpus;
- :func:`read_input`: one input file as a mono float32 signal (a channel,
  or the mean of all), with a note when channels were dropped or averaged;
- :func:`process_files`: the loop over the inputs in which a bad file gets
  its error (``'<path>: <reason>'``) and the others go on;
- :func:`print_notes`: a result's ``note:`` and ``error:`` lines on stderr.
"""
import logging
import os
import sys
import warnings
from pathlib import Path

import numpy as np

__all__ = ['FilesError', 'InputFileError', 'ToyModelWarning',
           'trained_on_toy_corpus', 'warn_if_toy_model', 'load_model_file',
           'read_input', 'process_files', 'print_notes', 'reason',
           'same_file']

log = logging.getLogger(__name__)


class FilesError(ValueError):
    """Nothing was processed: the model cannot be loaded, or an output
    would overwrite an input. The message starts with the file at fault."""


class InputFileError(Exception):
    """One input file cannot be processed; the message is ``'<path>:
    <reason>'``."""


class ToyModelWarning(UserWarning):
    """The model was trained on a toy corpus (a demonstration model)."""


def reason(path, error):
    """``'<path>: <reason>'``; messages that start with the path (the
    library's errors name their file) are not prefixed twice.

    >>> reason('a.wav', ValueError('not audio'))
    'a.wav: not audio'
    >>> reason('a.wav', ValueError('a.wav: not audio'))
    'a.wav: not audio'
    >>> reason('a.wav', KeyError())
    'a.wav: KeyError'
    """
    message = str(error).strip() or type(error).__name__
    if not message.startswith(str(path)):
        message = f'{path}: {message}'
    return message


def same_file(a, b):
    """Whether the paths ``a`` and ``b`` name one file (also through links,
    hard links included); a path that does not exist is no other file."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def trained_on_toy_corpus(model):
    """Whether an exported model's file says it was trained on a toy corpus
    (``training_summary['corpus'] == 'toy'``, see
    :func:`padertorch_audio.recipe.export_experiment`)."""
    summary = (getattr(model, 'export_info', None) or {}).get(
        'training_summary')
    return isinstance(summary, dict) and summary.get('corpus') == 'toy'


def warn_if_toy_model(model, name, consequence, stacklevel=2):
    """Warn (:class:`ToyModelWarning`) when ``model`` was trained on the
    toy corpus: ``'<name> was trained on the toy corpus (synthetic voices):
    <consequence>'``.

    Args:
        model: A loaded model (see :func:`trained_on_toy_corpus`).
        name: How the message names the model (its file).
        consequence: What that means for real recordings, and what to do.
        stacklevel: As for ``warnings.warn``, counted from the caller.
    """
    if trained_on_toy_corpus(model):
        warnings.warn(f'{name} was trained on the toy corpus (synthetic '
                      f'voices): {consequence}', ToyModelWarning,
                      stacklevel=stacklevel + 1)


def load_model_file(model, load, *, trusted=False, error=FilesError):
    """``(model, protected files)``: ``model`` itself (and no files) when it
    is a model, else the model that ``load(path, trusted=trusted)`` loads
    from the file ``model`` (and ``[model]``: a file that outputs must not
    overwrite).

    Raises:
        error: (``FilesError`` or a subclass) the file is missing or cannot
            be loaded; the message starts with the file and says why.
    """
    if not isinstance(model, (str, os.PathLike)):
        return model, []
    if not Path(model).is_file():
        raise error(f'{model}: is a directory, expected a model file'
                    if Path(model).is_dir() else
                    f'{model}: no such model file')
    try:
        return load(model, trusted=trusted), [model]
    except Exception as caught:  # noqa: BLE001 - the loaders name the file
        raise error(reason(model, caught)) from None


def read_input(path, *, channel=None, mixdown=False, notes=None):
    """Read an input audio file as one channel.

    Args:
        path: The file (anything libsndfile reads).
        channel: The channel (from 0) of a multi-channel file; default 0
            (with a note saying so).
        mixdown: Average the channels instead (with a note).
        notes: A list that gets the notes (``'<path>: ...'``); None: they
            are logged (info).

    Returns:
        ``(signal, sample_rate, subtype)``: ``(samples,)`` float32 in
        [-1, 1], Hz, and the file's libsndfile subtype (e.g. ``'PCM_16'``).

    Raises:
        InputFileError: a directory, an empty, truncated or unreadable file,
            no samples, or a ``channel`` the file does not have.
    """
    import soundfile

    from padertorch_audio.io import read_audio
    if channel is not None and mixdown:
        raise ValueError('read_input: give channel or mixdown, not both.')
    path = Path(path)
    if path.is_dir():
        raise InputFileError(f'{path}: is a directory, expected an audio '
                             f'file')
    if path.is_file() and path.stat().st_size == 0:
        raise InputFileError(f'{path}: empty file (0 bytes)')
    try:
        signal, sample_rate = read_audio(path, dtype='float32')
        subtype = soundfile.info(str(path)).subtype
    except Exception as error:  # noqa: BLE001 - io.AudioFileError and more
        raise InputFileError(reason(path, error)) from None
    num_channels = 1 if signal.ndim == 1 else signal.shape[0]
    if channel is not None and channel >= num_channels:
        raise InputFileError(
            f'{path}: --channel {channel} does not exist, the file has '
            f'{num_channels} channel{"s" if num_channels > 1 else ""}')
    note = None
    if signal.ndim == 2:
        if mixdown:
            signal = signal.mean(axis=0)
            note = f'{path}: {num_channels} channels, averaged (--mixdown)'
        else:
            signal = signal[channel or 0]
            if channel is None:
                note = (f'{path}: {num_channels} channels, using channel 0 '
                        f'(choose with --channel N or --mixdown)')
    if note and notes is None:
        log.info('%s', note)
    elif note:
        notes.append(note)
    return np.ascontiguousarray(signal, dtype=np.float32), sample_rate, \
        subtype


def _log_result(result):
    for note in result.notes:
        log.info('%s', note)
    if result.error:
        log.warning('%s', result.error)


def process_files(paths, result_type, process, *, progress=False,
                  desc='files', on_file=None):
    """Process the input files one after the other.

    Args:
        paths: The input files.
        result_type: Called with a path (str) for a new, empty result that
            has the attributes ``notes`` (a list) and ``error`` (None).
        process: Called with each new result; fills it in, or raises
            :class:`InputFileError` (the result's ``error`` then, and the
            next file goes on).
        progress: Show a progress bar over the files (stderr).
        desc: The progress bar's label.
        on_file: Called with each result when it is done (e.g.
            :func:`print_notes`); default: the notes are logged (info) and
            the errors too (warning).

    Returns:
        The results, one per path, in order.
    """
    from tqdm import tqdm
    results = []
    for path in tqdm([os.fspath(path) for path in paths], unit='file',
                     disable=not progress, desc=desc, file=sys.stderr):
        result = result_type(path)
        try:
            process(result)
        except InputFileError as error:
            result.error = str(error)
        (on_file or _log_result)(result)
        results.append(result)
    return results


def print_notes(result):
    """Print a result's notes (``note: ...``) and error (``error: ...``) on
    stderr, without breaking a progress bar."""
    from tqdm import tqdm
    for note in result.notes:
        tqdm.write(f'note: {note}', file=sys.stderr)
    if result.error:
        tqdm.write(f'error: {result.error}', file=sys.stderr)
