"""evaluate_dataset: 2 ranks (gloo, CPU processes) write one results file
each, and rank 0's merge equals the evaluation by one process; a run with
another number of ranks resumes from either."""
import json
import multiprocessing
import socket

import numpy as np
import pytest
import torch

from padertorch_audio.evaluation import (
    evaluate_dataset, evaluate_utterances, merged_results, read_results,
    summarize)

pytestmark = pytest.mark.skipif(
    not torch.distributed.is_available()
    or not torch.distributed.is_gloo_available(),
    reason='torch without gloo')


def _items(n):
    return [{'example_id': f'utt{i}', 'seed': i} for i in range(n)]


def _score(item):
    x = np.random.default_rng(item['seed']).standard_normal(100)
    if item['seed'] == 3:
        raise ValueError('bad utterance')
    return {'mean': float(np.mean(x)), 'peak': float(np.max(x))}


def _free_port():
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return str(probe.getsockname()[1])


def _rank(rank, port, eval_dir, out):
    import os
    os.environ.update(RANK=str(rank), WORLD_SIZE='2', LOCAL_RANK=str(rank),
                      LOCAL_WORLD_SIZE='2', MASTER_ADDR='127.0.0.1',
                      MASTER_PORT=port)
    outcome = evaluate_dataset(_items(7), _score, eval_dir, num_workers=1,
                               timeout=60, progress=False)
    with open(out, 'w') as file:
        json.dump(outcome, file)


def _two_ranks(eval_dir, tmp_path):
    port = _free_port()
    context = multiprocessing.get_context('spawn')
    processes = [context.Process(target=_rank, args=(
        rank, port, eval_dir, tmp_path / f'out{rank}.json'))
        for rank in (0, 1)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(120)
    assert [process.exitcode for process in processes] == [0, 0]
    return [json.loads((tmp_path / f'out{rank}.json').read_text())
            for rank in (0, 1)]


def test_two_ranks_merge_to_the_evaluation_by_one_process(tmp_path):
    # The reference: the worker pool in one process, and summarize.
    reference = evaluate_utterances(_items(7), _score, tmp_path / 'r.jsonl',
                                    num_workers=1, progress=False)
    reference_final = summarize(reference)

    eval_dir = tmp_path / 'eval'
    (results, final), other = _two_ranks(eval_dir, tmp_path)
    assert other is None
    assert results == reference
    assert final == reference_final
    assert final['failed_utterances'] == {'utt3': 'ValueError: bad utterance'}
    # Rank r evaluated items[r::2] into its own file.
    for rank in (0, 1):
        assert sorted(r['example_id'] for r in read_results(
            eval_dir / f'results.rank{rank}.jsonl')) == sorted(
            item['example_id'] for item in _items(7)[rank::2])
    assert not (eval_dir / 'results.jsonl').exists()
    assert json.loads((eval_dir / 'final_metrics.json').read_text()) \
        == reference_final
    per_utterance = json.loads((eval_dir / 'per_utterance.json').read_text())
    assert per_utterance['utt5'] == {key: value for key, value in
                                     reference[5].items()
                                     if key != 'example_id'}

    # One process resumes from the rank files: only the failed utterance
    # is tried again (into results.jsonl), with the same summary.
    calls = []

    def counting(item):
        calls.append(item['example_id'])
        return _score(item)
    assert evaluate_dataset(_items(7), counting, eval_dir, num_workers=1,
                            progress=False) == (reference, reference_final)
    assert calls == ['utt3']
    assert [r['example_id'] for r in read_results(
        eval_dir / 'results.jsonl')] == ['utt3']


def test_merge_prefers_successes_then_later_files(tmp_path):
    def write(name, *results):
        (tmp_path / name).write_text(
            ''.join(json.dumps(result) + '\n' for result in results))

    write('results.rank1.jsonl', {'example_id': 'a', 'x': 2})
    write('results.rank0.jsonl', {'example_id': 'a', 'x': 1},
          {'example_id': 'b', 'x': 1})
    write('results.jsonl', {'example_id': 'b', 'x': 0},
          {'example_id': 'c', 'error': 'E'})
    write('results.rank2.jsonl', {'example_id': 'c', 'error': 'F'},
          {'example_id': 'b', 'error': 'G'})
    items = [{'example_id': key} for key in 'abc']
    assert merged_results(tmp_path, items) == [
        {'example_id': 'a', 'x': 2}, {'example_id': 'b', 'x': 1},
        {'example_id': 'c', 'error': 'F'}]
    with pytest.raises(RuntimeError, match=r'1 utterance.*\[\'d\'\]'):
        merged_results(tmp_path, items + [{'example_id': 'd'}])
