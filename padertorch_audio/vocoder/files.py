"""Waveforms from audio or mel files with an exported vocoder: what
``padertorch-audio synthesize`` and the vocoder recipe's synthesis stage
do.

Two kinds of input:

- **audio** (anything libsndfile reads; analysis-resynthesis): read, reduce
  several channels to one (a channel, or the mean; with a note), resample
  to the model's rate (with a note), compute the mel with the model's own
  :meth:`~padertorch_audio.vocoder.WaveNet.log_mel`, generate as many
  samples as the input has, resample back: the output has the input's
  sample rate and length.
- **mel** (``.npy``, see :func:`read_mel`): an array ``(frames, n_mels)``
  of float32 or float64 log-mel frames as ``model.log_mel`` computes them
  (:func:`padertorch_audio.features.log_mel` with the model's STFT and
  filterbank: natural log of the mel power, ``shift`` samples apart), e.g.
  ``numpy.save('a.npy', model.log_mel(audio))``. The output has the model's
  rate and :func:`~padertorch_audio.vocoder.default_num_samples` samples
  (the longest signal with that many frames; at most ``shift - 1`` more
  than the signal the frames were computed from).

Outputs are 16-bit WAV (or FLAC, by the file name), written atomically: a
reader never sees half a file, and a file that fails leaves nothing. The
synthesis is :func:`~padertorch_audio.vocoder.synthesize` (eval mode, no
grad, sampling with ``temperature``, a generator seeded with ``seed`` for
every file: the same file and seed give the same output whatever the
other inputs). A file that cannot be processed gets one error
(``'<path>: <reason>'``) and the others go on (the parts shared with the
other file functions are in :mod:`padertorch_audio.inference`).
"""
import dataclasses
import math
import os
import time
from pathlib import Path

import numpy as np

from padertorch_audio.inference import (
    FilesError, InputFileError, load_model_file, print_notes, process_files,
    read_input, same_file, warn_if_toy_model)

__all__ = ['synthesize_files', 'print_result', 'read_mel', 'output_paths',
           'SynthesizedFile', 'SynthesizeFilesError', 'MEL_SUFFIX']

#: Inputs with this suffix are read as mel frames (:func:`read_mel`).
MEL_SUFFIX = '.npy'


class SynthesizeFilesError(FilesError):
    """Nothing was synthesised: the model cannot be loaded (or is no
    vocoder), an output would overwrite an input or the model, or the
    output cannot be written. The message starts with the file at fault."""


@dataclasses.dataclass
class SynthesizedFile:
    """The outcome of one input file.

    Attributes:
        path: The input file.
        output: The file written (None after an error).
        kind: ``'audio'`` (analysis-resynthesis) or ``'mel'``.
        num_samples: Samples written.
        sample_rate: Hz of the output.
        synthesis_seconds: Wall-clock seconds of the synthesis.
        notes: What was done that the user may not expect (channels chosen
            or averaged, resampling), ``'<path>: ...'`` each.
        error: None, or why the file was not synthesised (``'<path>:
            <reason>'``).
    """
    path: str
    output: str = None
    kind: str = None
    num_samples: int = None
    sample_rate: int = None
    synthesis_seconds: float = None
    notes: list = dataclasses.field(default_factory=list)
    error: str = None

    @property
    def real_time_factor(self):
        """Synthesis seconds per second of output (None without one)."""
        if self.synthesis_seconds is None or not self.num_samples:
            return None
        return self.synthesis_seconds * self.sample_rate / self.num_samples


# --------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------

def read_mel(path, n_mels=None):
    """Read mel frames from a ``.npy`` file.

    Args:
        path: A ``.npy`` file (``numpy.save``) holding a float32 or float64
            array ``(frames, n_mels)`` of finite log-mel values.
        n_mels: The bands the model expects; None: any.

    Returns:
        float32 ``(frames, n_mels)``.

    Raises:
        InputFileError: ``'<path>: <reason>'``: missing, empty, not a
            ``.npy`` array (pickled objects are not read), another dtype
            (int, complex, ...), not 2-D, another number of bands, no
            frames, or NaN/inf values.

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / 'mel.npy'
    >>> np.save(path, np.zeros((20, 80)))
    >>> read_mel(path, n_mels=80).shape
    (20, 80)
    >>> read_mel(path, n_mels=40)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
      ...
    padertorch_audio.inference.InputFileError: .../mel.npy: 80 mel bands, the model expects 40 (shape (frames, n_mels) = (20, 80))
    """
    path = Path(path)
    if path.is_dir():
        raise InputFileError(f'{path}: is a directory, expected a .npy file')
    if not path.is_file():
        raise InputFileError(f'{path}: file not found')
    if path.stat().st_size == 0:
        raise InputFileError(f'{path}: empty file (0 bytes)')
    try:
        mel = np.load(path, allow_pickle=False)
    except Exception as error:  # noqa: BLE001 - no .npy, pickled objects
        raise InputFileError(
            f'{path}: not a .npy array of mel frames ({error})') from None
    if not isinstance(mel, np.ndarray):  # e.g. an .npz archive
        mel.close()
        raise InputFileError(f'{path}: an .npz archive, expected a .npy '
                             f'array (frames, n_mels)')
    if mel.dtype not in (np.float32, np.float64):
        raise InputFileError(
            f'{path}: dtype {mel.dtype}, expected float32 or float64 log-mel '
            f'values (frames, n_mels)')
    if mel.ndim != 2:
        raise InputFileError(
            f'{path}: shape {mel.shape}, expected (frames, n_mels)')
    if n_mels is not None and mel.shape[1] != n_mels:
        raise InputFileError(
            f'{path}: {mel.shape[1]} mel bands, the model expects {n_mels} '
            f'(shape (frames, n_mels) = {mel.shape})')
    if mel.shape[0] == 0:
        raise InputFileError(f'{path}: no frames (shape {mel.shape})')
    _check_finite(path, mel, 'mel value')
    return mel.astype(np.float32)


def _check_finite(path, values, what):
    bad = ~np.isfinite(values)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise InputFileError(
            f'{path}: {int(bad.sum())} {what}(s) are NaN or infinite (the '
            f'first at index {first[0] if len(first) == 1 else first})')


# --------------------------------------------------------------------------
# Outputs
# --------------------------------------------------------------------------

def output_paths(paths, output):
    """The output file of each input.

    With one input, ``output`` is the file to write, unless it is an
    existing directory or ends with a path separator; otherwise (and with
    several inputs) ``output`` is a directory and input ``dir/a.flac``
    becomes ``output/a.wav``.

    >>> [str(p) for p in output_paths(['in/a.flac'], 'out.wav')]
    ['out.wav']
    >>> [str(p) for p in output_paths(['in/a.flac', 'b.npy'], 'out')]
    ['out/a.wav', 'out/b.wav']
    """
    output = os.fspath(output)
    if len(paths) == 1 and not (os.path.isdir(output)
                                or output.endswith(('/', os.sep))):
        return [Path(output)]
    return [Path(output) / f'{Path(path).stem}.wav' for path in paths]


def _check_outputs(paths, outputs, protected):
    """Raise unless every output can be written: none is an input or the
    model, no two inputs share one, each has a format libsndfile writes and
    lies in a directory that can be created."""
    import soundfile

    from padertorch_audio.io import check_writable
    writers = {}
    for path, output in zip(paths, outputs):
        for other in [*paths, *protected]:
            if same_file(output, other):
                what = 'the model file' if other in protected else 'an input'
                raise SynthesizeFilesError(
                    f'{output}: is {what}; writing the synthesised audio '
                    f'there would overwrite it, choose another output')
        if output.is_dir():
            raise SynthesizeFilesError(
                f'{output}: is a directory, expected the name of the audio '
                f'file to write (or give several inputs)')
        key = os.path.realpath(output)
        if key in writers:
            raise SynthesizeFilesError(
                f'{path}: its output {output} is also the output of '
                f'{writers[key]} (same file name stem); synthesise them '
                f'into different output directories')
        writers[key] = path
        file_format = output.suffix[1:].upper() or 'WAV'
        if file_format not in soundfile.available_formats():
            raise SynthesizeFilesError(
                f'{output}: unknown audio format {output.suffix!r}; name the '
                f'output .wav or .flac')
    for directory in sorted({output.parent for output in outputs}):
        try:
            check_writable(directory)
        except OSError as error:
            raise SynthesizeFilesError(
                f'{directory}: cannot write the output there: {error}'
            ) from None


# --------------------------------------------------------------------------
# One file
# --------------------------------------------------------------------------

def _load_vocoder(model, trusted):
    from padertorch_audio.vocoder.export import VOCODER_ATTRIBUTES, load_model
    model, protected = load_model_file(model, load_model, trusted=trusted,
                                       error=SynthesizeFilesError)
    name = protected[0] if protected else 'the model'
    missing = [attribute for attribute in VOCODER_ATTRIBUTES
               if getattr(model, attribute, None) is None]
    if missing:
        raise SynthesizeFilesError(
            f'{name}: expected a vocoder with {", ".join(VOCODER_ATTRIBUTES)}'
            f', found a {type(model).__name__} without '
            f'{", ".join(missing)}')
    return model, protected


def _synthesize(model, path, mel, num_samples, temperature, seed,
                speaker_index, progress):
    """``(audio (num_samples,) float32, seconds)`` of one mel."""
    import torch

    from padertorch_audio.vocoder import synthesize
    generator = torch.Generator().manual_seed(seed)
    was_training = model.training
    start = time.perf_counter()
    try:
        model.eval()
        with torch.no_grad():
            audio = synthesize(
                model, torch.from_numpy(np.ascontiguousarray(mel)),
                num_samples=num_samples, temperature=temperature,
                generator=generator, speaker_index=speaker_index,
                progress=progress)
    except Exception as error:  # noqa: BLE001 - e.g. out of memory
        raise InputFileError(
            f'{path}: synthesis failed ({type(error).__name__}: {error})'
        ) from None
    finally:
        model.train(was_training)
    seconds = time.perf_counter() - start
    return audio.float().cpu().numpy(), seconds


def _fit_length(signal, length):
    """Cut or zero-pad ``(samples,)`` to ``length`` samples."""
    if len(signal) >= length:
        return signal[:length]
    return np.pad(signal, (0, length - len(signal)))


def _synthesize_file(model, result, output, is_mel, options):
    """Fill in ``result`` for one input file and write ``output``."""
    from padertorch_audio.features import resample
    from padertorch_audio.io import write_audio
    path, model_rate = result.path, int(model.sample_rate)
    if is_mel:
        result.kind, rate = 'mel', model_rate
        mel = read_mel(path, model.n_mels)
        from padertorch_audio.vocoder import default_num_samples
        length = default_num_samples(len(mel), model.shift,
                                     model.window_length)
        if length < 1:
            raise InputFileError(
                f'{path}: {len(mel)} frames are too few for any sample '
                f'(shift {model.shift}, window {model.window_length}: at '
                f'least {math.ceil(model.window_length / model.shift)} '
                f'frames)')
        num_samples = length
    else:
        result.kind = 'audio'
        signal, rate, _ = read_input(path, channel=options['channel'],
                                     mixdown=options['mixdown'],
                                     notes=result.notes)
        _check_finite(path, signal, 'sample')
        length = len(signal)
        if rate != model_rate:
            signal = resample(signal, rate, model_rate).astype(np.float32)
            result.notes.append(
                f'{path}: {rate} Hz, resampled to the model\'s {model_rate} '
                f'Hz and the output back to {rate} Hz')
        mel = model.log_mel(signal)
        num_samples = len(signal)
    audio, result.synthesis_seconds = _synthesize(
        model, path, mel, num_samples, options['temperature'],
        options['seed'], options['speaker_index'], options['progress'])
    if rate != model_rate:
        audio = _fit_length(resample(audio, model_rate, rate), length)
    audio = np.clip(audio, -1, 1)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        write_audio(output, audio, rate, subtype='PCM_16')
    except OSError as error:
        raise InputFileError(f'{path}: cannot write {output} '
                             f'({error})') from None
    result.output, result.num_samples, result.sample_rate = \
        str(output), len(audio), rate


def synthesize_files(model, paths, output, *, mel=False, temperature=1.0,
                     seed=0, speaker_index=None, channel=None, mixdown=False,
                     trusted=False, progress=False, on_file=None):
    """Synthesise a waveform for each input file (audio or mel frames).

    See the module doc for what is done with each kind of input.

    Args:
        model: A vocoder (e.g. from
            :func:`~padertorch_audio.vocoder.load_model`), or the path of an
            exported vocoder file (never overwritten).
        paths: The input files: audio (anything libsndfile reads) or, with
            the suffix ``.npy`` (all of them with ``mel=True``), mel frames
            (:func:`read_mel`).
        output: With one input the output file (unless an existing
            directory or a name ending with ``/``), else a directory: see
            :func:`output_paths`. Directories are created when needed.
        mel: Read every input as mel frames, whatever its suffix.
        temperature: Sampling temperature (0: the most likely sample).
        seed: Seeds the sampling of every file (an int).
        speaker_index: The speaker of a model with global conditioning.
        channel, mixdown: Which channel of multi-channel audio inputs
            (default 0), or their mean (see
            :func:`padertorch_audio.inference.read_input`).
        trusted: For a model file: build whatever its config names (see
            :mod:`padertorch_audio.export`).
        progress: Show a progress bar over the samples of each file
            (stderr).
        on_file: Called with each file's :class:`SynthesizedFile` when it
            is done (e.g. :func:`print_result`); default: the notes are
            logged (info) and the errors too (warning).

    Returns:
        A :class:`SynthesizedFile` per input, in order. A file that cannot
        be read or synthesised has its ``error`` (and no output file); the
        other files go on.

    Raises:
        SynthesizeFilesError: the model file is missing, cannot be loaded
            or holds no vocoder, or an output would overwrite an input or
            the model file, two inputs would write the same output, or the
            output cannot be written; checked before any input is read,
            nothing is written then.
        ValueError: ``temperature`` or ``seed`` out of range.

    Warns:
        ToyModelWarning: once, for a model trained on the toy corpus.
    """
    if isinstance(temperature, bool) or not isinstance(
            temperature, (int, float)) or not math.isfinite(temperature) \
            or temperature < 0:
        raise ValueError(f'synthesize_files: temperature must be a finite '
                         f'number >= 0 (0: the most likely sample), found '
                         f'{temperature!r}.')
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f'synthesize_files: seed must be an int >= 0, '
                         f'found {seed!r}.')
    if channel is not None and mixdown:
        raise ValueError('synthesize_files: give channel or mixdown, not '
                         'both.')
    paths = [os.fspath(path) for path in paths]
    if not paths:
        raise ValueError('synthesize_files: no input files.')
    model, protected = _load_vocoder(model, trusted)
    targets = output_paths(paths, output)
    _check_outputs(paths, targets, protected)
    outputs = dict(zip(paths, targets))
    warn_if_toy_model(
        model, protected[0] if protected else 'the model',
        'a demonstration trained on synthetic voices: it renders real '
        'speech poorly. For real speech, train on LibriSpeech or LJSpeech '
        '(recipes/vocoder: run.sh --librispeech_root DIR or --wav_dir DIR).')
    options = {'channel': channel, 'mixdown': mixdown,
               'temperature': temperature, 'seed': seed,
               'speaker_index': speaker_index, 'progress': progress}

    def synthesize_one(result):
        is_mel = mel or Path(result.path).suffix.lower() == MEL_SUFFIX
        _synthesize_file(model, result, outputs[result.path], is_mel,
                         options)
    return process_files(paths, SynthesizedFile, synthesize_one,
                         desc='synthesize', on_file=on_file)


def print_result(result):
    """Print a :class:`SynthesizedFile` as ``padertorch-audio synthesize``
    does: ``note: ...`` and ``error: ...`` lines on stderr, on stdout
    ``<output> (<seconds> s at <rate> Hz, real-time factor <rtf>)``."""
    print_notes(result)
    if result.output is not None:
        print(f'{result.output} ({result.num_samples / result.sample_rate:.2f}'
              f' s at {result.sample_rate} Hz, real-time factor '
              f'{result.real_time_factor:.2f})', flush=True)
