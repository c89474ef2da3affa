import json
import subprocess
import sys

import pytest

from padertorch_audio.toy import create
from padertorch_audio.toy.__main__ import main


def run(*arguments):
    return subprocess.run(
        [sys.executable, '-m', 'padertorch_audio.toy', *map(str, arguments)],
        capture_output=True, text=True, timeout=120)


def marker(root):
    return json.loads((root / '.padertorch_audio_toy.json').read_text())


@pytest.mark.parametrize('corpus, directory, num_files', [
    ('wsj0_2mix', 'wsj0-mix', 400), ('librispeech', 'LibriSpeech', 37)])
def test_writes_the_corpus_then_nothing(tmp_path, corpus, directory,
                                        num_files):
    root = tmp_path / 'cli'
    result = run(corpus, root, '--size', 'tiny', '--seed', 2,
                 '--processes', 2)
    assert result.returncode == 0, result.stderr
    assert f'Wrote {num_files} files' in result.stdout
    assert result.stdout.splitlines()[-1] == str(root / directory)
    assert marker(root)['corpus'] == corpus
    assert (marker(root)['size'], marker(root)['seed']) == ('tiny', 2)

    again = run(corpus, root, '--size', 'tiny', '--seed', 2)
    assert again.returncode == 0, again.stderr
    assert 'already complete' in again.stdout
    assert 'nothing written' in again.stdout
    assert again.stdout.splitlines()[-1] == str(root / directory)


def test_writes_what_the_python_api_writes(tmp_path, capsys):
    main(['librispeech', str(tmp_path / 'cli'), '--size', 'tiny',
          '--seed', '3'])
    assert capsys.readouterr().out.splitlines()[-1] == str(
        tmp_path / 'cli' / 'LibriSpeech')
    create('librispeech', tmp_path / 'api', size='tiny', seed=3)
    assert marker(tmp_path / 'cli') == marker(tmp_path / 'api')


def exit_status(arguments, capsys):
    """Run the command line in this process: (status, stdout, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        main([str(argument) for argument in arguments])
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def test_errors_are_one_message_without_traceback(tmp_path):
    (tmp_path / 'notes.txt').write_text('mine')
    result = run('librispeech', tmp_path, '--size', 'tiny')
    assert result.returncode == 1
    assert 'error:' in result.stderr and 'not empty' in result.stderr
    assert 'Traceback' not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ['notes.txt']


@pytest.mark.parametrize('arguments, message', [
    (['wsj0_2mix', '{tmp}/file/corpus'], 'is a file'),
    (['librispeech', '{tmp}/file'], 'found a file'),
    (['wsj0_2mix', '{tmp}/new', '--seed', '-1'], 'seed'),
    (['wsj0_2mix', '{tmp}/new', '--processes', '0'], 'processes'),
])
def test_errors_exit_with_status_1(tmp_path, capsys, arguments, message):
    (tmp_path / 'file').write_text('')
    status, _, err = exit_status(
        [argument.format(tmp=tmp_path) for argument in arguments], capsys)
    assert status == 1
    assert err.startswith('python -m padertorch_audio.toy: error: ')
    assert message in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ['file']


@pytest.mark.parametrize('arguments, expected', [
    (['wsj0_2mix', '--size', 'huge'], ['huge', 'tiny', 'small', 'medium']),
    (['wsj0_3mix'], ['wsj0_3mix', 'wsj0_2mix', 'librispeech']),
])
def test_unknown_sizes_and_corpora_list_the_valid_ones(
        tmp_path, capsys, arguments, expected):
    status, _, err = exit_status(
        [arguments[0], tmp_path / 'new', *arguments[1:]], capsys)
    assert status == 2
    assert 'invalid choice' in err
    assert all(word in err for word in expected)
    assert not (tmp_path / 'new').exists()
