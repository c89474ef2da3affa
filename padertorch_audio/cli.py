"""The ``padertorch-audio`` command.

::

    padertorch-audio separate --model model.pt mix1.wav mix2.flac -o separated/

writes ``separated/mix1_s1.wav``, ``separated/mix1_s2.wav``, ... (one file
per speaker, at the input's sample rate and length). See
``padertorch-audio separate --help``.

The command only parses arguments, calls
:func:`padertorch_audio.separation.separate_files` and prints what it
reports (a model trained on the toy corpus gets one ``warning:`` line).

Exit status: 0 when every file was separated, 1 when some input file
failed (each with one ``error: <path>: <reason>`` line on stderr; the other
files are processed), 2 for a usage error, a model that cannot be loaded
or an output directory that would overwrite an input, 130 after Ctrl-C
(the files written until then are complete: every file is written
atomically).
"""
import argparse
import sys
import warnings
from pathlib import Path

__all__ = ['main']

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


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

def _separate_command(args):
    from tqdm import tqdm

    from padertorch_audio.separation import files

    inputs = list(args.inputs)
    with warnings.catch_warnings():
        show = warnings.showwarning

        def warn(message, category, *rest):  # a toy model: one line
            if issubclass(category, files.ToyModelWarning):
                tqdm.write(f'warning: {message}', file=sys.stderr)
            else:
                show(message, category, *rest)
        warnings.simplefilter('always', files.ToyModelWarning)
        warnings.showwarning = warn
        try:
            results = files.separate_files(
                args.model, inputs, args.output_dir, channel=args.channel,
                mixdown=args.mixdown, trusted=args.trusted,
                progress=len(inputs) > 1 and sys.stderr.isatty(),
                on_file=files.print_result)
        except files.SeparateFilesError as error:
            print(f'error: {error}', file=sys.stderr)
            return EXIT_USAGE
    failed = sum(result.error is not None for result in results)
    if failed:
        print(f'{failed} of {len(inputs)} files failed', file=sys.stderr)
        return EXIT_SOME_FAILED
    return EXIT_OK


if __name__ == '__main__':
    sys.exit(main())
