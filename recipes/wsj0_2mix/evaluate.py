"""Stage 2: evaluate a trained model on a dataset of the database JSON.

One process evaluates all utterances (in a pool of worker processes) into
``results.jsonl``. Under torchrun (``run.sh --ngpu N``) rank ``r`` of ``W``
evaluates every ``W``-th utterance from ``r`` on into its own
``results.rank{r}.jsonl``; when all ranks are done, rank 0 merges the files
and writes the same summary as one process would.
"""
import os
import re
from pathlib import Path

import torch

from padertorch_audio import evaluation
from padertorch_audio.separation import separate
from padertorch_audio.train import distributed
from recipes.wsj0_2mix.data import evaluation_data, load_example

__all__ = ['evaluate_experiment', 'merged_results']

#: Seconds a rank that has finished its part waits for the others.
DEFAULT_TIMEOUT = 3600

_RANK_FILE = re.compile(r'results\.rank(\d+)\.jsonl')


def _result_files(eval_dir):
    """``results.jsonl``, then the rank files in rank order."""
    ranks = sorted(
        (int(match.group(1)), path) for path in Path(eval_dir).iterdir()
        if (match := _RANK_FILE.fullmatch(path.name)))
    return [Path(eval_dir) / 'results.jsonl', *(path for _, path in ranks)]


def _all_results(eval_dir, exclude=None):
    """``{example_id: result}`` over all result files of ``eval_dir`` (but
    ``exclude``): a result supersedes an earlier one of the same utterance,
    except that an error never replaces a success."""
    merged = {}
    for path in _result_files(eval_dir):
        if exclude is not None and path == Path(exclude):
            continue
        for result in evaluation.read_results(path):
            old = merged.get(result['example_id'])
            if old is None or 'error' in old or 'error' not in result:
                merged[result['example_id']] = result
    return merged


def merged_results(eval_dir, items):
    """The results of ``items`` (in their order) from all the result files
    in ``eval_dir`` (``results.jsonl`` and ``results.rank{r}.jsonl``).

    Raises:
        RuntimeError: an item has no result in any file.
    """
    merged = _all_results(eval_dir)
    missing = [item['example_id'] for item in items
               if item['example_id'] not in merged]
    if missing:
        raise RuntimeError(
            f'{len(missing)} utterance(s) have no result in the result files '
            f'of {eval_dir} (e.g. {missing[:3]}); run the evaluation again.')
    return [merged[item['example_id']] for item in items]


def _local_world_size():
    try:
        return max(1, int(os.environ.get('LOCAL_WORLD_SIZE', 1)))
    except ValueError:
        return 1


def _cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _wait_for_the_other_ranks(timeout):
    """Join the ranks and wait until all are done; True when this call
    created the process group (then the caller destroys it)."""
    rank, world_size = distributed.get_rank(), distributed.get_world_size()
    try:
        created = distributed.init_distributed(timeout=timeout)
        distributed.barrier()
    except Exception as error:
        raise distributed.DistributedError(
            f'Rank {rank} of {world_size} has evaluated its utterances, but '
            f'the other ranks were not done within {timeout:g} s (a rank '
            f'that hangs or cannot be reached); their results so far are in '
            f'their results.rank*.jsonl files: run again to resume. '
            f'({error})') from error
    return created


def evaluate_experiment(model, database_json, dataset, eval_dir, sample_rate,
                        metrics, num_workers=None, max_examples=None,
                        timeout=DEFAULT_TIMEOUT):
    """Per-utterance metrics (resumable, parallel), means and a report.

    Writes to ``eval_dir``: ``results.jsonl`` (one line per utterance, as
    they finish; a re-run skips those), ``per_utterance.csv`` and
    ``.json``, ``final_metrics.json`` (means) and ``report.png``.
    Utterances that failed before are tried again. Utterances up to 60 s
    are separated in one pass (no chunking).

    Under torchrun (``WORLD_SIZE`` > 1) every rank calls this: rank ``r``
    evaluates ``items[r::world_size]`` into ``results.rank{r}.jsonl`` (on
    ``cuda:LOCAL_RANK`` when there is a GPU, one process per rank; on the
    CPU with ``num_workers`` processes per rank, default: this machine's
    cores shared by its ranks), then the ranks wait for each other (at
    most ``timeout`` seconds) and rank 0 merges all result files into the
    summary, the same as one process writes. Other ranks return None.
    Utterances with a result in any result file of ``eval_dir`` (from a
    run with one process or another number of ranks) are not evaluated
    again.
    """
    eval_dir = Path(eval_dir)
    eval_dir.mkdir(parents=True, exist_ok=True)
    items = [dict(example) for example in evaluation_data(database_json,
                                                           dataset)]
    if max_examples is not None:
        items = items[:max_examples]
    model.eval()
    rank, world_size = distributed.get_rank(), distributed.get_world_size()
    if world_size > 1:
        part = items[rank::world_size]
        results_path = eval_dir / f'results.rank{rank}.jsonl'
        if torch.cuda.is_available():
            local_rank = distributed.get_local_rank()
            model.to(torch.device('cuda', local_rank))
            num_workers = 1  # no forked workers with a CUDA model
        elif num_workers is None:
            num_workers = max(1, _cores() // _local_world_size())
    else:
        part = items
        results_path = eval_dir / 'results.jsonl'

    def evaluate_one(item):
        torch.set_num_threads(1)
        example = load_example(item)
        estimate = separate(model, example['observation'],
                            sample_rate=sample_rate, chunk_seconds=60.)
        return evaluation.separation_metrics(
            estimate, example['speech_source'], example['observation'],
            sample_rate, metrics)

    # Finished in another file (one process, or another number of ranks);
    # evaluate_utterances skips those finished in this process's file.
    elsewhere = {example_id for example_id, result in _all_results(
                     eval_dir, exclude=results_path).items()
                 if 'error' not in result}
    todo = [item for item in part if item['example_id'] not in elsewhere]
    evaluation.evaluate_utterances(
        todo, evaluate_one, results_path, num_workers=num_workers,
        progress=distributed.get_local_rank() == 0, retry_errors=True)

    created_group = False
    if world_size > 1:
        created_group = _wait_for_the_other_ranks(timeout)
    try:
        if rank != 0:
            return None
        return _summarize(model, items, eval_dir, sample_rate)
    finally:
        if created_group and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def _summarize(model, items, eval_dir, sample_rate):
    results = merged_results(eval_dir, items)
    final = evaluation.summarize(
        results, eval_dir / 'per_utterance.csv',
        eval_dir / 'per_utterance.json', eval_dir / 'final_metrics.json')

    done = [r for r in results if 'error' not in r]
    example = None
    if done:
        item = next(i for i in items if i['example_id'] ==
                    done[0]['example_id'])
        loaded = load_example(item)
        example = {
            'example_id': item['example_id'],
            'mixture': loaded['observation'],
            'estimate': separate(model, loaded['observation'],
                                 sample_rate=sample_rate,
                                 chunk_seconds=60.),
            'reference': loaded['speech_source'],
            'sample_rate': sample_rate,
            'permutation': done[0].get('permutation'),
        }
    evaluation.write_report(eval_dir / 'report.png', results, example)
    return final
