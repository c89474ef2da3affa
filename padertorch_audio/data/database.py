"""Database JSON files (lazy_dataset's JsonDatabase format) and their checks.

A database JSON lists the examples of a corpus by dataset::

    {"datasets": {"tt": {"<example_id>": {
        "audio_path": {"observation": "/.../mix/<id>.wav",
                       "speech_source": ["/.../s1/<id>.wav", ...]},
        "num_samples": 23764, "sample_rate": 8000, ...}}}}

Recipes write one in their ``prepare`` stage (after checking every audio
file with :func:`check_audio_files`, or with :func:`audio_file_infos` when
bad files are to be skipped rather than refused) and read it with
:func:`load_database` (a ``lazy_dataset.database.JsonDatabase``).
"""
import concurrent.futures
from pathlib import Path

import soundfile

from padertorch_audio.io import dump_json, wav_truncation

__all__ = ['audio_file_infos', 'check_audio_files', 'write_database',
           'load_database', 'DatabaseError']


class DatabaseError(ValueError):
    """Files of a corpus are missing, unreadable or inconsistent."""


def _audio_paths(audio_path):
    """Flatten ``{'observation': p, 'speech_source': [p, ...]}`` to paths."""
    if isinstance(audio_path, dict):
        for value in audio_path.values():
            yield from _audio_paths(value)
    elif isinstance(audio_path, (list, tuple)):
        for value in audio_path:
            yield from _audio_paths(value)
    else:
        yield str(audio_path)


def _info(path):
    truncation = wav_truncation(path)
    if truncation:
        return path, None, truncation
    try:
        info = soundfile.info(path)
    except Exception as error:  # soundfile raises RuntimeError/LibsndfileError
        reason = str(error).strip() or type(error).__name__
        if not Path(path).exists():
            reason = 'file not found'
        return path, None, reason
    if info.frames == 0:
        return path, None, 'empty (0 samples)'
    return path, info, None


def audio_file_infos(paths, num_workers=8):
    """Read the headers of audio files in parallel threads; never raises for
    a bad file.

    Only the header is read (``soundfile.info``; a WAV file is also checked
    for a data chunk shorter than its header says), not the samples.

    Args:
        paths: Iterable of paths (str or Path); each distinct path is read
            once.
        num_workers: Threads that read the headers.

    Returns:
        ``(infos, problems)``: ``infos`` maps each readable file with at
        least one sample to its ``soundfile.info``; ``problems`` maps every
        other file to the reason, e.g. ``'file not found'``, ``'empty (0
        samples)'`` or libsndfile's message. Both are keyed by the path as a
        str and ordered by it; every path is in exactly one of them.

    >>> import tempfile, pathlib, numpy, soundfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> soundfile.write(folder / 'a.flac', numpy.zeros(160), 16000)
    >>> infos, problems = audio_file_infos([folder / 'a.flac',
    ...                                     folder / 'b.flac'])
    >>> [(pathlib.Path(p).name, i.frames, i.samplerate)
    ...  for p, i in infos.items()]
    [('a.flac', 160, 16000)]
    >>> {pathlib.Path(p).name: reason for p, reason in problems.items()}
    {'b.flac': 'file not found'}
    """
    if not isinstance(num_workers, int) or num_workers < 1:
        raise ValueError(f'num_workers must be a whole number >= 1, got '
                         f'{num_workers!r}.')
    paths = sorted({str(path) for path in paths})
    if not paths:
        return {}, {}
    with concurrent.futures.ThreadPoolExecutor(
            min(num_workers, len(paths))) as pool:
        results = list(pool.map(_info, paths))
    infos = {path: info for path, info, _ in results if info is not None}
    problems = {path: reason for path, _, reason in results if reason}
    return infos, problems


def check_audio_files(examples: dict, num_workers=8):
    """Check every audio file of ``examples`` and return ``{path: info}``.

    Each example's ``'audio_path'`` entry (nested dicts/lists of paths) is
    checked: every file must be readable audio with at least one sample,
    and all files of one example must have the same number of samples and
    sample rate (a mixture and its sources). If ``'num_samples'`` /
    ``'sample_rate'`` are given in the example, they must match too.

    All problems are collected and raised together in one
    :class:`DatabaseError` that lists every bad file by path (it does not
    stop at the first).

    Args:
        examples: ``{example_id: {'audio_path': ..., ...}}``.
        num_workers: Threads that read the headers in parallel.
    """
    infos, bad_files = audio_file_infos(
        (path for example in examples.values()
         for path in _audio_paths(example['audio_path'])), num_workers)
    problems = [f'{path}: {reason}' for path, reason in bad_files.items()]

    for example_id, example in examples.items():
        example_paths = list(_audio_paths(example['audio_path']))
        found = {(infos[p].frames, infos[p].samplerate)
                 for p in example_paths if p in infos}
        expected = (example.get('num_samples'), example.get('sample_rate'))
        if len(found) > 1 or (found and None not in expected
                              and found != {expected}):
            details = ', '.join(
                f'{p} ({infos[p].frames} samples at {infos[p].samplerate} Hz)'
                for p in example_paths if p in infos)
            problems.append(
                f'{example_id}: files differ in length or sample rate'
                + (f' (expected {expected[0]} samples at {expected[1]} Hz)'
                   if None not in expected else '') + f': {details}')
    if problems:
        raise DatabaseError(
            f'{len(problems)} problem(s) with the audio files:\n  '
            + '\n  '.join(problems))
    return infos


def write_database(path, datasets: dict):
    """Write ``{'datasets': datasets}`` atomically as a JSON database."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    dump_json({'datasets': datasets}, path, indent=2)
    return path


def load_database(path):
    """The ``lazy_dataset.database.JsonDatabase`` of a database JSON file."""
    from lazy_dataset.database import JsonDatabase
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'Database JSON {path} does not exist.')
    return JsonDatabase(path)
