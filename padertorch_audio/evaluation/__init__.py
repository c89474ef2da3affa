"""Evaluation of separation models: per-utterance metrics, parallel and
resumable evaluation of a data set (shared over the ranks of a torchrun
job), summaries and a PNG report.

One concept per module: ``metrics`` (one utterance), ``results`` (the
JSON-lines results file), ``parallel`` (the worker pool), ``ranks`` (a
data set shared over torchrun ranks, merged by rank 0), ``summary``
(tables and means), ``report`` (the PNG), ``verification`` (speaker
verification: trials, cosine scores, EER, minDCF, DET curve),
``classification`` (closed-set identification: accuracy, top-k, confusion
matrix).

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

A recipe's evaluation stage needs only its "evaluate one example":
``evaluation.evaluate_dataset(items, evaluate, eval_dir)`` does the above
(results files per rank under torchrun, merge, summary) and returns
``(results, final)`` on rank 0.

The metrics need the ``eval`` extra (``mir_eval`` is not needed: BSS-Eval's
SDR is computed here; ``pesq``, ``pystoi``), the report the ``plot``
extra (matplotlib).
"""
from padertorch_audio.evaluation.classification import (
    classification_metrics,
    classification_result,
    confusion_matrix,
    plot_confusion_matrix,
    top_k_correct,
)
from padertorch_audio.evaluation.metrics import (
    METRICS,
    bss_eval_sdr,
    separation_metrics,
)
from padertorch_audio.evaluation.parallel import (
    available_cores,
    evaluate_utterances,
)
from padertorch_audio.evaluation.ranks import evaluate_dataset, merged_results
from padertorch_audio.evaluation.report import report_size, write_report
from padertorch_audio.evaluation.results import read_results
from padertorch_audio.evaluation.summary import summarize
from padertorch_audio.evaluation.verification import (
    cosine_scores,
    equal_error_rate,
    error_rates,
    make_trials,
    minimum_dcf,
    plot_det_curve,
    read_trials,
    trial_labels,
    verification_metrics,
    write_trials,
)
from padertorch_audio.evaluation.vocoding import (
    log_spectral_distance,
    mel_cepstral_distortion,
    vocoder_metrics,
    waveform_rmse,
)

__all__ = [
    'METRICS',
    'separation_metrics',
    'bss_eval_sdr',
    'evaluate_utterances',
    'evaluate_dataset',
    'merged_results',
    'available_cores',
    'read_results',
    'summarize',
    'write_report',
    'report_size',
    'make_trials',
    'write_trials',
    'read_trials',
    'trial_labels',
    'cosine_scores',
    'error_rates',
    'equal_error_rate',
    'minimum_dcf',
    'plot_det_curve',
    'verification_metrics',
    'top_k_correct',
    'classification_result',
    'classification_metrics',
    'confusion_matrix',
    'plot_confusion_matrix',
    'waveform_rmse',
    'log_spectral_distance',
    'mel_cepstral_distortion',
    'vocoder_metrics',
]
