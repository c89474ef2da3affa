import json
import multiprocessing
import os
import tempfile

import numpy as np
import pytest

from padertorch_audio.io import (
    atomic_write,
    check_writable,
    dump_json,
    get_new_storage_dir,
    get_new_subdir,
    load_json,
)


def names(directory):
    return sorted(os.listdir(directory))


# --- atomic_write ----------------------------------------------------------

@pytest.mark.parametrize('mode, content', [('w', 'text ä\n'), ('wb', b'\x00\x01')])
def test_atomic_write_writes_the_content(tmp_path, mode, content):
    path = tmp_path / 'file'
    with atomic_write(str(path), mode) as f:
        f.write(content)
    assert (path.read_text('utf-8') if mode == 'w' else path.read_bytes()) == content
    assert names(tmp_path) == ['file']


def test_atomic_write_keeps_the_old_file_when_the_block_raises(tmp_path):
    path = tmp_path / 'checkpoint.pth'
    path.write_bytes(b'old complete content')
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(path) as f:
            f.write(b'new, but only half')
            raise KeyboardInterrupt
    assert path.read_bytes() == b'old complete content'
    assert names(tmp_path) == ['checkpoint.pth']  # no temporary file left


def test_atomic_write_shows_nothing_under_the_final_name_before_the_end(tmp_path):
    path = tmp_path / 'config.json'
    with atomic_write(path, 'w') as f:
        f.write('{"a": 1}')
        f.flush()
        assert not path.exists()
        [temporary] = names(tmp_path)
        assert temporary.startswith('.config.json.') and temporary.endswith('.tmp')
    assert path.read_text() == '{"a": 1}'


def _write_and_die(path):
    with atomic_write(path) as f:
        f.write(b'half of the data')
        f.flush()
        os._exit(1)  # a hard crash: no exception handling, no cleanup


@pytest.mark.skipif('fork' not in multiprocessing.get_all_start_methods(),
                    reason='needs fork')
def test_a_crashing_process_leaves_no_truncated_file(tmp_path):
    path = tmp_path / 'result.json'
    process = multiprocessing.get_context('fork').Process(
        target=_write_and_die, args=(path,))
    process.start()
    process.join()
    assert process.exitcode == 1
    assert not path.exists()


def test_atomic_write_rejects_other_modes(tmp_path):
    with pytest.raises(ValueError, match="mode='a'"):
        with atomic_write(tmp_path / 'file', 'a'):
            pass


# --- JSON ------------------------------------------------------------------

def test_json_round_trip(tmp_path):
    obj = {'b': [1, 2.5, None, True], 'a': {'name': 'Jürgen'}}
    dump_json(obj, tmp_path / 'x.json')
    assert load_json(tmp_path / 'x.json') == obj
    assert (tmp_path / 'x.json').read_text().endswith('}\n')


def test_dump_json_formats_like_json_dumps_and_converts_numpy(tmp_path):
    path = tmp_path / 'x.json'
    dump_json({'b': np.float32(0.5), 'a': np.arange(2)}, path, indent=None,
              sort_keys=True)
    assert path.read_text() == '{"a": [0, 1], "b": 0.5}\n'


def test_dump_json_converts_numpy_scalars_paths_and_datetimes(tmp_path):
    import datetime
    import pathlib
    path = tmp_path / 'x.json'
    dump_json([np.int64(3), np.float64(0.25), np.bool_(True),
               np.zeros((2, 1), np.float32), pathlib.PurePosixPath('a/b'),
               pathlib.Path('/c'), datetime.datetime(2026, 1, 2, 3, 4, 5)],
              path, indent=None)
    assert path.read_text() == (
        '[3, 0.25, true, [[0.0], [0.0]], "a/b", "/c", "2026-01-02_03-04-05"]\n')


def test_dump_json_error_shows_the_value(tmp_path):
    with pytest.raises(TypeError, match=r'type complex .*\(1\+2j\)'):
        dump_json({'a': 1 + 2j}, tmp_path / 'x.json')
    assert names(tmp_path) == []


def test_dump_json_writes_nothing_when_the_object_is_not_serialisable(tmp_path):
    with pytest.raises(TypeError, match='object'):
        dump_json({'a': object()}, tmp_path / 'x.json')
    assert names(tmp_path) == []


def test_load_json_names_the_invalid_file(tmp_path):
    path = tmp_path / 'broken.json'
    path.write_text('{"a": 1,,}')
    with pytest.raises(json.JSONDecodeError) as info:
        load_json(path)
    assert str(path) in str(info.value)
    assert 'line 1 column 9' in str(info.value)


def test_load_json_names_the_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='missing.json'):
        load_json(tmp_path / 'missing.json')


# --- numbered directories --------------------------------------------------

def test_get_new_subdir_continues_after_the_largest_number(tmp_path):
    for name in ['1', '3', 'tensorboard', 'eval_7']:
        (tmp_path / name).mkdir()
    (tmp_path / '4').write_text('a file blocks its number too')
    new = get_new_subdir(tmp_path)
    assert new == tmp_path / '5' and new.is_dir()
    assert get_new_subdir(tmp_path, prefix='eval') == tmp_path / 'eval_8'


def test_get_new_subdir_creates_the_parent(tmp_path):
    assert get_new_subdir(str(tmp_path / 'a' / 'b')) == tmp_path / 'a' / 'b' / '1'


def _make_subdirs(root, barrier, queue):
    barrier.wait()  # all processes start searching at the same moment
    queue.put([str(get_new_subdir(root)) for _ in range(5)])


@pytest.mark.skipif('fork' not in multiprocessing.get_all_start_methods(),
                    reason='needs fork')
def test_get_new_subdir_gives_concurrent_processes_distinct_dirs(tmp_path):
    context = multiprocessing.get_context('fork')
    barrier, queue = context.Barrier(8), context.Queue()
    processes = [context.Process(target=_make_subdirs, args=(tmp_path, barrier, queue))
                 for _ in range(8)]
    for process in processes:
        process.start()
    dirs = [d for _ in processes for d in queue.get(timeout=30)]
    for process in processes:
        process.join()
    assert len(set(dirs)) == 40
    assert names(tmp_path) == sorted(str(n) for n in range(1, 41))


def test_get_new_storage_dir_uses_storage_root(tmp_path, monkeypatch):
    monkeypatch.setenv('STORAGE_ROOT', str(tmp_path))
    assert get_new_storage_dir('tasnet') == tmp_path / 'tasnet' / '1'
    assert get_new_storage_dir('tasnet') == tmp_path / 'tasnet' / '2'
    assert get_new_storage_dir('wavenet/ljspeech', prefix='run') \
        == tmp_path / 'wavenet' / 'ljspeech' / 'run_1'


def test_get_new_storage_dir_prefers_the_root_argument(tmp_path, monkeypatch):
    monkeypatch.setenv('STORAGE_ROOT', str(tmp_path / 'env'))
    assert get_new_storage_dir('x', root=tmp_path) == tmp_path / 'x' / '1'


def test_get_new_storage_dir_without_storage_root_says_what_to_set(monkeypatch):
    monkeypatch.delenv('STORAGE_ROOT', raising=False)
    with pytest.raises(RuntimeError, match='export STORAGE_ROOT=') as info:
        get_new_storage_dir('tasnet')
    assert 'root=' in str(info.value)


# --- check_writable --------------------------------------------------------

def test_check_writable_accepts_a_new_path_and_creates_nothing(tmp_path):
    check_writable(tmp_path / 'a' / 'b')
    check_writable(tmp_path)
    assert names(tmp_path) == []


def test_check_writable_rejects_a_path_below_a_file(tmp_path):
    (tmp_path / 'file').write_text('')
    with pytest.raises(NotADirectoryError) as info:
        check_writable(tmp_path / 'file' / 'a' / 'b')
    assert str(tmp_path / 'file' / 'a' / 'b') in str(info.value)
    assert names(tmp_path) == ['file']


def test_check_writable_rejects_a_file(tmp_path):
    (tmp_path / 'file').write_text('')
    with pytest.raises(NotADirectoryError, match='file'):
        check_writable(tmp_path / 'file')


def test_check_writable_turns_a_failed_write_into_a_permission_error(
        tmp_path, monkeypatch):
    def read_only_file_system(*args, **kwargs):
        raise OSError(30, 'Read-only file system')

    monkeypatch.setattr(tempfile, 'mkstemp', read_only_file_system)
    with pytest.raises(PermissionError, match='Read-only') as info:
        check_writable(tmp_path / 'new')
    assert str(tmp_path / 'new') in str(info.value)
