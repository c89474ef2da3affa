"""Spectrogram and mask images: orientation, dB scale, colormaps."""
import sys

import numpy as np
import pytest
import torch

from padertorch_audio.summary import (
    spectrogram_to_image, mask_to_image, magnitude_to_db)

# Published end points of viridis (#440154 and #fde725), as RGB bytes.
VIRIDIS_0, VIRIDIS_1 = (68, 1, 84), (253, 231, 37)


def assert_color(pixel, expected):
    """Equal up to 1 (rounding of the colormap's floats to bytes)."""
    np.testing.assert_allclose(pixel.astype(int), expected, atol=1)


def test_low_frequencies_are_at_the_bottom_and_time_runs_right():
    spectrum = np.zeros((4, 3))  # (frames, bins)
    spectrum[:, 0] = 1.          # only the lowest bin is loud
    spectrum[3, 2] = 1.          # and the highest bin in the last frame
    image = spectrogram_to_image(spectrum, colormap=None)
    assert image.shape == (3, 4) and image.dtype == np.uint8  # (bins, frames)
    np.testing.assert_array_equal(image, [[0, 0, 0, 255],
                                          [0, 0, 0, 0],
                                          [255, 255, 255, 255]])


def test_the_db_range_below_the_maximum_maps_linearly_to_grey_values():
    magnitudes = np.array([[1., 0.1, 0.01, 1e-5]])  # 0, -20, -40, -100 dB
    image = spectrogram_to_image(magnitudes, db_range=60, colormap=None)
    expected = np.round(255 * np.array([1, 2 / 3, 1 / 3, 0]))  # -100 -> -60
    np.testing.assert_array_equal(image[::-1, 0], expected)


def test_the_image_depends_on_the_magnitude_relative_to_its_maximum():
    generator = np.random.default_rng(0)
    spectrum = (generator.normal(size=(20, 9))
                + 1j * generator.normal(size=(20, 9)))
    image = spectrogram_to_image(spectrum)
    np.testing.assert_array_equal(spectrogram_to_image(100 * spectrum), image)
    np.testing.assert_array_equal(spectrogram_to_image(np.abs(spectrum)), image)
    np.testing.assert_array_equal(
        spectrogram_to_image(torch.from_numpy(spectrum)), image)


def test_colormap_end_points_are_those_of_viridis():
    image = spectrogram_to_image(np.array([[1., 1e-6]]), db_range=60,
                                 colormap='viridis')
    assert image.shape == (3, 2, 1) and image.dtype == np.uint8
    assert_color(image[:, 1, 0], VIRIDIS_1)  # bin 0, the maximum (bottom)
    assert_color(image[:, 0, 0], VIRIDIS_0)  # bin 1, the floor


def test_magnitude_to_db_is_20_log10_clipped_below_the_maximum():
    magnitude = np.array([2., 1., 0.])
    db, max_db = magnitude_to_db(torch.tensor(magnitude), db_range=30)
    assert max_db == pytest.approx(20 * np.log10(2))
    np.testing.assert_allclose(db, [20 * np.log10(2), 0., max_db - 30])


def test_silence_is_the_bottom_of_the_colormap():
    np.testing.assert_array_equal(
        spectrogram_to_image(np.zeros((3, 2)), colormap=None), 0)


def test_mask_values_are_clipped_to_0_1_and_shown_like_a_spectrogram():
    mask = torch.tensor([[0., 0.25, 1.], [2., -1., float('nan')]])
    image = mask_to_image(mask, colormap=None)
    np.testing.assert_array_equal(image, [[255, 0], [64, 0], [0, 255]])
    colored = mask_to_image(mask)
    assert colored.shape == (3, 3, 2)
    assert_color(colored[:, 0, 0], VIRIDIS_1)
    assert_color(colored[:, 1, 1], VIRIDIS_0)


def test_wrong_inputs_are_reported_with_their_shape():
    with pytest.raises(ValueError, match=r'\(frames, bins\), found shape '
                                         r'\(2, 5, 3\); select one example'):
        spectrogram_to_image(np.ones((2, 5, 3)))
    with pytest.raises(ValueError, match=r'mask must be \(frames, bins\)'):
        mask_to_image(np.ones(4))
    with pytest.raises(ValueError, match="Unknown colormap 'viridiss'"):
        mask_to_image(np.ones((2, 2)), colormap='viridiss')


def test_without_matplotlib_the_error_names_the_plot_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, 'matplotlib', None)  # import fails
    with pytest.raises(ImportError, match=r'padertorch_audio\[plot\]'):
        spectrogram_to_image(np.ones((2, 2)))
    assert spectrogram_to_image(np.ones((2, 2)), colormap=None).shape == (2, 2)
