"""The quick tier (tests/quick.py) holds every row of the optimizer table twice: eager = jit and a golden value."""
from quick import AGREE, GOLDEN
from table import OPTIMIZERS


def test_every_row_is_in_the_quick_tier():
    rows = [info.name for info in OPTIMIZERS]
    assert sorted(GOLDEN) == sorted(rows), f'rows without a quick golden test: {sorted(set(rows) - set(GOLDEN))}'
    assert sorted(AGREE) == sorted(rows)
