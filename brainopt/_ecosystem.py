"""brainopt where the ecosystem checks for ``braintools.optim``, without depending on braintools.

Libraries of the brainstate ecosystem accept an optimizer only if it is a braintools one: pinnx's
``Trainer.compile`` checks ``isinstance(opt, braintools.optim.Optimizer)``, brainmass's ``Fitter(backend='grad')``
``isinstance(opt, braintools.optim.OptaxOptimizer)``. Both classes are abstract base classes (brainstate's
graph-node metaclass derives from ``ABCMeta``), so brainopt registers :class:`brainopt.Optimizer` as a virtual
subclass of each (``CHECKED``): every brainopt optimizer then passes the checks, and no brainopt class inherits
any braintools code. (Subclassing braintools's classes would make braintools a dependency and bring in their
``__init__`` and attributes; wrapping the libraries' checks would patch other packages.)

braintools is never imported by brainopt. The registration happens when ``braintools.optim`` has been
imported, whichever comes first:

* ``braintools.optim`` is already imported when brainopt is: it is registered at once;
* otherwise a finder on ``sys.meta_path`` waits for ``braintools.optim`` to be imported (by the user, by pinnx,
  by brainmass), registers right after the module has run, and removes itself.

With braintools absent, the finder is never triggered and costs one string comparison per import.
"""
import sys

__all__ = []

_MODULE = 'braintools.optim'


#: the braintools.optim classes that ecosystem libraries check for: ``Optimizer`` (pinnx's ``Trainer.compile``)
#: and ``OptaxOptimizer`` (brainmass's ``Fitter(backend='grad')``). Both only call
#: ``register_trainable_weights`` and ``update`` / ``step`` on it, inside ``brainstate.transform.jit``, and
#: collect its States: what every brainopt optimizer does.
CHECKED = ('Optimizer', 'OptaxOptimizer')


def _register(module):
    from .optimizer import Optimizer
    for name in CHECKED:
        base = getattr(module, name, None)
        register = getattr(base, 'register', None)      # ABCMeta.register (absent if braintools changed its base)
        if register is not None and not issubclass(Optimizer, base):
            register(Optimizer)


class _AfterImport:
    """A ``sys.meta_path`` finder that registers brainopt's optimizers once ``braintools.optim`` has run."""

    def find_spec(self, name, path=None, target=None):
        if name != _MODULE:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, 'find_spec'):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is None or not hasattr(loader, 'exec_module'):
            return None
        run = loader.exec_module

        def exec_module(module):
            run(module)
            self.remove()
            _register(module)

        loader.exec_module = exec_module
        return spec

    def remove(self):
        if self in sys.meta_path:
            sys.meta_path.remove(self)


def install():
    """Register now if ``braintools.optim`` is imported, else when it is."""
    module = sys.modules.get(_MODULE)
    if module is not None:
        _register(module)
    elif not any(isinstance(f, _AfterImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterImport())
