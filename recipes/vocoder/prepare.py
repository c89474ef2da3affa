"""Stage 0: the database JSON of the vocoder recipe, from LibriSpeech (real
or toy) or from any folder of audio files (e.g. LJSpeech).

Both give the datasets ``'train'``, ``'validation'`` and ``'test'`` of
examples::

    {'audio_path': {'observation': '<absolute path>'},
     'num_samples': 233600, 'sample_rate': 16000, ...}

``sample_rate`` is the file's; the data pipeline resamples to the model's
rate on the fly.

LibriSpeech (:func:`prepare_librispeech`): the utterances of the training
``subsets`` (e.g. train-clean-100) are ``'train'``, those of
``validation_subset`` (dev-clean) ``'validation'`` and those of
``test_subset`` (test-clean) ``'test'``: the vocoder is tested on unseen
speakers, as padertorch's WaveNet is (RMSE on test-clean). The files are
found and checked by the speaker recipe's preparation
(:func:`recipes.librispeech.prepare.prepare_database`: layout, bad files
skipped and listed, speaker, chapter, transcription); the examples keep its
keys.

A folder (:func:`prepare_folder`): every ``.wav`` and ``.flac`` file below
it (any depth, case-insensitive suffix) is an example; its id is its path
relative to the folder without the suffix (``wavs/LJ001-0001``). Files that
libsndfile cannot read, empty files and a second file with the same id
(of ``a.flac`` and ``a.wav`` the one later in name order) are skipped and
listed. The split is
deterministic and does not depend on the file system's order: the ids are
ordered by ``zlib.crc32`` of the id (then by the id), the first
``max(1, round(test * n))`` are test, the next ``max(1, round(validation *
n))`` validation, the rest train (at least 3 usable files are needed).
"""
import json
import os
import tempfile
import zlib
from pathlib import Path

from padertorch_audio.data.database import (
    DatabaseError, audio_file_infos, write_database)
# libsndfile's "Error opening '<path>': <why>" as "not readable as audio
# (<why>)", as the speaker recipe reports it
from recipes.librispeech.prepare import _audio_reason

__all__ = ['prepare_librispeech', 'prepare_folder', 'split_ids',
           'AUDIO_SUFFIXES']

#: The suffixes of the audio files of a folder (lower case).
AUDIO_SUFFIXES = ('.wav', '.flac')


def _report(datasets, json_path, skipped, log):
    if skipped:
        log(f'skipped {len(skipped)} file(s):')
        for path, reason in sorted(skipped.items()):
            log(f'  {path}: {reason}')
    counts = {name: len(examples) for name, examples in datasets.items()}
    seconds = {name: sum(example['num_samples'] / example['sample_rate']
                         for example in examples.values())
               for name, examples in datasets.items()}
    log(f'wrote {json_path}: ' + ', '.join(
        f'{name} {counts[name]} ({seconds[name] / 60:.1f} min)'
        for name in datasets))
    return {'json_path': str(json_path), 'counts': counts,
            'minutes': {name: value / 60 for name, value in seconds.items()},
            'skipped': dict(sorted(skipped.items()))}


def prepare_librispeech(root, json_path, subsets=('train-clean-100',),
                        validation_subset='dev-clean',
                        test_subset='test-clean', log=print):
    """The database of a LibriSpeech folder (see the module doc).

    Args:
        root: The folder that holds ``LibriSpeech/`` (or that folder).
        json_path: The database JSON to write (atomically).
        subsets: The training subsets (a list, or one string of names).
        validation_subset, test_subset: One subset each, not among
            ``subsets``.
        log: Called with each line of the report (None: silent).

    Returns:
        ``{'json_path', 'counts': {dataset: n}, 'minutes': {dataset:
        minutes of audio}, 'skipped': {path: reason}}``.

    Raises:
        ValueError: a subset is named twice.
        FileNotFoundError: no LibriSpeech layout, or a subset is missing.
        DatabaseError: no usable utterance (nothing is written then).
    """
    from recipes.librispeech.prepare import parse_subsets, prepare_database
    log = log or (lambda line: None)
    training = parse_subsets(subsets)
    overlap = {validation_subset, test_subset} & set(training)
    if overlap or validation_subset == test_subset:
        raise ValueError(
            f'The training subsets {list(training)}, the validation subset '
            f'{validation_subset!r} and the test subset {test_subset!r} '
            f'must be different subsets.')
    with tempfile.TemporaryDirectory() as directory:
        scanned = Path(directory) / 'scanned.json'
        summary = prepare_database(
            root, scanned, [*training, validation_subset, test_subset],
            log=None)
        database = json.loads(scanned.read_text())['datasets']
    examples = {example_id: example for dataset in database.values()
                for example_id, example in dataset.items()}
    datasets = {'train': {}, 'validation': {}, 'test': {}}
    for example_id, example in sorted(examples.items()):
        subset = example['subset']
        name = ('validation' if subset == validation_subset else 'test'
                if subset == test_subset else 'train')
        datasets[name][example_id] = example
    for name, subset in (('validation', validation_subset),
                         ('test', test_subset), ('train', training[0])):
        if not datasets[name]:
            raise DatabaseError(f'No usable utterance in {subset} of {root} '
                                f'for the {name} set; nothing written to '
                                f'{json_path}.')
    log(f'LibriSpeech at {summary["corpus_dir"]}: train '
        f'{", ".join(training)}, validation {validation_subset}, test '
        f'{test_subset}')
    for note in summary['notes']:
        log(note)
    write_database(json_path, datasets)
    return _report(datasets, json_path, summary['skipped'], log)


def split_ids(ids, split=(0.9, 0.05, 0.05)):
    """Split example ids into train/validation/test (see the module doc).

    Returns:
        ``{'train': [...], 'validation': [...], 'test': [...]}``, each
        sorted.

    >>> parts = split_ids([f'wavs/LJ001-{i:04d}' for i in range(40)])
    >>> {name: len(ids) for name, ids in parts.items()}
    {'train': 36, 'validation': 2, 'test': 2}
    >>> split_ids(['c', 'a', 'b'])  # the order given does not matter
    {'train': ['a'], 'validation': ['b'], 'test': ['c']}
    """
    if len(split) != 3 or any(not 0 < value < 1 for value in split) \
            or abs(sum(split) - 1) > 1e-6:
        raise ValueError(f'split must be three fractions (train, validation, '
                         f'test) between 0 and 1 that sum to 1, found '
                         f'{split!r}.')
    ordered = sorted(ids, key=lambda i: (zlib.crc32(i.encode('utf-8')), i))
    n = len(ordered)
    if n < 3:
        raise DatabaseError(f'{n} usable file(s): a train, a validation and '
                            f'a test set need at least 3.')
    num_test = max(1, round(split[2] * n))
    num_validation = max(1, round(split[1] * n))
    while num_test + num_validation > n - 1:  # keep one for training
        if num_validation >= num_test:
            num_validation -= 1
        else:
            num_test -= 1
    return {
        'train': sorted(ordered[num_test + num_validation:]),
        'validation': sorted(ordered[num_test:num_test + num_validation]),
        'test': sorted(ordered[:num_test]),
    }


def _size(path):
    try:
        return path.stat().st_size
    except OSError:
        return None  # the audio check says why


def _audio_files(folder):
    """``{example id: path}`` of the audio files below ``folder`` and the
    skipped ones ``{path: reason}``."""
    found, skipped = {}, {}
    for directory, folders, names in os.walk(folder, onerror=lambda error:
                                             skipped.update({
                                                 error.filename: 'folder not '
                                                 f'readable ({error})'})):
        folders.sort()
        for name in sorted(names):
            path = Path(directory) / name
            if path.suffix.lower() not in AUDIO_SUFFIXES:
                continue
            example_id = path.relative_to(folder).with_suffix('').as_posix()
            if _size(path) == 0:
                skipped[str(path)] = 'empty file (0 bytes)'
            elif example_id in found:
                skipped[str(path)] = (f'the example id {example_id!r} is '
                                      f'also that of {found[example_id]}')
            else:
                found[example_id] = str(path)
    return found, skipped


def prepare_folder(folder, json_path, split=(0.9, 0.05, 0.05),
                   num_workers=8, log=print):
    """The database of every audio file below ``folder`` (see the module
    doc).

    Args:
        folder: Any folder tree of ``.wav``/``.flac`` files (e.g.
            ``LJSpeech-1.1/``).
        json_path: The database JSON to write (atomically).
        split: ``(train, validation, test)`` fractions.
        num_workers: Threads that read the audio headers.
        log: Called with each line of the report (None: silent).

    Returns:
        As :func:`prepare_librispeech`.

    Raises:
        FileNotFoundError: ``folder`` is no folder.
        DatabaseError: fewer than 3 usable files (the message lists the
            skipped ones); nothing is written then.
    """
    log = log or (lambda line: None)
    folder = Path(os.path.abspath(folder))
    if not folder.is_dir():
        raise FileNotFoundError(f'{folder} is not a folder (expected a '
                                f'folder of .wav/.flac files).')
    found, skipped = _audio_files(folder)
    infos, problems = audio_file_infos(found.values(),
                                       num_workers=num_workers)
    skipped.update({path: _audio_reason(path, reason)
                    for path, reason in problems.items()})
    usable = {example_id: path for example_id, path in found.items()
              if path in infos}
    try:
        parts = split_ids(list(usable), split)
    except DatabaseError as error:
        details = ''.join(f'\n  {path}: {reason}'
                          for path, reason in sorted(skipped.items()))
        raise DatabaseError(
            f'{folder}: {error} ({len(found)} .wav/.flac file(s) found); '
            f'nothing written to {json_path}.{details}') from None
    log(f'{folder}: {len(usable)} audio files')
    rates = sorted({infos[path].samplerate for path in usable.values()})
    log(f'sample rates: {", ".join(map(str, rates))} Hz (resampled to the '
        f'model\'s rate while loading)')
    datasets = {name: {example_id: {
        'audio_path': {'observation': usable[example_id]},
        'num_samples': infos[usable[example_id]].frames,
        'sample_rate': infos[usable[example_id]].samplerate,
    } for example_id in ids} for name, ids in parts.items()}
    write_database(json_path, datasets)
    return _report(datasets, json_path, skipped, log)
