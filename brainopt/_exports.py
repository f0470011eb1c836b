"""How a package of brainopt collects its modules' public names: a new optimizer, rule or schedule is one file."""
import importlib
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
            namespace[name] = getattr(module, name)
            names.append(name)
    return names
