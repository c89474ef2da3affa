"""A toy wsj0-2mix / wsj0-3mix: the corpus layout with synthetic voices.

:func:`create_wsj0_2mix` writes, under ``ROOT/wsj0-mix``, both layouts of
the real corpus (Hershey et al. 2016)::

    {2,3}speakers/wav{8k,16k}/{min,max}/{tr,cv,tt}/{mix,s1,s2[,s3]}/<name>.wav

``<name>`` is ``<utt1>_<gain1>_<utt2>_<gain2>[_<utt3>_<gain3>]``, e.g.
``01ac0102_0.24059_01ic0105_-0.24059``. An utterance id has WSJ's 8
characters: the speaker (3 characters, e.g. ``01a``; test speakers are
numeric, e.g. ``050``), the type ``c``, a 2-digit session and a 2-digit
index. tr and cv share their speakers (with different utterances), the tt
speakers occur nowhere else; the 2- and 3-speaker layouts use the same
speakers and utterances. Speakers alternate between female and male.

Gains (dB) are written with 5 significant digits, like the real mixing
lists, and are exactly the gains applied. The first two are opposite,
``g`` and ``-g`` with ``g`` uniform in [0, 2.5], so the relative level of
s1 and s2 is 0-5 dB; a third speaker gets its own gain, uniform in
[-2.5, 2.5]. The level of an utterance is its mean power over its own
samples (the real corpus uses the active speech level of ITU-T P.56; the
synthetic utterances have little silence: their edges are trimmed where
they are more than 60 dB below the peak).

Per mixture and sample rate, each source is normalised to unit power,
multiplied by its gain, zero-padded to the longest source (``max``) and
everything is scaled by one factor so that the largest absolute sample of
the mixture and the sources is 0.9. The sources are quantised to 16 bits
and the mixture is the sum of the quantised sources, so ``mix == s1 + s2
[+ s3]`` holds exactly in the files (16-bit PCM WAV). ``min`` is ``max``
truncated to the shortest source (same scale).

The 8 kHz versions are resampled from the 16 kHz synthesis
(:func:`padertorch_audio.features.resample`, not synthesised at 8 kHz)
before the level normalisation, which is done at each rate, so the gains
hold at both rates; the scale factor differs between the rates.

Sizes (mixtures per layout and dataset; tr/cv speakers, tt speakers):

========  ====================  ====================  ==========  ========
size      2speakers tr/cv/tt    3speakers tr/cv/tt    speakers    files
========  ====================  ====================  ==========  ========
tiny      12 / 4 / 4            6 / 2 / 2             6 / 4       400
small     200 / 50 / 50         100 / 25 / 25         16 / 6      6,000
medium    2000 / 500 / 300      1000 / 250 / 150      101 / 18    56,000
========  ====================  ====================  ==========  ========

(the real corpus: tr 20,000 / cv 5,000 / tt 3,000 mixtures, 101 tr/cv and
18 tt speakers). Each mixture gives 12 files (2 speakers) or 16 (3
speakers): mix and sources for 2 rates x {min, max}.

Measured with 2 processes on a 2-core machine: tiny 0.8 s (27 MB), small
8.5 s (360 MB; 15 s with 1 process, about 20 s while other jobs load the
machine), medium about 3.5 minutes (about 3.3 GB).

>>> import tempfile
>>> with tempfile.TemporaryDirectory() as root:
...     corpus = create_wsj0_2mix(root, size='tiny', seed=0)
...     mixtures = sorted((corpus / '2speakers/wav8k/min/tt/mix').iterdir())
...     print(corpus.name, len(mixtures))
wsj0-mix 4
"""
import dataclasses
from pathlib import Path

import numpy as np

from padertorch_audio.toy import common
from padertorch_audio.toy.phonetics import make_speakers
from padertorch_audio.toy.voices import synthesize

__all__ = ['create_wsj0_2mix', 'SIZES', 'CORPUS_DIR']


CORPUS = 'wsj0_2mix'
CORPUS_DIR = 'wsj0-mix'
DATASETS = ('tr', 'cv', 'tt')
SAMPLE_RATES = (8000, 16000)
MODES = ('min', 'max')
SYNTHESIS_RATE = 16000
PEAK = 0.9
MAX_GAIN_DB = 2.5
TRIM_BELOW_DB = -60
# Utterances (16 and 8 kHz) kept in memory at a time: about 0.3 MB each.
MAX_UTTERANCES_IN_MEMORY = 500


@dataclasses.dataclass(frozen=True)
class Size:
    """How large a toy wsj0-mix is.

    mixtures: ``{num_speakers: (tr, cv, tt)}`` numbers of mixtures.
    speakers: ``(tr and cv, tt)`` numbers of speakers.
    utterances: ``(tr, cv, tt)`` numbers of distinct utterances per speaker.
    """
    mixtures: dict
    speakers: tuple
    utterances: tuple


SIZES = {
    'tiny': Size({2: (12, 4, 4), 3: (6, 2, 2)}, (6, 4), (4, 2, 4)),
    'small': Size({2: (200, 50, 50), 3: (100, 25, 25)}, (16, 6), (20, 6, 15)),
    'medium': Size({2: (2000, 500, 300), 3: (1000, 250, 150)}, (101, 18),
                   (80, 20, 60)),
}


@dataclasses.dataclass(frozen=True)
class _Source:
    speaker: object  # phonetics.Speaker
    utterance_index: int
    utterance_id: str
    gain_db: float


@dataclasses.dataclass(frozen=True)
class _Mixture:
    root: Path
    dataset: str
    sources: tuple  # of _Source

    @property
    def name(self):
        return '_'.join(f'{source.utterance_id}_{_format_gain(source.gain_db)}'
                        for source in self.sources)


def _format_gain(gain_db):
    """5 significant digits, no exponent, no trailing zeros: '0.97482',
    '-1.1264', '0.15', '2'."""
    return np.format_float_positional(
        gain_db + 0.0, precision=5, fractional=False, trim='-')


def _round_gain(gain_db):
    return float(_format_gain(gain_db))


def _speaker_ids(size):
    num_training, num_test = SIZES[size].speakers
    letters = 'abcdefghijklmnopqrstuvwxyz'
    training = [f'{1 + i // 26:02d}{letters[i % 26]}'
                for i in range(num_training)]
    test = [f'{50 + i:03d}' for i in range(num_test)]
    return training, test


def _sexes(speaker_ids):
    return ['F' if i % 2 == 0 else 'M' for i in range(len(speaker_ids))]


def _utterance_id(speaker_id, index):
    session, number = divmod(index, 99)
    if session >= 99:
        raise ValueError(f'Utterance index {index} too large for an id.')
    return f'{speaker_id}c{session + 1:02d}{number + 1:02d}'


def _plan(root, size, seed):
    """All mixtures of all layouts: ``{num_speakers: [_Mixture]}``."""
    training_ids, test_ids = _speaker_ids(size)
    training = make_speakers(training_ids, seed, sexes=_sexes(training_ids))
    test = make_speakers(test_ids, seed, sexes=_sexes(test_ids))
    num_tr, num_cv, num_tt = SIZES[size].utterances
    pools = {  # speakers and the indices of their utterances
        'tr': (training, range(0, num_tr)),
        'cv': (training, range(num_tr, num_tr + num_cv)),
        'tt': (test, range(0, num_tt)),
    }
    plan = {}
    for num_speakers, counts in SIZES[size].mixtures.items():
        plan[num_speakers] = []
        for index, (dataset, count) in enumerate(zip(DATASETS, counts)):
            rng = np.random.default_rng([seed, num_speakers, index])
            speakers, indices = pools[dataset]
            names = set()
            for _ in range(100 * count):
                if len(names) == count:
                    break
                chosen = rng.choice(len(speakers), num_speakers, replace=False)
                gain = _round_gain(rng.uniform(0, MAX_GAIN_DB))
                gains = [gain, -gain]
                if num_speakers == 3:
                    gains.append(_round_gain(
                        rng.uniform(-MAX_GAIN_DB, MAX_GAIN_DB)))
                sources = []
                for speaker_index, gain_db in zip(chosen, gains):
                    speaker = speakers[speaker_index]
                    index = int(rng.choice(indices))
                    sources.append(_Source(
                        speaker, index,
                        _utterance_id(speaker.speaker_id, index), gain_db))
                mixture = _Mixture(Path(root), dataset, tuple(sources))
                if mixture.name not in names:
                    names.add(mixture.name)
                    plan[num_speakers].append(mixture)
            if len(names) < count:
                raise RuntimeError(
                    f'Could not draw {count} distinct mixtures for {dataset} '
                    f'of size {size!r}: too few speakers or utterances.')
    return plan


def _trim(signal):
    """Remove the edges more than 60 dB below the peak."""
    threshold = np.abs(signal).max() * 10 ** (TRIM_BELOW_DB / 20)
    loud = np.flatnonzero(np.abs(signal) > threshold)
    return signal[loud[0]:loud[-1] + 1]


def _synthesize_utterance(job):
    """The utterance ``(speaker, utterance_index, seed)`` at all sample
    rates: ``{sample_rate: float32 signal}`` (float32 to halve the memory;
    still far finer than the 16-bit files)."""
    from padertorch_audio.features import resample
    speaker, utterance_index, seed = job
    signal, _ = synthesize(speaker, seed, utterance_index,
                           sample_rate=SYNTHESIS_RATE)
    signal = _trim(np.asarray(signal, dtype=np.float64))
    return {sample_rate: (signal if sample_rate == SYNTHESIS_RATE
                          else resample(signal, SYNTHESIS_RATE, sample_rate)
                          ).astype(np.float32)
            for sample_rate in SAMPLE_RATES}


def _directory(num_speakers, sample_rate, mode, dataset):
    return (f'{CORPUS_DIR}/{num_speakers}speakers/wav{sample_rate // 1000}k/'
            f'{mode}/{dataset}')


def _mix(sources, gains_db):
    """The scaled, quantised sources (int16, ``(K, max length)``, zero
    padded) and their sum, the mixture (int16)."""
    length = max(len(source) for source in sources)
    scaled = np.zeros((len(sources), length))
    for k, (source, gain_db) in enumerate(zip(sources, gains_db)):
        source = np.asarray(source, dtype=np.float64)
        power = np.mean(source ** 2)
        scaled[k, :len(source)] = source / np.sqrt(power) \
            * 10 ** (gain_db / 20)
    peak = max(np.abs(scaled).max(), np.abs(scaled.sum(axis=0)).max())
    quantised = common.to_int16(scaled * (PEAK / peak))
    mixture = quantised.astype(np.int32).sum(axis=0)
    return quantised, mixture.astype(np.int16)


def _write_mixture(job):
    """Write all files of one mixture; returns their ``[(relative path,
    sha256)]``.

    job: ``(mixture, [{sample_rate: signal}, one per source])``.
    """
    mixture, utterances = job
    gains = [source.gain_db for source in mixture.sources]
    num_speakers = len(utterances)
    written = []
    for sample_rate in SAMPLE_RATES:
        signals = [utterance[sample_rate] for utterance in utterances]
        sources, mix = _mix(signals, gains)
        lengths = {'max': sources.shape[1],
                   'min': min(len(signal) for signal in signals)}
        for mode in MODES:
            directory = _directory(num_speakers, sample_rate, mode,
                                   mixture.dataset)
            length = lengths[mode]
            for folder, signal in [('mix', mix)] + [
                    (f's{k + 1}', source) for k, source in enumerate(sources)]:
                data = common.encode_audio(signal[:length], sample_rate, 'WAV')
                written.append(common.write_file(
                    mixture.root, f'{directory}/{folder}/{mixture.name}.wav',
                    data))
    return written


def _utterance_key(source):
    return source.speaker.speaker_id, source.utterance_index


def _blocks(mixtures, max_utterances):
    """Consecutive groups of `mixtures` that need at most `max_utterances`
    distinct utterances each (fewer syntheses, bounded memory)."""
    block, keys = [], set()
    for mixture in mixtures:
        new = {_utterance_key(source) for source in mixture.sources}
        if block and len(keys | new) > max_utterances:
            yield block
            block, keys = [], set()
        block.append(mixture)
        keys |= new
    if block:
        yield block


def _generate(plan, seed, pool):
    """Synthesise and write all mixtures of `plan`, block by block: first
    every utterance of a block once, then its mixtures."""
    mixtures = sorted(
        (mixture for mixtures in plan.values() for mixture in mixtures),
        key=lambda mixture: DATASETS.index(mixture.dataset))
    digests = {}
    for block in _blocks(mixtures, MAX_UTTERANCES_IN_MEMORY):
        sources = {_utterance_key(source): source
                   for mixture in block for source in mixture.sources}
        keys = sorted(sources)
        signals = dict(zip(keys, pool.map(_synthesize_utterance, [
            (sources[key].speaker, sources[key].utterance_index, seed)
            for key in keys])))
        jobs = [(mixture, [signals[_utterance_key(source)]
                           for source in mixture.sources])
                for mixture in block]
        for written in pool.map(_write_mixture, jobs):
            digests.update(written)
    return digests


def create_wsj0_2mix(root, size='small', seed=0, *, processes=None):
    """Write a toy wsj0-2mix and wsj0-3mix under ``root/wsj0-mix``.

    See the module docstring for the layout, the sizes and how the signals
    are made. ``root`` must be missing, empty, or hold this very corpus
    (same size, seed and version: then nothing is written) or an interrupted
    generation of it (then it is completed); see
    :mod:`padertorch_audio.toy.common`.

    Args:
        root: The directory for the corpus (str or Path).
        size: 'tiny', 'small' or 'medium'.
        seed: Whole number >= 0; the same seed gives the same bytes.
        processes: Worker processes (default: the usable CPU cores). The
            output does not depend on it.

    Returns:
        pathlib.Path of the corpus, ``root/wsj0-mix``.

    Raises:
        ValueError: unknown size, bad seed.
        ToyCorpusError: ``root`` holds something else; nothing is touched.
        NotADirectoryError, PermissionError: ``root`` cannot be written.
    """
    return common.create(CORPUS, CORPUS_DIR, SIZES, root, size, seed,
                         processes, _write)


def _write(root, size, seed, parameters, pool):
    plan = _plan(root, size, seed)
    for num_speakers, mixtures in plan.items():
        for sample_rate in SAMPLE_RATES:
            for mode in MODES:
                for dataset in DATASETS:
                    for folder in ['mix'] + [f's{k + 1}'
                                             for k in range(num_speakers)]:
                        directory = _directory(
                            num_speakers, sample_rate, mode, dataset)
                        (root / directory / folder).mkdir(
                            parents=True, exist_ok=True)
    return _generate(plan, seed, pool)
