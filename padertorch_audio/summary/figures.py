"""Matplotlib figures for the ``'figures'`` entry of a review dict.

Figures are made with ``matplotlib.figure.Figure`` (not pyplot), so they
hold no global state and need no display. Needs the ``plot`` extra.
"""
from padertorch_audio.summary.images import (
    _check_time_frequency, _import_matplotlib, _to_numpy, magnitude_to_db)

__all__ = ['plot_spectrogram']


def plot_spectrogram(spectrum, ax=None, db_range=80., sampling_rate=None,
                     frame_shift=None, colormap='viridis', title=None,
                     colorbar=True):
    """Plot a spectrogram in dB; return its matplotlib Figure.

    Args:
        spectrum: ``(frames, bins)`` complex STFT or real magnitude, numpy
            array or tensor.
        ax: A matplotlib Axes to draw into; None makes a new 6 x 3 inch
            figure.
        db_range: Dynamic range in dB below the maximum (see
            :func:`~padertorch_audio.summary.magnitude_to_db`).
        sampling_rate: In Hz; labels the frequency axis in Hz (0 to
            ``sampling_rate / 2``) instead of bins.
        frame_shift: In samples; with ``sampling_rate`` it labels the time
            axis in seconds instead of frames.
        colormap: A name from ``matplotlib.colormaps``.
        title: Title of the axes.
        colorbar: Add a colorbar in dB.

    Returns:
        The ``matplotlib.figure.Figure`` of ``ax`` (for a review's
        ``'figures'`` dict).

    >>> import numpy as np
    >>> figure = plot_spectrogram(np.ones((10, 5)), sampling_rate=8000)
    >>> ax = figure.axes[0]
    >>> ax.get_ylabel(), [float(limit) for limit in ax.get_ylim()]
    ('frequency / Hz', [0.0, 4000.0])
    """
    _import_matplotlib()
    from matplotlib.figure import Figure

    spectrum = _to_numpy(spectrum)
    _check_time_frequency(spectrum, 'spectrum')
    db, max_db = magnitude_to_db(spectrum, db_range)
    frames, bins = db.shape
    if ax is None:
        ax = Figure(figsize=(6, 3), layout='constrained').add_subplot()
    if sampling_rate is None:
        top, ylabel = bins, 'frequency / bins'
    else:
        top, ylabel = sampling_rate / 2, 'frequency / Hz'
    if sampling_rate is not None and frame_shift is not None:
        right, xlabel = frames * frame_shift / sampling_rate, 'time / s'
    else:
        right, xlabel = frames, 'time / frames'
    image = ax.imshow(db.T, origin='lower', aspect='auto', cmap=colormap,
                      vmin=max_db - db_range, vmax=max_db,
                      extent=(0, right, 0, top), interpolation='nearest')
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title is not None:
        ax.set_title(title)
    if colorbar:
        ax.figure.colorbar(image, ax=ax, label='dB')
    return ax.figure
