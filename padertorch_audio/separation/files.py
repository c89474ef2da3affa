"""Separate audio files with an exported model: what ``padertorch-audio
separate`` and a recipe's separation stage do.

Per input file: read it (:func:`padertorch_audio.io.read_audio`), reduce
several channels to one (a channel, or the mean), resample to the model's
rate (:func:`padertorch_audio.features.resample`), :func:`separate`,
resample back, cut to the input's length, scale down estimates that would
clip the input's sample format, and write ``<stem>_s1.wav``,
``<stem>_s2.wav``, ... atomically (:func:`padertorch_audio.io.write_audio`).
A file that cannot be separated gets one error and the others go on
(the parts shared with the other file functions are in
:mod:`padertorch_audio.inference`).
"""
import dataclasses
import os
from pathlib import Path

import numpy as np

from padertorch_audio.inference import (
    FilesError, InputFileError, ToyModelWarning, load_model_file,
    print_notes, process_files, read_input, same_file, trained_on_toy_corpus,
    warn_if_toy_model)

__all__ = ['separate_files', 'print_result', 'SeparatedFile',
           'SeparateFilesError', 'ToyModelWarning', 'trained_on_toy_corpus']


class SeparateFilesError(FilesError):
    """Nothing was separated: the model cannot be loaded, an output would
    overwrite an input, or the output directory cannot be created. The
    message starts with the file at fault."""


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


def _output_paths(input_path, output_dir, num_speakers):
    stem = Path(input_path).stem
    return [output_dir / f'{stem}_s{k + 1}.wav' for k in range(num_speakers)]


def _check_outputs(inputs, protected, output_dir, num_speakers):
    """Raise when an output would overwrite an input (or a ``protected``
    file) or two inputs would write the same output."""
    protected = [*inputs, *protected]
    writers = {}
    for input_path in inputs:
        for output in _output_paths(input_path, output_dir, num_speakers):
            for other in protected:
                if same_file(output, other):
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


def _fit_length(signal, length):
    """Cut or zero-pad the last axis to ``length`` samples."""
    if signal.shape[-1] >= length:
        return signal[..., :length]
    padding = [(0, 0)] * (signal.ndim - 1) + [(0, length - signal.shape[-1])]
    return np.pad(signal, padding)


def _separate_file(model, path, output_dir, channel, mixdown, notes):
    """Separate one file; returns the written paths."""
    import soundfile

    from padertorch_audio import separation
    from padertorch_audio.features import resample
    from padertorch_audio.io import write_audio

    signal, sample_rate, subtype = read_input(
        path, channel=channel, mixdown=mixdown, notes=notes)
    if not soundfile.check_format('WAV', subtype):
        subtype = 'PCM_16'  # e.g. a FLAC file's or an MP3 file's
    model_rate = int(model.sample_rate)
    length = signal.shape[-1]
    if sample_rate != model_rate:
        signal = resample(signal, sample_rate, model_rate).astype(np.float32)
    try:  # looked up at call time: separation.separate may be wrapped
        estimates = np.asarray(separation.separate(model, signal))
    except Exception as error:  # noqa: BLE001 - e.g. out of memory
        raise InputFileError(f'{path}: separation failed '
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
    from padertorch_audio.separation.export import load_model
    model, protected = load_model_file(model, load_model, trusted=trusted,
                                       error=SeparateFilesError)
    paths = [os.fspath(path) for path in paths]
    output_dir = Path(output_dir)
    _check_outputs(paths, protected, output_dir, int(model.num_speakers))
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SeparateFilesError(
            f'{output_dir}: cannot create the output directory '
            f'({error.strerror or error})') from None
    warn_if_toy_model(
        model, protected[0] if protected else 'the model',
        'a demonstration that makes real recordings worse (about -2 dB '
        'SI-SDR improvement on natural voices). For real mixtures, train on '
        'WSJ0-2mix (recipes/wsj0_2mix: run.sh --wsj0_2mix_root DIR).')

    def separate_one(result):
        result.outputs = _separate_file(model, result.path, output_dir,
                                        channel, mixdown, result.notes)
    return process_files(paths, SeparatedFile, separate_one,
                         progress=progress, desc='separate', on_file=on_file)


def print_result(result):
    """Print a :class:`SeparatedFile` as ``padertorch-audio separate`` does:
    ``note: ...`` and ``error: ...`` lines on stderr, the written files on
    stdout (one per line); the lines do not break a progress bar."""
    print_notes(result)
    for output in result.outputs:
        print(output, flush=True)
