"""Database JSON helpers: every bad file is listed, good databases load."""
import numpy as np
import pytest
import soundfile

from padertorch_audio.data.database import (
    DatabaseError, check_audio_files, load_database, write_database)


def wav(path, num_samples, sample_rate=8000):
    soundfile.write(path, np.zeros(num_samples), sample_rate, subtype='PCM_16')
    return str(path)


def example(mix, sources, **extra):
    return {'audio_path': {'observation': mix, 'speech_source': sources},
            **extra}


def test_good_examples_pass_and_report_their_infos(tmp_path):
    examples = {'a': example(wav(tmp_path / 'm.wav', 100),
                             [wav(tmp_path / 's1.wav', 100),
                              wav(tmp_path / 's2.wav', 100)],
                             num_samples=100, sample_rate=8000)}
    infos = check_audio_files(examples)
    assert sorted(infos) == sorted(str(tmp_path / n)
                                   for n in ('m.wav', 's1.wav', 's2.wav'))
    assert {i.frames for i in infos.values()} == {100}


def test_every_bad_file_is_listed_by_path(tmp_path):
    (tmp_path / 'corrupt.wav').write_bytes(b'RIFF\x00\x00not really a wav')
    (tmp_path / 'text.wav').write_text('hello')
    empty = wav(tmp_path / 'empty.wav', 0)
    examples = {
        'corrupt': example(str(tmp_path / 'corrupt.wav'),
                           [wav(tmp_path / 'c1.wav', 10)]),
        'text': example(str(tmp_path / 'text.wav'),
                        [wav(tmp_path / 't1.wav', 10)]),
        'missing': example(str(tmp_path / 'missing.wav'),
                           [wav(tmp_path / 'x1.wav', 10)]),
        'empty': example(empty, [wav(tmp_path / 'e1.wav', 10)]),
        'length': example(wav(tmp_path / 'l.wav', 10),
                          [wav(tmp_path / 'l1.wav', 12)]),
        'rate': example(wav(tmp_path / 'r.wav', 10),
                        [wav(tmp_path / 'r1.wav', 10, 16000)]),
        'declared': example(wav(tmp_path / 'd.wav', 10),
                            [wav(tmp_path / 'd1.wav', 10)], num_samples=11,
                            sample_rate=8000),
        'good': example(wav(tmp_path / 'g.wav', 10),
                        [wav(tmp_path / 'g1.wav', 10)]),
    }
    with pytest.raises(DatabaseError) as info:
        check_audio_files(examples)
    message = str(info.value)
    assert message.startswith('7 problem(s)')
    for name in ('corrupt.wav', 'text.wav', 'missing.wav: file not found',
                 'empty.wav: empty', "length: files differ",
                 'rate: files differ', 'declared: files differ'):
        assert name in message, name
    assert '/g.wav' not in message and '/g1.wav' not in message


def test_written_database_loads_with_lazy_dataset(tmp_path):
    datasets = {'tt': {'a': {'num_samples': 3}, 'b': {'num_samples': 4}}}
    path = write_database(tmp_path / 'db' / 'database.json', datasets)
    database = load_database(path)
    assert database.dataset_names == ('tt',)
    dataset = database.get_dataset('tt')
    assert sorted(ex['example_id'] for ex in dataset) == ['a', 'b']


def test_missing_database_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.json'):
        load_database(tmp_path / 'nope.json')
