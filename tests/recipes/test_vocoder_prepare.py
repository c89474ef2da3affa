"""The vocoder recipe's stage 0 on a folder of audio files (--wav_dir: bad,
empty and duplicate files skipped and listed, an 8 kHz file kept and
resampled while loading, the split by a hash of the ids) and on
LibriSpeech (datasets by subset)."""
import json
import os
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import scipy.signal
import soundfile

from padertorch_audio.data.database import DatabaseError

REPO = Path(__file__).parents[2]


@pytest.fixture
def folder(tmp_path):
    """Six usable files (nested, wav and flac, one at 8 kHz) and four that
    are not (text, empty, a second 'a', not audio by name)."""
    root = tmp_path / 'corpus'
    (root / 'wavs' / 'deep').mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in ('a.wav', 'b.flac', 'wavs/c.wav', 'wavs/d.WAV',
                 'wavs/deep/e.flac'):
        soundfile.write(root / name, 0.1 * rng.standard_normal(1600), 16000)
    soundfile.write(root / 'wavs' / 'narrow.wav',
                    0.1 * rng.standard_normal(800), 8000)
    (root / 'wavs' / 'broken.wav').write_text('not audio\n')
    (root / 'wavs' / 'empty.flac').write_bytes(b'')
    soundfile.write(root / 'a.WAV', np.zeros(100), 16000)  # a second 'a'
    (root / 'notes.txt').write_text('ignored\n')
    return root


def _stage0(*args):
    return subprocess.run(
        ['bash', str(REPO / 'recipes' / 'vocoder' / 'run.sh'),
         '--stop_stage', '0', *args], cwd=REPO,
        env={**os.environ, 'PYTHON': sys.executable}, capture_output=True,
        text=True, timeout=300)


def test_wav_dir_through_run_sh(tmp_path, folder):
    database_json = tmp_path / 'db.json'
    result = _stage0('--wav_dir', str(folder),
                     f'database_json={database_json}', 'split=[0.5,0.25,0.25]')
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'TOY' not in result.stdout
    datasets = json.loads(database_json.read_text())['datasets']
    ids = sorted(example_id for dataset in datasets.values()
                 for example_id in dataset)
    assert ids == ['a', 'b', 'wavs/c', 'wavs/d', 'wavs/deep/e', 'wavs/narrow']
    # by hand: ordered by crc32, the first 2 (0.25 * 6 rounded) test, the
    # next 2 validation, the rest train
    ordered = sorted(ids, key=lambda i: (zlib.crc32(i.encode()), i))
    assert sorted(datasets['test']) == sorted(ordered[:2])
    assert sorted(datasets['validation']) == sorted(ordered[2:4])
    assert sorted(datasets['train']) == sorted(ordered[4:])
    examples = {i: e for dataset in datasets.values() for i, e in
                dataset.items()}
    assert examples['wavs/narrow']['sample_rate'] == 8000
    assert examples['wavs/narrow']['num_samples'] == 800
    assert examples['wavs/d']['audio_path']['observation'] \
        == str(folder / 'wavs' / 'd.WAV')
    # the skipped files, one line each
    for name in ('wavs/broken.wav', 'wavs/empty.flac', 'a.wav'):
        line, = [line for line in result.stdout.splitlines()
                 if line.strip().startswith(str(folder / name))]
        assert line.split(': ', 1)[1]
    assert f"the example id 'a' is also that of {folder / 'a.WAV'}" \
        in result.stdout
    assert f'{folder / "wavs" / "empty.flac"}: empty file (0 bytes)' \
        in result.stdout
    assert f'{folder / "wavs" / "broken.wav"}: not readable as audio' \
        in result.stdout
    assert 'notes.txt' not in result.stdout
    assert 'sample rates: 8000, 16000 Hz' in result.stdout


def test_an_8_khz_file_is_resampled_while_loading(folder):
    from padertorch_audio.vocoder import TINY_WAVENET, WaveNet
    from recipes.vocoder.data import load_audio, load_segment
    example = {'example_id': 'wavs/narrow', 'audio_path': {
        'observation': str(folder / 'wavs' / 'narrow.wav')}}
    audio = load_audio(example, 16000)
    source, _ = soundfile.read(folder / 'wavs' / 'narrow.wav')
    reference = scipy.signal.resample_poly(source, 2, 1)
    assert audio.dtype == np.float32 and audio.shape == (1600,)
    np.testing.assert_allclose(audio, reference, atol=1e-4)
    model = WaveNet.from_config(TINY_WAVENET)
    segment = load_segment(example, model, 320, rng=None)
    again = load_segment(example, model, 320, rng=None)
    assert segment['audio'].shape == (320,) and segment['num_samples'] == 320
    np.testing.assert_array_equal(segment['audio'], again['audio'])
    start = int(np.flatnonzero(np.all(np.lib.stride_tricks.
                                      sliding_window_view(audio, 320)
                                      == segment['audio'], axis=1))[0])
    assert start % model.shift == 0


def test_too_few_usable_files_write_nothing(tmp_path):
    from recipes.vocoder.prepare import prepare_folder
    root = tmp_path / 'few'
    root.mkdir()
    soundfile.write(root / 'a.wav', np.zeros(100), 16000)
    (root / 'b.wav').write_text('text')
    with pytest.raises(DatabaseError, match='1 usable file') as error:
        prepare_folder(root, tmp_path / 'db.json', log=None)
    assert 'b.wav' in str(error.value)
    assert not (tmp_path / 'db.json').exists()
    with pytest.raises(FileNotFoundError, match='is not a folder'):
        prepare_folder(tmp_path / 'nothing', tmp_path / 'db.json', log=None)


def test_split_ids_does_not_depend_on_the_order():
    from recipes.vocoder.prepare import split_ids
    ids = [f'LJ{i:03d}' for i in range(50)]
    parts = split_ids(ids, (0.8, 0.1, 0.1))
    assert parts == split_ids(ids[::-1], (0.8, 0.1, 0.1))
    assert [len(parts[name]) for name in ('train', 'validation', 'test')] \
        == [40, 5, 5]
    assert sorted(sum(parts.values(), [])) == ids
    # by hand: the test set holds the ids of the smallest crc32
    more = ids + [f'LJ{i:03d}' for i in range(50, 60)]
    crc = sorted(more, key=lambda i: zlib.crc32(i.encode()))
    assert split_ids(more, (0.8, 0.1, 0.1))['test'] == sorted(crc[:6])
    with pytest.raises(ValueError, match='split must be three fractions'):
        split_ids(ids, (0.8, 0.3, 0.1))


def test_librispeech_by_subset_and_overlaps_refused(tmp_path):
    from padertorch_audio.toy import create_librispeech
    from recipes.vocoder.prepare import prepare_librispeech
    create_librispeech(tmp_path / 'corpus', size='tiny')
    lines = []
    summary = prepare_librispeech(tmp_path / 'corpus', tmp_path / 'db.json',
                                  'train-clean-100', log=lines.append)
    assert summary['counts'] == {'train': 20, 'validation': 4, 'test': 4}
    datasets = json.loads((tmp_path / 'db.json').read_text())['datasets']
    subsets = {name: {example['subset'] for example in dataset.values()}
               for name, dataset in datasets.items()}
    assert subsets == {'train': {'train-clean-100'},
                       'validation': {'dev-clean'}, 'test': {'test-clean'}}
    assert any(line.startswith('wrote ') for line in lines)
    with pytest.raises(ValueError, match='must be different subsets'):
        prepare_librispeech(tmp_path / 'corpus', tmp_path / 'other.json',
                            ['train-clean-100', 'test-clean'])
    assert not (tmp_path / 'other.json').exists()
