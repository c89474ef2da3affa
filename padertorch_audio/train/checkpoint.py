"""Checkpoint files: atomic writes, latest/best links, RNG states.

Layout in ``<storage_dir>/checkpoints/``::

    ckpt_<iteration>.pth       one per checkpoint trigger
    ckpt_latest.pth            link (or pointer file) to the newest
    ckpt_best_<metric>.pth     link (or pointer file) to the best validated
    ckpt_ranking.json          validation value of every checkpoint

A checkpoint is a dict of plain Python values and tensors; it is loaded with
``torch.load(weights_only=True)``.
"""
import itertools
import os
import random
import re
from pathlib import Path

import numpy as np
import torch

from padertorch_audio.io import atomic_write

__all__ = [
    'checkpoint_path', 'save_checkpoint', 'load_checkpoint', 'resolve_link',
    'write_link', 'list_checkpoints', 'get_rng_state', 'set_rng_state',
    'remove_stale_temporaries', 'epoch_iterator',
]

POINTER_MAGIC = 'padertorch_audio checkpoint pointer\n'
CHECKPOINT_PATTERN = re.compile(r'ckpt_(\d+)\.pth')
#: The temporary files of this module's writes: ``atomic_write``'s
#: ``.<name>.<12 hex digits>.tmp`` and ``write_link``'s ``.<name>.<pid>.tmp``
#: for the names written here.
TEMPORARY_PATTERN = re.compile(
    r'\.(ckpt_(\d+|latest|best_[^/]+)\.pth|ckpt_ranking\.json)'
    r'\.([0-9a-f]{12}|\d+)\.tmp')


def checkpoint_path(checkpoint_dir, iteration: int) -> Path:
    return Path(checkpoint_dir) / f'ckpt_{iteration}.pth'


def list_checkpoints(checkpoint_dir) -> dict:
    """``{iteration: path}`` of the ``ckpt_<iteration>.pth`` files."""
    checkpoint_dir = Path(checkpoint_dir)
    if not checkpoint_dir.is_dir():
        return {}
    found = {}
    for path in checkpoint_dir.iterdir():
        match = CHECKPOINT_PATTERN.fullmatch(path.name)
        if match and not path.is_symlink():
            found[int(match.group(1))] = path
    return dict(sorted(found.items()))


def save_checkpoint(state: dict, path):
    """Write ``state`` atomically (temporary file, fsync, rename)."""
    with atomic_write(path, 'wb') as f:
        torch.save(state, f)


def remove_stale_temporaries(checkpoint_dir) -> list:
    """Remove the temporary files that an interrupted write (SIGKILL, power
    loss) left in ``checkpoint_dir``; returns their paths.

    Only names of :data:`TEMPORARY_PATTERN` are removed (files and links,
    never directories); call it before this run writes checkpoints.
    """
    checkpoint_dir = Path(checkpoint_dir)
    if not checkpoint_dir.is_dir():
        return []
    removed = []
    for path in sorted(checkpoint_dir.iterdir()):
        if (TEMPORARY_PATTERN.fullmatch(path.name)
                and (path.is_symlink() or path.is_file())):
            path.unlink()
            removed.append(path)
    return removed


def write_link(link, target):
    """Point ``link`` at ``target`` (same directory) atomically.

    A relative symbolic link where the file system allows it, else a small
    pointer file that :func:`resolve_link` follows.
    """
    link, target = Path(link), Path(target)
    temporary = link.with_name(f'.{link.name}.{os.getpid()}.tmp')
    try:
        if temporary.is_symlink() or temporary.exists():
            temporary.unlink()
        os.symlink(target.name, temporary)
        os.replace(temporary, link)
    except OSError:
        if temporary.is_symlink():
            temporary.unlink()
        with atomic_write(link, 'w') as f:
            f.write(POINTER_MAGIC + target.name + '\n')


def resolve_link(path) -> Path:
    """The checkpoint file ``path`` stands for (follows links/pointers)."""
    path = Path(path)
    if path.is_symlink():
        return Path(os.path.realpath(path))
    if path.is_file() and path.stat().st_size < 1024:
        with open(path, 'rb') as f:
            head = f.read(1024)
        if head.startswith(POINTER_MAGIC.encode()):
            name = head[len(POINTER_MAGIC):].decode().strip()
            return path.with_name(name)
    return path


def load_checkpoint(path, map_location='cpu') -> dict:
    """Load a checkpoint written by :func:`save_checkpoint`."""
    target = resolve_link(path)
    if not target.is_file():
        raise FileNotFoundError(
            f'Checkpoint {path} not found'
            + (f' (it points to {target})' if target != Path(path) else '')
            + '.')
    try:
        return torch.load(target, map_location=map_location, weights_only=True)
    except Exception as error:
        raise RuntimeError(
            f'Cannot load checkpoint {target}: {error}') from error


def get_rng_state() -> dict:
    """The torch (CPU and CUDA), numpy and Python random generator states."""
    kind, keys, position, has_gauss, cached_gaussian = np.random.get_state()
    version, python_state, gauss_next = random.getstate()
    state = {
        'torch': torch.get_rng_state(),
        'numpy': {
            'kind': kind, 'keys': torch.from_numpy(keys.astype(np.int64)),
            'position': int(position), 'has_gauss': int(has_gauss),
            'cached_gaussian': float(cached_gaussian),
        },
        'python': {
            'version': version, 'state': list(python_state),
            'gauss_next': gauss_next,
        },
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict):
    """Restore the states returned by :func:`get_rng_state`."""
    torch.set_rng_state(state['torch'])
    numpy_state = state['numpy']
    np.random.set_state((
        numpy_state['kind'],
        numpy_state['keys'].numpy().astype(np.uint32),
        numpy_state['position'], numpy_state['has_gauss'],
        numpy_state['cached_gaussian'],
    ))
    python_state = state['python']
    random.setstate((
        python_state['version'], tuple(python_state['state']),
        python_state['gauss_next'],
    ))
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


def epoch_iterator(iterable, skip, epoch_rng_state):
    """The iterator of an epoch, ``skip`` examples in (after a resume).

    Returns ``(iterator, epoch_rng_state)``. The random generator states at
    the start of each epoch are kept (and checkpointed): a resume inside an
    epoch rebuilds that epoch's order (e.g. a shuffling DataLoader's
    permutation) under ``epoch_rng_state`` and skips the examples already
    used, so it continues exactly where it stopped. Skipping loads those
    examples once more, except for lists/tuples.
    """
    if skip and isinstance(iterable, (list, tuple)):
        return iter(iterable[skip:]), epoch_rng_state
    if not skip:
        epoch_rng_state = get_rng_state()  # before iter(): it may draw
        return iter(iterable), epoch_rng_state
    current = get_rng_state()
    if epoch_rng_state is not None:
        set_rng_state(epoch_rng_state)
    iterator = iter(iterable)
    # Samplers draw their seed at the first next(), so skip under the
    # epoch's states too.
    for _ in itertools.islice(iterator, skip):
        pass
    set_rng_state(current)
    return iterator, epoch_rng_state
