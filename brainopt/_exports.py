"""How a package of brainopt collects its modules' public names: a new optimizer, rule or schedule is one file."""
import importlib
import inspect
import pkgutil

__all__ = []


def collect(package: str, path, namespace: dict, skip=()):
    """Import every public module of ``package`` and copy the names in its ``__all__`` into ``namespace``.

    Returns the collected names, in module order.
    """
    names = []
    for info in sorted(pkgutil.iter_modules(path), key=lambda m: m.name):
        if info.name.startswith('_') or info.name in skip:
            continue
        module = importlib.import_module(f'{package}.{info.name}')
        for name in module.__all__:
            namespace[name] = show_signature(getattr(module, name))
            names.append(name)
    return names


def show_signature(obj):
    """Give a class its constructor's signature: brainstate's graph-node metaclass defines ``__call__`` as
    ``(*args, **kwargs)``, which is what ``help()``, notebooks and IDEs would show otherwise."""
    if isinstance(obj, type) and '__signature__' not in vars(obj):
        try:
            init = inspect.signature(obj.__init__)
        except (TypeError, ValueError):
            return obj
        obj.__signature__ = init.replace(parameters=list(init.parameters.values())[1:])
    return obj
