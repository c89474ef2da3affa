"""Speaker verification: trial lists, cosine scoring, EER, minDCF and the
DET curve.

A trial asks "is the test utterance spoken by the speaker of the enrollment
utterance?"; it is a *target* trial when both utterances have the same
speaker and a *non-target* trial otherwise. A score says how sure the system
is that the trial is a target trial (higher: more likely the same speaker);
a trial is *accepted* when its score is at least the threshold.

Definitions (for a threshold ``t``, accept when ``score >= t``):

- false accept rate ``FAR(t)``: the fraction of the non-target trials that
  are accepted (also called false alarm or false positive rate);
- false reject rate ``FRR(t)``: the fraction of the target trials that are
  rejected (also called miss or false negative rate, ``P_miss``);
- equal error rate (EER): the rate at which the FAR and FRR curves cross,
  see :func:`equal_error_rate`;
- minimum detection cost (minDCF): the NIST SRE / VoxCeleb normalised
  detection cost minimised over the thresholds, see :func:`minimum_dcf`.

Rates are fractions in [0, 1]; :func:`verification_metrics` reports the EER
in percent, as papers and the recipes do.

The trial file format is VoxCeleb's: one trial per line,
``1 <enrollment_id> <test_id>`` for a target and ``0 ...`` for a
non-target trial.

    trials = make_trials(example_ids, speakers)
    write_trials(eval_dir / 'trials.txt', trials)
    metrics = verification_metrics(embeddings, trials)   # {'eer': ..., ...}

The DET plot needs the ``plot`` extra (matplotlib).
"""
import math

import numpy as np

__all__ = [
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
]


def _show(values, limit=5):
    """At most ``limit`` values for an error message."""
    values = list(values)
    shown = ', '.join(repr(value) for value in values[:limit])
    if len(values) > limit:
        shown += f', ... ({len(values)} in all)'
    return shown


def _to_numpy(array):
    if hasattr(array, 'detach'):  # a torch tensor
        array = array.detach().cpu()
        if array.is_floating_point() and array.element_size() < 4:
            array = array.float()  # half, bfloat16
        array = array.numpy()
    return np.asarray(array)


# --- trials ------------------------------------------------------------------

def _target_pairs(codes, n):
    """All target pairs ``(i, j)``, ``i < j``, in the canonical order."""
    grouped = np.argsort(codes, kind='stable')  # by speaker, then position
    counts = np.bincount(codes)
    first, second = [], []
    start = 0
    for count in counts:
        positions = grouped[start:start + count]
        a, b = np.triu_indices(count, 1)
        first.append(positions[a])
        second.append(positions[b])
        start += count
    first, second = np.concatenate(first), np.concatenate(second)
    order = np.lexsort((second, first))
    return first[order], second[order]


def _nontarget_pairs(codes, n, ranks):
    """The non-target pairs with the given ranks (0-based) in the canonical
    order of all non-target pairs, without enumerating them.

    Row ``i`` (the pairs ``(i, j)``, ``j > i``) has ``n - 1 - i`` pairs, of
    which ``same_after[i]`` are target pairs. Within a row the r-th
    non-target ``j`` is ``i + 1 + r + k``, ``k`` the number of same-speaker
    positions passed on the way; with the speaker's sorted positions ``g``
    and ``h[x] = g[x] - x`` (non-decreasing), ``k`` is the number of
    ``x > q`` (``g[q] = i``) with ``h[x] <= h[q] + r``.
    """
    grouped = np.argsort(codes, kind='stable')
    counts = np.bincount(codes)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank_in_group = np.empty(n, dtype=np.int64)
    rank_in_group[grouped] = np.arange(n) - np.repeat(starts, counts)
    same_after = counts[codes] - 1 - rank_in_group
    per_row = (n - 1 - np.arange(n)) - same_after
    row_end = np.cumsum(per_row)
    rows = np.searchsorted(row_end, ranks, side='right')
    r = ranks - (row_end[rows] - per_row[rows])
    # Search keys: (speaker code, h) flattened in the grouped order.
    h = grouped - (np.arange(n) - np.repeat(starts, counts))
    keys = np.repeat(np.arange(len(counts)), counts) * (2 * n) + h
    q = rank_in_group[rows]
    h_q = rows - q
    passed = np.searchsorted(keys, codes[rows] * (2 * n) + h_q + r,
                             side='right') - (starts[codes[rows]] + q + 1)
    return rows, rows + 1 + r + passed


def make_trials(example_ids, speakers, max_trials=200_000, seed=0):
    """The verification trials of a test set.

    Deterministic: the utterances are sorted by id, which fixes the
    *canonical order* of the pairs, ``(i, j)`` with ``i < j`` in row-major
    order (``(0, 1), (0, 2), ..., (1, 2), ...``). With ``N = n (n - 1) / 2``
    pairs of ``n`` utterances, ``T`` of them target pairs:

    - ``N <= max_trials``: every pair is a trial;
    - ``T <= max_trials < N``: every target pair, plus
      ``max_trials - T`` non-target pairs drawn without replacement
      (``numpy.random.default_rng(seed).choice`` over their ranks in the
      canonical order);
    - ``T > max_trials``: ``t = round(max_trials * T / N)`` target pairs
      (at least 1, at most ``max_trials - 1``), then ``max_trials - t``
      non-target pairs, each drawn as above from the same generator (the
      proportion of target trials is that of all pairs).

    The trials are returned in the canonical order; the order of the input
    does not matter.

    Args:
        example_ids: The utterance ids (unique strings without whitespace
            for :func:`write_trials`).
        speakers: The speaker of each utterance (any hashable labels).
        max_trials: The most trials to return (at least 2).
        seed: The seed of the draws.

    Returns:
        A list of ``(enrollment_id, test_id, is_target)``, ``is_target`` a
        bool; ``enrollment_id`` sorts before ``test_id``.

    Raises:
        ValueError: fewer than 2 utterances, lengths differ, duplicate ids,
            ``max_trials < 2``, or the set has no target pair (every speaker
            has one utterance) or no non-target pair (one speaker).

    >>> make_trials(['u3', 'u1', 'u2'], ['b', 'a', 'a'])
    [('u1', 'u2', True), ('u1', 'u3', False), ('u2', 'u3', False)]
    """
    example_ids, speakers = list(example_ids), list(speakers)
    if len(example_ids) != len(speakers):
        raise ValueError(
            f'make_trials: expected one speaker per example id, found '
            f'{len(example_ids)} ids and {len(speakers)} speakers.')
    n = len(example_ids)
    if n < 2:
        raise ValueError(
            f'make_trials: a trial needs 2 utterances, found {n}.')
    if isinstance(max_trials, bool) or not isinstance(
            max_trials, (int, np.integer)) or max_trials < 2:
        raise ValueError(
            f'make_trials: max_trials must be an integer >= 2 (a target '
            f'and a non-target trial), got {max_trials!r}.')
    order = sorted(range(n), key=lambda index: example_ids[index])
    ids = [example_ids[index] for index in order]
    duplicates = sorted({a for a, b in zip(ids, ids[1:]) if a == b})
    if duplicates:
        raise ValueError(
            f'make_trials: the example ids must be unique, found '
            f'duplicates: {_show(duplicates)}.')
    code_of = {}
    codes = np.array([code_of.setdefault(speakers[index], len(code_of))
                      for index in order], dtype=np.int64)
    counts = np.bincount(codes)
    num_pairs = n * (n - 1) // 2
    num_target = int(np.sum(counts * (counts - 1) // 2))
    num_nontarget = num_pairs - num_target
    if num_target == 0 or num_nontarget == 0:
        raise ValueError(
            f'make_trials: verification needs both target trials (two '
            f'utterances of one speaker) and non-target trials (utterances '
            f'of two speakers), found {n} utterances of {len(counts)} '
            f'speaker(s) ({num_target} target and {num_nontarget} '
            f'non-target pairs).')

    if num_pairs <= max_trials:
        first, second = np.triu_indices(n, 1)
    else:
        rng = np.random.default_rng(seed)
        first, second = _target_pairs(codes, n)
        if num_target <= max_trials:
            num_drawn = max_trials - num_target
        else:
            take = min(max(round(max_trials * num_target / num_pairs), 1),
                       max_trials - 1)
            chosen = np.sort(rng.choice(num_target, take, replace=False))
            first, second = first[chosen], second[chosen]
            num_drawn = max_trials - take
        ranks = np.sort(rng.choice(num_nontarget, num_drawn, replace=False))
        other_first, other_second = _nontarget_pairs(codes, n, ranks)
        first = np.concatenate([first, other_first])
        second = np.concatenate([second, other_second])
        canonical = np.lexsort((second, first))
        first, second = first[canonical], second[canonical]
    is_target = codes[first] == codes[second]
    return [(ids[i], ids[j], bool(target))
            for i, j, target in zip(first.tolist(), second.tolist(),
                                    is_target.tolist())]


def trial_labels(trials):
    """The labels of trials as a bool array ``(num_trials,)``, True for the
    target trials.

    >>> trial_labels([('a', 'b', True), ('a', 'c', 0)])
    array([ True, False])
    """
    labels = []
    for index, trial in enumerate(trials):
        if len(trial) != 3 or trial[2] not in (0, 1):
            raise ValueError(
                f'Expected trials (enrollment_id, test_id, is_target) with '
                f'is_target 0/1 or bool, found trial {index}: {trial!r}.')
        labels.append(bool(trial[2]))
    return np.array(labels, dtype=bool)


def write_trials(path, trials):
    """Write trials in the VoxCeleb format, atomically: one line per trial,
    ``1 <enrollment_id> <test_id>`` (target) or ``0 ...`` (non-target).

    Args:
        path: The text file (its directory must exist).
        trials: ``(enrollment_id, test_id, is_target)`` tuples; the ids must
            be non-empty and free of whitespace.

    Returns:
        The path.
    """
    from padertorch_audio.io import atomic_write
    labels = trial_labels(trials)
    lines = []
    for index, ((enrollment, test, _), label) in enumerate(
            zip(trials, labels)):
        for name in (enrollment, test):
            if not isinstance(name, str) or not name or name != ''.join(
                    name.split()):
                raise ValueError(
                    f'write_trials: ids must be non-empty strings without '
                    f'whitespace, found {name!r} in trial {index} for '
                    f'{path}.')
        lines.append(f'{int(label)} {enrollment} {test}\n')
    with atomic_write(path, 'w') as file:
        file.write(''.join(lines))
    return path


def read_trials(path):
    """The trials in a VoxCeleb-format trial file (see :func:`write_trials`):
    a list of ``(enrollment_id, test_id, is_target)``; blank lines are
    skipped.

    Raises:
        ValueError: a line is not ``<0|1> <id> <id>``; the message names the
            file and line.
    """
    trials = []
    with open(path, encoding='utf-8') as file:
        for number, line in enumerate(file, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 3 or fields[0] not in ('0', '1'):
                raise ValueError(
                    f'{path}, line {number}: expected "<0|1> <enrollment_id> '
                    f'<test_id>", found {line.rstrip()!r}.')
            trials.append((fields[1], fields[2], fields[0] == '1'))
    return trials


# --- scores ------------------------------------------------------------------

def cosine_scores(embeddings, trials, chunk_size=8192):
    """The cosine similarity of the two embeddings of every trial.

    Each embedding used is L2-normalised once; a score is the dot product
    of the two normalised vectors, computed ``chunk_size`` trials at a time.

    Args:
        embeddings: ``{example_id: vector}``, vectors ``(dimension,)``
            (numpy arrays, tensors or lists) of one dimension.
        trials: ``(enrollment_id, test_id, ...)`` tuples, e.g. from
            :func:`make_trials` or :func:`read_trials`.
        chunk_size: Trials per vectorised step (bounds the memory).

    Returns:
        float64 array ``(num_trials,)`` of scores in [-1, 1].

    Raises:
        KeyError: a trial names an id without an embedding (the message
            names it).
        ValueError: an embedding is not 1-D, has another dimension than the
            others, is not finite or is zero.

    >>> cosine_scores({'a': [1., 0.], 'b': [2., 0.], 'c': [0., 3.]},
    ...               [('a', 'b', 1), ('a', 'c', 0)]).tolist()
    [1.0, 0.0]
    """
    enrollment = [trial[0] for trial in trials]
    test = [trial[1] for trial in trials]
    used = list(dict.fromkeys(enrollment + test))
    missing = [name for name in used if name not in embeddings]
    if missing:
        raise KeyError(
            f'cosine_scores: no embedding for {len(missing)} id(s) of the '
            f'trials: {_show(missing)}.')
    vectors = []
    for name in used:
        vector = _to_numpy(embeddings[name]).astype(np.float64)
        if vector.ndim != 1 or (vectors and vector.shape != vectors[0].shape):
            expected = (f'{vectors[0].shape} as the others' if vectors
                        else '(dimension,)')
            raise ValueError(
                f'cosine_scores: expected the embedding of {name!r} to have '
                f'shape {expected}, found {vector.shape}.')
        norm = np.linalg.norm(vector)
        if not np.isfinite(norm) or norm == 0:
            raise ValueError(
                f'cosine_scores: the embedding of {name!r} is '
                f'{"zero" if norm == 0 else "not finite"}; its cosine '
                f'similarity is undefined.')
        vectors.append(vector / norm)
    if not used:
        return np.zeros(0)
    matrix = np.stack(vectors)
    row = {name: index for index, name in enumerate(used)}
    first = np.fromiter((row[name] for name in enrollment), np.int64,
                        len(enrollment))
    second = np.fromiter((row[name] for name in test), np.int64, len(test))
    scores = np.empty(len(first))
    for start in range(0, len(first), chunk_size):
        stop = start + chunk_size
        scores[start:stop] = np.einsum(
            'td,td->t', matrix[first[start:stop]], matrix[second[start:stop]])
    return np.clip(scores, -1., 1.)


# --- error rates -------------------------------------------------------------

def _check_scores_labels(scores, labels, caller):
    scores = _to_numpy(scores)
    labels = _to_numpy(labels)
    if scores.ndim != 1 or labels.ndim != 1 or len(scores) != len(labels):
        raise ValueError(
            f'{caller}: expected scores and labels of shape (trials,), found '
            f'scores {scores.shape} and labels {labels.shape}.')
    if not (np.issubdtype(scores.dtype, np.floating)
            or np.issubdtype(scores.dtype, np.integer)):
        raise ValueError(
            f'{caller}: expected real scores, found dtype {scores.dtype}.')
    scores = scores.astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(scores))
    if len(bad):
        raise ValueError(
            f'{caller}: the scores must be finite, found '
            f'{int(np.isnan(scores).sum())} NaN and '
            f'{int(np.isinf(scores).sum())} infinite scores (the first at '
            f'trial {bad[0]}).')
    if labels.dtype != bool:
        try:
            valid = np.isin(labels, [0, 1])
        except TypeError:
            valid = np.zeros(len(labels), dtype=bool)
        if not valid.all():
            found = np.unique(labels[~valid].astype(str))
            raise ValueError(
                f'{caller}: the labels must be 0/1 or bool (1: target '
                f'trial), found {_show(found.tolist())}.')
        labels = labels.astype(bool)
    num_target = int(labels.sum())
    if num_target == 0 or num_target == len(labels):
        raise ValueError(
            f'{caller}: error rates need target and non-target trials, found '
            f'{num_target} target and {len(labels) - num_target} non-target '
            f'trials.')
    return scores, labels


def error_rates(scores, labels):
    """The false accept and false reject rates at every threshold.

    A trial is accepted when its score is at least the threshold. The
    thresholds are the distinct scores in ascending order, then ``+inf``:
    the first accepts every trial (``FAR = 1``, ``FRR = 0``), the last none
    (``FAR = 0``, ``FRR = 1``). ``O(n log n)`` (sorting and binary search).

    Args:
        scores: ``(trials,)`` finite scores, higher: more likely a target.
        labels: ``(trials,)`` 1/True for the target trials, 0/False for the
            non-target trials; both must occur.

    Returns:
        ``(thresholds, false_accept_rates, false_reject_rates)``, float64
        arrays of one length; the FAR is non-increasing, the FRR
        non-decreasing.

    >>> thresholds, far, frr = error_rates([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
    >>> thresholds.tolist()
    [0.1, 0.35, 0.4, 0.8, inf]
    >>> far.tolist(), frr.tolist()
    ([1.0, 0.5, 0.5, 0.0, 0.0], [0.0, 0.0, 0.5, 0.5, 1.0])
    """
    scores, labels = _check_scores_labels(scores, labels, 'error_rates')
    target = np.sort(scores[labels])
    nontarget = np.sort(scores[~labels])
    thresholds = np.append(np.unique(scores), np.inf)
    rejected_targets = np.searchsorted(target, thresholds, side='left')
    rejected_nontargets = np.searchsorted(nontarget, thresholds, side='left')
    false_accept = (len(nontarget) - rejected_nontargets) / len(nontarget)
    false_reject = rejected_targets / len(target)
    return thresholds, false_accept, false_reject


def equal_error_rate(scores, labels):
    """The equal error rate (EER) and its threshold.

    The operating points ``(FAR_k, FRR_k)`` of :func:`error_rates` (at the
    thresholds ``t_0 < t_1 < ... < t_m = inf``) are joined by straight
    lines; ``FRR_k - FAR_k`` strictly increases from -1 to 1 along them.
    The EER is where this polyline crosses ``FAR = FRR``: with the
    neighbouring points ``k``, ``k + 1`` where ``FRR_k - FAR_k <= 0 <
    FRR_{k+1} - FAR_{k+1}`` and ``a = (FAR_k - FRR_k) / ((FAR_k - FRR_k) -
    (FAR_{k+1} - FRR_{k+1}))``, the EER is ``FAR_k + a (FAR_{k+1} - FAR_k)``
    (equal to ``FRR_k + a (FRR_{k+1} - FRR_k)``) and its threshold
    ``t_k + a (t_{k+1} - t_k)``; where ``t_{k+1}`` is the ``+inf``
    threshold, the threshold is ``t_k`` (the largest score). This is the
    value of the usual ROC recipe (``brentq`` on ``1 - x - tpr(x)``,
    ``tpr`` interpolated linearly between the ROC points).

    Args:
        scores, labels: As for :func:`error_rates`.

    Returns:
        ``(eer, threshold)``: the EER as a fraction in [0, 1] (0 when the
        scores separate the trials perfectly, about 0.5 for chance) and the
        score threshold.

    >>> equal_error_rate([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
    (0.5, 0.4)
    >>> equal_error_rate([0.1, 0.2, 0.7, 0.9], [0, 0, 1, 1])
    (0.0, 0.7)
    """
    thresholds, far, frr = error_rates(scores, labels)
    difference = frr - far
    k = int(np.searchsorted(difference, 0., side='right')) - 1
    if difference[k] == 0:
        return float(far[k]), float(thresholds[k])
    a = -difference[k] / (difference[k + 1] - difference[k])
    eer = far[k] + a * (far[k + 1] - far[k])
    if math.isinf(thresholds[k + 1]):
        threshold = thresholds[k]
    else:
        threshold = thresholds[k] + a * (thresholds[k + 1] - thresholds[k])
    return float(eer), float(threshold)


def minimum_dcf(scores, labels, p_target=0.01, c_miss=1., c_fa=1.):
    """The minimum normalised detection cost (minDCF) and its threshold.

    The detection cost at a threshold (NIST SRE, VoxCeleb) is
    ``DCF = c_miss * FRR * p_target + c_fa * FAR * (1 - p_target)``,
    normalised by ``min(c_miss * p_target, c_fa * (1 - p_target))`` (the
    cost of the better of accepting or rejecting every trial, so the
    normalised value is at most 1). The minimum is taken over the
    thresholds of :func:`error_rates` (including ``+inf``: reject all).

    Args:
        scores, labels: As for :func:`error_rates`.
        p_target: Prior probability of a target trial, in (0, 1).
        c_miss: Cost of a false reject (> 0).
        c_fa: Cost of a false accept (> 0).

    Returns:
        ``(min_dcf, threshold)``: the minimum of the normalised cost and the
        lowest threshold that reaches it (``inf`` when rejecting every
        trial is best).

    >>> minimum_dcf([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1], p_target=0.5)
    (0.5, 0.35)
    """
    if not 0 < p_target < 1:
        raise ValueError(f'minimum_dcf: p_target must be in (0, 1), got '
                         f'{p_target}.')
    if not (c_miss > 0 and c_fa > 0):
        raise ValueError(f'minimum_dcf: the costs must be positive, got '
                         f'c_miss={c_miss}, c_fa={c_fa}.')
    thresholds, far, frr = error_rates(scores, labels)
    cost = c_miss * frr * p_target + c_fa * far * (1 - p_target)
    cost = cost / min(c_miss * p_target, c_fa * (1 - p_target))
    best = int(np.argmin(cost))
    return float(cost[best]), float(thresholds[best])


# --- DET curve ---------------------------------------------------------------

#: The tick positions of the DET plot (rates as fractions).
DET_TICKS = (1e-4, 1e-3, 5e-3, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 0.9,
             0.95, 0.99)


def plot_det_curve(path, scores, labels, title=None, dpi=100):
    """Write the detection error tradeoff (DET) curve as a PNG, atomically.

    The false reject rate against the false accept rate, both axes on the
    normal deviate scale (``scipy.stats.norm.ppf`` of the rate), tick labels
    in percent; the EER point is marked. The axes span from half the
    smallest non-zero rate the trials allow (at least 0.01 %, at most 1 %)
    to 99 %; rates outside are drawn at the border.

    Args:
        path: The PNG file (its directory must exist).
        scores, labels: As for :func:`error_rates`.
        title: The plot's title (default: the numbers of trials).
        dpi: Pixels per inch of the 5 x 5 inch figure.

    Returns:
        The path.
    """
    from scipy.stats import norm

    from padertorch_audio.io import atomic_write
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError('plot_det_curve needs matplotlib: pip install '
                          'padertorch_audio[plot]') from error
    scores, labels = _check_scores_labels(scores, labels, 'plot_det_curve')
    _, far, frr = error_rates(scores, labels)
    eer, _ = equal_error_rate(scores, labels)
    num_target = int(labels.sum())
    num_nontarget = len(labels) - num_target
    low = min(max(0.5 / max(num_target, num_nontarget), 1e-4), 1e-2)
    high = 0.99

    def deviate(rate):
        return norm.ppf(np.clip(rate, low, high))

    figure = Figure(figsize=(5, 5), dpi=dpi, layout='constrained')
    ax = figure.add_subplot()
    ax.plot(deviate(far), deviate(frr), color='tab:blue', label='DET')
    ax.plot(deviate([low, high]), deviate([low, high]), color='grey',
            linestyle=':', linewidth=1)
    ax.plot(deviate(eer), deviate(eer), 'o', color='tab:red',
            label=f'EER {100 * eer:.2f} %')
    ticks = [tick for tick in DET_TICKS if low <= tick <= high]
    positions = norm.ppf(ticks)
    names = [f'{100 * tick:g}' for tick in ticks]
    ax.set_xticks(positions, names, fontsize=8)
    ax.set_yticks(positions, names, fontsize=8)
    ax.set_xlim(deviate(low), deviate(high))
    ax.set_ylim(deviate(low), deviate(high))
    ax.set_xlabel('false accept rate / %')
    ax.set_ylabel('false reject rate / %')
    ax.grid(True, alpha=0.3)
    ax.legend(loc='upper right')
    ax.set_title(title if title is not None else
                 f'{num_target} target, {num_nontarget} non-target trials')
    with atomic_write(path, 'wb') as file:
        figure.savefig(file, format='png', dpi=dpi)
    return path


# --- all in one --------------------------------------------------------------

def verification_metrics(embeddings, trials, p_target=0.01,
                         det_curve_path=None):
    """The verification metrics of embeddings on trials, cosine-scored.

    Args:
        embeddings: ``{example_id: vector}`` (see :func:`cosine_scores`).
        trials: ``(enrollment_id, test_id, is_target)`` tuples (see
            :func:`make_trials`).
        p_target: The target prior of the minDCF.
        det_curve_path: None, or a PNG file for :func:`plot_det_curve`.

    Returns:
        ``{'eer': EER in percent, 'eer_threshold', 'min_dcf',
        'min_dcf_threshold', 'p_target', 'num_trials', 'num_target_trials',
        'num_nontarget_trials'}`` (thresholds are cosine similarities;
        ``min_dcf_threshold`` is ``inf`` when rejecting every trial is
        best).

    >>> embeddings = {'a1': [1., 0.1], 'a2': [1., 0.], 'b1': [0., 1.]}
    >>> metrics = verification_metrics(embeddings, make_trials(
    ...     ['a1', 'a2', 'b1'], ['a', 'a', 'b']))
    >>> metrics['eer'], metrics['min_dcf'], metrics['num_trials']
    (0.0, 0.0, 3)
    """
    labels = trial_labels(trials)
    scores = cosine_scores(embeddings, trials)
    eer, eer_threshold = equal_error_rate(scores, labels)
    min_dcf, min_dcf_threshold = minimum_dcf(scores, labels, p_target)
    if det_curve_path is not None:
        plot_det_curve(det_curve_path, scores, labels)
    num_target = int(labels.sum())
    return {
        'eer': 100 * eer,
        'eer_threshold': eer_threshold,
        'min_dcf': min_dcf,
        'min_dcf_threshold': min_dcf_threshold,
        'p_target': p_target,
        'num_trials': len(labels),
        'num_target_trials': num_target,
        'num_nontarget_trials': len(labels) - num_target,
    }
