"""The documentation of the options every optimizer shares: written once, put into each class docstring."""
import re

__all__ = []


SHARED_OPTIONS_DOC = """
    lr : float, LRScheduler or callable
        Learning rate: a non-negative float, an :class:`brainopt.LRScheduler`,
        or any callable of the step count (an optax schedule works). It is
        evaluated inside the compiled step with the number of updates applied
        before this one (0 on the first).
    weight_decay : float, default 0.0
        Weight decay coefficient. Its meaning is set by ``weight_decay_mode``.
    weight_decay_mode : str, default 'coupled'
        ``'coupled'`` adds ``weight_decay * p`` to the gradient before the
        rule (L2 penalty; torch.optim and braintools). ``'decoupled'``
        shrinks the weights by ``p * weight_decay * lr`` beside the rule
        (AdamW). ``'decoupled_first'`` shrinks them first and runs the rule
        on the shrunk weights (Keras). ``'decoupled_unscaled'`` shrinks by
        ``p * weight_decay``, not scaled by the lr (brainpy 2.x).
        ``'proximal'`` divides the updated weights by ``1 + weight_decay * lr``
        (Adan's Algorithm 1).
    weight_decay_exclude : str, sequence of str, or callable, optional
        Parameters that do not decay: regular expressions searched in the
        dotted parameter path (``'bias'``), or a predicate of the path that
        returns True to exclude.
    grad_clip_value : float, optional
        Clip every gradient element into ``[-v, v]`` (Keras ``clipvalue``).
    grad_clip_norm : float, optional
        Clip the global L2 norm over all gradients (braintools
        ``grad_clip_norm``, Keras ``global_clipnorm``, torch
        ``clip_grad_norm_``). Non-finite elements are left out of the norm.
    grad_clip_norm_per_param : float, optional
        Clip each parameter's own gradient norm (Keras ``clipnorm``).
    use_ema : bool, default False
        Keep an exponential moving average of the parameters (Keras).
    ema_momentum : float, default 0.99
        ``avg = m * avg + (1 - m) * p``; the first applied update sets
        ``avg = p``.
    ema_overwrite_frequency : int, optional
        Every this many applied updates, overwrite the parameters with their
        average. Otherwise call :meth:`copy_ema_to_params` at the end, or
        evaluate inside ``with opt.ema_weights():``.
    loss_scale_factor : float, optional
        Gradients are divided by it before anything else.
    gradient_accumulation_steps : int, optional
        ``k`` calls of :meth:`update` accumulate; the k-th applies their mean
        once. In between, the parameters, the rule's slots, the step count
        and the EMA do not move, and the rule does not run. The step count
        that schedules and EMA see counts applied updates, not calls.
    skip_nonfinite : bool, default False
        If a gradient holds NaN or Inf, or a learning rate computed by user
        code inside a compiled step is negative or not finite, skip the whole
        call: nothing moves and ``skipped_steps`` counts it. Off, such a step
        is applied as computed, and ``update``'s result reports
        ``finite=False``.
    count_calls : bool, default False
        Keras's counting under ``gradient_accumulation_steps``: the learning
        rate (and its schedule, and decoupled decay) sees the number of
        calls, and the EMA moves (and may overwrite) on every call; the
        rule's own step count (bias corrections) still counts updates.
    state_dtype : dtype, optional
        Keep the rule's slots (moments, accumulators) in this floating dtype:
        ``jnp.bfloat16`` moments halve their memory for float32 parameters,
        ``jnp.float32`` moments keep bfloat16 parameters' statistics exact.
        The rule computes in the wider of the parameter's and this dtype; the
        new slots are rounded to it. Default: the parameter's dtype.
    name : str, optional
        Prefix of the optimizer's State names (default: the class name).
"""


def with_shared_options(cls):
    """Put the shared options' documentation in place of ``{shared_options}`` in a class docstring
    (without its ``lr`` entry when the class documents ``lr`` itself)."""
    if cls.__doc__ and '{shared_options}' in cls.__doc__:
        text = SHARED_OPTIONS_DOC.strip('\n')
        if re.search(r'^\s*lr : ', cls.__doc__.split('{shared_options}')[0], re.M):
            text = text[text.index('    weight_decay : '):]
        cls.__doc__ = cls.__doc__.replace('{shared_options}', text)
    return cls
