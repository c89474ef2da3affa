"""A one-page PNG report of an evaluation: the histogram of a metric over
the utterances and the spectrograms of one example.

Drawn with ``matplotlib.figure.Figure`` (the Agg renderer, no pyplot: no
global figure state, no display needed); the PNG is written atomically.
Needs the ``plot`` extra (matplotlib).
"""
import math

import numpy as np

__all__ = ['write_report', 'report_size']

#: Figure layout in inches: width, histogram row height, spectrogram row
#: height.
WIDTH, HISTOGRAM_HEIGHT, SPECTROGRAM_HEIGHT = 10., 3., 2.

_LABELS = {
    'si_sdr': 'SI-SDR / dB', 'si_sdri': 'SI-SDR improvement / dB',
    'sdr': 'SDR / dB', 'sdri': 'SDR improvement / dB',
    'pesq': 'PESQ / MOS-LQO', 'stoi': 'STOI', 'estoi': 'ESTOI',
}


def report_size(num_sources=None, dpi=100):
    """``(width, height)`` in pixels of the report's PNG: ``WIDTH`` inches
    wide; ``HISTOGRAM_HEIGHT`` inches high plus, with an example of
    ``num_sources`` sources, ``SPECTROGRAM_HEIGHT`` inches per spectrogram
    row (the mixture, then one row per source: estimate | reference).

    >>> report_size(), report_size(2)
    ((1000, 300), (1000, 900))
    """
    height = HISTOGRAM_HEIGHT
    if num_sources:
        height += SPECTROGRAM_HEIGHT * (1 + num_sources)
    return round(WIDTH * dpi), round(height * dpi)


def _numbers(results, metric):
    values, missing = [], 0
    for result in results:
        value = result.get(metric) if isinstance(result, dict) else None
        if isinstance(value, (int, float, np.number)) \
                and not isinstance(value, bool) and math.isfinite(value):
            values.append(float(value))
        else:
            missing += 1
    return values, missing


def _plot_histogram(ax, results, metric):
    values, missing = _numbers(results, metric)
    label = _LABELS.get(metric, metric)
    if values:
        ax.hist(values, bins='auto', color='tab:blue', edgecolor='white')
        ax.axvline(np.mean(values), color='tab:red', linestyle='--',
                   label=f'mean {np.mean(values):.2f}')
        ax.legend(loc='upper left')
    else:
        ax.text(0.5, 0.5, f'no {metric} values', ha='center', va='center',
                transform=ax.transAxes)
    title = f'{metric}: {len(values)} utterances'
    if missing:
        title += f' ({missing} missing)'
    ax.set_title(title)
    ax.set_xlabel(label)
    ax.set_ylabel('utterances')


def _check_example(example):
    try:
        mixture = np.asarray(example['mixture'], dtype=np.float64)
        estimate = np.asarray(example['estimate'], dtype=np.float64)
        reference = np.asarray(example['reference'], dtype=np.float64)
        sample_rate = int(example['sample_rate'])
    except (KeyError, TypeError) as error:
        raise ValueError(
            f'write_report: expected example to be a dict with "mixture", '
            f'"estimate", "reference" and "sample_rate", found '
            f'{type(example).__name__} ({error}).') from None
    if mixture.ndim != 1 or estimate.ndim != 2 \
            or estimate.shape != reference.shape:
        raise ValueError(
            f'write_report: expected mixture (samples,), estimate and '
            f'reference (sources, samples), found mixture {mixture.shape}, '
            f'estimate {estimate.shape}, reference {reference.shape}.')
    permutation = example.get('permutation')
    if permutation is not None:
        estimate = estimate[list(permutation)]
    return mixture, estimate, reference, sample_rate


def _plot_spectrogram(ax, signal, sample_rate, title):
    from padertorch_audio.features import stft
    from padertorch_audio.summary import plot_spectrogram
    size = 2 ** max(4, round(math.log2(0.032 * sample_rate)))  # ~32 ms
    shift = size // 4
    spectrum = stft(signal, size=size, shift=shift)
    plot_spectrogram(spectrum, ax=ax, sampling_rate=sample_rate,
                     frame_shift=shift, title=title)


def write_report(path, results, example=None, metric='si_sdri', dpi=100):
    """Write a PNG with the histogram of ``metric`` and (optionally) the
    spectrograms of one example.

    Args:
        path: The PNG file (its directory must exist); replaced atomically.
        results: Result dicts (e.g. from
            :func:`~padertorch_audio.evaluation.evaluate_utterances`);
            ``result[metric]`` is histogrammed, missing values (None, NaN,
            absent, error records) are counted in the title.
        example: None, or a dict with ``'mixture'`` ``(samples,)``,
            ``'estimate'`` and ``'reference'`` ``(K, samples)``,
            ``'sample_rate'`` (Hz), optionally ``'example_id'`` and
            ``'permutation'`` (as from
            :func:`~padertorch_audio.evaluation.separation_metrics`:
            estimate ``permutation[k]`` belongs to reference ``k``).
        metric: The key of ``results`` to histogram.
        dpi: Pixels per inch; the size is :func:`report_size`.

    Returns:
        The path of the PNG.
    """
    from padertorch_audio.io import atomic_write
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError('write_report needs matplotlib: pip install '
                          'padertorch_audio[plot]') from error

    num_sources = None
    if example is not None:
        mixture, estimate, reference, sample_rate = _check_example(example)
        num_sources = len(reference)
    width, height = report_size(num_sources, dpi)
    figure = Figure(figsize=(width / dpi, height / dpi), dpi=dpi,
                    layout='constrained')
    if example is None:
        _plot_histogram(figure.add_subplot(), results, metric)
    else:
        grid = figure.add_gridspec(
            2 + num_sources, 2, height_ratios=[HISTOGRAM_HEIGHT]
            + [SPECTROGRAM_HEIGHT] * (1 + num_sources))
        _plot_histogram(figure.add_subplot(grid[0, :]), results, metric)
        name = example.get('example_id', 'example')
        _plot_spectrogram(figure.add_subplot(grid[1, :]), mixture,
                          sample_rate, f'{name}: mixture')
        for k in range(num_sources):
            _plot_spectrogram(figure.add_subplot(grid[2 + k, 0]),
                              estimate[k], sample_rate, f'estimate {k + 1}')
            _plot_spectrogram(figure.add_subplot(grid[2 + k, 1]),
                              reference[k], sample_rate,
                              f'reference {k + 1}')
    with atomic_write(path, 'wb') as file:
        figure.savefig(file, format='png', dpi=dpi)
    return path
