"""The sacred experiment of the recipe: one config, one command per stage.

    python -m recipes.vocoder prepare    with librispeech_root=/data
    python -m recipes.vocoder train      with paper exp_dir=exp/paper
    python -m recipes.vocoder evaluate   with exp_dir=exp/paper
    python -m recipes.vocoder export     with exp_dir=exp/paper
    python -m recipes.vocoder synthesize with exp_dir=exp/paper

train and evaluate also run under torchrun (what ``run.sh --ngpu N``
does). Named configs pick the model: ``toy`` (the default: a WaveNet small
enough to train on a CPU in minutes) and ``paper`` (padertorch's WaveNet:
16 layers, dilations up to 128, 64 residual and 256 skip channels, 80 mel
bands, 16 kHz, shift 200, window 800). Any key can be changed with
``key=value`` (nested keys with dots, e.g. ``trainer.optimizer.lr=5e-4``).
"""
import copy
from pathlib import Path

from padertorch_audio import vocoder
from padertorch_audio.recipe import (
    Experiment, export_experiment, load_trained_model)
from padertorch_audio.vocoder.export import export_model
from padertorch_audio.train import distributed

RECIPE_DIR = Path(__file__).resolve().parent

# Records the training runs in <exp_dir>/sacred (rank 0) and checks the
# global batch_size before anything is written.
ex = Experiment('vocoder', save_git_info=False)

_FACTORY = 'padertorch_audio.vocoder.wavenet.WaveNet'

#: The models the named configs choose: padertorch's WaveNet (the
#: defaults of WaveNet) and a CPU-sized one with the same features (80
#: mel bands, shift 200, window 800 at 16 kHz).
ARCHITECTURES = {
    'toy': vocoder.WaveNet.get_config({
        'factory': _FACTORY, 'residual_channels': 24, 'skip_channels': 48,
        'num_layers': 10, 'max_dilation': 32}),
    'paper': vocoder.WaveNet.get_config({'factory': _FACTORY}),
}


@ex.config
def config():
    # ---- data (stage 0); at most one of the two roots ----
    librispeech_root = None      # None (and no wav_dir): the toy corpus
    wav_dir = None               # any folder tree of .wav/.flac files
    subsets = ['train-clean-100']  # LibriSpeech: the training subsets
    validation_subset = 'dev-clean'
    test_subset = 'test-clean'
    split = [0.9, 0.05, 0.05]    # wav_dir: train/validation/test fractions
    toy_root = str(RECIPE_DIR / 'data' / 'toy')
    toy_size = 'small'
    if wav_dir is not None:
        corpus = 'folder'
        database_json = str(RECIPE_DIR / 'data'
                            / f'folder_{Path(wav_dir).name}.json')
    else:
        corpus = 'librispeech' if librispeech_root else 'toy'
        database_json = str(
            RECIPE_DIR / 'data' / f'librispeech_{"_".join(subsets)}'
            f'{"" if librispeech_root else "_toy"}.json')

    # ---- training (stage 1) ----
    tag = 'toy_wavenet'
    exp_dir = str(RECIPE_DIR / 'exp' / tag)
    architecture = 'toy'         # a key of ARCHITECTURES (named configs)
    model = copy.deepcopy(ARCHITECTURES[architecture])
    # Under torchrun (run.sh --ngpu/--nnodes) each of N ranks takes
    # batch_size / N segments per step (the same step as one process).
    batch_size = 2               # GLOBAL: all ranks together; a multiple of N
    segment_seconds = 1.0        # random segments of the training utterances
    num_workers = 1              # background processes that load audio
    validation_examples = 8      # segments (one per utterance); None: all
    trainer = {
        'factory': 'padertorch_audio.train.trainer.Trainer',
        'model': model,
        'storage_dir': exp_dir,
        'optimizer': {'factory': 'padertorch_audio.train.optimizer.Adam',
                      'lr': 2e-3, 'gradient_clipping': 1.0},
        'summary_trigger': [25, 'iteration'],
        'checkpoint_trigger': [100, 'iteration'],
        'stop_trigger': [400, 'iteration'],  # toy: about 6 min on 2 cores
    }
    back_off_patience = None     # validations without improvement: backoff
    early_stopping_patience = None

    # ---- evaluation (stage 2), export (3), synthesis (4) ----
    dataset = 'test'
    checkpoint = 'best'          # 'best', 'latest' or a file name
    max_eval_examples = 8        # the first utterances of dataset; None: all
    max_eval_seconds = None      # of each (None: whole utterances)
    temperature = 1.0            # of the WaveNet's sampling (0: argmax)
    sampling_seed = 0            # of the WaveNet's sampling (+ utterance id)
    griffin_lim_iterations = 32  # of the baseline
    num_audio_examples = 3       # WAVs and spectrograms of the first ones
    num_eval_workers = None      # None: all cores (per rank under torchrun)
    eval_timeout = 3600          # s a rank that is done waits for the others
    model_file = str(Path(exp_dir) / 'model.pt')
    synthesize_examples = 2      # test utterances resynthesised in stage 4


@ex.named_config
def toy():
    tag = 'toy_wavenet'  # noqa: F841 (sacred reads the local names)


@ex.named_config
def paper():
    tag = 'paper_wavenet'  # noqa: F841
    architecture = 'paper'  # noqa: F841
    batch_size = 8  # noqa: F841
    num_workers = 8  # noqa: F841
    validation_examples = 200  # noqa: F841
    trainer = {'optimizer': {'lr': 1e-3},  # noqa: F841
               'summary_trigger': [1000, 'iteration'],
               'checkpoint_trigger': [5000, 'iteration'],
               'stop_trigger': [300000, 'iteration']}
    back_off_patience = 4  # noqa: F841
    early_stopping_patience = 10  # noqa: F841
    max_eval_examples = 100  # noqa: F841
    max_eval_seconds = None  # noqa: F841


@ex.command(unobserved=True)
def prepare(librispeech_root, wav_dir, subsets, validation_subset,
            test_subset, split, toy_root, toy_size, database_json):
    """Stage 0: the database JSON (the toy LibriSpeech when no corpus is
    given)."""
    from recipes.vocoder import prepare as preparation
    if librispeech_root is not None and wav_dir is not None:
        raise ValueError('Give librispeech_root or wav_dir, not both.')
    if wav_dir is not None:
        preparation.prepare_folder(wav_dir, database_json, split=split)
        return
    root = librispeech_root
    if root is None:
        from padertorch_audio.toy import create_instead_of
        root = create_instead_of('librispeech', 'librispeech_root or '
                                 'wav_dir', toy_root, toy_size)
    preparation.prepare_librispeech(
        root, database_json, subsets, validation_subset=validation_subset,
        test_subset=test_subset)


@ex.command
def train(trainer, model, database_json, batch_size, segment_seconds,
          num_workers, validation_examples, back_off_patience,
          early_stopping_patience):
    """Stage 1: teacher-forced training on random segments (resumes when
    the experiment dir holds a run); the checkpoint with the lowest
    validation loss (cross-entropy on fixed segments of the validation
    utterances) is kept as the best.

    Under torchrun every rank runs this; each rank reads its own shard with
    ``batch_size / world size`` segments per step.
    """
    import torch

    import padertorch_audio as pa
    from recipes.vocoder import data
    # CPU: the gradients of the gated units underflow to denormal floats,
    # which make training several times slower; zero is as good.
    torch.set_flush_denormal(True)
    trainer = pa.Trainer.from_config({**copy.deepcopy(trainer),
                                      'model': copy.deepcopy(model)})
    per_rank = distributed.per_rank_batch_size(batch_size)
    trainer.register_validation_hook(
        data.validation_data(database_json, trainer.model, per_rank,
                             segment_seconds,
                             max_examples=validation_examples),
        metric='loss', maximize=False, max_checkpoints=1,
        n_back_off=0 if back_off_patience is None else 1,
        back_off_patience=back_off_patience,
        early_stopping_patience=early_stopping_patience)
    trainer.train(data.training_data(
        database_json, trainer.model, per_rank, segment_seconds,
        num_workers=num_workers), resume='auto')


@ex.command(unobserved=True)
def evaluate(exp_dir, database_json, dataset, checkpoint, max_eval_examples,
             max_eval_seconds, temperature, sampling_seed,
             griffin_lim_iterations,
             num_audio_examples, num_eval_workers, eval_timeout):
    """Stage 2: WaveNet and Griffin-Lim resyntheses of the test utterances
    from their mels: RMSE, log-spectral distance, mel-cepstral distortion
    (per utterance and means), spectrograms.png and WAVs in
    exp_dir/eval/<dataset>/.

    Under torchrun the ranks share the utterances; rank 0 writes the
    summary.
    """
    from recipes.vocoder.evaluate import evaluate_experiment, format_metrics
    model, path = load_trained_model(exp_dir, checkpoint)
    eval_dir = Path(exp_dir) / 'eval' / dataset
    final = evaluate_experiment(
        model, database_json, dataset, eval_dir,
        max_examples=max_eval_examples, max_seconds=max_eval_seconds,
        temperature=temperature, seed=sampling_seed,
        griffin_lim_iterations=griffin_lim_iterations,
        num_audio_examples=num_audio_examples, num_workers=num_eval_workers,
        timeout=eval_timeout)
    if final is None:  # a rank other than 0: rank 0 reports
        return None
    seconds = final['means'].get('seconds') or 0
    print(f'{dataset} ({path.name}): {final["num_utterances"]} utterances '
          f'({seconds:.1f} s each on average), resynthesised from their '
          f'mels:\n{format_metrics(final)}')
    if final['real_time_factor'] is not None:
        print(f'WaveNet synthesis: real-time factor '
              f'{final["real_time_factor"]:.2f} (one thread per utterance)')
    if final['failed_utterances']:
        print(f'{len(final["failed_utterances"])} utterance(s) failed: see '
              f'{eval_dir / "per_utterance.csv"}')
    print(f'Results in {eval_dir}')


@ex.command(unobserved=True)
def export(exp_dir, checkpoint, model_file, model, dataset, corpus):
    """Stage 3: one model file for `padertorch-audio synthesize`, with the
    evaluation's means (marked as a toy model when trained on the toy
    corpus)."""
    path = export_experiment(
        exp_dir, model_file, export_model, checkpoint=checkpoint,
        eval_dataset=dataset, corpus=corpus,
        sample_rate=model['sample_rate'])
    print(f'Exported {path} to {model_file}')


@ex.command(unobserved=True)
def synthesize(exp_dir, model_file, database_json, dataset,
               synthesize_examples, temperature, sampling_seed):
    """Stage 4: resynthesise a few test utterances with the exported model
    (what `padertorch-audio synthesize` does) into exp_dir/synthesized/."""
    from padertorch_audio.vocoder import files
    from recipes.vocoder.data import evaluation_data
    inputs = [item['audio_path']['observation'] for item in
              evaluation_data(database_json, dataset, synthesize_examples)]
    results = files.synthesize_files(
        model_file, inputs, f'{Path(exp_dir) / "synthesized"}/',
        temperature=temperature, seed=sampling_seed,
        on_file=files.print_result)
    return int(any(result.error for result in results))
