"""evaluate_utterances (parallel == serial, resume, errors) and summarize
(means against numpy)."""
import csv
import json
import os

import numpy as np
import pytest

from padertorch_audio.evaluation.parallel import (
    evaluate_utterances, read_results, summarize)


def _items(n):
    return [{'example_id': f'utt{i}', 'seed': i} for i in range(n)]


def _statistics(item):
    """A deterministic, slightly numeric evaluate_fn."""
    x = np.random.default_rng(item['seed']).standard_normal(1000)
    return {'mean': np.mean(x), 'energy': np.float32(np.sum(x ** 2)),
            'values': x[:2]}


def _counting(counter_path, fail_on=(), interrupt_on=()):
    """An evaluate_fn that appends the example_id to a file per call (works
    from worker processes too)."""
    def evaluate(item):
        with open(counter_path, 'a') as file:
            file.write(item['example_id'] + '\n')
        if item['example_id'] in fail_on:
            raise ValueError(f'cannot evaluate {item["example_id"]}')
        if item['example_id'] in interrupt_on:
            raise KeyboardInterrupt
        return {'score': float(item['seed'])}
    return evaluate


def _calls(counter_path):
    return sorted(counter_path.read_text().split())


def test_parallel_equals_serial(tmp_path):
    serial = evaluate_utterances(_items(12), _statistics,
                                 tmp_path / 'serial.jsonl', num_workers=1,
                                 progress=False)
    parallel = evaluate_utterances(_items(12), _statistics,
                                   tmp_path / 'parallel.jsonl',
                                   num_workers=3, progress=False)
    assert parallel == serial
    assert [r['example_id'] for r in parallel] == [f'utt{i}'
                                                   for i in range(12)]
    x = np.random.default_rng(4).standard_normal(1000)
    assert serial[4]['mean'] == np.mean(x)
    assert serial[4]['values'] == x[:2].tolist()
    # The file holds the same results, one line each (in completion order).
    lines = (tmp_path / 'parallel.jsonl').read_text().splitlines()
    assert sorted(map(json.loads, lines), key=lambda r: r['example_id']) \
        == sorted(serial, key=lambda r: r['example_id'])


@pytest.mark.parametrize('num_workers', [1, 2])
def test_resume_skips_done_items(tmp_path, num_workers):
    counter, results_path = tmp_path / 'calls.txt', tmp_path / 'r.jsonl'
    evaluate = _counting(counter)
    first = evaluate_utterances(_items(3), evaluate, results_path,
                                num_workers=num_workers, progress=False)
    assert _calls(counter) == ['utt0', 'utt1', 'utt2']
    second = evaluate_utterances(_items(5), evaluate, results_path,
                                 num_workers=num_workers, progress=False)
    assert _calls(counter) == [f'utt{i}' for i in range(5)]  # 3, 4 added
    assert second[:3] == first
    assert second == [{'example_id': f'utt{i}', 'score': float(i)}
                      for i in range(5)]
    evaluate_utterances(_items(5), evaluate, results_path, progress=False)
    assert len(_calls(counter)) == 5  # nothing left to do
    assert len(read_results(results_path)) == 5


def test_resume_after_an_interruption_and_a_torn_line(tmp_path):
    counter, results_path = tmp_path / 'calls.txt', tmp_path / 'r.jsonl'
    with pytest.raises(KeyboardInterrupt):
        evaluate_utterances(_items(5), _counting(counter,
                                                 interrupt_on=['utt3']),
                            results_path, num_workers=1, progress=False)
    assert [r['example_id'] for r in read_results(results_path)] \
        == ['utt0', 'utt1', 'utt2']
    with open(results_path, 'a') as file:  # a crash in the middle of a write
        file.write('{"example_id": "utt3", "sco')
    assert len(read_results(results_path)) == 3
    results = evaluate_utterances(_items(5), _counting(counter),
                                  results_path, num_workers=1,
                                  progress=False)
    assert _calls(counter) == ['utt0', 'utt1', 'utt2', 'utt3', 'utt3',
                               'utt4']
    assert results == [{'example_id': f'utt{i}', 'score': float(i)}
                       for i in range(5)]
    assert read_results(results_path) == results  # torn line cut off


@pytest.mark.parametrize('num_workers', [1, 2])
def test_a_failing_item_is_recorded_and_the_others_go_on(tmp_path,
                                                         num_workers):
    counter, results_path = tmp_path / 'calls.txt', tmp_path / 'r.jsonl'
    results = evaluate_utterances(
        _items(4), _counting(counter, fail_on=['utt1']), results_path,
        num_workers=num_workers, progress=False)
    assert results[1] == {'example_id': 'utt1',
                          'error': 'ValueError: cannot evaluate utt1'}
    assert [r.get('score') for r in results] == [0., None, 2., 3.]
    # An error counts as done, unless retry_errors is set.
    evaluate_utterances(_items(4), _counting(counter), results_path,
                        progress=False)
    assert len(_calls(counter)) == 4
    retried = evaluate_utterances(_items(4), _counting(counter),
                                  results_path, progress=False,
                                  retry_errors=True)
    assert _calls(counter).count('utt1') == 2
    assert retried[1] == {'example_id': 'utt1', 'score': 1.0}
    assert read_results(results_path)[-1] == retried[1]


def test_a_dead_worker_raises_and_keeps_the_saved_results(tmp_path):
    def evaluate(item):
        if item['example_id'] == 'utt3':
            os._exit(1)  # as if killed
        return {'score': 1.0}
    results_path = tmp_path / 'r.jsonl'
    with pytest.raises(RuntimeError, match='worker process died'):
        evaluate_utterances(_items(6), evaluate, results_path,
                            num_workers=2, progress=False)
    for result in read_results(results_path):
        assert result['score'] == 1.0


def test_invalid_items_and_concurrent_runs_are_refused(tmp_path):
    results_path = tmp_path / 'r.jsonl'
    with pytest.raises(ValueError, match="'utt1' occurs twice"):
        evaluate_utterances(_items(2) + _items(2)[1:], _statistics,
                            results_path, progress=False)
    with pytest.raises(ValueError, match='item 1 has no "example_id"'):
        evaluate_utterances([{'example_id': 'a'}, {'id': 'b'}], _statistics,
                            results_path, progress=False)

    def nested(item):  # a second run on the same file while it is open
        evaluate_utterances(_items(1), _statistics, results_path,
                            num_workers=1, progress=False)
    result, = evaluate_utterances([{'example_id': 'x'}], nested,
                                  results_path, num_workers=1,
                                  progress=False)
    assert 'locked' in result['error']


def test_damaged_results_file_names_the_line(tmp_path):
    results_path = tmp_path / 'r.jsonl'
    results_path.write_text('{"example_id": "a"}\nnot json\n')
    with pytest.raises(ValueError, match=r'r\.jsonl, line 2'):
        evaluate_utterances(_items(1), _statistics, results_path,
                            progress=False)


def test_summarize_means_counts_and_files(tmp_path):
    rng = np.random.default_rng(0)
    si_sdr, pesq = rng.normal(10, 3, 6), rng.uniform(1, 4.5, 6)
    results = []
    for i in range(6):
        results.append({'example_id': f'utt{i}', 'si_sdr': si_sdr[i],
                        'pesq': None if i in (1, 4) else pesq[i],
                        'per_source': {'si_sdr': [si_sdr[i]] * 2},
                        'errors': {'pesq': 'NoUtterancesError: silence'}
                        if i in (1, 4) else {}})
    results[2]['si_sdr'] = float('nan')
    results.append({'example_id': 'utt6', 'error': 'ValueError: bad file'})

    final = summarize(results, tmp_path / 'per_utterance.csv',
                      tmp_path / 'per_utterance.json',
                      tmp_path / 'final_metrics.json')
    valid_si_sdr = si_sdr[[0, 1, 3, 4, 5]]
    valid_pesq = pesq[[0, 2, 3, 5]]
    assert final['means']['si_sdr'] == pytest.approx(np.mean(valid_si_sdr))
    assert final['means']['pesq'] == pytest.approx(np.mean(valid_pesq))
    assert final['counts'] == {'si_sdr': 5, 'pesq': 4}
    assert final['missing'] == {'si_sdr': 2, 'pesq': 3}
    assert final['num_utterances'] == 7
    assert final['failed_utterances'] == {'utt6': 'ValueError: bad file'}
    assert json.loads((tmp_path / 'final_metrics.json').read_text()) == final

    with open(tmp_path / 'per_utterance.csv', newline='') as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0]) == ['example_id', 'si_sdr', 'pesq', 'error']
    assert [row['example_id'] for row in rows] == [f'utt{i}'
                                                   for i in range(7)]
    assert float(rows[0]['si_sdr']) == si_sdr[0]  # full precision
    assert rows[1]['pesq'] == '' and rows[2]['si_sdr'] == ''
    assert rows[1]['error'] == 'pesq: NoUtterancesError: silence'
    assert rows[6]['error'] == 'ValueError: bad file'

    per_utterance = json.loads((tmp_path / 'per_utterance.json').read_text())
    assert list(per_utterance) == [f'utt{i}' for i in range(7)]
    assert per_utterance['utt2']['si_sdr'] is None  # NaN -> null
    assert per_utterance['utt3']['per_source']['si_sdr'] == [si_sdr[3]] * 2
    assert sorted(os.listdir(tmp_path)) == [
        'final_metrics.json', 'per_utterance.csv', 'per_utterance.json']
