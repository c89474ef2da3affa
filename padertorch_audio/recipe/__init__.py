"""What every recipe needs, so that a recipe holds only its own parts.

A recipe (``recipes/<name>/``, see ``recipes/README.md``) turns a corpus on
disk into an evaluated, exported model in numbered stages. It supplies its
config, "prepare" (corpus layout -> database JSON), "load one example" and
"evaluate one example"; this package gives the rest:

- :class:`Experiment` (``experiment``): the sacred experiment, with the run
  record in ``<exp_dir>/sacred`` written by rank 0 only and the global
  ``batch_size`` checked before anything is written;
- :func:`data_loader`, :func:`random_segment` (``data``): batches with
  :class:`~padertorch_audio.data.Collate`, this rank's shard reshuffled
  every epoch, reproducible random segments in the workers (read with
  :func:`padertorch_audio.io.read_audio` ``(path, start, stop)``);
- :func:`load_trained_model`, :func:`find_checkpoint` (``trained``): the
  model of an experiment dir with the weights of its best, latest or a
  named checkpoint;
- :func:`export_experiment` (``export``): one model file with the
  training and evaluation summaries;
- :func:`set_everywhere` (``config``): a value set wherever a nested config
  has that key.

Elsewhere in the library: training resumes with
``trainer.train(data, resume='auto')``; the evaluation stage is
:func:`padertorch_audio.evaluation.evaluate_dataset` (results files per
torchrun rank, merge, summary); the separation stage
:func:`padertorch_audio.separation.separate_files`; ``recipes/launcher.sh``
is the shared command line of the recipes' ``run.sh``.

``Experiment`` needs sacred (the ``recipes`` extra); it is imported when
first used, so the rest works without it.
"""
from padertorch_audio.recipe.config import set_everywhere
from padertorch_audio.recipe.data import data_loader, random_segment
from padertorch_audio.recipe.export import export_experiment
from padertorch_audio.recipe.trained import find_checkpoint, load_trained_model

__all__ = [
    'Experiment',
    'data_loader',
    'random_segment',
    'load_trained_model',
    'find_checkpoint',
    'export_experiment',
    'set_everywhere',
]


def __getattr__(name):
    if name == 'Experiment':  # sacred only when needed
        from padertorch_audio.recipe.experiment import Experiment
        return Experiment
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
