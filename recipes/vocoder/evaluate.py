"""Stage 2: resynthesise one test utterance from its mel frames with the
WaveNet and with Griffin-Lim (the baseline) and score both against the
original; the library does the rest
(:func:`padertorch_audio.evaluation.evaluate_dataset`: the results files,
one per rank under torchrun, their merge, the summary, resumption).

Per utterance (the first ``max_seconds`` of it, at the model's rate):
the mel is ``model.log_mel(audio)``; the WaveNet generates as many samples
as the original has (:func:`padertorch_audio.vocoder.synthesize`, sampling
at ``temperature`` with a generator seeded by ``seed`` and the utterance
id); Griffin-Lim (:func:`padertorch_audio.features.log_mel_to_audio`)
inverts the same mel with the model's STFT and filterbank. Both get
:func:`padertorch_audio.evaluation.vocoder_metrics` (waveform RMSE as
padertorch reports it, log-spectral distance and mel-cepstral distortion,
on the model's STFT) against the original, and so does the original on the
levels of the WaveNet's output (8-bit mu-law by default): what a perfect
WaveNet would score, the floor of its LSD and MCD (a quantisation noise
floor that the metrics weigh heavily where the original is near silent).
"""
import math
import time
import zlib
from pathlib import Path

import numpy as np

from padertorch_audio import evaluation
from padertorch_audio.evaluation.results import json_compatible
from padertorch_audio.io import dump_json
from recipes.vocoder.data import evaluation_data, load_audio

__all__ = ['evaluate_experiment', 'resynthesize', 'SYSTEMS', 'METRICS']

#: The resyntheses compared, by their prefix in the results; 'quantized'
#: is the original on the levels of the WaveNet's output (8-bit mu-law, or
#: 16-bit for the logistic mixture): the best the WaveNet can reach.
SYSTEMS = {'wavenet': 'WaveNet', 'griffin_lim': 'Griffin-Lim',
           'quantized': 'Quantized'}
#: What the WAVs and spectrograms show of each utterance.
SHOWN = {'original': 'original', 'wavenet': 'WaveNet',
         'griffin_lim': 'Griffin-Lim'}
#: The metrics of each, with their printed names.
METRICS = {'rmse': 'RMSE', 'log_spectral_distance': 'LSD / dB',
           'mel_cepstral_distortion': 'MCD / dB'}


def _seed(seed, example_id):
    return (seed + zlib.crc32(example_id.encode('utf-8'))) % 2 ** 31


def resynthesize(model, audio, *, temperature=1.0, seed=0,
                 griffin_lim_iterations=32):
    """``({'wavenet': (samples,), 'griffin_lim': (samples,), 'quantized':
    (samples,)}, seconds)``: both resyntheses of ``audio`` ``(samples,)``
    from its mel and the original on the levels of the WaveNet's output
    (:func:`quantized`), float64, and the wall-clock seconds of the
    WaveNet's synthesis."""
    import torch

    from padertorch_audio.features import log_mel_to_audio
    from padertorch_audio.vocoder import synthesize
    mel = model.log_mel(audio)
    start = time.perf_counter()
    with torch.no_grad():
        wavenet = synthesize(
            model, torch.from_numpy(mel), num_samples=len(audio),
            temperature=temperature,
            generator=torch.Generator().manual_seed(seed))
    seconds = time.perf_counter() - start
    griffin_lim = log_mel_to_audio(
        mel.astype(np.float64), model.sample_rate, size=model.stft_size,
        shift=model.shift, window_length=model.window_length,
        n_mels=model.n_mels, fmin=model.fmin, fmax=model.fmax,
        num_iterations=griffin_lim_iterations, num_samples=len(audio))
    return {'wavenet': wavenet.double().numpy(),
            'griffin_lim': np.clip(griffin_lim, -1, 1),
            'quantized': quantized(model, audio)}, seconds


def quantized(model, audio):
    """``audio`` on the levels of the model's output, float64: mu-law
    encoded and decoded with its ``quantization_channels``, or the 16-bit
    levels of the logistic mixture."""
    import torch

    from padertorch_audio.features import mu_law_decode, mu_law_encode
    audio = torch.from_numpy(np.asarray(audio, np.float64))
    if getattr(model, 'is_mixture', False):
        from padertorch_audio.vocoder.distributions import quantize_to_bins
        return quantize_to_bins(audio).numpy()
    classes = mu_law_encode(audio, model.quantization_channels)
    return mu_law_decode(classes, model.quantization_channels).double() \
        .numpy()


def _evaluate(model, item, max_seconds, temperature, seed,
              griffin_lim_iterations, audio_dir):
    """The result of one utterance (and its WAVs when ``audio_dir``)."""
    import torch

    from padertorch_audio.io import write_audio
    torch.set_num_threads(1)
    rate = model.sample_rate
    audio = load_audio(item, rate)
    if max_seconds is not None:
        audio = audio[:round(max_seconds * rate)]
    signals, seconds = resynthesize(
        model, audio, temperature=temperature,
        seed=_seed(seed, item['example_id']),
        griffin_lim_iterations=griffin_lim_iterations)
    duration = len(audio) / rate
    result = {'seconds': duration, 'synthesis_seconds': seconds,
              'real_time_factor': seconds / duration}
    for system, signal in signals.items():
        metrics = evaluation.vocoder_metrics(
            signal, audio, rate, size=model.stft_size, shift=model.shift,
            window_length=model.window_length, n_mels=model.n_mels)
        result.update({f'{system}_{name}': value
                       for name, value in metrics.items()})
    if audio_dir is not None:
        name = item['example_id'].replace('/', '_')
        signals = {'original': audio, **signals}
        for system in SHOWN:
            signal = signals[system]
            write_audio(audio_dir / f'{name}_{system}.wav', signal, rate)
    return result


def plot_spectrograms(path, names, audio_dir, model, dpi=80):
    """A PNG with one row per utterance of ``names`` (written to
    ``audio_dir`` by the evaluation) and the spectrograms (the model's
    STFT) of the original, the WaveNet and the Griffin-Lim resynthesis."""
    from matplotlib.figure import Figure

    from padertorch_audio.features import stft
    from padertorch_audio.io import atomic_write, read_audio
    from padertorch_audio.summary import plot_spectrogram
    figure = Figure(figsize=(12, 2.6 * len(names)), dpi=dpi,
                    layout='constrained')
    axes = figure.subplots(len(names), len(SHOWN), squeeze=False)
    for row, name in zip(axes, names):
        for ax, (system, label) in zip(row, SHOWN.items()):
            signal, rate = read_audio(audio_dir / f'{name}_{system}.wav')
            spectrum = stft(signal, size=model.stft_size, shift=model.shift,
                            window_length=model.window_length)
            plot_spectrogram(spectrum, ax=ax, sampling_rate=rate,
                             frame_shift=model.shift, title=f'{name}: '
                             f'{label}', colorbar=False)
    with atomic_write(path, 'wb') as file:
        figure.savefig(file, format='png', dpi=dpi)
    return path


def _check_options(eval_dir, options):
    """Write the options of the results to ``eval_dir/options.json``; a
    resumed evaluation must have the same (its results would mix)."""
    import json
    path = eval_dir / 'options.json'
    if path.is_file():
        before = json.loads(path.read_text())
        if before != json_compatible(options):
            raise ValueError(
                f'{eval_dir} holds results evaluated with {before}, not '
                f'{options}: remove the folder (or its results*.jsonl) to '
                f'evaluate anew, or evaluate into another exp_dir/dataset.')
    eval_dir.mkdir(parents=True, exist_ok=True)
    dump_json(options, path)


def _comparison(means):
    """``{system: {metric: mean}}`` of the summary's means."""
    return {system: {metric: means.get(f'{system}_{metric}')
                     for metric in METRICS} for system in SYSTEMS}


def evaluate_experiment(model, database_json, dataset, eval_dir, *,
                        max_examples=None, max_seconds=None, temperature=1.0,
                        seed=0, griffin_lim_iterations=32,
                        num_audio_examples=3, num_workers=None,
                        timeout=evaluation.ranks.DEFAULT_TIMEOUT):
    """Per-utterance results (resumable, parallel, shared over the ranks),
    then in ``eval_dir`` (rank 0): ``options.json`` (the options of the
    results: a resumed evaluation must have the same), ``final_metrics.json`` (the summary's
    means and counts, and ``'wavenet'`` / ``'griffin_lim'`` /
    ``'quantized'``: ``{'rmse', 'log_spectral_distance',
    'mel_cepstral_distortion'}`` means),
    ``spectrograms.png`` and ``audio/<id>_{original,wavenet,
    griffin_lim}.wav`` of the first ``num_audio_examples`` utterances.
    Returns the final metrics on rank 0, None on the other ranks."""
    eval_dir = Path(eval_dir)
    items = evaluation_data(database_json, dataset, max_examples)
    _check_options(eval_dir, {
        'max_seconds': max_seconds, 'temperature': temperature,
        'seed': seed, 'griffin_lim_iterations': griffin_lim_iterations})
    audio_dir = eval_dir / 'audio'
    audio_dir.mkdir(parents=True, exist_ok=True)
    with_audio = {item['example_id'] for item in items[:num_audio_examples]}

    def evaluate_one(item):
        return _evaluate(model, item, max_seconds, temperature, seed,
                         griffin_lim_iterations,
                         audio_dir if item['example_id'] in with_audio
                         else None)

    outcome = evaluation.evaluate_dataset(
        items, evaluate_one, eval_dir, model=model.eval(),
        num_workers=num_workers, timeout=timeout)
    if outcome is None:  # another rank: rank 0 reports
        return None
    results, final = outcome
    done = [item['example_id'].replace('/', '_') for item, result
            in zip(items, results) if item['example_id'] in with_audio
            and 'error' not in result]
    if done:
        plot_spectrograms(eval_dir / 'spectrograms.png', done, audio_dir,
                          model)
    final = json_compatible({
        **final, **_comparison(final['means']),
        'real_time_factor': final['means'].get('real_time_factor'),
        'temperature': temperature, 'max_seconds': max_seconds})
    dump_json(final, eval_dir / 'final_metrics.json')
    return final


def format_metrics(final):
    """The table that the evaluate stage prints: one row per system."""
    def cell(value):
        return f'{value:>9.3f}' if isinstance(value, (int, float)) \
            and math.isfinite(value) else f'{"-":>9}'
    lines = [f'{"":12}' + ''.join(f'{label:>9}' for label in
                                  METRICS.values())]
    for system, label in SYSTEMS.items():
        lines.append(f'{label:12}' + ''.join(
            cell(final[system][metric]) for metric in METRICS))
    lines.append('(Quantized: the original on the levels of the WaveNet\'s '
                 'output, what a perfect WaveNet would score.)')
    return '\n'.join(lines)
