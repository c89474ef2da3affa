"""Stage 2: evaluate one example; the library does the rest
(:func:`padertorch_audio.evaluation.evaluate_dataset`: the results files,
one per rank under torchrun, their merge, the summary, resumption)."""
from pathlib import Path

import torch

from padertorch_audio import evaluation
from padertorch_audio.separation import separate
from recipes.wsj0_2mix.data import evaluation_data, load_example

__all__ = ['evaluate_experiment']


def evaluate_experiment(model, database_json, dataset, eval_dir, sample_rate,
                        metrics, num_workers=None, max_examples=None,
                        timeout=evaluation.ranks.DEFAULT_TIMEOUT):
    """Per-utterance metrics (resumable, parallel, shared over the ranks),
    their means and ``report.png`` in ``eval_dir``; the means on rank 0,
    None on the other ranks. Utterances up to 60 s are separated in one
    pass (no chunking)."""
    items = list(evaluation_data(database_json, dataset))[:max_examples]

    def separate_one(item):
        example = load_example(item)
        return example, separate(model, example['observation'],
                                 sample_rate=sample_rate, chunk_seconds=60.)

    def evaluate_one(item):
        torch.set_num_threads(1)
        example, estimate = separate_one(item)
        return evaluation.separation_metrics(
            estimate, example['speech_source'], example['observation'],
            sample_rate, metrics)

    outcome = evaluation.evaluate_dataset(
        items, evaluate_one, eval_dir, model=model.eval(),
        num_workers=num_workers, timeout=timeout)
    if outcome is None:  # another rank: rank 0 reports
        return None
    results, final = outcome
    done = [result for result in results if 'error' not in result]
    example = None
    if done:
        loaded, estimate = separate_one(next(
            item for item in items
            if item['example_id'] == done[0]['example_id']))
        example = {'example_id': done[0]['example_id'],
                   'mixture': loaded['observation'], 'estimate': estimate,
                   'reference': loaded['speech_source'],
                   'sample_rate': sample_rate,
                   'permutation': done[0].get('permutation')}
    evaluation.write_report(Path(eval_dir) / 'report.png', results, example)
    return final
