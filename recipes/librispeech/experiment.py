"""The sacred experiment of the recipe: one config, one command per stage.

    python -m recipes.librispeech prepare  with librispeech_root=/data
    python -m recipes.librispeech train    with resnet34 exp_dir=exp/resnet34
    python -m recipes.librispeech evaluate with exp_dir=exp/resnet34
    python -m recipes.librispeech export   with exp_dir=exp/resnet34
    python -m recipes.librispeech classify with exp_dir=exp/resnet34

train and evaluate also run under torchrun (what ``run.sh --ngpu N``
does). Named configs pick the model: ``toy`` (the default, small enough to
train on a CPU in minutes) and ``resnet34`` (for the real corpus). Any key
can be changed with ``key=value`` (nested keys with dots, e.g.
``trainer.optimizer.lr=5e-4``).

The classes are the speakers of the train set, in sorted order; train
writes them to ``<exp_dir>/speakers.json``, which evaluate and export read.
"""
import copy
import functools
import json
from pathlib import Path

from padertorch_audio import classification
from padertorch_audio.io import dump_json
from padertorch_audio.recipe import (
    Experiment, export_experiment, load_trained_model, set_everywhere)
from padertorch_audio.train import distributed

RECIPE_DIR = Path(__file__).resolve().parent

# Records the training runs in <exp_dir>/sacred (rank 0) and checks the
# global batch_size before anything is written.
ex = Experiment('librispeech', save_git_info=False)

#: The models the named configs choose (num_classes is set at training
#: time: the number of speakers of the train set).
ARCHITECTURES = {
    'toy': classification.SPEAKER_RESNET,
    'resnet34': classification.SPEAKER_RESNET34,
}


@ex.config
def config():
    # ---- data (stage 0) ----
    librispeech_root = None      # None: generate and use the toy corpus
    subsets = ['train-clean-100']
    toy_root = str(RECIPE_DIR / 'data' / 'toy')
    toy_size = 'small'
    split = [0.8, 0.1, 0.1]      # train/validation/test of each speaker
    database_json = str(
        RECIPE_DIR / 'data' / f'librispeech_{"_".join(subsets)}'
        f'{"" if librispeech_root else "_toy"}.json')

    # ---- training (stage 1) ----
    tag = 'toy_resnet'
    exp_dir = str(RECIPE_DIR / 'exp' / tag)
    architecture = 'toy'         # a key of ARCHITECTURES (named configs)
    model = copy.deepcopy(ARCHITECTURES[architecture])
    sample_rate = 16000          # Hz; files at other rates are resampled
    # Under torchrun (run.sh --ngpu/--nnodes) each of N ranks takes
    # batch_size / N examples per step (the same step as one process).
    batch_size = 16              # GLOBAL: all ranks together; a multiple of N
    crop_seconds = [1.0, 4.0]    # random crops of training utterances
    num_workers = 2              # background processes that load audio
    validation_examples = None   # None: the whole validation set
    trainer = {
        'factory': 'padertorch_audio.train.trainer.Trainer',
        'model': model,
        'storage_dir': exp_dir,
        'optimizer': {'factory': 'padertorch_audio.train.optimizer.Adam',
                      'lr': 2e-3, 'gradient_clipping': 10.0},
        'summary_trigger': [50, 'iteration'],
        'checkpoint_trigger': [1, 'epoch'],
        'stop_trigger': [15, 'epoch'],  # toy: about 4 minutes on 2 cores
    }
    # 'cosine': the lr decays to 1% over the epochs of the stop_trigger
    # (no backoff then); None: constant, one backoff after
    # back_off_patience validations without improvement.
    lr_schedule = 'cosine'
    back_off_patience = 3
    early_stopping_patience = 10

    # ---- evaluation (stage 2), export (3), classification (4) ----
    dataset = 'test'
    checkpoint = 'best'          # 'best', 'latest' or a file name
    num_eval_workers = None      # None: all cores (per rank under torchrun)
    eval_timeout = 3600          # s a rank that is done waits for the others
    max_eval_examples = None
    max_trials = 200000          # verification trials (all pairs up to this)
    p_target = 0.01              # minDCF prior
    model_file = str(Path(exp_dir) / 'model.pt')
    classify_examples = 3


@ex.named_config
def toy():
    tag = 'toy_resnet'  # noqa: F841 (sacred reads the local names)


@ex.named_config
def resnet34():
    tag = 'resnet34'  # noqa: F841
    architecture = 'resnet34'  # noqa: F841
    batch_size = 64  # noqa: F841
    num_workers = 8  # noqa: F841
    trainer = {'optimizer': {'lr': 1e-3},  # noqa: F841
               'summary_trigger': [500, 'iteration'],
               'stop_trigger': [60, 'epoch']}


def _speakers(exp_dir):
    path = Path(exp_dir) / 'speakers.json'
    if not path.is_file():
        raise FileNotFoundError(f'{path} not found: train first (stage 1).')
    return json.loads(path.read_text())


@ex.command(unobserved=True)
def prepare(librispeech_root, subsets, toy_root, toy_size, split,
            database_json):
    """Stage 0: the database JSON (the toy corpus when no root is given)."""
    from recipes.librispeech.prepare import prepare_database
    root = librispeech_root
    if root is None:
        from padertorch_audio.toy import create_instead_of
        root = create_instead_of('librispeech', 'librispeech_root', toy_root,
                                 toy_size)
    prepare_database(root, database_json, subsets, split=split)


def _register_lr_schedule(trainer, lr_schedule, stop_trigger):
    """The cosine decay over the training's epochs; True when one was
    registered."""
    if lr_schedule is None:
        return False
    length, unit = stop_trigger
    if lr_schedule != 'cosine' or unit != 'epoch':
        raise ValueError(
            f"lr_schedule must be 'cosine' (with a stop_trigger in epochs) "
            f"or None, found {lr_schedule!r} with stop_trigger "
            f"{list(stop_trigger)}.")
    import torch
    lr = trainer.optimizer.optimizer.param_groups[0]['lr']
    trainer.register_lr_scheduler(functools.partial(
        torch.optim.lr_scheduler.CosineAnnealingLR, T_max=length,
        eta_min=lr / 100))
    return True


@ex.command
def train(trainer, model, database_json, exp_dir, batch_size, crop_seconds,
          sample_rate, num_workers, validation_examples, lr_schedule,
          back_off_patience, early_stopping_patience):
    """Stage 1: train (resumes when the experiment dir holds a run); the
    best checkpoint by validation accuracy is kept.

    Under torchrun every rank runs this; each rank reads its own shard with
    ``batch_size / world size`` examples per step.
    """
    import padertorch_audio as pa
    from recipes.librispeech import data
    stop_trigger = trainer['stop_trigger']
    speakers = data.speaker_labels(database_json)
    speakers_file = Path(exp_dir) / 'speakers.json'
    if speakers_file.is_file() and _speakers(exp_dir) != speakers:
        raise ValueError(
            f'{speakers_file} lists other speakers than the train set of '
            f'{database_json}: this experiment dir belongs to another '
            f'database; choose another exp_dir.')
    model = set_everywhere(model, 'num_classes', len(speakers))
    trainer = pa.Trainer.from_config({**copy.deepcopy(trainer),
                                      'model': model})
    if distributed.is_main_process():
        dump_json(speakers, speakers_file)
    scheduled = _register_lr_schedule(trainer, lr_schedule, stop_trigger)
    trainer.register_validation_hook(
        data.validation_data(database_json, speakers,
                             sample_rate=sample_rate,
                             max_examples=validation_examples),
        metric='accuracy', maximize=True, max_checkpoints=1,
        n_back_off=0 if scheduled else 1,
        back_off_patience=back_off_patience,
        early_stopping_patience=early_stopping_patience)
    trainer.train(data.training_data(
        database_json, speakers,
        batch_size=distributed.per_rank_batch_size(batch_size),
        crop_seconds=crop_seconds, sample_rate=sample_rate,
        num_workers=num_workers), resume='auto')


@ex.command(unobserved=True)
def evaluate(exp_dir, database_json, dataset, checkpoint, num_eval_workers,
             max_eval_examples, max_trials, p_target, eval_timeout):
    """Stage 2: identification (accuracy, top-5, per speaker, confusion
    matrix, misclassified utterances) and verification (EER, minDCF, DET
    curve) in exp_dir/eval/<dataset>/.

    Under torchrun the ranks share the utterances; rank 0 writes the
    summary.
    """
    from recipes.librispeech.evaluate import evaluate_experiment
    model, path = load_trained_model(exp_dir, checkpoint)
    final = evaluate_experiment(
        model, database_json, dataset, Path(exp_dir) / 'eval' / dataset,
        _speakers(exp_dir), num_workers=num_eval_workers,
        max_examples=max_eval_examples, max_trials=max_trials,
        p_target=p_target, timeout=eval_timeout)
    if final is None:  # a rank other than 0: rank 0 reports
        return None
    verification = 'no verification (see the warning above)'
    if 'eer' in final:
        verification = (f'EER {final["eer"]:.2f}%, minDCF '
                        f'{final["min_dcf"]:.3f} ({final["num_trials"]} '
                        f'trials)')
    print(f'{dataset} ({path.name}): accuracy {final["accuracy"]:.2f}%, '
          f'top-5 {final["top5_accuracy"]:.2f}%, {verification}')
    print(f'Results in {Path(exp_dir) / "eval" / dataset}')


@ex.command(unobserved=True)
def export(exp_dir, checkpoint, model_file, sample_rate, dataset,
           librispeech_root):
    """Stage 3: one model file for `padertorch-audio classify / embed /
    verify`, with the speakers and the EER threshold of the evaluation
    (marked as a toy model when trained on the toy corpus)."""
    metrics_file = Path(exp_dir) / 'eval' / dataset / 'final_metrics.json'
    threshold = None
    if metrics_file.is_file():
        threshold = json.loads(metrics_file.read_text()).get('eer_threshold')
    path = export_experiment(
        exp_dir, model_file, classification.export_model,
        checkpoint=checkpoint, eval_dataset=dataset,
        corpus='toy' if librispeech_root is None else 'librispeech',
        sample_rate=sample_rate, speakers=_speakers(exp_dir),
        eer_threshold=threshold)
    print(f'Exported {path} to {model_file}'
          + ('' if threshold is not None else
             ' (no evaluation yet: the file has no EER threshold)'))


@ex.command(unobserved=True)
def classify(model_file, database_json, dataset, classify_examples):
    """Stage 4: classify a few test utterances with the exported model
    (what `padertorch-audio classify` does)."""
    from padertorch_audio.classification import files
    from padertorch_audio.data.database import load_database
    examples = load_database(database_json).get_dataset(dataset)
    inputs = [examples[i]['audio_path']['observation']
              for i in range(min(classify_examples, len(examples)))]
    results = files.classify_files(model_file, inputs,
                                   on_file=files.print_classified)
    return int(any(result.error for result in results))
