"""Training segments for a vocoder: a crop of the audio with the mel frames
that condition it.

A :class:`~padertorch_audio.vocoder.WaveNet` is trained on short random
segments (padertorch: 1 s) of each utterance. The mel of a segment is not
the mel of the cropped audio (its first and last frames would see the
crop's edges, not the utterance); it is a crop of the utterance's mel, and
the two crops stay aligned when the audio crop starts at a multiple of the
STFT shift (see :mod:`padertorch_audio.vocoder.upsampling`)::

    audio[k * shift : k * shift + length]   goes with   mel[k : k + num_frames]

:func:`segment_frames` says how many frames a segment gets: the frames its
samples need plus the frames the upsampler's convolution reads after the
last of them, so that every sample sees what it sees in the whole
utterance (except the ``upsampling_context`` frames before frame ``k``,
which the convolution of a crop sees as zeros: the first ``shift / 2``
samples of a segment, 0.6 % of a 1-s segment with the default config).
"""
import numpy as np

__all__ = ['random_segment', 'segment_frames']


def segment_frames(model, length):
    """The mel frames :func:`random_segment` gives a segment of ``length``
    samples for ``model``: ``model.frames_needed(length)`` plus the
    upsampler's context (the frames its convolution reads after the frame
    of the last sample).

    >>> from padertorch_audio.vocoder import WaveNet
    >>> segment_frames(WaveNet(), 16000)  # 82 needed + 1 of context
    83
    """
    return model.frames_needed(length) + model.upsampler.context


def random_segment(audio, mel, length, *, shift, num_frames, rng=np.random):
    """A random segment of ``length`` samples of ``audio`` and its aligned
    mel frames.

    The segment starts at sample ``k * shift`` (``k`` drawn uniformly with
    ``rng.randint`` among the starts whose segment lies inside the audio;
    ``k = 0`` when the audio is not longer than ``length``) and gets the
    frames ``mel[k : k + num_frames]``. What lies past the end of the audio
    or of the mel is filled with zeros (the value the model's frame
    convolution pads with); ``num_samples`` says how many samples are the
    utterance's (for the loss mask of ``WaveNet.review``).

    Args:
        audio: ``(samples,)`` the utterance.
        mel: ``(frames, n_mels)`` the mel of the whole utterance, e.g.
            ``model.log_mel(audio)`` (frame ``m`` centred on sample ``m *
            shift - window_length + shift + window_length // 2``).
        length: Samples per segment.
        shift: STFT shift of the mel in samples.
        num_frames: Frames per segment, e.g. :func:`segment_frames`.
        rng: ``numpy.random.RandomState`` (or the ``numpy.random`` module,
            which the DataLoader seeds in every worker); the same seed gives
            the same segment.

    Returns:
        ``{'audio': (length,) float32, 'mel': (num_frames, n_mels) float32,
        'num_samples': int, 'start': int}`` (``start = k * shift``, the
        first sample of the segment in ``audio``).

    >>> audio = np.arange(10, dtype=np.float32)
    >>> mel = np.arange(6, dtype=np.float32)[:, None]  # frame m holds m
    >>> segment = random_segment(audio, mel, 4, shift=2, num_frames=3,
    ...                          rng=np.random.RandomState(1))
    >>> segment['start'], segment['audio'], segment['mel'][:, 0]
    (2, array([2., 3., 4., 5.], dtype=float32), array([1., 2., 3.], dtype=float32))
    """
    audio = np.asarray(audio)
    mel = np.asarray(mel)
    if audio.ndim != 1 or mel.ndim != 2:
        raise ValueError(
            f'random_segment: expected audio (samples,) and mel (frames, '
            f'n_mels), found shapes {audio.shape} and {mel.shape}.')
    for name, value in (('length', length), ('shift', shift),
                        ('num_frames', num_frames)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
                or value < 1:
            raise ValueError(f'random_segment: {name} must be a positive '
                             f'int, found {value!r}.')
    num_starts = max(0, len(audio) - length) // shift + 1
    k = int(rng.randint(0, num_starts)) if num_starts > 1 else 0
    start = k * shift
    segment_audio = np.zeros(length, np.float32)
    piece = audio[start:start + length]
    segment_audio[:len(piece)] = piece
    segment_mel = np.zeros((num_frames, mel.shape[1]), np.float32)
    frames = mel[k:k + num_frames]
    segment_mel[:len(frames)] = frames
    return {'audio': segment_audio, 'mel': segment_mel,
            'num_samples': len(piece), 'start': start}
