"""The wsj0_2mix recipe end to end on the tiny toy corpus (all 5 stages)."""
import fcntl
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile

from recipes.wsj0_2mix.prepare import prepare_database

REPO = Path(__file__).parents[2]
RUN = REPO / 'recipes' / 'wsj0_2mix' / 'run.sh'


def run(*args, cwd=REPO, background=False, **environment):
    environment = {**os.environ, 'PYTHON': sys.executable, **environment}
    if background:
        return subprocess.Popen(['bash', str(RUN), *args], cwd=cwd,
                                env=environment, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    return subprocess.run(['bash', str(RUN), *args], cwd=cwd,
                          env=environment, capture_output=True, text=True,
                          timeout=600)


def test_all_stages_on_the_tiny_toy_corpus(tmp_path):
    result = run(
        '--exp_dir', str(tmp_path / 'exp'),
        f'toy_root={tmp_path / "toy"}', 'toy_size=tiny',
        f'database_json={tmp_path / "db.json"}',
        "trainer.stop_trigger=[2,'epoch']", 'validation_examples=2',
        "metrics=['si_sdr','si_sdri','stoi']", 'separate_examples=2')
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert 'TOY corpus' in result.stdout

    database = json.loads((tmp_path / 'db.json').read_text())
    assert {name: len(examples)
            for name, examples in database['datasets'].items()} == {
        'tr': 12, 'cv': 4, 'tt': 4}

    exp = tmp_path / 'exp'
    assert (exp / 'checkpoints' / 'ckpt_best_si_sdr.pth').exists()
    assert list((exp / 'sacred').glob('*/config.json'))
    final = json.loads((exp / 'eval' / 'tt' / 'final_metrics.json').read_text())
    assert final['num_utterances'] == 4 and final['counts']['si_sdri'] == 4
    lines = (exp / 'eval' / 'tt' / 'results.jsonl').read_text().splitlines()
    assert len(lines) == 4
    assert (exp / 'eval' / 'tt' / 'report.png').stat().st_size > 0
    assert (exp / 'model.pt').is_file()
    separated = sorted(p.name for p in (exp / 'separated').iterdir())
    assert len(separated) == 4 and separated[0].endswith('_s1.wav')
    info = soundfile.info(exp / 'separated' / separated[0])
    assert info.samplerate == 8000


def test_prepare_lists_every_bad_file(tmp_path):
    from padertorch_audio.data.database import DatabaseError
    from padertorch_audio.toy import create_wsj0_2mix
    create_wsj0_2mix(tmp_path / 'toy', size='tiny')
    tt = tmp_path / 'toy' / 'wsj0-mix' / '2speakers' / 'wav8k' / 'min' / 'tt'
    mixtures = sorted((tt / 'mix').iterdir())
    (tt / 's2' / mixtures[0].name).unlink()                 # a missing source
    (tt / 's1' / mixtures[1].name).write_bytes(b'garbage')   # not audio
    with pytest.raises(DatabaseError) as info:
        prepare_database(tmp_path / 'toy', tmp_path / 'db.json')
    message = str(info.value)
    assert f's2/{mixtures[0].name}: file not found' in message
    assert f's1/{mixtures[1].name}: not' in message or \
        f's1/{mixtures[1].name}: Error' in message
    assert not (tmp_path / 'db.json').exists()


def test_a_wrong_root_names_the_expected_layout(tmp_path):
    with pytest.raises(FileNotFoundError, match='wsj0-mix layout'):
        prepare_database(tmp_path, tmp_path / 'db.json')


def test_run_sh_rejects_bad_options():
    result = run('--sample_rate', '44k')
    assert result.returncode == 2
    assert '--sample_rate must be 8k or 16k' in result.stderr


# --------------------------------------------------------------------------
# Several processes: run.sh --ngpu N (torchrun; CPU processes with gloo here)
# --------------------------------------------------------------------------

@pytest.fixture(scope='module')
def toy_database(tmp_path_factory):
    """The tiny toy corpus and its database JSON, made once."""
    from padertorch_audio.toy import create_wsj0_2mix
    root = tmp_path_factory.mktemp('toy')
    create_wsj0_2mix(root / 'toy', size='tiny')
    prepare_database(root / 'toy', root / 'db.json')
    return root


@pytest.fixture
def toy_overrides(toy_database):
    return [f'toy_root={toy_database / "toy"}', 'toy_size=tiny',
            f'database_json={toy_database / "db.json"}']


TINY = ["trainer.stop_trigger=[1,'epoch']", 'validation_examples=2',
        "metrics=['si_sdr','si_sdri']"]


def output(result):
    return result.stdout[-3000:] + result.stderr[-3000:]


def per_utterance(eval_dir):
    return json.loads((eval_dir / 'per_utterance.json').read_text())


def assert_same_results(actual, expected):
    assert sorted(actual) == sorted(expected)
    for example_id, values in expected.items():
        for metric in ('si_sdr', 'si_sdri'):
            assert actual[example_id][metric] == pytest.approx(
                values[metric], abs=1e-6), (example_id, metric)


def test_two_processes_train_and_evaluate_like_one(tmp_path, toy_overrides):
    exp = tmp_path / 'exp'
    result = run('--ngpu', '2', '--stage', '1', '--stop_stage', '2',
                 '--exp_dir', str(exp), *toy_overrides, *TINY)
    assert result.returncode == 0, output(result)

    # Trained on 2 ranks; rank 0 alone wrote: one checkpoint set, one record.
    # 12 examples, global batch 4 (2 per rank): 3 steps in the epoch.
    environment = json.loads((exp / 'environment.json').read_text())
    assert environment['world_size'] == 2
    checkpoints = sorted(p.name for p in (exp / 'checkpoints').iterdir())
    assert checkpoints == ['ckpt_3.pth', 'ckpt_best_si_sdr.pth',
                           'ckpt_latest.pth', 'ckpt_ranking.json']
    assert len(list((exp / 'sacred').glob('*/run.json'))) == 1

    # Each rank evaluated every 2nd utterance into its own file.
    eval_dir = exp / 'eval' / 'tt'
    lines = {rank: (eval_dir / f'results.rank{rank}.jsonl').read_text()
             .splitlines() for rank in (0, 1)}
    assert [len(lines[0]), len(lines[1])] == [2, 2]
    assert not (eval_dir / 'results.jsonl').exists()
    assert (eval_dir / 'report.png').stat().st_size > 0

    # The same checkpoint evaluated by one process gives the same numbers.
    single = tmp_path / 'single'
    single.mkdir()
    (single / 'config.json').write_bytes((exp / 'config.json').read_bytes())
    shutil.copytree(exp / 'checkpoints', single / 'checkpoints')
    result = run('--stage', '2', '--stop_stage', '2', '--exp_dir',
                 str(single), *toy_overrides, *TINY)
    assert result.returncode == 0, output(result)
    expected = per_utterance(single / 'eval' / 'tt')
    assert_same_results(per_utterance(eval_dir), expected)
    final = json.loads((eval_dir / 'final_metrics.json').read_text())
    reference = json.loads(
        (single / 'eval' / 'tt' / 'final_metrics.json').read_text())
    assert final['num_utterances'] == reference['num_utterances'] == 4
    for metric, value in reference['means'].items():
        assert final['means'][metric] == pytest.approx(value, abs=1e-6)

    # A rank that fails (its results file is locked) ends the whole job.
    with open(eval_dir / 'results.rank1.jsonl', 'ab') as locked:
        fcntl.flock(locked.fileno(), fcntl.LOCK_EX)
        start = time.monotonic()
        result = run('--ngpu', '2', '--stage', '2', '--stop_stage', '2',
                     '--exp_dir', str(exp), *toy_overrides, *TINY)
        assert result.returncode != 0
        assert time.monotonic() - start < 60
        assert 'locked' in result.stderr
        assert 'stage 2 (evaluate) failed' in result.stderr

    # Resume: an utterance lost from a rank file is the only one evaluated
    # again; the summary is unchanged.
    (eval_dir / 'results.rank1.jsonl').write_text(lines[1][0] + '\n')
    (eval_dir / 'final_metrics.json').unlink()
    result = run('--ngpu', '2', '--stage', '2', '--stop_stage', '2',
                 '--exp_dir', str(exp), *toy_overrides, *TINY)
    assert result.returncode == 0, output(result)
    assert (eval_dir / 'results.rank0.jsonl').read_text().splitlines() \
        == lines[0]
    resumed = (eval_dir / 'results.rank1.jsonl').read_text().splitlines()
    assert resumed[0] == lines[1][0] and len(resumed) == 2
    assert_same_results(per_utterance(eval_dir), expected)


def test_a_batch_size_the_ranks_cannot_share_fails_before_writing(
        tmp_path, toy_overrides):
    exp = tmp_path / 'exp'
    result = run('--ngpu', '2', '--stage', '1', '--stop_stage', '2',
                 '--exp_dir', str(exp), *toy_overrides, *TINY, 'batch_size=3')
    assert result.returncode != 0
    assert ('The batch size 3 is not divisible by the world size 2'
            in result.stderr), output(result)
    assert not exp.exists()


def free_port():
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return str(probe.getsockname()[1])


def test_two_machines_meet_at_the_master_address(tmp_path, toy_overrides):
    # Two "machines" on this one: node 1 in the background, node 0 here
    # (one thread each, as on two machines).
    exp = tmp_path / 'exp'
    common = ['--nnodes', '2', '--master_addr', '127.0.0.1', '--master_port',
              free_port(), '--stage', '1', '--stop_stage', '2',
              '--exp_dir', str(exp), *toy_overrides, *TINY]
    node1 = run('--node_rank', '1', *common, background=True,
                OMP_NUM_THREADS='1')
    try:
        node0 = run('--node_rank', '0', *common, OMP_NUM_THREADS='1')
        stdout1, stderr1 = node1.communicate(timeout=120)
    finally:
        node1.kill()
    assert node0.returncode == 0, output(node0)
    assert node1.returncode == 0, stdout1[-3000:] + stderr1[-3000:]
    environment = json.loads((exp / 'environment.json').read_text())
    assert environment['world_size'] == 2
    assert '== stage 2: evaluate runs on node 0 only ==' in stdout1
    final = json.loads((exp / 'eval' / 'tt' / 'final_metrics.json')
                       .read_text())
    assert final['num_utterances'] == 4


def test_a_machine_that_does_not_come_fails_after_the_rdzv_timeout(
        tmp_path, toy_overrides):
    start = time.monotonic()
    result = run('--nnodes', '2', '--node_rank', '0', '--master_addr',
                 '127.0.0.1', '--master_port', free_port(), '--rdzv_timeout',
                 '3', '--stage', '1', '--stop_stage', '1', '--exp_dir',
                 str(tmp_path / 'exp'), *toy_overrides, *TINY)
    assert result.returncode != 0
    assert time.monotonic() - start < 60
    assert 'RendezvousTimeoutError' in result.stderr
    assert 'within --rdzv_timeout 3 s' in result.stderr
    assert not (tmp_path / 'exp').exists()


def test_several_machines_need_the_master_address():
    result = run('--nnodes', '2')
    assert result.returncode == 2
    assert '--master_addr' in result.stderr


@pytest.mark.parametrize('option, value, message', [
    ('--ngpu', '0', '--ngpu must be a positive integer'),
    ('--ngpu', 'x', "--ngpu must be a positive integer, got 'x'"),
    ('--nnodes', '-1', '--nnodes must be a positive integer'),
    ('--rdzv_timeout', '0', '--rdzv_timeout must be a positive integer'),
    ('--master_port', '70000', '--master_port must be a port number'),
    ('--node_rank', '1', '--node_rank must be in 0..0'),
])
def test_run_sh_rejects_bad_distributed_options(option, value, message):
    result = run(option, value)
    assert result.returncode == 2
    assert message in result.stderr


def test_training_data_is_sharded_and_reshuffled_every_epoch(
        toy_database, monkeypatch):
    from padertorch_audio.train import distributed
    from recipes.wsj0_2mix.data import training_data
    database = toy_database / 'db.json'

    def epochs(rank, world_size):
        monkeypatch.setenv('RANK', str(rank))
        monkeypatch.setenv('WORLD_SIZE', str(world_size))
        loader = training_data(database, 'tr', batch_size=2, num_workers=0)
        orders = []
        for epoch in (0, 1):
            distributed.set_epoch(loader, epoch)  # as the Trainer does
            orders.append(list(loader.sampler))
        return len(loader), orders

    length, (first, second) = epochs(0, 1)
    assert length == 6 and sorted(first) == list(range(12))
    assert first != second
    (length0, orders0), (length1, orders1) = epochs(0, 2), epochs(1, 2)
    assert length0 == length1 == 3
    for epoch in (0, 1):  # disjoint halves of the same permutation
        assert sorted(orders0[epoch] + orders1[epoch]) == list(range(12))
    assert orders0[0] + orders1[0] != orders0[1] + orders1[1]


def test_merged_results_prefer_successes_then_the_later_file(tmp_path):
    from padertorch_audio.evaluation import merged_results

    def write(name, *results):
        (tmp_path / name).write_text(
            ''.join(json.dumps(result) + '\n' for result in results))

    write('results.jsonl', {'example_id': 'a', 'x': 1},
          {'example_id': 'b', 'error': 'old'}, {'example_id': 'c', 'x': 1})
    write('results.rank0.jsonl', {'example_id': 'a', 'error': 'new'})
    write('results.rank1.jsonl', {'example_id': 'b', 'x': 2})
    write('results.rank10.jsonl', {'example_id': 'c', 'x': 3})
    write('results.rank2.jsonl', {'example_id': 'c', 'x': 2})
    items = [{'example_id': key} for key in 'cab']
    assert merged_results(tmp_path, items) == [
        {'example_id': 'c', 'x': 3}, {'example_id': 'a', 'x': 1},
        {'example_id': 'b', 'x': 2}]
    with pytest.raises(RuntimeError, match='1 utterance'):
        merged_results(tmp_path, items + [{'example_id': 'd'}])


@pytest.mark.parametrize('named_config', [
    'toy', 'dprnn', 'dprnn_window2', 'convtasnet', 'pit_blstm'])
def test_num_speakers_reaches_the_model_of_every_named_config(named_config):
    """--num_speakers 3 with any --model: the built model separates 3."""
    import torch

    import padertorch_audio as pa
    from recipes.wsj0_2mix.experiment import ex
    run = ex.run('print_config', config_updates={'num_speakers': 3},
                 named_configs=[named_config],
                 options={'--loglevel': 'ERROR'})
    model_config = run.config['model']
    assert run.config['trainer']['model'] == model_config
    model = pa.Module.from_config(model_config)
    assert model.num_speakers == 3
    with torch.no_grad():
        estimate = model({'observation': torch.zeros(1, 800)})
    assert estimate.shape == (1, 3, 800)  # (batch, sources, samples)
