"""The README's quickstart runs as written (as a script, like a user would)."""
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).parents[1] / 'README.md'


def python_blocks(text):
    return re.findall(r'```python\n(.*?)```', text, flags=re.DOTALL)


def test_quickstart_runs(tmp_path):
    code = '\n'.join(python_blocks(README.read_text()))
    assert 'pa.Trainer' in code
    code = code.replace("'/tmp/experiments'", repr(str(tmp_path / 'runs')))
    code += '\nprint("iterations", trainer.iteration)\n'
    script = tmp_path / 'quickstart.py'
    script.write_text(code)
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    run = tmp_path / 'runs' / 'classifier' / '1'
    assert (run / 'config.json').is_file()
    assert (run / 'checkpoints' / 'ckpt_best_accuracy.pth').exists()
