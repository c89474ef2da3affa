"""Spectrograms and masks as images for tensorboard.

The images are ``(3, height, width)`` uint8 numpy arrays (``(height,
width)`` with ``colormap=None``), ready for the ``'images'`` entry of a
review dict: frequency runs upwards (bin 0 in the bottom row), time to the
right. Keep them as numpy uint8 arrays: they are written pixel for pixel.
"""
import numpy as np

__all__ = ['spectrogram_to_image', 'mask_to_image', 'magnitude_to_db']

#: Magnitudes below this are treated as this (-200 dB) before the log.
MAGNITUDE_FLOOR = 1e-10


def _to_numpy(array):
    """A numpy array of a numpy array, tensor or nested list."""
    if hasattr(array, 'detach'):  # a torch tensor
        array = array.detach().cpu()
        if array.is_floating_point() and array.element_size() < 4:
            array = array.float()  # half, bfloat16
        array = array.resolve_conj().numpy()
    return np.asarray(array)


def _check_time_frequency(array, name):
    if array.ndim != 2:
        raise ValueError(
            f'{name} must be (frames, bins), found shape {array.shape}; '
            f'select one example (and channel), e.g. {name}[0].')


def _import_matplotlib():
    try:
        import matplotlib
    except ImportError as error:
        raise ImportError(
            'Colormaps and figures need matplotlib: pip install '
            'padertorch_audio[plot] (or pass colormap=None for a grey '
            'image).') from error
    return matplotlib


def magnitude_to_db(spectrum, db_range=80.):
    """Log magnitude in dB, clipped to ``db_range`` below its maximum.

    Args:
        spectrum: Complex STFT or real magnitude (numpy array or tensor),
            any shape.
        db_range: The lowest value returned is ``max - db_range``.

    Returns:
        ``(db, max_db)``: float64 numpy array ``20 log10(max(|X|, 1e-10))``
        clipped to ``[max_db - db_range, max_db]``, and ``max_db``.

    >>> db, max_db = magnitude_to_db(np.array([10., 1., 1e-3, 0.]), 40)
    >>> db.tolist(), max_db
    ([20.0, 0.0, -20.0, -20.0], 20.0)
    """
    if db_range <= 0:
        raise ValueError(f'db_range must be positive (dB), got {db_range}.')
    magnitude = np.abs(_to_numpy(spectrum)).astype(np.float64)
    db = 20 * np.log10(np.maximum(magnitude, MAGNITUDE_FLOOR))
    max_db = float(db.max()) if db.size else 0.
    return np.maximum(db, max_db - db_range), max_db


def _colorize(values, colormap):
    """``(frames, bins)`` in [0, 1] -> image with bin 0 at the bottom."""
    values = np.flipud(values.T)  # (bins, frames), low bins last
    if colormap is None:
        return np.round(255 * values).astype(np.uint8)
    matplotlib = _import_matplotlib()
    try:
        cmap = matplotlib.colormaps[colormap]
    except KeyError:
        raise ValueError(
            f'Unknown colormap {colormap!r}; expected a name from '
            f'matplotlib.colormaps (e.g. viridis, magma, gray) or None.'
        ) from None
    rgba = cmap(values, bytes=True)  # (bins, frames, 4)
    return np.ascontiguousarray(rgba[..., :3].transpose(2, 0, 1))


def spectrogram_to_image(spectrum, db_range=80., colormap='viridis'):
    """A spectrogram as an image: log magnitude in dB through a colormap.

    Args:
        spectrum: ``(frames, bins)`` complex STFT or real magnitude, numpy
            array or tensor (the project's spectrum layout).
        db_range: Dynamic range in dB: ``20 log10 |X|`` is clipped to
            ``[max - db_range, max]`` and this range is mapped to [0, 1]
            (an all-zero spectrum gives 0).
        colormap: A name from ``matplotlib.colormaps`` (needs the ``plot``
            extra), or None for grey values.

    Returns:
        ``(3, bins, frames)`` uint8 image (``(bins, frames)`` with
        ``colormap=None``); bin 0 is the bottom row.

    >>> spectrum = np.array([[1., 0.1], [1., 0.01]])  # (2 frames, 2 bins)
    >>> spectrogram_to_image(spectrum, db_range=40, colormap=None)
    array([[128,   0],
           [255, 255]], dtype=uint8)
    >>> spectrogram_to_image(spectrum).shape
    (3, 2, 2)
    """
    spectrum = _to_numpy(spectrum)
    _check_time_frequency(spectrum, 'spectrum')
    db, max_db = magnitude_to_db(spectrum, db_range)
    if max_db <= 20 * np.log10(MAGNITUDE_FLOOR):
        values = np.zeros(db.shape)  # silence
    else:
        values = (db - (max_db - db_range)) / db_range
    return _colorize(values, colormap)


def mask_to_image(mask, colormap='viridis'):
    """A time-frequency mask as an image.

    Args:
        mask: ``(frames, bins)`` real values in [0, 1] (values outside are
            clipped, NaN is shown as 0), numpy array or tensor.
        colormap: A name from ``matplotlib.colormaps`` (needs the ``plot``
            extra), or None for grey values.

    Returns:
        ``(3, bins, frames)`` uint8 image (``(bins, frames)`` with
        ``colormap=None``); bin 0 is the bottom row.

    >>> mask_to_image(np.array([[0., 0.5, 1.]]), colormap=None)  # 1 frame
    array([[255],
           [128],
           [  0]], dtype=uint8)
    """
    mask = _to_numpy(mask)
    _check_time_frequency(mask, 'mask')
    if np.iscomplexobj(mask):
        raise ValueError(f'mask must be real, found dtype {mask.dtype}.')
    values = np.clip(np.nan_to_num(mask.astype(np.float64), nan=0.), 0, 1)
    return _colorize(values, colormap)
