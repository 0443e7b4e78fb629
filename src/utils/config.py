"""Building the run configuration: yaml files, ``with`` overrides, and checking both.

Order (EPyMARL's): ``default.yaml``, recursively updated by ``envs/ENV.yaml``, then by
``algs/ALG.yaml`` (the algorithm wins), then by the command line's ``with key=value`` overrides
(dotted keys for nesting, values parsed as Python literals, otherwise kept as strings).

Everything a user can get wrong here raises :class:`ConfigError`, whose message names the bad
value and the valid choices; ``main.py`` prints it as one line. Value ranges, registry names and
combinations are checked on the merged config by ``utils.config_checks``.
"""

from __future__ import annotations

import ast
import copy
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:  # utils.config_checks imports this module (for ConfigError) at run time
    from utils.config_checks import Rule

CONFIG_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "config")

# Keys that may be given without a yaml default: sacred's seed, and env constructor kwargs.
FREE_KEYS = {"seed"}
FREE_PREFIXES = ("env_args.",)


class ConfigError(ValueError):
    """A config name, key or value the user gave is not valid."""


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

    A key in ``value_rules`` (``utils.config_checks.VALUE_RULES``) is typed by its rule instead, which
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

