import dataclasses
import zlib

import librosa
import numpy as np
import pytest
import scipy.ndimage
import scipy.signal

from padertorch_audio.toy.voices import (
    CONSONANTS,
    Speaker,
    VOWEL_FORMANTS,
    make_speakers,
    plan_utterance,
    render,
    synthesize,
)

SEED = 7


def voice(**changes):
    base = Speaker(speaker_id='s1', sex='M', mean_pitch_hz=110.,
                   pitch_range_semitones=6., formant_scale=1.,
                   speaking_rate=4.5, breathiness=0.2)
    return dataclasses.replace(base, **changes)


def segment_slices(utterance, kinds, sample_rate, margin=0.):
    """Sample slices of the segments of the given kinds (shortened by
    `margin` seconds on both sides)."""
    return [slice(round((s.start + margin) * sample_rate),
                  round((s.stop - margin) * sample_rate))
            for s in utterance.segments
            if s.kind in kinds and s.duration > 2 * margin + 0.02]


# --------------------------------------------------------------------------
# Speakers
# --------------------------------------------------------------------------

def test_speakers_depend_only_on_seed_and_id():
    ids = ['40a', '103', '7', 'x']
    speakers = make_speakers(ids, SEED)
    assert [s.speaker_id for s in speakers] == ids
    reversed_ = make_speakers(ids[::-1], SEED)
    assert speakers == reversed_[::-1]
    assert make_speakers(['7'], SEED) == [speakers[2]]
    assert make_speakers(ids, SEED + 1) != speakers
    # default sex: parity of the id's CRC-32
    assert [s.sex for s in speakers] == [
        'F' if zlib.crc32(i.encode()) % 2 == 0 else 'M' for i in ids]
    forced = make_speakers(ids, SEED, sexes=['M', 'M', 'F', 'F'])
    assert [s.sex for s in forced] == ['M', 'M', 'F', 'F']


def test_speaker_populations_differ_by_sex():
    speakers = make_speakers([f'spk{i}' for i in range(60)], SEED)
    female = [s for s in speakers if s.sex == 'F']
    male = [s for s in speakers if s.sex == 'M']
    assert 15 < len(female) < 45
    for s in female:
        assert 165 <= s.mean_pitch_hz <= 255
        assert 1.05 <= s.formant_scale <= 1.2
    for s in male:
        assert 85 <= s.mean_pitch_hz <= 155
        assert 0.85 <= s.formant_scale <= 1.02
    for s in speakers:
        assert 3 <= s.speaking_rate <= 6
        assert 0 <= s.breathiness <= 1
        assert 4 <= s.pitch_range_semitones <= 10
    # the speakers really differ
    assert len({round(s.mean_pitch_hz, 3) for s in speakers}) == 60


def test_bad_input_fails_with_values():
    with pytest.raises(ValueError, match="sex 'F' or 'M'.*'X'"):
        voice(sex='X')
    with pytest.raises(ValueError, match='breathiness.*1.5'):
        voice(breathiness=1.5)
    with pytest.raises(ValueError, match='one sex per speaker.*1 sexes.*2'):
        make_speakers(['a', 'b'], 0, sexes=['F'])
    with pytest.raises(ValueError, match='seed.*-1'):
        make_speakers(['a'], -1)
    with pytest.raises(ValueError, match='utterance_index.*1.5'):
        synthesize(voice(), 0, 1.5)
    with pytest.raises(ValueError, match='num_words >= 1.*0'):
        synthesize(voice(), 0, 0, num_words=0)
    with pytest.raises(ValueError, match='sample_rate.*16000.0'):
        synthesize(voice(), 0, 0, sample_rate=16000.)


# --------------------------------------------------------------------------
# Determinism, ranges, transcript
# --------------------------------------------------------------------------

def test_same_inputs_give_identical_signals_in_any_order():
    speakers = make_speakers(['a', 'b', 'c'], SEED)
    jobs = [(s, i) for s in speakers for i in range(3)]
    first = {(s.speaker_id, i): synthesize(s, SEED, i) for s, i in jobs}
    again = {(s.speaker_id, i): synthesize(s, SEED, i)
             for s, i in reversed(jobs)}
    for key, (signal, transcript) in first.items():
        np.testing.assert_array_equal(again[key][0], signal)
        assert again[key][1] == transcript
    # speakers made in another order and list give the same utterance
    b, = make_speakers(['b'], SEED)
    np.testing.assert_array_equal(synthesize(b, SEED, 2)[0],
                                  first['b', 2][0])
    # other index, speaker or seed: another utterance
    signals = [signal for signal, _ in first.values()]
    for i, x in enumerate(signals):
        for y in signals[i + 1:]:
            assert x.shape != y.shape or not np.allclose(x, y)
    other_seed, _ = synthesize(speakers[0], SEED + 1, 0)
    assert other_seed.shape != signals[0].shape \
        or not np.allclose(other_seed, signals[0])


@pytest.mark.parametrize('sample_rate', [8000, 16000])
def test_signals_are_finite_bounded_and_as_long_as_planned(sample_rate):
    for speaker in make_speakers(['40a', '103', '22g', '5'], SEED):
        for index in range(3):
            utterance = plan_utterance(speaker, SEED, index)
            signal, transcript = synthesize(speaker, SEED, index,
                                            sample_rate=sample_rate)
            assert signal.dtype == np.float64 and signal.ndim == 1
            assert np.isfinite(signal).all()
            assert 0.3 <= np.abs(signal).max() <= 0.7
            assert len(signal) == round(utterance.duration * sample_rate)
            assert 1.2 <= utterance.duration <= 4.6
            assert transcript == utterance.transcript
            # silence is silent; speech is not
            pause = segment_slices(utterance, ['silence'], sample_rate, 0.03)
            assert all(np.abs(signal[p]).max() < 1e-3 for p in pause)
            assert np.abs(signal).mean() > 0.01


def test_words_and_timing_do_not_depend_on_the_sample_rate():
    speaker = voice()
    low, transcript_low = synthesize(speaker, SEED, 4, sample_rate=8000)
    high, transcript_high = synthesize(speaker, SEED, 4, sample_rate=16000)
    assert transcript_low == transcript_high
    assert abs(2 * len(low) - len(high)) <= 1


@pytest.mark.parametrize('num_words', [1, 2, 5, 8])
def test_transcript_spells_the_synthesised_words(num_words):
    utterance = plan_utterance(voice(), SEED, num_words, num_words=num_words)
    words = utterance.transcript.split(' ')
    assert len(words) == num_words == len(utterance.words)
    assert all(word.isalpha() and word.isupper() for word in words)
    # re-spell every word from its segments: one phone per segment, the
    # burst and release of a stop continue its closure
    spelled = [''] * num_words
    previous = None
    for segment in utterance.segments:
        if segment.kind == 'silence':
            assert segment.word is None and segment.phone == ''
        elif not (segment.kind == 'burst' or segment.kind == 'aspiration'
                  and previous.kind == 'burst'):
            spelled[segment.word] += segment.phone
        previous = segment
    assert spelled == words
    vowels = [s for s in utterance.segments if s.kind == 'vowel']
    assert len(vowels) == utterance.num_syllables
    assert all(v.phone in VOWEL_FORMANTS for v in vowels)
    assert {s.phone for s in utterance.segments} \
        <= set(VOWEL_FORMANTS) | set(CONSONANTS) | {''}


def test_default_utterances_have_3_to_8_words_and_1_to_3_syllables():
    speaker = voice()
    lengths = []
    for index in range(30):
        utterance = plan_utterance(speaker, SEED, index)
        assert 3 <= len(utterance.words) <= 8
        assert all(1 <= len(word) <= 3 for word in utterance.words)
        lengths.append(len(utterance.words))
    assert len(set(lengths)) >= 4


# --------------------------------------------------------------------------
# Voice properties, measured on the signal
# --------------------------------------------------------------------------

def vowel_pitch(speaker, indices, sample_rate=16000):
    """(yin estimate, planned F0) in Hz in the middle of the vowels."""
    hop = 160
    estimates, planned = [], []
    for index in indices:
        utterance = plan_utterance(speaker, SEED, index)
        signal = render(utterance, sample_rate)
        f0 = librosa.yin(signal, fmin=60, fmax=500, sr=sample_rate,
                         frame_length=1024, hop_length=hop)
        times = np.arange(len(f0)) * hop / sample_rate
        for part in segment_slices(utterance, ['vowel'], sample_rate, 0.03):
            inside = (times * sample_rate >= part.start) \
                & (times * sample_rate < part.stop)
            estimates.append(f0[inside])
            planned.append(np.interp(times[inside], utterance.pitch_times,
                                     utterance.pitch_hz))
    return np.concatenate(estimates), np.concatenate(planned)


def test_pitch_follows_the_speaker():
    low = voice(speaker_id='low', mean_pitch_hz=95.)
    high = voice(speaker_id='high', sex='F', mean_pitch_hz=230.,
                 formant_scale=1.15)
    low_f0, low_planned = vowel_pitch(low, range(3))
    high_f0, high_planned = vowel_pitch(high, range(3))
    assert low_f0.mean() == pytest.approx(95., rel=0.1)
    assert high_f0.mean() == pytest.approx(230., rel=0.1)
    assert np.quantile(low_f0, 0.9) < np.quantile(high_f0, 0.1)
    # the contour is realised: yin agrees with the plan frame by frame
    for estimate, planned in [(low_f0, low_planned),
                              (high_f0, high_planned)]:
        assert np.median(np.abs(estimate / planned - 1)) < 0.02


def test_pitch_contours_move_and_decline():
    speaker = voice(pitch_range_semitones=8.)
    slopes, spans = [], []
    for index in range(20):
        utterance = plan_utterance(speaker, SEED, index)
        vowels = [s for s in utterance.segments if s.kind == 'vowel']
        times = np.array([v.start + v.duration / 2 for v in vowels])
        semitones = 12 * np.log2(np.interp(
            times, utterance.pitch_times, utterance.pitch_hz) / 110.)
        slopes.append(np.polyfit(times, semitones, 1)[0])
        spans.append(np.ptp(semitones))
    assert np.median(slopes) < -0.5  # semitones per second
    assert 2 < np.median(spans) < 10


def test_formant_scale_shifts_the_spectral_envelope():
    sample_rate = 16000
    centroids = []
    for scale in (0.85, 1.2):
        utterance = plan_utterance(voice(formant_scale=scale), SEED, 1)
        signal = render(utterance, sample_rate)
        frames = np.concatenate([
            librosa.feature.spectral_centroid(
                y=signal[part], sr=sample_rate, n_fft=512,
                hop_length=160, center=False)[0]
            for part in segment_slices(utterance, ['vowel'], sample_rate,
                                       0.03) if part.stop - part.start >= 512])
        centroids.append(np.median(frames))
    assert centroids[1] > 1.15 * centroids[0]


def test_vowel_formants_are_realised():
    # LPC (librosa) in the vowel middles finds the planned F1 and F2
    sample_rate = 16000
    errors = []
    for scale in (0.9, 1.15):
        speaker = voice(mean_pitch_hz=100., formant_scale=scale)
        for index in range(3):
            utterance = plan_utterance(speaker, SEED, index)
            signal = render(utterance, sample_rate)
            for part in segment_slices(utterance, ['vowel'], sample_rate,
                                       0.05):
                middle = (part.start + part.stop) // 2
                frame = signal[middle - 256:middle + 256] * np.hamming(512)
                roots = np.roots(librosa.lpc(frame, order=18))
                roots = roots[np.imag(roots) > 0]
                frequencies = np.angle(roots) * sample_rate / (2 * np.pi)
                bandwidths = -np.log(np.abs(roots)) * sample_rate / np.pi
                found = frequencies[(bandwidths < 400) & (frequencies > 150)]
                for k in (0, 1):
                    target = np.interp(middle / sample_rate,
                                       utterance.formant_times,
                                       utterance.formant_values[:, k])
                    nearest = found[np.argmin(np.abs(found - target))]
                    errors.append((k, nearest / target - 1))
    errors = np.array(errors)
    assert len(errors) > 20
    assert np.median(np.abs(errors[errors[:, 0] == 0, 1])) < 0.05
    assert np.median(np.abs(errors[errors[:, 0] == 1, 1])) < 0.03


def zero_crossing_rates(signal, parts):
    return np.array([np.mean(np.abs(np.diff(np.sign(signal[p]))) > 0)
                     for p in parts])


def test_fricatives_cross_zero_more_often_than_vowels():
    sample_rate = 16000
    fricative, vowel = [], []
    for speaker in make_speakers(['a', 'b'], SEED, sexes=['F', 'M']):
        for index in range(4):
            utterance = plan_utterance(speaker, SEED, index)
            signal = render(utterance, sample_rate)
            fricative += list(zero_crossing_rates(signal, segment_slices(
                utterance, ['fricative'], sample_rate, 0.01)))
            vowel += list(zero_crossing_rates(signal, segment_slices(
                utterance, ['vowel'], sample_rate, 0.02)))
    assert len(fricative) >= 3 and len(vowel) >= 20
    assert np.median(fricative) > 3 * np.median(vowel)
    assert np.min(fricative) > np.median(vowel)


def test_speaking_rate_sets_the_duration_per_syllable():
    seconds_per_syllable = []
    for rate in (3., 6.):
        utterance = plan_utterance(voice(speaking_rate=rate), SEED, 2,
                                   num_words=6)
        speech = sum(s.duration for s in utterance.segments
                     if s.kind != 'silence')
        seconds_per_syllable.append(speech / utterance.num_syllables)
        signal, transcript = synthesize(voice(speaking_rate=rate), SEED, 2,
                                        num_words=6)
        assert transcript == utterance.transcript
    slow, fast = seconds_per_syllable
    assert slow / fast == pytest.approx(2, rel=0.05)
    assert 1 / 6 * 0.8 < fast < 1 / 6 * 1.3


def test_amplitude_envelope_has_one_peak_per_syllable():
    sample_rate = 16000
    ratios = []
    for index in range(8):
        utterance = plan_utterance(voice(), SEED, index)
        signal = render(utterance, sample_rate)
        level = 20 * np.log10(librosa.feature.rms(
            y=signal, frame_length=400, hop_length=80)[0] + 1e-5)
        level = scipy.ndimage.uniform_filter1d(level, 9)
        peaks, _ = scipy.signal.find_peaks(level, prominence=3, distance=16)
        ratios.append(len(peaks) / utterance.num_syllables)
    assert 0.7 < np.mean(ratios) < 1.2


def harmonic_to_gap_db(frame, f0, sample_rate, low=2000., high=4000.):
    """Power at the harmonics of `f0` over power halfway between them, in
    dB, for the harmonics between `low` and `high` Hz."""
    spectrum = np.abs(np.fft.rfft(frame * np.hanning(len(frame)), 8192)) ** 2
    harmonics = np.arange(np.ceil(low / f0), np.floor(high / f0)) * f0
    bins = np.round(harmonics / sample_rate * 8192).astype(int)
    gaps = np.round((harmonics + f0 / 2) / sample_rate * 8192).astype(int)
    return 10 * np.log10(spectrum[bins].sum() / spectrum[gaps].sum())


def test_breathiness_adds_noise_between_the_harmonics():
    sample_rate = 16000
    ratios = []
    for breathiness in (0., 1.):
        # a flat contour: F0 stays at the mean (up to jitter)
        speaker = voice(breathiness=breathiness, pitch_range_semitones=0.)
        values = []
        for index in range(3):
            utterance = plan_utterance(speaker, SEED, index)
            signal = render(utterance, sample_rate)
            for part in segment_slices(utterance, ['vowel'], sample_rate,
                                       0.02):
                if part.stop - part.start >= 1024:
                    middle = (part.start + part.stop) // 2
                    values.append(harmonic_to_gap_db(
                        signal[middle - 512:middle + 512], 110.,
                        sample_rate))
        ratios.append(np.median(values))
    modal, breathy = ratios
    assert modal > 15 and modal - breathy > 10
