"""What brainopt exports, readable without running it (issue 28).

Every package's ``__init__.py`` imports its public names explicitly and lists ``__all__`` literally (no
``importlib``, no star import), so a reader, an IDE and a type checker see where ``brainopt.Adam`` comes from.
The lists agree with the modules that define the names and with the API reference, which docs/conf.py
generates from ``__all__``.
"""
import ast
import importlib
import inspect
import pathlib
import sys

import pytest

import brainopt

ROOT = pathlib.Path(brainopt.__file__).parent
INITS = sorted(ROOT.rglob('__init__.py'))
PACKAGES = ['brainopt', 'brainopt.optimizers', 'brainopt.rules', 'brainopt.schedules']


@pytest.mark.parametrize('path', INITS, ids=lambda p: str(p.relative_to(ROOT.parent)))
def test_an_init_imports_by_name_and_lists_all_literally(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert all(a.name != '*' for a in node.names), f'{path}: star import from {node.module}'
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [a.name for a in node.names] + [node.module or ''] if isinstance(node, ast.ImportFrom) \
                else [a.name for a in node.names]
            assert 'importlib' not in modules and 'pkgutil' not in modules, f'{path}: imports modules dynamically'
    assigned = [n for n in tree.body if isinstance(n, ast.Assign) and any(
        isinstance(t, ast.Name) and t.id == '__all__' for t in n.targets)]
    if path.parent.name in ('brainopt', 'optimizers', 'rules', 'schedules'):
        assert len(assigned) == 1, f'{path}: __all__ must be assigned once'
        names = ast.literal_eval(assigned[0].value)          # a literal: raises if it is computed
        module = importlib.import_module('.'.join(path.relative_to(ROOT.parent).parent.parts))
        assert names == module.__all__ and len(set(names)) == len(names)


@pytest.mark.parametrize('package', PACKAGES)
def test_every_public_name_resolves_to_the_module_that_defines_it(package):
    pkg = importlib.import_module(package)
    for name in pkg.__all__:
        obj = getattr(pkg, name)
        if inspect.ismodule(obj):
            assert obj.__name__ == f'{package}.{name}'
            continue
        home = sys.modules[obj.__module__]
        assert obj.__module__.startswith('brainopt.') and getattr(home, name) is obj, (package, name)
        assert name in getattr(home, '__all__', ()), f'{name} is not in {obj.__module__}.__all__'


def test_each_subpackage_exports_every_module_public_name():
    """A module's ``__all__`` is exported by its package (so the package's list cannot forget a new class)."""
    for package in PACKAGES[1:]:
        pkg = importlib.import_module(package)
        for path in sorted(pathlib.Path(pkg.__file__).parent.glob('*.py')):
            if path.name.startswith('_') or (package == 'brainopt.rules' and path.stem == 'base'):
                continue
            module = importlib.import_module(f'{package}.{path.stem}')
            missing = [n for n in module.__all__ if n not in pkg.__all__]
            assert not missing, f'{package}.{path.stem} defines {missing}, which {package}.__all__ lacks'
    top = set(brainopt.__all__)
    for package in ('brainopt.optimizers', 'brainopt.schedules'):
        assert set(importlib.import_module(package).__all__) <= top, package


def test_the_api_reference_lists_every_public_name():
    sys.path.insert(0, str(ROOT.parent / 'docs'))
    try:
        conf = importlib.import_module('conf')
    finally:
        sys.path.pop(0)
    text = conf.api_reference()
    for name in brainopt.__all__:
        obj = getattr(brainopt, name)
        if not inspect.ismodule(obj):
            assert f'brainopt.{name}' in text, name
    for name in brainopt.rules.__all__:
        assert f'brainopt.rules.{name}' in text, name


def test_help_shows_each_class_its_own_arguments():
    """brainstate's graph-node metaclass would show ``(*args, **kwargs)``; the public API is annotated."""
    import brainopt.keras as bk
    from brainopt.transforms.lr import LearningRate
    adam = inspect.signature(brainopt.Adam).parameters
    assert list(adam)[:3] == ['lr', 'betas', 'eps'] and adam['lr'].default == 1e-3
    assert adam['lr'].annotation == LearningRate and adam['eps'].annotation is float
    assert list(inspect.signature(brainopt.StepLR).parameters)[:3] == ['base_lr', 'step_size', 'gamma']
    assert list(inspect.signature(brainopt.Optimizer).parameters)[:2] == ['rule', 'lr']
    assert list(inspect.signature(bk.Adam).parameters)[:2] == ['learning_rate', 'beta_1']
    for name in brainopt.optimizers.__all__:
        cls = getattr(brainopt, name)
        params = inspect.signature(cls).parameters
        if isinstance(cls, type) and issubclass(cls, brainopt.Optimizer) and 'lr' in params:
            assert params['lr'].annotation == LearningRate, name
    assert inspect.signature(brainopt.StepLR.__call__).return_annotation is not inspect.Signature.empty
    assert inspect.signature(brainopt.Optimizer.update).return_annotation is brainopt.UpdateInfo
