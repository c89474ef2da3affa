"""Write a toy corpus from the command line.

    python -m padertorch_audio.toy wsj0_2mix ROOT --size small [--seed 0]
    python -m padertorch_audio.toy librispeech ROOT --size small

Prints what was written (or that the corpus was already complete) and the
corpus directory; errors are printed as one message, with exit status 1.
"""
import argparse
import logging
import sys

from padertorch_audio.toy import CORPORA, create, librispeech, wsj0_2mix
from padertorch_audio.toy.common import ToyCorpusError


def build_parser():
    sizes = list(wsj0_2mix.SIZES)
    assert sizes == list(librispeech.SIZES)
    parser = argparse.ArgumentParser(
        prog='python -m padertorch_audio.toy',
        description='Write a deterministic toy corpus with the layout of a '
                    'real one (synthetic voices). Running again with the '
                    'same arguments does nothing; an interrupted run is '
                    'completed.')
    parser.add_argument('corpus', choices=list(CORPORA),
                        help='which corpus layout')
    parser.add_argument('root', help='directory for the corpus: new, empty, '
                                     'or holding this very toy corpus')
    parser.add_argument('--size', choices=sizes, default='small',
                        help='tiny (tests), small (the recipes, default), '
                             'medium')
    parser.add_argument('--seed', type=int, default=0,
                        help='random seed, a whole number >= 0 (default 0)')
    parser.add_argument('--processes', type=int, default=None,
                        help='worker processes (default: the usable CPU '
                             'cores); the output does not depend on it')
    return parser


def main(argv=None):
    parser = build_parser()
    arguments = parser.parse_args(argv)
    logger = logging.getLogger('padertorch_audio.toy')
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter('%(message)s'))
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        corpus = create(arguments.corpus, arguments.root, size=arguments.size,
                        seed=arguments.seed, processes=arguments.processes)
    except (ToyCorpusError, ValueError, OSError) as error:
        parser.exit(1, f'{parser.prog}: error: {error}\n')
    except KeyboardInterrupt:
        parser.exit(130, f'{parser.prog}: interrupted; run the same command '
                         f'again to complete the corpus.\n')
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    print(corpus)


if __name__ == '__main__':
    main()
