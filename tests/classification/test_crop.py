import numpy as np
import pytest

from padertorch_audio.classification import random_crop


def test_lengths_and_bounds_over_many_draws():
    rng = np.random.RandomState(0)
    num_samples, sample_rate = 100_000, 8000
    lengths, starts = [], []
    for _ in range(3000):
        start, stop = random_crop(num_samples, rng, 1.5, 3.0, sample_rate)
        assert 0 <= start < stop <= num_samples
        lengths.append(stop - start)
        starts.append(start)
    lengths = np.array(lengths)
    assert lengths.min() >= 1.5 * sample_rate
    assert lengths.max() <= 3.0 * sample_rate
    # uniform in [12000, 24000]: the range is covered, the mean in the middle
    assert lengths.min() < 12100 and lengths.max() > 23900
    assert abs(lengths.mean() - 18000) < 200
    # the start is uniform where the crop fits
    assert min(starts) < 1000 and max(np.array(starts) + lengths) > 99000


def test_a_short_signal_is_taken_whole():
    rng = np.random.RandomState(1)
    for _ in range(200):
        assert random_crop(16000, rng, 1.0, 4.0) == (0, None)
    # 2.5 s: whole when the drawn length is at least 2.5 s
    outcomes = [random_crop(40000, rng, 1.0, 4.0) for _ in range(2000)]
    whole = sum(outcome == (0, None) for outcome in outcomes) / 2000
    assert abs(whole - 0.5) < 0.05  # P(length >= 2.5 s) = 1.5 / 3


def test_rng_state_and_module():
    assert [random_crop(64000, np.random.RandomState(3)) for _ in range(2)] \
        == [random_crop(64000, np.random.RandomState(3))] * 2
    np.random.seed(5)
    first = random_crop(64000, np.random)
    np.random.seed(5)
    assert random_crop(64000, np.random) == first


def test_equal_bounds_give_a_fixed_length():
    rng = np.random.RandomState(0)
    for _ in range(50):
        start, stop = random_crop(50000, rng, 2.0, 2.0)
        assert stop - start == 32000


@pytest.mark.parametrize('arguments, message', [
    ((1000, np.random, 3.0, 2.0), 'min_seconds <= max_seconds'),
    ((1000, np.random, 0.0, 2.0), '0 < min_seconds'),
    ((0, np.random), 'num_samples must be positive'),
])
def test_bad_arguments(arguments, message):
    with pytest.raises(ValueError, match=message):
        random_crop(*arguments)
