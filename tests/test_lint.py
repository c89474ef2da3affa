"""Lint as part of the test suite: ``ruff check`` (configured in ruff.toml)
and a check for statements that can never run (after ``return``, ``raise``,
``continue`` or ``break`` in the same block), for which ruff has no stable
rule."""
import ast
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINTED = ['padertorch_audio', 'recipes', 'benchmarks', 'tests', 'setup.py']
JUMPS = (ast.Return, ast.Raise, ast.Continue, ast.Break)


def test_ruff_finds_nothing():
    command = [sys.executable, '-m', 'ruff', 'check', '--no-cache',
               '--output-format', 'concise', *LINTED]
    result = subprocess.run(command, cwd=ROOT, capture_output=True,
                            text=True)
    assert 'No module named ruff' not in result.stderr, (
        f'ruff is not installed in {sys.executable}: install the test extra '
        f"(pip install -e '.[test]').")
    assert result.returncode == 0, (
        f'{" ".join(command)} (in {ROOT}) found problems:\n'
        f'{result.stdout}{result.stderr}')


def unreachable_lines(source, filename='<string>'):
    """Line numbers of the first statement after a jump in each block."""
    lines = []
    for node in ast.walk(ast.parse(source, filename)):
        for field in ('body', 'orelse', 'finalbody'):
            block = getattr(node, field, None)
            if not isinstance(block, list):
                continue
            for statement, following in zip(block, block[1:]):
                if isinstance(statement, JUMPS):
                    lines.append(following.lineno)
                    break
    return sorted(lines)


def test_unreachable_lines_finds_planted_dead_code():
    source = textwrap.dedent('''\
        def f(x):
            if x:
                return 1
                x += 1
            for item in x:
                continue
                print(item)
            try:
                raise ValueError
                y = 2
            except ValueError:
                return 3
                z = 4
            while x:
                break
            else:
                return 5
                w = 6
            return x
        ''')
    assert unreachable_lines(source) == [4, 7, 10, 13, 18]
    assert unreachable_lines('def g():\n    return 1\n') == []


def test_no_statement_after_return_raise_continue_break():
    found = []
    for name in LINTED:
        path = ROOT / name
        for file in sorted(path.rglob('*.py')) if path.is_dir() else [path]:
            source = file.read_text()
            found += [f'{file.relative_to(ROOT)}:{line}'
                      for line in unreachable_lines(source, str(file))]
    assert not found, 'unreachable statements at:\n' + '\n'.join(found)
