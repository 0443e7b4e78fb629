"""Env-internal step limits, which must not end episodes as terminations.

Several multi-agent envs stop themselves after a fixed number of steps and report
that as ``terminated=True`` (lbforaging at ``_max_episode_steps``, rware at
``max_steps``), which would make a learner treat a time-out as a true end and never
bootstrap. Our wrappers count steps themselves (``time_limit``), so here we

* lift a known internal limit above ``time_limit`` (``lift_internal_limit``), using
  ``KNOWN_STEP_LIMITS``: (module, class name) → attribute holding the limit. Classes
  are matched by name along the MRO so no env package is imported here.
* give the registered step limit of a gymnasium id (``registered_step_limit``), for
  the generic fallback: an env we do not know that reports termination exactly at
  that step is treated as truncated. (A true termination falling exactly on that
  step is then misread as a time-out; that is the price of not knowing the env.)
"""

from __future__ import annotations

from typing import Any

KNOWN_STEP_LIMITS: dict[tuple[str, str], str] = {
    ("lbforaging.foraging.environment", "ForagingEnv"): "_max_episode_steps",
    ("rware.warehouse", "Warehouse"): "max_steps",
    ("mpe2._mpe_utils.simple_env", "SimpleEnv"): "max_cycles",
}
"""(class ``__module__``, class ``__qualname__``) → attribute with the env's own step limit."""


def known_limit_attribute(env: Any) -> str | None:
    """The attribute holding ``env``'s internal step limit, if its class (or a base) is known."""
    for cls in type(env).__mro__:
        attr = KNOWN_STEP_LIMITS.get((cls.__module__, cls.__qualname__))
        if attr is not None:
            return attr
    return None


def lift_internal_limit(env: Any, time_limit: int) -> bool:
    """Raise ``env``'s own step limit above ``time_limit`` if we know where it lives.

    The limit is set to ``time_limit + 1`` when it is at most ``time_limit`` (a
    larger limit or ``None``, meaning no limit, is left alone), so within our
    episodes the env only ends on true terminations.

    Returns:
        True if ``env`` is a known class (its limit is handled), False otherwise.
    """
    attr = known_limit_attribute(env)
    if attr is None:
        return False
    current = getattr(env, attr, None)
    if current is not None and int(current) <= time_limit:
        setattr(env, attr, time_limit + 1)
    return True


def registered_step_limit(spec: Any) -> int | None:
    """The step limit a gymnasium ``EnvSpec`` declares, if any.

    Prefers ``spec.max_episode_steps`` (gymnasium's own TimeLimit), else an int
    ``max_episode_steps`` constructor kwarg (how lbforaging declares its limit).
    """
    if spec is None:
        return None
    if spec.max_episode_steps is not None:
        return int(spec.max_episode_steps)
    value = (spec.kwargs or {}).get("max_episode_steps")
    return int(value) if isinstance(value, int) else None
