"""The padertorch-audio command: separate files with an exported model."""
import hashlib
import json
import subprocess
import sys
import types

import numpy as np
import pytest
import soundfile

from padertorch_audio.cli import main

MODEL_RATE = 8000


class _StandInModel:
    """Stand-in until padertorch_audio.separation exists: 'separates' by
    returning (x, -0.5 x) and records what it was given."""
    def __init__(self, sample_rate, num_speakers):
        self.sample_rate = sample_rate
        self.num_speakers = num_speakers
        self.calls = []


@pytest.fixture
def loaded_models():
    return []


@pytest.fixture
def model_path(tmp_path, monkeypatch, loaded_models):
    path = tmp_path / 'model.pt'
    path.write_text(json.dumps({'sample_rate': MODEL_RATE,
                                'num_speakers': 2}))
    loaded = loaded_models

    def load_model(model_path, trusted=False):
        try:
            config = json.loads(open(model_path).read())
        except (ValueError, UnicodeDecodeError):
            raise ValueError(f'{model_path}: not an exported model file')
        loaded.append(_StandInModel(**config))
        return loaded[-1]

    def separate(model, signal):
        assert isinstance(signal, np.ndarray) and signal.ndim == 1
        model.calls.append(signal)
        return np.stack([signal, -0.5 * signal])

    module = types.ModuleType('padertorch_audio.separation')
    module.load_model, module.separate = load_model, separate
    monkeypatch.setitem(sys.modules, 'padertorch_audio.separation', module)
    return path


def _tone(num_samples, sample_rate, frequency=440., amplitude=0.5):
    return amplitude * np.sin(2 * np.pi * frequency
                              * np.arange(num_samples) / sample_rate)


def _hashes(paths):
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def _error_lines(stderr):
    return [line for line in stderr.splitlines() if line.startswith('error:')]


def test_help(capsys):
    assert main(['--help']) == 0
    assert 'separate' in capsys.readouterr().out
    assert main(['separate', '--help']) == 0
    help_text = capsys.readouterr().out
    for option in ('--model', '--output-dir', '--channel', '--mixdown',
                   '--trusted', 'exit status'):
        assert option in help_text
    assert main([]) == 2  # no command: the help on stderr
    assert 'separate' in capsys.readouterr().err
    assert main(['separate', 'x.wav', '-o', 'out']) == 2  # no --model
    assert '--model' in capsys.readouterr().err


def test_good_files_are_separated_and_bad_ones_get_one_error_line(
        tmp_path, model_path, capsys):
    inputs = tmp_path / 'in'
    inputs.mkdir()
    good_wav, good_flac = inputs / 'a.wav', inputs / 'b.flac'
    soundfile.write(good_wav, _tone(8000, 8000), 8000, subtype='PCM_16')
    soundfile.write(good_flac, _tone(4000, 8000), 8000, subtype='PCM_24')
    corrupt = inputs / 'corrupt.wav'  # cut off after 1000 of 16000 bytes
    corrupt.write_bytes(good_wav.read_bytes()[:1044])
    empty = inputs / 'empty.wav'
    empty.write_bytes(b'')
    text = inputs / 'notes.wav'
    text.write_text('this is not audio\n' * 20)
    paths = [good_wav, corrupt, empty, text, good_flac]
    before = _hashes(paths)

    status = main(['separate', '--model', str(model_path), *map(str, paths),
                   '-o', str(tmp_path / 'out')])
    out, err = capsys.readouterr()
    assert status == 1
    written = sorted(p.name for p in (tmp_path / 'out').iterdir())
    assert written == ['a_s1.wav', 'a_s2.wav', 'b_s1.wav', 'b_s2.wav']
    assert out.split() == [str(tmp_path / 'out' / name) for name in
                           ['a_s1.wav', 'a_s2.wav', 'b_s1.wav', 'b_s2.wav']]
    errors = _error_lines(err)
    assert len(errors) == 3
    assert errors[0].startswith(f'error: {corrupt}: truncated WAV file')
    assert errors[1] == f'error: {empty}: empty file (0 bytes)'
    assert errors[2].startswith(f'error: {text}: not readable as audio')
    assert _hashes(paths) == before  # inputs unchanged

    s1, rate = soundfile.read(tmp_path / 'out' / 'a_s1.wav')
    s2, _ = soundfile.read(tmp_path / 'out' / 'a_s2.wav')
    assert rate == 8000
    np.testing.assert_allclose(s1, _tone(8000, 8000), atol=1e-4)
    np.testing.assert_allclose(s2, -0.5 * _tone(8000, 8000), atol=1e-4)
    assert soundfile.info(tmp_path / 'out' / 'a_s1.wav').subtype == 'PCM_16'
    info = soundfile.info(tmp_path / 'out' / 'b_s2.wav')
    assert (info.format, info.subtype, info.frames) == ('WAV', 'PCM_24', 4000)


def test_multichannel_input(tmp_path, model_path, capsys):
    stereo = tmp_path / 'stereo.wav'
    left, right = _tone(4000, 8000, 300), _tone(4000, 8000, 700, 0.25)
    soundfile.write(stereo, np.stack([left, right], 1), 8000,
                    subtype='FLOAT')
    out = tmp_path / 'out'

    assert main(['separate', '-m', str(model_path), str(stereo), '-o',
                 str(out)]) == 0
    assert f'note: {stereo}: 2 channels, using channel 0' \
        in capsys.readouterr().err
    np.testing.assert_allclose(soundfile.read(out / 'stereo_s1.wav')[0],
                               left, atol=1e-6)

    assert main(['separate', '-m', str(model_path), str(stereo), '-o',
                 str(out), '--channel', '1']) == 0
    assert capsys.readouterr().err == ''
    np.testing.assert_allclose(soundfile.read(out / 'stereo_s1.wav')[0],
                               right, atol=1e-6)

    assert main(['separate', '-m', str(model_path), str(stereo), '-o',
                 str(out), '--mixdown']) == 0
    assert 'averaged' in capsys.readouterr().err
    np.testing.assert_allclose(soundfile.read(out / 'stereo_s1.wav')[0],
                               (left + right) / 2, atol=1e-6)

    assert main(['separate', '-m', str(model_path), str(stereo), '-o',
                 str(out), '--channel', '2']) == 1
    assert _error_lines(capsys.readouterr().err) == [
        f'error: {stereo}: --channel 2 does not exist, the file has 2 '
        f'channels']
    assert main(['separate', '-m', str(model_path), str(stereo), '-o',
                 str(out), '--channel', '1', '--mixdown']) == 2
    assert main(['separate', '-m', str(model_path), str(stereo), '-o',
                 str(out), '--channel', '-1']) == 2


def test_resampling_round_trip(tmp_path, model_path, loaded_models):
    path = tmp_path / 'wide.wav'
    signal = _tone(12345, 16000, 500)  # odd length
    soundfile.write(path, signal, 16000, subtype='FLOAT')
    assert main(['separate', '-m', str(model_path), str(path), '-o',
                 str(tmp_path / 'out')]) == 0
    model, = loaded_models
    given, = model.calls
    assert len(given) == 6173  # ceil(12345 / 2) samples at 8 kHz
    for name, gain in (('wide_s1.wav', 1), ('wide_s2.wav', -0.5)):
        output, rate = soundfile.read(tmp_path / 'out' / name)
        assert (rate, len(output)) == (16000, 12345)
        # The 500 Hz tone survives 16 -> 8 -> 16 kHz (edges aside).
        np.testing.assert_allclose(output[200:-200],
                                   gain * signal[200:-200], atol=2e-3)


def test_refuses_an_output_dir_that_would_overwrite_inputs(
        tmp_path, model_path, capsys):
    x, x_s1 = tmp_path / 'x.wav', tmp_path / 'x_s1.wav'
    soundfile.write(x, _tone(800, 8000), 8000)
    soundfile.write(x_s1, _tone(800, 8000, 300), 8000)
    before = _hashes([x, x_s1])
    assert main(['separate', '-m', str(model_path), str(x), str(x_s1),
                 '-o', str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f'error: {x_s1}: writing {x_s1} would overwrite '
                          f'this input')
    assert _hashes([x, x_s1]) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        'model.pt', 'x.wav', 'x_s1.wav']

    (tmp_path / 'a').mkdir()
    (tmp_path / 'b').mkdir()
    for directory in ('a', 'b'):
        soundfile.write(tmp_path / directory / 'x.wav', _tone(800, 8000),
                        8000)
    assert main(['separate', '-m', str(model_path),
                 str(tmp_path / 'a' / 'x.wav'), str(tmp_path / 'b' / 'x.wav'),
                 '-o', str(tmp_path / 'out')]) == 2
    assert 'same file name stem' in capsys.readouterr().err
    assert list((tmp_path / 'out').iterdir()) == []


def test_unloadable_model_is_an_error_naming_the_file(tmp_path, model_path,
                                                      capsys):
    bad_model = tmp_path / 'notes.txt'
    bad_model.write_text('not a model')
    wav = tmp_path / 'x.wav'
    soundfile.write(wav, _tone(800, 8000), 8000)
    assert main(['separate', '-m', str(bad_model), str(wav), '-o',
                 str(tmp_path / 'out')]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f'error: {bad_model}: ')
    assert err.count(str(bad_model)) == 1


def test_loud_estimates_are_scaled_not_clipped(tmp_path, model_path,
                                               capsys):
    path = tmp_path / 'loud.wav'
    signal = _tone(800, 8000, amplitude=0.99)
    soundfile.write(path, signal, 8000, subtype='PCM_16')
    sys.modules['padertorch_audio.separation'].separate = \
        lambda model, x: np.stack([3 * x, x])
    assert main(['separate', '-m', str(model_path), str(path), '-o',
                 str(tmp_path / 'out')]) == 0
    assert 'scaled by' in capsys.readouterr().err
    s1, _ = soundfile.read(tmp_path / 'out' / 'loud_s1.wav')
    s2, _ = soundfile.read(tmp_path / 'out' / 'loud_s2.wav')
    assert np.max(np.abs(s1)) == pytest.approx(0.99, abs=1e-3)
    np.testing.assert_allclose(s1, 3 * s2, atol=1e-3)  # same factor


def test_runs_as_a_module():
    completed = subprocess.run(
        [sys.executable, '-m', 'padertorch_audio.cli', 'separate', '--help'],
        capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    assert 'usage: padertorch-audio separate' in completed.stdout
