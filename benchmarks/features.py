"""Speed of log-mel extraction: ``LogMel`` against the bare torch floor.

60 s of noise at 16 kHz, 25 ms window (400 samples, periodic hann), 10 ms
shift (160), FFT size 512, 80 Slaney mel bands, fading and end padding as in
``padertorch_audio.features.stft``, one thread. The floor is what any
implementation has to do, written with torch directly in the same run:
the same padding, ``torch.stft`` (window zero padded at its end to 512),
``abs() ** 2``, a matmul with the same filterbank and ``log(clamp(., eps))``.
The two run alternately; the ratio of the median times is printed as a JSON
line (target <= 1.2). For context: the numpy path of ``log_mel`` and
librosa's ``melspectrogram`` + log.

    python benchmarks/features.py [--seconds 60] [--repeats 7]
"""
import argparse
import json
import statistics
import time

import numpy as np
import torch

from padertorch_audio.features import (
    LogMel, get_window, log_mel as log_mel_function, mel_filterbank,
)

SAMPLE_RATE = 16000
SIZE, SHIFT, WINDOW_LENGTH, N_MELS, FLOOR = 512, 160, 400, 80, 1e-10


def make_floor():
    window = torch.zeros(SIZE)
    window[:WINDOW_LENGTH] = torch.from_numpy(
        get_window('hann', WINDOW_LENGTH))
    filterbank = torch.from_numpy(
        mel_filterbank(SAMPLE_RATE, SIZE, N_MELS)).float()

    def floor(signal):
        samples = signal.shape[-1]
        fading = WINDOW_LENGTH - SHIFT
        frames = -((WINDOW_LENGTH - samples - 2 * fading) // SHIFT) + 1
        # frames of SIZE samples: WINDOW_LENGTH signal samples, then zeros
        back = (frames - 1) * SHIFT + SIZE - samples - fading
        padded = torch.nn.functional.pad(signal, (fading, back))
        spectrum = torch.stft(padded, SIZE, SHIFT, window=window,
                              center=False, return_complex=True)
        power = spectrum.abs() ** 2
        return torch.log(torch.clamp(power.mT @ filterbank.T, min=FLOOR))

    return floor


def librosa_log_mel(signal):
    import librosa
    mel = librosa.feature.melspectrogram(
        y=signal, sr=SAMPLE_RATE, n_fft=SIZE, hop_length=SHIFT,
        win_length=WINDOW_LENGTH, window='hann', center=True, n_mels=N_MELS)
    return np.log(np.maximum(mel, FLOOR))


def timed(function, signal):
    start = time.perf_counter()
    output = function(signal)
    return time.perf_counter() - start, output


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--seconds', type=float, default=60.)
    parser.add_argument('--repeats', type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(1)
    signal = torch.from_numpy(np.random.default_rng(0).standard_normal(
        int(args.seconds * SAMPLE_RATE)).astype(np.float32))
    log_mel = LogMel(SAMPLE_RATE, SIZE, SHIFT, window_length=WINDOW_LENGTH,
                     n_mels=N_MELS, floor=FLOOR)
    floor = make_floor()
    with torch.inference_mode():
        for function in (log_mel, floor):  # warm-up
            function(signal)
        ours, bare = [], []
        for _ in range(args.repeats):
            seconds, output = timed(log_mel, signal)
            ours.append(seconds)
            seconds, reference = timed(floor, signal)
            bare.append(seconds)
    error = (output - reference).abs().max().item()
    ours, bare = statistics.median(ours), statistics.median(bare)
    print(json.dumps({
        'benchmark': 'log_mel', 'audio_s': args.seconds,
        'sample_rate': SAMPLE_RATE, 'size': SIZE, 'shift': SHIFT,
        'window_length': WINDOW_LENGTH, 'n_mels': N_MELS, 'threads': 1,
        'repeats': args.repeats, 'frames': output.shape[-2],
        'log_mel_s': round(ours, 4), 'torch_floor_s': round(bare, 4),
        'ratio': round(ours / bare, 3), 'target_ratio': 1.2,
        'max_abs_difference': error,
    }))
    numpy_signal = signal.numpy()
    times = [timed(lambda x: log_mel_function(
        x, SAMPLE_RATE, SIZE, SHIFT, window_length=WINDOW_LENGTH,
        n_mels=N_MELS, floor=FLOOR), numpy_signal)[0]
        for _ in range(args.repeats)]
    print(json.dumps({
        'benchmark': 'log_mel_numpy', 'audio_s': args.seconds,
        'log_mel_numpy_s': round(statistics.median(times), 4),
        'ratio_to_torch_floor': round(statistics.median(times) / bare, 3),
        'note': 'log_mel on a numpy array (data pipeline path), float32; '
                'numpy\'s own BLAS threads',
    }))
    try:
        import librosa  # noqa: F401  (test extra)
    except ImportError:
        return
    librosa_log_mel(numpy_signal)  # warm-up (numba compilation)
    times = [timed(librosa_log_mel, numpy_signal)[0]
             for _ in range(args.repeats)]
    print(json.dumps({
        'benchmark': 'log_mel_librosa', 'audio_s': args.seconds,
        'librosa_s': round(statistics.median(times), 4),
        'ratio_to_torch_floor': round(statistics.median(times) / bare, 3),
        'note': 'librosa.feature.melspectrogram (center=True) + log, '
                'float32; its own thread settings',
    }))


if __name__ == '__main__':
    main()
