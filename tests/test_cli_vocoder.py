"""padertorch-audio synthesize: audio and mel inputs give files of the
right rate and length with finite values in [-1, 1] (equal to synthesize on
the model's mel of the file read with soundfile), one error line per bad
file, exit statuses, nothing written when the model or the output is
refused."""
import hashlib

import numpy as np
import pytest
import soundfile
import torch

from padertorch_audio.cli import main
from padertorch_audio.vocoder import synthesize
from padertorch_audio.vocoder.export import load_model
from tests.vocoder.test_files import export_tiny_vocoder


@pytest.fixture(scope='module')
def model_path(tmp_path_factory):
    return export_tiny_vocoder(tmp_path_factory.mktemp('model') / 'voc.pt')


@pytest.fixture
def inputs(tmp_path):
    """a.wav (16 kHz), b.flac (22.05 kHz), c.npy (mel), bad.npy (40 bands),
    junk.wav (text)."""
    rng = np.random.default_rng(0)
    a, b = tmp_path / 'a.wav', tmp_path / 'b.flac'
    soundfile.write(a, 0.3 * rng.uniform(-1, 1, 640), 16000, subtype='FLOAT')
    soundfile.write(b, 0.3 * rng.uniform(-1, 1, 441), 22050)
    c, bad = tmp_path / 'c.npy', tmp_path / 'bad.npy'
    np.save(c, rng.normal(-4, 1, (25, 8)).astype(np.float32))
    np.save(bad, rng.normal(size=(25, 40)))
    junk = tmp_path / 'junk.wav'
    junk.write_text('not audio\n')
    return a, b, c, bad, junk


def _errors(stderr):
    return [line for line in stderr.splitlines() if line.startswith('error:')]


def _hashes(paths):
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def test_help_names_the_command_and_its_options(capsys):
    assert main(['--help']) == 0
    assert 'synthesize' in capsys.readouterr().out
    assert main(['synthesize', '--help']) == 0
    out = capsys.readouterr().out
    for option in ('--model', '--output', '--mel', '--temperature', '--seed',
                   '--speaker', '(frames, n_mels)', 'float32 or float64',
                   'exit status'):
        assert option in out, option


def test_one_audio_file_to_one_output_file(tmp_path, model_path, inputs,
                                           capsys):
    a = inputs[0]
    output = tmp_path / 'resynthesised.wav'
    assert main(['synthesize', '-m', str(model_path), str(a), '-o',
                 str(output), '--seed', '5']) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f'{output} (0.04 s at 16000 Hz, real-time factor ')
    assert _errors(err) == []
    written, rate = soundfile.read(output)
    assert rate == 16000 and written.shape == (640,)
    model = load_model(model_path)
    signal = torch.from_numpy(soundfile.read(a, dtype='float32')[0])
    reference = synthesize(model, model.log_mel(signal), num_samples=640,
                           generator=torch.Generator().manual_seed(5))
    np.testing.assert_allclose(written, reference.numpy(), atol=1 / 32768)


def test_several_inputs_with_bad_ones(tmp_path, model_path, inputs, capsys):
    a, b, c, bad, junk = inputs
    out_dir = tmp_path / 'out'
    status = main(['synthesize', '-m', str(model_path), str(a), str(bad),
                   str(b), str(junk), str(c), '-o', str(out_dir),
                   '--temperature', '0.7'])
    out, err = capsys.readouterr()
    assert status == 1
    errors = _errors(err)
    assert len(errors) == 2
    assert errors[0].startswith(f'error: {bad}: 40 mel bands, the model '
                                f'expects 8')
    assert errors[1].startswith(f'error: {junk}: ')
    assert '2 of 5 files failed' in err
    assert f'note: {b}: 22050 Hz, resampled' in err
    assert sorted(p.name for p in out_dir.iterdir()) == ['a.wav', 'b.wav',
                                                         'c.wav']
    assert len(out.splitlines()) == 3
    for name, rate, length in (('a.wav', 16000, 640), ('b.wav', 22050, 441),
                               ('c.wav', 16000, 26 * 16 - 64)):
        written, found = soundfile.read(out_dir / name)
        assert (found, written.shape) == (rate, (length,)), name
        assert np.isfinite(written).all() and np.abs(written).max() <= 1


def test_mel_flag_reads_any_name_as_mel(tmp_path, model_path, inputs, capsys):
    renamed = tmp_path / 'frames.bin'
    renamed.write_bytes(inputs[2].read_bytes())
    assert main(['synthesize', '-m', str(model_path), '--mel', str(renamed),
                 '-o', str(tmp_path / 'out') + '/']) == 0
    capsys.readouterr()
    written, rate = soundfile.read(tmp_path / 'out' / 'frames.wav')
    assert rate == 16000 and written.shape == (26 * 16 - 64,)


def test_refused_model_or_output_is_exit_2_and_writes_nothing(
        tmp_path, model_path, inputs, capsys):
    a, _, c, _, _ = inputs
    before = _hashes([a, c, model_path])
    for output in (a, model_path):
        assert main(['synthesize', '-m', str(model_path), str(a), '-o',
                     str(output)]) == 2
        out, err = capsys.readouterr()
        assert out == '' and err.startswith(f'error: {output}: is ')
        assert 'would overwrite it' in err
    separation = tmp_path / 'separation.pt'
    from padertorch_audio.separation import TINY_DPRNN, TasNet, export_model
    export_model(TasNet.from_config(TINY_DPRNN), separation,
                 sample_rate=8000, num_speakers=2)
    assert main(['synthesize', '-m', str(separation), str(a), '-o',
                 str(tmp_path / 'x.wav')]) == 2
    out, err = capsys.readouterr()
    assert out == '' and len(err.splitlines()) == 1
    assert err.startswith(f'error: {separation}: is a separation model')
    assert not (tmp_path / 'x.wav').exists()
    assert _hashes([a, c, model_path]) == before


@pytest.mark.parametrize('option', [['--temperature', '-1'],
                                    ['--temperature', 'nan'],
                                    ['--seed', 'x']])
def test_bad_options_are_usage_errors(tmp_path, model_path, inputs, option,
                                      capsys):
    assert main(['synthesize', '-m', str(model_path), str(inputs[0]), '-o',
                 str(tmp_path / 'o.wav'), *option]) == 2
    assert 'expected' in capsys.readouterr().err
    assert not (tmp_path / 'o.wav').exists()


def test_a_toy_model_gets_one_warning_line(tmp_path, inputs, capsys):
    toy = export_tiny_vocoder(tmp_path / 'toy.pt',
                              training_summary={'corpus': 'toy'})
    assert main(['synthesize', '-m', str(toy), str(inputs[2]), '-o',
                 str(tmp_path / 'o.wav')]) == 0
    warning, = [line for line in capsys.readouterr().err.splitlines()
                if 'toy' in line]
    assert warning.startswith(f'warning: {toy} was trained on the toy '
                              f'corpus (synthetic voices)')
