"""Evaluation of separation models: per-utterance metrics, parallel and
resumable evaluation of a data set, summaries and a PNG report.

    from padertorch_audio import evaluation
    def evaluate(example):
        estimate = separate(model, example['mixture'])
        return evaluation.separation_metrics(
            estimate, example['sources'], example['mixture'], 8000)
    results = evaluation.evaluate_utterances(
        examples, evaluate, eval_dir / 'results.jsonl')
    evaluation.summarize(results, eval_dir / 'per_utterance.csv',
                         eval_dir / 'per_utterance.json',
                         eval_dir / 'final_metrics.json')
    evaluation.write_report(eval_dir / 'report.png', results)

The metrics need the ``eval`` extra (``mir_eval`` is not needed: BSS-Eval's
SDR is computed here; ``pesq``, ``pystoi``), the report the ``plot``
extra (matplotlib).
"""
from padertorch_audio.evaluation.metrics import (
    METRICS,
    bss_eval_sdr,
    separation_metrics,
)
from padertorch_audio.evaluation.parallel import (
    evaluate_utterances,
    read_results,
    summarize,
)
from padertorch_audio.evaluation.report import report_size, write_report

__all__ = [
    'METRICS',
    'separation_metrics',
    'bss_eval_sdr',
    'evaluate_utterances',
    'read_results',
    'summarize',
    'write_report',
    'report_size',
]
