"""The padertorch-audio classify, embed and verify commands: their printed
results equal the model applied directly to the file read with soundfile
(and resampled with scipy), one error line per bad file, exit statuses."""
import hashlib
import json
import re

import numpy as np
import pytest
import scipy.signal
import soundfile
import torch

from padertorch_audio.cli import main
from tests.classification.test_files import SPEAKERS, export_tiny_model

@pytest.fixture(scope='module')
def model_path(tmp_path_factory):
    return export_tiny_model(tmp_path_factory.mktemp('model') / 'speakers.pt')


@pytest.fixture
def audio(tmp_path):
    """a.wav (16 kHz mono), wide.wav (44.1 kHz stereo), bad.wav (text)."""
    rng = np.random.default_rng(0)
    a, wide, bad = tmp_path / 'a.wav', tmp_path / 'wide.wav', \
        tmp_path / 'bad.wav'
    soundfile.write(a, 0.3 * rng.standard_normal(8000), 16000,
                    subtype='FLOAT')
    soundfile.write(wide, 0.3 * rng.standard_normal((11025, 2)), 44100,
                    subtype='PCM_16')
    bad.write_text('this is not audio\n' * 20)
    return a, wide, bad


def _model_input(path, channel=0):
    signal, rate = soundfile.read(path, always_2d=True)
    signal = signal[:, channel]
    if rate != 16000:
        signal = scipy.signal.resample_poly(signal, 16000, rate)
    return torch.from_numpy(signal.astype(np.float32))


def _direct(model_path, method, path, channel=0):
    """The reference: the model applied to the file directly."""
    from padertorch_audio.classification import load_model
    with torch.no_grad():
        return getattr(load_model(model_path), method)(
            _model_input(path, channel)).double()


def _posteriors(model_path, path, channel=0):
    return torch.softmax(_direct(model_path, 'classify', path, channel),
                         -1).numpy()


def _cosine(x, y):
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    return float(x @ y / np.linalg.norm(x) / np.linalg.norm(y))


def _errors(stderr):
    return [line for line in stderr.splitlines() if line.startswith('error:')]


def _hashes(paths):
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def test_help(capsys):
    assert main(['--help']) == 0
    out = capsys.readouterr().out
    for command in ('separate', 'classify', 'embed', 'verify'):
        assert command in out
    for command, options in (
            ('classify', ('--model', '--top', '--json', '--channel',
                          '--mixdown', '--trusted', 'exit status')),
            ('embed', ('--model', '--output', 'embeddings', 'paths',
                       'exit status')),
            ('verify', ('--model', '--threshold', '--json', 'exit status'))):
        assert main([command, '--help']) == 0
        help_text = capsys.readouterr().out
        for option in options:
            assert option in help_text, (command, option)
    assert main(['classify', 'x.wav']) == 2  # no --model
    assert main(['classify', '-m', 'm.pt', 'x.wav', '--top', '0']) == 2
    assert main(['verify', '-m', 'm.pt', 'x.wav']) == 2  # one file
    assert main(['verify', '-m', 'm.pt', 'a', 'b', '--threshold', 'nan']) == 2
    assert main(['embed', '-m', 'm.pt', 'x.wav']) == 2  # no -o
    capsys.readouterr()


def test_classify_prints_the_top_speakers_of_each_good_file(
        model_path, audio, capsys):
    a, wide, bad = audio
    status = main(['classify', '-m', str(model_path), str(a), str(bad),
                   str(wide), '--top', '2'])
    out, err = capsys.readouterr()
    assert status == 1
    assert _errors(err) == [f'error: {bad}: not readable as audio (Error '
                            f"opening '{bad}': Format not recognised.)."]
    assert f'note: {wide}: 2 channels, using channel 0' in err
    assert err.splitlines()[-1] == '1 of 3 files failed'
    lines = out.splitlines()
    assert len(lines) == 2
    for line, path in zip(lines, (a, wide)):
        posteriors = _posteriors(model_path, path)
        best, second = np.argsort(-posteriors)[:2]
        assert line == (
            f'{path}: {SPEAKERS[best]} (p={posteriors[best]:.3f})  top-2: '
            f'{SPEAKERS[best]} {posteriors[best]:.3f}, '
            f'{SPEAKERS[second]} {posteriors[second]:.3f}')


def test_classify_json_lines(model_path, audio, capsys):
    a, wide, _ = audio
    assert main(['classify', '-m', str(model_path), '--json', str(a),
                 str(wide), '--channel', '1', '--top', '9']) == 1
    out, err = capsys.readouterr()
    assert _errors(err) == [f'error: {a}: --channel 1 does not exist, the '
                            f'file has 1 channel']
    record, = map(json.loads, out.splitlines())
    posteriors = _posteriors(model_path, wide, channel=1)
    order = np.argsort(-posteriors)
    assert record['path'] == str(wide)
    assert record['speaker'] == SPEAKERS[order[0]]
    assert record['probability'] == pytest.approx(posteriors[order[0]],
                                                  rel=1e-5)
    assert [entry['speaker'] for entry in record['top']] == [
        SPEAKERS[index] for index in order]  # all 3 of the 9 asked for
    np.testing.assert_allclose([entry['probability']
                                for entry in record['top']],
                               posteriors[order], rtol=1e-5)


def test_embed_writes_the_embeddings_of_the_good_files(
        tmp_path, model_path, audio, capsys):
    a, wide, bad = audio
    output = tmp_path / 'out' / 'embeddings.npz'
    status = main(['embed', '-m', str(model_path), str(wide), str(bad),
                   str(a), '-o', str(output)])
    out, err = capsys.readouterr()
    assert status == 1
    assert out.splitlines() == [str(output)]
    assert len(_errors(err)) == 1 and _errors(err)[0].startswith(
        f'error: {bad}: ')
    with np.load(output, allow_pickle=False) as data:
        assert data['paths'].tolist() == [str(wide), str(a)]
        embeddings = data['embeddings']
    for row, path in zip(embeddings, (wide, a)):
        np.testing.assert_allclose(row, _direct(model_path, 'embed', path),
                                   rtol=1e-4, atol=1e-6)


def test_embed_refuses_an_output_that_is_an_input(tmp_path, model_path,
                                                  audio, capsys):
    a, wide, _ = audio
    before = _hashes([a, wide, model_path])
    for output in (a, model_path):
        assert main(['embed', '-m', str(model_path), str(a), str(wide),
                     '-o', str(output)]) == 2
        out, err = capsys.readouterr()
        assert out == ''
        assert err.startswith(f'error: {output}: is ')
        assert 'would overwrite it' in err
    assert _hashes([a, wide, model_path]) == before


@pytest.mark.parametrize('kind', ['missing', 'separation', 'garbage'])
def test_a_model_that_cannot_be_used_is_exit_2_and_writes_nothing(
        tmp_path, audio, capsys, kind):
    model = tmp_path / f'{kind}.pt'
    if kind == 'separation':
        from padertorch_audio.separation import TINY_DPRNN, TasNet
        from padertorch_audio.separation import export_model
        export_model(TasNet.from_config(TINY_DPRNN), model, sample_rate=8000,
                     num_speakers=2)
    elif kind == 'garbage':
        model.write_bytes(bytes(range(256)) * 4)
    output = tmp_path / 'embeddings.npz'
    for command in (['classify'], ['embed', '-o', str(output)],
                    ['verify', str(audio[1])]):
        assert main([command[0], '-m', str(model), *command[1:],
                     str(audio[0])]) == 2
        out, err = capsys.readouterr()
        assert out == '' and len(err.splitlines()) == 1
        assert err.startswith(f'error: {model}: ')
        if kind == 'separation':
            assert 'is a separation model' in err
    assert not output.exists()


def test_verify_prints_the_cosine_score_and_the_decision(
        tmp_path, model_path, audio, capsys):
    a, wide, bad = audio
    score = _cosine(_direct(model_path, 'embed', a),
                    _direct(model_path, 'embed', wide))

    def verify(*options, model=model_path):
        status = main(['verify', '-m', str(model), str(a), str(wide),
                       *options])
        out, err = capsys.readouterr()
        return status, out, err

    status, out, err = verify()
    decision = 'same speaker' if score >= 0.5 else 'different speakers'
    assert status == 0
    assert out == (f"{a} {wide}: score {score:.4f}, threshold 0.5000 (the "
                   f"model's EER threshold): {decision}\n")
    assert f'note: {wide}: 2 channels' in err

    for offset, same in ((-1e-3, True), (1e-3, False)):
        status, out, _ = verify('--json', '--threshold', str(score + offset))
        record = json.loads(out)
        assert status == 0
        assert record['score'] == pytest.approx(score, abs=1e-5)
        assert (record['a'], record['b']) == (str(a), str(wide))
        assert record['threshold_source'] == 'argument'
        assert record['same_speaker'] is same
        status, out, _ = verify('--threshold', str(score + offset))
        assert out.rstrip().endswith('same speaker' if same
                                     else 'different speakers')

    unevaluated = export_tiny_model(tmp_path / 'unevaluated.pt',
                                    eer_threshold=None)
    status, out, _ = verify(model=unevaluated)
    assert status == 0
    assert re.fullmatch(
        rf'{a} {wide}: score -?\d\.\d{{4}}; no decision: the model has no '
        rf'EER threshold, give --threshold T\n', out)
    status, out, _ = verify('--json', model=unevaluated)
    assert json.loads(out)['same_speaker'] is None

    status = main(['verify', '-m', str(model_path), str(a), str(bad)])
    out, err = capsys.readouterr()
    assert (status, out) == (1, '')
    assert len(_errors(err)) == 1 and _errors(err)[0].startswith(
        f'error: {bad}: ')


def test_a_toy_model_gets_one_warning_line(tmp_path, audio, capsys):
    toy = export_tiny_model(tmp_path / 'toy.pt',
                            training_summary={'corpus': 'toy'})
    for command in (['classify', str(audio[0])],
                    ['verify', str(audio[0]), str(audio[0])]):
        assert main([*command, '-m', str(toy)]) == 0
        warning, = [line for line in capsys.readouterr().err.splitlines()
                    if 'toy' in line]
        assert warning.startswith(f'warning: {toy} was trained on the toy '
                                  f'corpus (synthetic voices)')
