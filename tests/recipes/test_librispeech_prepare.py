"""LibriSpeech stage 0: corpus layout -> database JSON.

The JSON is checked against an independent reading of the corpus
(soundfile.info, the .trans.txt and SPEAKERS.TXT lines read here), the
split against the rule of recipes/librispeech/prepare.py's docstring (counts
computed here with decimal's ROUND_HALF_UP), and every kind of bad input
against its message.
"""
import json
import os
import shutil
import zlib
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np
import pytest
import soundfile

from padertorch_audio.data.database import DatabaseError, load_database
from padertorch_audio.toy.librispeech import create_librispeech
from recipes.librispeech import prepare
from recipes.librispeech.prepare import prepare_database

SPLIT = (0.8, 0.1, 0.1)


@pytest.fixture(scope='module')
def toy(tmp_path_factory):
    """The tiny toy corpus (read-only for the tests)."""
    return create_librispeech(tmp_path_factory.mktemp('toy'), size='tiny',
                              processes=1)


def flac(path, num_samples=16, sample_rate=16000, channels=1):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(num_samples)
    data = rng.integers(-1000, 1000, (num_samples, channels), dtype='int16')
    soundfile.write(path, data if channels > 1 else data[:, 0], sample_rate,
                    format='FLAC')
    return path


def hand_made(root, speakers, speakers_txt=True):
    """``root/LibriSpeech/<subset>/<speaker>/<chapter>/...`` with
    ``speakers = {(subset, speaker, chapter): number of utterances}``; the
    i-th utterance has 16 + i samples and the text ``WORD I``."""
    base = root / 'LibriSpeech'
    for (subset, speaker, chapter), count in speakers.items():
        folder = base / subset / speaker / chapter
        lines = []
        for index in range(count):
            utterance_id = f'{speaker}-{chapter}-{index:04d}'
            flac(folder / f'{utterance_id}.flac', 16 + index)
            lines.append(f'{utterance_id} WORD {index}\n')
        (folder / f'{speaker}-{chapter}.trans.txt').write_text(''.join(lines))
    if speakers_txt:
        rows = sorted({(speaker, subset) for subset, speaker, _ in speakers})
        (base / 'SPEAKERS.TXT').write_text(
            '; comment\n;ID |SEX| SUBSET |MINUTES| NAME\n' + ''.join(
                f'{speaker} | {"FM"[int(speaker) % 2]} | {subset} | 1.0 | '
                f'Reader {speaker}\n' for speaker, subset in rows))
    return base


def read_json(path):
    return json.loads(Path(path).read_text())['datasets']


def all_examples(datasets):
    merged = {}
    for examples in datasets.values():
        assert not set(merged) & set(examples)
        merged.update(examples)
    return merged


def expected_counts(n, split=SPLIT):
    """(train, validation, test) by the documented rule, with decimal."""
    if n < 3:
        return n, 0, 0

    def rounded(fraction):
        return max(1, int((Decimal(repr(fraction)) * n).quantize(
            Decimal(1), rounding=ROUND_HALF_UP)))
    test, validation = rounded(split[2]), rounded(split[1])
    return n - test - validation, validation, test


def test_toy_corpus_every_file_with_its_fields(toy, tmp_path):
    lines = []
    summary = prepare_database(toy.parent, tmp_path / 'db.json',
                               subsets='train-clean-100 dev-clean test-clean',
                               log=lines.append)
    examples = all_examples(read_json(tmp_path / 'db.json'))

    genders = {}
    for line in (toy / 'SPEAKERS.TXT').read_text().splitlines():
        if not line.startswith(';'):
            fields = line.split('|')
            genders[fields[0].strip()] = fields[1].strip()
    texts = {}
    for path in toy.rglob('*.trans.txt'):
        for line in path.read_text().splitlines():
            utterance_id, text = line.split(' ', 1)
            texts[utterance_id] = text
    files = sorted(toy.rglob('*.flac'))
    assert len(files) > 10 and sorted(examples) == sorted(
        path.stem for path in files)
    for path in files:
        speaker, chapter, _ = path.stem.split('-')
        info = soundfile.info(path)
        assert examples[path.stem] == {
            'audio_path': {'observation': str(path)},
            'num_samples': info.frames, 'sample_rate': info.samplerate,
            'speaker_id': speaker, 'chapter_id': chapter,
            'subset': path.parts[-4], 'gender': genders[speaker],
            'transcription': texts[path.stem]}
        assert os.path.isabs(examples[path.stem]['audio_path']['observation'])

    sizes = {name: len(dataset) for name, dataset in
             read_json(tmp_path / 'db.json').items()}
    assert summary['counts'] == sizes
    assert summary['num_speakers'] == len(genders)
    assert summary['skipped'] == {} and summary['notes'] == []
    assert summary['utterances_per_subset'] == {
        subset: len(list((toy / subset).rglob('*.flac')))
        for subset in ('train-clean-100', 'dev-clean', 'test-clean')}
    assert lines[-1] == (
        f'wrote {tmp_path / "db.json"}: train {sizes["train"]}, validation '
        f'{sizes["validation"]}, test {sizes["test"]} utterances of '
        f'{len(genders)} speakers')
    database = load_database(tmp_path / 'db.json')
    assert database.dataset_names == ('train', 'validation', 'test')


def test_toy_split_per_speaker_follows_the_rule(toy, tmp_path):
    lines = []
    summary = prepare_database(toy, tmp_path / 'db.json',
                               subsets=['train-clean-100', 'dev-clean'],
                               log=lines.append)
    datasets = read_json(tmp_path / 'db.json')
    per_speaker = {}
    for name, examples in datasets.items():
        for example in examples.values():
            counts = per_speaker.setdefault(example['speaker_id'],
                                            dict.fromkeys(datasets, 0))
            counts[name] += 1
    train_only = {}
    for speaker, counts in per_speaker.items():
        n = sum(counts.values())
        assert tuple(counts.values()) == expected_counts(n), speaker
        if n < 3:
            train_only[speaker] = n
            assert f'speaker {speaker} has {n} utterances: kept in train ' \
                   'only' in lines
        else:
            assert all(counts.values())
    assert train_only and summary['train_only_speakers'] == train_only
    assert len(per_speaker) == summary['num_speakers']


@pytest.mark.parametrize('split', [SPLIT, (0.6, 0.2, 0.2)])
def test_proportions_rounding_and_shuffle(tmp_path, split):
    sizes = [3, 4, 5, 10, 14, 15, 25, 35, 45]
    base = hand_made(tmp_path, {('train-clean-100', str(100 + n), '7'): n
                                for n in sizes})
    prepare_database(base, tmp_path / 'db.json', split=split, log=None)
    datasets = read_json(tmp_path / 'db.json')
    for n in sizes:
        speaker = str(100 + n)
        ids = sorted(f'{speaker}-7-{i:04d}' for i in range(n))
        got = {name: sorted(i for i in examples if i.startswith(speaker + '-'))
               for name, examples in datasets.items()}
        train, validation, test = expected_counts(n, split)
        assert [len(got[name]) for name in ('train', 'validation', 'test')] \
            == [train, validation, test], n
        # the documented shuffle: a permutation seeded with crc32(speaker id)
        order = np.random.default_rng(
            zlib.crc32(speaker.encode())).permutation(n)
        shuffled = [ids[i] for i in order]
        assert got['test'] == sorted(shuffled[:test])
        assert got['validation'] == sorted(shuffled[test:test + validation])


def test_deterministic_and_independent_of_listing_and_selection(
        toy, tmp_path, monkeypatch):
    prepare_database(toy.parent, tmp_path / 'a.json', log=None)
    prepare_database(toy, tmp_path / 'b.json', log=None)
    assert (tmp_path / 'a.json').read_bytes() == \
        (tmp_path / 'b.json').read_bytes()

    prepare_database(toy, tmp_path / 'more.json',
                     subsets=('dev-clean', 'train-clean-100', 'test-clean'),
                     log=None)
    first, more = read_json(tmp_path / 'a.json'), read_json(
        tmp_path / 'more.json')
    for name in first:
        assert first[name] == {key: example for key, example
                               in more[name].items()
                               if example['subset'] == 'train-clean-100'}

    scandir = os.scandir
    monkeypatch.setattr(os, 'scandir',
                        lambda path: list(scandir(path))[::-1])
    prepare_database(toy, tmp_path / 'reversed.json', log=None)
    monkeypatch.undo()
    assert (tmp_path / 'reversed.json').read_bytes() == \
        (tmp_path / 'a.json').read_bytes()


def test_relative_root_gives_absolute_paths(toy, tmp_path, monkeypatch):
    monkeypatch.chdir(toy.parent)
    prepare_database('LibriSpeech', tmp_path / 'db.json', log=None)
    for example in all_examples(read_json(tmp_path / 'db.json')).values():
        path = example['audio_path']['observation']
        assert os.path.isabs(path) and Path(path).is_file()


def test_empty_subsets_and_bad_split_are_refused(toy, tmp_path):
    for subsets in ([], (), '', ' , ', None):
        with pytest.raises(ValueError, match='subsets is empty'):
            prepare_database(toy, tmp_path / 'db.json', subsets=subsets)
    with pytest.raises(ValueError, match='subset is the name of a folder'):
        prepare_database(toy, tmp_path / 'db.json', subsets=['../x'])
    for split in [(0.8, 0.2), (0.8, 0.1, 0.2), (1.0, 0.0, 0.0)]:
        with pytest.raises(ValueError, match='split must be three'):
            prepare_database(toy, tmp_path / 'db.json', split=split)
    assert not (tmp_path / 'db.json').exists()


def test_unknown_subset_names_it_and_lists_those_there(toy, tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        prepare_database(toy.parent, tmp_path / 'db.json',
                         subsets='train-clean-100 train-other-500')
    message = str(error.value)
    assert "'train-other-500' not found" in message
    assert str(toy / 'train-other-500') in message
    assert 'dev-clean, test-clean, train-clean-100' in message
    assert '<speaker>-<chapter>-<utterance>.flac' in message
    assert not (tmp_path / 'db.json').exists()


def test_root_without_the_layout(tmp_path):
    (tmp_path / 'something').mkdir()
    with pytest.raises(FileNotFoundError) as error:
        prepare_database(tmp_path / 'something', tmp_path / 'db.json')
    assert str(tmp_path / 'something') in str(error.value)
    assert 'LibriSpeech/<subset>/<speaker>/<chapter>/' in str(error.value)
    with pytest.raises(FileNotFoundError, match='does-not-exist'):
        prepare_database(tmp_path / 'does-not-exist', tmp_path / 'db.json')


def test_missing_transcripts_and_speakers_table(tmp_path):
    base = hand_made(tmp_path, {('dev-clean', '11', '5'): 3,
                                ('dev-clean', '11', '6'): 3,
                                ('dev-clean', '12', '5'): 4},
                     speakers_txt=False)
    (base / 'dev-clean' / '11' / '6' / '11-6.trans.txt').unlink()
    transcript = base / 'dev-clean' / '12' / '5' / '12-5.trans.txt'
    transcript.write_text(transcript.read_text().replace(
        '12-5-0001 WORD 1', '12-5-0009 WORD 9'))
    lines = []
    summary = prepare_database(base, tmp_path / 'db.json',
                               subsets=['dev-clean'], log=lines.append)
    examples = all_examples(read_json(tmp_path / 'db.json'))
    assert len(examples) == 10
    assert not any('gender' in example for example in examples.values())
    assert {i for i, e in examples.items() if 'transcription' not in e} == {
        '11-6-0000', '11-6-0001', '11-6-0002', '12-5-0001'}
    assert examples['12-5-0003']['transcription'] == 'WORD 3'
    speakers_lines = [line for line in lines if 'SPEAKERS.TXT' in line]
    assert speakers_lines == [f'no SPEAKERS.TXT at {base / "SPEAKERS.TXT"}: '
                              "the examples have no 'gender'"]
    transcript_lines = [line for line in lines if 'trans.txt' in line]
    assert len(transcript_lines) == 3
    assert transcript_lines[0] == (
        "1 chapter(s) have no .trans.txt, their utterances no "
        f"'transcription': {base / 'dev-clean/11/6/11-6.trans.txt'}")
    assert transcript_lines[1:] == [
        "1 utterance(s) have no line in their .trans.txt, no "
        "'transcription': 12-5-0001",
        '1 .trans.txt line(s) have no .flac file: 12-5-0009']
    assert sorted(summary['notes']) == sorted(speakers_lines
                                              + transcript_lines)


def test_speakers_table_is_read_robustly(tmp_path):
    base = hand_made(tmp_path, {('dev-clean', '14', '1'): 3,
                                ('dev-clean', '60', '2'): 3,
                                ('dev-clean', '77', '3'): 3,
                                ('dev-clean', '99', '4'): 3})
    # real SPEAKERS.TXT rows: bars inside a name, odd spacing, tabs
    (base / 'SPEAKERS.TXT').write_text(
        '; LibriSpeech speakers\n'
        ';ID  |SEX| SUBSET           |MINUTES| NAME\n'
        '\n'
        '14   | F | train-clean-360  | 25.03 | Kristin LeMoine\n'
        '60   | M | train-clean-100  | 20.18 | |CBW|Simon\n'
        '77|m|dev-clean|1.0|\tA  B \n'
        'oops | F | dev-clean | 1.0 | Nobody\n')
    lines = []
    summary = prepare_database(base, tmp_path / 'db.json',
                               subsets='dev-clean', log=lines.append)
    examples = all_examples(read_json(tmp_path / 'db.json'))
    genders = {e['speaker_id']: e.get('gender') for e in examples.values()}
    assert genders == {'14': 'F', '60': 'M', '77': 'M', '99': None}
    assert any("line 7: 'oops | F" in line for line in lines)
    assert any("1 speaker(s) not in" in line and line.endswith(': 99')
               for line in summary['notes'])
    assert prepare.read_speakers_table(base / 'SPEAKERS.TXT')[0]['60'][
        'name'] == '|CBW|Simon'


def test_bad_files_are_skipped_and_listed(tmp_path):
    base = hand_made(tmp_path, {('train-clean-100', '19', '198'): 6,
                                ('train-clean-100', '20', '200'): 4})
    chapter = base / 'train-clean-100' / '19' / '198'
    corrupt = chapter / '19-198-0100.flac'
    corrupt.write_bytes(b'fLaC' + bytes(range(256)) * 4)
    text = chapter / '19-198-0101.flac'
    text.write_text('not audio')
    zero_bytes = chapter / '19-198-0102.flac'
    zero_bytes.write_bytes(b'')
    no_samples = chapter / '19-198-0103.flac'
    soundfile.write(tmp_path / 'empty.wav', np.zeros(0, 'int16'), 16000)
    shutil.copy(tmp_path / 'empty.wav', no_samples)
    stereo = flac(chapter / '19-198-0104.flac', 100, channels=2)
    bad_names = [chapter / '19-198.flac', chapter / 'notes.txt',
                 chapter / '19-198-x1.flac', chapter / '19-198-0001.wav']
    for path in bad_names:
        flac(path) if path.suffix in ('.flac', '.wav') else \
            path.write_text('x')
    wrong_speaker = flac(chapter / '20-198-0007.flac')
    wrong_chapter = flac(chapter / '19-199-0007.flac')
    stray = flac(base / 'train-clean-100' / '19' / '19-198-0009.flac')
    lines = []
    summary = prepare_database(tmp_path, tmp_path / 'db.json',
                               log=lines.append)

    reasons = summary['skipped']
    assert 'not readable as audio' in reasons[str(corrupt)]
    assert 'not readable as audio' in reasons[str(text)]
    assert reasons[str(zero_bytes)] == 'empty file (0 bytes)'
    assert reasons[str(no_samples)] == 'empty (0 samples)'
    assert reasons[str(stereo)] == '2 channels, expected 1 (mono)'
    for path in bad_names:
        assert reasons[str(path)] == \
            'name is not <speaker>-<chapter>-<utterance>.flac'
    assert 'speaker 20, chapter 198 in the name' in reasons[str(wrong_speaker)]
    assert 'chapter 199' in reasons[str(wrong_chapter)] \
        and '19/198' in reasons[str(wrong_chapter)]
    assert 'not in a <speaker>/<chapter>/ folder' in reasons[str(stray)]
    assert len(reasons) == 12
    assert f'skipped {len(reasons)} file(s):' in lines
    for path, reason in reasons.items():
        assert f'  {path}: {reason}' in lines

    examples = all_examples(read_json(tmp_path / 'db.json'))
    assert sorted(examples) == sorted(
        [f'19-198-{i:04d}' for i in range(6)]
        + [f'20-200-{i:04d}' for i in range(4)])
    assert examples['19-198-0005']['num_samples'] == 21


def test_no_usable_utterance_writes_nothing(tmp_path):
    chapter = tmp_path / 'LibriSpeech' / 'dev-clean' / '3' / '4'
    chapter.mkdir(parents=True)
    (chapter / '3-4-0000.flac').write_bytes(b'')
    (chapter / '3-4-0001.flac').write_text('no audio')
    json_path = tmp_path / 'db.json'
    json_path.write_text('{"old": true}')
    with pytest.raises(DatabaseError) as error:
        prepare_database(tmp_path, json_path, subsets='dev-clean', log=None)
    message = str(error.value)
    assert 'No usable utterance in dev-clean' in message
    assert f'{chapter / "3-4-0000.flac"}: empty file (0 bytes)' in message
    assert f'{chapter / "3-4-0001.flac"}: not readable as audio' in message
    assert json_path.read_text() == '{"old": true}'

    (chapter / '3-4-0000.flac').unlink()
    (chapter / '3-4-0001.flac').unlink()
    with pytest.raises(DatabaseError, match='no .flac file in'):
        prepare_database(tmp_path, json_path, subsets='dev-clean', log=None)
    assert json_path.read_text() == '{"old": true}'
