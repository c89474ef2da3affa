"""Random crops of training utterances (a different excerpt every epoch).

Speaker models are usually trained on random excerpts of a few seconds of
each utterance: more variety per epoch than the whole files, and batches of
bounded length.
"""
import numpy as np

__all__ = ['random_crop']


def random_crop(num_samples, rng=np.random, min_seconds=1.0, max_seconds=4.0,
                sample_rate=16000):
    """``(start, stop)`` of a random crop of a signal of ``num_samples``.

    The crop length is drawn uniformly in ``[min_seconds, max_seconds]``
    (rounded to samples), its start uniformly among the positions where it
    fits. A signal that is not longer than the drawn length is taken whole:
    ``(0, None)``. Both draws are made in every call (the length with
    ``rng.uniform``, then the start with ``rng.randint`` where needed).

    Args:
        num_samples: The length of the signal in samples.
        rng: A ``numpy.random.RandomState`` or the ``numpy.random`` module
            (whose state the DataLoader seeds in every worker, see
            :func:`padertorch_audio.recipe.random_segment`).
        min_seconds, max_seconds: The range of crop lengths, in seconds,
            ``0 < min_seconds <= max_seconds``.
        sample_rate: In Hz.

    Returns:
        ``(start, stop)`` ints (``signal[start:stop]``), or ``(0, None)``.

    >>> random_crop(64000, np.random.RandomState(0))
    (9845, 52188)
    >>> random_crop(8000, np.random.RandomState(0))
    (0, None)
    """
    if not 0 < min_seconds <= max_seconds:
        raise ValueError(f'random_crop: expected 0 < min_seconds <= '
                         f'max_seconds, found min_seconds={min_seconds}, '
                         f'max_seconds={max_seconds}.')
    if num_samples < 1:
        raise ValueError(f'random_crop: num_samples must be positive, found '
                         f'{num_samples}.')
    length = int(round(rng.uniform(min_seconds, max_seconds) * sample_rate))
    length = max(length, 1)
    if num_samples <= length:
        return 0, None
    start = int(rng.randint(0, num_samples - length + 1))
    return start, start + length
