"""The results file of an evaluation: one JSON line per utterance.

A line is appended (flushed and fsync'ed) the moment an utterance is done,
so an interrupted evaluation loses at most the line being written: a last
line without its newline is ignored when reading and cut off when the file
is opened for appending again. An exclusive lock (POSIX) keeps two runs
from writing the same file.
"""
import contextlib
import json
import math
import os
from pathlib import Path

import numpy as np

__all__ = ['read_results', 'json_compatible']


def json_compatible(value):
    """Plain Python values for JSON: numpy scalars and arrays become numbers
    and lists, NaN and inf become None (strict JSON has no NaN), paths
    strings.

    >>> json_compatible({'a': np.float32(0.5), 'b': np.array([1, 2]),
    ...                  'c': float('nan')})
    {'a': 0.5, 'b': [1, 2], 'c': None}
    """
    if isinstance(value, dict):
        return {str(key): json_compatible(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_compatible(item) for item in value]
    if isinstance(value, np.ndarray):
        return json_compatible(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def read_results(results_path):
    """The results in a JSON-lines results file.

    A last line without its newline is what a crash in the middle of a
    write leaves behind: it is ignored (and cut off the file when the file
    is opened for appending by
    :func:`~padertorch_audio.evaluation.evaluate_utterances`).

    Returns:
        A list of dicts in file order ([] when the file does not exist).

    Raises:
        ValueError: a complete line is not a JSON object with an
            ``'example_id'``; the message names the file and line.
    """
    results, _ = read_complete_lines(Path(results_path))
    return results


def read_complete_lines(path):
    """``(results, valid_size)``: the results of ``path`` and the number of
    bytes up to the end of its last complete line."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return [], 0
    valid_size = data.rfind(b'\n') + 1
    results = []
    for number, line in enumerate(data[:valid_size].splitlines(), 1):
        if not line.strip():
            continue
        try:
            result = json.loads(line)
        except ValueError as error:
            raise ValueError(
                f'{path}, line {number}: not a JSON line ({error}). The '
                f'results file is damaged; fix or remove that line.'
            ) from None
        if not isinstance(result, dict) or 'example_id' not in result:
            raise ValueError(
                f'{path}, line {number}: expected a JSON object with an '
                f'"example_id", found {line[:80]!r}.')
        results.append(result)
    return results, valid_size


@contextlib.contextmanager
def open_for_appending(path, valid_size):
    """Open ``path`` for appending, cut off a torn last line (the bytes
    after ``valid_size``), and hold an exclusive lock (POSIX) so that two
    runs do not write the same file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, 'ab') as file:
        try:
            import fcntl
        except ImportError:  # Windows: no lock
            fcntl = None
        if fcntl is not None:
            try:
                fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise RuntimeError(
                    f'{path} is being written by another evaluation '
                    f'(it is locked); wait for it or use another file.'
                ) from None
        if file.tell() > valid_size:
            file.truncate(valid_size)
            file.seek(valid_size)
        yield file


def append_result(file, result):
    """Append ``result`` as one line to the open ``file``, on disk when this
    returns."""
    line = json.dumps(result, ensure_ascii=False, allow_nan=False)
    file.write(line.encode('utf-8') + b'\n')
    file.flush()
    os.fsync(file.fileno())
