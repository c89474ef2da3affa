"""Deterministic toy corpora: the layouts of real corpora, synthetic voices.

The recipes and tests run end to end without downloading anything: the toy
corpora have the directory layout, file names and formats of the real ones
(so the same preparation code reads both), filled with voices from the
synthesiser in :mod:`padertorch_audio.toy.voices` (what is said is planned
in :mod:`padertorch_audio.toy.phonetics`).

- :func:`create_wsj0_2mix`: ``ROOT/wsj0-mix/{2,3}speakers/...`` (speech
  separation), see :mod:`padertorch_audio.toy.wsj0_2mix`.
- :func:`create_librispeech`: ``ROOT/LibriSpeech/<subset>/...`` (speaker
  classification, vocoder), see :mod:`padertorch_audio.toy.librispeech`.

Both take ``size`` ('tiny' for tests, 'small' for the recipes, 'medium')
and ``seed``; the same arguments give the same bytes, whatever the number of
worker processes. A root directory holds one toy corpus; running again is a
no-op, an interrupted run is resumed, anything else is refused without
touching the directory (see :mod:`padertorch_audio.toy.common`).
From the command line::

    python -m padertorch_audio.toy wsj0_2mix ROOT --size small [--seed 0]
    python -m padertorch_audio.toy librispeech ROOT --size small
"""
from padertorch_audio.toy.common import ToyCorpusError
from padertorch_audio.toy.librispeech import create_librispeech
from padertorch_audio.toy.phonetics import Speaker, make_speakers
from padertorch_audio.toy.voices import synthesize
from padertorch_audio.toy.wsj0_2mix import create_wsj0_2mix

__all__ = [
    'create',
    'create_wsj0_2mix',
    'create_librispeech',
    'CORPORA',
    'ToyCorpusError',
    'Speaker',
    'make_speakers',
    'synthesize',
    'create_instead_of',
]

#: The toy corpora by name: ``{name: create function}``.
CORPORA = {
    'wsj0_2mix': create_wsj0_2mix,
    'librispeech': create_librispeech,
}


def create(corpus, root, size='small', seed=0, *, processes=None):
    """Write the toy corpus named `corpus` (a key of :data:`CORPORA`) into
    `root`; returns the corpus directory. See :func:`create_wsj0_2mix` and
    :func:`create_librispeech`."""
    if corpus not in CORPORA:
        raise ValueError(
            f'Unknown toy corpus {corpus!r}; expected one of '
            f'{", ".join(map(repr, CORPORA))}.')
    return CORPORA[corpus](root, size=size, seed=seed, processes=processes)


#: What each toy corpus stands in for.
REAL_NAMES = {'wsj0_2mix': 'WSJ0-2mix', 'librispeech': 'LibriSpeech'}


def create_instead_of(corpus, option, root, size='small'):
    """What a recipe does when it is given no corpus: say loudly (a banner
    on stdout) that it uses the toy corpus `corpus` instead, naming the
    `option` that was not given, and :func:`create` it in `root` (nothing is
    written when `root` holds it already). Returns `root`."""
    banner = '#' * 78
    print(f'{banner}\n# No {option} given: using the TOY corpus in {root}\n'
          f'# (synthetic voices; its numbers say nothing about '
          f'{REAL_NAMES[corpus]}).\n{banner}', flush=True)
    create(corpus, root, size=size)
    return root
