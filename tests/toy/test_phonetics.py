"""The toy voice is two modules: phonetics (what is said) and voices (how it
sounds); the plan knows nothing about the rendering."""
import ast
from pathlib import Path

from padertorch_audio.toy import phonetics, voices


def test_the_plan_imports_nothing_of_the_rendering():
    tree = ast.parse(Path(phonetics.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module)
    assert imported == {'dataclasses', 'math', 'zlib', 'numpy'}


def test_the_planning_names_stay_importable_from_voices():
    for name in phonetics.__all__:
        assert getattr(voices, name) is getattr(phonetics, name), name
    assert set(phonetics.__all__) < set(voices.__all__)
