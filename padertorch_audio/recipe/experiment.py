"""The sacred experiment of a recipe: one config, one command per stage.

:class:`Experiment` is a ``sacred.Experiment`` that records the training
runs in ``<exp_dir>/sacred/<run id>/`` (config, host, packages, captured
output), wherever the config's ``exp_dir`` points, and that is safe under
torchrun: only rank 0 records (one record per run, not one per rank), and
a global ``batch_size`` that the ranks cannot share fails before the record
or anything else is written to ``exp_dir``.
"""
from pathlib import Path

import sacred
from sacred.observers import FileStorageObserver

from padertorch_audio.train import distributed

__all__ = ['Experiment']


class Experiment(sacred.Experiment):
    """A ``sacred.Experiment`` for the recipes (see the module doc).

    Built like a ``sacred.Experiment`` (sacred takes the doc, the base
    directory and the source files from the module that calls the
    constructor: the recipe's), e.g. ``Experiment('wsj0_2mix',
    save_git_info=False)``.

    The config must hold ``exp_dir`` and, for the observed commands, the
    global ``batch_size`` (all ranks together; the per-rank size is
    :func:`padertorch_audio.train.distributed.per_rank_batch_size`).

    >>> import pathlib, tempfile
    >>> exp_dir = pathlib.Path(tempfile.mkdtemp())
    >>> ex = Experiment('demo', save_git_info=False)
    >>> ex.add_config(exp_dir=str(exp_dir), batch_size=4)
    >>> @ex.command
    ... def train(batch_size):
    ...     return batch_size
    >>> ex.run('train', options={'--loglevel': 'ERROR'}).result
    4
    >>> sorted(path.name for path in (exp_dir / 'sacred' / '1').iterdir())
    ['config.json', 'cout.txt', 'metrics.json', 'run.json']
    """

    #: The commands that are recorded and whose ``batch_size`` is checked
    #: (the other stages are not recorded); set on a subclass or instance.
    observed_commands = ('train',)

    def _create_run(self, command_name=None, *args, **kwargs):
        run = super()._create_run(command_name, *args, **kwargs)
        if command_name in self.observed_commands:
            for key in ('batch_size', 'exp_dir'):
                if key not in run.config:
                    raise KeyError(
                        f'The config of the {self.path!r} experiment has no '
                        f'{key!r}, which its command {command_name!r} needs.')
            # Before anything touches exp_dir: every rank fails the same way.
            distributed.per_rank_batch_size(run.config['batch_size'])
            if distributed.is_main_process():
                run.observers.append(FileStorageObserver(
                    str(Path(run.config['exp_dir']) / 'sacred')))
        return run
