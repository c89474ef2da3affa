"""Stage 0: the database JSON of a LibriSpeech folder (real or toy).

Layout (Panayotov et al. 2015; REFERENCES.md)::

    <root>/LibriSpeech/SPEAKERS.TXT
    <root>/LibriSpeech/<subset>/<speaker>/<chapter>/<speaker>-<chapter>-<utterance>.flac
    <root>/LibriSpeech/<subset>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt

with numeric speaker and chapter ids, a ``.trans.txt`` line
``<speaker>-<chapter>-<utterance> UPPER CASE TEXT`` per utterance and
``SPEAKERS.TXT`` rows ``ID | SEX | SUBSET | MINUTES | NAME`` after ``;``
comment lines. The subsets (train-clean-100, train-clean-360,
train-other-500, dev-clean, dev-other, test-clean, test-other) have disjoint
speakers.

The database has the datasets ``'train'``, ``'validation'`` and ``'test'``:
a closed-set split of the utterances of the selected subsets, so that a
speaker classifier is trained and tested on the same speakers. The example
of utterance ``<speaker>-<chapter>-<utterance>`` is::

    {'audio_path': {'observation': '<absolute path of the .flac>'},
     'num_samples': 233600, 'sample_rate': 16000,
     'speaker_id': '<speaker>', 'chapter_id': '<chapter>',
     'subset': 'train-clean-100',
     'gender': 'F',                   # only when SPEAKERS.TXT has the speaker
     'transcription': 'UPPER CASE'}   # only when the .trans.txt has the line

Split rule, per speaker (``split = (train, validation, test)`` fractions):

1. the speaker's usable utterances are sorted by utterance id (``n`` of
   them); with ``n < 3`` all of them go to train (and the log says so);
2. they are shuffled with ``numpy.random.default_rng(seed).permutation(n)``,
   ``seed = zlib.crc32(speaker_id.encode('utf-8'))``;
3. the first ``max(1, round_half_up(test * n))`` shuffled utterances are
   test, the next ``max(1, round_half_up(validation * n))`` validation, the
   rest train (the fractions are taken as the decimal numbers they print
   as: ``0.1 * 25`` rounds to 3). Should that leave no train utterance,
   validation, then test, give utterances back until one is left.

So a speaker's split depends only on its id, the names of its usable
files and ``split``: not on the order in which the file system lists
folders, on the other speakers or on the other subsets selected.

Bad files are skipped and reported, not refused: unreadable or empty audio
(header checks only, in threads: a file cut short after a valid header is
not detected), names that are not ``<speaker>-<chapter>-<utterance>.flac``,
ids that do not match the folders, files outside chapter folders.
"""
import math
import os
import zlib
from fractions import Fraction
from pathlib import Path

import numpy as np

from padertorch_audio.data.database import (
    DatabaseError, audio_file_infos, write_database)

__all__ = ['prepare_database', 'corpus_dir', 'parse_subsets',
           'read_speakers_table', 'read_transcriptions', 'split_utterances',
           'SUBSETS', 'DATASETS']

SUBSETS = ('train-clean-100', 'train-clean-360', 'train-other-500',
           'dev-clean', 'dev-other', 'test-clean', 'test-other')
DATASETS = ('train', 'validation', 'test')
CORPUS_DIR = 'LibriSpeech'
LAYOUT = (f'<root>/{CORPUS_DIR}/<subset>/<speaker>/<chapter>/'
          '<speaker>-<chapter>-<utterance>.flac (with '
          '<speaker>-<chapter>.trans.txt in each chapter folder and '
          f'SPEAKERS.TXT in {CORPUS_DIR}/)')
_BAD_NAME = 'name is not <speaker>-<chapter>-<utterance>.flac'


def corpus_dir(root) -> Path:
    """The ``LibriSpeech`` folder: ``root/LibriSpeech`` or ``root`` itself
    (absolute). Raises FileNotFoundError when neither has the layout."""
    root = Path(os.path.abspath(root))
    if (root / CORPUS_DIR).is_dir():
        return root / CORPUS_DIR
    if root.is_dir() and (root.name == CORPUS_DIR
                          or (root / 'SPEAKERS.TXT').is_file()
                          or any((root / s).is_dir() for s in SUBSETS)):
        return root
    hint = (f' ({root.name} looks like a subset: give the folder that '
            f'contains it)' if root.name in SUBSETS else '')
    raise FileNotFoundError(
        f'No LibriSpeech corpus at {root}{hint}: expected {LAYOUT}; root may '
        f'also be the {CORPUS_DIR} folder itself.')


def parse_subsets(subsets) -> tuple:
    """``subsets`` as a tuple of names, duplicates dropped, in order.

    Accepts a list/tuple of names or one string of names separated by spaces
    or commas.

    >>> parse_subsets('train-clean-100 dev-clean,test-clean')
    ('train-clean-100', 'dev-clean', 'test-clean')
    >>> parse_subsets(['dev-clean', 'dev-clean'])
    ('dev-clean',)
    """
    if subsets is None:
        subsets = ()
    elif isinstance(subsets, str):
        subsets = subsets.replace(',', ' ').split()
    names = []
    for name in subsets:
        if not isinstance(name, str) or not name.strip() \
                or name.strip() in ('.', '..') or '/' in name \
                or os.sep in name:
            raise ValueError(
                f'A subset is the name of a folder in {CORPUS_DIR}/ (e.g. '
                f'{SUBSETS[0]!r}), got {name!r} in subsets={subsets!r}.')
        if name.strip() not in names:
            names.append(name.strip())
    if not names:
        raise ValueError(f'subsets is empty: name at least one of '
                         f'{", ".join(SUBSETS)}.')
    return tuple(names)


def read_speakers_table(path):
    """The rows of a ``SPEAKERS.TXT``.

    Lines starting with ``;`` and blank lines are comments; a row is
    ``ID | SEX | SUBSET | MINUTES | NAME`` with any spacing around the bars
    (the NAME may hold bars and spaces itself). Only ID and SEX are needed.

    Returns:
        ``(speakers, bad_rows)``: ``{speaker_id: {'gender': 'F'|'M',
        'subset': str, 'name': str}}`` and ``[(line number, line)]`` of the
        rows without a numeric ID and a sex F or M.
    """
    speakers, bad_rows = {}, []
    text = Path(path).read_text(encoding='utf-8', errors='replace')
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith(';'):
            continue
        fields = [field.strip() for field in stripped.split('|', 4)]
        fields += [''] * (5 - len(fields))
        speaker_id, sex, subset, _, name = fields
        if not speaker_id.isdigit() or sex.upper() not in ('F', 'M'):
            bad_rows.append((number, line))
            continue
        speakers[speaker_id] = {'gender': sex.upper(), 'subset': subset,
                                'name': name}
    return speakers, bad_rows


def read_transcriptions(path) -> dict:
    """``{utterance_id: text}`` of a ``.trans.txt`` (a line with an id and
    no text gives ``''``). Raises OSError / UnicodeDecodeError."""
    transcriptions = {}
    for line in Path(path).read_text(encoding='utf-8').splitlines():
        parts = line.split(maxsplit=1)
        if parts:
            transcriptions[parts[0]] = parts[1].strip() if len(parts) > 1 \
                else ''
    return transcriptions


def _round_half_up(value: Fraction) -> int:
    return math.floor(value + Fraction(1, 2))


def _check_split(split):
    try:
        fractions = [Fraction(repr(float(value))) for value in split]
    except (TypeError, ValueError):
        fractions = None
    if fractions is None or len(fractions) != 3 \
            or any(not 0 < value < 1 for value in fractions) \
            or abs(sum(fractions) - 1) > Fraction(1, 10**6):
        raise ValueError(
            f'split must be three fractions (train, validation, test), each '
            f'between 0 and 1, that sum to 1, e.g. (0.8, 0.1, 0.1); got '
            f'{split!r}.')
    return fractions


def split_utterances(speaker_id, utterance_ids, split=(0.8, 0.1, 0.1)):
    """Split one speaker's utterances by the rule of the module docstring.

    Returns:
        ``{'train': [...], 'validation': [...], 'test': [...]}``, each list
        sorted.

    >>> parts = split_utterances('19', [f'19-198-{i:04d}' for i in range(25)])
    >>> {name: len(ids) for name, ids in parts.items()}
    {'train': 19, 'validation': 3, 'test': 3}
    >>> split_utterances('19', ['19-198-0001', '19-198-0000'])['train']
    ['19-198-0000', '19-198-0001']
    """
    _, validation, test = _check_split(split)
    ids = sorted(utterance_ids)
    n = len(ids)
    if n < 3:
        return {'train': ids, 'validation': [], 'test': []}
    num_test = max(1, _round_half_up(test * n))
    num_validation = max(1, _round_half_up(validation * n))
    while num_test + num_validation > n - 1:
        if num_validation > 1:
            num_validation -= 1
        else:
            num_test -= 1
    rng = np.random.default_rng(zlib.crc32(speaker_id.encode('utf-8')))
    shuffled = [ids[index] for index in rng.permutation(n)]
    return {
        'train': sorted(shuffled[num_test + num_validation:]),
        'validation': sorted(shuffled[num_test:num_test + num_validation]),
        'test': sorted(shuffled[:num_test]),
    }


def _entries(directory):
    """(files, folders) of ``directory`` as DirEntry lists sorted by name."""
    files, folders = [], []
    for entry in sorted(os.scandir(directory), key=lambda e: e.name):
        (folders if entry.is_dir() else files).append(entry)
    return files, folders


def _readable_entries(folder, skipped):
    """:func:`_entries` of the DirEntry ``folder``; None (with the reason in
    ``skipped``) when it cannot be read."""
    try:
        return _entries(folder.path)
    except OSError as error:
        skipped[folder.path] = f'folder not readable ({error})'
        return None


def _size(entry):
    """Bytes of a file, None when it cannot be read (the audio check then
    says why)."""
    try:
        return entry.stat().st_size
    except OSError:
        return None


def _parse_utterance_name(name):
    """``(speaker, chapter, utterance)`` of ``'19-198-0001.flac'`` or None."""
    if not name.endswith('.flac'):
        return None
    parts = name[:-len('.flac')].split('-')
    if len(parts) != 3 or not all(p.isascii() and p.isdigit() for p in parts):
        return None
    return tuple(parts)


def _scan_subset(directory: Path, subset):
    """The candidate utterances of one subset folder (before the audio
    checks), its chapter folders and the files skipped by name/place.

    Returns ``(utterances, chapters, skipped)``: ``{utterance_id: (path,
    speaker, chapter, subset)}``, ``[(speaker, chapter, folder)]`` and
    ``{path: reason}``.
    """
    utterances, chapters, skipped = {}, [], {}
    place = ('not in a <speaker>/<chapter>/ folder of the subset (expected '
             f'{LAYOUT})')
    files, speakers = _entries(directory)
    skipped.update({entry.path: place for entry in files})
    for speaker in speakers:
        if (listing := _readable_entries(speaker, skipped)) is None:
            continue
        files, chapter_folders = listing
        skipped.update({entry.path: place for entry in files})
        for chapter in chapter_folders:
            if (listing := _readable_entries(chapter, skipped)) is None:
                continue
            files, folders = listing
            chapters.append((speaker.name, chapter.name, chapter.path))
            skipped.update({entry.path: 'folder inside a chapter folder: '
                            'not read' for entry in folders})
            transcript = f'{speaker.name}-{chapter.name}.trans.txt'
            for entry in files:
                if entry.name == transcript:
                    continue
                parsed = _parse_utterance_name(entry.name)
                if parsed is None:
                    skipped[entry.path] = _BAD_NAME
                elif parsed[:2] != (speaker.name, chapter.name):
                    skipped[entry.path] = (
                        f'speaker {parsed[0]}, chapter {parsed[1]} in the '
                        f'name, but the file is in the folder '
                        f'{speaker.name}/{chapter.name}')
                elif _size(entry) == 0:
                    skipped[entry.path] = 'empty file (0 bytes)'
                else:
                    utterances[entry.name[:-len('.flac')]] = (
                        entry.path, speaker.name, chapter.name, subset)
    return utterances, chapters, skipped


def _audio_reason(path, reason):
    """libsndfile's "Error opening '<path>': <why>" as "not readable as
    audio (<why>)" (the path is said once, before the reason)."""
    prefix = f'Error opening {path!r}: '
    if reason.startswith(prefix):
        why = reason[len(prefix):].strip().removeprefix('Error : ')
        why = why.rstrip('.')
        return f'not readable as audio ({why or "libsndfile error"})'
    return reason


def _subset_folders(base: Path, subsets):
    present = sorted(entry.name for entry in os.scandir(base)
                     if entry.is_dir())
    for subset in subsets:
        if not (base / subset).is_dir():
            raise FileNotFoundError(
                f'Subset {subset!r} not found: {base / subset} is not a '
                f'folder. The subsets in {base}: '
                f'{", ".join(present) or "none"}. Expected {LAYOUT}.')
    return [base / subset for subset in subsets]


def _shorten(items, limit=5):
    items = list(items)
    text = ', '.join(str(item) for item in items[:limit])
    return text + (f', ... ({len(items)} in all)' if len(items) > limit
                   else '')


def prepare_database(root, json_path, subsets=('train-clean-100',),
                     split=(0.8, 0.1, 0.1), num_workers=8, log=print):
    """Check the files of LibriSpeech subsets and write the database JSON.

    See the module docstring for the layout, the examples and the split.
    Bad files are skipped and listed (in the log and the summary); a missing
    ``.trans.txt`` or ``SPEAKERS.TXT`` only drops ``'transcription'`` /
    ``'gender'`` (one log line each kind).

    Args:
        root: The folder that contains ``LibriSpeech/``, or that folder.
        json_path: The database JSON to write (atomically).
        subsets: Subset folder names (list/tuple, or one string of names
            separated by spaces).
        split: ``(train, validation, test)`` fractions per speaker.
        num_workers: Threads that read the audio headers.
        log: Called with each line of the report (``None``: silent).

    Returns:
        The summary ``{'json_path': str, 'corpus_dir': str, 'subsets':
        [str], 'counts': {'train': n, 'validation': n, 'test': n},
        'num_speakers': n, 'utterances_per_subset': {subset: n},
        'skipped': {path: reason}, 'train_only_speakers': {speaker_id:
        number of utterances}, 'notes': [str]}`` (``notes``: the log lines
        about missing transcripts, genders and sample rates).

    Raises:
        ValueError: ``subsets`` empty or not names, bad ``split``.
        FileNotFoundError: no LibriSpeech layout at ``root``, or a subset
            that is not there (the message lists those that are).
        DatabaseError: not one usable utterance (lists every problem);
            nothing is written then.
    """
    log = log or (lambda line: None)
    subsets = parse_subsets(subsets)
    _check_split(split)
    base = corpus_dir(root)
    folders = _subset_folders(base, subsets)
    log(f'LibriSpeech at {base}: subsets {", ".join(subsets)}')

    candidates, chapters, skipped = {}, [], {}
    for folder, subset in zip(folders, subsets):
        found, subset_chapters, subset_skipped = _scan_subset(folder, subset)
        chapters += subset_chapters
        skipped.update(subset_skipped)
        for utterance_id, item in found.items():
            if utterance_id in candidates:  # the same id in two subsets
                first, second = sorted([candidates[utterance_id][0],
                                        item[0]])
                candidates[utterance_id] = (
                    item if item[0] == first else candidates[utterance_id])
                skipped[second] = (f'utterance {utterance_id} is also at '
                                   f'{first}')
            else:
                candidates[utterance_id] = item

    infos, problems = audio_file_infos(
        [item[0] for item in candidates.values()], num_workers=num_workers)
    skipped.update({path: _audio_reason(path, reason)
                    for path, reason in problems.items()})
    for path, info in infos.items():
        if info.channels != 1:
            skipped[path] = f'{info.channels} channels, expected 1 (mono)'
    usable = {utterance_id: item for utterance_id, item in candidates.items()
              if item[0] not in skipped}
    skipped = dict(sorted(skipped.items()))
    if not usable:
        details = [f'{path}: {reason}' for path, reason in skipped.items()]
        if not details:
            details = [f'no .flac file in {", ".join(map(str, folders))} '
                       f'(expected {LAYOUT})']
        raise DatabaseError(
            f'No usable utterance in {", ".join(subsets)} of {base}; nothing '
            f'written to {json_path}:\n  ' + '\n  '.join(details))

    notes = []
    examples = _examples(usable, candidates, infos, base, chapters, notes)
    for subset in subsets:
        count = sum(item[3] == subset for item in usable.values())
        speakers = {item[1] for item in usable.values() if item[3] == subset}
        log(f'{subset}: {count} utterances of {len(speakers)} speakers')
    if skipped:
        log(f'skipped {len(skipped)} file(s):')
        for path, reason in skipped.items():
            log(f'  {path}: {reason}')
    for note in notes:
        log(note)

    by_speaker = {}
    for utterance_id, item in usable.items():
        by_speaker.setdefault(item[1], []).append(utterance_id)
    datasets = {name: {} for name in DATASETS}
    train_only = {}
    for speaker_id in sorted(by_speaker):
        ids = by_speaker[speaker_id]
        if len(ids) < 3:
            train_only[speaker_id] = len(ids)
            log(f'speaker {speaker_id} has {len(ids)} '
                f'utterance{"s" if len(ids) > 1 else ""}: kept in train only')
        for name, part in split_utterances(speaker_id, ids, split).items():
            datasets[name].update({i: examples[i] for i in part})
    datasets = {name: dict(sorted(dataset.items()))
                for name, dataset in datasets.items()}
    write_database(json_path, datasets)
    counts = {name: len(dataset) for name, dataset in datasets.items()}
    log(f'wrote {json_path}: ' + ', '.join(
        f'{name} {count}' for name, count in counts.items())
        + f' utterances of {len(by_speaker)} speakers')
    return {
        'json_path': str(json_path),
        'corpus_dir': str(base),
        'subsets': list(subsets),
        'counts': counts,
        'num_speakers': len(by_speaker),
        'utterances_per_subset': {
            subset: sum(item[3] == subset for item in usable.values())
            for subset in subsets},
        'skipped': skipped,
        'train_only_speakers': train_only,
        'notes': notes,
    }


def _examples(usable, candidates, infos, base, chapters, notes):
    """The example dicts of the usable utterances (``candidates``: all
    utterances found, usable or not); appends a note per kind of missing
    metadata to ``notes``."""
    speakers_txt = base / 'SPEAKERS.TXT'
    speakers = {}
    if not speakers_txt.is_file():
        notes.append(f'no SPEAKERS.TXT at {speakers_txt}: the examples have '
                     f"no 'gender'")
    else:
        speakers, bad_rows = read_speakers_table(speakers_txt)
        if bad_rows:
            notes.append(
                f'{speakers_txt}: {len(bad_rows)} row(s) without an ID and a '
                f'sex F/M were ignored: ' + _shorten(
                    f'line {number}: {line.strip()!r}'
                    for number, line in bad_rows))

    used_chapters = {(item[1], item[2]) for item in usable.values()}
    transcriptions, missing, unreadable, unread = {}, [], [], set()
    for speaker_id, chapter_id, folder in chapters:
        if (speaker_id, chapter_id) not in used_chapters:
            continue
        path = Path(folder) / f'{speaker_id}-{chapter_id}.trans.txt'
        try:
            transcriptions.update(read_transcriptions(path))
            continue
        except FileNotFoundError:
            missing.append(str(path))
        except (OSError, UnicodeDecodeError) as error:
            unreadable.append(f'{path} ({error})')
        unread.add((speaker_id, chapter_id))
    if missing:
        notes.append(f'{len(missing)} chapter(s) have no .trans.txt, their '
                     f"utterances no 'transcription': {_shorten(missing)}")
    if unreadable:
        notes.append(f'{len(unreadable)} .trans.txt file(s) could not be '
                     "read, their utterances have no 'transcription': "
                     f'{_shorten(unreadable)}')

    examples = {}
    for utterance_id, (path, speaker_id, chapter_id, subset) in sorted(
            usable.items()):
        info = infos[path]
        example = {
            'audio_path': {'observation': path},
            'num_samples': info.frames,
            'sample_rate': info.samplerate,
            'speaker_id': speaker_id,
            'chapter_id': chapter_id,
            'subset': subset,
        }
        if speaker_id in speakers:
            example['gender'] = speakers[speaker_id]['gender']
        if utterance_id in transcriptions:
            example['transcription'] = transcriptions[utterance_id]
        examples[utterance_id] = example

    no_gender = sorted({e['speaker_id'] for e in examples.values()
                        if 'gender' not in e}, key=int)
    if speakers and no_gender:
        notes.append(f"{len(no_gender)} speaker(s) not in {speakers_txt}, "
                     f"their examples have no 'gender': {_shorten(no_gender)}")
    no_line = [utterance_id for utterance_id, example in examples.items()
               if 'transcription' not in example and (
                   example['speaker_id'], example['chapter_id']) not in unread]
    if no_line:
        notes.append(f'{len(no_line)} utterance(s) have no line in their '
                     f".trans.txt, no 'transcription': {_shorten(no_line)}")
    orphans = sorted(set(transcriptions) - set(candidates))
    if orphans:
        notes.append(f'{len(orphans)} .trans.txt line(s) have no .flac file: '
                     f'{_shorten(orphans)}')
    rates = sorted({e['sample_rate'] for e in examples.values()})
    if rates != [16000]:
        notes.append(f'sample rates {", ".join(map(str, rates))} Hz '
                     f'(LibriSpeech is 16000 Hz): check the files')
    return examples
