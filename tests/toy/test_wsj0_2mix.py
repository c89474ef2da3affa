import hashlib
import itertools
import json
import os
import re

import numpy as np
import pytest
import soundfile

from padertorch_audio.toy import ToyCorpusError, create, create_wsj0_2mix
from padertorch_audio.toy import common
from padertorch_audio.toy.wsj0_2mix import SIZES

UTTERANCE = r'[0-9a-z]{3}c[0-9]{4}'  # WSJ: speaker (3), type, session, index
GAIN = r'-?[0-9]+(\.[0-9]+)?'
NAME = {
    k: re.compile('_'.join([f'({UTTERANCE})_({GAIN})'] * k) + r'\.wav')
    for k in (2, 3)}
LAYOUTS = list(itertools.product((2, 3), ('8k', '16k'), ('min', 'max')))
DATASETS = ('tr', 'cv', 'tt')


def file_hashes(root):
    """{relative path: sha256} of every file under root (markers too)."""
    hashes = {}
    for directory, _, files in os.walk(root):
        for name in files:
            path = os.path.join(directory, name)
            with open(path, 'rb') as f:
                hashes[os.path.relpath(path, root)] = \
                    hashlib.sha256(f.read()).hexdigest()
    return hashes


def snapshot(root):
    """Names and modification times of everything under root."""
    entries = {}
    for directory, directories, files in os.walk(root):
        for name in directories + files:
            path = os.path.join(directory, name)
            entries[os.path.relpath(path, root)] = os.stat(path).st_mtime_ns
    entries['.'] = os.stat(root).st_mtime_ns
    return entries


def parse(name):
    """'<utt1>_<g1>_<utt2>_<g2>[_<utt3>_<g3>].wav' -> utterances, gains."""
    parts = name[:-len('.wav')].split('_')
    return parts[0::2], [float(gain) for gain in parts[1::2]]


def read(path):
    signal, _ = soundfile.read(path, dtype='int16')
    return signal


@pytest.fixture(scope='module')
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp('toy') / 'data'
    corpus = create_wsj0_2mix(root, size='tiny', seed=0, processes=1)
    assert corpus == root / 'wsj0-mix'
    return root


def layout_dir(root, num_speakers, rate, mode, dataset):
    return root / 'wsj0-mix' / f'{num_speakers}speakers' / f'wav{rate}' / \
        mode / dataset


def mixture_names(root, num_speakers, rate, mode, dataset):
    return sorted(os.listdir(
        layout_dir(root, num_speakers, rate, mode, dataset) / 'mix'))


# --- layout ----------------------------------------------------------------

def test_layout_has_every_directory_and_nothing_else(root):
    expected = {
        f'wsj0-mix/{k}speakers/wav{rate}/{mode}/{dataset}/{folder}'
        for k, rate, mode in LAYOUTS for dataset in DATASETS
        for folder in ['mix'] + [f's{i + 1}' for i in range(k)]}
    leaves = {os.path.relpath(directory, root)
              for directory, directories, _ in os.walk(root)
              if not directories}
    assert leaves == expected
    assert sorted(os.listdir(root)) == [
        '.padertorch_audio_toy.json', 'wsj0-mix']


@pytest.mark.parametrize('num_speakers, rate, mode', LAYOUTS)
def test_names_and_counts_follow_the_real_corpus(root, num_speakers, rate,
                                                 mode):
    for dataset, count in zip(DATASETS, SIZES['tiny'].mixtures[num_speakers]):
        directory = layout_dir(root, num_speakers, rate, mode, dataset)
        names = mixture_names(root, num_speakers, rate, mode, dataset)
        assert len(names) == count
        for name in names:
            assert NAME[num_speakers].fullmatch(name), name
        for k in range(num_speakers):
            assert sorted(os.listdir(directory / f's{k + 1}')) == names
        # the same mixtures in every layout of this number of speakers
        assert names == mixture_names(root, num_speakers, '8k', 'min',
                                      dataset)


def test_files_are_mono_16_bit_wav_at_the_rate_of_their_folder(root):
    for num_speakers, rate, mode in LAYOUTS:
        directory = layout_dir(root, num_speakers, rate, mode, 'cv')
        for folder in ['mix', 's1']:
            for name in os.listdir(directory / folder):
                info = soundfile.info(directory / folder / name)
                assert (info.format, info.subtype, info.channels,
                        info.samplerate) == (
                    'WAV', 'PCM_16', 1, {'8k': 8000, '16k': 16000}[rate])


# --- signals ---------------------------------------------------------------

@pytest.mark.parametrize('num_speakers, rate, mode', LAYOUTS)
def test_the_mixture_is_the_sum_of_the_sources(root, num_speakers, rate,
                                               mode):
    for dataset in DATASETS:
        directory = layout_dir(root, num_speakers, rate, mode, dataset)
        for name in mixture_names(root, num_speakers, rate, mode, dataset):
            mix = read(directory / 'mix' / name).astype(np.int64)
            sources = [read(directory / f's{k + 1}' / name)
                       for k in range(num_speakers)]
            assert all(len(s) == len(mix) for s in sources)
            # exact in the files; the brief allows 16-bit quantisation
            np.testing.assert_allclose(
                mix, np.sum(sources, axis=0), rtol=0, atol=num_speakers / 2)
            np.testing.assert_array_equal(mix, np.sum(sources, axis=0))
            # no clipping: everything scaled to a peak of 0.9 (in max)
            peak = max(np.abs(mix).max(), *(np.abs(s).max() for s in sources))
            assert peak <= 0.9 * 32768 + num_speakers
            if mode == 'max':
                assert peak == pytest.approx(0.9 * 32768, abs=num_speakers)


def level_db(signal):
    """Mean power (dB) over the utterance, without the zero padding."""
    signal = np.trim_zeros(signal.astype(np.float64) / 32768, 'b')
    return 10 * np.log10(np.mean(signal ** 2))


@pytest.mark.parametrize('num_speakers', [2, 3])
@pytest.mark.parametrize('rate', ['8k', '16k'])
def test_relative_levels_are_the_gains_of_the_names(root, num_speakers, rate):
    for dataset in DATASETS:
        directory = layout_dir(root, num_speakers, rate, 'max', dataset)
        for name in mixture_names(root, num_speakers, rate, 'max', dataset):
            _, gains = parse(name)
            assert gains[1] == -gains[0] and 0 <= gains[0] <= 2.5
            assert all(-2.5 <= gain <= 2.5 for gain in gains)
            levels = [level_db(read(directory / f's{k + 1}' / name))
                      for k in range(num_speakers)]
            for k in range(1, num_speakers):
                assert levels[0] - levels[k] == pytest.approx(
                    gains[0] - gains[k], abs=0.1), (name, levels)


def test_gains_are_spread_over_the_range(root):
    gains = [parse(name)[1][0]
             for dataset in DATASETS
             for name in mixture_names(root, 2, '8k', 'min', dataset)]
    assert len(set(gains)) == len(gains)
    assert min(gains) < 0.8 and max(gains) > 1.7  # 20 draws from U[0, 2.5]


@pytest.mark.parametrize('rate', ['8k', '16k'])
@pytest.mark.parametrize('num_speakers', [2, 3])
def test_min_truncates_to_the_shortest_and_max_pads_the_longest(
        root, num_speakers, rate):
    for dataset in DATASETS:
        long_dir = layout_dir(root, num_speakers, rate, 'max', dataset)
        short_dir = layout_dir(root, num_speakers, rate, 'min', dataset)
        for name in mixture_names(root, num_speakers, rate, 'max', dataset):
            for folder in ['mix'] + [f's{k + 1}' for k in range(num_speakers)]:
                long = read(long_dir / folder / name)
                short = read(short_dir / folder / name)
                # min is max cut short: the same samples and scale
                np.testing.assert_array_equal(short, long[:len(short)])
            sources = [read(long_dir / f's{k + 1}' / name)
                       for k in range(num_speakers)]
            lengths = [len(np.trim_zeros(s, 'b')) for s in sources]
            if rate == '16k':  # utterances end on a sample above -60 dB
                assert max(lengths) == len(sources[0])
                assert min(lengths) == len(short)
            else:  # resampling may end on a sample that rounds to 0
                assert len(sources[0]) - 2 <= max(lengths) <= len(sources[0])
                assert len(short) - 2 <= min(lengths) <= len(short)
            # zero tail of the shorter sources up to the longest
            for source, length in zip(sources, lengths):
                assert not source[length:].any()


def test_8k_is_half_the_16k_length(root):
    for num_speakers, mode in itertools.product((2, 3), ('min', 'max')):
        for name in mixture_names(root, num_speakers, '8k', mode, 'tt'):
            length = {rate: soundfile.info(layout_dir(
                root, num_speakers, rate, mode, 'tt') / 'mix' / name).frames
                for rate in ('8k', '16k')}
            assert length['8k'] == (length['16k'] + 1) // 2


# --- speakers --------------------------------------------------------------

def speakers_of(root, num_speakers, dataset):
    return {utterance[:3]
            for name in mixture_names(root, num_speakers, '8k', 'min', dataset)
            for utterance in parse(name)[0]}


@pytest.mark.parametrize('num_speakers', [2, 3])
def test_test_speakers_do_not_occur_in_training_or_validation(
        root, num_speakers):
    tr, cv, tt = (speakers_of(root, num_speakers, d) for d in DATASETS)
    assert tt and not tt & (tr | cv)
    assert cv <= tr  # tr and cv share their speakers


def test_speakers_of_a_mixture_differ_and_utterances_are_wsj_like(root):
    for num_speakers, dataset in itertools.product((2, 3), DATASETS):
        for name in mixture_names(root, num_speakers, '8k', 'min', dataset):
            utterances, _ = parse(name)
            assert len({u[:3] for u in utterances}) == num_speakers
            assert all(re.fullmatch(UTTERANCE, u) for u in utterances)


# --- determinism -----------------------------------------------------------

def test_same_seed_same_bytes_whatever_the_number_of_processes(root, tmp_path):
    other = tmp_path / 'again'
    create_wsj0_2mix(other, size='tiny', seed=0, processes=2)
    assert file_hashes(other) == file_hashes(root)


def test_another_seed_gives_another_corpus(root, tmp_path):
    other = tmp_path / 'seed1'
    create_wsj0_2mix(other, size='tiny', seed=1, processes=2)
    hashes, reference = file_hashes(other), file_hashes(root)
    assert len(hashes) == len(reference)
    assert not set(hashes.values()) & set(reference.values())


def test_the_marker_records_parameters_and_checksum(root):
    marker = json.loads((root / '.padertorch_audio_toy.json').read_text())
    hashes = file_hashes(root)
    del hashes['.padertorch_audio_toy.json']
    listing = ''.join(f'{hashes[name]}  {name}\n' for name in sorted(hashes))
    assert marker == {
        'corpus': 'wsj0_2mix', 'size': 'tiny', 'seed': 0,
        'version': common.VERSION, 'num_files': 400,
        'sha256': hashlib.sha256(listing.encode()).hexdigest()}


# --- re-running and refusing ---------------------------------------------

def test_running_again_writes_nothing(root):
    before = snapshot(root)
    assert create_wsj0_2mix(root, size='tiny', seed=0) == root / 'wsj0-mix'
    assert snapshot(root) == before


@pytest.mark.parametrize('call, message', [
    (lambda root: create_wsj0_2mix(root, size='tiny', seed=1),
     r"already holds the toy corpus wsj0_2mix \(size='tiny', seed=0"),
    (lambda root: create_wsj0_2mix(root, size='small', seed=0),
     r"not wsj0_2mix \(size='small'"),
    (lambda root: create('librispeech', root, size='tiny'),
     r'already holds the toy corpus wsj0_2mix'),
])
def test_other_parameters_are_refused_untouched(root, call, message):
    before = snapshot(root)
    with pytest.raises(ToyCorpusError, match=message):
        call(root)
    assert snapshot(root) == before


def test_a_directory_with_other_files_is_refused_untouched(tmp_path):
    (tmp_path / 'notes.txt').write_text('mine')
    before = snapshot(tmp_path)
    with pytest.raises(ToyCorpusError, match='not empty .*notes.txt'):
        create_wsj0_2mix(tmp_path, size='tiny')
    assert snapshot(tmp_path) == before
    assert (tmp_path / 'notes.txt').read_text() == 'mine'


def test_an_unwritable_root_is_refused(tmp_path):
    (tmp_path / 'file').write_text('')
    with pytest.raises(NotADirectoryError, match='is a file'):
        create_wsj0_2mix(tmp_path / 'file' / 'corpus', size='tiny')
    assert os.listdir(tmp_path) == ['file']


@pytest.mark.parametrize('arguments, message', [
    (dict(size='huge'), "'huge'.*'tiny', 'small', 'medium'"),
    (dict(seed=-1), 'seed'),
    (dict(seed=1.5), 'seed'),
    (dict(processes=0), 'processes'),
])
def test_bad_arguments_name_the_valid_ones(tmp_path, arguments, message):
    with pytest.raises(ValueError, match=message):
        create_wsj0_2mix(tmp_path / 'corpus', **arguments)
    assert os.listdir(tmp_path) == []


def test_unknown_corpus_names_the_known_ones(tmp_path):
    with pytest.raises(ValueError, match="'wsj0_2mix', 'librispeech'"):
        create('wsj0_3mix', tmp_path)


def test_an_interrupted_generation_is_completed(root, tmp_path, monkeypatch):
    interrupted = tmp_path / 'interrupted'

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(common, 'finish', crash)
    with pytest.raises(KeyboardInterrupt):
        create_wsj0_2mix(interrupted, size='tiny', processes=1)
    monkeypatch.undo()
    assert not (interrupted / '.padertorch_audio_toy.json').exists()
    # other parameters are refused
    before = snapshot(interrupted)
    with pytest.raises(ToyCorpusError, match='interrupted generation.*Delete'):
        create_wsj0_2mix(interrupted, size='tiny', seed=3)
    assert snapshot(interrupted) == before
    # missing, damaged and half-written files are repaired
    files = sorted(p for p in interrupted.rglob('*.wav'))
    files[0].unlink()
    files[1].write_bytes(files[1].read_bytes()[:100])
    leftover = files[2].parent / f'.{files[2].name}.0123456789ab.tmp'
    leftover.write_bytes(b'half')
    untouched = files[3].stat().st_mtime_ns
    create_wsj0_2mix(interrupted, size='tiny', processes=2)
    assert file_hashes(interrupted) == file_hashes(root)
    assert files[3].stat().st_mtime_ns == untouched
    # a complete corpus that lost a file is refused
    files[0].unlink()
    with pytest.raises(ToyCorpusError, match='399 files instead of the 400'):
        create_wsj0_2mix(interrupted, size='tiny')
