"""Files and directories: atomic writes, JSON, numbered storage dirs.

Everything that a training run writes goes through :func:`atomic_write`, so
that a crash (or a full disk, or Ctrl-C) never leaves a truncated file under
its final name: readers see either the old file or the complete new one.

Storage dirs are numbered: ``$STORAGE_ROOT/<name>/1``, ``.../2``, ...; see
:func:`get_new_storage_dir` and :func:`get_new_subdir`.
"""
import contextlib
import json
import os
import re
import secrets
import struct
import tempfile
from pathlib import Path

import numpy as np
from paderbox.io.json_module import Encoder as _PaderboxJSONEncoder

__all__ = [
    'atomic_write',
    'dump_json',
    'load_json',
    'get_new_storage_dir',
    'get_new_subdir',
    'check_writable',
    'read_audio',
    'write_audio',
    'AudioFileError',
]

STORAGE_ROOT_ENV = 'STORAGE_ROOT'


# --------------------------------------------------------------------------
# Atomic writes
# --------------------------------------------------------------------------

def _fsync_directory(directory):
    """Best effort: make a rename inside `directory` durable.

    Platforms without directory fsync (Windows cannot open a directory)
    raise OSError somewhere in here; the rename itself has happened anyway.
    """
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, 'O_DIRECTORY', 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _create_temporary_file(path):
    """Open a new, empty temporary file next to `path` (same directory).

    Unlike ``tempfile.mkstemp`` (mode 0o600), the file gets the permissions
    an ordinary ``open(path, 'w')`` would give it (0o666 minus the umask).
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, 'O_BINARY', 0)
    for _ in range(100):
        temporary = path.parent / f'.{path.name}.{secrets.token_hex(6)}.tmp'
        try:
            return temporary, os.open(temporary, flags, 0o666)
        except FileExistsError:
            continue
    raise FileExistsError(
        f'Could not create a temporary file next to {path}: 100 random '
        f'names were all taken.'
    )


# Not paderbox.io.open_atomic: it does not fsync the directory (the rename
# can be lost on power failure), creates 0o600 files and names temporaries
# `<name><random>`, which the clean-up of interrupted writes
# (train/checkpoint.py, toy/common.py) could not tell from other files.
@contextlib.contextmanager
def atomic_write(path, mode='wb'):
    """Write a file so that `path` is never seen half-written.

    Yields a file object for a temporary file in the same directory as
    `path` (named ``.<name>.<random>.tmp``). When the block finishes, the
    file is flushed, fsync'ed and renamed onto `path` (``os.replace``, atomic
    on POSIX and Windows), then the directory is fsync'ed (best effort).
    When the block raises, the temporary file is removed, `path` keeps its
    old content (or stays absent) and the exception propagates.

    Do not close the yielded file inside the block.

    Args:
        path: str or pathlib.Path of the final file. Its directory must exist.
        mode: 'wb' (bytes) or 'w' (text, UTF-8).

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / 'numbers.txt'
    >>> with atomic_write(path, 'w') as f:
    ...     _ = f.write('1 2 3\\n')
    >>> path.read_text()
    '1 2 3\\n'
    >>> with atomic_write(path, 'w') as f:
    ...     _ = f.write('4 5')
    ...     raise RuntimeError('crash in the middle of writing')
    Traceback (most recent call last):
      ...
    RuntimeError: crash in the middle of writing
    >>> path.read_text()
    '1 2 3\\n'
    >>> sorted(p.name for p in path.parent.iterdir())
    ['numbers.txt']
    """
    if mode not in ('w', 'wb'):
        raise ValueError(
            f"atomic_write supports mode 'w' or 'wb', got mode={mode!r} "
            f"for {path}."
        )
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(
            f'Cannot write {path}: its directory {path.parent} does not exist.'
        )
    temporary, fd = _create_temporary_file(path)
    try:
        if mode == 'w':
            file = os.fdopen(fd, 'w', encoding='utf-8')
        else:
            file = os.fdopen(fd, 'wb')
    except BaseException:
        os.close(fd)
        os.unlink(temporary)
        raise
    try:
        with file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_directory(path.parent)


# --------------------------------------------------------------------------
# JSON
# --------------------------------------------------------------------------

class _JSONEncoder(_PaderboxJSONEncoder):
    """paderbox's encoder (numpy scalars and arrays, ``pathlib.Path``,
    ``datetime``) plus any ``os.PathLike`` and an error showing the value."""

    def default(self, obj):
        if isinstance(obj, os.PathLike):
            return os.fspath(obj)
        try:
            return super().default(obj)
        except TypeError:
            raise TypeError(
                f'Object of type {type(obj).__name__} is not JSON '
                f'serializable: {obj!r:.200}'
            ) from None


def dump_json(obj, path, indent=2, sort_keys=False):
    """Write `obj` as JSON to `path` atomically (see :func:`atomic_write`).

    The file is UTF-8 and ends with a newline. numpy scalars and arrays are
    written as numbers and lists, paths as strings, datetimes as
    ``'%Y-%m-%d_%H-%M-%S'`` (paderbox's JSON encoder). When `obj` cannot be
    serialised, nothing is written.

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / 'config.json'
    >>> dump_json({'lr': 1e-3, 'layers': [2, 3]}, path, indent=None)
    >>> path.read_text()
    '{"lr": 0.001, "layers": [2, 3]}\\n'
    >>> load_json(path)
    {'lr': 0.001, 'layers': [2, 3]}
    """
    # Not paderbox.io.dump_json: it writes in place, so a crash leaves a
    # truncated file under the final name.
    text = json.dumps(
        obj, indent=indent, sort_keys=sort_keys, cls=_JSONEncoder,
        ensure_ascii=False,
    )
    with atomic_write(path, 'w') as file:
        file.write(text + '\n')


# Not paderbox.io.load_json: it reads in the locale's encoding and its
# JSON errors do not name the file.
def load_json(path):
    """Read the JSON file at `path`.

    Raises:
        FileNotFoundError: there is no file at `path`.
        json.JSONDecodeError: (a ValueError) the file is not valid JSON;
            the message names the file and the line/column.

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / 'broken.json'
    >>> _ = path.write_text('{"lr": }')
    >>> load_json(path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
      ...
    json.decoder.JSONDecodeError: Invalid JSON in .../broken.json: Expecting value: line 1 column 8 (char 7)
    """
    path = Path(path)
    try:
        text = path.read_text(encoding='utf-8')
    except FileNotFoundError:
        raise FileNotFoundError(
            f'JSON file not found: {path} (no such file).'
        ) from None
    except IsADirectoryError:
        raise IsADirectoryError(
            f'Expected a JSON file at {path}, found a directory.'
        ) from None
    except UnicodeDecodeError as error:
        raise ValueError(
            f'Invalid JSON in {path}: not UTF-8 text ({error}).'
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise json.JSONDecodeError(
            f'Invalid JSON in {path}: {error.msg}', error.doc, error.pos,
        ) from None


# --------------------------------------------------------------------------
# Audio files
# --------------------------------------------------------------------------

class AudioFileError(ValueError):
    """An audio file cannot be read: missing, empty, truncated or no audio."""


# paderbox has no truncation check: libsndfile (and paderbox.io.load_audio
# on top of it) reads a cut WAV file silently shorter.
def wav_truncation(path):
    """A message when `path` is a RIFF/WAVE file whose data chunk is
    shorter than its header says (libsndfile reads such files silently
    shorter), else None."""
    try:
        with open(path, 'rb') as file:
            size = os.fstat(file.fileno()).st_size
            header = file.read(12)
            if len(header) < 12 or header[:4] != b'RIFF' \
                    or header[8:12] != b'WAVE':
                return None
            position = 12
            while position + 8 <= size:
                file.seek(position)
                chunk_id, chunk_size = struct.unpack('<4sI', file.read(8))
                position += 8
                if chunk_id == b'data':
                    available = size - position
                    if chunk_size not in (0, 0xFFFFFFFF) \
                            and chunk_size > available:
                        return (f'truncated WAV file: the header announces '
                                f'{chunk_size} bytes of samples, the file '
                                f'holds {available}')
                    return None
                position += chunk_size + (chunk_size & 1)
    except OSError:
        return None  # read_audio reports it
    return None


# soundfile directly, not paderbox.io.load_audio: that one reads '::' in a
# file name as a slice and needs libmagic to report an unreadable file.
def read_audio(path, start=0, stop=None, dtype='float32'):
    """Read an audio file (anything libsndfile reads: WAV, FLAC, ...).

    Args:
        path: The file.
        start, stop: Sample range to read (``stop=None``: to the end).
        dtype: 'float32' or 'float64' (values in [-1, 1]), or 'int16'.

    Returns:
        ``(signal, sample_rate)``: ``signal`` is ``(samples,)`` for a mono
        file, ``(channels, samples)`` otherwise (this package's convention,
        time last).

    Raises:
        AudioFileError: naming the file and the reason (missing, not audio,
            empty, truncated).
    """
    import soundfile
    path = Path(path)
    if not path.is_file():
        raise AudioFileError(f'{path}: file not found.')
    truncation = wav_truncation(path)
    if truncation:
        raise AudioFileError(f'{path}: {truncation}.')
    try:
        signal, sample_rate = soundfile.read(
            path, start=start, stop=stop, dtype=dtype, always_2d=True)
    except Exception as error:  # libsndfile's errors have no common type
        raise AudioFileError(
            f'{path}: not readable as audio ({str(error).strip()}).'
        ) from None
    if signal.shape[0] == 0:
        raise AudioFileError(f'{path}: the file holds no samples.')
    signal = signal.T
    if signal.shape[0] == 1:
        signal = signal[0]
    return signal, sample_rate


# Not paderbox.io.dump_audio: it writes in place and normalises the level
# by default.
def write_audio(path, signal, sample_rate, subtype='PCM_16'):
    """Write ``signal`` (``(samples,)`` or ``(channels, samples)``) atomically.

    The format follows the file name's extension (``.wav``, ``.flac``);
    float signals are expected in [-1, 1] (16-bit PCM clips outside).
    """
    import soundfile
    path = Path(path)
    signal = np.asarray(signal)
    if signal.ndim == 2:
        signal = signal.T
    elif signal.ndim != 1:
        raise ValueError(
            f'write_audio({path}): expected a signal of shape (samples,) or '
            f'(channels, samples), got shape {signal.shape}.')
    file_format = path.suffix[1:].upper() or 'WAV'
    with atomic_write(path, 'wb') as f:
        soundfile.write(f, signal, int(sample_rate), subtype=subtype,
                        format=file_format)


# --------------------------------------------------------------------------
# Numbered directories
# --------------------------------------------------------------------------

# Not paderbox.io.get_new_subdir: it counts only directories, so a file
# named like the next number makes it fail, and it resolves symlinks in the
# returned path.
def get_new_subdir(path, *, prefix=None):
    """Create and return a new numbered sub directory of `path`.

    The new directory is ``path/<n>`` (or ``path/<prefix>_<n>``), where n is
    one more than the largest number already used there (1 in an empty
    directory); gaps are not filled. `path` is created (with parents) when it
    does not exist. The directory is created with ``os.mkdir``, which fails
    when the name exists, so processes that start at the same time never get
    the same directory: the loser of a race retries with the next number.

    Args:
        path: str or pathlib.Path of the parent directory.
        prefix: optional name prefix, e.g. 'eval' -> 'eval_1', 'eval_2'.

    Returns:
        pathlib.Path of the new, empty directory.

    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> get_new_subdir(root).name, get_new_subdir(root).name
    ('1', '2')
    >>> get_new_subdir(root, prefix='eval').name
    'eval_1'
    """
    path = Path(path).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    if prefix:
        pattern = re.compile(re.escape(prefix) + r'_([0-9]+)')
    else:
        pattern = re.compile(r'([0-9]+)')
    for _ in range(1000):
        # Count files too: a file named '3' would block os.mkdir('3').
        numbers = [
            int(match.group(1))
            for match in map(pattern.fullmatch, os.listdir(path))
            if match
        ]
        number = max(numbers, default=0) + 1
        name = f'{prefix}_{number}' if prefix else str(number)
        new_dir = path / name
        try:
            os.mkdir(new_dir)
        except FileExistsError:
            continue  # Another process was faster; look again.
        return new_dir
    raise RuntimeError(
        f'Could not create a new numbered sub directory in {path}: '
        f'1000 attempts collided with other processes.'
    )


def get_new_storage_dir(name, *, root=None, prefix=None):
    """Create and return a new numbered storage dir ``<root>/<name>/<n>``.

    Args:
        name: experiment name, e.g. 'tasnet' (may contain '/' for nesting).
        root: base directory of all experiments. Defaults to the environment
            variable ``STORAGE_ROOT``.
        prefix: optional name prefix for the numbered dir (see
            :func:`get_new_subdir`).

    Returns:
        pathlib.Path of the new, empty directory. ``<root>/<name>`` is
        created as needed.

    Raises:
        RuntimeError: neither `root` nor ``STORAGE_ROOT`` is set.

    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> get_new_storage_dir('tasnet', root=root).relative_to(root).as_posix()
    'tasnet/1'
    >>> get_new_storage_dir('tasnet', root=root).relative_to(root).as_posix()
    'tasnet/2'
    """
    if root is None:
        root = os.environ.get(STORAGE_ROOT_ENV)
        if not root:
            raise RuntimeError(
                f'No storage root for the experiment {name!r}: the '
                f'environment variable {STORAGE_ROOT_ENV} is not set. Set it, '
                f'e.g. `export {STORAGE_ROOT_ENV}=/path/to/experiments`, or '
                f'pass root=... .'
            )
    return get_new_subdir(Path(root).expanduser() / name, prefix=prefix)


def check_writable(path):
    """Raise when a directory cannot be created or written at `path`.

    Looks for the nearest existing ancestor of `path` (or `path` itself),
    checks that it is a directory and creates and removes a temporary file in
    it. Nothing is left behind and `path` itself is not created. Use it to
    fail early, before hours of training, rather than at the first checkpoint.

    Raises:
        NotADirectoryError: `path` or one of its ancestors is a file.
        PermissionError: no file can be created in the nearest existing
            ancestor (permissions, read-only file system).

    >>> import tempfile, pathlib
    >>> directory = pathlib.Path(tempfile.mkdtemp())
    >>> check_writable(directory / 'not' / 'yet' / 'there')
    >>> (directory / 'not').exists()
    False
    >>> _ = (directory / 'file').write_text('')
    >>> check_writable(directory / 'file' / 'experiment')  # doctest: +ELLIPSIS
    Traceback (most recent call last):
      ...
    NotADirectoryError: Cannot create the directory .../file/experiment: its ancestor .../file is a file, not a directory.
    """
    path = Path(path).expanduser().absolute()
    existing = path
    while not os.path.lexists(existing):
        existing = existing.parent
    if not existing.is_dir():
        if existing == path:
            message = (f'Expected a directory at {path}, found a file '
                       f'(or a broken link).')
        else:
            message = (f'Cannot create the directory {path}: its ancestor '
                       f'{existing} is a file, not a directory.')
        raise NotADirectoryError(message)
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix='.check_writable.')
    except OSError as error:
        raise PermissionError(
            f'Cannot write to {path}: creating a file in {existing} failed '
            f'({error}).'
        ) from error
    os.close(fd)
    os.unlink(probe)
