"""How a toy utterance sounds: a small, deterministic source-filter
synthesiser.

The toy corpora need many short utterances from distinguishable speakers,
generated in milliseconds with NumPy/SciPy only. :func:`synthesize` makes
one in two steps: :func:`~padertorch_audio.toy.phonetics.plan_utterance`
draws what is said (words, segment timeline, formant targets, envelopes,
pitch contour; see :mod:`padertorch_audio.toy.phonetics`), and
:func:`render` turns that plan into a waveform at a given sample rate:

- source: the derivative of a Rosenberg glottal pulse (flow
  ``0.5 (1 - cos(pi t / T_p))`` while opening, ``cos(pi (t - T_p) /
  (2 T_n))`` while closing, zero while closed; its derivative includes the
  lip radiation), driven by the pitch contour with per-period jitter and
  shimmer, a breathiness-dependent spectral tilt, plus aspiration noise
  (white, modulated by the glottal flow in voiced parts);
- vocal tract: a cascade of second-order resonators (F1-F4 following
  the plan, fixed F5 and F6 below the Nyquist frequency; unity gain at
  0 Hz), piecewise constant over 5-ms blocks
  (``scipy.signal.sosfilt`` with carried state), so formant tracks move
  smoothly between the targets;
- frication and stop bursts: band-passed noise added after the tract;
- a per-utterance peak level in ``[0.3, 0.7]``.

Jitter stays below 1 % and shimmer at a few percent. The rendering noise
is drawn from ``numpy.random.SeedSequence`` keyed by the plan's key and the
sample rate, never from global state.

The planning names (:class:`Speaker`, :func:`make_speakers`,
:func:`plan_utterance`, ...) are importable from here as well.
"""
import functools
import math

import numpy as np
import scipy.signal

from padertorch_audio.toy.phonetics import (
    CONSONANTS,
    VOWEL_FORMANTS,
    Segment,
    Speaker,
    Utterance,
    make_speakers,
    plan_utterance,
)

__all__ = [
    'Speaker',
    'Segment',
    'Utterance',
    'make_speakers',
    'plan_utterance',
    'render',
    'synthesize',
    'VOWEL_FORMANTS',
    'CONSONANTS',
]

#: Formant bandwidths B1-B4 (Hz) for a non-breathy voice.
FORMANT_BANDWIDTHS = (70., 90., 140., 220.)

#: Fixed higher formants F5, F6 (Hz, average man) and their bandwidths: a
#: 17.5-cm tube closed at the glottis resonates at odd multiples of about
#: 500 Hz. They keep the spectrum above F4 from falling off too steeply.
HIGHER_FORMANTS = ((4500., 300.), (5500., 450.))

# Tag that keeps the rendering noise apart from the planning streams.
_NOISE_STREAM = 0x7e15

_BLOCK_SECONDS = 0.005  # formant update interval of the vocal tract


def _glottal_flow(theta, opening, closing):
    """Rosenberg flow pulse and its derivative (per unit phase) at phase
    ``theta`` in [0, 1)."""
    flow = np.zeros_like(theta)
    derivative = np.zeros_like(theta)
    rising = theta < opening
    falling = ~rising & (theta < opening + closing)
    arg = np.pi * theta[rising] / opening
    flow[rising] = 0.5 * (1 - np.cos(arg))
    derivative[rising] = 0.5 * np.pi / opening * np.sin(arg)
    arg = 0.5 * np.pi * (theta[falling] - opening) / closing
    flow[falling] = np.cos(arg)
    derivative[falling] = -0.5 * np.pi / closing * np.sin(arg)
    return flow, derivative


def _smooth_closures(pulse, theta, closed_at, closing):
    """Band-limit the step of the pulse derivative at glottal closure.

    The derivative jumps from ``-pi / (2 closing)`` to 0 where ``theta``
    crosses ``closed_at``; sampled as is, the step aliases. A two-sample
    polynomial band-limited step (polyBLEP) correction is added around
    every jump, at its fractional position (in place).
    """
    height = 0.5 * np.pi / closing
    after = np.flatnonzero((theta[1:] >= closed_at)
                           & (theta[:-1] < closed_at)) + 1
    step = theta[after] - theta[after - 1]
    fraction = (theta[after] - closed_at) / step  # samples since the jump
    pulse[after] -= height * (1 - fraction) ** 2 / 2
    pulse[after - 1] += height * fraction ** 2 / 2


@functools.lru_cache(maxsize=64)
def _band_pass(low, high, sample_rate):
    nyquist = sample_rate / 2
    high = min(high, 0.9 * nyquist)
    low = min(low, 0.6 * high)
    return scipy.signal.butter(2, [low, high], btype='bandpass',
                               fs=sample_rate, output='sos')


def _resonator_sections(frequencies, bandwidths, sample_rate):
    """Second-order sections ``(..., 6)`` of all-pole resonators with unity
    gain at 0 Hz: ``y[n] = A x[n] + B y[n-1] + C y[n-2]``."""
    radius = np.exp(-np.pi * bandwidths / sample_rate)
    b = 2 * radius * np.cos(2 * np.pi * frequencies / sample_rate)
    c = -radius ** 2
    sections = np.zeros(frequencies.shape + (6,))
    sections[..., 0] = 1 - b - c
    sections[..., 3] = 1
    sections[..., 4] = -b
    sections[..., 5] = -c
    return sections


def _vocal_tract(excitation, utterance, sample_rate):
    """Filter with the formant cascade, updated every 5 ms."""
    hop = max(1, round(_BLOCK_SECONDS * sample_rate))
    num_frames = -(-len(excitation) // hop)
    centres = (np.arange(num_frames) + 0.5) * hop / sample_rate
    scale = utterance.speaker.formant_scale
    frequencies = np.stack(
        [np.interp(centres, utterance.formant_times,
                   utterance.formant_values[:, k]) for k in range(4)]
        + [np.full(num_frames, scale * f) for f, _ in HIGHER_FORMANTS],
        axis=-1)
    bandwidths = np.array(FORMANT_BANDWIDTHS
                          + tuple(b for _, b in HIGHER_FORMANTS))
    bandwidths[0] += 60 * utterance.speaker.breathiness
    # formants too close to the Nyquist frequency are left out (F4 and up
    # at 8 kHz), the others clamped below it
    keep = np.median(frequencies, axis=0) < 0.42 * sample_rate
    frequencies = np.minimum(frequencies[:, keep], 0.46 * sample_rate)
    bandwidths = bandwidths[keep]
    sections = _resonator_sections(
        frequencies, np.broadcast_to(bandwidths, frequencies.shape),
        sample_rate)
    output = np.empty_like(excitation)
    state = np.zeros((sections.shape[1], 2))
    sosfilt = scipy.signal.sosfilt
    for frame in range(num_frames):
        block = slice(frame * hop, (frame + 1) * hop)
        output[block], state = sosfilt(sections[frame], excitation[block],
                                       zi=state)
    return output


def render(utterance, sample_rate=16000):
    """Synthesise the waveform of a planned :class:`Utterance`.

    Args:
        utterance: From :func:`plan_utterance`.
        sample_rate: Hz (positive int; 8000 and 16000 are typical).

    Returns:
        float64 array ``(samples,)`` with ``samples = round(duration *
        sample_rate)`` and peak amplitude ``utterance.peak``.
    """
    if not isinstance(sample_rate, (int, np.integer)) or sample_rate < 4000:
        raise ValueError(f'Expected an integer sample_rate >= 4000 Hz, '
                         f'found {sample_rate!r}.')
    speaker = utterance.speaker
    breathiness = speaker.breathiness
    rng = np.random.default_rng(np.random.SeedSequence(
        [_NOISE_STREAM, *utterance.noise_key, int(sample_rate)]))
    num_samples = round(utterance.duration * sample_rate)
    times = np.arange(num_samples) / sample_rate

    # glottal source with per-period jitter and shimmer
    f0 = np.interp(times, utterance.pitch_times, utterance.pitch_hz)
    periods = np.floor(np.cumsum(f0) / sample_rate).astype(np.int64)
    num_periods = int(periods[-1]) + 2
    jitter = 0.004 + 0.006 * breathiness  # relative period deviation
    f0 = f0 * (1 + jitter * rng.standard_normal(num_periods))[periods]
    phase = np.cumsum(f0) / sample_rate
    periods = np.minimum(np.floor(phase).astype(np.int64), num_periods - 1)
    theta = phase - periods
    open_quotient = 0.5 + 0.25 * breathiness
    flow, pulse = _glottal_flow(theta, 0.66 * open_quotient,
                                0.34 * open_quotient)
    _smooth_closures(pulse, theta, open_quotient, 0.34 * open_quotient)
    shimmer = 0.04 * rng.standard_normal(num_periods)
    pulse *= (1 + np.clip(shimmer, -0.12, 0.12))[periods]
    # spectral tilt: one-pole low-pass, lower cut-off for breathy voices
    pole = math.exp(-2 * math.pi * (5000 - 3500 * breathiness) / sample_rate)
    pulse = scipy.signal.lfilter([1 - pole], [1, -pole], pulse)

    voicing = np.interp(times, utterance.voicing_times,
                        utterance.voicing_values)
    aspiration = np.interp(times, utterance.aspiration_times,
                           utterance.aspiration_values)
    aspiration += (0.03 + 0.3 * breathiness) * voicing
    # aspiration noise is strongest while the glottis is open
    aspiration *= 1 - 0.6 * (voicing > 0.05) * (1 - flow)
    noise_scale = 3 * math.sqrt(sample_rate / 16000)  # same density per Hz
    excitation = voicing * pulse + noise_scale * aspiration * \
        rng.standard_normal(num_samples)
    signal = _vocal_tract(excitation, utterance, sample_rate)

    # frication and bursts: band-passed noise relative to the vowel level
    vowel = np.zeros(num_samples, dtype=bool)
    for segment in utterance.segments:
        if segment.kind == 'vowel':
            vowel[round(segment.start * sample_rate):
                  round(segment.stop * sample_rate)] = True
    reference = np.sqrt(np.mean(signal[vowel] ** 2)) if vowel.any() else 1.
    for segment in utterance.segments:
        if segment.kind not in ('fricative', 'burst'):
            continue
        consonant = CONSONANTS[segment.phone]
        start = round(segment.start * sample_rate)
        stop = round(segment.stop * sample_rate)
        length = stop - start
        if length < 4:
            continue
        noise = scipy.signal.sosfilt(
            _band_pass(*consonant.band, sample_rate),
            rng.standard_normal(length + 64))[64:]
        noise /= np.sqrt(np.mean(noise ** 2)) + 1e-12
        ramp = min(length // 2, max(1, round(0.008 * sample_rate)))
        envelope = np.ones(length)
        edge = 0.5 - 0.5 * np.cos(np.pi * np.arange(ramp) / ramp)
        envelope[:ramp] = edge
        envelope[length - ramp:] = edge[::-1]
        signal[start:stop] += consonant.level * reference * envelope * noise
    peak = np.max(np.abs(signal))
    return signal * (utterance.peak / peak) if peak > 0 else signal


def synthesize(speaker, seed, utterance_index, sample_rate=16000,
               num_words=None):
    """Synthesise one speech-like utterance.

    Args:
        speaker: A :class:`Speaker` (e.g. from :func:`make_speakers`).
        seed: Non-negative int (the corpus seed).
        utterance_index: Non-negative int, the number of the utterance of
            this speaker.
        sample_rate: Hz.
        num_words: Number of words; default: drawn from 3-8 (of 1-3
            syllables each), giving about 1.5-4 s.

    Returns:
        ``(signal, transcript)``: float64 ``(samples,)`` with peak amplitude
        in [0.3, 0.7], and the upper-case pseudo-words that were
        synthesised, one per word. The result depends only on the
        arguments; the words and timing do not depend on ``sample_rate``.

    >>> speaker, = make_speakers(['103'], seed=0, sexes=['M'])
    >>> signal, transcript = synthesize(speaker, 0, 0, num_words=2)
    >>> signal.dtype, len(transcript.split()), transcript.isupper()
    (dtype('float64'), 2, True)
    """
    utterance = plan_utterance(speaker, seed, utterance_index,
                               num_words=num_words)
    return render(utterance, sample_rate), utterance.transcript
