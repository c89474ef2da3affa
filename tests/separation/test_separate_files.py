"""separate_files: per file what the library does on the read signal, one
error per bad file, no overwritten inputs, one warning for a toy model."""
import warnings

import numpy as np
import pytest
import soundfile
import torch

from padertorch_audio.separation import (
    TINY_DPRNN, SeparateFilesError, TasNet, ToyModelWarning, export_model,
    load_model, separate, separate_files)


def _export(path, **summaries):
    torch.manual_seed(0)
    return export_model(TasNet.from_config(TINY_DPRNN), path,
                        sample_rate=8000, num_speakers=2, **summaries)


@pytest.fixture(scope='module')
def model_file(tmp_path_factory):
    return _export(tmp_path_factory.mktemp('model') / 'model.pt')


def _write(path, signal, rate=8000, subtype='FLOAT'):
    soundfile.write(path, signal, rate, subtype=subtype)
    return path


def test_outputs_are_the_separation_of_the_read_signal(tmp_path, model_file):
    rng = np.random.default_rng(0)
    mono = _write(tmp_path / 'mono.wav', 0.3 * rng.standard_normal(3000))
    stereo = _write(tmp_path / 'stereo.wav',
                    0.3 * rng.standard_normal((2000, 2)))
    bad = tmp_path / 'bad.wav'
    bad.write_text('no audio')
    seen = []
    model = load_model(model_file)
    results = separate_files(model, [mono, bad, stereo], tmp_path / 'out',
                             on_file=seen.append)
    assert seen == results
    assert [r.path for r in results] == [str(mono), str(bad), str(stereo)]
    assert results[1].outputs == [] and results[1].error.startswith(
        f'{bad}: not readable as audio')
    assert results[2].notes == [f'{stereo}: 2 channels, using channel 0 '
                                f'(choose with --channel N or --mixdown)']
    for result in (results[0], results[2]):
        signal, _ = soundfile.read(result.path, dtype='float32')
        if signal.ndim == 2:
            signal = signal[:, 0]
        expected = separate(model, signal)  # the reference: called directly
        assert result.error is None
        assert [p.name for p in result.outputs] == [
            f'{result.path.split("/")[-1][:-4]}_s{k}.wav' for k in (1, 2)]
        for output, reference in zip(result.outputs, expected):
            np.testing.assert_allclose(soundfile.read(output)[0], reference,
                                       atol=1e-6)


def test_a_model_file_is_loaded_and_never_overwritten(tmp_path, model_file):
    wav = _write(tmp_path / 'x.wav', np.zeros(800))
    results = separate_files(model_file, [wav], tmp_path / 'out')
    reference = separate(load_model(model_file), np.zeros(800, np.float32))
    np.testing.assert_allclose(soundfile.read(results[0].outputs[0])[0],
                               reference[0], atol=1e-6)

    # An input (or the model file) among the outputs: nothing is written.
    named_like_output = _write(tmp_path / 'x_s2.wav', np.ones(800) / 2)
    with pytest.raises(SeparateFilesError, match='would overwrite'):
        separate_files(model_file, [wav, named_like_output], tmp_path)
    assert soundfile.read(named_like_output)[0][0] == 0.5
    model_named = tmp_path / 'm_s1.wav'
    model_named.write_bytes(model_file.read_bytes())
    with pytest.raises(SeparateFilesError,
                       match=f'^{model_named}: writing'):
        separate_files(model_named, [_write(tmp_path / 'm.wav',
                                            np.zeros(800))], tmp_path)
    with pytest.raises(SeparateFilesError, match='no such model file'):
        separate_files(tmp_path / 'missing.pt', [wav], tmp_path / 'new')
    assert not (tmp_path / 'new').exists()


def test_a_toy_model_warns_once(tmp_path, model_file):
    toy = _export(tmp_path / 'toy.pt',
                  training_summary={'corpus': 'toy', 'best_value': 3.0})
    inputs = [_write(tmp_path / f'{name}.wav', np.zeros(800))
              for name in 'ab']
    with pytest.warns(ToyModelWarning, match='toy corpus') as record:
        separate_files(toy, inputs, tmp_path / 'out')
    assert len(record) == 1 and str(toy) in str(record[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # none for a model of real data
        separate_files(model_file, inputs, tmp_path / 'out')
