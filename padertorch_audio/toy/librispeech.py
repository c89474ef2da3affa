"""A toy LibriSpeech: the corpus layout with synthetic voices.

:func:`create_librispeech` writes, under ``ROOT/LibriSpeech`` (Panayotov et
al. 2015)::

    SPEAKERS.TXT
    <subset>/<speaker>/<chapter>/<speaker>-<chapter>-<utterance:04d>.flac
    <subset>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt

for the subsets ``train-clean-100``, ``dev-clean`` and ``test-clean``.
Speaker and chapter ids are numbers (drawn from the seed, unique over the
corpus, like the real ones); the subsets have disjoint speakers. The audio
is 16 kHz, 16-bit FLAC, one synthetic utterance per file (the synthesiser's
signal quantised as ``round(x * 32768)``). A ``.trans.txt`` file has one
line ``<utterance id> UPPER CASE TEXT`` per utterance of the chapter, in
order. ``SPEAKERS.TXT`` starts with ``;`` comment lines and has one row
``ID | SEX | SUBSET | MINUTES | NAME`` per speaker (the minutes of audio
of that speaker in this toy corpus, invented reader names). Speakers
alternate between female and male within a subset.

Sizes (speakers x chapters per speaker x utterances per chapter):

========  ===================  ==============  ==============  =======
size      train-clean-100      dev-clean       test-clean      files
========  ===================  ==============  ==============  =======
tiny      4 x 1 x 5            2 x 1 x 2       2 x 1 x 2       37
small     20 x 2 x 15          6 x 1 x 5       6 x 1 x 5       713
medium    251 x 2 x 10         40 x 2 x 5      40 x 2 x 5      6,483
========  ===================  ==============  ==============  =======

(the real train-clean-100 has 251 speakers, dev-clean and test-clean 40
each; small has 30 utterances per training speaker, enough for an 80/10/10
split per speaker with 3 test utterances each, so that verification has
same-speaker trials; tiny has 5). Files: the FLACs, a transcript per
chapter and ``SPEAKERS.TXT``. Measured with 2 processes on a 2-core
machine: tiny 0.5 s (1.4 MB), small about 20 s (30 MB), medium about 80 s
(about 230 MB).

>>> import tempfile
>>> with tempfile.TemporaryDirectory() as root:
...     corpus = create_librispeech(root, size='tiny', seed=0)
...     print(corpus.name, sorted(path.name for path in corpus.iterdir()))
LibriSpeech ['SPEAKERS.TXT', 'dev-clean', 'test-clean', 'train-clean-100']
"""
import dataclasses
from pathlib import Path

import numpy as np

from padertorch_audio.toy import common
from padertorch_audio.toy.phonetics import make_speakers
from padertorch_audio.toy.voices import synthesize

__all__ = ['create_librispeech', 'SIZES', 'SUBSETS', 'CORPUS_DIR']


CORPUS = 'librispeech'
CORPUS_DIR = 'LibriSpeech'
SUBSETS = ('train-clean-100', 'dev-clean', 'test-clean')
SAMPLE_RATE = 16000

#: ``{size: {subset: (speakers, chapters per speaker, utterances per
#: chapter)}}``
SIZES = {
    'tiny': {'train-clean-100': (4, 1, 5), 'dev-clean': (2, 1, 2),
             'test-clean': (2, 1, 2)},
    'small': {'train-clean-100': (20, 2, 15), 'dev-clean': (6, 1, 5),
              'test-clean': (6, 1, 5)},
    'medium': {'train-clean-100': (251, 2, 10), 'dev-clean': (40, 2, 5),
               'test-clean': (40, 2, 5)},
}

_FIRST_NAMES = (
    'Ada', 'Alan', 'Alice', 'Anna', 'Ben', 'Carla', 'Chris', 'Clara',
    'David', 'Diana', 'Edgar', 'Elena', 'Emil', 'Frida', 'George', 'Greta',
    'Hannah', 'Hugo', 'Ida', 'Ivan', 'Julia', 'Karl', 'Laura', 'Leo',
    'Maria', 'Martin', 'Nina', 'Oscar', 'Paula', 'Peter', 'Rosa', 'Simon',
    'Sofia', 'Thomas', 'Vera', 'Walter')
_LAST_NAMES = (
    'Adler', 'Baker', 'Berg', 'Brandt', 'Carter', 'Dahl', 'Ellis', 'Falk',
    'Fischer', 'Grant', 'Hale', 'Hart', 'Jensen', 'Keller', 'Lang', 'Lund',
    'Marsh', 'Meyer', 'Moreau', 'Nash', 'Novak', 'Olsen', 'Park', 'Quinn',
    'Reed', 'Roth', 'Sandberg', 'Stone', 'Vogel', 'Wells', 'Winter', 'Young')


@dataclasses.dataclass(frozen=True)
class _Chapter:
    root: Path
    seed: int
    subset: str
    speaker: object  # phonetics.Speaker
    chapter_id: int
    first_utterance_index: int  # of the speaker, for synthesize
    num_utterances: int

    @property
    def directory(self):
        return (f'{CORPUS_DIR}/{self.subset}/{self.speaker.speaker_id}/'
                f'{self.chapter_id}')


def _plan(root, size, seed):
    """The speakers ``[(subset, Speaker, name)]`` and the chapters."""
    rng = np.random.default_rng([seed, 1])
    layout = SIZES[size]
    num_speakers = sum(speakers for speakers, _, _ in layout.values())
    num_chapters = sum(speakers * chapters
                       for speakers, chapters, _ in layout.values())
    speaker_ids = iter(rng.choice(np.arange(10, 9000), num_speakers,
                                  replace=False))
    chapter_ids = iter(rng.choice(np.arange(100, 200000), num_chapters,
                                  replace=False))
    speakers, chapters = [], []
    for subset in SUBSETS:
        count, chapters_per_speaker, utterances_per_chapter = layout[subset]
        ids = [str(i) for i in sorted(next(speaker_ids) for _ in range(count))]
        sexes = ['F' if i % 2 == 0 else 'M' for i in range(count)]
        for speaker in make_speakers(ids, seed, sexes=sexes):
            name = (f'{_FIRST_NAMES[rng.integers(len(_FIRST_NAMES))]} '
                    f'{_LAST_NAMES[rng.integers(len(_LAST_NAMES))]}')
            speakers.append((subset, speaker, name))
            for position in range(chapters_per_speaker):
                chapters.append(_Chapter(
                    Path(root), seed, subset, speaker, int(next(chapter_ids)),
                    position * utterances_per_chapter, utterances_per_chapter))
    return speakers, chapters


def _write_chapter(chapter):
    """Synthesise and write one chapter (FLACs and transcript); returns
    ``([(relative path, sha256)], seconds of audio)``."""
    written, lines, seconds = [], [], 0.0
    prefix = f'{chapter.speaker.speaker_id}-{chapter.chapter_id}'
    for number in range(chapter.num_utterances):
        signal, transcript = synthesize(
            chapter.speaker, chapter.seed,
            chapter.first_utterance_index + number, sample_rate=SAMPLE_RATE)
        utterance_id = f'{prefix}-{number:04d}'
        data = common.encode_audio(
            common.to_int16(np.clip(signal, -1, 32767 / 32768)), SAMPLE_RATE,
            'FLAC')
        written.append(common.write_file(
            chapter.root, f'{chapter.directory}/{utterance_id}.flac', data))
        lines.append(f'{utterance_id} {transcript}\n')
        seconds += len(signal) / SAMPLE_RATE
    written.append(common.write_file(
        chapter.root, f'{chapter.directory}/{prefix}.trans.txt',
        ''.join(lines).encode()))
    return written, seconds


def _speakers_table(speakers, minutes, parameters):
    lines = [
        '; padertorch_audio toy LibriSpeech: synthetic voices, invented '
        'reader names\n',
        f'; size={parameters.size}, seed={parameters.seed}, version '
        f'{parameters.version}\n',
        '; reader id, sex (F/M), subset, minutes of audio in this corpus, '
        'name\n',
        ';ID  |SEX| SUBSET           |MINUTES| NAME\n',
    ]
    for subset, speaker, name in sorted(
            speakers, key=lambda item: int(item[1].speaker_id)):
        lines.append(
            f'{speaker.speaker_id:<5}| {speaker.sex} | {subset:<17}| '
            f'{minutes[speaker.speaker_id]:5.2f} | {name}\n')
    return ''.join(lines).encode()


def create_librispeech(root, size='small', seed=0, *, processes=None):
    """Write a toy LibriSpeech under ``root/LibriSpeech``.

    See the module docstring for the layout and the sizes. ``root`` must be
    missing, empty, or hold this very corpus (same size, seed and version:
    then nothing is written) or an interrupted generation of it (then it is
    completed); see :mod:`padertorch_audio.toy.common`.

    Args:
        root: The directory for the corpus (str or Path).
        size: 'tiny', 'small' or 'medium'.
        seed: Whole number >= 0; the same seed gives the same bytes.
        processes: Worker processes (default: the usable CPU cores). The
            output does not depend on it.

    Returns:
        pathlib.Path of the corpus, ``root/LibriSpeech``.

    Raises:
        ValueError: unknown size, bad seed.
        ToyCorpusError: ``root`` holds something else; nothing is touched.
        NotADirectoryError, PermissionError: ``root`` cannot be written.
    """
    return common.create(CORPUS, CORPUS_DIR, SIZES, root, size, seed,
                         processes, _write)


def _write(root, size, seed, parameters, pool):
    speakers, chapters = _plan(root, size, seed)
    for chapter in chapters:
        (root / chapter.directory).mkdir(parents=True, exist_ok=True)
    digests, minutes = {}, {}
    for chapter, (written, seconds) in zip(
            chapters, pool.map(_write_chapter, chapters)):
        digests.update(written)
        speaker_id = chapter.speaker.speaker_id
        minutes[speaker_id] = minutes.get(speaker_id, 0) + seconds / 60
    digests.update([common.write_file(
        root, f'{CORPUS_DIR}/SPEAKERS.TXT',
        _speakers_table(speakers, minutes, parameters))])
    return digests
