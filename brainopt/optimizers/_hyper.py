"""Checks of the hyperparameters that several optimizers of the catalogue share (betas, pairs)."""
from .. import _validate as check

__all__ = []


def pair(owner, name, value, what):
    """``value`` as a 2-tuple, or a TypeError naming ``name`` and what its two entries mean."""
    if not (isinstance(value, (tuple, list)) and len(value) == 2):
        raise TypeError(f'{owner}: {name} must be a pair {what}, got {value!r}')
    return tuple(value)


def non_negative(owner, name, value):
    return check.real(name, value, low=0., owner=owner)


#: Adam's default betas: the default is recognised by identity, so that ``betas`` given explicitly (even
#: equal to it) is told apart from ``betas`` left out when braintools's ``beta1=``/``beta2=`` come too
DEFAULT_BETAS = (0.9, 0.999)


def betas_or_aliases(owner, betas, beta1, beta2):
    """``betas``, or braintools.optim's spelling ``beta1=``/``beta2=`` (either, or both; the other keeps its
    default). Both spellings together are a TypeError: which one meant what is unknowable."""
    if beta1 is None and beta2 is None:
        return betas
    given = ', '.join(f'{n}={v!r}' for n, v in (('beta1', beta1), ('beta2', beta2)) if v is not None)
    if betas is not DEFAULT_BETAS:
        raise TypeError(f'{owner}: got betas={betas!r} and {given}; give the decay rates one way, '
                        f'betas=(beta1, beta2) or beta1=/beta2=')
    return tuple(check.real(n, v, low=0., high=1., high_open=True, owner=owner) if v is not None else d
                 for n, v, d in (('beta1', beta1, DEFAULT_BETAS[0]), ('beta2', beta2, DEFAULT_BETAS[1])))
