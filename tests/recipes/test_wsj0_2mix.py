"""The wsj0_2mix recipe end to end on the tiny toy corpus (all 5 stages)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile

from recipes.wsj0_2mix.prepare import prepare_database

REPO = Path(__file__).parents[2]
RUN = REPO / 'recipes' / 'wsj0_2mix' / 'run.sh'


def run(*args, cwd=REPO):
    environment = {**os.environ, 'PYTHON': sys.executable}
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
