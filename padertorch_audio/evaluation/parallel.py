"""Evaluate many utterances in parallel and resumably: a worker pool.

:func:`evaluate_utterances` runs a function over a data set on all cores and
appends each utterance's result as one JSON line to a results file (see
:mod:`padertorch_audio.evaluation.results`) the moment it is done, so an
interrupted evaluation (Ctrl-C, a killed job, a crash) resumes where it
stopped: utterances that already have a line are skipped.
:func:`~padertorch_audio.evaluation.summarize` (importable from here too)
turns the results into tables and means;
:func:`~padertorch_audio.evaluation.evaluate_dataset` shares the utterances
over the ranks of a torchrun job.
"""
import concurrent.futures
import json
import multiprocessing
import os
import sys
from pathlib import Path

from padertorch_audio.evaluation.results import (
    append_result, json_compatible, open_for_appending, read_complete_lines,
    read_results)
from padertorch_audio.evaluation.summary import summarize

# read_results and summarize: importable from here as before the split.
__all__ = ['evaluate_utterances', 'available_cores', 'read_results',
           'summarize']

_worker_function = None


def _initialize_worker(evaluate_fn):
    global _worker_function
    _worker_function = evaluate_fn
    # One thread per process: the parallelism is over the processes (many
    # processes with many BLAS/OpenMP threads each are slower, not faster).
    torch = sys.modules.get('torch')
    if torch is not None:
        torch.set_num_threads(1)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional: then numpy's BLAS keeps its threads
        pass
    else:
        threadpool_limits(1)


def _evaluate_one(evaluate_fn, item):
    """``evaluate_fn(item)`` as a result dict; an exception becomes an
    ``{'example_id', 'error'}`` record."""
    example_id = item['example_id']
    try:
        result = evaluate_fn(item)
        if not isinstance(result, dict):
            raise TypeError(f'evaluate_fn returned {type(result).__name__}, '
                            f'expected a dict')
        result = json_compatible(result)
        json.dumps(result, allow_nan=False)  # fail here, not in the writer
    except Exception as error:  # noqa: BLE001 - recorded, the others go on
        result = {'error': _error_string(error)}
    result.pop('example_id', None)
    return {'example_id': example_id, **result}


def _evaluate_in_worker(item):
    return _evaluate_one(_worker_function, item)


def _error_string(error):
    message = str(error).strip()
    return f'{type(error).__name__}: {message}' if message \
        else type(error).__name__


def available_cores():
    """The number of cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _check_items(items):
    items = list(items)
    seen = set()
    for index, item in enumerate(items):
        try:
            example_id = item['example_id']
        except (TypeError, KeyError, IndexError):
            raise ValueError(
                f'evaluate_utterances: item {index} has no "example_id" '
                f'(expected a dict with an "example_id"), found '
                f'{type(item).__name__}: {item!r:.100}') from None
        if example_id in seen:
            raise ValueError(f'evaluate_utterances: the example_id '
                             f'{example_id!r} occurs twice (item {index}).')
        seen.add(example_id)
    return items


def _progress_bar(progress, total, initial):
    from tqdm import tqdm
    return tqdm(total=total, initial=initial, disable=not progress,
                desc='evaluate', unit='utt', dynamic_ncols=True,
                file=sys.stderr)


def evaluate_utterances(items, evaluate_fn, results_path, num_workers=None,
                        progress=True, retry_errors=False):
    """Run ``evaluate_fn(item) -> dict`` over all items, in parallel and
    resumably.

    Each result is appended to ``results_path`` as one JSON line (flushed
    and fsync'ed) as soon as it is done; utterances that already have a
    line there are not evaluated again, so an interrupted evaluation is
    resumed by calling this function again with the same arguments.

    Args:
        items: Iterable of dicts (or anything with ``item['example_id']``);
            the ``example_id`` must be unique and JSON-serialisable. They
            are sent to the worker processes (pickled), so pass paths
            rather than loaded audio when the data set is large.
        evaluate_fn: ``evaluate_fn(item) -> dict`` of JSON-serialisable
            values (numpy values are converted, NaN/inf become null). An
            exception (or a result that is not a dict) is recorded as
            ``{'example_id': ..., 'error': 'Type: message'}`` and the other
            items go on.
        results_path: The JSON-lines file (created with its directory).
        num_workers: Processes; None: one per available core; 1: serial,
            in this process. With the 'fork' start method (Linux, macOS
            with care) ``evaluate_fn`` may be any function, e.g. a closure
            holding a model; with 'spawn' (Windows) it must be picklable.
            Each worker uses one torch thread (and one BLAS thread where
            threadpoolctl is installed).
        progress: Show a tqdm progress bar (on stderr).
        retry_errors: Also evaluate again the items whose stored result is
            an error record (the new line supersedes the old one).

    Returns:
        The results (old and new) of all items, in the order of ``items``.

    Raises:
        RuntimeError: a worker process died (killed, out of memory, a
            crash in C code); the results saved so far stay in the file.
        ValueError: duplicate or missing ``example_id``, or a damaged
            results file (see :func:`read_results`).

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / 'results.jsonl'
    >>> items = [{'example_id': 'a', 'x': 2}, {'example_id': 'b', 'x': 0}]
    >>> evaluate_utterances(items, lambda item: {'inverse': 1 / item['x']},
    ...                     path, num_workers=1, progress=False)
    [{'example_id': 'a', 'inverse': 0.5}, {'example_id': 'b', 'error': 'ZeroDivisionError: division by zero'}]
    >>> print(path.read_text(), end='')
    {"example_id": "a", "inverse": 0.5}
    {"example_id": "b", "error": "ZeroDivisionError: division by zero"}
    """
    items = _check_items(items)
    path = Path(results_path)
    stored, valid_size = read_complete_lines(path)
    done = {result['example_id']: result for result in stored}
    if retry_errors:
        done = {key: result for key, result in done.items()
                if 'error' not in result}
    todo = [item for item in items if item['example_id'] not in done]
    if num_workers is None:
        num_workers = available_cores()
    num_workers = max(1, min(int(num_workers), len(todo)))

    with open_for_appending(path, valid_size) as file, \
            _progress_bar(progress, len(items), len(items) - len(todo)) \
            as bar:
        def record(result):
            append_result(file, result)
            done[result['example_id']] = result
            bar.update()

        if num_workers == 1:
            for item in todo:
                record(_evaluate_one(evaluate_fn, item))
        else:
            _evaluate_in_pool(todo, evaluate_fn, num_workers, record, path)
    return [done[item['example_id']] for item in items]


def _evaluate_in_pool(todo, evaluate_fn, num_workers, record, path):
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context(
        'fork' if 'fork' in methods else 'spawn')
    pending = {}  # future -> example_id
    items = iter(todo)
    with concurrent.futures.ProcessPoolExecutor(
            num_workers, mp_context=context, initializer=_initialize_worker,
            initargs=(evaluate_fn,)) as executor:
        try:
            while True:
                # A bounded number of submitted items keeps memory small.
                for item in items:
                    future = executor.submit(_evaluate_in_worker, item)
                    pending[future] = item['example_id']
                    if len(pending) >= 2 * num_workers:
                        break
                if not pending:
                    break
                finished, _ = concurrent.futures.wait(
                    pending, return_when=concurrent.futures.FIRST_COMPLETED)
                for future in finished:
                    example_id = pending.pop(future)
                    try:
                        result = future.result()
                    except concurrent.futures.process.BrokenProcessPool:
                        pending[future] = example_id
                        raise
                    except Exception as error:  # noqa: BLE001 (pickling)
                        result = {'example_id': example_id,
                                  'error': _error_string(error)}
                    record(result)
        except concurrent.futures.process.BrokenProcessPool as error:
            executor.shutdown(wait=False, cancel_futures=True)
            raise RuntimeError(
                f'A worker process died while evaluating (killed, out of '
                f'memory or a crash in C code; the utterances in progress '
                f'were {sorted(map(str, pending.values()))}). The results '
                f'so far are saved in {path}; run again to resume.'
            ) from error
        except BaseException:
            executor.shutdown(wait=False, cancel_futures=True)
            raise
