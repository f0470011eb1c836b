"""The documentation builds without warnings, and every code example on its pages runs.

* ``docs/`` is built with Sphinx and ``-W`` (a warning is an error) into a
  temporary folder; the API page must list every public name.
* Every fenced ``python`` block of ``docs/*.md`` and ``README.md`` is executed,
  the blocks of one page in order in one namespace, as a reader would paste
  them. (Docstring examples run through ``pytest --doctest-modules``.)
"""
import inspect
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ROOT / 'docs'
PAGES = sorted(DOCS.glob('*.md')) + [ROOT / 'README.md']

# ```python, ```py, ```{code-block} python, ```{code} python (MyST); the fence may be longer than three
_FENCE = re.compile(r'^(?P<fence>`{3,}|~{3,})[ \t]*(?:\{code(?:-block)?\}[ \t]*)?(?P<lang>[\w+-]*)[^\n]*$')


def python_blocks(text):
    """The fenced python code blocks of a Markdown text: a list of ``(first line number, code)``."""
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, lang, start = m.group('fence'), m.group('lang').lower(), i + 1
        i += 1
        while i < len(lines) and not (lines[i].startswith(fence[0] * len(fence)) and lines[i].strip(fence[0]) == ''):
            i += 1
        body = [line for line in lines[start:i] if not line.startswith(':')] if '{' in lines[start - 1] \
            else lines[start:i]
        if lang in ('python', 'py', 'python3'):
            blocks.append((start + 1, '\n'.join(body) + '\n'))
        i += 1
    return blocks


def test_python_blocks_finds_fences_and_only_python():
    text = '\n'.join([
        'intro', '```python', 'a = 1', '```', '```bash', 'rm -rf /', '```',
        '````py', '```python', 'nested fence text', '```', 'b = 2', '````',
        '```{code-block} python', ':caption: c', 'c = 3', '```', '```', 'plain', '```',
    ])
    assert python_blocks(text) == [(3, 'a = 1\n'), (9, '```python\nnested fence text\n```\nb = 2\n'),
                                   (15, 'c = 3\n')]


def _pages_with_code():
    return [p for p in PAGES if python_blocks(p.read_text(encoding='utf-8'))]


def test_the_quickstart_has_examples_to_run():
    # the page a new user reads first must not lose its examples silently
    assert len(python_blocks((DOCS / 'quickstart.md').read_text(encoding='utf-8'))) >= 5
    assert ROOT / 'README.md' in _pages_with_code()


@pytest.mark.parametrize('page', _pages_with_code(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_page_code_blocks_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)                 # whatever a block writes lands here
    monkeypatch.setenv('MPLBACKEND', 'Agg')
    namespace = {'__name__': f'docs_{page.stem}'}
    for line, code in python_blocks(page.read_text(encoding='utf-8')):
        source = compile(code, f'{page.relative_to(ROOT)}, block at line {line}', 'exec')
        exec(source, namespace)


def test_sphinx_build_has_no_warnings(tmp_path):
    out = tmp_path / 'html'
    cmd = [sys.executable, '-m', 'sphinx', '-W', '--keep-going', '-q', '-b', 'html',
           '-d', str(tmp_path / 'doctrees'), str(DOCS), str(out)]
    env = dict(os.environ, PYTHONWARNINGS='ignore::DeprecationWarning')
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, f'sphinx failed:\n{proc.stdout}\n{proc.stderr}'
    for page in ('index', 'quickstart', 'concepts', 'conventions', 'api', 'benchmarks'):
        assert (out / f'{page}.html').is_file(), page

    # the API page is generated from __all__: every public name has an entry
    import brainopt
    import brainopt.rules
    api = (out / 'api.html').read_text(encoding='utf-8')
    names = [f'brainopt.{n}' for n in brainopt.__all__ if not inspect.ismodule(getattr(brainopt, n))]
    names += [f'brainopt.rules.{n}' for n in brainopt.rules.__all__]
    missing = [n for n in names if f'id="{n}"' not in api]
    assert not missing, f'not in the API reference: {missing}'
    # and the docstrings were rendered, not just the names: a formula and a parameter list
    assert 'Parameters' in api and r'\beta_1' in api


def test_classes_show_their_constructor_signature():
    """help(), notebooks, IDEs and autodoc read inspect.signature: brainstate's node metaclass would show
    ``(*args, **kwargs)`` for every optimizer and schedule."""
    import brainopt
    assert list(inspect.signature(brainopt.Adam).parameters)[:2] == ['lr', 'betas']
    assert 'step_size' in inspect.signature(brainopt.StepLR).parameters
    assert 'grad_clip_norm' in inspect.signature(brainopt.Optimizer).parameters
