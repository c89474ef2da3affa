"""Export the trained model of an experiment dir to one model file."""
import json
from pathlib import Path

from padertorch_audio.recipe.trained import load_trained_model

__all__ = ['export_experiment']


def _json_file(path):
    return json.loads(path.read_text()) if path.exists() else None


def export_experiment(exp_dir, model_file, export_model=None, *,
                      checkpoint='best', eval_dataset=None, corpus=None,
                      **kwargs):
    """Write the model of ``exp_dir`` with the weights of ``checkpoint`` to
    ``model_file``, with the experiment's summaries.

    Args:
        exp_dir: The experiment dir (see :func:`load_trained_model`).
        model_file: The file to write (atomically).
        export_model: The exporter of the model's task, default
            :func:`padertorch_audio.export.export_model` (which needs
            ``task=`` and ``sample_rate=`` in ``kwargs``), e.g.
            :func:`padertorch_audio.separation.export_model` (``sample_rate``
            and ``num_speakers``).
        checkpoint: ``'best'``, ``'latest'`` or a checkpoint file name.
        eval_dataset: The data set whose ``exp_dir/eval/<eval_dataset>/
            final_metrics.json`` becomes the file's ``evaluation_summary``
            (when it exists). The ``training_summary`` is
            ``checkpoints/ckpt_ranking.json`` (when it exists).
        corpus: The corpus the model was trained on, stored as
            ``training_summary['corpus']`` (``model.export_info`` of the
            loaded model); ``'toy'`` marks a demonstration model (trained on
            a toy corpus), which
            :func:`padertorch_audio.separation.separate_files` warns about.
        **kwargs: For ``export_model``.

    Returns:
        The checkpoint file the weights came from.
    """
    if export_model is None:
        from padertorch_audio.export import export_model
    exp_dir = Path(exp_dir)
    model, path = load_trained_model(exp_dir, checkpoint)
    training = _json_file(exp_dir / 'checkpoints' / 'ckpt_ranking.json')
    if corpus is not None:
        training = {**(training or {}), 'corpus': corpus}
    evaluation = None
    if eval_dataset is not None:
        evaluation = _json_file(
            exp_dir / 'eval' / eval_dataset / 'final_metrics.json')
    export_model(model, model_file, training_summary=training,
                 evaluation_summary=evaluation, **kwargs)
    return path
