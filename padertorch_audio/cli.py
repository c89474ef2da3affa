"""The ``padertorch-audio`` command.

::

    padertorch-audio separate --model model.pt mix1.wav mix2.flac -o separated/

writes ``separated/mix1_s1.wav``, ``separated/mix1_s2.wav``, ... (one file
per speaker, at the input's sample rate and length). See
``padertorch-audio separate --help``.

The command only parses arguments and calls library functions
(:func:`padertorch_audio.separation.load_model`,
:func:`padertorch_audio.separation.separate`,
:func:`padertorch_audio.io.read_audio` / :func:`~padertorch_audio.io.write_audio`,
:func:`padertorch_audio.features.resample`).

Exit status: 0 when every file was separated, 1 when some input file
failed (each with one ``error: <path>: <reason>`` line on stderr; the other
files are processed), 2 for a usage error, a model that cannot be loaded
or an output directory that would overwrite an input, 130 after Ctrl-C
(the files written until then are complete: every file is written
atomically).
"""
import argparse
import os
import sys
from pathlib import Path

import numpy as np

__all__ = ['main']

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class _InputError(Exception):
    """An input file that cannot be separated; the message says why."""


# --------------------------------------------------------------------------
# Arguments
# --------------------------------------------------------------------------

def _channel_index(text):
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(
            f'expected a channel index 0, 1, ..., got {text!r}')
    return value


def _build_parser():
    from padertorch_audio import __version__
    parser = argparse.ArgumentParser(
        prog='padertorch-audio',
        description='Speech and audio tools of padertorch_audio.')
    parser.add_argument('--version', action='version',
                        version=f'%(prog)s {__version__}')
    commands = parser.add_subparsers(dest='command', metavar='COMMAND')

    separate = commands.add_parser(
        'separate', help='separate the speakers of audio files with an '
                         'exported model',
        description='Separate the speakers of each input file with an '
                    'exported separation model. Writes OUTDIR/<stem>_s1.wav, '
                    '<stem>_s2.wav, ... (one per speaker) at the sample rate, '
                    'length and sample format of the input (PCM_16 where the '
                    'input format has no WAV equivalent). Inputs are '
                    'resampled to the model\'s rate and the outputs back. '
                    'Multi-channel inputs are reduced to channel 0 unless '
                    '--channel or --mixdown says otherwise. A file that '
                    'cannot be read gets one error line and the others are '
                    'processed; the exit status is 1 then.',
        epilog='exit status: 0 all files separated, 1 some files failed, '
               '2 usage error, unloadable model or an OUTDIR that would '
               'overwrite an input')
    separate.add_argument('inputs', nargs='+', metavar='IN',
                          help='audio files (WAV, FLAC, ... anything '
                               'libsndfile reads)')
    separate.add_argument('--model', '-m', required=True, metavar='MODEL',
                          help='exported model file (export_model)')
    separate.add_argument('--output-dir', '-o', required=True,
                          metavar='OUTDIR', type=Path,
                          help='directory for the separated files (created '
                               'if needed); must not hold files named like '
                               'the outputs among the inputs')
    channels = separate.add_mutually_exclusive_group()
    channels.add_argument('--channel', type=_channel_index, metavar='N',
                          help='use channel N (from 0) of multi-channel '
                               'inputs (default: 0)')
    channels.add_argument('--mixdown', action='store_true',
                          help='average the channels of multi-channel inputs')
    separate.add_argument('--trusted', action='store_true',
                          help='the model file is trusted like code: build '
                               'whatever its config names (without it, only '
                               'torch.nn.Module classes of padertorch_audio '
                               'and torch.nn)')
    separate.set_defaults(run=_separate_command)
    return parser


def main(argv=None):
    """Run the ``padertorch-audio`` command; returns the exit status."""
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version, usage errors
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return args.run(args)
    except KeyboardInterrupt:  # the files written so far are complete
        print('interrupted', file=sys.stderr)
        return EXIT_INTERRUPTED


# --------------------------------------------------------------------------
# separate
# --------------------------------------------------------------------------

def _reason(path, error):
    """``<path>: <reason>``; messages that start with the path (the
    library's errors name their file) are not prefixed twice."""
    message = str(error).strip() or type(error).__name__
    if not message.startswith(str(path)):
        message = f'{path}: {message}'
    return message


def _output_paths(input_path, output_dir, num_speakers):
    stem = Path(input_path).stem
    return [output_dir / f'{stem}_s{k + 1}.wav' for k in range(num_speakers)]


def _same_file(a, b):
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)  # hard links
    except OSError:
        return False


def _check_outputs(inputs, model_path, output_dir, num_speakers):
    """An error message when an output would overwrite an input (or the
    model) or two inputs would write the same output; else None."""
    protected = [*inputs, model_path]
    writers = {}
    for input_path in inputs:
        for output in _output_paths(input_path, output_dir, num_speakers):
            for other in protected:
                if _same_file(output, other):
                    return (f'error: {other}: writing {output} would '
                            f'overwrite this input; choose another '
                            f'--output-dir')
            key = os.path.realpath(output)
            if key in writers and writers[key] != input_path:
                return (f'error: {input_path}: its output {output} is also '
                        f'the output of {writers[key]} (same file name '
                        f'stem); separate them into different --output-dir')
            writers[key] = input_path
    return None


def _read_input(path, channel, mixdown, say):
    """The mono signal ``(samples,)`` float32, its sample rate and the
    subtype for the outputs."""
    import soundfile

    from padertorch_audio.io import read_audio
    path = Path(path)
    if path.is_dir():
        raise _InputError(f'{path}: is a directory, expected an audio file')
    if path.is_file() and path.stat().st_size == 0:
        raise _InputError(f'{path}: empty file (0 bytes)')
    try:
        signal, sample_rate = read_audio(path, dtype='float32')
        subtype = soundfile.info(str(path)).subtype
    except Exception as error:  # noqa: BLE001 - io.AudioFileError and more
        raise _InputError(_reason(path, error)) from None
    num_channels = 1 if signal.ndim == 1 else signal.shape[0]
    if channel is not None and channel >= num_channels:
        raise _InputError(
            f'{path}: --channel {channel} does not exist, the file has '
            f'{num_channels} channel{"s" if num_channels > 1 else ""}')
    if signal.ndim == 2:
        if mixdown:
            signal = signal.mean(axis=0)
            say(f'note: {path}: {num_channels} channels, averaged '
                f'(--mixdown)')
        else:
            index = channel or 0
            signal = signal[index]
            if channel is None:
                say(f'note: {path}: {num_channels} channels, using channel '
                    f'0 (choose with --channel N or --mixdown)')
    if not soundfile.check_format('WAV', subtype):
        subtype = 'PCM_16'
    return np.ascontiguousarray(signal, dtype=np.float32), sample_rate, \
        subtype


def _fit_length(signal, length):
    """Cut or zero-pad the last axis to `length` samples."""
    if signal.shape[-1] >= length:
        return signal[..., :length]
    padding = [(0, 0)] * (signal.ndim - 1) + [(0, length - signal.shape[-1])]
    return np.pad(signal, padding)


def _separate_file(model, path, output_dir, args, say):
    """Separate one file; returns the written paths."""
    from padertorch_audio.features import resample
    from padertorch_audio.io import write_audio
    from padertorch_audio.separation import separate

    signal, sample_rate, subtype = _read_input(
        path, args.channel, args.mixdown, say)
    model_rate = int(model.sample_rate)
    length = signal.shape[-1]
    if sample_rate != model_rate:
        signal = resample(signal, sample_rate, model_rate).astype(np.float32)
    try:
        estimates = np.asarray(separate(model, signal))
    except Exception as error:  # noqa: BLE001 - e.g. out of memory
        raise _InputError(f'{path}: separation failed '
                          f'({type(error).__name__}: {error})') from None
    if sample_rate != model_rate:
        estimates = resample(estimates, model_rate, sample_rate)
    estimates = _fit_length(estimates, length)
    if not subtype.startswith(('FLOAT', 'DOUBLE')):
        peak = float(np.max(np.abs(estimates))) if estimates.size else 0.
        if peak > 1:
            estimates = estimates * (0.99 / peak)
            say(f'note: {path}: the estimates peak at {peak:.2f}; scaled '
                f'by {0.99 / peak:.3f} to fit {subtype} without clipping')
    outputs = _output_paths(path, output_dir, len(estimates))
    for output, estimate in zip(outputs, estimates):
        write_audio(output, estimate, sample_rate, subtype=subtype)
    return outputs


def _separate_command(args):
    from padertorch_audio.separation import load_model

    inputs = list(args.inputs)
    output_dir = args.output_dir
    if not Path(args.model).is_file():
        print(f'error: {args.model}: no such model file', file=sys.stderr)
        return EXIT_USAGE
    try:
        model = load_model(args.model, trusted=args.trusted)
    except Exception as error:  # noqa: BLE001 - the loader names the file
        print(f'error: {_reason(args.model, error)}', file=sys.stderr)
        return EXIT_USAGE
    refusal = _check_outputs(inputs, args.model, output_dir,
                             int(model.num_speakers))
    if refusal:
        print(refusal, file=sys.stderr)
        return EXIT_USAGE
    try:  # only once the model has loaded: a refused file leaves no trace
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        print(f'error: {output_dir}: cannot create the output directory '
              f'({error.strerror or error})', file=sys.stderr)
        return EXIT_USAGE

    from tqdm import tqdm
    show_bar = len(inputs) > 1 and sys.stderr.isatty()
    failed = 0
    with tqdm(inputs, disable=not show_bar, unit='file', desc='separate',
              file=sys.stderr) as bar:
        def say(message):
            if show_bar:
                bar.write(message, file=sys.stderr)
            else:
                print(message, file=sys.stderr)

        for path in bar:
            try:
                outputs = _separate_file(model, path, output_dir, args, say)
            except _InputError as error:
                say(f'error: {error}')
                failed += 1
                continue
            for output in outputs:
                print(output, flush=True)
    if failed:
        print(f'{failed} of {len(inputs)} files failed', file=sys.stderr)
        return EXIT_SOME_FAILED
    return EXIT_OK


if __name__ == '__main__':
    sys.exit(main())
