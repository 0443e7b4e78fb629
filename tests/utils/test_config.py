"""Config loading, ``with`` overrides and the yaml files themselves (``utils.config``)."""

from __future__ import annotations

import os
import re

import pytest
import yaml

from utils.config import (
    CONFIG_DIR,
    ConfigError,
    apply_overrides,
    available,
    load_config,
    parse_overrides,
    parse_value,
)


def write_yaml(path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data))


@pytest.fixture
def config_dir(tmp_path):
    """default <- envs/toy <- algs/{alg_a, alg_b}, each level overriding part of the one before."""
    write_yaml(
        tmp_path / "default.yaml",
        {"a": 1, "b": 1, "c": 1, "lr": 0.5, "env_args": {"x": 1, "y": 1}, "nested": {"p": 1, "q": 1}},
    )
    write_yaml(tmp_path / "envs" / "toy.yaml", {"b": 2, "c": 2, "env_args": {"y": 2, "z": 2}, "nested": {"q": 2}})
    write_yaml(tmp_path / "envs" / "other.yaml", {})
    write_yaml(tmp_path / "algs" / "alg_a.yaml", {"c": 3, "env_args": {"z": 3}})
    write_yaml(tmp_path / "algs" / "alg_b.yaml", {})
    return str(tmp_path)


# ------------------------------------------------------------------ loading
def test_load_config_merge_order(config_dir):
    config = load_config("alg_a", "toy", config_dir)
    assert config["a"] == 1  # default only
    assert config["b"] == 2  # env overrides default
    assert config["c"] == 3  # alg overrides env
    assert config["env_args"] == {"x": 1, "y": 2, "z": 3}  # nested dicts merged, not replaced
    assert config["nested"] == {"p": 1, "q": 2}


def test_load_config_real_files():
    config = load_config("mappo", "gymma")
    assert config["t_max"] == 20050000  # mappo.yaml beats gymma.yaml (2050000) and default (10000)
    assert config["test_nepisode"] == 100  # gymma.yaml beats default (20)
    assert config["critic_type"] == "cv_critic" and config["action_selector"] == "soft_policies"
    assert config["env_args"] == {"key": None, "time_limit": 100, "pretrained_wrapper": None}
    assert config["gamma"] == 0.99  # default, untouched


def test_available_lists_yaml_names(config_dir):
    assert available("algs", config_dir) == ["alg_a", "alg_b"]
    assert available("envs", config_dir) == ["other", "toy"]
    assert {"mappo", "ippo", "mappo_ns", "ippo_ns"} <= set(available("algs"))


def test_unknown_alg_lists_the_choices(config_dir):
    with pytest.raises(ConfigError, match=r"unknown --config 'mapo'; choose from: alg_a, alg_b"):
        load_config("mapo", "toy", config_dir)
    with pytest.raises(ConfigError, match=r"--config is required; choose from: alg_a, alg_b"):
        load_config(None, "toy", config_dir)


def test_unknown_env_lists_the_choices(config_dir):
    with pytest.raises(ConfigError, match=r"unknown --env-config 'sc2'; choose from: other, toy"):
        load_config("alg_a", "sc2", config_dir)
    with pytest.raises(ConfigError, match=r"--env-config is required"):
        load_config("alg_a", None, config_dir)


def test_real_unknown_alg_message_names_real_choices():
    with pytest.raises(ConfigError) as info:
        load_config("qmix", "gymma")
    for name in ("ippo", "ippo_ns", "mappo", "mappo_ns"):
        assert name in str(info.value)


def test_invalid_yaml_is_a_config_error(tmp_path):
    write_yaml(tmp_path / "default.yaml", {"a": 1})
    write_yaml(tmp_path / "algs" / "x.yaml", {})
    (tmp_path / "envs").mkdir()
    (tmp_path / "envs" / "bad.yaml").write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="bad.yaml is not valid yaml"):
        load_config("x", "bad", str(tmp_path))


# ------------------------------------------------------------------ parsing overrides
@pytest.mark.parametrize(
    "text, expected",
    [
        ("3", 3),
        ("-2", -2),
        ("0.25", 0.25),
        ("1e-3", 0.001),
        ("True", True),
        ("False", False),
        ("None", None),
        ("[1, 2]", [1, 2]),
        ("'quoted'", "quoted"),
        ("hello", "hello"),
        ("lbforaging:Foraging-8x8-2p-3f-v3", "lbforaging:Foraging-8x8-2p-3f-v3"),
        ("true", "true"),  # not a Python literal: kept as a string (and rejected for bool keys)
    ],
)
def test_parse_value(text, expected):
    value = parse_value(text)
    assert value == expected and type(value) is type(expected)


def test_parse_overrides():
    overrides = parse_overrides(["t_max=50000", "lr=3e-4", "use_cuda=False", "env_args.key=pz:mpe", " name = x "])
    assert overrides == {"t_max": 50000, "lr": 3e-4, "use_cuda": False, "env_args.key": "pz:mpe", "name": "x"}
    assert isinstance(overrides["t_max"], int) and isinstance(overrides["lr"], float)
    assert parse_overrides(["env_args.key=a=b"]) == {"env_args.key": "a=b"}  # split on the first '='
    assert parse_overrides(["checkpoint_path="]) == {"checkpoint_path": ""}


@pytest.mark.parametrize("token", ["t_max", "=5", ""])
def test_parse_overrides_rejects_malformed_tokens(token):
    with pytest.raises(ConfigError, match="is not of the form key=value"):
        parse_overrides([token])


# ------------------------------------------------------------------ applying overrides
@pytest.fixture
def config():
    return load_config("mappo", "gymma")


def test_apply_overrides_sets_values(config):
    apply_overrides(config, {"t_max": 500, "lr": 1e-3, "use_cuda": False, "name": "run1", "env_args.time_limit": 25})
    assert (config["t_max"], config["lr"], config["use_cuda"], config["name"]) == (500, 1e-3, False, "run1")
    assert config["env_args"]["time_limit"] == 25
    assert config["env_args"]["key"] is None  # siblings untouched


def test_int_accepted_for_float(config):
    apply_overrides(config, {"lr": 1, "gamma": 0})
    assert config["lr"] == 1.0 and type(config["lr"]) is float
    assert type(config["gamma"]) is float


def test_unknown_key_suggests_close_names(config):
    with pytest.raises(ConfigError, match=r"unknown config key 'lrr'; did you mean: lr"):
        apply_overrides(config, {"lrr": 0.1})
    with pytest.raises(ConfigError, match=r"unknown config key 'batchsize'; did you mean: .*batch_size"):
        apply_overrides(config, {"batchsize": 4})


def test_unknown_key_without_close_match_lists_valid_keys():
    with pytest.raises(ConfigError, match=r"valid keys here: alpha, beta"):
        apply_overrides({"alpha": 1, "beta": 2}, {"zzzzzz": 1})


def test_unknown_section_is_an_error(config):
    with pytest.raises(ConfigError, match=r"'lr' is not a section"):
        apply_overrides(config, {"lr.value": 1})
    with pytest.raises(ConfigError, match=r"unknown config key 'nothing.at.all'"):
        apply_overrides(config, {"nothing.at.all": 1})


@pytest.mark.parametrize(
    "key, value, expected_type",
    [
        ("lr", "fast", "float"),  # str for float
        ("t_max", 1.5, "int"),  # float for int
        ("use_cuda", 1, "bool"),  # int for bool
        ("use_cuda", "true", "bool"),
        ("t_max", True, "int"),  # bool is not an int here
        ("lr", True, "float"),
        ("env_args", 3, "dict"),
    ],
)
def test_wrong_types_are_rejected(config, key, value, expected_type):
    before = config[key]
    with pytest.raises(ConfigError, match=rf"bad value for '{key}': .* expected a {expected_type}"):
        apply_overrides(config, {key: value})
    assert config[key] == before


def test_none_is_accepted_and_strings_coerced(config):
    apply_overrides(config, {"env_args.key": "lbforaging:Foraging-8x8-2p-3f-v3", "name": 7})
    assert config["env_args"]["key"] == "lbforaging:Foraging-8x8-2p-3f-v3"
    assert config["name"] == "7"  # str defaults take the text of whatever was given


def test_free_keys(config):
    assert "seed" not in config
    apply_overrides(config, {"seed": 42, "env_args.anything": [1, 2], "env_args.sub.deep": "x"})
    assert config["seed"] == 42
    assert config["env_args"]["anything"] == [1, 2]
    assert config["env_args"]["sub"] == {"deep": "x"}


def test_nested_dotted_key():
    config = {"outer": {"inner": {"leaf": 1.0, "other": "a"}}}
    apply_overrides(config, {"outer.inner.leaf": 2})
    assert config == {"outer": {"inner": {"leaf": 2.0, "other": "a"}}}
    with pytest.raises(ConfigError, match=r"unknown config key 'outer.inner.leef'; did you mean: leaf"):
        apply_overrides(config, {"outer.inner.leef": 2})


# ------------------------------------------------------------------ the yaml files
def default_lines() -> list[str]:
    with open(os.path.join(CONFIG_DIR, "default.yaml")) as f:
        return f.read().splitlines()


def test_every_default_key_has_an_inline_comment():
    keys = []
    for line in default_lines():
        match = re.match(r"^([A-Za-z_][A-Za-z0-9_]*):", line)
        if match:
            keys.append(match.group(1))
            assert re.search(r"\S\s+#\s*\S", line), f"default.yaml key '{match.group(1)}' has no inline comment"
    with open(os.path.join(CONFIG_DIR, "default.yaml")) as f:
        assert sorted(keys) == sorted(yaml.safe_load(f))  # the regex saw every top-level key


def test_alg_yamls_only_set_known_keys():
    with open(os.path.join(CONFIG_DIR, "default.yaml")) as f:
        known = set(yaml.safe_load(f))
    for env in available("envs"):
        with open(os.path.join(CONFIG_DIR, "envs", f"{env}.yaml")) as f:
            known |= set(yaml.safe_load(f) or {})
    for alg in available("algs"):
        with open(os.path.join(CONFIG_DIR, "algs", f"{alg}.yaml")) as f:
            unknown = set(yaml.safe_load(f) or {}) - known
        assert not unknown, f"algs/{alg}.yaml sets keys no default or env yaml defines: {sorted(unknown)}"


@pytest.mark.parametrize("alg", ["mappo", "ippo", "mappo_ns", "ippo_ns"])
def test_every_alg_loads_with_gymma(alg):
    config = load_config(alg, "gymma")
    assert config["name"] == alg
    assert config["learner"] == "ppo_learner"
