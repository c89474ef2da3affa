"""Speaker verification metrics against sklearn's ROC curve, brute-force
threshold sweeps and hand-written loops; trial lists against itertools."""
import itertools
import math

import numpy as np
import pytest
from PIL import Image
from scipy.interpolate import interp1d
from scipy.optimize import brentq
from sklearn.metrics import roc_curve

from padertorch_audio.evaluation import (
    cosine_scores,
    equal_error_rate,
    error_rates,
    make_trials,
    minimum_dcf,
    plot_det_curve,
    read_trials,
    verification_metrics,
    write_trials,
)


def _gaussian_trials(seed, num_target=600, num_nontarget=1400, shift=2.):
    rng = np.random.default_rng(seed)
    scores = np.concatenate([rng.normal(shift, 1., num_target),
                             rng.normal(0., 1., num_nontarget)])
    labels = np.concatenate([np.ones(num_target, int),
                             np.zeros(num_nontarget, int)])
    order = rng.permutation(len(scores))
    return scores[order], labels[order]


def _sklearn_eer(scores, labels):
    """The common recipe: the ROC curve, EER where 1 - tpr(fpr) = fpr."""
    fpr, tpr, _ = roc_curve(labels, scores, pos_label=1)
    return brentq(lambda x: 1. - x - interp1d(fpr, tpr)(x), 0., 1.,
                  xtol=1e-12)


def _brute_force_rates(scores, labels, threshold):
    accepted = [score >= threshold for score in scores]
    targets = [a for a, label in zip(accepted, labels) if label]
    nontargets = [a for a, label in zip(accepted, labels) if not label]
    return (sum(nontargets) / len(nontargets),
            sum(not a for a in targets) / len(targets))


# --- error rates, EER, minDCF -------------------------------------------------

@pytest.mark.parametrize('seed,shift', [(0, 2.), (1, 1.), (2, 3.5)])
def test_eer_equals_sklearn_roc_interpolation(seed, shift):
    scores, labels = _gaussian_trials(seed, shift=shift)
    eer, threshold = equal_error_rate(scores, labels)
    assert eer == pytest.approx(_sklearn_eer(scores, labels), abs=1e-9)
    # At the threshold, both rates are within one trial of the EER.
    far, frr = _brute_force_rates(scores, labels, threshold)
    assert abs(far - eer) <= 1 / 1400 + 1e-12
    assert abs(frr - eer) <= 1 / 600 + 1e-12
    # Two unit Gaussians `shift` apart: EER = Phi(-shift / 2) (2000 trials).
    expected = 0.5 * math.erfc(shift / 2 / math.sqrt(2))
    assert eer == pytest.approx(expected, abs=0.03)


def test_eer_with_tied_scores_equals_sklearn():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 500)
    scores = np.round(rng.normal(labels * 1.5, 1.), 1)  # many ties
    assert equal_error_rate(scores, labels)[0] == pytest.approx(
        _sklearn_eer(scores, labels), abs=1e-9)


def test_error_rates_equal_a_brute_force_sweep():
    scores, labels = _gaussian_trials(4, 30, 50)
    scores = np.round(scores, 1)  # ties
    thresholds, far, frr = error_rates(scores, labels)
    expected = sorted(set(scores.tolist())) + [math.inf]
    assert thresholds.tolist() == expected
    for t, a, r in zip(thresholds, far, frr):
        assert (a, r) == pytest.approx(
            _brute_force_rates(scores, labels, t), abs=1e-12)


@pytest.mark.parametrize('p_target,c_miss,c_fa', [
    (0.01, 1., 1.), (0.05, 1., 1.), (0.5, 1., 1.), (0.01, 10., 1.)])
def test_min_dcf_equals_a_brute_force_minimum(p_target, c_miss, c_fa):
    scores, labels = _gaussian_trials(5, 300, 700, shift=2.5)
    norm = min(c_miss * p_target, c_fa * (1 - p_target))
    best, best_threshold = math.inf, None
    for threshold in sorted(scores.tolist()) + [math.inf]:
        far, frr = _brute_force_rates(scores, labels, threshold)
        cost = (c_miss * frr * p_target + c_fa * far * (1 - p_target)) / norm
        if cost < best - 1e-15:
            best, best_threshold = cost, threshold
    min_dcf, threshold = minimum_dcf(scores, labels, p_target, c_miss, c_fa)
    assert min_dcf == pytest.approx(best, abs=1e-12)
    assert threshold == best_threshold
    assert 0 < min_dcf <= 1


def test_separated_and_identical_distributions():
    rng = np.random.default_rng(6)
    labels = np.repeat([True, False], [200, 800])
    separated = np.where(labels, rng.uniform(0.6, 1., 1000),
                         rng.uniform(-1., 0.5, 1000))
    eer, threshold = equal_error_rate(separated, labels)
    assert eer == 0. and 0.5 < threshold <= separated[labels].min()
    assert minimum_dcf(separated, labels)[0] == 0.
    same = rng.normal(0., 1., 20000)
    labels = rng.integers(0, 2, 20000)
    assert equal_error_rate(same, labels)[0] == pytest.approx(0.5, abs=0.02)
    assert minimum_dcf(same, labels)[0] == pytest.approx(1., abs=0.02)


@pytest.mark.parametrize('scores,labels,message', [
    ([0.1, 0.2], [1], 'shape'),
    ([0.1, float('nan'), 0.3], [1, 0, 1], '1 NaN'),
    ([0.1, 0.2, 0.3], [1, 2, 0], '2'),
    ([0.1, 0.2, 0.3], ['1', '0', '1'], '0/1'),
    ([0.1, 0.2, 0.3], [1, 1, 1], '3 target and 0 non-target'),
    ([0.1, 0.2], [False, False], '0 target and 2 non-target'),
])
def test_bad_scores_or_labels_are_refused(scores, labels, message):
    for function in (error_rates, equal_error_rate, minimum_dcf):
        with pytest.raises(ValueError, match=message):
            function(scores, labels)


# --- cosine scores --------------------------------------------------------------

def test_cosine_scores_equal_a_loop():
    rng = np.random.default_rng(7)
    embeddings = {f'u{i}': rng.standard_normal(16).astype(np.float32)
                  for i in range(30)}
    trials = make_trials(list(embeddings), [i % 4 for i in range(30)])
    scores = cosine_scores(embeddings, trials, chunk_size=7)
    expected = [np.dot(embeddings[a].astype(float), embeddings[b])
                / np.linalg.norm(embeddings[a].astype(float))
                / np.linalg.norm(embeddings[b].astype(float))
                for a, b, _ in trials]
    assert scores.dtype == np.float64 and scores.shape == (435,)
    np.testing.assert_allclose(scores, expected, atol=1e-6)


def test_cosine_scores_name_what_is_missing_or_wrong():
    embeddings = {'a': np.ones(3), 'b': np.ones(3)}
    with pytest.raises(KeyError, match="'c'"):
        cosine_scores(embeddings, [('a', 'b', 1), ('a', 'c', 0)])
    with pytest.raises(ValueError, match="'b'.*zero"):
        cosine_scores({'a': np.ones(3), 'b': np.zeros(3)}, [('a', 'b', 1)])
    with pytest.raises(ValueError, match=r"'b'.*\(3,\).*\(4,\)"):
        cosine_scores({'a': np.ones(3), 'b': np.ones(4)}, [('a', 'b', 1)])


# --- trials ---------------------------------------------------------------------

def _corpus(num_speakers=5, seed=8):
    rng = np.random.default_rng(seed)
    ids, speakers = [], []
    for speaker in range(num_speakers):
        for utterance in range(int(rng.integers(1, 8))):
            ids.append(f'spk{speaker}-utt{utterance}')
            speakers.append(f'spk{speaker}')
    return ids, speakers


def test_all_pairs_when_they_fit():
    ids, speakers = _corpus()
    speaker_of = dict(zip(ids, speakers))
    trials = make_trials(ids, speakers)
    expected = [(a, b, speaker_of[a] == speaker_of[b])
                for a, b in itertools.combinations(sorted(ids), 2)]
    assert trials == expected
    n = len(ids)
    assert len(trials) == n * (n - 1) // 2
    counts = [speakers.count(s) for s in set(speakers)]
    assert sum(t[2] for t in trials) == sum(k * (k - 1) // 2 for k in counts)
    # The order of the input does not matter.
    order = np.random.default_rng(0).permutation(n)
    assert make_trials([ids[i] for i in order],
                       [speakers[i] for i in order]) == trials


def test_sampled_trials_keep_every_target_and_respect_max_trials():
    ids, speakers = _corpus(12, seed=9)
    speaker_of = dict(zip(ids, speakers))
    all_pairs = list(itertools.combinations(sorted(ids), 2))
    targets = [(a, b) for a, b in all_pairs if speaker_of[a] == speaker_of[b]]
    for max_trials in (len(targets) + 1, len(targets) + 57,
                       len(all_pairs) - 1):
        trials = make_trials(ids, speakers, max_trials=max_trials, seed=3)
        assert len(trials) == max_trials
        pairs = [(a, b) for a, b, _ in trials]
        assert len(set(pairs)) == max_trials
        # A subsequence of all pairs, in their order.
        positions = [all_pairs.index(pair) for pair in pairs]
        assert positions == sorted(positions)
        assert all(is_target == (speaker_of[a] == speaker_of[b])
                   for a, b, is_target in trials)
        assert [(a, b) for a, b, t in trials if t] == targets
        order = np.random.default_rng(max_trials).permutation(len(ids))
        assert make_trials([ids[i] for i in order],
                           [speakers[i] for i in order],
                           max_trials=max_trials, seed=3) == trials
    other = make_trials(ids, speakers, max_trials=len(targets) + 57, seed=4)
    assert other != make_trials(ids, speakers, max_trials=len(targets) + 57,
                                seed=3)


def test_more_targets_than_max_trials_keeps_their_proportion():
    ids = [f'u{i:03d}' for i in range(60)]
    speakers = [i % 2 for i in range(60)]  # 870 target, 900 non-target
    trials = make_trials(ids, speakers, max_trials=100, seed=1)
    assert len(trials) == len(set(trials)) == 100
    assert sum(t[2] for t in trials) == round(100 * 870 / 1770)
    assert all(t[2] == (int(t[0][1:]) % 2 == int(t[1][1:]) % 2)
               for t in trials)


@pytest.mark.parametrize('ids,speakers,message', [
    (['a'], ['x'], 'found 1'),
    (['a', 'b'], ['x'], '2 ids and 1 speakers'),
    (['a', 'b', 'a'], ['x', 'y', 'x'], "duplicates: 'a'"),
    (['a', 'b', 'c'], ['x', 'y', 'z'], '3 utterances of 3 speaker'),
    (['a', 'b', 'c'], ['x', 'x', 'x'], '3 utterances of 1 speaker'),
])
def test_make_trials_refuses(ids, speakers, message):
    with pytest.raises(ValueError, match=message):
        make_trials(ids, speakers)


def test_trial_file_round_trip(tmp_path):
    ids, speakers = _corpus()
    trials = make_trials(ids, speakers, max_trials=40)
    path = write_trials(tmp_path / 'trials.txt', trials)
    lines = path.read_text().splitlines()
    assert lines[0] == f'{int(trials[0][2])} {trials[0][0]} {trials[0][1]}'
    assert read_trials(path) == trials
    path.write_text('1 a b\n2 a c\n')
    with pytest.raises(ValueError, match='line 2'):
        read_trials(path)
    with pytest.raises(ValueError, match='whitespace'):
        write_trials(tmp_path / 'bad.txt', [('a b', 'c', True)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ['trials.txt']


# --- the plot and the recipe's call ---------------------------------------------

def test_det_curve_png_and_verification_metrics(tmp_path):
    rng = np.random.default_rng(10)
    ids, speakers = _corpus(6, seed=11)
    centres = {s: rng.standard_normal(8) for s in set(speakers)}
    embeddings = {i: centres[s] + 0.8 * rng.standard_normal(8)
                  for i, s in zip(ids, speakers)}
    trials = make_trials(ids, speakers)
    metrics = verification_metrics(embeddings, trials, p_target=0.05,
                                   det_curve_path=tmp_path / 'det.png')
    labels = np.array([t[2] for t in trials])
    scores = [np.dot(embeddings[a], embeddings[b])
              / np.linalg.norm(embeddings[a]) / np.linalg.norm(embeddings[b])
              for a, b, _ in trials]
    assert metrics['eer'] == pytest.approx(
        100 * _sklearn_eer(scores, labels), abs=1e-7)
    assert metrics['num_trials'] == len(trials)
    assert metrics['num_target_trials'] == labels.sum()
    assert metrics['num_nontarget_trials'] == (~labels).sum()
    assert 0 <= metrics['min_dcf'] <= 1
    for path in (tmp_path / 'det.png', plot_det_curve(
            tmp_path / 'det2.png', scores, labels, title='toy')):
        assert path.stat().st_size > 0
        with Image.open(path) as image:
            image.load()
            assert image.format == 'PNG' and image.size == (500, 500)
