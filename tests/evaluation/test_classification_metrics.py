"""Closed-set classification metrics against numpy (argsort), sklearn and
hand-written loops."""
import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.metrics import confusion_matrix as sklearn_confusion_matrix

from padertorch_audio.evaluation import (
    classification_metrics,
    classification_result,
    confusion_matrix,
    plot_confusion_matrix,
    top_k_correct,
)

LABELS = [f'spk{i:02d}' for i in range(20)]


@pytest.fixture(scope='module')
def utterances():
    """300 utterances: random logits, the true class boosted in most."""
    rng = np.random.default_rng(0)
    targets = rng.integers(0, len(LABELS), 300)
    logits = rng.standard_normal((300, len(LABELS)))
    logits[np.arange(300), targets] += rng.uniform(0., 3., 300)
    return logits, targets


def test_top_k_correct_equals_argsort(utterances):
    logits, targets = utterances
    ranking = np.argsort(-logits, axis=1)
    for k in (1, 2, 5, 20):
        expected = (ranking[:, :k] == targets[:, None]).any(axis=1)
        found = [top_k_correct(scores, int(target), k)
                 for scores, target in zip(logits, targets)]
        assert found == expected.astype(int).tolist(), k
    # Tensors (also float16) are scores too.
    assert top_k_correct(torch.tensor(logits[0]).half(), int(targets[0]),
                         1) == int(ranking[0, 0] == targets[0])


def test_ties_go_to_the_lower_index_as_argmax():
    scores = [1., 3., 3., 0.]
    assert [top_k_correct(scores, target, 1) for target in range(4)] \
        == [0, 1, 0, 0]
    assert [top_k_correct(scores, target, 2) for target in range(4)] \
        == [0, 1, 1, 0]
    # Constant scores: only class 0 (argmax) is the prediction.
    assert classification_result('u', np.zeros(3), 'b', 'abc')['correct'] == 0
    with pytest.raises(ValueError, match='NaN'):
        top_k_correct([0., float('nan')], 0, 1)
    with pytest.raises(ValueError, match=r'\[0, 2\)'):
        top_k_correct([0., 1.], 2, 1)
    with pytest.raises(ValueError, match='k must be'):
        top_k_correct([0., 1.], 0, 0)


def test_accuracy_top5_and_per_speaker_against_numpy(utterances):
    logits, targets = utterances
    results = [classification_result(f'utt{n:03d}', scores,
                                     LABELS[target], LABELS)
               for n, (scores, target) in enumerate(zip(logits, targets))]
    results.insert(7, {'example_id': 'broken', 'error': 'RuntimeError: x'})
    metrics = classification_metrics(results, LABELS)

    ranking = np.argsort(-logits, axis=1)
    correct = ranking[:, 0] == targets
    top5 = (ranking[:, :5] == targets[:, None]).any(axis=1)
    assert metrics['accuracy'] == pytest.approx(100 * correct.mean())
    assert metrics['top5_accuracy'] == pytest.approx(100 * top5.mean())
    assert metrics['num_utterances'] == 300 and metrics['num_skipped'] == 1
    assert 0 < metrics['accuracy'] < metrics['top5_accuracy'] < 100

    expected = {}
    for label_index, label in enumerate(LABELS):
        hits = total = 0
        for n in range(300):
            if targets[n] == label_index:
                total += 1
                hits += int(ranking[n, 0] == label_index)
        if total:
            expected[label] = 100 * hits / total
    assert metrics['per_speaker_accuracy'] == pytest.approx(expected)
    assert list(metrics['per_speaker_accuracy']) == [
        label for label in LABELS if label in expected]

    wrong = [n for n in range(300) if not correct[n]]
    assert [m['example_id'] for m in metrics['misclassified']] \
        == [f'utt{n:03d}' for n in wrong]
    assert [m['predicted'] for m in metrics['misclassified']] \
        == [LABELS[ranking[n, 0]] for n in wrong]
    assert all(m['speaker'] == LABELS[targets[n]]
               for m, n in zip(metrics['misclassified'], wrong))


def test_inconsistent_or_unknown_results_are_refused():
    good = {'example_id': 'u1', 'speaker': 'a', 'predicted': 'a',
            'correct': 1, 'top5_correct': 1}
    with pytest.raises(ValueError, match="'u1' has correct=0"):
        classification_metrics([{**good, 'correct': 0}], ['a', 'b'])
    with pytest.raises(ValueError, match="predicted 'c' of 'u1'"):
        classification_metrics([{**good, 'predicted': 'c', 'correct': 0}],
                               ['a', 'b'])
    with pytest.raises(ValueError, match='top5_correct'):
        classification_metrics([{k: v for k, v in good.items()
                                 if k != 'top5_correct'}], ['a', 'b'])
    with pytest.raises(ValueError, match='no result without an error'):
        classification_metrics([{'example_id': 'u', 'error': 'x'}], ['a'])
    with pytest.raises(ValueError, match="'z' of 'u'"):
        classification_result('u', [0., 1.], 'z', ['a', 'b'])


def test_confusion_matrix_equals_sklearn(utterances):
    logits, targets = utterances
    true = [LABELS[t] for t in targets]
    predicted = [LABELS[p] for p in logits.argmax(axis=1)]
    matrix = confusion_matrix(true, predicted, LABELS)
    assert matrix.dtype == np.int64
    np.testing.assert_array_equal(
        matrix, sklearn_confusion_matrix(true, predicted, labels=LABELS))
    # A label order other than sorted, and labels that never occur.
    labels = LABELS[::-1] + ['unused']
    np.testing.assert_array_equal(
        confusion_matrix(true, predicted, labels),
        sklearn_confusion_matrix(true, predicted, labels=labels))
    with pytest.raises(ValueError, match="'spk99'"):
        confusion_matrix(['spk99'], ['spk00'], LABELS)


@pytest.mark.parametrize('num_classes', [20, 251])
def test_confusion_matrix_png(tmp_path, num_classes):
    rng = np.random.default_rng(num_classes)
    labels = [f's{i}' for i in range(num_classes)]
    true = rng.integers(0, num_classes, 3 * num_classes)
    predicted = np.where(rng.random(len(true)) < 0.7, true,
                         rng.integers(0, num_classes, len(true)))
    matrix = confusion_matrix([labels[i] for i in true],
                              [labels[i] for i in predicted], labels)
    path = plot_confusion_matrix(tmp_path / 'confusion.png', matrix, labels,
                                 dpi=40)
    assert path.stat().st_size > 0
    with Image.open(path) as image:
        image.load()
        assert image.format == 'PNG'
    assert [p.name for p in tmp_path.iterdir()] == ['confusion.png']
    with pytest.raises(ValueError, match='shape'):
        plot_confusion_matrix(tmp_path / 'x.png', matrix[:-1], labels)
