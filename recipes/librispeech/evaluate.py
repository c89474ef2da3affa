"""Stage 2: classify and embed one utterance; the library does the rest
(:func:`padertorch_audio.evaluation.evaluate_dataset`: the results files,
one per rank under torchrun, their merge, the summary, resumption), then
the identification metrics and the speaker verification on the test
utterances' embeddings.

Verification trials (:func:`padertorch_audio.evaluation.make_trials`): the
pairs of test utterances, same speaker = target; all pairs up to
``max_trials``, beyond that every target pair and a seeded sample of the
non-target pairs. Scores: cosine similarity of the embeddings.
"""
from pathlib import Path

import numpy as np
import torch

from padertorch_audio import evaluation
from padertorch_audio.evaluation.results import json_compatible
from padertorch_audio.io import dump_json
from recipes.librispeech.data import evaluation_data, load_example

__all__ = ['evaluate_experiment']


def _classify(model, example, speakers):
    """The result of one utterance: its class ranking, the probability of
    the predicted speaker and the embedding."""
    with torch.no_grad():
        output = model({'audio': torch.as_tensor(example['audio'])[None]})
    logits = output['logits'][0].double()
    return {
        **evaluation.classification_result(
            example['example_id'], logits.numpy(), example['speaker_id'],
            speakers, top_k=5),
        'probability': float(torch.softmax(logits, -1).max()),
        'seconds': example['num_samples'] / model.sample_rate,
        'embedding': output['embedding'][0].tolist(),
    }


def _verification(results, eval_dir, dataset, max_trials, p_target):
    """EER, minDCF and the DET curve of the trials of ``results``; without
    same-speaker (or different-speaker) trials, the reason instead."""
    try:
        trials = evaluation.make_trials(
            [result['example_id'] for result in results],
            [result['speaker'] for result in results], max_trials=max_trials)
    except ValueError as error:  # e.g. one test utterance per speaker
        print(f'warning: no speaker verification on {dataset}: {error}',
              flush=True)
        return {'verification_error': str(error)}
    evaluation.write_trials(eval_dir / 'trials.txt', trials)
    embeddings = {result['example_id']: np.asarray(result['embedding'])
                  for result in results}
    return evaluation.verification_metrics(
        embeddings, trials, p_target=p_target,
        det_curve_path=eval_dir / 'det_curve.png')


def evaluate_experiment(model, database_json, dataset, eval_dir, speakers,
                        num_workers=None, max_examples=None,
                        max_trials=200_000, p_target=0.01,
                        timeout=evaluation.ranks.DEFAULT_TIMEOUT):
    """Per-utterance results (resumable, parallel, shared over the ranks),
    then in ``eval_dir`` (rank 0): ``final_metrics.json`` (accuracy,
    top-5, per-speaker accuracy, EER, minDCF, ...),
    ``misclassified.json``, ``confusion_matrix.png``, ``trials.txt``,
    ``det_curve.png``. Returns the final metrics on rank 0, None on the
    other ranks."""
    items = list(evaluation_data(database_json, dataset))[:max_examples]

    def evaluate_one(item):
        torch.set_num_threads(1)
        example = load_example(item, speakers, model.sample_rate)
        return _classify(model, example, speakers)

    outcome = evaluation.evaluate_dataset(
        items, evaluate_one, eval_dir, model=model.eval(),
        num_workers=num_workers, timeout=timeout)
    if outcome is None:  # another rank: rank 0 reports
        return None
    results, final = outcome
    eval_dir = Path(eval_dir)
    done = [result for result in results if 'error' not in result]
    identification = evaluation.classification_metrics(done, speakers)
    dump_json([{key: value for key, value in result.items()
                if key != 'embedding'}
               for result in identification.pop('misclassified')],
              eval_dir / 'misclassified.json')
    evaluation.plot_confusion_matrix(
        eval_dir / 'confusion_matrix.png', evaluation.confusion_matrix(
            [result['speaker'] for result in done],
            [result['predicted'] for result in done], speakers), speakers,
        title=f'{dataset}: {identification["accuracy"]:.1f}% accuracy')
    final = {**final, **identification,
             **_verification(done, eval_dir, dataset, max_trials, p_target)}
    # JSON proper: a threshold of inf (reject every trial) becomes null
    final = json_compatible(final)
    dump_json(final, eval_dir / 'final_metrics.json')
    return final
