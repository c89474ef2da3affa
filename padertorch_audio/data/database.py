"""Database JSON files (lazy_dataset's JsonDatabase format) and their checks.

A database JSON lists the examples of a corpus by dataset::

    {"datasets": {"tt": {"<example_id>": {
        "audio_path": {"observation": "/.../mix/<id>.wav",
                       "speech_source": ["/.../s1/<id>.wav", ...]},
        "num_samples": 23764, "sample_rate": 8000, ...}}}}

Recipes write one in their ``prepare`` stage (after checking every audio
file with :func:`check_audio_files`) and read it with :func:`load_database`
(a ``lazy_dataset.database.JsonDatabase``).
"""
import concurrent.futures
from pathlib import Path

import soundfile

from padertorch_audio.io import dump_json, wav_truncation

__all__ = ['check_audio_files', 'write_database', 'load_database',
           'DatabaseError']


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
    paths = sorted({path for example in examples.values()
                    for path in _audio_paths(example['audio_path'])})
    with concurrent.futures.ThreadPoolExecutor(num_workers) as pool:
        results = list(pool.map(_info, paths))
    infos = {path: info for path, info, _ in results if info is not None}
    problems = [f'{path}: {reason}' for path, _, reason in results if reason]

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
