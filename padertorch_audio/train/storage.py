"""The storage dir of a training run: checked first, written lazily.

``check`` runs before anything else (a new run needs a directory without
another run in it; a resume needs ``checkpoints/ckpt_latest.pth``).
``prepare`` runs after the first review of the run succeeded, so that a
model or data error leaves nothing behind: it creates ``checkpoints/``,
removes the temporaries an interrupted checkpoint write left there, and
writes ``config.json`` (on a resume with another config,
``config_resume_<iteration>.json``) and ``environment.json`` (package
versions, host, command line).
"""
import functools
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path

import torch

from padertorch_audio.io import check_writable, dump_json
from padertorch_audio.train import checkpoint as ckpt

__all__ = ['RunStorage', 'package_versions', 'environment']

# A child of the Trainer's logger: whoever configures that one gets the
# messages of the run from here too.
log = logging.getLogger('padertorch_audio.train.trainer.storage')


class RunStorage:
    """``storage_dir`` of one run (see the module doc)."""

    def __init__(self, storage_dir):
        self.storage_dir = Path(storage_dir)
        self.checkpoint_dir = self.storage_dir / 'checkpoints'
        #: Whether :meth:`prepare` ran in this training run.
        self.ready = False

    @property
    def latest(self) -> Path:
        return self.checkpoint_dir / 'ckpt_latest.pth'

    def has_checkpoint(self) -> bool:
        return self.latest.exists() or self.latest.is_symlink()

    def check(self, resume):
        """Raise when the directory cannot hold this run (see module doc)."""
        directory = self.storage_dir
        check_writable(directory)
        if resume:
            if not self.has_checkpoint():
                raise FileNotFoundError(
                    f'resume=True, but there is no checkpoint to resume from:'
                    f' {self.latest} does not exist.')
            if not ckpt.resolve_link(self.latest).is_file():
                raise FileNotFoundError(
                    f'resume=True, but {self.latest} points to a missing file '
                    f'{ckpt.resolve_link(self.latest)}.')
            return
        found = [name for name in ('config.json', 'checkpoints')
                 if (directory / name).exists()]
        if directory.is_dir():
            found += sorted(p.name for p in directory.glob('events.out.*'))
        if found:
            raise FileExistsError(
                f'storage_dir {directory} already holds a training run '
                f'({", ".join(found[:3])}). Pass resume=True to continue it, '
                f'or choose a new directory (padertorch_audio.io.'
                f'get_new_storage_dir).')

    def prepare(self, config, resume, iteration, world_size, write=True):
        """Create the directory and write the run's files (``write``: this
        is the process that writes, rank 0)."""
        self.ready = True
        if not write:
            return
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        stale = ckpt.remove_stale_temporaries(self.checkpoint_dir)
        if stale:
            log.warning('Removed %d temporary file(s) that an interrupted '
                        'checkpoint write left in %s: %s', len(stale),
                        self.checkpoint_dir, ', '.join(p.name for p in stale))
        config_path = self.storage_dir / 'config.json'
        if not resume:
            dump_json(config, config_path)
        else:
            try:
                old = json.loads(config_path.read_text())
            except (OSError, ValueError):
                old = None
            if old != json.loads(json.dumps(config)):
                dump_json(config, self.storage_dir
                          / f'config_resume_{iteration}.json')
        dump_json({**environment(), 'world_size': world_size},
                  self.storage_dir / 'environment.json')


@functools.lru_cache(maxsize=1)
def _package_versions():
    from importlib import metadata
    versions = {'python': platform.python_version()}
    for name in ('padertorch_audio', 'torch', 'numpy', 'scipy',
                 'lazy_dataset', 'paderbox', 'tensorboardX', 'soundfile'):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def package_versions() -> dict:
    """Versions of Python and the packages a run depends on (cached: the
    metadata look-ups take milliseconds)."""
    return dict(_package_versions())


def environment() -> dict:
    """Package versions and host facts for ``environment.json``."""
    return {
        'versions': package_versions(),
        'host': platform.node(),
        'cuda_available': torch.cuda.is_available(),
        'argv': list(sys.argv),
        'pid': os.getpid(),
        'time': time.strftime('%Y-%m-%d %H:%M:%S'),
    }
