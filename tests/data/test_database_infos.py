"""audio_file_infos: every file's header or the reason it is bad, no raise."""
import numpy as np
import pytest
import soundfile

from padertorch_audio.data.database import (
    DatabaseError, audio_file_infos, check_audio_files)


@pytest.fixture
def files(tmp_path):
    """Good files (WAV, FLAC, stereo) and bad ones of every kind."""
    good = {}
    for name, samples, rate, channels in [('a.wav', 100, 8000, 1),
                                          ('b.flac', 321, 16000, 1),
                                          ('c.flac', 50, 16000, 2)]:
        data = np.zeros((samples, channels), 'int16')
        soundfile.write(tmp_path / name, data, rate)
        good[str(tmp_path / name)] = (samples, rate, channels)
    (tmp_path / 'corrupt.flac').write_bytes(b'fLaC' + bytes(300))
    (tmp_path / 'text.wav').write_text('hello')
    (tmp_path / 'zero.flac').write_bytes(b'')
    soundfile.write(tmp_path / 'empty.wav', np.zeros(0, 'int16'), 8000)
    soundfile.write(tmp_path / 'cut.wav', np.ones(1000, 'int16'), 8000)
    data = (tmp_path / 'cut.wav').read_bytes()
    (tmp_path / 'cut.wav').write_bytes(data[:len(data) - 500])
    bad = [str(tmp_path / name) for name in (
        'corrupt.flac', 'text.wav', 'zero.flac', 'empty.wav', 'cut.wav',
        'missing.wav')]
    return good, bad


def test_headers_of_good_files_and_reasons_for_bad_ones(files):
    good, bad = files
    infos, problems = audio_file_infos([*bad, *good, *good], num_workers=3)
    assert list(infos) == sorted(good) and list(problems) == sorted(bad)
    for path, (samples, rate, channels) in good.items():
        reference = soundfile.info(path)
        assert (infos[path].frames, infos[path].samplerate,
                infos[path].channels) == (reference.frames,
                                          reference.samplerate,
                                          reference.channels)
        assert (reference.frames, reference.samplerate,
                reference.channels) == (samples, rate, channels)
    by_name = {path.rsplit('/', 1)[1]: reason
               for path, reason in problems.items()}
    assert by_name['missing.wav'] == 'file not found'
    assert by_name['empty.wav'] == 'empty (0 samples)'
    assert by_name['cut.wav'].startswith('truncated WAV file')
    for name in ('corrupt.flac', 'text.wav', 'zero.flac'):
        assert by_name[name].startswith('Error opening'), by_name[name]


def test_same_result_with_any_number_of_workers_and_paths(files, tmp_path):
    good, bad = files
    one = audio_file_infos(good.keys() | set(bad), num_workers=1)
    many = audio_file_infos([tmp_path / p.rsplit('/', 1)[1]
                             for p in [*good, *bad]], num_workers=8)
    assert one[1] == many[1]
    assert {p: (i.frames, i.samplerate) for p, i in one[0].items()} == {
        p: (i.frames, i.samplerate) for p, i in many[0].items()}
    assert audio_file_infos([]) == ({}, {})
    with pytest.raises(ValueError, match='num_workers'):
        audio_file_infos(list(good), num_workers=0)


def test_check_audio_files_reports_the_same_problems(files):
    good, bad = files
    examples = {f'e{i}': {'audio_path': {'observation': path}}
                for i, path in enumerate([*good, *bad])}
    _, problems = audio_file_infos([*good, *bad])
    with pytest.raises(DatabaseError) as error:
        check_audio_files(examples)
    assert str(error.value) == (
        f'{len(bad)} problem(s) with the audio files:\n  ' + '\n  '.join(
            f'{path}: {reason}' for path, reason in problems.items()))
    good_examples = {path: {'audio_path': path} for path in good}
    assert sorted(check_audio_files(good_examples)) == sorted(good)
