"""read_audio / write_audio: round trips against soundfile, clear errors."""
import numpy as np
import pytest
import soundfile

from padertorch_audio.io import AudioFileError, read_audio, write_audio


@pytest.mark.parametrize('suffix', ['.wav', '.flac'])
def test_round_trip_is_exact_on_the_16_bit_grid(tmp_path, suffix):
    rng = np.random.default_rng(0)
    signal = rng.integers(-2 ** 15, 2 ** 15, size=(2, 1000)) / 2 ** 15
    path = tmp_path / f'x{suffix}'
    write_audio(path, signal, 16000)
    reference, rate = soundfile.read(path, always_2d=True)
    assert rate == 16000
    np.testing.assert_array_equal(reference.T, signal)
    read, rate = read_audio(path, dtype='float64')
    np.testing.assert_array_equal(read, signal)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f'x{suffix}']


def test_mono_is_one_dimensional_and_ranges_work(tmp_path):
    signal = np.arange(100) / 256.
    write_audio(tmp_path / 'm.wav', signal, 8000)
    read, rate = read_audio(tmp_path / 'm.wav', start=10, stop=20,
                            dtype='float64')
    assert read.shape == (10,) and rate == 8000
    np.testing.assert_array_equal(read, signal[10:20])


def test_errors_name_the_file(tmp_path):
    (tmp_path / 'text.wav').write_text('no audio here')
    soundfile.write(tmp_path / 'empty.wav', np.zeros(0), 8000)
    with pytest.raises(AudioFileError, match='missing.wav: file not found'):
        read_audio(tmp_path / 'missing.wav')
    with pytest.raises(AudioFileError, match='text.wav: not readable'):
        read_audio(tmp_path / 'text.wav')
    with pytest.raises(AudioFileError, match='empty.wav: the file holds no'):
        read_audio(tmp_path / 'empty.wav')
    with pytest.raises(ValueError, match=r'shape \(1, 2, 3\)'):
        write_audio(tmp_path / 'bad.wav', np.zeros((1, 2, 3)), 8000)


def test_a_truncated_wav_is_an_error_not_a_shorter_signal(tmp_path):
    path = tmp_path / 'cut.wav'
    write_audio(path, np.zeros(1000), 8000)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) - 500])     # lose the last 250 samples
    assert soundfile.read(path)[0].shape == (750,)  # libsndfile: silently short
    with pytest.raises(AudioFileError, match=r'cut.wav: truncated WAV file'):
        read_audio(path)
