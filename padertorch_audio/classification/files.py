"""Speaker identification, embeddings and verification of audio files with
an exported speaker model: what ``padertorch-audio classify``, ``embed``
and ``verify`` do.

Per input file: read it, reduce several channels to one (a channel, or the
mean; with a note), resample to the model's rate
(:func:`padertorch_audio.features.resample`) and run the model on the whole
file in one pass (``torch.no_grad``, eval mode): a file's embedding is
that of the whole file, as in the model's evaluation, not a mean of pieces.
Memory grows linearly with the file's length: with ``SPEAKER_RESNET``
on the CPU about 1.3 MB per second of audio (measured: 100 MB for 1
minute, 310 MB for 4 minutes); cut hour-long recordings first. A file that cannot be
processed gets one error (``'<path>: <reason>'``) and the others go on
(the parts shared with :func:`padertorch_audio.separation.separate_files`
are in :mod:`padertorch_audio.inference`).

- :func:`classify_files`: the most likely speakers of each file (softmax of
  the model's logits, which hold no margin: the model's posteriors);
- :func:`embed_files`: one speaker embedding per file, optionally written to
  an ``.npz`` file (:func:`write_embeddings`, :func:`read_embeddings`);
- :func:`verify_pair`: the cosine score of two files' embeddings and the
  decision at a threshold (by default the model's ``eer_threshold``).

The ``.npz`` file of embeddings holds two arrays (file paths are no valid
or unique array names): ``embeddings`` float32 ``(files, embedding_size)``
and ``paths`` str ``(files,)``, row ``i`` of the one belongs to ``paths[i]``;
``np.load(file)`` reads it (no pickle needed).
"""
import dataclasses
import os
from pathlib import Path

import numpy as np

from padertorch_audio.inference import (
    FilesError, InputFileError, load_model_file, print_notes, process_files,
    read_input, same_file, warn_if_toy_model)

__all__ = ['classify_files', 'print_classified', 'embed_files', 'verify_pair',
           'write_embeddings', 'read_embeddings', 'ClassifiedFile',
           'EmbeddedFile', 'Verification', 'SpeakerFilesError']


class SpeakerFilesError(FilesError):
    """Nothing was done: the model cannot be loaded (or is no speaker
    model), or the output would overwrite an input or the model file. The
    message starts with the file at fault."""


@dataclasses.dataclass
class ClassifiedFile:
    """The speakers of one input file.

    Attributes:
        path: The input file.
        speaker: The most likely speaker (a label of ``model.speakers``).
        probability: Its posterior probability.
        top: ``[(speaker, probability), ...]``, the ``top`` most likely
            speakers, the most likely first.
        notes: What was done that the user may not expect (channels chosen
            or averaged), ``'<path>: ...'`` each.
        error: None, or why the file was not classified (``'<path>:
            <reason>'``; ``speaker`` and ``probability`` are None then).
    """
    path: str
    speaker: str = None
    probability: float = None
    top: list = dataclasses.field(default_factory=list)
    notes: list = dataclasses.field(default_factory=list)
    error: str = None


@dataclasses.dataclass
class EmbeddedFile:
    """The speaker embedding of one input file.

    Attributes:
        path: The input file.
        embedding: float32 ``(embedding_size,)``; None after an error.
        notes, error: As for :class:`ClassifiedFile`.
    """
    path: str
    embedding: np.ndarray = None
    notes: list = dataclasses.field(default_factory=list)
    error: str = None


@dataclasses.dataclass
class Verification:
    """Whether two files hold the same speaker.

    Attributes:
        files: The two :class:`EmbeddedFile` (their errors, notes and
            embeddings).
        score: The cosine similarity of the two embeddings in [-1, 1]; None
            when a file failed.
        threshold: The threshold used (None: no decision).
        threshold_source: ``'model'`` (its stored EER threshold),
            ``'argument'`` (given by the caller) or None.
        same_speaker: ``score >= threshold``; None without a score or a
            threshold.
    """
    files: list
    score: float = None
    threshold: float = None
    threshold_source: str = None
    same_speaker: bool = None

    @property
    def errors(self):
        """The errors of the two files (``'<path>: <reason>'``)."""
        return [file.error for file in self.files if file.error]


# --------------------------------------------------------------------------
# The model and one file
# --------------------------------------------------------------------------

def _load_speaker_model(path, trusted=False):
    """:func:`~padertorch_audio.classification.load_model`; a file of
    another task (e.g. a separation model) is refused with a message that
    says what it is."""
    from padertorch_audio.classification.export import TASK, load_model
    from padertorch_audio.export import read_model_file
    try:
        return load_model(path, trusted=trusted)
    except Exception:
        try:  # only after a failure: a speaker model file is read once
            task = read_model_file(path).get('task')
        except Exception:  # noqa: BLE001 - the first error says why
            task = TASK
        if task == TASK:
            raise
    command = ' for padertorch-audio separate' if task == 'separation' \
        else ''
    raise SpeakerFilesError(
        f'{path}: is a {task} model{command}, expected a speaker model '
        f'(task {TASK!r})')


def _load(model, trusted, output=None, inputs=()):
    """``(model, protected files)``: a speaker model, or the one of a model
    file; checks ``output`` (see :func:`_check_output`), then warns once
    for a model trained on the toy corpus."""
    model, protected = load_model_file(model, _load_speaker_model,
                                       trusted=trusted,
                                       error=SpeakerFilesError)
    name = protected[0] if protected else 'the model'
    missing = [attribute for attribute in ('sample_rate', 'speakers')
               if getattr(model, attribute, None) is None]
    if missing:
        raise SpeakerFilesError(
            f'{name}: expected a speaker model with sample_rate and speakers '
            f'(see classification.load_model), found a '
            f'{type(model).__name__} without {" and ".join(missing)}')
    if output is not None:
        _check_output(output, inputs, protected)
    warn_if_toy_model(
        model, name, 'a demonstration that knows only its synthetic '
        'speakers: its labels, embeddings and scores mean nothing for real '
        'recordings. For real speakers, train on LibriSpeech '
        '(recipes/librispeech: run.sh --librispeech_root DIR).',
        stacklevel=3)
    return model, protected


def _apply(model, method, path, channel, mixdown, notes):
    """``model.<method>`` of the file's mono signal at the model's rate:
    ``(embedding_size,)`` or ``(num_classes,)`` (no grad, eval mode)."""
    import torch

    from padertorch_audio.features import resample
    signal, sample_rate, _ = read_input(path, channel=channel,
                                        mixdown=mixdown, notes=notes)
    model_rate = int(model.sample_rate)
    if sample_rate != model_rate:
        signal = resample(signal, sample_rate, model_rate)
    signal = torch.from_numpy(np.ascontiguousarray(signal, np.float32))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            output = getattr(model, method)(signal)
    except Exception as error:  # noqa: BLE001 - e.g. too short, no memory
        raise InputFileError(
            f'{path}: the speaker model failed on its {len(signal)} samples '
            f'at {model_rate} Hz ({type(error).__name__}: {error})') from None
    finally:
        model.train(was_training)
    if not torch.isfinite(output).all():
        raise InputFileError(f'{path}: the speaker model gave non-finite '
                             f'values for it')
    return output.double().cpu()


# --------------------------------------------------------------------------
# classify
# --------------------------------------------------------------------------

def classify_files(model, paths, *, top=3, channel=None, mixdown=False,
                   trusted=False, progress=False, on_file=None):
    """The most likely speakers of each audio file.

    Args:
        model: A speaker model with ``sample_rate`` (Hz) and ``speakers``
            (e.g. from :func:`~padertorch_audio.classification.load_model`),
            or the path of an exported speaker model file.
        paths: The input audio files (anything libsndfile reads).
        top: How many speakers to report per file (at most all of them).
        channel, mixdown: Which channel of multi-channel inputs (default 0)
            or their mean (see :func:`padertorch_audio.inference.read_input`).
        trusted: For a model file: build whatever its config names, see
            :mod:`padertorch_audio.export`.
        progress: Show a progress bar over the files (stderr).
        on_file: Called with each file's :class:`ClassifiedFile` when it is
            done; default: the notes and errors are logged.

    Returns:
        A :class:`ClassifiedFile` per input, in order; the probabilities are
        the softmax of the model's logits (AM-softmax models: ``scale *
        cos``, no margin). A file that fails has its ``error``.

    Raises:
        SpeakerFilesError: the model file is missing, cannot be loaded or
            holds no speaker model.

    Warns:
        ToyModelWarning: once, for a model trained on the toy corpus.
    """
    import torch
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise ValueError(f'classify_files: top must be a positive int, '
                         f'found {top!r}.')
    _check_channel(channel, mixdown)
    model, _ = _load(model, trusted)

    def classify_one(result):
        logits = _apply(model, 'classify', result.path, channel, mixdown,
                        result.notes)
        probabilities, indices = torch.softmax(logits, -1).topk(
            min(top, len(logits)))
        result.top = [(model.speakers[index], probability) for index,
                      probability in zip(indices.tolist(),
                                         probabilities.tolist())]
        result.speaker, result.probability = result.top[0]
    return process_files(paths, ClassifiedFile, classify_one,
                         progress=progress, desc='classify', on_file=on_file)


def print_classified(result, as_json=False):
    """Print a :class:`ClassifiedFile` as ``padertorch-audio classify``
    does: ``note:``/``error:`` lines on stderr, and on stdout ``<path>:
    <speaker> (p=0.932)  top-3: <speaker> 0.932, ...`` or, with
    ``as_json``, one JSON line ``{"path", "speaker", "probability",
    "top": [{"speaker", "probability"}, ...]}`` (nothing for a failed
    file)."""
    import json
    print_notes(result)
    if result.error:
        return
    if as_json:
        print(json.dumps({
            'path': result.path, 'speaker': result.speaker,
            'probability': result.probability,
            'top': [{'speaker': speaker, 'probability': probability}
                    for speaker, probability in result.top]},
            ensure_ascii=False), flush=True)
    else:
        top = ', '.join(f'{speaker} {probability:.3f}'
                        for speaker, probability in result.top)
        print(f'{result.path}: {result.speaker} (p={result.probability:.3f})'
              f'  top-{len(result.top)}: {top}', flush=True)


def _check_channel(channel, mixdown):
    if channel is not None and mixdown:
        raise ValueError('give channel or mixdown, not both.')


# --------------------------------------------------------------------------
# embed
# --------------------------------------------------------------------------

def _check_output(output, inputs, protected):
    """Raise unless ``output`` can become the embeddings file: no input,
    not the model file, no directory, in a directory that can be
    created and written."""
    from padertorch_audio.io import check_writable
    for other in [*inputs, *protected]:
        if same_file(output, other):
            what = 'the model file' if other in protected else 'an input'
            raise SpeakerFilesError(
                f'{output}: is {what}; writing the embeddings there would '
                f'overwrite it, choose another output file')
    if output.is_dir():
        raise SpeakerFilesError(f'{output}: is a directory, expected the '
                                f'name of the .npz file to write')
    try:
        check_writable(output.parent)
    except OSError as error:
        raise SpeakerFilesError(f'{output}: cannot be written: '
                                f'{error}') from None


def embed_files(model, paths, output=None, *, channel=None, mixdown=False,
                trusted=False, progress=False, on_file=None):
    """The speaker embedding of each audio file.

    Args:
        model, paths, channel, mixdown, trusted, progress: As for
            :func:`classify_files`.
        output: None, or the ``.npz`` file to write the embeddings of the
            files that succeeded to (see :func:`write_embeddings`; written
            atomically when at least one file succeeded, its directory
            created when needed).
        on_file: Called with each file's :class:`EmbeddedFile` when it is
            done; default: the notes and errors are logged.

    Returns:
        An :class:`EmbeddedFile` per input, in order. A file that fails has
        its ``error`` and no embedding.

    Raises:
        SpeakerFilesError: the model file is missing, cannot be loaded or
            holds no speaker model, or ``output`` is an input, the model
            file, a directory or not writable; checked before any file is
            read, nothing is written then.
    """
    _check_channel(channel, mixdown)
    paths = [os.fspath(path) for path in paths]
    output = None if output is None else Path(output)
    model, _ = _load(model, trusted, output, paths)

    results = _embed(model, paths, channel, mixdown, progress, on_file)
    done = [result for result in results if result.error is None]
    if output is not None and done:
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            write_embeddings(output, [result.path for result in done],
                             [result.embedding for result in done])
        except OSError as error:
            raise SpeakerFilesError(f'{output}: cannot be written: '
                                    f'{error}') from None
    return results


def _embed(model, paths, channel, mixdown, progress, on_file):
    def embed_one(result):
        embedding = _apply(model, 'embed', result.path, channel, mixdown,
                           result.notes)
        result.embedding = embedding.numpy().astype(np.float32)
    return process_files(paths, EmbeddedFile, embed_one, progress=progress,
                         desc='embed', on_file=on_file)


def write_embeddings(path, paths, embeddings):
    """Write embeddings to the ``.npz`` file ``path`` atomically.

    Args:
        path: The file (written under exactly this name).
        paths: The file of each embedding, ``(files,)`` str.
        embeddings: ``(files, embedding_size)``, stored as float32.

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / 'embeddings.npz'
    >>> write_embeddings(path, ['a.wav', 'b.flac'], np.eye(2, 3))
    >>> with np.load(path) as data:
    ...     data['paths'].tolist(), data['embeddings'].shape
    (['a.wav', 'b.flac'], (2, 3))
    """
    from padertorch_audio.io import atomic_write
    embeddings = np.asarray(embeddings, dtype=np.float32)
    paths = np.array([os.fspath(name) for name in paths], dtype=str)
    if embeddings.ndim != 2 or len(embeddings) != len(paths) \
            or not len(paths):
        raise ValueError(
            f'write_embeddings({path}): expected embeddings of shape '
            f'({len(paths)}, embedding_size) for {len(paths)} paths (at '
            f'least one), found shape {embeddings.shape}.')
    with atomic_write(path, 'wb') as file:
        np.savez(file, embeddings=embeddings, paths=paths)


def read_embeddings(path):
    """``(paths, embeddings)`` of a file written by :func:`embed_files`:
    a list of str and float32 ``(files, embedding_size)``.

    Raises:
        ValueError: the file is no such ``.npz`` file (the message names
            it and what it holds).
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            keys = sorted(data.files)
            if keys != ['embeddings', 'paths']:
                raise ValueError(f'expected the arrays embeddings and paths, '
                                 f'found {keys}')
            paths, embeddings = data['paths'], data['embeddings']
    except FileNotFoundError:
        raise
    except Exception as error:  # noqa: BLE001 - no zip, pickled arrays, ...
        raise ValueError(f'{path}: not an embeddings file '
                         f'({error})') from None
    if embeddings.ndim != 2 or paths.shape != embeddings.shape[:1]:
        raise ValueError(
            f'{path}: expected embeddings (files, embedding_size) and paths '
            f'(files,), found shapes {embeddings.shape} and {paths.shape}')
    return paths.tolist(), embeddings


# --------------------------------------------------------------------------
# verify
# --------------------------------------------------------------------------

def verify_pair(model, a, b, *, threshold=None, channel=None, mixdown=False,
                trusted=False, on_file=None):
    """Whether the audio files ``a`` and ``b`` hold the same speaker.

    The score is the cosine similarity of the two embeddings
    (:func:`padertorch_audio.evaluation.verification.cosine_scores`, the
    scoring of the model's verification evaluation); the files are judged
    the same speaker when ``score >= threshold``.

    Args:
        model, channel, mixdown, trusted: As for :func:`classify_files`.
        a, b: The two audio files.
        threshold: The decision threshold (a cosine similarity); default:
            the model's ``eer_threshold`` (its equal-error-rate operating
            point); when both are None, no decision is made.
        on_file: Called with each file's :class:`EmbeddedFile`; default:
            the notes and errors are logged.

    Returns:
        A :class:`Verification`; ``score`` None when a file failed (see
        its ``errors``).

    Raises:
        SpeakerFilesError: as for :func:`classify_files`.
    """
    from padertorch_audio.evaluation.verification import cosine_scores
    _check_channel(channel, mixdown)
    source = None if threshold is None else 'argument'
    if threshold is not None and not np.isfinite(threshold):
        raise ValueError(f'verify_pair: threshold must be a finite number, '
                         f'found {threshold!r}.')
    model, _ = _load(model, trusted)
    if threshold is None and getattr(model, 'eer_threshold', None) is not None:
        threshold, source = model.eer_threshold, 'model'
    verification = Verification(
        _embed(model, [a, b], channel, mixdown, False, on_file),
        threshold=None if threshold is None else float(threshold),
        threshold_source=source)
    if verification.errors:
        return verification
    first, second = (file.embedding for file in verification.files)
    verification.score = float(cosine_scores(
        {'a': first, 'b': second}, [('a', 'b')])[0])
    if verification.threshold is not None:
        verification.same_speaker = \
            verification.score >= verification.threshold
    return verification
