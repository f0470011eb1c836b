"""Draw a schedule before training: :func:`plot_schedule` (needs matplotlib, imported when called)."""
import jax
import jax.numpy as jnp
import numpy as np

__all__ = ['plot_schedule', 'schedule_values']


def schedule_values(sched, steps, *, _caller='schedule_values'):
    """The learning rates ``sched(0), ..., sched(steps - 1)`` as a float32 numpy array.

    Evaluated with the schedule's closed form in one compiled call; the
    schedule's States (its ``last_epoch``) are neither read nor changed.

    Parameters
    ----------
    sched : LRScheduler or callable
        A brainopt schedule, or any callable of the step (an optax schedule).
    steps : int
        How many counter values, from 0.

    Examples
    --------
    >>> import brainopt
    >>> brainopt.schedules.schedule_values(brainopt.schedules.StepLR(1.0, step_size=2, gamma=0.5), 5)
    array([1.  , 1.  , 0.5 , 0.5 , 0.25], dtype=float32)
    """
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f'{_caller}: steps must be a positive integer, got {steps!r}')
    from .recursive import ReduceLROnPlateau
    if isinstance(sched, ReduceLROnPlateau):
        raise TypeError(f'{_caller}: ReduceLROnPlateau has no closed form of the step (its learning rate '
                        'depends on the metrics given to step(metric)), so it cannot be drawn in advance')
    if not callable(sched):
        raise TypeError(f'{_caller}: sched must be a schedule (a callable of the step), got {sched!r}')
    fn = jax.jit(jax.vmap(lambda k: jnp.asarray(sched(k), jnp.float32)))
    return np.asarray(fn(jnp.arange(int(steps), dtype=jnp.int32)))


def plot_schedule(sched, steps, ax=None):
    """Draw the learning rate of ``sched`` over its first ``steps`` counter values.

    Parameters
    ----------
    sched : LRScheduler or callable
        The schedule. Per-epoch schedules are drawn against epochs,
        per-update ones against updates.
    steps : int
        How many counter values, from 0.
    ax : matplotlib.axes.Axes, optional
        Where to draw; default: a new figure's axes.

    Returns
    -------
    matplotlib.axes.Axes
        The axes, with the curve, axis labels and the schedule as the title.

    Raises
    ------
    ImportError
        When matplotlib is not installed.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use('Agg')
    >>> import brainopt
    >>> ax = brainopt.schedules.plot_schedule(brainopt.schedules.CosineAnnealingLR(0.1, T_max=50), 100)
    >>> len(ax.lines[0].get_ydata())
    100
    """
    values = schedule_values(sched, steps, _caller='plot_schedule')
    try:
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ImportError('plot_schedule needs matplotlib: pip install matplotlib') from err
    if ax is None:
        _, ax = plt.subplots()
    stepping = getattr(sched, 'stepping', 'update')
    ax.plot(np.arange(len(values)), values)
    ax.set_xlabel('epoch (sched.step() calls)' if stepping == 'epoch' else 'update (optimizer steps applied)')
    ax.set_ylabel('learning rate')
    ax.set_title(repr(sched) if len(repr(sched)) <= 80 else type(sched).__name__)
    return ax
