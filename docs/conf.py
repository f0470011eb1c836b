"""Sphinx configuration of brainopt's documentation.

Build with ``python -m sphinx -W -b html docs docs/_build/html`` (tests/test_docs.py
does the same, with ``-W``, so a warning fails the tests).

The API reference (``api.rst``) is generated from ``brainopt.__all__`` and
``brainopt.rules.__all__`` when the page is read: a new optimizer, schedule or
function appears there without editing the page.
"""
import importlib
import inspect
import os
import re
import sys

sys.path.insert(0, os.path.abspath('..'))

import brainopt  # noqa: E402

project = 'brainopt'
author = 'brainopt developers'
copyright = '2025, brainopt developers'
release = version = brainopt.__version__

extensions = [
    'myst_parser',
    'sphinx.ext.autodoc',
    'sphinx.ext.napoleon',
    'sphinx.ext.mathjax',
]
source_suffix = {'.rst': 'restructuredtext', '.md': 'markdown'}
root_doc = 'index'
exclude_patterns = ['_build', 'Thumbs.db', '.DS_Store']

# NumPy-style docstrings (as brainstate writes them)
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
autodoc_member_order = 'bysource'
autodoc_typehints = 'none'          # the docstrings state the types
autodoc_default_options = {'show-inheritance': True}

myst_enable_extensions = ['dollarmath']
myst_heading_anchors = 3

html_theme = 'alabaster'
html_title = f'brainopt {release}'
html_theme_options = {
    'description': 'Gradient optimizers and learning-rate schedules for brainstate',
    'fixed_sidebar': True,
}

# -- the API reference, generated from __all__ ---------------------------------------------------
#: where a name is defined -> the section it is listed in, in this order
API_SECTIONS = [
    ('brainopt.optimizers', 'Optimizers'),
    ('brainopt.optimizer', 'The engine'),
    ('brainopt.train', 'The engine'),
    ('brainopt.schedules', 'Learning-rate schedules'),
    ('brainopt.checkpoint', 'Checkpoints'),
]
API_PLACEHOLDER = '.. brainopt-api-reference'


def _directive(qualified, obj):
    if inspect.isclass(obj) and issubclass(obj, tuple) and hasattr(obj, '_fields'):
        return f'.. autoclass:: {qualified}\n'    # a NamedTuple: its docstring's Attributes list the fields
    if inspect.isclass(obj) and qualified == 'brainopt.Optimizer':
        # its checkpoint, EMA and unit methods live in mixins (brainopt/_optimizer_*.py): list them here too
        return f'.. autoclass:: {qualified}\n   :members:\n   :inherited-members: Node\n'
    if inspect.isclass(obj):
        return f'.. autoclass:: {qualified}\n   :members:\n'
    if callable(obj):
        return f'.. autofunction:: {qualified}\n'
    return f'.. autodata:: {qualified}\n   :annotation:\n'


def _section(title, entries):
    lines = [title, '-' * len(title), '']
    lines += [_directive(q, obj) for q, obj in entries]
    return '\n'.join(lines) + '\n'


def api_reference():
    """The reST of every public name: ``brainopt.X`` for each X in ``brainopt.__all__``
    (modules left out), grouped by the module that defines it, then the update rules."""
    groups = {title: [] for _, title in API_SECTIONS}
    for name in brainopt.__all__:
        obj = getattr(brainopt, name)
        if inspect.ismodule(obj):
            continue
        module = getattr(obj, '__module__', None) or 'brainopt'
        title = next((t for prefix, t in API_SECTIONS if module == prefix or module.startswith(prefix + '.')),
                     f'``{module}``')
        groups.setdefault(title, []).append((f'brainopt.{name}', obj))
    rules = importlib.import_module('brainopt.rules')
    groups['Update rules (``brainopt.rules``)'] = [(f'brainopt.rules.{n}', getattr(rules, n)) for n in rules.__all__]
    return '\n'.join(_section(title, entries) for title, entries in groups.items() if entries)


def _fill_api(app, docname, source):
    if docname == 'api' and API_PLACEHOLDER in source[0]:
        source[0] = source[0].replace(API_PLACEHOLDER, api_reference())


# -- the table of contents: pages index.md does not name come last, so none is left out ---------
PAGES_PLACEHOLDER = 'brainopt-other-pages'


def other_pages(index_text):
    """The pages of docs/ (``*.md``, ``*.rst``) that ``index.md`` does not name, sorted."""
    here = os.path.dirname(os.path.abspath(__file__))
    named = set(re.findall(r'^([\w/-]+)[ \t]*$', index_text, flags=re.M))
    pages = sorted(os.path.splitext(f)[0] for f in os.listdir(here)
                   if f.endswith(('.md', '.rst')) and not f.startswith(('_', '.')))
    return [p for p in pages if p != 'index' and p not in named]


def _fill_toctree(app, docname, source):
    if docname == 'index' and PAGES_PLACEHOLDER in source[0]:
        source[0] = source[0].replace(PAGES_PLACEHOLDER, '\n'.join(other_pages(source[0])))


def _class_signature(app, what, name, obj, options, signature, return_annotation):
    """Show a class's constructor arguments: brainstate's ``Node`` metaclass hides them
    behind its ``__call__(*args, **kwargs)``, which autodoc would show instead."""
    if what != 'class' or not inspect.isclass(obj) or not inspect.isfunction(obj.__init__):
        return None
    try:
        sig = inspect.signature(obj.__init__)
    except (TypeError, ValueError):
        return None
    params = [p.replace(annotation=inspect.Parameter.empty) for p in list(sig.parameters.values())[1:]]
    return str(sig.replace(parameters=params, return_annotation=inspect.Signature.empty)), None


def setup(app):
    app.connect('source-read', _fill_api)
    app.connect('source-read', _fill_toctree)
    app.connect('autodoc-process-signature', _class_signature)
    return {'parallel_read_safe': True}
