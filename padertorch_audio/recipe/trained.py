"""The trained model of an experiment dir (a Trainer's storage dir)."""
import json
from pathlib import Path

__all__ = ['load_trained_model', 'find_checkpoint']


def find_checkpoint(exp_dir, checkpoint='best'):
    """The checkpoint file of ``exp_dir/checkpoints`` that ``checkpoint``
    names: ``'best'`` (the ``ckpt_best_<metric>.pth`` that validation
    keeps), ``'latest'`` or a file name (e.g. ``'ckpt_300.pth'``).

    Raises:
        FileNotFoundError: no such checkpoint; the message names the
            directory and what was looked for.
    """
    directory = Path(exp_dir) / 'checkpoints'
    if checkpoint == 'best':
        found = sorted(directory.glob('ckpt_best_*.pth'))
        if not found:
            raise FileNotFoundError(
                f'No best checkpoint (ckpt_best_<metric>.pth) in {directory}: '
                f'train first (stage 1), with a validation hook.')
        return found[0]
    path = directory / ('ckpt_latest.pth' if checkpoint == 'latest'
                        else checkpoint)
    if not (path.exists() or path.is_symlink()):
        raise FileNotFoundError(
            f'No checkpoint {path.name} in {directory}: expected \'best\', '
            f'\'latest\' or the name of a file there.')
    return path


def load_trained_model(exp_dir, checkpoint='best'):
    """The model of an experiment dir with the weights of a checkpoint.

    The model is built from the ``'model'`` entry of ``exp_dir/config.json``
    (what the Trainer writes before the first step) and gets the weights of
    :func:`find_checkpoint` ``(exp_dir, checkpoint)``.

    Returns:
        ``(model, path)``: the model in eval mode on the CPU and the
        checkpoint file it was loaded from.

    Raises:
        FileNotFoundError: no ``config.json`` or no such checkpoint.
        KeyError: ``config.json`` has no model config.
    """
    from padertorch_audio.base import Module
    from padertorch_audio.train.checkpoint import load_checkpoint
    config_file = Path(exp_dir) / 'config.json'
    if not config_file.is_file():
        raise FileNotFoundError(
            f'{config_file} not found: {exp_dir} is no experiment dir of a '
            f'Trainer (train first, stage 1).')
    config = json.loads(config_file.read_text())
    if not isinstance(config.get('model'), dict):
        raise KeyError(f'{config_file} has no model config (a dict under '
                       f'"model").')
    model = Module.from_config(config['model'])
    path = find_checkpoint(exp_dir, checkpoint)
    model.load_state_dict(load_checkpoint(path)['model'])
    return model.eval(), path
