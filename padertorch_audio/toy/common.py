"""What the toy corpora share: the root directory's life cycle, 16-bit
audio files and the worker pool.

A toy corpus lives alone in its root directory ``ROOT``. Generation goes
through these states:

1. ``ROOT`` is missing or empty: :func:`open_root` writes the in-progress
   marker ``ROOT/.padertorch_audio_toy.incomplete.json`` (corpus, size, seed,
   version) first, then the audio and text files are written, each one
   atomically (:func:`padertorch_audio.io.atomic_write`).
2. :func:`finish` turns the in-progress marker into the marker
   ``ROOT/.padertorch_audio_toy.json`` (the same fields plus the number of
   files and a SHA-256 over the ``sha256sum``-style listing of all of them,
   sorted by path), last.

Running again with the same parameters:

- after step 2 it is a no-op: nothing is written (a read-only copy of a
  corpus works too). A corpus whose file count no longer matches the marker
  is refused.
- after an interruption (the in-progress marker is there, the marker is
  not) it *resumes*: everything is computed again, files that already hold
  the right bytes are left alone, the others are (re)written, leftover
  temporary files of :func:`~padertorch_audio.io.atomic_write` are removed.

Everything else is refused before anything is touched: a ``ROOT`` that
holds other files, another corpus, size or seed (complete or interrupted),
or a corpus written by another version of the generator.
"""
import dataclasses
import hashlib
import io
import logging
import multiprocessing
import os
import re
import time
from pathlib import Path

import numpy as np

from padertorch_audio.io import atomic_write, check_writable, dump_json, \
    load_json

__all__ = [
    'ToyCorpusError',
    'Parameters',
    'MARKER_NAME',
    'INCOMPLETE_MARKER_NAME',
    'VERSION',
    'check_size',
    'check_seed',
    'check_processes',
    'open_root',
    'finish',
    'write_file',
    'encode_audio',
    'to_int16',
    'WorkerPool',
]

logger = logging.getLogger('padertorch_audio.toy')

#: Version of the generated content. Increase it whenever a change of the
#: code changes a byte of a generated corpus; corpora of other versions
#: are then refused rather than silently mixed.
VERSION = 1

MARKER_NAME = '.padertorch_audio_toy.json'
INCOMPLETE_MARKER_NAME = '.padertorch_audio_toy.incomplete.json'

# The names of atomic_write's temporary files: `.<name>.<12 hex>.tmp`.
_TEMPORARY_FILE = re.compile(r'\..+\.[0-9a-f]{12}\.tmp')


class ToyCorpusError(RuntimeError):
    """A toy corpus cannot be (re)generated in the given directory."""


@dataclasses.dataclass(frozen=True)
class Parameters:
    """What determines a toy corpus completely."""
    corpus: str
    size: str
    seed: int
    version: int = VERSION

    def describe(self):
        return f'{self.corpus} (size={self.size!r}, seed={self.seed})'


def check_size(size, sizes):
    """Raise a ValueError naming the valid sizes unless `size` is one."""
    if not isinstance(size, str) or size not in sizes:
        raise ValueError(
            f'Unknown toy corpus size {size!r}; expected one of '
            f'{", ".join(map(repr, sizes))}.')
    return size


def check_seed(seed):
    """The seed as an int; raises a ValueError unless a whole number >= 0."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) \
            or seed < 0:
        raise ValueError(
            f'Expected the seed as a whole number >= 0, found {seed!r}.')
    return int(seed)


def check_processes(processes):
    """The number of worker processes: `processes` (a whole number >= 1) or,
    for None, the number of CPU cores this process may use."""
    if processes is None:
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # not on Linux
            return max(1, os.cpu_count() or 1)
    if isinstance(processes, bool) \
            or not isinstance(processes, (int, np.integer)) or processes < 1:
        raise ValueError(f'Expected the number of processes as a whole '
                         f'number >= 1 (or None), found {processes!r}.')
    return int(processes)


# --------------------------------------------------------------------------
# The root directory
# --------------------------------------------------------------------------

def _read_marker(path):
    try:
        marker = load_json(path)
    except ValueError as error:
        raise ToyCorpusError(
            f'{path} is not a valid toy corpus marker ({error}). Delete the '
            f'directory {path.parent} and run again.') from None
    if not isinstance(marker, dict):
        raise ToyCorpusError(
            f'{path} is not a valid toy corpus marker (expected a JSON '
            f'object). Delete the directory {path.parent} and run again.')
    return marker


def _marker_describes(marker, parameters):
    return all(marker.get(key) == value
               for key, value in dataclasses.asdict(parameters).items())


def _describe_marker(marker):
    return (f'{marker.get("corpus")} (size={marker.get("size")!r}, '
            f'seed={marker.get("seed")}, version {marker.get("version")})')


def _count_files(root):
    return sum(len(files) for _, _, files in os.walk(root)) - 1  # the marker


def open_root(root, parameters):
    """Prepare `root` for generating the corpus `parameters`.

    Returns:
        ``'complete'`` when `root` already holds this corpus (nothing to
        do, nothing was written), ``'new'`` or ``'resume'`` when the files
        are to be written (the in-progress marker is then in place).

    Raises:
        ToyCorpusError: `root` holds something else (see the module
            docstring); nothing was touched.
        NotADirectoryError, PermissionError: `root` cannot be a writable
            directory (from :func:`padertorch_audio.io.check_writable`).
    """
    root = Path(root)
    marker_path = root / MARKER_NAME
    incomplete_path = root / INCOMPLETE_MARKER_NAME
    state = 'new'
    if root.is_dir() and marker_path.is_file():
        marker = _read_marker(marker_path)
        if not _marker_describes(marker, parameters):
            raise ToyCorpusError(
                f'{root} already holds the toy corpus '
                f'{_describe_marker(marker)}, not '
                f'{parameters.describe()} (version {parameters.version}). '
                f'Choose another directory or delete {root}.')
        found = _count_files(root)
        if found != marker.get('num_files'):
            raise ToyCorpusError(
                f'{root} holds the toy corpus {parameters.describe()}, but '
                f'{found} files instead of the {marker.get("num_files")} '
                f'that were written: it was changed afterwards. Delete '
                f'{root} and run again.')
        return 'complete'
    if root.is_dir() and incomplete_path.is_file():
        marker = _read_marker(incomplete_path)
        if not _marker_describes(marker, parameters):
            raise ToyCorpusError(
                f'{root} holds an interrupted generation of the toy corpus '
                f'{_describe_marker(marker)}, not '
                f'{parameters.describe()} (version {parameters.version}). '
                f'Delete {root} and run again, or resume it with the same '
                f'parameters.')
        state = 'resume'
    elif root.is_dir() and any(os.scandir(root)):
        names = sorted(os.listdir(root))
        shown = ', '.join(names[:5]) + (', ...' if len(names) > 5 else '')
        raise ToyCorpusError(
            f'Refusing to write the toy corpus {parameters.describe()} into '
            f'{root}: the directory is not empty ({shown}) and holds no toy '
            f'corpus marker {MARKER_NAME}. Choose a new or empty directory.')
    check_writable(root)
    root.mkdir(parents=True, exist_ok=True)
    if state == 'resume':
        _remove_temporary_files(root)
    else:
        dump_json(dataclasses.asdict(parameters), incomplete_path)
    return state


def _remove_temporary_files(root):
    for directory, _, files in os.walk(root):
        for name in files:
            if _TEMPORARY_FILE.fullmatch(name):
                os.unlink(Path(directory) / name)


def finish(root, parameters, digests):
    """Write the marker (last) after checking that `root` holds exactly the
    files in `digests` (``{path relative to root: sha256 hex}``).

    Returns the marker (a dict).
    """
    root = Path(root)
    expected = set(digests)
    found = set()
    for directory, _, files in os.walk(root):
        for name in files:
            relative = (Path(directory) / name).relative_to(root).as_posix()
            if relative != INCOMPLETE_MARKER_NAME:
                found.add(relative)
    if found != expected:
        unexpected = sorted(found - expected)
        missing = sorted(expected - found)
        raise ToyCorpusError(
            f'{root} does not hold the expected files of the toy corpus '
            f'{parameters.describe()}: unexpected {unexpected[:5]}, missing '
            f'{missing[:5]}. Delete {root} and run again.')
    listing = ''.join(f'{digests[name]}  {name}\n' for name in sorted(digests))
    marker = {
        **dataclasses.asdict(parameters),
        'num_files': len(digests),
        'sha256': hashlib.sha256(listing.encode()).hexdigest(),
    }
    # Complete the in-progress marker, then rename it: at no moment are
    # there two markers or none.
    dump_json(marker, root / INCOMPLETE_MARKER_NAME)
    os.replace(root / INCOMPLETE_MARKER_NAME, root / MARKER_NAME)
    return marker


# --------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------

def write_file(root, relative, data):
    """Write the bytes `data` to ``root / relative`` atomically, unless the
    file already holds exactly them (a resumed generation).

    Returns ``(relative, sha256 hex of data)``.
    """
    path = Path(root) / relative
    digest = hashlib.sha256(data).hexdigest()
    try:
        unchanged = path.stat().st_size == len(data) \
            and hashlib.sha256(path.read_bytes()).hexdigest() == digest
    except FileNotFoundError:
        unchanged = False
    if not unchanged:
        with atomic_write(path, 'wb') as file:
            file.write(data)
    return relative, digest


def to_int16(signal):
    """Quantise a float signal in [-1, 1) to 16-bit integers:
    ``round(signal * 32768)`` (the inverse of reading 16-bit PCM as float,
    which divides by 32768). Raises when that would clip."""
    quantised = np.round(np.asarray(signal, dtype=np.float64) * 32768)
    if quantised.size and (quantised.max() > 32767
                           or quantised.min() < -32768):
        raise ValueError(f'Signal out of the 16-bit range: peak '
                         f'{np.abs(signal).max():.4f}.')
    return quantised.astype(np.int16)


def encode_audio(signal, sample_rate, file_format):
    """The bytes of a mono 16-bit PCM 'WAV' or 'FLAC' file of the int16
    array `signal` (soundfile / libsndfile)."""
    import soundfile
    if signal.dtype != np.int16:
        raise TypeError(f'Expected int16 samples, found {signal.dtype}.')
    buffer = io.BytesIO()
    soundfile.write(buffer, signal, sample_rate, format=file_format,
                    subtype='PCM_16')
    return buffer.getvalue()


# --------------------------------------------------------------------------
# Workers
# --------------------------------------------------------------------------

class WorkerPool:
    """``pool.map(function, jobs)`` is ``[function(job) for job in jobs]``,
    computed by `processes` worker processes when that is more than 1. The
    order of the results is kept, so nothing depends on the number of
    processes. Use it as a context manager."""

    def __init__(self, processes):
        self.processes = int(processes)
        if self.processes < 1:
            raise ValueError(
                f'Expected at least 1 process, found {processes!r}.')
        self._pool = None

    def __enter__(self):
        if self.processes > 1:
            methods = multiprocessing.get_all_start_methods()
            context = multiprocessing.get_context(
                'fork' if 'fork' in methods else 'spawn')
            self._pool = context.Pool(self.processes)
        return self

    def __exit__(self, *exc_info):
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None

    def map(self, function, jobs):
        jobs = list(jobs)
        if self._pool is None or len(jobs) <= 1:
            return [function(job) for job in jobs]
        chunksize = max(1, min(8, len(jobs) // (4 * self.processes)))
        return self._pool.map(function, jobs, chunksize=chunksize)


# --------------------------------------------------------------------------
# The steps every corpus shares
# --------------------------------------------------------------------------

def create(corpus, corpus_dir, sizes, root, size, seed, processes, write):
    """Check the arguments and ``root``, run ``write``, write the marker.

    ``write(root, size, seed, parameters, pool) -> {relative path: digest}``
    writes the corpus files (the corpus-specific part). A complete corpus of
    the same parameters is left as it is; returns ``root / corpus_dir``.
    """
    check_size(size, sizes)
    seed = check_seed(seed)
    processes = check_processes(processes)
    root = Path(root).expanduser().absolute()
    parameters = Parameters(corpus, size, seed)
    state = open_root(root, parameters)
    path = root / corpus_dir
    if state == 'complete':
        logger.info(f'The toy corpus {parameters.describe()} is already '
                    f'complete in {path}: nothing written.')
        return path
    logger.info(f'{"Resuming" if state == "resume" else "Writing"} the toy '
                f'corpus {parameters.describe()} in {path} ...')
    start = time.perf_counter()
    with WorkerPool(processes) as pool:
        digests = write(root, size, seed, parameters, pool)
    marker = finish(root, parameters, digests)
    logger.info(f'Wrote {marker["num_files"]} files of the toy corpus '
                f'{parameters.describe()} to {path} in '
                f'{time.perf_counter() - start:.1f} s.')
    return path
