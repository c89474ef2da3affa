import collections
import hashlib
import os
import re

import pytest
import soundfile

from padertorch_audio.toy import ToyCorpusError, create_librispeech, \
    create_wsj0_2mix
from padertorch_audio.toy.librispeech import SIZES, SUBSETS

FLAC = re.compile(
    r'(?P<subset>[a-z0-9-]+)/(?P<speaker>[0-9]+)/(?P<chapter>[0-9]+)/'
    r'(?P=speaker)-(?P=chapter)-(?P<utterance>[0-9]{4})\.flac')
TRANSCRIPT = re.compile(
    r'(?P<subset>[a-z0-9-]+)/(?P<speaker>[0-9]+)/(?P<chapter>[0-9]+)/'
    r'(?P=speaker)-(?P=chapter)\.trans\.txt')
TRANSCRIPT_LINE = re.compile(
    r"(?P<id>[0-9]+-[0-9]+-[0-9]{4}) (?P<text>[A-Z']+( [A-Z']+)*)")


def file_hashes(root):
    hashes = {}
    for directory, _, files in os.walk(root):
        for name in files:
            path = os.path.join(directory, name)
            with open(path, 'rb') as f:
                hashes[os.path.relpath(path, root)] = \
                    hashlib.sha256(f.read()).hexdigest()
    return hashes


def snapshot(root):
    entries = {}
    for directory, directories, files in os.walk(root):
        for name in directories + files:
            path = os.path.join(directory, name)
            entries[os.path.relpath(path, root)] = os.stat(path).st_mtime_ns
    entries['.'] = os.stat(root).st_mtime_ns
    return entries


@pytest.fixture(scope='module')
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp('toy') / 'data'
    assert create_librispeech(root, size='tiny', seed=0, processes=1) \
        == root / 'LibriSpeech'
    return root


@pytest.fixture(scope='module')
def files(root):
    """{'flac': [match], 'trans': [match]} of all files but SPEAKERS.TXT."""
    corpus = root / 'LibriSpeech'
    found = collections.defaultdict(list)
    for directory, _, names in os.walk(corpus):
        for name in names:
            relative = os.path.relpath(os.path.join(directory, name), corpus)
            if relative == 'SPEAKERS.TXT':
                continue
            match = FLAC.fullmatch(relative) or TRANSCRIPT.fullmatch(relative)
            assert match, relative
            found['flac' if relative.endswith('.flac') else 'trans'].append(
                match)
    return found


def parse_speakers_table(path):
    """SPEAKERS.TXT -> [(id, sex, subset, minutes, name)], header comment."""
    rows, comments = [], []
    for line in path.read_text().splitlines():
        if line.startswith(';'):
            comments.append(line)
            continue
        fields = [field.strip() for field in line.split('|')]
        assert len(fields) == 5, line
        rows.append((fields[0], fields[1], fields[2], float(fields[3]),
                     fields[4]))
    return rows, comments


def test_layout_and_counts(root, files):
    corpus = root / 'LibriSpeech'
    assert sorted(os.listdir(root)) == [
        '.padertorch_audio_toy.json', 'LibriSpeech']
    assert sorted(os.listdir(corpus)) == sorted(
        ['SPEAKERS.TXT', *SUBSETS])
    for subset in SUBSETS:
        speakers, chapters, utterances = SIZES['tiny'][subset]
        mine = [m for m in files['flac'] if m['subset'] == subset]
        assert len({m['speaker'] for m in mine}) == speakers
        assert len({m['chapter'] for m in mine}) == speakers * chapters
        assert len(mine) == speakers * chapters * utterances
        numbers = collections.defaultdict(list)
        for m in mine:
            numbers[m['chapter']].append(int(m['utterance']))
        assert all(sorted(n) == list(range(utterances))
                   for n in numbers.values())


def test_audio_is_16_khz_16_bit_mono_flac(root, files):
    for match in files['flac']:
        info = soundfile.info(root / 'LibriSpeech' / match.group(0))
        assert (info.format, info.subtype, info.channels, info.samplerate) \
            == ('FLAC', 'PCM_16', 1, 16000)
        assert 0.5 < info.duration < 10


def test_transcripts_list_the_files_of_their_chapter(root, files):
    chapters = {(m['subset'], m['speaker'], m['chapter']): m
                for m in files['trans']}
    assert len(chapters) == len(files['trans'])
    flacs = collections.defaultdict(list)
    for m in files['flac']:
        flacs[m['subset'], m['speaker'], m['chapter']].append(
            f"{m['speaker']}-{m['chapter']}-{m['utterance']}")
    assert set(flacs) == set(chapters)
    for key, match in chapters.items():
        text = (root / 'LibriSpeech' / match.group(0)).read_text()
        assert text.endswith('\n')
        lines = [TRANSCRIPT_LINE.fullmatch(line)
                 for line in text.splitlines()]
        assert all(lines), text
        assert [line['id'] for line in lines] == sorted(flacs[key])


def test_speakers_table_lists_every_speaker_with_its_subset(root, files):
    rows, comments = parse_speakers_table(
        root / 'LibriSpeech' / 'SPEAKERS.TXT')
    assert comments[-1] == ';ID  |SEX| SUBSET           |MINUTES| NAME'
    subsets = {m['speaker']: m['subset'] for m in files['flac']}
    seconds = collections.Counter()
    for m in files['flac']:
        seconds[m['speaker']] += soundfile.info(
            root / 'LibriSpeech' / m.group(0)).duration
    assert sorted(row[0] for row in rows) == sorted(subsets)
    assert [int(row[0]) for row in rows] == sorted(int(row[0]) for row in rows)
    for speaker, sex, subset, minutes, name in rows:
        assert subset == subsets[speaker]
        assert sex in ('F', 'M')
        assert minutes == pytest.approx(seconds[speaker] / 60, abs=0.006)
        assert re.fullmatch(r'[A-Z][a-z]+ [A-Z][a-z]+', name)
    sexes = collections.Counter((row[2], row[1]) for row in rows)
    assert all(sexes[subset, 'F'] == sexes[subset, 'M'] for subset in SUBSETS)


def test_subsets_have_disjoint_speakers_and_chapters_are_unique(files):
    speakers = collections.defaultdict(set)
    chapters = collections.defaultdict(set)
    for m in files['flac']:
        speakers[m['subset']].add(m['speaker'])
        chapters[m['chapter']].add(m['speaker'])
    for a, b in [(0, 1), (0, 2), (1, 2)]:
        assert not speakers[SUBSETS[a]] & speakers[SUBSETS[b]]
    assert all(len(owners) == 1 for owners in chapters.values())


def test_same_seed_same_bytes_whatever_the_number_of_processes(root, tmp_path):
    create_librispeech(tmp_path / 'again', size='tiny', seed=0, processes=2)
    assert file_hashes(tmp_path / 'again') == file_hashes(root)


def test_another_seed_gives_another_corpus(root, tmp_path):
    create_librispeech(tmp_path / 'other', size='tiny', seed=1, processes=2)
    assert not set(file_hashes(tmp_path / 'other').values()) \
        & set(file_hashes(root).values())


def test_running_again_writes_nothing(root):
    before = snapshot(root)
    assert create_librispeech(root, size='tiny', seed=0) \
        == root / 'LibriSpeech'
    assert snapshot(root) == before


@pytest.mark.parametrize('call, message', [
    (lambda root: create_librispeech(root, size='small'),
     r"holds the toy corpus librispeech \(size='tiny'.*not librispeech "
     r"\(size='small'"),
    (lambda root: create_wsj0_2mix(root, size='tiny'),
     r'already holds the toy corpus librispeech'),
])
def test_other_parameters_are_refused_untouched(root, call, message):
    before = snapshot(root)
    with pytest.raises(ToyCorpusError, match=message):
        call(root)
    assert snapshot(root) == before


def test_a_non_empty_directory_is_refused_untouched(tmp_path):
    (tmp_path / 'LibriSpeech').mkdir()
    before = snapshot(tmp_path)
    with pytest.raises(ToyCorpusError, match='not empty'):
        create_librispeech(tmp_path, size='tiny')
    assert snapshot(tmp_path) == before


def test_an_unwritable_root_is_refused(tmp_path):
    (tmp_path / 'file').write_text('')
    with pytest.raises(NotADirectoryError, match='found a file'):
        create_librispeech(tmp_path / 'file', size='tiny')
    with pytest.raises(NotADirectoryError, match='file is a file'):
        create_librispeech(tmp_path / 'file' / 'corpus', size='tiny')
    with pytest.raises(ValueError, match="'tiny', 'small', 'medium'"):
        create_librispeech(tmp_path / 'new', size='large')
    assert os.listdir(tmp_path) == ['file']
