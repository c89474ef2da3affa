"""vocoder.files.synthesize_files: per file what synthesize does on the mel
of the file read with soundfile (resampled with scipy), the input's rate
and length kept, mel files, one error per bad file (wrong bands, dtype,
empty, NaN/inf, another array), no partial or overwritten files."""
import re
import warnings

import numpy as np
import pytest
import scipy.signal
import soundfile
import torch

from padertorch_audio.inference import ToyModelWarning
from padertorch_audio.separation import TINY_DPRNN, TasNet
from padertorch_audio.separation import export_model as export_separation
from padertorch_audio.vocoder import (
    TINY_WAVENET, WaveNet, default_num_samples, synthesize)
from padertorch_audio.vocoder.export import export_model, load_model
from padertorch_audio.vocoder.files import (
    SynthesizeFilesError, read_mel, synthesize_files)

RATE = 16000


def export_tiny_vocoder(path, **summaries):
    """A tiny untrained WaveNet (16 kHz, 8 mels, shift 16), exported."""
    torch.manual_seed(0)
    return export_model(WaveNet.from_config(TINY_WAVENET), path,
                        sample_rate=RATE, **summaries)


@pytest.fixture(scope='module')
def model_file(tmp_path_factory):
    return export_tiny_vocoder(tmp_path_factory.mktemp('model') / 'voc.pt')


@pytest.fixture(scope='module')
def inputs(tmp_path_factory):
    """speech.wav (16 kHz), narrow.flac (8 kHz stereo), frames.npy (a mel
    of 30 frames) and a text file posing as audio."""
    directory = tmp_path_factory.mktemp('inputs')
    rng = np.random.default_rng(0)
    speech, narrow = directory / 'speech.wav', directory / 'narrow.flac'
    soundfile.write(speech, 0.3 * rng.uniform(-1, 1, 700), RATE,
                    subtype='FLOAT')
    soundfile.write(narrow, 0.3 * rng.uniform(-1, 1, (333, 2)), 8000,
                    subtype='PCM_16')
    frames = directory / 'frames.npy'
    np.save(frames, rng.normal(-3, 1, (30, 8)))
    text = directory / 'text.wav'
    text.write_text('no audio here\n')
    return speech, narrow, frames, text


def _reference(model_file, signal, num_samples, seed=0, temperature=1.0):
    """synthesize on the model's log_mel of ``signal``, seeded."""
    model = load_model(model_file)
    mel = model.log_mel(torch.from_numpy(signal.astype(np.float32)))
    return synthesize(model, mel, num_samples=num_samples,
                      temperature=temperature,
                      generator=torch.Generator().manual_seed(seed)).numpy()


def _read(path):
    signal, rate = soundfile.read(path, dtype='float64')
    return signal, rate


def test_audio_is_resynthesised_at_its_rate_and_length(tmp_path, model_file,
                                                       inputs):
    speech, narrow, _, _ = inputs
    results = synthesize_files(model_file, [speech, narrow], tmp_path / 'out',
                               seed=3)
    assert [result.error for result in results] == [None, None]
    written, rate = _read(tmp_path / 'out' / 'speech.wav')
    assert rate == RATE and written.shape == (700,)
    reference = _reference(model_file, soundfile.read(speech)[0], 700, seed=3)
    np.testing.assert_allclose(written, reference, atol=1 / 32768)
    assert results[0].kind == 'audio' and results[0].num_samples == 700

    written, rate = _read(tmp_path / 'out' / 'narrow.wav')
    assert rate == 8000 and written.shape == (333,)
    assert np.isfinite(written).all() and np.abs(written).max() <= 1
    source = soundfile.read(narrow)[0][:, 0]
    upsampled = scipy.signal.resample_poly(source, 2, 1)
    reference = scipy.signal.resample_poly(
        _reference(model_file, upsampled, len(upsampled), seed=3), 1, 2)
    np.testing.assert_allclose(written, np.clip(reference[:333], -1, 1),
                               atol=1e-3)
    assert any('8000 Hz, resampled to the model\'s 16000 Hz' in note
               for note in results[1].notes)
    assert any('2 channels, using channel 0' in note
               for note in results[1].notes)


def test_a_mel_file_gives_the_longest_signal_of_its_frames(tmp_path,
                                                           model_file,
                                                           inputs):
    _, _, frames, _ = inputs
    output = tmp_path / 'frames.flac'
    [result] = synthesize_files(model_file, [frames], output,
                                temperature=0)
    assert result.error is None and result.kind == 'mel'
    written, rate = _read(output)
    length = (30 + 1) * 16 - 64  # (frames + 1) * shift - window_length
    assert rate == RATE and written.shape == (length,)
    assert default_num_samples(30, 16, 64) == length
    model = load_model(model_file)
    reference = synthesize(model, torch.from_numpy(
        np.load(frames).astype(np.float32)), temperature=0).numpy()
    np.testing.assert_allclose(written, reference, atol=1 / 32768)


def test_the_same_seed_gives_the_same_file(tmp_path, model_file, inputs):
    speech = inputs[0]
    for name, seed in (('a.wav', 1), ('b.wav', 1), ('c.wav', 2)):
        synthesize_files(model_file, [speech], tmp_path / name, seed=seed)
    a, b, c = (_read(tmp_path / name)[0] for name in ('a.wav', 'b.wav',
                                                      'c.wav'))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def _bad_mels(directory):
    """(file, the start of its error after the path)."""
    rng = np.random.default_rng(1)
    cases = {
        'bands.npy': (rng.normal(size=(20, 80)), '80 mel bands, the model '
                                                 'expects 8'),
        'int.npy': (np.zeros((20, 8), np.int64), 'dtype int64, expected '
                                                 'float32 or float64'),
        'complex.npy': (np.zeros((20, 8), np.complex64),
                        'dtype complex64, expected float32 or float64'),
        'cube.npy': (np.zeros((1, 20, 8)), r'shape \(1, 20, 8\), expected '
                                           r'\(frames, n_mels\)'),
        'none.npy': (np.zeros((0, 8)), 'no frames'),
        'few.npy': (np.zeros((3, 8)), '3 frames are too few for any '
                                      'sample'),
    }
    nan = rng.normal(size=(20, 8))
    nan[4, 2], nan[7, 0] = np.nan, np.inf
    cases['nan.npy'] = (nan, r'2 mel value\(s\) are NaN or infinite \(the '
                             r'first at index \(4, 2\)\)')
    for name, (array, _) in cases.items():
        np.save(directory / name, array)
    np.save(directory / 'objects.npy', np.array([{'a': 1}], dtype=object),
            allow_pickle=True)
    cases['objects.npy'] = (None, 'not a .npy array of mel frames')
    (directory / 'empty.npy').write_bytes(b'')
    cases['empty.npy'] = (None, r'empty file \(0 bytes\)')
    (directory / 'text.npy').write_text('1 2 3\n')
    cases['text.npy'] = (None, 'not a .npy array of mel frames')
    np.savez(directory / 'archive.npz', mel=np.zeros((20, 8)))
    (directory / 'archive.npz').rename(directory / 'archive.npy')
    cases['archive.npy'] = (None, 'an .npz archive, expected a .npy array')
    return {directory / name: message for name, (_, message)
            in cases.items()}


def test_every_bad_mel_gets_one_error_and_no_output(tmp_path, model_file,
                                                    inputs):
    bad = _bad_mels(tmp_path)
    good = inputs[2]
    paths = [*bad, good]
    results = synthesize_files(model_file, paths, tmp_path / 'out')
    for result, (path, message) in zip(results, bad.items()):
        assert result.error is not None, path
        assert result.error.startswith(f'{path}: '), result.error
        assert re.search(message, result.error), result.error
        assert result.output is None
    assert results[-1].error is None
    assert sorted(p.name for p in (tmp_path / 'out').iterdir()) \
        == ['frames.wav']  # no partial or temporary files


def test_bad_audio_gets_one_error(tmp_path, model_file, inputs):
    infinite = tmp_path / 'infinite.wav'
    signal = np.zeros(400)
    signal[100] = np.inf
    soundfile.write(infinite, signal, RATE, subtype='FLOAT')
    empty = tmp_path / 'empty.wav'
    empty.write_bytes(b'')
    results = synthesize_files(model_file, [infinite, empty, inputs[3],
                                            tmp_path / 'missing.wav'],
                               tmp_path / 'out')
    errors = [result.error for result in results]
    assert errors[0] == f'{infinite}: 1 sample(s) are NaN or infinite (the ' \
                        f'first at index 100)'
    assert errors[1] == f'{empty}: empty file (0 bytes)'
    assert errors[2].startswith(f'{inputs[3]}: ')
    assert errors[3].startswith(f'{tmp_path / "missing.wav"}: ')
    assert not (tmp_path / 'out').exists() or \
        not list((tmp_path / 'out').iterdir())


def test_a_mel_with_another_name_is_read_with_mel_true(tmp_path, model_file,
                                                       inputs):
    renamed = tmp_path / 'frames.mel'
    renamed.write_bytes(inputs[2].read_bytes())
    [result] = synthesize_files(model_file, [renamed], tmp_path / 'x.wav')
    assert result.error is not None  # read as audio: not audio
    [result] = synthesize_files(model_file, [renamed], tmp_path / 'x.wav',
                                mel=True)
    assert result.error is None and result.kind == 'mel'


def test_outputs_that_would_overwrite_are_refused_first(tmp_path,
                                                        model_file, inputs):
    speech = tmp_path / 'speech.wav'
    speech.write_bytes(inputs[0].read_bytes())
    before = speech.read_bytes()
    with pytest.raises(SynthesizeFilesError,
                       match='is an input; writing the synthesised audio '
                             'there would overwrite it'):
        synthesize_files(model_file, [speech], speech)
    with pytest.raises(SynthesizeFilesError, match='is an input'):
        synthesize_files(model_file, [speech, inputs[2]], tmp_path)
    with pytest.raises(SynthesizeFilesError, match='is the model file'):
        synthesize_files(model_file, [speech], model_file)
    other = tmp_path / 'other'
    other.mkdir()
    (other / 'speech.wav').write_bytes(before)
    with pytest.raises(SynthesizeFilesError,
                       match='also the output of .*same file name stem'):
        synthesize_files(model_file, [speech, other / 'speech.wav'],
                         tmp_path / 'out')
    with pytest.raises(SynthesizeFilesError, match="unknown audio format "
                                                   "'.mp9'"):
        synthesize_files(model_file, [speech], tmp_path / 'a.mp9')
    assert speech.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ['other',
                                                          'speech.wav']


def test_a_model_that_is_no_vocoder_is_refused(tmp_path, inputs):
    separation = export_separation(TasNet.from_config(TINY_DPRNN),
                                   tmp_path / 'separation.pt',
                                   sample_rate=8000, num_speakers=2)
    with pytest.raises(SynthesizeFilesError,
                       match='is a separation model'):
        synthesize_files(separation, [inputs[0]], tmp_path / 'out.wav')
    with pytest.raises(SynthesizeFilesError, match='no such model file'):
        synthesize_files(tmp_path / 'nothing.pt', [inputs[0]],
                         tmp_path / 'out.wav')
    assert not (tmp_path / 'out.wav').exists()


def test_a_toy_model_warns_once(tmp_path, inputs):
    toy = export_tiny_vocoder(tmp_path / 'toy.pt',
                              training_summary={'corpus': 'toy'})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        synthesize_files(toy, [inputs[0], inputs[2]], tmp_path / 'out')
    toy_warnings = [w for w in caught if w.category is ToyModelWarning]
    assert len(toy_warnings) == 1
    assert 'recipes/vocoder' in str(toy_warnings[0].message)


def test_read_mel_returns_float32_frames(tmp_path):
    path = tmp_path / 'a.npy'
    values = np.random.default_rng(0).normal(size=(12, 8)).astype(np.float64)
    np.save(path, values)
    mel = read_mel(path, n_mels=8)
    assert mel.dtype == np.float32
    np.testing.assert_array_equal(mel, values.astype(np.float32))


@pytest.mark.parametrize('arguments, message', [
    ({'temperature': -1}, 'temperature must be a finite number >= 0'),
    ({'temperature': float('nan')}, 'temperature must be'),
    ({'seed': -2}, 'seed must be an int >= 0'),
    ({'channel': 1, 'mixdown': True}, 'channel or mixdown'),
])
def test_bad_arguments(tmp_path, model_file, inputs, arguments, message):
    with pytest.raises(ValueError, match=message):
        synthesize_files(model_file, [inputs[0]], tmp_path / 'o.wav',
                         **arguments)
