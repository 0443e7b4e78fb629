"""Parsing ``env_args.key`` for the ``gymma`` env and importing the module it names.

Key forms:

* ``"Id"``: a registered gymnasium id, e.g. ``"MyTeamEnv-v0"``.
* ``"module:Id"``: import ``module`` (which registers its ids) first, e.g.
  ``"lbforaging:Foraging-8x8-2p-3f-v3"``, ``"rware:rware-tiny-2ag-v2"``.
* ``"pz:module"``: a PettingZoo parallel env, ``module.parallel_env(**kwargs)``, e.g.
  ``"pz:mpe2.simple_spread_v3"``.
* ``"pz-lib-name"``: EPyMARL's PettingZoo form, e.g. ``"pz-mpe-simple-spread-v3"``
  → ``pz:mpe2.simple_spread_v3`` (MPE moved from ``pettingzoo.mpe`` to ``mpe2``);
  other libs map to ``pz:pettingzoo.<lib>.<name with _>``.
* ``"mamujoco:<Scenario>-<agent_conf>"``: Multi-Agent MuJoCo from gymnasium-robotics,
  e.g. ``"mamujoco:HalfCheetah-2x3"``, ``"mamujoco:Ant-4x2"``, ``"mamujoco:Walker2d-3x2"``
  (built by ``envs.mamujoco``, which also checks the scenario and partition).
* ``"gfootball:<scenario>"``: Google Research Football (gfootball 2.10.2), e.g.
  ``"gfootball:academy_3_vs_1_with_keeper"``, ``"gfootball:academy_counterattack_hard"``,
  ``"gfootball:academy_corner"`` (any scenario of ``gfootball.scenarios``; built by
  ``envs.gfootball``, which checks the scenario name).
* an alias from ``KEY_ALIASES``: ``"toy"`` → ``"envs.toy_game:ToyGame-v0"`` (the
  Lookahead paper's two-agent toy game).

Import failures become ``EnvKeyError`` naming the key, the module tried and the
package to install, so a missing optional package only breaks the envs that need it.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from dataclasses import dataclass
from types import ModuleType
from typing import Literal

from envs.errors import EnvKeyError

KEY_FORMS = (
    "'Id' (registered gymnasium id), 'module:Id' (import module, then gymnasium id), "
    "'pz:module' (PettingZoo parallel env module.parallel_env), "
    "'pz-lib-name' (EPyMARL PettingZoo form, e.g. pz-mpe-simple-spread-v3), "
    "'mamujoco:<Scenario>-<agent_conf>' (Multi-Agent MuJoCo, e.g. mamujoco:HalfCheetah-2x3), "
    "'gfootball:<scenario>' (Google Research Football, e.g. gfootball:academy_3_vs_1_with_keeper), "
    "'toy' (alias of envs.toy_game:ToyGame-v0)"
)
"""Human-readable list of accepted key forms, used in error messages."""

PIP_NAMES: dict[str, str] = {
    "lbforaging": "lbforaging",
    "rware": "rware",
    "mpe2": "mpe2",
    "pettingzoo": "pettingzoo",
    "gymnasium_robotics": "gymnasium-robotics",
    "vmas": "vmas[gymnasium]",
    "smaclite": "smaclite",
}
"""Top-level module → pip requirement, where they differ or are worth stating."""

KEY_ALIASES: dict[str, str] = {"toy": "envs.toy_game:ToyGame-v0"}
"""Short keys → the full key they stand for (the parsed ``raw`` keeps the short one)."""

MAMUJOCO_PREFIX = "mamujoco:"
"""Prefix of Multi-Agent MuJoCo keys, ``mamujoco:<Scenario>-<agent_conf>``."""

GFOOTBALL_PREFIX = "gfootball:"
"""Prefix of Google Research Football keys, ``gfootball:<scenario>``."""


@dataclass(frozen=True)
class EnvKey:
    """A parsed ``env_args.key``.

    Attributes:
        raw: the key as written in the config.
        kind: ``"gymnasium"`` (Tuple-space gymnasium env), ``"pettingzoo"`` (parallel env),
            ``"mamujoco"`` (Multi-Agent MuJoCo) or ``"gfootball"`` (Google Research Football).
        module: module to import first (``None`` for a plain gymnasium id).
        env_id: gymnasium id (``None`` for PettingZoo, MaMuJoCo and GRF keys).
        scenario: MaMuJoCo scenario, e.g. ``"HalfCheetah"``, or GRF scenario, e.g.
            ``"academy_3_vs_1_with_keeper"`` (``None`` for other kinds).
        agent_conf: MaMuJoCo agent partition, e.g. ``"2x3"`` (``None`` for other kinds).
    """

    raw: str
    kind: Literal["gymnasium", "pettingzoo", "mamujoco", "gfootball"]
    module: str | None
    env_id: str | None
    scenario: str | None = None
    agent_conf: str | None = None


def parse_key(key: str) -> EnvKey:
    """Split ``key`` into what to import and what to build (see the module docstring).

    Raises:
        EnvKeyError: if ``key`` is empty or has an empty part.
    """
    if not isinstance(key, str) or not key.strip():
        raise EnvKeyError(f"env_args.key must be a non-empty string, got {key!r}. Accepted forms: {KEY_FORMS}.")
    raw = key.strip()
    key = KEY_ALIASES.get(raw, raw)
    if key.startswith(MAMUJOCO_PREFIX):
        scenario, _, agent_conf = key[len(MAMUJOCO_PREFIX) :].partition("-")
        if not scenario or not agent_conf:
            raise EnvKeyError(
                f"Env key {key!r} is not of the form 'mamujoco:<Scenario>-<agent_conf>' "
                f"(e.g. 'mamujoco:HalfCheetah-2x3'). Accepted forms: {KEY_FORMS}."
            )
        return EnvKey(key, "mamujoco", "gymnasium_robotics", None, scenario, agent_conf)
    if key.startswith(GFOOTBALL_PREFIX):
        scenario = key[len(GFOOTBALL_PREFIX) :].strip()
        if not re.fullmatch(r"\w+", scenario, re.ASCII):  # a module name, e.g. 1_vs_1_easy
            raise EnvKeyError(
                f"Env key {key!r} is not of the form 'gfootball:<scenario>' with a gfootball scenario "
                f"name (e.g. 'gfootball:academy_3_vs_1_with_keeper'). Accepted forms: {KEY_FORMS}."
            )
        return EnvKey(key, "gfootball", "gfootball", None, scenario)
    if key.startswith("pz:"):
        module = key[len("pz:") :]
        if not module:
            raise EnvKeyError(f"Env key {key!r} names no module after 'pz:'. Accepted forms: {KEY_FORMS}.")
        return EnvKey(key, "pettingzoo", module, None)
    if key.startswith("pz-"):
        lib, _, name = key[len("pz-") :].partition("-")
        if not lib or not name:
            raise EnvKeyError(f"Env key {key!r} is not of the form 'pz-lib-name'. Accepted forms: {KEY_FORMS}.")
        module_name = name.replace("-", "_")
        module = f"mpe2.{module_name}" if lib == "mpe" else f"pettingzoo.{lib}.{module_name}"
        return EnvKey(key, "pettingzoo", module, None)
    if ":" in key:
        module, _, env_id = key.partition(":")
        if not module or not env_id:
            raise EnvKeyError(f"Env key {key!r} is not of the form 'module:Id'. Accepted forms: {KEY_FORMS}.")
        return EnvKey(raw, "gymnasium", module, env_id)
    return EnvKey(raw, "gymnasium", None, key)


def pip_hint(module_name: str) -> str:
    """The ``pip install ...`` command for the package providing ``module_name``."""
    top = module_name.split(".")[0]
    requirement = PIP_NAMES.get(top, top.replace("_", "-"))
    return f'pip install "{requirement}"' if "[" in requirement else f"pip install {requirement}"


def import_env_module(key: str, module_name: str) -> ModuleType:
    """Import ``module_name`` for env key ``key``, explaining any failure.

    Raises:
        EnvKeyError: naming the key and module, and which package to install when
            the module (or one of its dependencies) is missing.
    """
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        missing = err.name or module_name
        if module_name == missing or module_name.startswith(missing + "."):
            if "." in missing and importlib.util.find_spec(missing.split(".")[0]) is not None:
                parent, _, child = missing.rpartition(".")
                detail = f"package {parent!r} is installed but has no module {child!r}; check the name"
            else:
                detail = f"module {missing!r} is not installed; install it with `{pip_hint(missing)}`"
        else:
            detail = (
                f"its dependency {missing!r} is not installed; install it with `{pip_hint(missing)}`"
            )
        raise EnvKeyError(f"Cannot build env key {key!r}: importing module {module_name!r} failed: {detail}.") from err
    except Exception as err:  # a broken install: report it against the key
        raise EnvKeyError(
            f"Cannot build env key {key!r}: importing module {module_name!r} raised {type(err).__name__}: {err}"
        ) from err
