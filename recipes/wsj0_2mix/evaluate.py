"""Stage 2: evaluate a trained model on a dataset of the database JSON."""
from pathlib import Path

import torch

from padertorch_audio import evaluation
from padertorch_audio.separation import separate
from recipes.wsj0_2mix.data import evaluation_data, load_example

__all__ = ['evaluate_experiment']


def evaluate_experiment(model, database_json, dataset, eval_dir, sample_rate,
                        metrics, num_workers=None, max_examples=None):
    """Per-utterance metrics (resumable, parallel), means and a report.

    Writes to ``eval_dir``: ``results.jsonl`` (one line per utterance, as
    they finish; a re-run skips those), ``per_utterance.csv`` and
    ``.json``, ``final_metrics.json`` (means) and ``report.png``.
    Utterances that failed before are tried again. Utterances up to 60 s
    are separated in one pass (no chunking).
    """
    eval_dir = Path(eval_dir)
    eval_dir.mkdir(parents=True, exist_ok=True)
    items = [dict(example) for example in evaluation_data(database_json,
                                                           dataset)]
    if max_examples is not None:
        items = items[:max_examples]
    model.eval()

    def evaluate_one(item):
        torch.set_num_threads(1)
        example = load_example(item)
        estimate = separate(model, example['observation'],
                            sample_rate=sample_rate, chunk_seconds=60.)
        return evaluation.separation_metrics(
            estimate, example['speech_source'], example['observation'],
            sample_rate, metrics)

    results = evaluation.evaluate_utterances(
        items, evaluate_one, eval_dir / 'results.jsonl',
        num_workers=num_workers, retry_errors=True)
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
