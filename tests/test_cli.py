"""The padertorch-audio command: separate files with an exported model."""
import hashlib
import subprocess
import sys

import numpy as np
import pytest
import scipy.signal
import soundfile
import torch

from padertorch_audio.cli import main

MODEL_RATE = 8000


@pytest.fixture(scope='module')
def model_path(tmp_path_factory):
    """A tiny untrained DPRNN-TasNet (8 kHz, 2 speakers), exported."""
    from padertorch_audio.separation import TINY_DPRNN, TasNet, export_model
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp('model') / 'tiny_dprnn.pt'
    export_model(TasNet.from_config(TINY_DPRNN), path,
                 sample_rate=MODEL_RATE, num_speakers=2)
    return path


@pytest.fixture
def separate_calls(monkeypatch):
    """Records the signals that the CLI passes to separation.separate."""
    from padertorch_audio import separation
    calls, real_separate = [], separation.separate

    def spy(model, signal, **kwargs):
        calls.append(np.array(signal))
        return real_separate(model, signal, **kwargs)
    monkeypatch.setattr(separation, 'separate', spy)
    return calls


def _library_separation(model_path, signal):
    """The reference: the library called directly."""
    from padertorch_audio.separation import load_model, separate
    return separate(load_model(model_path), signal.astype(np.float32))


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
    soundfile.write(good_flac, _tone(4000, 8000, 300), 8000,
                    subtype='PCM_24')
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
    names = ['a_s1.wav', 'a_s2.wav', 'b_s1.wav', 'b_s2.wav']
    assert sorted(p.name for p in (tmp_path / 'out').iterdir()) == names
    assert out.split() == [str(tmp_path / 'out' / name) for name in names]
    errors = _error_lines(err)
    assert len(errors) == 3
    assert errors[0].startswith(f'error: {corrupt}: truncated WAV file')
    assert errors[1] == f'error: {empty}: empty file (0 bytes)'
    assert errors[2].startswith(f'error: {text}: not readable as audio')
    assert _hashes(paths) == before  # inputs unchanged

    for stem, path, subtype in (('a', good_wav, 'PCM_16'),
                                ('b', good_flac, 'PCM_24')):
        signal, _ = soundfile.read(path)
        expected = _library_separation(model_path, signal)
        for k in range(2):
            output = tmp_path / 'out' / f'{stem}_s{k + 1}.wav'
            info = soundfile.info(output)
            assert (info.format, info.subtype, info.samplerate,
                    info.channels) == ('WAV', subtype, 8000, 1)
            np.testing.assert_allclose(soundfile.read(output)[0],
                                       expected[k], atol=1e-4)


def test_multichannel_input(tmp_path, model_path, separate_calls, capsys):
    stereo = tmp_path / 'stereo.wav'
    left, right = _tone(4000, 8000, 300), _tone(4000, 8000, 700, 0.25)
    soundfile.write(stereo, np.stack([left, right], 1), 8000,
                    subtype='FLOAT')
    out = tmp_path / 'out'

    def run(*options):
        return main(['separate', '-m', str(model_path), str(stereo), '-o',
                     str(out), *options])

    assert run() == 0
    assert f'note: {stereo}: 2 channels, using channel 0' \
        in capsys.readouterr().err
    np.testing.assert_allclose(separate_calls[-1], left, atol=1e-7)
    assert soundfile.info(out / 'stereo_s1.wav').channels == 1

    assert run('--channel', '1') == 0
    assert capsys.readouterr().err == ''
    np.testing.assert_allclose(separate_calls[-1], right, atol=1e-7)

    assert run('--mixdown') == 0
    assert 'averaged' in capsys.readouterr().err
    np.testing.assert_allclose(separate_calls[-1], (left + right) / 2,
                               atol=1e-7)

    assert run('--channel', '2') == 1
    assert _error_lines(capsys.readouterr().err) == [
        f'error: {stereo}: --channel 2 does not exist, the file has 2 '
        f'channels']
    assert len(separate_calls) == 3
    assert run('--channel', '1', '--mixdown') == 2  # argparse: exclusive
    assert run('--channel', '-1') == 2


def test_resampling_round_trip(tmp_path, model_path, separate_calls):
    path = tmp_path / 'wide.wav'
    signal = _tone(12345, 16000, 500)  # odd length
    soundfile.write(path, signal, 16000, subtype='FLOAT')
    assert main(['separate', '-m', str(model_path), str(path), '-o',
                 str(tmp_path / 'out')]) == 0
    given, = separate_calls
    narrow = scipy.signal.resample_poly(signal, 1, 2)
    assert len(given) == len(narrow) == 6173  # ceil(12345 / 2) at 8 kHz
    np.testing.assert_allclose(given, narrow, atol=1e-6)
    expected = scipy.signal.resample_poly(
        _library_separation(model_path, given), 2, 1, axis=-1)[:, :12345]
    for k in range(2):
        output, rate = soundfile.read(tmp_path / 'out' / f'wide_s{k + 1}.wav')
        assert (rate, len(output)) == (16000, 12345)
        np.testing.assert_allclose(output, expected[k], atol=1e-5)


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
    assert sorted(p.name for p in tmp_path.iterdir()) == ['x.wav',
                                                          'x_s1.wav']

    (tmp_path / 'a').mkdir()
    (tmp_path / 'b').mkdir()
    for directory in ('a', 'b'):
        soundfile.write(tmp_path / directory / 'x.wav', _tone(800, 8000),
                        8000)
    assert main(['separate', '-m', str(model_path),
                 str(tmp_path / 'a' / 'x.wav'), str(tmp_path / 'b' / 'x.wav'),
                 '-o', str(tmp_path / 'out')]) == 2
    assert 'same file name stem' in capsys.readouterr().err
    assert not (tmp_path / 'out').exists()  # nothing created


def test_a_file_that_is_no_model_is_an_error_naming_it(tmp_path, capsys):
    not_a_model = tmp_path / 'notes.txt'
    not_a_model.write_text('not a model')
    wav = tmp_path / 'x.wav'
    soundfile.write(wav, _tone(800, 8000), 8000)
    assert main(['separate', '-m', str(not_a_model), str(wav), '-o',
                 str(tmp_path / 'out')]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f'error: {not_a_model}')
    assert err.count(str(not_a_model)) == 1
    assert len(err.splitlines()) == 1
    assert not (tmp_path / 'out').exists()  # nothing created


def test_loud_estimates_are_scaled_not_clipped(tmp_path, model_path,
                                               monkeypatch, capsys):
    from padertorch_audio import separation
    monkeypatch.setattr(separation, 'separate',
                        lambda model, x: np.stack([3 * x, x]))
    path = tmp_path / 'loud.wav'
    soundfile.write(path, _tone(800, 8000, amplitude=0.99), 8000,
                    subtype='PCM_16')
    assert main(['separate', '-m', str(model_path), str(path), '-o',
                 str(tmp_path / 'out')]) == 0
    assert 'scaled by' in capsys.readouterr().err
    s1, _ = soundfile.read(tmp_path / 'out' / 'loud_s1.wav')
    s2, _ = soundfile.read(tmp_path / 'out' / 'loud_s2.wav')
    assert np.max(np.abs(s1)) == pytest.approx(0.99, abs=1e-3)
    np.testing.assert_allclose(s1, 3 * s2, atol=1e-3)  # the same factor


def test_runs_as_a_module(tmp_path, model_path):
    command = [sys.executable, '-m', 'padertorch_audio.cli']
    wav = tmp_path / 'x.wav'
    soundfile.write(wav, _tone(4000, 8000), 8000)
    completed = subprocess.run(
        [*command, 'separate', '-m', str(model_path), str(wav), '-o',
         str(tmp_path / 'out')], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == [
        str(tmp_path / 'out' / 'x_s1.wav'), str(tmp_path / 'out' / 'x_s2.wav')]
    assert completed.stderr == ''  # no progress bar without a terminal


def test_a_toy_model_gets_one_warning_line(tmp_path, capsys):
    from padertorch_audio.separation import TINY_DPRNN, TasNet, export_model
    toy = export_model(TasNet.from_config(TINY_DPRNN), tmp_path / 'toy.pt',
                       sample_rate=MODEL_RATE, num_speakers=2,
                       training_summary={'corpus': 'toy'})
    inputs = [tmp_path / 'a.wav', tmp_path / 'b.wav']
    for path in inputs:
        soundfile.write(path, _tone(800, 8000), 8000)
    for _ in range(2):  # every run says it, once
        assert main(['separate', '-m', str(toy), *map(str, inputs), '-o',
                     str(tmp_path / 'out')]) == 0
        out, err = capsys.readouterr()
        assert len(out.split()) == 4
        assert err.splitlines() == [
            f'warning: {toy} was trained on the toy corpus (synthetic '
            f'voices): a demonstration that makes real recordings worse '
            f'(about -2 dB SI-SDR improvement on natural voices). For real '
            f'mixtures, train on WSJ0-2mix (recipes/wsj0_2mix: run.sh '
            f'--wsj0_2mix_root DIR).']
