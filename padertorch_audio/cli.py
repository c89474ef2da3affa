"""The ``padertorch-audio`` command.

::

    padertorch-audio separate --model model.pt mix1.wav mix2.flac -o separated/

writes ``separated/mix1_s1.wav``, ``separated/mix1_s2.wav``, ... (one file
per speaker, at the input's sample rate and length)::

    padertorch-audio classify --model speakers.pt a.wav b.flac [--top 3]
    padertorch-audio embed --model speakers.pt a.wav b.flac -o embeddings.npz
    padertorch-audio verify --model speakers.pt a.wav b.wav [--threshold T]

name the most likely speakers of each file, write one speaker embedding per
file (``.npz`` with the arrays ``embeddings`` ``(files, size)`` and
``paths`` ``(files,)``) and score whether two files hold the same speaker::

    padertorch-audio synthesize --model vocoder.pt speech.wav -o resynth.wav
    padertorch-audio synthesize --model vocoder.pt a.npy b.flac -o out/

resynthesise audio files from their mel frames, or synthesise mel frames
(``.npy``, ``(frames, n_mels)``) with a vocoder.
See ``padertorch-audio <command> --help``.

The command only parses arguments, calls the library
(:func:`padertorch_audio.separation.separate_files`,
:mod:`padertorch_audio.classification.files`,
:func:`padertorch_audio.vocoder.files.synthesize_files`) and prints what it
reports
(a model trained on the toy corpus gets one ``warning:`` line, each bad
input file one ``error: <path>: <reason>`` line on stderr; the other files
are processed).

Exit status: 0 when every file was processed, 1 when some input file
failed, 2 for a usage error, a model that cannot be loaded (or is for
another task) or an output that would overwrite an input or the model
(nothing is written then), 130 after Ctrl-C (the files written until then
are complete: every file is written atomically).
"""
import argparse
import contextlib
import json
import math
import sys
import warnings
from pathlib import Path

__all__ = ['main']

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


# --------------------------------------------------------------------------
# Arguments
# --------------------------------------------------------------------------

def _argument_type(convert, accept, expected):
    """An argparse type: ``convert(text)`` when ``accept`` takes it, else
    an error saying that ``expected`` was expected."""
    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not accept(value):
            raise argparse.ArgumentTypeError(
                f'expected {expected}, got {text!r}')
        return value
    return parse


_channel_index = _argument_type(int, lambda value: value >= 0,
                                'a channel index 0, 1, ...')
_positive_int = _argument_type(int, lambda value: value >= 1,
                               'a whole number 1, 2, ...')
_finite_float = _argument_type(float, math.isfinite, 'a finite number')
_temperature = _argument_type(
    float, lambda value: math.isfinite(value) and value >= 0,
    'a finite number >= 0 (0: the most likely sample)')
_natural = _argument_type(int, lambda value: value >= 0,
                          'a whole number 0, 1, ...')


_AUDIO_FILES = 'audio files (WAV, FLAC, ... anything libsndfile reads)'


def _add_command(commands, name, run, model, *, help, description,
                 epilog, inputs=('+', _AUDIO_FILES)):
    """A file command: its input files (``nargs`` and help), --model,
    --channel/--mixdown and --trusted."""
    parser = commands.add_parser(name, help=help, description=description,
                                 epilog=f'exit status: {epilog}')
    parser.add_argument('inputs', nargs=inputs[0], metavar='IN',
                        help=inputs[1])
    parser.add_argument('--model', '-m', required=True, metavar='MODEL',
                        help=f'exported {model} model file (export_model)')
    channels = parser.add_mutually_exclusive_group()
    channels.add_argument('--channel', type=_channel_index, metavar='N',
                          help='use channel N (from 0) of multi-channel '
                               'inputs (default: 0)')
    channels.add_argument('--mixdown', action='store_true',
                          help='average the channels of multi-channel inputs')
    parser.add_argument('--trusted', action='store_true',
                        help='the model file is trusted like code: build '
                             'whatever its config names (without it, only '
                             'torch.nn.Module classes of padertorch_audio '
                             'and torch.nn)')
    parser.set_defaults(run=run)
    return parser


_INPUTS = ('Inputs are resampled to the model\'s rate; multi-channel inputs '
           'are reduced to channel 0 unless --channel or --mixdown says '
           'otherwise. A file that cannot be read gets one error line and '
           'the others are processed; the exit status is 1 then.')


def _build_parser():
    from padertorch_audio import __version__
    parser = argparse.ArgumentParser(
        prog='padertorch-audio',
        description='Speech and audio tools of padertorch_audio.')
    parser.add_argument('--version', action='version',
                        version=f'%(prog)s {__version__}')
    commands = parser.add_subparsers(dest='command', metavar='COMMAND')

    separate = _add_command(
        commands, 'separate', _separate_command, 'separation',
        help='separate the speakers of audio files with an exported model',
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
        epilog='0 all files separated, 1 some files failed, 2 usage error, '
               'unloadable model or an OUTDIR that would overwrite an input')
    separate.add_argument('--output-dir', '-o', required=True,
                          metavar='OUTDIR', type=Path,
                          help='directory for the separated files (created '
                               'if needed); must not hold files named like '
                               'the outputs among the inputs')

    classify = _add_command(
        commands, 'classify', _classify_command, 'speaker',
        help='name the speakers of audio files with an exported speaker '
             'model',
        description='Name the most likely speakers of each input file with '
                    'an exported speaker model: one line per file, "<path>: '
                    '<speaker> (p=<probability>)  top-N: <speaker> '
                    '<probability>, ...", the probabilities being the '
                    'model\'s posteriors (softmax of its logits). ' + _INPUTS,
        epilog='0 all files classified, 1 some files failed, 2 usage error '
               'or a model that cannot be loaded or is no speaker model')
    classify.add_argument('--top', type=_positive_int, default=3,
                          metavar='N', help='report the N most likely '
                                            'speakers (default: 3)')
    classify.add_argument('--json', action='store_true',
                          help='print one JSON object per file instead (JSON '
                               'lines): {"path", "speaker", "probability", '
                               '"top": [{"speaker", "probability"}, ...]}')

    embed = _add_command(
        commands, 'embed', _embed_command, 'speaker',
        help='write the speaker embedding of each audio file',
        description='Write the speaker embedding of each input file with an '
                    'exported speaker model to one .npz file (written '
                    'atomically, only when at least one file succeeded; '
                    'files that failed are left out) with two arrays: '
                    '"embeddings" float32 (files, embedding size) and '
                    '"paths" (files,), the input path of each row as given. '
                    'Read it with numpy.load. Prints the written file. '
                    + _INPUTS,
        epilog='0 all files embedded, 1 some files failed, 2 usage error, a '
               'model that cannot be loaded or is no speaker model, or an '
               'OUT that is an input, the model or a directory')
    embed.add_argument('--output', '-o', required=True, type=Path,
                       metavar='OUT',
                       help='the .npz file to write (its directory is '
                            'created if needed; never an input or the model)')

    verify = _add_command(
        commands, 'verify', _verify_command, 'speaker',
        inputs=(2, 'the two audio files'),
        help='score whether two audio files hold the same speaker',
        description='Score whether two audio files hold the same speaker: '
                    'the cosine similarity of their speaker embeddings, and '
                    'the decision "same speaker" when it is at least the '
                    'threshold (default: the model\'s EER threshold, from '
                    'its verification evaluation), else "different '
                    'speakers". Without any threshold only the score is '
                    'printed (exit status 0). ' + _INPUTS,
        epilog='0 scored, 1 a file failed, 2 usage error or a model that '
               'cannot be loaded or is no speaker model')
    verify.add_argument('--threshold', type=_finite_float, metavar='T',
                        help='decide "same speaker" at score >= T (a cosine '
                             'similarity) instead of at the model\'s EER '
                             'threshold')
    verify.add_argument('--json', action='store_true',
                        help='print one JSON object: {"a", "b", "score", '
                             '"threshold", "threshold_source" ("model", '
                             '"argument" or null), "same_speaker" (true, '
                             'false or null)}')

    synthesize = _add_command(
        commands, 'synthesize', _synthesize_command, 'vocoder',
        inputs=('+', 'audio files (WAV, FLAC, ... anything libsndfile '
                     'reads) to resynthesise, or mel frames (.npy)'),
        help='synthesise waveforms with an exported vocoder from audio '
             'files (analysis-resynthesis) or mel frames',
        description='Synthesise a waveform for each input with an exported '
                    'vocoder (WaveNet). An audio input is resynthesised: '
                    'resampled to the model\'s rate (with a note), its mel '
                    'frames computed as in training, the waveform generated '
                    'from them and resampled back (the output has the '
                    'input\'s rate and length). A .npy input (every input '
                    'with --mel) holds mel frames: a float32 or float64 '
                    'array of shape (frames, n_mels), the natural-log mel '
                    'power of padertorch_audio.features.log_mel with the '
                    'model\'s STFT and filterbank, as the model\'s log_mel '
                    'writes it (numpy.save(path, model.log_mel(audio))); '
                    'the output has the model\'s rate and (frames + 1) * '
                    'shift - window_length samples. Outputs are 16-bit, '
                    'written atomically; a progress bar shows the samples of '
                    'each file. Multi-channel inputs are reduced to channel '
                    '0 unless --channel or --mixdown says otherwise. A file '
                    'that cannot be read gets one error line and the others '
                    'are processed; the exit status is 1 then.',
        epilog='0 all files synthesised, 1 some files failed, 2 usage error, '
               'a model that cannot be loaded or is no vocoder, or an output '
               'that would overwrite an input or the model')
    synthesize.add_argument(
        '--output', '-o', required=True, metavar='OUT',  # str: keeps a '/'
        help='the output file (.wav or .flac) for one input; with several '
             'inputs (or an existing directory, or a name ending with /) '
             'the directory for OUT/<input stem>.wav (created if needed)')
    synthesize.add_argument('--mel', action='store_true',
                            help='read every input as mel frames (.npy), '
                                 'whatever its name')
    synthesize.add_argument('--temperature', type=_temperature, default=1.0,
                            metavar='T',
                            help='sampling temperature (default: 1; 0: the '
                                 'most likely sample at each step)')
    synthesize.add_argument('--seed', type=_natural, default=0, metavar='N',
                            help='seed of the sampling of every file '
                                 '(default: 0; the same seed, the same '
                                 'output)')
    synthesize.add_argument('--speaker', type=_natural, metavar='N',
                            help='speaker index, for a model trained with '
                                 'speakers (global conditioning)')
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
    from padertorch_audio.inference import FilesError
    try:
        with _toy_model_warning_as_one_line():
            return args.run(args)
    except FilesError as error:  # nothing was done
        print(f'error: {error}', file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # the files written so far are complete
        print('interrupted', file=sys.stderr)
        return EXIT_INTERRUPTED


@contextlib.contextmanager
def _toy_model_warning_as_one_line():
    """A model trained on the toy corpus: one ``warning:`` line on stderr
    (each run), no Python warning location."""
    from tqdm import tqdm

    from padertorch_audio.inference import ToyModelWarning
    with warnings.catch_warnings():
        show = warnings.showwarning

        def warn(message, category, *rest):
            if issubclass(category, ToyModelWarning):
                tqdm.write(f'warning: {message}', file=sys.stderr)
            else:
                show(message, category, *rest)
        warnings.simplefilter('always', ToyModelWarning)
        warnings.showwarning = warn
        yield


def _exit_status(results):
    """EXIT_OK, or EXIT_SOME_FAILED with a line that counts the failures."""
    failed = sum(result.error is not None for result in results)
    if failed:
        print(f'{failed} of {len(results)} files failed', file=sys.stderr)
        return EXIT_SOME_FAILED
    return EXIT_OK


def _progress(args):
    return len(args.inputs) > 1 and sys.stderr.isatty()


# --------------------------------------------------------------------------
# separate
# --------------------------------------------------------------------------

def _separate_command(args):
    from padertorch_audio.separation import files
    return _exit_status(files.separate_files(
        args.model, args.inputs, args.output_dir, channel=args.channel,
        mixdown=args.mixdown, trusted=args.trusted, progress=_progress(args),
        on_file=files.print_result))


# --------------------------------------------------------------------------
# classify, embed, verify
# --------------------------------------------------------------------------

def _classify_command(args):
    from padertorch_audio.classification import files
    return _exit_status(files.classify_files(
        args.model, args.inputs, top=args.top, channel=args.channel,
        mixdown=args.mixdown, trusted=args.trusted, progress=_progress(args),
        on_file=lambda result: files.print_classified(result, args.json)))


def _embed_command(args):
    from padertorch_audio.classification import files
    from padertorch_audio.inference import print_notes
    results = files.embed_files(
        args.model, args.inputs, args.output, channel=args.channel,
        mixdown=args.mixdown, trusted=args.trusted, progress=_progress(args),
        on_file=print_notes)
    if any(result.error is None for result in results):
        print(args.output, flush=True)
    return _exit_status(results)


def _verify_command(args):
    from padertorch_audio.classification import files
    from padertorch_audio.inference import print_notes
    a, b = args.inputs
    verification = files.verify_pair(
        args.model, a, b, threshold=args.threshold, channel=args.channel,
        mixdown=args.mixdown, trusted=args.trusted, on_file=print_notes)
    if verification.errors:
        return _exit_status(verification.files)
    if args.json:
        print(json.dumps({
            'a': a, 'b': b, 'score': verification.score,
            'threshold': verification.threshold,
            'threshold_source': verification.threshold_source,
            'same_speaker': verification.same_speaker}, ensure_ascii=False))
        return EXIT_OK
    line = f'{a} {b}: score {verification.score:.4f}'
    if verification.threshold is None:
        print(f'{line}; no decision: the model has no EER threshold, give '
              f'--threshold T')
        return EXIT_OK
    source = ("the model's EER threshold"
              if verification.threshold_source == 'model' else '--threshold')
    decision = 'same speaker' if verification.same_speaker \
        else 'different speakers'
    print(f'{line}, threshold {verification.threshold:.4f} ({source}): '
          f'{decision}')
    return EXIT_OK


# --------------------------------------------------------------------------
# synthesize
# --------------------------------------------------------------------------

def _synthesize_command(args):
    from padertorch_audio.vocoder import files
    return _exit_status(files.synthesize_files(
        args.model, args.inputs, args.output, mel=args.mel,
        temperature=args.temperature, seed=args.seed,
        speaker_index=args.speaker, channel=args.channel,
        mixdown=args.mixdown, trusted=args.trusted,
        progress=sys.stderr.isatty(), on_file=files.print_result))


if __name__ == '__main__':
    sys.exit(main())
