"""Separate audio files with an exported model: what ``padertorch-audio
separate`` and a recipe's separation stage do.

Per input file: read it (:func:`padertorch_audio.io.read_audio`), reduce
several channels to one (a channel, or the mean), resample to the model's
rate (:func:`padertorch_audio.features.resample`), :func:`separate`,
resample back, cut to the input's length, scale down estimates that would
clip the input's sample format, and write ``<stem>_s1.wav``,
``<stem>_s2.wav``, ... atomically (:func:`padertorch_audio.io.write_audio`).
A file that cannot be separated gets one error and the others go on.
"""
import dataclasses
import logging
import os
import sys
import warnings
from pathlib import Path

import numpy as np

__all__ = ['separate_files', 'print_result', 'SeparatedFile',
           'SeparateFilesError', 'ToyModelWarning', 'trained_on_toy_corpus']

log = logging.getLogger(__name__)


class SeparateFilesError(ValueError):
    """Nothing was separated: the model cannot be loaded, an output would
    overwrite an input, or the output directory cannot be created. The
    message starts with the file at fault."""


class ToyModelWarning(UserWarning):
    """The model was trained on a toy corpus (a demonstration model)."""


@dataclasses.dataclass
class SeparatedFile:
    """The outcome of one input file.

    Attributes:
        path: The input file.
        outputs: The files written, one per source (empty after an error).
        notes: What was done that the user may not expect (channels chosen
            or averaged, estimates scaled down), ``'<path>: ...'`` each.
        error: None, or why the file was not separated (``'<path>:
            <reason>'``).
    """
    path: str
    outputs: list = dataclasses.field(default_factory=list)
    notes: list = dataclasses.field(default_factory=list)
    error: str = None


class _InputError(Exception):
    """An input file that cannot be separated; the message says why."""


def _reason(path, error):
    """``<path>: <reason>``; messages that start with the path (the
    library's errors name their file) are not prefixed twice."""
    message = str(error).strip() or type(error).__name__
    if not message.startswith(str(path)):
        message = f'{path}: {message}'
    return message


def trained_on_toy_corpus(model):
    """Whether an exported model's file says it was trained on a toy corpus
    (``training_summary['corpus'] == 'toy'``, see
    :func:`padertorch_audio.recipe.export_experiment`)."""
    summary = (getattr(model, 'export_info', None) or {}).get(
        'training_summary')
    return isinstance(summary, dict) and summary.get('corpus') == 'toy'


def _output_paths(input_path, output_dir, num_speakers):
    stem = Path(input_path).stem
    return [output_dir / f'{stem}_s{k + 1}.wav' for k in range(num_speakers)]


def _same_file(a, b):
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)  # hard links
    except OSError:
        return False


def _check_outputs(inputs, protected, output_dir, num_speakers):
    """Raise when an output would overwrite an input (or a ``protected``
    file) or two inputs would write the same output."""
    protected = [*inputs, *protected]
    writers = {}
    for input_path in inputs:
        for output in _output_paths(input_path, output_dir, num_speakers):
            for other in protected:
                if _same_file(output, other):
                    raise SeparateFilesError(
                        f'{other}: writing {output} would overwrite this '
                        f'input; choose another --output-dir')
            key = os.path.realpath(output)
            if key in writers and writers[key] != input_path:
                raise SeparateFilesError(
                    f'{input_path}: its output {output} is also the output '
                    f'of {writers[key]} (same file name stem); separate them '
                    f'into different --output-dir')
            writers[key] = input_path


def _read_input(path, channel, mixdown, notes):
    """The mono signal ``(samples,)`` float32, its sample rate and the
    subtype for the outputs."""
    import soundfile

    from padertorch_audio.io import read_audio
    path = Path(path)
    if path.is_dir():
        raise _InputError(f'{path}: is a directory, expected an audio file')
    if path.is_file() and path.stat().st_size == 0:
        raise _InputError(f'{path}: empty file (0 bytes)')
    try:
        signal, sample_rate = read_audio(path, dtype='float32')
        subtype = soundfile.info(str(path)).subtype
    except Exception as error:  # noqa: BLE001 - io.AudioFileError and more
        raise _InputError(_reason(path, error)) from None
    num_channels = 1 if signal.ndim == 1 else signal.shape[0]
    if channel is not None and channel >= num_channels:
        raise _InputError(
            f'{path}: --channel {channel} does not exist, the file has '
            f'{num_channels} channel{"s" if num_channels > 1 else ""}')
    if signal.ndim == 2:
        if mixdown:
            signal = signal.mean(axis=0)
            notes.append(f'{path}: {num_channels} channels, averaged '
                         f'(--mixdown)')
        else:
            signal = signal[channel or 0]
            if channel is None:
                notes.append(f'{path}: {num_channels} channels, using '
                             f'channel 0 (choose with --channel N or '
                             f'--mixdown)')
    if not soundfile.check_format('WAV', subtype):
        subtype = 'PCM_16'
    return np.ascontiguousarray(signal, dtype=np.float32), sample_rate, \
        subtype


def _fit_length(signal, length):
    """Cut or zero-pad the last axis to ``length`` samples."""
    if signal.shape[-1] >= length:
        return signal[..., :length]
    padding = [(0, 0)] * (signal.ndim - 1) + [(0, length - signal.shape[-1])]
    return np.pad(signal, padding)


def _separate_file(model, path, output_dir, channel, mixdown, notes):
    """Separate one file; returns the written paths."""
    from padertorch_audio import separation
    from padertorch_audio.features import resample
    from padertorch_audio.io import write_audio

    signal, sample_rate, subtype = _read_input(path, channel, mixdown, notes)
    model_rate = int(model.sample_rate)
    length = signal.shape[-1]
    if sample_rate != model_rate:
        signal = resample(signal, sample_rate, model_rate).astype(np.float32)
    try:  # looked up at call time: separation.separate may be wrapped
        estimates = np.asarray(separation.separate(model, signal))
    except Exception as error:  # noqa: BLE001 - e.g. out of memory
        raise _InputError(f'{path}: separation failed '
                          f'({type(error).__name__}: {error})') from None
    if sample_rate != model_rate:
        estimates = resample(estimates, model_rate, sample_rate)
    estimates = _fit_length(estimates, length)
    if not subtype.startswith(('FLOAT', 'DOUBLE')):
        peak = float(np.max(np.abs(estimates))) if estimates.size else 0.
        if peak > 1:
            estimates = estimates * (0.99 / peak)
            notes.append(f'{path}: the estimates peak at {peak:.2f}; scaled '
                         f'by {0.99 / peak:.3f} to fit {subtype} without '
                         f'clipping')
    outputs = _output_paths(path, output_dir, len(estimates))
    for output, estimate in zip(outputs, estimates):
        write_audio(output, estimate, sample_rate, subtype=subtype)
    return outputs


def _load(model, trusted):
    """``(model, protected files)``: a model, or the one of a model file."""
    if not isinstance(model, (str, os.PathLike)):
        return model, []
    from padertorch_audio.separation.export import load_model
    if not Path(model).is_file():
        raise SeparateFilesError(f'{model}: no such model file')
    try:
        return load_model(model, trusted=trusted), [model]
    except Exception as error:  # noqa: BLE001 - the loader names the file
        raise SeparateFilesError(_reason(model, error)) from None


def _log_result(result):
    for note in result.notes:
        log.info('%s', note)
    if result.error:
        log.warning('%s', result.error)


def separate_files(model, paths, output_dir, *, channel=None, mixdown=False,
                   trusted=False, progress=False, on_file=None):
    """Separate the speakers of audio files; one output file per speaker.

    Writes ``output_dir/<stem>_s1.wav``, ``<stem>_s2.wav``, ... for every
    input (created atomically: a reader never sees half a file) at the
    input's sample rate, length and sample format (PCM_16 where the input
    format has no WAV equivalent; estimates that would clip are scaled
    down, with a note). Inputs are resampled to the model's rate and the
    outputs back.

    Args:
        model: A separation model with ``sample_rate`` (Hz) and
            ``num_speakers`` (e.g. from :func:`load_model`), or the path of
            an exported model file (loaded with :func:`load_model`; never
            overwritten either).
        paths: The input audio files (anything libsndfile reads).
        output_dir: Created when needed (only once the model has loaded and
            the outputs are checked: a refused call leaves no trace).
        channel: The channel (from 0) of multi-channel inputs; default 0.
        mixdown: Average the channels of multi-channel inputs instead.
        trusted: For a model file: build whatever its config names (see
            :mod:`padertorch_audio.export`).
        progress: Show a progress bar over the files (stderr).
        on_file: Called with each file's :class:`SeparatedFile` when it is
            done (e.g. :func:`print_result`); default: the notes are logged
            (info) and the errors too (warning).

    Returns:
        A :class:`SeparatedFile` per input, in order. A file that cannot be
        read or separated has its ``error``; the other files go on.

    Raises:
        SeparateFilesError: the model file is missing or cannot be loaded,
            an output would overwrite an input or the model file, two
            inputs would write the same output (same stem), or
            ``output_dir`` cannot be created.

    Warns:
        ToyModelWarning: once, when the model file says the model was
            trained on a toy corpus (it makes real recordings worse).
    """
    if channel is not None and mixdown:
        raise ValueError('separate_files: give channel or mixdown, not both.')
    model, protected = _load(model, trusted)
    paths = [os.fspath(path) for path in paths]
    output_dir = Path(output_dir)
    _check_outputs(paths, protected, output_dir, int(model.num_speakers))
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SeparateFilesError(
            f'{output_dir}: cannot create the output directory '
            f'({error.strerror or error})') from None
    if trained_on_toy_corpus(model):
        name = protected[0] if protected else 'the model'
        warnings.warn(
            f'{name} was trained on the toy corpus (synthetic voices): a '
            f'demonstration that makes real recordings worse (about -2 dB '
            f'SI-SDR improvement on natural voices). For real mixtures, '
            f'train on WSJ0-2mix (recipes/wsj0_2mix: run.sh '
            f'--wsj0_2mix_root DIR).', ToyModelWarning, stacklevel=2)

    from tqdm import tqdm
    results = []
    for path in tqdm(paths, disable=not progress, unit='file',
                     desc='separate', file=sys.stderr):
        result = SeparatedFile(path)
        try:
            result.outputs = _separate_file(model, path, output_dir, channel,
                                            mixdown, result.notes)
        except _InputError as error:
            result.error = str(error)
        (on_file or _log_result)(result)
        results.append(result)
    return results


def print_result(result):
    """Print a :class:`SeparatedFile` as ``padertorch-audio separate`` does:
    ``note: ...`` and ``error: ...`` lines on stderr, the written files on
    stdout (one per line); the lines do not break a progress bar."""
    from tqdm import tqdm
    for note in result.notes:
        tqdm.write(f'note: {note}', file=sys.stderr)
    if result.error:
        tqdm.write(f'error: {result.error}', file=sys.stderr)
    for output in result.outputs:
        print(output, flush=True)
