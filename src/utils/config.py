"""Building the run configuration: yaml files, ``with`` overrides, and checking both.

Order (EPyMARL's): ``default.yaml``, recursively updated by ``envs/ENV.yaml``, then by
``algs/ALG.yaml`` (the algorithm wins), then by the command line's ``with key=value`` overrides
(dotted keys for nesting, values parsed as Python literals, otherwise kept as strings).

Everything a user can get wrong here raises :class:`ConfigError`, whose message names the bad
value and the valid choices (``bad_value``); ``main.py`` prints it as one line. A :class:`Rule`
says which values one key accepts; the table of every key's rule, the registry names and the
combinations are checked on the merged config by ``experiment.config_checks``, which knows the
registries.
"""

from __future__ import annotations

import ast
import copy
import os
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

CONFIG_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "config")

# Keys that may be given without a yaml default: sacred's seed, and env constructor kwargs.
FREE_KEYS = {"seed"}
FREE_PREFIXES = ("env_args.",)


class ConfigError(ValueError):
    """A config name, key or value the user gave is not valid."""


def bad_value(key: str, value: Any, allowed: str) -> ConfigError:
    """The one error message form: the key, the value given and what is allowed."""
    return ConfigError(f"bad value for '{key}': {value!r}; allowed: {allowed}")


# ------------------------------------------------------------------ value rules
@dataclass(frozen=True)
class Rule:
    """The values one config key accepts.

    ``real`` marks keys that take any real number even where a yaml writes the default as an int
    (``grad_norm_clip: 10``), so ``utils.config.apply_overrides`` lets a float replace that int.
    """

    allowed: str
    accepts: Callable[[Any], bool]
    real: bool = False


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _range_rule(
    noun: str,
    is_kind: Callable[[Any], bool],
    low: float,
    high: float | None,
    low_open: bool,
    null: str | None,
    real: bool,
) -> Rule:
    """``noun`` values in ``[low, high]`` (``(low, ...`` if ``low_open``; no upper end if ``high`` is
    None); null too when ``null`` says what null means."""

    def accepts(value: Any) -> bool:
        if value is None:
            return null is not None
        if not is_kind(value):
            return False
        above = value > low if low_open else value >= low
        return above and (high is None or value <= high)

    if high is None:
        bounds = f"> {low}" if low_open else f">= {low}"
    else:
        bounds = f"in {'(' if low_open else '['}{low}, {high}]"
    allowed = f"{noun} {bounds}"
    return Rule(f"null ({null}) or {allowed}" if null else allowed, accepts, real)


def number(low: float, high: float | None = None, *, low_open: bool = False, null: str | None = None) -> Rule:
    """A finite real in ``[low, high]`` (``(low, high]`` with ``low_open``); ints are fine."""
    return _range_rule("a number", _is_number, low, high, low_open, null, real=True)


def positive(null: str | None = None) -> Rule:
    """A finite real > 0."""
    return number(0, low_open=True, null=null)


def integer(low: int, high: int | None = None, *, null: str | None = None) -> Rule:
    """An int in ``[low, high]`` (a bool is not an int here)."""
    return _range_rule("an integer", _is_int, low, high, False, null, real=False)


def text(what: str, *, null: str | None = None) -> Rule:
    """A non-empty string; ``what`` describes it. Null too when ``null`` says what null means."""

    def accepts(value: Any) -> bool:
        return (value is None and null is not None) or (isinstance(value, str) and value != "")

    allowed = f"a non-empty string: {what}"
    return Rule(f"null ({null}) or {allowed}" if null else allowed, accepts)


def available(kind: str, config_dir: str = CONFIG_DIR) -> list[str]:
    """Names of the yaml files under ``config/<kind>/`` (``kind`` is "algs" or "envs")."""
    folder = os.path.join(config_dir, kind)
    return sorted(name[: -len(".yaml")] for name in os.listdir(folder) if name.endswith(".yaml"))


def _read_yaml(path: str) -> dict:
    with open(path) as f:
        try:
            return yaml.safe_load(f) or {}
        except yaml.YAMLError as error:
            raise ConfigError(f"{path} is not valid yaml: {error}") from None


def _load_named(kind: str, name: str | None, flag: str, config_dir: str) -> dict:
    choices = available(kind, config_dir)
    if name is None:
        raise ConfigError(f"{flag} is required; choose from: {', '.join(choices)}")
    if name not in choices:
        raise ConfigError(f"unknown {flag} '{name}'; choose from: {', '.join(choices)}")
    return _read_yaml(os.path.join(config_dir, kind, f"{name}.yaml"))


def recursive_update(base: dict, update: Mapping) -> dict:
    """``base`` updated in place by ``update``, merging nested dicts instead of replacing them."""
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            recursive_update(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def load_config(alg: str | None, env: str | None, config_dir: str = CONFIG_DIR) -> dict:
    """default.yaml <- envs/ENV.yaml <- algs/ALG.yaml."""
    config = _read_yaml(os.path.join(config_dir, "default.yaml"))
    recursive_update(config, _load_named("envs", env, "--env-config", config_dir))
    recursive_update(config, _load_named("algs", alg, "--config", config_dir))
    return config


def apply_default_env(config: dict) -> dict:
    """``config`` with its algorithm's ``default_env_args`` merged into ``env_args`` where no env is
    named (``env_args.key`` null after every file and override): ``--config=lookahead_happo
    --env-config=gymma`` runs the paper's task, while an env file or ``env_args.key=...`` that names
    one runs exactly that. An algorithm file therefore carries no ``env_args`` of its own."""
    env_args = config.setdefault("env_args", {})
    if env_args.get("key") is None and config.get("default_env_args"):
        recursive_update(env_args, config["default_env_args"])
    return config


def parse_value(text: str) -> Any:
    """A Python literal if ``text`` is one (``3``, ``1e-3``, ``True``, ``None``, ``[1, 2]``), else the string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_overrides(tokens: list[str]) -> dict[str, Any]:
    """``["lr=0.001", "env_args.key=x"]`` -> ``{"lr": 0.001, "env_args.key": "x"}``."""
    overrides = {}
    for token in tokens:
        key, sep, value = token.partition("=")
        if not sep or not key:
            raise ConfigError(f"override '{token}' is not of the form key=value (e.g. t_max=50000)")
        overrides[key.strip()] = parse_value(value.strip())
    return overrides


def _type_name(value: Any) -> str:
    return type(value).__name__


def _coerce(key: str, default: Any, value: Any) -> Any:
    """``value`` checked against the type of the yaml ``default`` (ints may stand for floats).

    Anything goes for a null default, but null only there: ``name=None`` would break the run later.
    """
    if default is None:
        return value
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
    elif isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(default, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif isinstance(default, str):
        return value if isinstance(value, str) else str(value)
    elif isinstance(default, (list, tuple)):
        if isinstance(value, (list, tuple)):
            return list(value)
    elif isinstance(default, dict):
        if isinstance(value, dict):
            return value
    else:
        return value
    raise ConfigError(
        f"bad value for '{key}': {value!r} is a {_type_name(value)}, expected a {_type_name(default)} "
        f"(default {default!r})"
    )


def apply_overrides(config: dict, overrides: Mapping[str, Any], value_rules: Mapping[str, Rule] | None = None) -> dict:
    """Write each dotted-key override into ``config`` after checking that the key exists (unless free)
    and that the value has the default's type. Returns ``config``.

    A key in ``value_rules`` (``experiment.config_checks.VALUE_RULES``) is typed by its rule instead, which
    the caller checks afterwards (``check_config``): the default's type can mislead there
    (``grad_norm_clip: 10`` is an int, yet 0.5 is fine; ``actor_lr: null`` says nothing). Ints given
    for real-valued keys become floats.
    """
    value_rules = value_rules or {}
    for dotted, value in overrides.items():
        path = dotted.split(".")
        node = config
        for depth, part in enumerate(path[:-1]):
            if not isinstance(node.get(part), dict):
                if node.get(part) is None and (dotted.startswith(FREE_PREFIXES)):
                    node[part] = {}
                else:
                    raise ConfigError(f"unknown config key '{dotted}': '{'.'.join(path[: depth + 1])}' is not a section")
            node = node[part]
        leaf = path[-1]
        if leaf not in node and not (dotted in FREE_KEYS or dotted.startswith(FREE_PREFIXES)):
            raise ConfigError(f"unknown config key '{dotted}'; {_suggest(leaf, node)}")
        rule = value_rules.get(dotted)
        if rule is not None:
            is_int = isinstance(value, int) and not isinstance(value, bool)
            node[leaf] = float(value) if rule.real and is_int else value
        elif leaf in node:
            node[leaf] = _coerce(dotted, node[leaf], value)
        else:
            node[leaf] = value
    return config


def _suggest(leaf: str, node: Mapping) -> str:
    import difflib

    close = difflib.get_close_matches(leaf, list(node), n=3)
    if close:
        return f"did you mean: {', '.join(close)}?"
    return f"valid keys here: {', '.join(sorted(node))}"

