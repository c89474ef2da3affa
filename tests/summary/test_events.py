"""read_events: every summary kind written by tensorboardX comes back.

The values are written with tensorboardX's SummaryWriter (through the
trainer's write_summary for review dicts) into an event file in tmp_path;
the reader must return what was written.
"""
import numpy as np
import pytest
import tensorboardX
from matplotlib.backends.backend_agg import FigureCanvasAgg
from tensorboardX.crc32c import crc32c as reference_crc32c

from padertorch_audio import summary
from padertorch_audio.summary.events import (
    CorruptEventFileError, crc32c, event_files)
from padertorch_audio.train.hooks import write_summary


def spectrum(seed=0):
    generator = np.random.default_rng(seed)
    return generator.normal(size=(30, 17)) + 1j * generator.normal(size=(30, 17))


def review_summary():
    """A review dict with an entry of every kind the summary package makes."""
    tone = np.sin(np.arange(800) / 5) * 3
    return {
        'scalars': {'loss': 0.25},
        'images': {'spectrogram': summary.spectrogram_to_image(spectrum()),
                   'mask': summary.mask_to_image(np.linspace(0, 1, 30 * 17)
                                                 .reshape(30, 17))},
        'audios': {'tone': summary.audio(tone, 8000)},
        'figures': {'plot': summary.plot_spectrogram(spectrum())},
        'histograms': {'weights': np.arange(10.)},
        'texts': {'note': 'hello tensorboard'},
    }


def write(directory, summary_dict, step=7):
    with tensorboardX.SummaryWriter(str(directory)) as writer:
        write_summary(writer, summary_dict, step, 'training')


@pytest.fixture(scope='module')
def records(tmp_path_factory):
    directory = tmp_path_factory.mktemp('events')
    written = review_summary()
    write(directory, review_summary())  # the writer closes the figure
    return written, {record.tag: record
                     for record in summary.read_events(directory)}


def test_every_record_has_the_step_tag_and_kind_it_was_written_with(records):
    _, found = records
    assert {tag: (record.step, record.kind) for tag, record in found.items()} == {
        'training/loss': (7, 'scalar'),
        'training/spectrogram': (7, 'image'),
        'training/mask': (7, 'image'),
        'training/tone': (7, 'audio'),
        'training/plot': (7, 'image'),
        'training/weights': (7, 'histogram'),
        'training/note/text_summary': (7, 'text'),
    }


def test_scalars_arrive_as_floats(records):
    _, found = records
    assert found['training/loss'].value == 0.25


def test_spectrogram_and_mask_images_arrive_pixel_for_pixel(records):
    written, found = records
    for name in ('spectrogram', 'mask'):
        image = found[f'training/{name}'].value
        assert image.dtype == np.uint8 and image.shape == (3, 17, 30)
        np.testing.assert_array_equal(image, written['images'][name])


def test_audio_arrives_within_16_bit_quantisation(records):
    written, found = records
    samples, rate = found['training/tone'].value
    expected, expected_rate = written['audios']['tone']
    assert rate == expected_rate == 8000
    assert samples.dtype == np.float32 and samples.shape == (800,)
    np.testing.assert_allclose(samples, expected, rtol=0, atol=2 ** -14)


def test_a_figure_arrives_as_its_rendered_image(records):
    _, found = records
    reference = summary.plot_spectrogram(spectrum())  # the same figure
    canvas = FigureCanvasAgg(reference)
    canvas.draw()
    rgb = np.asarray(canvas.buffer_rgba())[..., :3].transpose(2, 0, 1)
    image = found['training/plot'].value
    assert image.shape == (3, 300, 600)  # 6 x 3 inch at 100 dpi
    np.testing.assert_array_equal(image, rgb)


def test_histograms_and_texts_arrive(records):
    _, found = records
    histogram = found['training/weights'].value
    assert (histogram.num, histogram.sum, histogram.min, histogram.max) == (
        10, 45, 0, 9)
    assert histogram.sum_squares == sum(v ** 2 for v in range(10))
    assert histogram.bucket_counts.sum() == 10
    assert len(histogram.bucket_limits) == len(histogram.bucket_counts)
    assert found['training/note/text_summary'].value == 'hello tensorboard'


def test_records_by_tag_and_step_over_several_files(tmp_path):
    for step, loss in ((1, 0.5), (2, 0.375)):
        write(tmp_path / f'run{step}', {'scalars': {'loss': loss},
                                        'texts': {'note': f'step {step}'}},
              step=step)
    assert len(event_files(tmp_path)) == 2
    assert summary.read_events_by_tag(tmp_path, 'scalar') == {
        'training/loss': {1: 0.5, 2: 0.375}}
    assert summary.read_events_by_tag(tmp_path)[
        'training/note/text_summary'] == {1: 'step 1', 2: 'step 2'}
    file = event_files(tmp_path / 'run2')[0]
    assert summary.read_events(file) == [
        (2, 'training/loss', 'scalar', 0.375),
        (2, 'training/note/text_summary', 'text', 'step 2')]


def test_other_tensor_summaries_arrive_as_arrays(tmp_path):
    with tensorboardX.SummaryWriter(str(tmp_path)) as writer:
        writer.add_pr_curve('pr', np.array([1, 0, 1]), np.array([0.9, 0.2, 0.6]),
                            global_step=1, num_thresholds=5)
    (step, tag, kind, value), = summary.read_events(tmp_path)
    assert (step, tag, kind) == (1, 'pr', 'tensor')
    assert value.shape == (6, 5)  # tp, fp, tn, fn, precision, recall
    np.testing.assert_array_equal(value[0], [2, 2, 2, 1, 0])  # true positives


def test_crc32c_equals_tensorboardx_implementation():
    data = bytes(range(256)) * 3 + b'padertorch'
    assert crc32c(data) == reference_crc32c(data)
    assert crc32c(b'') == reference_crc32c(b'') == 0


def test_a_corrupt_record_is_reported_unless_checks_are_off(tmp_path):
    write(tmp_path, {'texts': {'note': 'hello tensorboard'}})
    file, = event_files(tmp_path)
    data = file.read_bytes()
    file.write_bytes(data.replace(b'hello', b'jello'))
    with pytest.raises(CorruptEventFileError,
                       match=r'the record at byte \d+ has a wrong data '
                             r'checksum \(stored 0x[0-9a-f]{8}, computed'):
        summary.read_events(file)
    assert summary.read_events(file, verify_checksums=False)[-1].value == (
        'jello tensorboard')


def test_a_record_cut_off_at_the_end_of_the_file_is_skipped(tmp_path):
    write(tmp_path, {'scalars': {'a': 1.}})
    write(tmp_path / 'b', {'scalars': {'b': 2.}})
    file, = event_files(tmp_path / 'b')
    file.write_bytes(file.read_bytes()[:-3])
    assert [record.tag for record in summary.read_events(tmp_path)] == [
        'training/a']


def test_a_missing_path_is_reported(tmp_path):
    with pytest.raises(FileNotFoundError, match='No event file or directory'):
        summary.read_events(tmp_path / 'missing')
