"""The sacred experiment of the recipe: one config, one command per stage.

    python -m recipes.wsj0_2mix prepare  with wsj0_2mix_root=/data
    python -m recipes.wsj0_2mix train    with dprnn exp_dir=exp/dprnn
    python -m recipes.wsj0_2mix evaluate with exp_dir=exp/dprnn dataset=tt
    python -m recipes.wsj0_2mix export   with exp_dir=exp/dprnn
    python -m recipes.wsj0_2mix separate with exp_dir=exp/dprnn

train and evaluate also run under torchrun (what ``run.sh --ngpu N`` does)::

    torchrun --nproc_per_node 4 --standalone -m recipes.wsj0_2mix train ...

Named configs pick the model: ``toy`` (the default, small enough to train on
a CPU), ``dprnn`` (paper, window 16), ``dprnn_window2``, ``convtasnet``,
``pit_blstm``. Any key can be changed with ``key=value`` (nested keys with
dots, e.g. ``trainer.optimizer.lr=5e-4``).
"""
import copy
from pathlib import Path

from padertorch_audio import separation
from padertorch_audio.recipe import (
    Experiment, export_experiment, load_trained_model, set_everywhere)
from padertorch_audio.train import distributed

RECIPE_DIR = Path(__file__).resolve().parent

# Records the training runs in <exp_dir>/sacred (rank 0) and checks the
# global batch_size before anything is written.
ex = Experiment('wsj0_2mix', save_git_info=False)

# A DPRNN-TasNet small enough to train on a 2-core CPU in minutes (toy).
TOY_DPRNN = copy.deepcopy(separation.DPRNN_PAPER)
TOY_DPRNN['separator'].update(
    bottleneck_size=32, hidden_size=32, num_blocks=3, chunk_size=50,
    hop_size=25)


#: The models the named configs choose; the config's num_speakers is set
#: wherever their nested configs take it.
ARCHITECTURES = {
    'toy': TOY_DPRNN,
    'dprnn': separation.DPRNN_PAPER,
    'dprnn_window2': separation.DPRNN_PAPER_WINDOW2,
    'convtasnet': separation.CONVTASNET_PAPER,
    'pit_blstm': separation.PIT_BLSTM_PAPER,
}


def _hz(sample_rate):
    return {'8k': 8000, '16k': 16000}[sample_rate]


@ex.config
def config():
    # ---- data (stage 0) ----
    wsj0_2mix_root = None        # None: generate and use the toy corpus
    toy_root = str(RECIPE_DIR / 'data' / 'toy')
    toy_size = 'small'
    num_speakers = 2
    sample_rate = '8k'           # '8k' or '16k'
    mode = 'min'                 # 'min' or 'max'
    database_json = str(
        RECIPE_DIR / 'data'
        / f'wsj0_{num_speakers}mix_{sample_rate}_{mode}'
        f'{"" if wsj0_2mix_root else "_toy"}.json')

    # ---- training (stage 1) ----
    tag = 'toy_dprnn'
    exp_dir = str(RECIPE_DIR / 'exp' / tag)
    architecture = 'toy'         # a key of ARCHITECTURES (named configs)
    model = set_everywhere(ARCHITECTURES[architecture], 'num_speakers',
                           num_speakers)
    # Under torchrun (run.sh --ngpu/--nnodes) each of N ranks takes
    # batch_size / N examples per step (the same step as one process).
    batch_size = 4               # GLOBAL: all ranks together; a multiple of N
    segment_seconds = 4.0
    num_workers = 2              # background threads that load audio
    validation_examples = None   # None: the whole cv set
    trainer = {
        'factory': 'padertorch_audio.train.trainer.Trainer',
        'model': model,
        'storage_dir': exp_dir,
        'optimizer': {'factory': 'padertorch_audio.train.optimizer.Adam',
                      'lr': 1e-3, 'gradient_clipping': 5.0},
        'loss_weights': {'si_sdr': 1.0, 'log_mse': 0.0, 'log1p_mse': 0.0},
        'summary_trigger': [50, 'iteration'],
        'checkpoint_trigger': [1, 'epoch'],
        'stop_trigger': [25, 'epoch'],   # toy: about 10 minutes on 2 cores
    }
    back_off_patience = 3
    early_stopping_patience = 10

    # ---- evaluation (stage 2), export (3), separation (4) ----
    dataset = 'tt'
    checkpoint = 'best'          # 'best', 'latest' or a file name
    # Under torchrun num_eval_workers is per rank (None: a machine's cores
    # shared by its ranks; 1 per rank with GPUs).
    num_eval_workers = None      # None: all cores
    eval_timeout = 3600          # s a rank that is done waits for the others
    metrics = ['si_sdr', 'si_sdri', 'sdr', 'sdri', 'pesq', 'stoi']
    max_eval_examples = None
    model_file = str(Path(exp_dir) / 'model.pt')
    separate_examples = 3


@ex.named_config
def toy():
    tag = 'toy_dprnn'  # noqa: F841 (sacred reads the local names)


PAPER_TRAINING = {'summary_trigger': [1000, 'iteration'],
                  'stop_trigger': [200, 'epoch']}


@ex.named_config
def dprnn():
    tag = 'dprnn'  # noqa: F841
    architecture = 'dprnn'  # noqa: F841
    trainer = PAPER_TRAINING  # noqa: F841


@ex.named_config
def dprnn_window2():
    tag = 'dprnn_window2'  # noqa: F841
    trainer = PAPER_TRAINING  # noqa: F841
    architecture = 'dprnn_window2'  # noqa: F841
    batch_size = 2  # noqa: F841


@ex.named_config
def convtasnet():
    tag = 'convtasnet'  # noqa: F841
    trainer = PAPER_TRAINING  # noqa: F841
    architecture = 'convtasnet'  # noqa: F841


@ex.named_config
def pit_blstm():
    tag = 'pit_blstm'  # noqa: F841
    architecture = 'pit_blstm'  # noqa: F841
    trainer = {**PAPER_TRAINING, 'loss_weights': {  # noqa: F841
        'si_sdr': 0.0, 'log_mse': 1.0, 'log1p_mse': 0.0}}


@ex.command(unobserved=True)
def prepare(wsj0_2mix_root, toy_root, toy_size, num_speakers, sample_rate,
            mode, database_json):
    """Stage 0: the database JSON (the toy corpus when no root is given)."""
    from recipes.wsj0_2mix.prepare import prepare_database
    root = wsj0_2mix_root
    if root is None:
        from padertorch_audio.toy import create_instead_of
        root = create_instead_of('wsj0_2mix', 'wsj0_2mix_root', toy_root,
                                 toy_size)
    counts = prepare_database(root, database_json, num_speakers,
                              sample_rate, mode)
    print(f'Wrote {database_json}: '
          + ', '.join(f'{name} {n}' for name, n in counts.items())
          + ' examples.')


@ex.command
def train(trainer, model, database_json, batch_size, segment_seconds,
          num_workers, validation_examples, sample_rate, back_off_patience,
          early_stopping_patience):
    """Stage 1: train (resumes when the experiment dir holds a run).

    Under torchrun every rank runs this; the Trainer joins the ranks, and
    each rank reads its own shard with ``batch_size / world size``
    examples per step (the same step as one process with ``batch_size``).
    """
    import padertorch_audio as pa
    from recipes.wsj0_2mix import data
    trainer = pa.Trainer.from_config({**copy.deepcopy(trainer),
                                      'model': copy.deepcopy(model)})
    trainer.register_validation_hook(
        data.validation_data(database_json, 'cv',
                             max_examples=validation_examples),
        metric='si_sdr', maximize=True, max_checkpoints=1,
        n_back_off=1, back_off_patience=back_off_patience,
        early_stopping_patience=early_stopping_patience)
    trainer.train(data.training_data(
        database_json, 'tr',
        batch_size=distributed.per_rank_batch_size(batch_size),
        segment_seconds=segment_seconds, sample_rate=_hz(sample_rate),
        num_workers=num_workers), resume='auto')


@ex.command(unobserved=True)
def evaluate(exp_dir, database_json, dataset, checkpoint, num_eval_workers,
             metrics, max_eval_examples, sample_rate, eval_timeout):
    """Stage 2: per-utterance metrics, means and a report in eval/.

    Under torchrun the ranks share the utterances; rank 0 writes the
    summary (see evaluate_experiment).
    """
    from recipes.wsj0_2mix.evaluate import evaluate_experiment
    model, path = load_trained_model(exp_dir, checkpoint)
    final = evaluate_experiment(
        model, database_json, dataset, Path(exp_dir) / 'eval' / dataset,
        sample_rate=_hz(sample_rate), metrics=metrics,
        num_workers=num_eval_workers, max_examples=max_eval_examples,
        timeout=eval_timeout)
    if final is None:  # a rank other than 0: rank 0 reports
        return None
    print(f'{dataset} ({path.name}): ' + ', '.join(
        f'{name} {value:.2f}' for name, value in final['means'].items()
        if value is not None))
    return final


@ex.command(unobserved=True)
def export(exp_dir, checkpoint, model_file, sample_rate, num_speakers,
           dataset, wsj0_2mix_root):
    """Stage 3: one model file for `padertorch-audio separate` (marked as a
    toy model when trained on the toy corpus)."""
    path = export_experiment(
        exp_dir, model_file, separation.export_model, checkpoint=checkpoint,
        eval_dataset=dataset, corpus='toy' if wsj0_2mix_root is None
        else 'wsj0_2mix', sample_rate=_hz(sample_rate),
        num_speakers=num_speakers)
    print(f'Exported {path} to {model_file}')


@ex.command(unobserved=True)
def separate(model_file, database_json, dataset, separate_examples, exp_dir):
    """Stage 4: separate a few test mixtures into exp_dir/separated (what
    `padertorch-audio separate` does)."""
    from padertorch_audio.data.database import load_database
    examples = load_database(database_json).get_dataset(dataset)
    inputs = [examples[i]['audio_path']['observation']
              for i in range(min(separate_examples, len(examples)))]
    out_dir = Path(exp_dir) / 'separated'
    results = separation.separate_files(model_file, inputs, out_dir,
                                        on_file=separation.print_result)
    print(f'Separated {len(inputs)} mixtures into {out_dir}')
    return int(any(result.error for result in results))
