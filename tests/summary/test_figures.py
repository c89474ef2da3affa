"""plot_spectrogram: a matplotlib Figure of the dB spectrogram."""
import numpy as np
from matplotlib.figure import Figure

from padertorch_audio.summary import plot_spectrogram


def test_the_figure_shows_the_clipped_db_spectrogram_with_low_bins_below():
    magnitude = np.array([[1., 0.1, 1e-9]] * 4)  # (frames, bins)
    figure = plot_spectrogram(magnitude, db_range=50)
    assert isinstance(figure, Figure)
    ax = figure.axes[0]
    image = ax.images[0]
    assert image.origin == 'lower'
    np.testing.assert_allclose(image.get_array(),
                               [[0.] * 4, [-20.] * 4, [-50.] * 4])
    assert image.get_clim() == (-50., 0.)
    assert ax.get_xlabel() == 'time / frames'
    assert figure.axes[1].get_ylabel() == 'dB'  # the colorbar


def test_axes_in_seconds_and_hz_and_drawing_into_a_given_axes():
    figure = Figure()
    ax = figure.add_subplot()
    returned = plot_spectrogram(np.ones((100, 257)), ax=ax, sampling_rate=16000,
                                frame_shift=128, title='x', colorbar=False)
    assert returned is figure and len(figure.axes) == 1
    assert ax.images[0].get_extent() == [0, 100 * 128 / 16000, 0, 8000]
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == (
        'time / s', 'frequency / Hz', 'x')
