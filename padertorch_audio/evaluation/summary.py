"""The summary of an evaluation: per-utterance tables and the means.

:func:`summarize` turns the results of
:func:`~padertorch_audio.evaluation.evaluate_utterances` (or any list of
dicts with an ``'example_id'``) into a per-utterance CSV and JSON and the
means in ``final_metrics.json``.
"""
import csv
import numbers

import numpy as np

from padertorch_audio.evaluation.results import json_compatible
from padertorch_audio.io import atomic_write, dump_json

__all__ = ['summarize']


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
    results = [json_compatible(result) for result in results]
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
