"""Evaluate many utterances in parallel, resumably, and summarise them.

:func:`evaluate_utterances` runs a function over a data set on all cores and
appends each utterance's result as one JSON line to a results file the
moment it is done (flushed and fsync'ed), so an interrupted evaluation
(Ctrl-C, a killed job, a crash) resumes where it stopped: utterances that
already have a line are skipped. :func:`summarize` turns the results into a
per-utterance CSV and JSON and the means in ``final_metrics.json``.
"""
import concurrent.futures
import contextlib
import csv
import json
import math
import multiprocessing
import numbers
import os
import sys
from pathlib import Path

import numpy as np

from padertorch_audio.io import atomic_write, dump_json

__all__ = ['evaluate_utterances', 'read_results', 'summarize']


# --------------------------------------------------------------------------
# JSON lines
# --------------------------------------------------------------------------

def _json_compatible(value):
    """Plain Python values for JSON: numpy scalars and arrays become numbers
    and lists, NaN and inf become None (strict JSON has no NaN)."""
    if isinstance(value, dict):
        return {str(key): _json_compatible(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_compatible(item) for item in value]
    if isinstance(value, np.ndarray):
        return _json_compatible(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def read_results(results_path):
    """The results in a JSON-lines file of :func:`evaluate_utterances`.

    A last line without its newline is what a crash in the middle of a
    write leaves behind: it is ignored (and cut off the file when the file
    is opened for appending by :func:`evaluate_utterances`).

    Returns:
        A list of dicts in file order ([] when the file does not exist).

    Raises:
        ValueError: a complete line is not a JSON object with an
            ``'example_id'``; the message names the file and line.
    """
    results, _ = _read_results(Path(results_path))
    return results


def _read_results(path):
    """``(results, valid_size)``: ``valid_size`` is the number of bytes up
    to the end of the last complete line."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return [], 0
    valid_size = data.rfind(b'\n') + 1
    results = []
    for number, line in enumerate(data[:valid_size].splitlines(), 1):
        if not line.strip():
            continue
        try:
            result = json.loads(line)
        except ValueError as error:
            raise ValueError(
                f'{path}, line {number}: not a JSON line ({error}). The '
                f'results file is damaged; fix or remove that line.'
            ) from None
        if not isinstance(result, dict) or 'example_id' not in result:
            raise ValueError(
                f'{path}, line {number}: expected a JSON object with an '
                f'"example_id", found {line[:80]!r}.')
        results.append(result)
    return results, valid_size


@contextlib.contextmanager
def _open_for_appending(path, valid_size):
    """Open `path` for appending, cut off a torn last line, and hold an
    exclusive lock (POSIX) so that two runs do not write the same file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, 'ab') as file:
        try:
            import fcntl
        except ImportError:  # Windows: no lock
            fcntl = None
        if fcntl is not None:
            try:
                fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise RuntimeError(
                    f'{path} is being written by another evaluation '
                    f'(it is locked); wait for it or use another file.'
                ) from None
        if file.tell() > valid_size:
            file.truncate(valid_size)
            file.seek(valid_size)
        yield file


def _append(file, result):
    line = json.dumps(result, ensure_ascii=False, allow_nan=False)
    file.write(line.encode('utf-8') + b'\n')
    file.flush()
    os.fsync(file.fileno())


# --------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------

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
        result = _json_compatible(result)
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


def _default_num_workers():
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
    stored, valid_size = _read_results(path)
    done = {result['example_id']: result for result in stored}
    if retry_errors:
        done = {key: result for key, result in done.items()
                if 'error' not in result}
    todo = [item for item in items if item['example_id'] not in done]
    if num_workers is None:
        num_workers = _default_num_workers()
    num_workers = max(1, min(int(num_workers), len(todo)))

    with _open_for_appending(path, valid_size) as file, \
            _progress_bar(progress, len(items), len(items) - len(todo)) \
            as bar:
        def record(result):
            _append(file, result)
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


# --------------------------------------------------------------------------
# Summary
# --------------------------------------------------------------------------

def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _metric_names(results):
    """Top-level keys with numbers (or None) as values, in the order of
    first appearance."""
    names = {}
    for result in results:
        for key, value in result.items():
            if key in ('example_id', 'error') or key in names:
                continue
            if value is None or _is_number(value):
                names[key] = None
    return list(names)


def _error_cell(result):
    if 'error' in result:
        return str(result['error'])
    errors = result.get('errors')
    if isinstance(errors, dict) and errors:
        return '; '.join(f'{key}: {value}' for key, value in errors.items())
    return ''


def summarize(results, csv_path=None, json_path=None,
              final_metrics_path=None):
    """Per-utterance tables and the mean of every metric.

    Args:
        results: Dicts with an ``'example_id'`` (e.g. from
            :func:`evaluate_utterances`). Every top-level number is a
            metric; None, NaN or an absent key is a missing value; a result
            with an ``'error'`` counts as missing for every metric.
        csv_path: Per-utterance CSV: ``example_id``, one column per metric
            (empty cell: missing), and ``error`` (the utterance's error or
            its metrics' ``errors``).
        json_path: Per-utterance JSON: ``{example_id: result}``.
        final_metrics_path: ``final_metrics.json`` with the returned dict.
        The files are written atomically; None skips a file.

    Returns:
        ``{'means': {metric: mean or None}, 'counts': {metric: number of
        values}, 'missing': {metric: number missing}, 'num_utterances': N,
        'failed_utterances': {example_id: error}}``; a mean ignores the
        missing values (None when all are missing).

    >>> summarize([{'example_id': 'a', 'si_sdr': 10.0, 'pesq': None},
    ...            {'example_id': 'b', 'si_sdr': 12.0, 'pesq': 3.0},
    ...            {'example_id': 'c', 'error': 'ValueError: bad file'}])
    {'means': {'si_sdr': 11.0, 'pesq': 3.0}, 'counts': {'si_sdr': 2, 'pesq': 1}, 'missing': {'si_sdr': 1, 'pesq': 2}, 'num_utterances': 3, 'failed_utterances': {'c': 'ValueError: bad file'}}
    """
    results = [_json_compatible(result) for result in results]
    for index, result in enumerate(results):
        if not isinstance(result, dict) or 'example_id' not in result:
            raise ValueError(f'summarize: result {index} is not a dict with '
                             f'an "example_id": {result!r:.100}')
    names = _metric_names(results)
    means, counts, missing = {}, {}, {}
    for name in names:
        values = [result.get(name) for result in results
                  if 'error' not in result]
        values = [value for value in values if _is_number(value)]
        counts[name] = len(values)
        missing[name] = len(results) - len(values)
        means[name] = float(np.mean(values)) if values else None
    final = {
        'means': means,
        'counts': counts,
        'missing': missing,
        'num_utterances': len(results),
        'failed_utterances': {result['example_id']: result['error']
                              for result in results if 'error' in result},
    }
    if csv_path is not None:
        with atomic_write(csv_path, 'w') as file:
            writer = csv.writer(file, lineterminator='\n')
            writer.writerow(['example_id', *names, 'error'])
            for result in results:
                writer.writerow([
                    result['example_id'],
                    *('' if result.get(name) is None else result[name]
                      for name in names),
                    _error_cell(result),
                ])
    if json_path is not None:
        per_utterance = {}
        for result in results:
            result = dict(result)
            per_utterance[str(result.pop('example_id'))] = result
        dump_json(per_utterance, json_path)
    if final_metrics_path is not None:
        dump_json(final, final_metrics_path)
    return final
