"""Closed-set classification (speaker identification): per-utterance
results, accuracy, top-k accuracy, per-class accuracy and the confusion
matrix.

Each utterance is evaluated on its own (in the worker pool of
:func:`~padertorch_audio.evaluation.evaluate_utterances`):
:func:`classification_result` turns the class scores of one utterance into
its result dict; :func:`classification_metrics` summarises the results.

Ranking convention: classes are ranked by descending score, ties broken
towards the lower class index (the class ``numpy.argmax`` picks), so the
top-1 class is always the predicted one.

    def evaluate(example):
        scores = model(example)                   # (classes,)
        return classification_result(
            example['example_id'], scores, example['speaker_id'], labels)
    results = evaluate_utterances(examples, evaluate, results_path)
    metrics = classification_metrics(results, labels)

The confusion-matrix plot needs the ``plot`` extra (matplotlib).
"""
import numpy as np

__all__ = [
    'top_k_correct',
    'classification_result',
    'classification_metrics',
    'confusion_matrix',
    'plot_confusion_matrix',
]

#: At most this many classes get tick labels in the confusion-matrix plot.
MAX_TICK_LABELS = 40
#: At most this many classes get their counts written into the cells.
MAX_CELL_COUNTS = 20


def _scores(scores, caller):
    if hasattr(scores, 'detach'):  # a torch tensor
        scores = scores.detach().cpu().float().numpy()
    scores = np.asarray(scores)
    if scores.ndim != 1 or len(scores) == 0 or not (
            np.issubdtype(scores.dtype, np.floating)
            or np.issubdtype(scores.dtype, np.integer)):
        raise ValueError(
            f'{caller}: expected real scores of shape (classes,), found '
            f'shape {scores.shape}, dtype {scores.dtype}.')
    scores = scores.astype(np.float64)
    if np.isnan(scores).any():
        raise ValueError(
            f'{caller}: the scores contain NaN (at classes '
            f'{np.flatnonzero(np.isnan(scores))[:5].tolist()}).')
    return scores


def _target_rank(scores, target_index):
    """The 1-based rank of the target: 1 + the classes ranked before it."""
    target = scores[target_index]
    return 1 + int(np.sum(scores > target)) + int(
        np.sum(scores[:target_index] == target))


def _check_index(target_index, num_classes, caller):
    if isinstance(target_index, (bool, np.bool_)) or not isinstance(
            target_index, (int, np.integer)) \
            or not 0 <= target_index < num_classes:
        raise ValueError(
            f'{caller}: expected a class index in [0, {num_classes}), got '
            f'{target_index!r}.')


def top_k_correct(scores, target_index, k):
    """1 if the target class is among the ``k`` best-scored classes, else 0.

    Args:
        scores: ``(classes,)`` logits, log-probabilities or any scores
            (numpy array, tensor or list), higher: more likely.
        target_index: The index of the true class.
        k: How many of the best classes count (>= 1; ``k >= classes``
            is always correct).

    Returns:
        0 or 1 (an int, for JSON), with the module's tie convention.

    >>> top_k_correct([0.1, 2.0, 0.5, 1.0], 3, 1), top_k_correct(
    ...     [0.1, 2.0, 0.5, 1.0], 3, 2)
    (0, 1)
    """
    scores = _scores(scores, 'top_k_correct')
    _check_index(target_index, len(scores), 'top_k_correct')
    if isinstance(k, (bool, np.bool_)) or not isinstance(
            k, (int, np.integer)) or k < 1:
        raise ValueError(f'top_k_correct: k must be an integer >= 1, got '
                         f'{k!r}.')
    return int(_target_rank(scores, target_index) <= k)


def classification_result(example_id, scores, label, labels, top_k=5):
    """The result dict of one utterance.

    Args:
        example_id: The utterance's id.
        scores: ``(classes,)`` scores, ``scores[i]`` for ``labels[i]``.
        label: The true label (e.g. the speaker id); must be in ``labels``.
        labels: The class labels in the model's output order.
        top_k: The ``k`` of the ``'top<k>_correct'`` entry.

    Returns:
        ``{'example_id', 'speaker': label, 'predicted': the best-scored
        label, 'correct': 0/1, 'top<k>_correct': 0/1, 'rank': the 1-based
        rank of the true label}``.

    >>> classification_result('utt1', [0.1, 2.0, 0.5], 'c', ['a', 'b', 'c'],
    ...                       top_k=2)
    {'example_id': 'utt1', 'speaker': 'c', 'predicted': 'b', 'correct': 0,
     'top2_correct': 1, 'rank': 2}
    """
    labels = list(labels)
    scores = _scores(scores, 'classification_result')
    if len(scores) != len(labels):
        raise ValueError(
            f'classification_result: {example_id!r} has {len(scores)} '
            f'scores for {len(labels)} labels.')
    try:
        target_index = labels.index(label)
    except ValueError:
        raise ValueError(
            f'classification_result: the label {label!r} of {example_id!r} '
            f'is not one of the {len(labels)} labels of the model.') from None
    rank = _target_rank(scores, target_index)
    return {
        'example_id': example_id,
        'speaker': label,
        'predicted': labels[int(np.argmax(scores))],
        'correct': int(rank == 1),
        f'top{top_k}_correct': int(rank <= top_k),
        'rank': rank,
    }


def classification_metrics(results, labels):
    """Accuracy, top-5 accuracy and per-class accuracy of the results.

    Args:
        results: Per-utterance dicts ``{'example_id', 'speaker': the true
            label, 'predicted': a label, 'correct': 0/1, 'top5_correct':
            0/1, ...}`` (as :func:`classification_result` returns); results
            with an ``'error'`` key are skipped.
        labels: The class labels; every ``'speaker'`` and ``'predicted'``
            must be one of them.

    Returns:
        ``{'accuracy': percent, 'top5_accuracy': percent,
        'per_speaker_accuracy': {label: percent} (the labels with at least
        one utterance, in the order of labels), 'num_utterances',
        'num_skipped' (results with an error), 'misclassified': the results
        with ``correct == 0``, sorted by example id}``.

    Raises:
        ValueError: no result without an error, a key is missing, a label
            is unknown, or ``'correct'`` disagrees with ``'predicted' ==
            'speaker'`` (the message names the example).

    >>> metrics = classification_metrics([
    ...     {'example_id': 'u1', 'speaker': 'a', 'predicted': 'a',
    ...      'correct': 1, 'top5_correct': 1},
    ...     {'example_id': 'u2', 'speaker': 'b', 'predicted': 'a',
    ...      'correct': 0, 'top5_correct': 1},
    ...     {'example_id': 'u3', 'error': 'RuntimeError: ...'}], ['a', 'b'])
    >>> metrics['accuracy'], metrics['top5_accuracy']
    (50.0, 100.0)
    >>> metrics['per_speaker_accuracy'], metrics['num_skipped']
    ({'a': 100.0, 'b': 0.0}, 1)
    """
    labels = list(labels)
    known = set(labels)
    used = [result for result in results if 'error' not in result]
    if not used:
        raise ValueError(
            f'classification_metrics: no result without an error among '
            f'{len(results)} results.')
    keys = ('example_id', 'speaker', 'predicted', 'correct', 'top5_correct')
    per_label = {}
    for result in used:
        missing = [key for key in keys if key not in result]
        if missing:
            raise ValueError(
                f'classification_metrics: the result of '
                f'{result.get("example_id", "?")!r} has no {missing}; '
                f'expected the keys {list(keys)}.')
        name = result['example_id']
        for key in ('speaker', 'predicted'):
            if result[key] not in known:
                raise ValueError(
                    f'classification_metrics: the {key} {result[key]!r} of '
                    f'{name!r} is not one of the {len(labels)} labels.')
        for key in ('correct', 'top5_correct'):
            if result[key] not in (0, 1):
                raise ValueError(
                    f'classification_metrics: {key} of {name!r} must be 0 or '
                    f'1, found {result[key]!r}.')
        if bool(result['correct']) != (result['predicted']
                                       == result['speaker']):
            raise ValueError(
                f'classification_metrics: {name!r} has correct='
                f'{result["correct"]} but predicted {result["predicted"]!r} '
                f'for speaker {result["speaker"]!r}.')
        per_label.setdefault(result['speaker'], []).append(result['correct'])
    correct = np.array([result['correct'] for result in used], dtype=float)
    top5 = np.array([result['top5_correct'] for result in used], dtype=float)
    return {
        'accuracy': 100 * float(correct.mean()),
        'top5_accuracy': 100 * float(top5.mean()),
        'per_speaker_accuracy': {
            label: 100 * float(np.mean(per_label[label]))
            for label in labels if label in per_label},
        'num_utterances': len(used),
        'num_skipped': len(results) - len(used),
        'misclassified': sorted(
            (dict(result) for result in used if not result['correct']),
            key=lambda result: str(result['example_id'])),
    }


def confusion_matrix(true_labels, predicted_labels, labels):
    """Count how often each true label was predicted as each label.

    Args:
        true_labels, predicted_labels: Sequences of one length.
        labels: The labels in the order of the rows and columns.

    Returns:
        int64 array ``(len(labels), len(labels))``: ``[i, j]`` counts the
        utterances of ``labels[i]`` predicted as ``labels[j]``.

    >>> confusion_matrix(['a', 'b', 'b'], ['a', 'a', 'b'], ['a', 'b'])
    array([[1, 0],
           [1, 1]])
    """
    true_labels, predicted_labels = list(true_labels), list(predicted_labels)
    if len(true_labels) != len(predicted_labels):
        raise ValueError(
            f'confusion_matrix: found {len(true_labels)} true and '
            f'{len(predicted_labels)} predicted labels; expected as many.')
    index = {label: position for position, label in enumerate(labels)}
    if len(index) != len(labels):
        raise ValueError('confusion_matrix: the labels must be unique.')
    unknown = sorted({str(label) for label in true_labels + predicted_labels
                      if label not in index})
    if unknown:
        raise ValueError(
            f'confusion_matrix: labels not in the {len(index)} labels: '
            f'{unknown[:5]}{" ..." if len(unknown) > 5 else ""}.')
    rows = np.array([index[label] for label in true_labels], dtype=np.int64)
    columns = np.array([index[label] for label in predicted_labels],
                       dtype=np.int64)
    size = len(index)
    return np.bincount(rows * size + columns, minlength=size * size
                       ).reshape(size, size).astype(np.int64)


def plot_confusion_matrix(path, matrix, labels, title=None, dpi=100):
    """Write a confusion matrix as a PNG, atomically.

    Rows are the true, columns the predicted labels; the colour is the
    fraction of the row (the true label's utterances). Up to
    ``MAX_TICK_LABELS`` labels are written at the axes, up to
    ``MAX_CELL_COUNTS`` the counts into the cells; with more classes the
    image has no tick labels (e.g. 251 speakers).

    Args:
        path: The PNG file (its directory must exist).
        matrix: ``(classes, classes)`` counts (:func:`confusion_matrix`).
        labels: The ``classes`` labels.
        title: The plot's title (default: accuracy and count).
        dpi: Pixels per inch.

    Returns:
        The path.
    """
    from padertorch_audio.io import atomic_write
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError('plot_confusion_matrix needs matplotlib: pip '
                          'install padertorch_audio[plot]') from error
    matrix = np.asarray(matrix)
    labels = [str(label) for label in labels]
    size = len(labels)
    if matrix.shape != (size, size) or size == 0:
        raise ValueError(
            f'plot_confusion_matrix: expected a matrix of shape ({size}, '
            f'{size}) for {size} labels, found {matrix.shape}.')
    totals = matrix.sum(axis=1, keepdims=True)
    fractions = matrix / np.maximum(totals, 1)
    inches = min(max(4., 0.3 * size + 2.), 12.) if size <= MAX_TICK_LABELS \
        else 8.
    figure = Figure(figsize=(inches + 1., inches), dpi=dpi,
                    layout='constrained')
    ax = figure.add_subplot()
    image = ax.imshow(fractions, cmap='Blues', vmin=0, vmax=1,
                      interpolation='nearest')
    figure.colorbar(image, ax=ax, label='fraction of the true label',
                    shrink=0.8)
    if size <= MAX_TICK_LABELS:
        ax.set_xticks(range(size), labels, rotation=90, fontsize=8)
        ax.set_yticks(range(size), labels, fontsize=8)
    else:
        ax.set_xticks([])
        ax.set_yticks([])
    if size <= MAX_CELL_COUNTS:
        for row in range(size):
            for column in range(size):
                if matrix[row, column]:
                    ax.text(column, row, str(int(matrix[row, column])),
                            ha='center', va='center', fontsize=7,
                            color='white' if fractions[row, column] > 0.5
                            else 'black')
    ax.set_xlabel('predicted')
    ax.set_ylabel('true')
    total = int(matrix.sum())
    if title is None:
        accuracy = 100 * np.trace(matrix) / total if total else 0.
        title = f'{total} utterances, {size} classes, ' \
                f'accuracy {accuracy:.1f} %'
    ax.set_title(title)
    with atomic_write(path, 'wb') as file:
        figure.savefig(file, format='png', dpi=dpi)
    return path
