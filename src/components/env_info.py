"""What an env tells the components built for it: :class:`EnvInfo`, a frozen view of
``env.get_env_info()``.

EPyMARL passes the env's dictionary around and copies three of its sizes into the run's ``args``
(``n_agents``, ``n_actions``, ``state_shape``). Here the whole of it is one typed value, built once
by the experiment wiring and handed to what needs more than those sizes (the scheme, Lookahead's
model and imagined runner): the sizes every env has are attributes, and what only some envs publish
(continuous action bounds, ``state_to_obs``, the toy game's ``true_dynamics``) is read as from the
dictionary (``info.get("state_to_obs")``), so code written for EPyMARL's dict keeps working.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any

ACTION_KINDS = ("discrete", "continuous")


@dataclass(frozen=True, eq=False)
class EnvInfo(Mapping[str, Any]):
    """An env's sizes and action kind, plus the optional entries of its info (``extras``).

    ``n_actions`` is the number of actions per agent (discrete) or the padded action dimension
    (continuous); ``episode_limit`` may be None where the env does not say (a dictionary without it,
    an EPyMARL env without ``env_args.time_limit``).
    """

    n_agents: int
    n_actions: int
    state_shape: int | tuple[int, ...]
    obs_shape: int | tuple[int, ...]
    episode_limit: int | None = None
    action_kind: str = "discrete"
    extras: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.action_kind not in ACTION_KINDS:
            raise ValueError(f"bad value for 'action_kind': {self.action_kind!r}; allowed: {', '.join(ACTION_KINDS)}")
        object.__setattr__(self, "extras", MappingProxyType(dict(self.extras)))

    @classmethod
    def from_env(cls, info: Mapping[str, Any]) -> EnvInfo:
        """The value of an env's ``get_env_info()`` dictionary (an EnvInfo is returned as it is)."""
        if isinstance(info, EnvInfo):
            return info
        core = {f.name for f in fields(cls)} - {"extras"}
        missing = sorted(core - {"episode_limit", "action_kind"} - set(info))
        if missing:
            raise ValueError(f"the env info lacks {', '.join(missing)}; it has {', '.join(sorted(info))}")
        return cls(**{key: info[key] for key in core if key in info},
                   extras={key: value for key, value in info.items() if key not in core})

    def __reduce__(self) -> tuple:
        """Pickled and deep-copied through its fields (a read-only mapping proxy cannot be)."""
        return type(self)._rebuild, (tuple(getattr(self, name) for name in _CORE_NAMES), dict(self.extras))

    @classmethod
    def _rebuild(cls, core: tuple, extras: dict[str, Any]) -> EnvInfo:
        return cls(*core, extras=extras)

    @property
    def continuous(self) -> bool:
        return self.action_kind == "continuous"

    def reward_dim(self, common_reward: bool) -> int:
        """Width of the stored reward: 1 (the team's) or one per agent."""
        return 1 if common_reward else self.n_agents

    # Read-only mapping over every entry, as the env's dictionary.
    def __getitem__(self, key: str) -> Any:
        if key != "extras" and key in _CORE_NAMES:
            return getattr(self, key)
        return self.extras[key]

    def __iter__(self) -> Iterator[str]:
        yield from _CORE_NAMES
        yield from self.extras

    def __len__(self) -> int:
        return len(_CORE_NAMES) + len(self.extras)


_CORE_NAMES = tuple(f.name for f in fields(EnvInfo) if f.name != "extras")
