"""What a toy utterance says: speakers and the phonetic plan.

:func:`plan_utterance` draws the content of an utterance in continuous time
(seconds), independent of the sample rate: words of one to three
consonant-vowel syllables (pseudo-words such as ``'MALO TI'``), the segment
timeline (vowels, nasals/liquids/glides, stop closures and bursts,
fricatives, aspiration, pauses), formant targets, voicing and noise
envelopes and the pitch contour. :mod:`padertorch_audio.toy.voices` renders
such a plan into a waveform (how it sounds).

Facts used: average formant frequencies of American English vowels of adult
men (Peterson & Barney 1952; F4 is not in that table, a typical 3.4 kHz is
assumed), typical consonant formant targets and F2 loci, mean speaking
pitch of men (about 85-155 Hz) and women (about 165-255 Hz), syllable rates
of 3-6 per second, declination of F0 over an utterance with a phrase-final
fall (statements) or rise (questions). A speaker's vocal-tract length
enters as a uniform formant scale factor (1.0: average man, about
1.15-1.2: average woman).

Everything is a function of its arguments: random draws come from
``numpy.random.SeedSequence`` keyed by the seed, a CRC-32 of the speaker
id and the utterance index, never from global state, so utterances can be
planned in any order and in parallel.
"""
import dataclasses
import math
import zlib

import numpy as np

__all__ = [
    'Speaker',
    'Segment',
    'Utterance',
    'make_speakers',
    'plan_utterance',
    'VOWEL_FORMANTS',
    'CONSONANTS',
]

#: F1-F4 (Hz) of an average adult male speaker, keyed by the spelling used
#: in transcripts. F1-F3: Peterson & Barney (1952) averages for men.
VOWEL_FORMANTS = {
    'I': (270., 2290., 3010., 3400.),   # /i/  heed
    'IH': (390., 1990., 2550., 3400.),  # /ɪ/  hid
    'E': (530., 1840., 2480., 3400.),   # /ɛ/  head
    'AE': (660., 1720., 2410., 3400.),  # /æ/  had
    'A': (730., 1090., 2440., 3400.),   # /ɑ/  hod
    'O': (570., 840., 2410., 3400.),    # /ɔ/  hawed
    'OO': (440., 1020., 2240., 3400.),  # /ʊ/  hood
    'U': (300., 870., 2240., 3400.),    # /u/  who'd
    'UH': (640., 1190., 2390., 3400.),  # /ʌ/  hud
    'ER': (490., 1350., 1690., 3400.),  # /ɝ/  heard
}


@dataclasses.dataclass(frozen=True)
class _Consonant:
    kind: str           # 'nasal', 'liquid', 'glide', 'stop', 'fricative',
    #                     'aspiration'
    formants: tuple = ()  # F1-F4 targets (Hz, average man) for sonorants
    voiced: bool = False
    locus: float = 0.   # F2 locus of stops (Hz)
    band: tuple = ()    # noise band (Hz) of fricatives and bursts
    level: float = 0.   # sonorant voicing level or noise level (relative)
    weight: float = 1.  # relative frequency as an onset


#: Onset consonants, keyed by their spelling in transcripts.
CONSONANTS = {
    'M': _Consonant('nasal', (270., 1100., 2150., 3300.), True, level=.35),
    'N': _Consonant('nasal', (270., 1500., 2500., 3300.), True, level=.35),
    'L': _Consonant('liquid', (360., 1100., 2700., 3300.), True, level=.6),
    'R': _Consonant('liquid', (330., 1060., 1400., 3300.), True, level=.6),
    'W': _Consonant('glide', (290., 650., 2200., 3300.), True, level=.7,
                    weight=.6),
    'Y': _Consonant('glide', (260., 2100., 3000., 3500.), True, level=.7,
                    weight=.6),
    'P': _Consonant('stop', locus=900., band=(400., 2500.), level=.4),
    'T': _Consonant('stop', locus=1800., band=(2500., 6500.), level=.6),
    'K': _Consonant('stop', locus=2000., band=(1200., 3500.), level=.5),
    'B': _Consonant('stop', voiced=True, locus=900., band=(300., 2000.),
                    level=.25),
    'D': _Consonant('stop', voiced=True, locus=1800., band=(2500., 6000.),
                    level=.3),
    'G': _Consonant('stop', voiced=True, locus=2000., band=(1200., 3000.),
                    level=.3),
    'S': _Consonant('fricative', band=(3500., 7500.), level=.35),
    'SH': _Consonant('fricative', band=(1800., 5000.), level=.3),
    'F': _Consonant('fricative', band=(1200., 7000.), level=.12, weight=.7),
    'H': _Consonant('aspiration', level=.3, weight=.6),
}

_CODAS = ('N', 'M', 'S', 'L', 'T', 'K')

# Tags that keep the random streams of different purposes apart (the
# rendering noise has its own in voices.py).
_SPEAKER_STREAM, _PLAN_STREAM = 0x5be4, 0x91a7

_PITCH_SECONDS = 0.005  # grid of the pitch contour


# --------------------------------------------------------------------------
# Speakers
# --------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Speaker:
    """Voice parameters of one toy speaker.

    Attributes:
        speaker_id: Name, e.g. ``'40a'`` or ``'103'``; keys the random
            draws of the speaker's utterances.
        sex: ``'F'`` or ``'M'``.
        mean_pitch_hz: Geometric mean F0 over the voiced parts (Hz).
        pitch_range_semitones: Span of the intonation (declination,
            accents, final fall/rise) in semitones.
        formant_scale: Factor on all formant frequencies (inverse vocal
            tract length): about 0.85 (long tract) to 1.2 (short tract);
            1.0 is the average man.
        speaking_rate: Syllables per second (pauses excluded).
        breathiness: 0 (modal) to 1 (breathy): aspiration noise level,
            spectral tilt, open quotient, first-formant bandwidth.
    """
    speaker_id: str
    sex: str
    mean_pitch_hz: float
    pitch_range_semitones: float
    formant_scale: float
    speaking_rate: float
    breathiness: float

    def __post_init__(self):
        checks = [
            ('sex', self.sex in ('F', 'M'), "'F' or 'M'"),
            ('mean_pitch_hz', 40 <= self.mean_pitch_hz <= 600,
             'in [40, 600] Hz'),
            ('pitch_range_semitones', 0 <= self.pitch_range_semitones <= 24,
             'in [0, 24]'),
            ('formant_scale', 0.5 <= self.formant_scale <= 2,
             'in [0.5, 2]'),
            ('speaking_rate', 1 <= self.speaking_rate <= 10,
             'in [1, 10] syllables/s'),
            ('breathiness', 0 <= self.breathiness <= 1, 'in [0, 1]'),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise ValueError(
                    f'Speaker {self.speaker_id!r}: expected {name} '
                    f'{expected}, found {getattr(self, name)!r}.')


def _id_hash(speaker_id):
    return zlib.crc32(str(speaker_id).encode('utf-8'))


def _check_seed(seed):
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f'Expected a non-negative integer seed, found '
                         f'{seed!r}.')
    return int(seed)


def make_speakers(speaker_ids, seed, sexes=None):
    """Draw a :class:`Speaker` for every id.

    Args:
        speaker_ids: Iterable of ids (str).
        seed: Non-negative int. Each speaker depends only on ``(seed,
            speaker_id)`` (and its sex), not on its position in the list.
        sexes: Optional list of ``'F'``/``'M'``, one per id. By default the
            sex follows the parity of the id's CRC-32 (even: ``'F'``).

    Returns:
        A list of speakers: women with mean pitch in [165, 255] Hz and
        formant scale in [1.05, 1.2], men with [85, 155] Hz and [0.85,
        1.02]; pitch range 4-10 semitones, 3.5-5.5 syllables/s,
        breathiness 0.05-0.6 (men) or 0.15-0.75 (women).

    >>> [(s.speaker_id, s.sex) for s in make_speakers(['a', 'b'], 0,
    ...                                               sexes=['M', 'F'])]
    [('a', 'M'), ('b', 'F')]
    """
    seed = _check_seed(seed)
    speaker_ids = [str(speaker_id) for speaker_id in speaker_ids]
    if sexes is None:
        sexes = ['F' if _id_hash(i) % 2 == 0 else 'M' for i in speaker_ids]
    sexes = list(sexes)
    if len(sexes) != len(speaker_ids):
        raise ValueError(f'Expected one sex per speaker id: found '
                         f'{len(sexes)} sexes for {len(speaker_ids)} ids.')
    speakers = []
    for speaker_id, sex in zip(speaker_ids, sexes):
        if sex not in ('F', 'M'):
            raise ValueError(f"Expected sex 'F' or 'M' for speaker "
                             f"{speaker_id!r}, found {sex!r}.")
        rng = np.random.default_rng(np.random.SeedSequence(
            [_SPEAKER_STREAM, seed, _id_hash(speaker_id)]))
        u = rng.uniform(size=5)
        female = sex == 'F'
        speakers.append(Speaker(
            speaker_id=speaker_id,
            sex=sex,
            mean_pitch_hz=float(
                # geometric interpolation: even spread in semitones
                165 * (255 / 165) ** u[0] if female
                else 85 * (155 / 85) ** u[0]),
            pitch_range_semitones=float(4 + 6 * u[1]),
            formant_scale=float(1.05 + 0.15 * u[2] if female
                                else 0.85 + 0.17 * u[2]),
            speaking_rate=float(3.5 + 2 * u[3]),
            breathiness=float(0.15 + 0.6 * u[4] if female
                              else 0.05 + 0.55 * u[4]),
        ))
    return speakers


# --------------------------------------------------------------------------
# Planning (continuous time, independent of the sample rate)
# --------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Segment:
    """One piece of the timeline of an utterance.

    Attributes:
        kind: ``'silence'``, ``'vowel'``, ``'sonorant'`` (nasal, liquid,
            glide), ``'closure'`` (of a stop), ``'burst'``, ``'aspiration'``
            (noise through the vocal tract: ``H`` and stop release) or
            ``'fricative'``.
        phone: Spelling of the phone it belongs to (``''`` for silence).
        start: Start time in seconds.
        duration: Duration in seconds.
        voiced: Whether the glottal source is on (weakly in voiced stop
            closures and bursts).
        word: Index of the word it belongs to (``None`` for silence).
    """
    kind: str
    phone: str
    start: float
    duration: float
    voiced: bool
    word: int = None

    @property
    def stop(self):
        """End time in seconds."""
        return self.start + self.duration


@dataclasses.dataclass(frozen=True, eq=False)
class Utterance:
    """The sample-rate independent plan of one utterance.

    Attributes:
        speaker: The :class:`Speaker`.
        words: One tuple of syllable spellings per word.
        segments: The timeline, contiguous from 0 to ``duration``.
        duration: Seconds.
        formant_times: ``(anchors,)`` seconds; formant tracks interpolate
            linearly between the anchors (and stay constant outside).
        formant_values: ``(anchors, 4)`` F1-F4 in Hz (speaker-scaled).
        voicing_times, voicing_values: Anchors of the glottal source
            amplitude (linear scale, 0..1).
        aspiration_times, aspiration_values: Anchors of the aspiration
            noise amplitude (relative to the voicing scale; the speaker's
            breathiness adds to it in voiced parts at render time).
        pitch_times: ``(frames,)`` seconds, a 5-ms grid.
        pitch_hz: ``(frames,)`` F0 in Hz (without jitter).
        peak: Target peak amplitude of the waveform.
        noise_key: Entropy for the rendering noise.
    """
    speaker: Speaker
    words: tuple
    segments: tuple
    duration: float
    formant_times: np.ndarray
    formant_values: np.ndarray
    voicing_times: np.ndarray
    voicing_values: np.ndarray
    aspiration_times: np.ndarray
    aspiration_values: np.ndarray
    pitch_times: np.ndarray
    pitch_hz: np.ndarray
    peak: float
    noise_key: tuple

    @property
    def transcript(self):
        """Upper-case words, one per synthesised word, e.g. ``'MALO TI'``."""
        return ' '.join(''.join(word) for word in self.words)

    @property
    def num_syllables(self):
        """Number of syllables (= vowel segments)."""
        return sum(len(word) for word in self.words)


def _weighted_choice(rng, names, weights):
    weights = np.asarray(weights, dtype=float)
    return names[rng.choice(len(names), p=weights / weights.sum())]


def _syllable_counts(rng, num_words, speaking_rate, explicit):
    counts = list(rng.choice([1, 2, 3], size=num_words, p=[.4, .4, .2]))
    # keep the speech (pauses excluded) at roughly 1.1-3 s
    minimum = max(num_words, math.ceil(1.1 * speaking_rate))
    maximum = min(3 * num_words, math.floor(3.0 * speaking_rate))
    if explicit:
        minimum, maximum = num_words, 3 * num_words
    while sum(counts) > maximum and max(counts) > 1:
        counts[int(np.argmax(counts))] -= 1
    while sum(counts) < minimum and min(counts) < 3:
        counts[int(np.argmin(counts))] += 1
    return [int(c) for c in counts]


class _Timeline:
    """Collects segments and envelope anchors while planning."""

    def __init__(self):
        self.time = 0.
        self.word = None  # index of the word being planned
        self.segments = []
        self.formants = []    # (time, (F1, F2, F3, F4))
        self.voicing = []     # (time, amplitude)
        self.aspiration = []  # (time, amplitude)

    def add(self, kind, phone, duration, voiced, voicing=0., aspiration=0.,
            ramp=0.006):
        start = self.time
        ramp = min(ramp, 0.3 * duration)
        self.segments.append(Segment(
            kind, phone, start, duration, voiced,
            None if kind == 'silence' else self.word))
        for anchors, value in ((self.voicing, voicing),
                               (self.aspiration, aspiration)):
            if isinstance(value, tuple):  # (onset, middle, offset) levels
                anchors += [(start + ramp, value[0]),
                            (start + 0.4 * duration, value[1]),
                            (start + duration - ramp, value[2])]
            else:
                anchors += [(start + ramp, value),
                            (start + duration - ramp, value)]
        self.time += duration
        return start

    def formant_target(self, start, duration, formants, hold=0.3):
        edge = min(0.04, hold * duration)
        self.formants += [(start + edge, formants),
                          (start + duration - edge, formants)]


def _scaled(formants, scale):
    return tuple(scale * f for f in formants)


def plan_utterance(speaker, seed, utterance_index, num_words=None):
    """Draw the content of one utterance (see the module docstring).

    Args:
        speaker: A :class:`Speaker`.
        seed: Non-negative int (the corpus seed).
        utterance_index: Non-negative int; with ``seed`` and
            ``speaker.speaker_id`` it keys all random draws.
        num_words: Number of words; default: drawn from 3-8.

    Returns:
        An :class:`Utterance` (independent of any sample rate). Changing
        only ``speaker.speaking_rate`` keeps the words and stretches the
        timing; changing ``formant_scale`` or ``mean_pitch_hz`` keeps the
        timing.
    """
    seed = _check_seed(seed)
    if not isinstance(utterance_index, (int, np.integer)) \
            or utterance_index < 0:
        raise ValueError(f'Expected a non-negative integer utterance_index, '
                         f'found {utterance_index!r}.')
    key = (seed, _id_hash(speaker.speaker_id), int(utterance_index))
    rng = np.random.default_rng(np.random.SeedSequence(
        [_PLAN_STREAM, *key]))
    explicit = num_words is not None
    if not explicit:
        num_words = int(rng.integers(3, 9))
    elif not isinstance(num_words, (int, np.integer)) or num_words < 1:
        raise ValueError(f'Expected num_words >= 1, found {num_words!r}.')
    counts = _syllable_counts(rng, num_words, speaker.speaking_rate,
                              explicit)

    scale = speaker.formant_scale
    syllable_seconds = 1. / speaker.speaking_rate
    onsets = list(CONSONANTS)
    onset_weights = [CONSONANTS[c].weight for c in onsets]
    vowels = list(VOWEL_FORMANTS)
    timeline = _Timeline()
    timeline.add('silence', '', rng.uniform(0.1, 0.25), False)
    words = []
    accents = []  # (time, width) of the stressed vowel of each word
    for word_index, count in enumerate(counts):
        if word_index > 0 and rng.uniform() < 0.5:
            timeline.add('silence', '', rng.uniform(0.04, 0.16), False)
        timeline.word = word_index
        stressed = int(rng.integers(count)) if count > 1 else 0
        syllables = []
        for index in range(count):
            final = word_index == len(counts) - 1 and index == count - 1
            onset = (_weighted_choice(rng, onsets, onset_weights)
                     if rng.uniform() < 0.85 else '')
            vowel = vowels[int(rng.integers(len(vowels)))]
            coda = (_CODAS[int(rng.integers(len(_CODAS)))]
                    if index == count - 1 and rng.uniform() < 0.25 else '')
            level = 1. if index == stressed else rng.uniform(0.55, 0.8)
            length = (syllable_seconds * rng.uniform(0.8, 1.2)
                      * (1.15 if index == stressed else 0.9)
                      * (1.3 if final else 1.))
            # per-token variation of the vowel quality (+-5 %)
            target = _scaled(VOWEL_FORMANTS[vowel],
                             scale * rng.uniform(0.95, 1.05))
            onset_seconds = 0.3 * length if onset else 0.
            coda_seconds = 0.2 * length if coda else 0.
            vowel_seconds = length - onset_seconds - coda_seconds
            vowel_seconds += _plan_onset(timeline, onset, onset_seconds,
                                         target, scale, level)
            start = timeline.add(
                'vowel', vowel, vowel_seconds, True,
                voicing=(0.85 * level, level, (0.5 if final else 0.75)
                         * level), ramp=0.02)
            timeline.formant_target(start, vowel_seconds, target)
            if index == stressed:
                accents.append((start + 0.4 * vowel_seconds,
                                0.35 * vowel_seconds + 0.03))
            if coda:
                _plan_coda(timeline, coda, coda_seconds, scale, level)
            syllables.append(onset + vowel + coda)
        words.append(tuple(syllables))
    timeline.add('silence', '', rng.uniform(0.1, 0.25), False)

    duration = timeline.time
    pitch_times, pitch_hz = _pitch_contour(rng, speaker, timeline, accents,
                                           duration)
    peak = float(rng.uniform(0.3, 0.7))

    def anchors(pairs):
        times = np.array([t for t, _ in pairs])
        values = np.array([v for _, v in pairs], dtype=float)
        order = np.argsort(times, kind='stable')
        return _frozen(times[order]), _frozen(values[order])

    formant_times, formant_values = anchors(timeline.formants)
    voicing_times, voicing_values = anchors(timeline.voicing)
    aspiration_times, aspiration_values = anchors(timeline.aspiration)
    return Utterance(
        speaker=speaker, words=tuple(words),
        segments=tuple(timeline.segments), duration=duration,
        formant_times=formant_times, formant_values=formant_values,
        voicing_times=voicing_times, voicing_values=voicing_values,
        aspiration_times=aspiration_times,
        aspiration_values=aspiration_values,
        pitch_times=_frozen(pitch_times), pitch_hz=_frozen(pitch_hz),
        peak=peak, noise_key=key)


def _frozen(array):
    array = np.ascontiguousarray(array, dtype=float)
    array.flags.writeable = False
    return array


def _plan_onset(timeline, onset, seconds, vowel_target, scale, level):
    """Add the onset consonant; returns the seconds it leaves to the
    vowel."""
    if not onset:
        return 0.
    consonant = CONSONANTS[onset]
    if consonant.kind in ('nasal', 'liquid', 'glide'):
        start = timeline.add('sonorant', onset, seconds, True,
                             voicing=consonant.level * level, ramp=0.015)
        timeline.formant_target(start, seconds,
                                _scaled(consonant.formants, scale))
    elif consonant.kind == 'stop':
        closure = 0.5 * seconds
        burst = min(0.015, 0.15 * seconds)
        voicing = 0.08 if consonant.voiced else 0.
        timeline.add('closure', onset, closure, consonant.voiced,
                     voicing=voicing)
        timeline.add('burst', onset, burst, consonant.voiced,
                     voicing=voicing, ramp=0.002)
        # formants move out of the F2 locus (locus equation, slope 0.5)
        f1, f2, f3, f4 = vowel_target
        locus = scale * consonant.locus
        timeline.formants.append(
            (timeline.time, (0.6 * f1, locus + 0.5 * (f2 - locus), f3, f4)))
        release = seconds - closure - burst
        if consonant.voiced:  # voicing starts at the release: vowel
            return release
        # voice onset time: aspiration through the vocal tract
        timeline.add('aspiration', onset, release, False,
                     aspiration=consonant.level, ramp=0.004)
    elif consonant.kind == 'fricative':
        timeline.add('fricative', onset, seconds, False, ramp=0.01)
    else:  # 'H': noise through the vocal tract, shaped like the vowel
        timeline.add('aspiration', onset, seconds, False,
                     aspiration=consonant.level, ramp=0.01)
    return 0.


def _plan_coda(timeline, coda, seconds, scale, level):
    consonant = CONSONANTS[coda]
    if consonant.kind in ('nasal', 'liquid'):
        start = timeline.add('sonorant', coda, seconds, True,
                             voicing=consonant.level * level, ramp=0.015)
        timeline.formant_target(start, seconds,
                                _scaled(consonant.formants, scale))
    elif consonant.kind == 'stop':
        timeline.add('closure', coda, 0.7 * seconds, False)
        timeline.add('burst', coda, 0.3 * seconds, False, ramp=0.002)
    else:
        timeline.add('fricative', coda, seconds, False, ramp=0.01)


def _pitch_contour(rng, speaker, timeline, accents, duration):
    """F0 (Hz) on a 5-ms grid: declination + accents + final movement +
    slow drift, centred (in semitones) on the speaker's mean over the
    voiced parts."""
    semitone_range = speaker.pitch_range_semitones
    times = np.arange(0., duration + _PITCH_SECONDS, _PITCH_SECONDS)
    voiced = [s for s in timeline.segments if s.kind == 'vowel']
    first, last = voiced[0].start, voiced[-1].stop
    # declination: a linear fall over the spoken part
    progress = np.clip((times - first) / (last - first), 0, 1)
    semitones = rng.uniform(0.25, 0.45) * semitone_range * (0.5 - progress)
    for centre, width in accents:
        height = rng.uniform(0.2, 0.5) * semitone_range
        semitones += height * np.exp(-0.5 * ((times - centre) / width) ** 2)
    # phrase-final fall (statement) or rise (question) over the last vowel
    fall_start = voiced[-1].start - 0.05
    shape = np.clip((times - fall_start) / (last - fall_start), 0, 1)
    shape = shape * shape * (3 - 2 * shape)  # smoothstep
    if rng.uniform() < 0.75:
        semitones -= rng.uniform(0.25, 0.4) * semitone_range * shape
    else:
        semitones += rng.uniform(0.3, 0.5) * semitone_range * shape
    # slow drift: knots every 250 ms, linearly interpolated
    knots = np.arange(0., duration + 0.25, 0.25)
    semitones += np.interp(times, knots, rng.normal(
        0, 0.05 * semitone_range, len(knots)))
    voicing = np.interp(times, [t for t, _ in timeline.voicing],
                        [v for _, v in timeline.voicing])
    semitones -= np.average(semitones, weights=voicing)
    return times, speaker.mean_pitch_hz * 2 ** (semitones / 12)
