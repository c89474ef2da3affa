"""Stage 0: the database JSON of a wsj0-mix folder (real or toy).

Layout (Hershey et al. 2016; REFERENCES.md)::

    <root>/wsj0-mix/{2,3}speakers/wav{8k,16k}/{min,max}/{tr,cv,tt}/{mix,s1,s2[,s3]}/<id>.wav

with ``<id> = <utt1>_<gain1>_<utt2>_<gain2>[_<utt3>_<gain3>]``, gains in dB and
the speaker id the first three characters of an utterance id.
"""
from pathlib import Path

from padertorch_audio.data.database import (
    DatabaseError, check_audio_files, write_database)

__all__ = ['corpus_dir', 'find_examples', 'prepare_database']

DATASETS = ('tr', 'cv', 'tt')


def corpus_dir(root, num_speakers=2, sample_rate='8k', mode='min') -> Path:
    """``<root>/wsj0-mix/<K>speakers/wav<rate>/<mode>`` (``root`` may also be
    the ``wsj0-mix`` folder itself)."""
    root = Path(root)
    if sample_rate not in ('8k', '16k'):
        raise ValueError(f"sample_rate must be '8k' or '16k', got {sample_rate!r}.")
    if mode not in ('min', 'max'):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}.")
    if num_speakers not in (2, 3):
        raise ValueError(f'num_speakers must be 2 or 3, got {num_speakers!r}.')
    base = root if root.name == 'wsj0-mix' else root / 'wsj0-mix'
    return base / f'{num_speakers}speakers' / f'wav{sample_rate}' / mode


def _parse_name(stem, num_speakers):
    parts = stem.split('_')
    if len(parts) != 2 * num_speakers:
        return None
    utterances, gains = parts[0::2], parts[1::2]
    try:
        gains = [float(g) for g in gains]
    except ValueError:
        return None
    return utterances, gains


def find_examples(directory: Path, num_speakers, sample_rate_hz):
    """The examples of one dataset folder (``.../tt``), before checking."""
    mixtures = sorted((directory / 'mix').glob('*.wav'))
    examples, unnamed = {}, []
    for mixture in mixtures:
        parsed = _parse_name(mixture.stem, num_speakers)
        if parsed is None:
            unnamed.append(str(mixture))
            continue
        utterances, gains = parsed
        examples[mixture.stem] = {
            'audio_path': {
                'observation': str(mixture),
                'speech_source': [
                    str(directory / f's{k + 1}' / mixture.name)
                    for k in range(num_speakers)],
            },
            'source_id': utterances,
            'speaker_id': [u[:3] for u in utterances],
            'gain_db': gains,
            'sample_rate': sample_rate_hz,
        }
    return examples, unnamed


def prepare_database(root, json_path, num_speakers=2, sample_rate='8k',
                     mode='min', num_workers=8):
    """Check every file of the corpus and write the database JSON.

    Returns ``{dataset: number of examples}``. Raises
    :class:`~padertorch_audio.data.database.DatabaseError` listing every bad
    file (missing sources, unreadable or empty files, lengths or rates that
    differ between a mixture and its sources) and writes nothing then.
    """
    directory = corpus_dir(root, num_speakers, sample_rate, mode)
    if not directory.is_dir():
        raise FileNotFoundError(
            f'{directory} does not exist: expected the wsj0-mix layout '
            f'<root>/wsj0-mix/{{2,3}}speakers/wav{{8k,16k}}/{{min,max}}/'
            f'{{tr,cv,tt}}/{{mix,s1,s2[,s3]}}/<id>.wav under root={root}.')
    rate_hz = {'8k': 8000, '16k': 16000}[sample_rate]
    datasets, problems = {}, []
    for name in DATASETS:
        if not (directory / name / 'mix').is_dir():
            problems.append(f'{directory / name / "mix"}: folder not found')
            continue
        examples, unnamed = find_examples(directory / name, num_speakers,
                                          rate_hz)
        problems += [f'{path}: name is not <utt>_<gain>_... with '
                     f'{num_speakers} speakers' for path in unnamed]
        if not examples and not unnamed:
            problems.append(f'{directory / name / "mix"}: no .wav files')
        datasets[name] = examples
    all_examples = {f'{name}/{example_id}': example
                    for name, examples in datasets.items()
                    for example_id, example in examples.items()}
    try:
        infos = check_audio_files(all_examples, num_workers=num_workers)
    except ValueError as error:
        problems.append(str(error))
        infos = None
    if problems:
        raise DatabaseError(
            f'Cannot prepare {directory}:\n' + '\n'.join(problems))
    for name, examples in datasets.items():
        for example in examples.values():
            info = infos[example['audio_path']['observation']]
            example['num_samples'] = info.frames
            example['dataset'] = name
    write_database(json_path, datasets)
    return {name: len(examples) for name, examples in datasets.items()}
