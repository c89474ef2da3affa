"""Speed of the librispeech speaker recipe: training and embeddings (CPU).

The model, the optimizer and the data settings are the recipe's defaults,
read at run time from ``recipes.librispeech.experiment`` (its sacred
config: ``ARCHITECTURES[architecture]`` with ``num_classes`` set to the 20
speakers of the toy corpus, batch 16, random crops of 1-4 s, 2 loading
workers, Adam with gradient clipping); the data is the toy LibriSpeech
(``size='small'``, written to ``--root`` or a temporary folder, about
20 s) through the recipe's own pipeline (``recipes/librispeech/data.py``:
FLAC crops read in DataLoader workers, padded batches, log-mel computed
inside the model). Three measurements, one JSON line each (float32, 2
torch threads unless said otherwise; median, min and max over the
repeats):

(a) ``training_throughput``: utterances per second (and seconds per step)
    of ``Trainer.train`` with the recipe's pipeline: each repeat is a new
    run of ``warmup + steps`` iterations (default 3 + 20, within the first
    epoch of 30 batches, so no epoch end, checkpoint or summary falls in
    the measured window); a hook records the wall clock and
    ``trainer.timings`` after the warm-up and at the last step. Reported
    for information (no target).
(b) ``data_loading_share``: the Trainer's ``'data'`` time (waiting for the
    next batch) over the wall time of the same measured steps, with the
    recipe's 2 workers. Target: < 5 %. For reference the same with
    ``num_workers=0`` (loading in the training process: what the workers
    hide). The two settings run alternately in every repeat (the machine
    may be shared); the 2-worker runs are those of (a).
(c) ``embedding_rtf``: real-time factor of ``model.embed`` (eval mode,
    ``no_grad``) on a 10-s utterance, with 1 and 2 threads (alternately;
    seconds of computation per second of audio, after a warm-up; at least
    10 repeats, they are short), and the speed-up of batching at 2
    threads: 16 utterances of 3 s as one padded batch against one by one.
    Reported for information (no target).

    python benchmarks/classification.py [--repeats 3] [--skip NAME ...]
        [--root DIR] [--warmup 3] [--steps 20]

``--repeats 1`` is a quick check. The training runs dominate the time:
``repeats x 2 x (warmup + steps)`` steps (one run of each setting per
repeat). With 2 threads, 2 workers and another process competing for the
2 cores, 2 threads were up to 6 times slower than 1 (each parallel
region waits for a busy core): measure on an idle machine.
"""
import argparse
import copy
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import padertorch_audio as pa
from padertorch_audio.classification import SpeakerClassifier
from padertorch_audio.recipe import set_everywhere

THREADS = 2
BENCHMARKS = ('training_throughput', 'data_loading_share', 'embedding_rtf')
DATA_SHARE_TARGET = 0.05


def summary(values, digits=4):
    """``{'median', 'min', 'max'}`` of ``values``, rounded."""
    return {'median': round(statistics.median(values), digits),
            'min': round(min(values), digits),
            'max': round(max(values), digits)}


def environment():
    return {'torch': torch.__version__, 'cpu_count': os.cpu_count(),
            'usable_cpus': len(os.sched_getaffinity(0))}


def recipe_config():
    """The recipe's default config (its sacred config scope, no named
    config), with the model's ``num_classes`` still to be set."""
    from recipes.librispeech import experiment
    return dict(experiment.ex.configurations[0]())


def build_model(config, num_classes, seed=0):
    torch.manual_seed(seed)
    model_config = set_everywhere(
        copy.deepcopy(config['model']), 'num_classes', num_classes)
    return SpeakerClassifier.from_config(model_config), model_config


def num_parameters(model):
    return sum(parameter.numel() for parameter in model.parameters())


def prepare_toy_database(root, json_path):
    """The toy corpus under ``root`` (nothing is written when it is there
    already) and its database JSON at ``json_path``."""
    from padertorch_audio.toy import create_librispeech
    from recipes.librispeech.prepare import prepare_database
    create_librispeech(root, size='small')
    prepare_database(root, json_path, ['train-clean-100'], log=None)


# ---------------------------------------------------------------------------
# (a), (b) training


class StepClock(pa.train.hooks.Hook):
    """Records the wall clock and the trainer's step timings after the
    ``warmup``-th and the last step."""
    name = 'benchmark_step_clock'

    def __init__(self, warmup, last):
        self.marks = {}
        self.at = (warmup, last)

    def post_step(self, trainer, step):
        if trainer.iteration in self.at:
            self.marks[trainer.iteration] = (
                time.perf_counter(), dict(trainer.timings))


def training_run(config, database_json, speakers, num_workers, warmup, steps,
                 seed):
    """One training run of ``warmup + steps`` iterations; the measured
    ``steps``: ``{'wall_s', 'parts_s': {part: s}}``."""
    from recipes.librispeech import data
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)
    loader = data.training_data(
        database_json, speakers, batch_size=config['batch_size'],
        crop_seconds=config['crop_seconds'],
        sample_rate=config['sample_rate'], num_workers=num_workers)
    if len(loader) < warmup + steps:
        raise ValueError(
            f'{database_json}: {len(loader)} training batches per epoch, '
            f'fewer than warmup + steps = {warmup + steps}; the measured '
            f'steps would cross an epoch end. Use fewer --steps.')
    _, model_config = build_model(config, len(speakers), seed)
    clock = StepClock(warmup, warmup + steps)
    with tempfile.TemporaryDirectory() as storage_dir:
        trainer = pa.Trainer.from_config({
            **copy.deepcopy(config['trainer']), 'model': model_config,
            'storage_dir': storage_dir, 'progress': False,
            'stop_trigger': [warmup + steps, 'iteration']})
        trainer.register_hook(clock)
        trainer.train(loader, device='cpu')
    (start, before), (stop, after) = (clock.marks[warmup],
                                      clock.marks[warmup + steps])
    return {'wall_s': stop - start,
            'parts_s': {part: after[part] - before[part] for part in after}}


def training_benchmarks(config, database_json, repeats, warmup, steps,
                        with_reference):
    """The runs of (a) and (b): per repeat one with the recipe's workers
    and (``with_reference``) one with ``num_workers=0``, alternately."""
    from recipes.librispeech import data
    speakers = data.speaker_labels(database_json)
    workers = config['num_workers']
    settings = [workers, 0] if with_reference else [workers]
    runs = {setting: [] for setting in settings}
    for repeat in range(repeats):
        order = settings if repeat % 2 == 0 else settings[::-1]
        for setting in order:
            runs[setting].append(training_run(
                config, database_json, speakers, setting, warmup, steps,
                seed=repeat))
    model, _ = build_model(config, len(speakers))
    common = {
        'architecture': config['architecture'],
        'parameters': num_parameters(model), 'num_classes': len(speakers),
        'batch': config['batch_size'],
        'crop_seconds': list(config['crop_seconds']),
        'warmup_steps': warmup, 'steps': steps, 'threads': THREADS,
        'repeats': repeats, **environment()}
    return runs, workers, common


def parts_per_step(runs, steps):
    """The median seconds per step of each part of the Trainer's step."""
    return {part: round(statistics.median(
        run['parts_s'][part] / steps for run in runs), 4)
        for part in runs[0]['parts_s']}


def throughput_line(runs, workers, common):
    batch, steps = common['batch'], common['steps']
    rates = [batch * steps / run['wall_s'] for run in runs[workers]]
    step_times = [run['wall_s'] / steps for run in runs[workers]]
    return {
        'benchmark': 'training_throughput', **summary(rates, 2),
        'unit': 'utterances/s', 'step_s': summary(step_times),
        'parts_s_per_step': parts_per_step(runs[workers], steps),
        'num_workers': workers,
        'utterances_per_s': [round(rate, 2) for rate in rates], **common}


def data_share_line(runs, workers, common):
    def shares(setting):
        return [run['parts_s']['data'] / run['wall_s']
                for run in runs[setting]]
    median = statistics.median(shares(workers))
    line = {
        'benchmark': 'data_loading_share', **summary(shares(workers)),
        'unit': 'fraction of the step time', 'num_workers': workers,
        'target': DATA_SHARE_TARGET,
        'meets_target': median < DATA_SHARE_TARGET,
        'data_s_per_step': summary(
            [run['parts_s']['data'] / common['steps']
             for run in runs[workers]]),
        'shares': [round(share, 4) for share in shares(workers)]}
    if 0 in runs:
        line['num_workers_0'] = {
            **summary(shares(0)), 'step_s': summary(
                [run['wall_s'] / common['steps'] for run in runs[0]]),
            'parts_s_per_step': parts_per_step(runs[0], common['steps']),
            'shares': [round(share, 4) for share in shares(0)]}
    return {**line, **common}


# ---------------------------------------------------------------------------
# (c) embeddings


def timed(function):
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def embedding_benchmark(config, num_classes, repeats, seconds=10.,
                        batch=16, batch_seconds=3.):
    model, _ = build_model(config, num_classes)
    model.eval()
    rate = model.sample_rate
    generator = torch.Generator().manual_seed(0)
    utterance = 0.1 * torch.randn(round(seconds * rate), generator=generator)
    utterances = 0.1 * torch.randn(batch, round(batch_seconds * rate),
                                   generator=generator)
    lengths = torch.full((batch,), utterances.shape[-1])

    def embed_one():
        model.embed(utterance)

    def embed_batch():
        model.embed(utterances, lengths)

    def embed_one_by_one():
        for item in utterances:
            model.embed(item)

    times = {1: [], THREADS: [], 'batch': [], 'one_by_one': []}
    with torch.no_grad():
        for threads in (1, THREADS):  # warm-up
            torch.set_num_threads(threads)
            embed_one()
        embed_batch()
        embed_one_by_one()
        for _ in range(repeats):
            for threads in (1, THREADS):
                torch.set_num_threads(threads)
                times[threads].append(timed(embed_one))
            times['batch'].append(timed(embed_batch))
            times['one_by_one'].append(timed(embed_one_by_one))
    torch.set_num_threads(THREADS)
    audio = batch * batch_seconds
    speed_ups = [one / whole for one, whole in zip(times['one_by_one'],
                                                   times['batch'])]
    return {
        'benchmark': 'embedding_rtf',
        **summary([t / seconds for t in times[THREADS]]),
        'unit': 's of computation per s of audio', 'seconds': seconds,
        'threads': THREADS,
        'rtf_1_thread': summary([t / seconds for t in times[1]]),
        'batching': {
            'utterances': batch, 'seconds_each': batch_seconds,
            'threads': THREADS,
            'batch_rtf': summary([t / audio for t in times['batch']]),
            'one_by_one_rtf': summary(
                [t / audio for t in times['one_by_one']]),
            'speed_up': round(statistics.median(times['one_by_one'])
                              / statistics.median(times['batch']), 3),
            'speed_ups': [round(s, 3) for s in speed_ups]},
        'architecture': config['architecture'],
        'parameters': num_parameters(model), 'repeats': repeats,
        **environment()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--skip', nargs='*', default=[], choices=BENCHMARKS)
    parser.add_argument('--root', default=None,
                        help='folder for the toy corpus (kept; default: a '
                             'temporary folder)')
    parser.add_argument('--warmup', type=int, default=3,
                        help='training steps before the measured ones')
    parser.add_argument('--steps', type=int, default=20,
                        help='measured training steps per repeat')
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    config = recipe_config()
    training = {'training_throughput', 'data_loading_share'} - set(args.skip)
    with tempfile.TemporaryDirectory() as directory:
        root = Path(args.root or directory)
        num_classes = 20  # the train speakers of the toy corpus
        if training:
            database_json = Path(directory) / 'librispeech_toy.json'
            prepare_toy_database(root, database_json)
            runs, workers, common = training_benchmarks(
                config, database_json, args.repeats, args.warmup, args.steps,
                with_reference='data_loading_share' in training)
            if 'training_throughput' in training:
                print(json.dumps(throughput_line(runs, workers, common)),
                      flush=True)
            if 'data_loading_share' in training:
                print(json.dumps(data_share_line(runs, workers, common)),
                      flush=True)
            num_classes = common['num_classes']
    if 'embedding_rtf' not in args.skip:
        print(json.dumps(embedding_benchmark(
            config, num_classes, max(args.repeats, 10))), flush=True)


if __name__ == '__main__':
    main()
