"""classify_files, embed_files, verify_pair: per file what the model does on
the file read with soundfile and resampled with scipy, one error per bad
file, no overwritten inputs, one warning for a toy model."""
import warnings

import numpy as np
import pytest
import scipy.signal
import soundfile
import torch

from padertorch_audio.classification import (
    TINY_SPEAKER_MODEL, SpeakerClassifier, export_model, load_model)
from padertorch_audio.classification.files import (
    SpeakerFilesError, classify_files, embed_files, read_embeddings,
    verify_pair)
from padertorch_audio.inference import ToyModelWarning

SPEAKERS = ['103', '1034', '19']


def export_tiny_model(path, eer_threshold=0.5, **summaries):
    """A tiny untrained speaker model (16 kHz, SPEAKERS), exported."""
    torch.manual_seed(0)
    return export_model(SpeakerClassifier.from_config(TINY_SPEAKER_MODEL),
                        path, sample_rate=16000, speakers=SPEAKERS,
                        eer_threshold=eer_threshold, **summaries)


@pytest.fixture(scope='module')
def model_file(tmp_path_factory):
    return export_tiny_model(tmp_path_factory.mktemp('model') / 'speakers.pt')


@pytest.fixture(scope='module')
def audio(tmp_path_factory):
    """A 16 kHz mono file, a 44.1 kHz stereo file and a text file."""
    directory = tmp_path_factory.mktemp('audio')
    rng = np.random.default_rng(0)
    mono, stereo = directory / 'mono.wav', directory / 'stereo.flac'
    soundfile.write(mono, 0.3 * rng.standard_normal(12000), 16000,
                    subtype='FLOAT')
    soundfile.write(stereo, 0.3 * rng.standard_normal((22050, 2)), 44100,
                    subtype='PCM_24')
    text = directory / 'notes.wav'
    text.write_text('no audio\n')
    return mono, stereo, text


def _reference_signal(path, channel=0, mixdown=False):
    """The model's input: soundfile, then scipy's polyphase resampling."""
    signal, rate = soundfile.read(path, dtype='float32', always_2d=True)
    signal = signal.mean(1) if mixdown else signal[:, channel]
    if rate != 16000:
        signal = scipy.signal.resample_poly(signal.astype(np.float64),
                                            16000, rate)
    return torch.from_numpy(signal.astype(np.float32))


def _reference(model_file, method, path, **channels):
    model = load_model(model_file)
    with torch.no_grad():
        return getattr(model, method)(_reference_signal(path, **channels))


def test_classify_reports_the_top_posteriors(model_file, audio):
    mono, stereo, text = audio
    seen = []
    results = classify_files(model_file, [mono, text, stereo], top=2,
                             on_file=seen.append)
    assert seen == results
    assert [r.path for r in results] == [str(mono), str(text), str(stereo)]
    assert results[1].error.startswith(f'{text}: not readable as audio')
    assert results[1].speaker is None and results[1].top == []
    assert results[2].notes == [f'{stereo}: 2 channels, using channel 0 '
                                f'(choose with --channel N or --mixdown)']
    for result in (results[0], results[2]):
        posteriors = torch.softmax(
            _reference(model_file, 'classify', result.path).double(),
            -1).numpy()
        order = np.argsort(-posteriors)[:2]
        assert [speaker for speaker, _ in result.top] == [
            SPEAKERS[index] for index in order]
        np.testing.assert_allclose([p for _, p in result.top],
                                   posteriors[order], rtol=1e-5)
        assert (result.speaker, result.probability) == result.top[0]
    # More than the speakers: all of them, summing to one.
    result, = classify_files(model_file, [mono], top=10)
    assert sorted(s for s, _ in result.top) == sorted(SPEAKERS)
    assert sum(p for _, p in result.top) == pytest.approx(1)


def test_embeddings_file_holds_the_embedding_of_each_good_file(
        tmp_path, model_file, audio):
    mono, stereo, text = audio
    output = tmp_path / 'new' / 'embeddings.npz'
    results = embed_files(model_file, [stereo, text, mono], output,
                          mixdown=True)
    assert [r.error is None for r in results] == [True, False, True]
    assert results[0].notes == [f'{stereo}: 2 channels, averaged '
                                f'(--mixdown)']
    with np.load(output, allow_pickle=False) as data:  # no pickle needed
        assert sorted(data.files) == ['embeddings', 'paths']
        paths, embeddings = data['paths'].tolist(), data['embeddings']
    assert paths == [str(stereo), str(mono)]
    assert embeddings.dtype == np.float32 and embeddings.shape == (2, 16)
    np.testing.assert_allclose(
        embeddings[0], _reference(model_file, 'embed', stereo, mixdown=True),
        rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(
        embeddings[1], _reference(model_file, 'embed', mono), rtol=1e-4,
        atol=1e-6)
    assert read_embeddings(output)[0] == paths
    other = tmp_path / 'other.npz'
    np.savez(other, vectors=embeddings)
    with pytest.raises(ValueError, match=f'^{other}: not an embeddings '
                                         f'file.*found .\'vectors\''):
        read_embeddings(other)
    assert [p.name for p in output.parent.iterdir()] == [
        'embeddings.npz']  # no temporary file left

    # No file succeeds: nothing is written.
    results = embed_files(model_file, [text], tmp_path / 'none.npz')
    assert results[0].error and not (tmp_path / 'none.npz').exists()


def test_verify_scores_with_the_cosine_and_decides_at_the_threshold(
        model_file, audio):
    mono, stereo, _ = audio
    first = _reference(model_file, 'embed', mono).double().numpy()
    second = _reference(model_file, 'embed', stereo).double().numpy()
    cosine = first @ second / np.linalg.norm(first) / np.linalg.norm(second)

    verification = verify_pair(model_file, mono, stereo)
    assert verification.score == pytest.approx(cosine, abs=1e-5)
    assert (verification.threshold, verification.threshold_source) == (
        0.5, 'model')
    assert verification.same_speaker == (cosine >= 0.5)
    for offset, same in ((-1e-3, True), (1e-3, False)):
        verification = verify_pair(model_file, mono, stereo,
                                   threshold=cosine + offset)
        assert verification.threshold_source == 'argument'
        assert verification.same_speaker is same


def test_verify_without_threshold_or_with_a_bad_file(tmp_path, audio):
    mono, stereo, text = audio
    unevaluated = export_tiny_model(tmp_path / 'unevaluated.pt',
                                    eer_threshold=None)
    verification = verify_pair(unevaluated, mono, stereo)
    assert -1 <= verification.score <= 1
    assert verification.threshold is None
    assert verification.same_speaker is None

    verification = verify_pair(unevaluated, mono, text)
    assert verification.score is None
    assert len(verification.errors) == 1
    assert verification.errors[0].startswith(f'{text}: ')
    with pytest.raises(ValueError, match='finite'):
        verify_pair(unevaluated, mono, stereo, threshold=float('nan'))


def test_outputs_never_overwrite_an_input_or_the_model(tmp_path, model_file,
                                                       audio):
    mono = audio[0]
    copy = tmp_path / 'model.pt'
    copy.write_bytes(model_file.read_bytes())
    before = mono.read_bytes(), copy.read_bytes()
    with pytest.raises(SpeakerFilesError, match=f'^{mono}: is an input'):
        embed_files(copy, [mono], mono)
    with pytest.raises(SpeakerFilesError, match='is the model file'):
        embed_files(copy, [mono], tmp_path / '.' / 'model.pt')
    with pytest.raises(SpeakerFilesError, match='is a directory'):
        embed_files(copy, [mono], tmp_path)
    assert (mono.read_bytes(), copy.read_bytes()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ['model.pt']


def test_models_that_cannot_be_used_are_one_error_naming_the_file(
        tmp_path, audio):
    from padertorch_audio.separation import TINY_DPRNN, TasNet
    from padertorch_audio.separation import export_model as export_separation
    separation = export_separation(TasNet.from_config(TINY_DPRNN),
                                   tmp_path / 'dprnn.pt', sample_rate=8000,
                                   num_speakers=2)
    garbage = tmp_path / 'garbage.pt'
    garbage.write_bytes(b'PK\x03\x04 not really a zip file')
    for path, message in (
            (tmp_path / 'missing.pt', 'no such model file'),
            (separation, 'is a separation model'),
            (garbage, 'not a model file'),
            (tmp_path, 'is a directory')):
        with pytest.raises(SpeakerFilesError, match=message) as error:
            classify_files(path, [audio[0]])
        assert str(error.value).startswith(f'{path}: ')


def test_a_toy_model_warns_once_and_a_model_object_keeps_its_mode(
        tmp_path, model_file, audio):
    toy = export_tiny_model(tmp_path / 'toy.pt',
                            training_summary={'corpus': 'toy'})
    with pytest.warns(ToyModelWarning, match='toy corpus') as record:
        embed_files(toy, audio[:2])
    assert len(record) == 1 and str(toy) in str(record[0].message)

    model = load_model(model_file).train()
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # none for a model of real data
        result, = classify_files(model, [audio[0]])
    assert model.training  # evaluated in eval mode, handed back as it was
    expected = torch.softmax(
        _reference(model_file, 'classify', audio[0]).double(), -1).max()
    assert result.probability == pytest.approx(float(expected), rel=1e-5)
