"""A data set evaluated by all ranks of a torchrun job, merged by rank 0.

:func:`evaluate_dataset` is the evaluation stage of a recipe: the recipe
supplies "evaluate one example" and gets the results files, their summary
and resumption. One process evaluates every item into
``eval_dir/results.jsonl``. Under torchrun (``WORLD_SIZE`` > 1) rank ``r``
of ``W`` evaluates ``items[r::W]`` into ``results.rank<r>.jsonl``; when all
ranks are done, rank 0 merges the files (:func:`merged_results`) and writes
the same summary as one process would. A result in any results file of
``eval_dir`` counts, so a run is resumed whatever the number of ranks of
the run that was interrupted.
"""
import os
import re
from pathlib import Path

from padertorch_audio.evaluation.parallel import (
    available_cores, evaluate_utterances)
from padertorch_audio.evaluation.results import read_results
from padertorch_audio.evaluation.summary import summarize

__all__ = ['evaluate_dataset', 'merged_results', 'DEFAULT_TIMEOUT']

#: Seconds a rank that has finished its part waits for the others.
DEFAULT_TIMEOUT = 3600

_RANK_FILE = re.compile(r'results\.rank(\d+)\.jsonl')


def _result_files(eval_dir):
    """``results.jsonl``, then the rank files in rank order."""
    eval_dir = Path(eval_dir)
    ranks = sorted(
        (int(match.group(1)), path) for path in eval_dir.iterdir()
        if (match := _RANK_FILE.fullmatch(path.name)))
    return [eval_dir / 'results.jsonl', *(path for _, path in ranks)]


def _all_results(eval_dir, exclude=None):
    """``{example_id: result}`` over all results files of ``eval_dir`` (but
    ``exclude``): a result supersedes an earlier one of the same utterance,
    except that an error never replaces a success."""
    merged = {}
    for path in _result_files(eval_dir):
        if exclude is not None and path == Path(exclude):
            continue
        for result in read_results(path):
            old = merged.get(result['example_id'])
            if old is None or 'error' in old or 'error' not in result:
                merged[result['example_id']] = result
    return merged


def merged_results(eval_dir, items):
    """The results of ``items`` (in their order) from all the results files
    in ``eval_dir`` (``results.jsonl``, then ``results.rank<r>.jsonl`` in
    rank order): a later file's result supersedes an earlier one, except
    that an error never replaces a success.

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


def _wait_for_the_other_ranks(distributed, timeout):
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


def evaluate_dataset(items, evaluate_fn, eval_dir, *, model=None,
                     num_workers=None, timeout=DEFAULT_TIMEOUT,
                     progress=None):
    """Evaluate ``items`` (resumable, parallel, shared over the ranks) and
    summarise them in ``eval_dir``.

    Writes to ``eval_dir`` (created): ``results.jsonl`` (one process) or
    ``results.rank<r>.jsonl`` (rank ``r`` under torchrun), one line per
    utterance as it finishes (see
    :func:`~padertorch_audio.evaluation.evaluate_utterances`); then, on rank
    0, ``per_utterance.csv``, ``per_utterance.json`` and
    ``final_metrics.json`` (:func:`~padertorch_audio.evaluation.summarize`
    of the merged results). Utterances with a successful result in any
    results file of ``eval_dir`` are not evaluated again; failed ones are
    tried again.

    Args:
        items: Dicts with a unique ``'example_id'`` (paths rather than
            loaded audio: they are sent to worker processes).
        evaluate_fn: ``evaluate_fn(item) -> dict`` of metrics (see
            :func:`~padertorch_audio.evaluation.evaluate_utterances`).
        eval_dir: The directory of the results and the summary.
        model: The model ``evaluate_fn`` uses, if any: under torchrun with
            GPUs it is moved to ``cuda:LOCAL_RANK`` and evaluated in the
            rank's own process (no forked workers with a CUDA model).
        num_workers: Processes per rank; None: the cores of this machine,
            shared by its ranks.
        timeout: Seconds a rank that is done waits for the others.
        progress: Show a progress bar; None: on local rank 0 only.

    Returns:
        On rank 0 (and in a single process) ``(results, final)``: the
        results in the order of ``items`` and the summary that
        ``final_metrics.json`` holds; None on the other ranks.

    Raises:
        DistributedError: the other ranks were not done within
            ``timeout``.
        RuntimeError: a results file is locked by another run, a worker
            died, or (rank 0) an item has no result after all.
    """
    import torch

    from padertorch_audio.train import distributed
    eval_dir = Path(eval_dir)
    eval_dir.mkdir(parents=True, exist_ok=True)
    items = [dict(item) for item in items]
    rank, world_size = distributed.get_rank(), distributed.get_world_size()
    part, results_path = items, eval_dir / 'results.jsonl'
    if world_size > 1:
        part = items[rank::world_size]
        results_path = eval_dir / f'results.rank{rank}.jsonl'
        if model is not None and torch.cuda.is_available():
            model.to(torch.device('cuda', distributed.get_local_rank()))
            num_workers = 1
        elif num_workers is None:
            num_workers = max(1, available_cores() // _local_world_size())
    if progress is None:
        progress = distributed.get_local_rank() == 0

    # Finished in another file (one process, or another number of ranks);
    # evaluate_utterances skips those finished in this process's file.
    elsewhere = {example_id for example_id, result in _all_results(
                     eval_dir, exclude=results_path).items()
                 if 'error' not in result}
    evaluate_utterances(
        [item for item in part if item['example_id'] not in elsewhere],
        evaluate_fn, results_path, num_workers=num_workers,
        progress=progress, retry_errors=True)

    created_group = False
    if world_size > 1:
        created_group = _wait_for_the_other_ranks(distributed, timeout)
    try:
        if rank != 0:
            return None
        results = merged_results(eval_dir, items)
        return results, summarize(
            results, eval_dir / 'per_utterance.csv',
            eval_dir / 'per_utterance.json', eval_dir / 'final_metrics.json')
    finally:
        if created_group and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
