"""Every module imports on its own, and imports point down the layers.

1. Each module of padertorch_audio is imported first thing in a fresh
   interpreter (forked from one that has loaded only the third-party
   packages), so that no module depends on another having been imported
   before it.
2. The import graph, read from the source (also imports inside functions),
   has no cycle, and the core never imports the audio packages (DESIGN.md:
   layer 1 = top level, base, configurable, export, io, train, data, ops,
   modules; layer 2 = the domain packages and the CLI; the library never
   imports the recipes).
"""
import ast
import importlib.util
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import padertorch_audio

PACKAGE = Path(padertorch_audio.__file__).parent
ROOT = PACKAGE.parent
CORE = {'padertorch_audio', 'padertorch_audio.base',
        'padertorch_audio.configurable', 'padertorch_audio.export',
        'padertorch_audio.io', 'padertorch_audio.train',
        'padertorch_audio.data', 'padertorch_audio.ops',
        'padertorch_audio.modules'}


def module_names():
    names = ['padertorch_audio']
    for info in pkgutil.walk_packages([str(PACKAGE)], 'padertorch_audio.'):
        names.append(info.name)
    return sorted(names)


def source_path(name):
    return Path(importlib.util.find_spec(name).origin)


def is_package(name):
    return source_path(name).name == '__init__.py'


def layer(name):
    """1 for the core, 2 for the audio packages and the CLI."""
    top = '.'.join(name.split('.')[:2])
    return 1 if top in CORE else 2


def imported_modules(name, known):
    """The modules of this package that ``name`` imports (anywhere in its
    source), as dotted names in ``known``."""
    tree = ast.parse(source_path(name).read_text(), str(source_path(name)))
    package = name if is_package(name) else name.rpartition('.')[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                parts = package.split('.')
                parts = parts[:len(parts) - node.level + 1]
                base = '.'.join(parts + ([base] if base else []))
            # ``from package import submodule`` imports the submodule.
            targets = [f'{base}.{alias.name}'
                       if f'{base}.{alias.name}' in known else base
                       for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition('.')[0]
            if target:
                found.add(target)
    return found


def import_graph():
    names = module_names()
    known = set(names)
    graph = {}
    for name in names:
        # A package's own __init__ reached from inside it is no dependency
        # (``from padertorch_audio import __version__`` in a submodule).
        graph[name] = {target for target in imported_modules(name, known)
                       if target != name
                       and not name.startswith(target + '.')}
    return graph


def find_cycle(graph):
    """One cycle as a list of module names, or None (depth-first search)."""
    state, stack = {}, []

    def visit(node):
        state[node] = 'open'
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 'open':
                return stack[stack.index(target):] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        state[node] = 'done'
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_the_import_graph_has_no_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, 'import cycle: ' + ' -> '.join(cycle)


def test_the_core_never_imports_the_audio_packages():
    upward = sorted(
        f'{name} imports {target}'
        for name, targets in import_graph().items() for target in targets
        if layer(name) < layer(target))
    assert upward == []


def test_the_library_never_imports_the_recipes():
    offending = []
    for name in module_names():
        tree = ast.parse(source_path(name).read_text())
        for node in ast.walk(tree):
            modules = ([alias.name for alias in node.names]
                       if isinstance(node, ast.Import) else
                       [node.module or ''] if isinstance(node, ast.ImportFrom)
                       and not node.level else [])
            offending += [f'{name} imports {module}' for module in modules
                          if module.split('.')[0] == 'recipes']
    assert offending == []


def test_the_cycle_finder_finds_a_planted_cycle():
    graph = {'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a'}}
    assert find_cycle(graph) == ['a', 'b', 'c', 'a']
    assert find_cycle({'a': {'b'}, 'b': set()}) is None


# Loads the third-party packages once (those that importing all of
# padertorch_audio loads; then padertorch_audio is taken out of sys.modules
# again), then imports every module in a child forked from that state;
# prints the failures.
_IMPORT_EACH = r'''
import importlib, os, sys, traceback
names = sys.argv[1:]
for name in names:
    importlib.import_module(name)
for loaded in [m for m in sys.modules if m.split('.')[0] == 'padertorch_audio']:
    del sys.modules[loaded]
failed = []
for name in names:
    pid = os.fork()
    if pid == 0:
        try:
            importlib.import_module(name)
            assert name in sys.modules
        except BaseException:
            traceback.print_exc()
            os._exit(1)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    if status:
        failed.append(name)
print('FAILED', *failed)
'''


def test_every_module_imports_first_in_a_fresh_interpreter():
    names = module_names()
    assert len(names) > 40  # the walk found the package
    process = subprocess.run(
        [sys.executable, '-c', _IMPORT_EACH, *names], capture_output=True,
        text=True, timeout=300, cwd=ROOT,
        env={**os.environ, 'PYTHONPATH': str(ROOT)})
    assert process.returncode == 0, process.stderr
    assert process.stdout.split()[-1] == 'FAILED', process.stderr[-4000:]
