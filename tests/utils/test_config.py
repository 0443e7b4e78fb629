"""Config loading, ``with`` overrides and the yaml files themselves (``utils.config``), and the value,
name and combination checks on the merged config (``experiment.config_checks``)."""

from __future__ import annotations

import os
import re
from types import SimpleNamespace

import pytest
import yaml

import main
from experiment.config_checks import (
    CHOICES,
    NO_RANGE,
    VALUE_RULES,
    check_choices,
    check_config,
    check_requirements,
    check_values,
)
from utils.config import (
    CONFIG_DIR,
    FREE_KEYS,
    FREE_PREFIXES,
    ConfigError,
    apply_overrides,
    available,
    integer,
    load_config,
    number,
    parse_overrides,
    parse_value,
    positive,
    text,
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


# ------------------------------------------------------------------ value rules, names and combinations
def gymma_config(alg: str = "mappo", **overrides) -> dict:
    """A shipped config with an env key (gymma's yaml leaves it null) and ``overrides`` set."""
    config = load_config(alg, "gymma")
    config["env_args"]["key"] = "lbforaging:Foraging-8x8-2p-3f-v3"
    for dotted, value in overrides.items():
        node = config
        *sections, leaf = dotted.split(".")
        for section in sections:
            node = node[section]
        node[leaf] = value
    return config


# key, values accepted (every boundary included), values refused
RANGE_CASES = [
    ("seed", [0, 7, 2**32 - 1], [-1, 2**32, 1.5, True, None]),
    ("batch_size_run", [1, 16], [0, -1, 1.0, True, None]),
    ("env_workers", [0, 4], [-1, 0.5]),
    ("rollout_length", [0, 200], [-1, 2.5]),
    ("test_nepisode", [1, 100], [0, -3]),
    ("test_interval", [0, 50000], [-1, 1e3]),
    ("log_interval", [0, 1], [-1]),
    ("runner_log_interval", [0, 1], [-1]),
    ("learner_log_interval", [0, 1], [-1]),
    ("save_model_interval", [0, 1], [-1]),
    ("t_max", [0, 10000000], [-5, 1.5, "10k"]),
    ("torch_threads", [1, 8], [0]),
    ("load_step", [0, 2000], [-1]),
    ("save_model_keep", [0, 3], [-1, 1.5]),
    ("resumed_step", [0, 2000], [-1, "200"]),
    ("gamma", [0, 0.0, 0.99, 1, 1.0], [-0.01, 1.01, 1.5, True, "0.9", None, float("nan")]),
    ("batch_size", [1, 32], [0]),
    ("buffer_size", [32, 64], [0]),
    ("lr", [1e-8, 0.0005, 1], [0, 0.0, -1, float("inf"), "fast", None]),
    ("actor_lr", [None, 1e-8, 3], [0, -1e-3, "fast", True]),
    ("critic_lr", [None, 1e-8, 3], [0, -1e-3, "fast"]),
    ("adam_eps", [1e-8, 1e-5], [0, -1e-8]),
    ("grad_norm_clip", [0.5, 10], [0, -1]),
    ("hidden_dim", [1, 64], [0, 64.0]),
    ("hidden_layers", [1, 3], [0, 2.0]),
    ("init_agent_output_gain", [0.01, 1], [0, -0.01]),
    ("std_scale", [1e-3, 0.5], [0, -0.5]),
    ("epsilon_start", [0, 1], [-0.1, 1.1]),
    ("epsilon_finish", [0, 1], [-0.1, 1.1]),
    ("epsilon_anneal_time", [0, 50000], [-1]),
    ("epochs", [1, 15], [0]),
    ("mini_batches", [1, 10], [0, -2]),
    ("huber_delta", [1e-3, 10.0], [0, -1]),
    ("value_clip", [0, 0.2], [-0.2]),
    ("eps_clip", [1e-3, 0.2], [0, -0.2]),
    ("entropy_coef", [0, 0.01], [-0.01]),
    ("q_nstep", [1, 5], [0]),
    ("gae_lambda", [0, 0.95, 1], [-0.1, 1.05]),
    ("target_update_interval_or_tau", [0.01, 1, 200], [0, -0.01]),
    ("model_early_stop_interval", [1, 100], [0, 2.5, True]),
    ("model_early_stop_patience", [1, 5], [0, -1]),
    ("model_early_stop_tolerance", [0, 0.0, 0.01, 0.99], [-0.01, 1, 1.0, True, None, float("nan")]),
    ("env_args.key", ["lbforaging:Foraging-8x8-2p-3f-v3", "toy"], [None, "", 3]),
    ("env_args.time_limit", [1, 100], [0, -1, 25.5]),
    ("env_args.n_agents", [None, 1, 3], [0, 1.5]),
    ("env_args.agent_obsk", [0, 2], [-1]),
]


@pytest.mark.parametrize("key, accepted, refused", RANGE_CASES, ids=[case[0] for case in RANGE_CASES])
def test_value_rule(key, accepted, refused):
    for value in accepted:
        check_values(gymma_config(**{key: value}))
    for value in refused:
        with pytest.raises(ConfigError) as info:
            check_values(gymma_config(**{key: value}))
        assert str(info.value) == f"bad value for '{key}': {value!r}; allowed: {VALUE_RULES[key].allowed}"


def test_value_rule_messages():
    def message(key, value):
        with pytest.raises(ConfigError) as info:
            check_values(gymma_config(**{key: value}))
        return str(info.value)

    assert message("gamma", 1.5) == "bad value for 'gamma': 1.5; allowed: a number in [0, 1]"
    assert message("lr", -1.0) == "bad value for 'lr': -1.0; allowed: a number > 0"
    assert message("t_max", -5) == "bad value for 't_max': -5; allowed: an integer >= 0"
    assert message("actor_lr", "fast") == "bad value for 'actor_lr': 'fast'; allowed: null (use lr) or a number > 0"
    assert message("mini_batches", 0) == "bad value for 'mini_batches': 0; allowed: an integer >= 1"


def test_rule_constructors():
    assert number(0, 1).allowed == "a number in [0, 1]" and number(0, 1).real
    assert positive().allowed == "a number > 0"
    assert number(0, 1, low_open=True).accepts(1) and not number(0, 1, low_open=True).accepts(0)
    assert integer(1).allowed == "an integer >= 1" and not integer(1).real
    assert integer(1, null="auto").allowed == "null (auto) or an integer >= 1" and integer(1, null="auto").accepts(None)
    assert not integer(1).accepts(None) and not integer(0).accepts(False) and not number(0).accepts(True)
    assert not text("x").accepts("") and text("x").accepts("a")


def yaml_numeric_keys(config_dir: str) -> dict[str, str]:
    """Dotted key -> the first yaml file that sets it to a number or null (null: type unknown)."""
    found: dict[str, str] = {}

    def walk(node: dict, prefix: str, source: str) -> None:
        for key, value in node.items():
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}.", source)
            elif value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
                found.setdefault(prefix + key, source)

    paths = [os.path.join(config_dir, "default.yaml")]
    for kind in ("envs", "algs"):  # the merge order
        paths += [os.path.join(config_dir, kind, f"{name}.yaml") for name in available(kind, config_dir)]
    for path in paths:
        with open(path) as f:
            walk(yaml.safe_load(f) or {}, "", os.path.relpath(path, config_dir))
    return found


def keys_without_rule(config_dir: str) -> list[str]:
    return sorted(
        f"{key} ({source})"
        for key, source in yaml_numeric_keys(config_dir).items()
        if key not in VALUE_RULES and key not in NO_RANGE
    )


def test_every_numeric_yaml_key_has_a_rule_or_an_exemption():
    missing = keys_without_rule(CONFIG_DIR)
    assert not missing, (
        f"numeric yaml keys without a value rule: {missing}; add one line to VALUE_RULES in "
        "src/experiment/config_checks.py (or to NO_RANGE with the reason it takes any number)"
    )


def test_the_rule_coverage_check_sees_new_keys(config_dir):
    """The test above on a config dir that gains a numeric key with no rule, at any level."""
    assert keys_without_rule(config_dir) == ["a (default.yaml)", "b (default.yaml)", "c (default.yaml)",
                                             "env_args.x (default.yaml)", "env_args.y (default.yaml)",
                                             "env_args.z (envs/toy.yaml)", "nested.p (default.yaml)",
                                             "nested.q (default.yaml)"]  # lr has a rule


def test_rules_name_existing_keys():
    """No stale rule: every ruled key is in some yaml, or free (sacred's seed, env_args.*)."""
    defined = set(yaml_numeric_keys(CONFIG_DIR))
    stale = [key for key in [*VALUE_RULES, *NO_RANGE] if key not in defined and key not in FREE_KEYS
             and not key.startswith(FREE_PREFIXES)]
    assert not stale, stale
    with open(os.path.join(CONFIG_DIR, "default.yaml")) as f:
        assert set(CHOICES) <= set(yaml.safe_load(f))


@pytest.mark.parametrize("alg", available("algs"))
@pytest.mark.parametrize("env", available("envs"))
def test_every_shipped_config_passes_the_checks(alg, env):
    config = load_config(alg, env)
    config["env_args"]["key"] = config["env_args"].get("key") or "lbforaging:Foraging-8x8-2p-3f-v3"
    check_config(config)


@pytest.mark.parametrize("key", sorted(CHOICES))
def test_choices_refuse_unknown_names(key):
    with pytest.raises(ConfigError) as info:
        check_choices(gymma_config(**{key: "nope"}))
    assert str(info.value) == f"bad value for '{key}': 'nope'; allowed: one of {', '.join(sorted(CHOICES[key]))}"
    with pytest.raises(ConfigError, match=f"bad value for '{key}': None"):
        check_choices(gymma_config(**{key: None}))


def test_check_choices_takes_the_args_namespace():
    check_choices(SimpleNamespace(**gymma_config()))
    with pytest.raises(ConfigError, match="'learner': 'nope'; allowed: one of happo_learner, lookahead_learner, ppo_learner"):
        check_choices(SimpleNamespace(**gymma_config(learner="nope")))


def requirement_error(config: dict) -> str:
    with pytest.raises(ConfigError) as info:
        check_requirements(config)
    return str(info.value)


def test_happo_needs_non_shared_agents():
    check_requirements(gymma_config("happo"))
    check_requirements(gymma_config("happo", agent="rnn_ns"))
    assert requirement_error(gymma_config("happo", agent="rnn")).startswith(
        "bad value for 'agent': 'rnn'; allowed: a non-shared agent (mlp_ns, rnn_ns) with learner=happo_learner"
    )
    assert requirement_error(gymma_config("happo", mac="basic_mac")).startswith(
        "bad value for 'mac': 'basic_mac'; allowed: non_shared_mac with learner=happo_learner"
    )


def test_non_shared_mac_needs_a_non_shared_agent():
    check_requirements(gymma_config("mappo_ns"))
    check_requirements(gymma_config("mappo", agent="rnn_ns"))  # basic_mac may drive per-agent networks
    assert requirement_error(gymma_config("mappo_ns", agent="mlp")).startswith(
        "bad value for 'agent': 'mlp'; allowed: a non-shared agent (mlp_ns, rnn_ns) with mac=non_shared_mac"
    )


def test_policy_gradient_learners_need_a_policy():
    assert requirement_error(gymma_config("mappo", agent_output_type="q")).startswith(
        "bad value for 'agent_output_type': 'q'; allowed: pi_logits with learner=ppo_learner"
    )


def test_segments_and_transition_minibatches_need_feed_forward_agents():
    check_requirements(gymma_config("happo", rollout_length=50, mini_batch_unit="transitions"))  # mlp_ns actors
    check_requirements(gymma_config("mappo", rollout_length=50, use_rnn=False))
    assert requirement_error(gymma_config("mappo", rollout_length=50)).startswith(
        "bad value for 'rollout_length': 50; allowed: 0 (whole episodes) with agent=rnn use_rnn=True"
    )
    assert requirement_error(gymma_config("happo", rollout_length=50, obs_last_action=True)).startswith(
        "bad value for 'rollout_length': 50"
    )
    assert requirement_error(gymma_config("mappo", mini_batch_unit="transitions")).startswith(
        "bad value for 'mini_batch_unit': 'transitions'; allowed: episodes or auto"
    )


def test_buffer_must_hold_a_batch():
    check_requirements(gymma_config(batch_size=8, buffer_size=8))
    assert requirement_error(gymma_config(batch_size=8, buffer_size=7)) == (
        "bad value for 'buffer_size': 7; allowed: an integer >= batch_size (8): each training batch is sampled "
        "from the buffer"
    )


def test_checkpoint_path_and_evaluate(tmp_path):
    assert requirement_error(gymma_config(evaluate=True)).startswith(
        "bad value for 'checkpoint_path': ''; allowed: a checkpoint directory when evaluate=True"
    )
    missing = str(tmp_path / "missing")
    assert requirement_error(gymma_config(checkpoint_path=missing)).startswith(
        f"bad value for 'checkpoint_path': '{missing}'; allowed: '' (start from scratch) or a directory"
    )
    (tmp_path / "not_a_step").mkdir()
    with pytest.raises(ConfigError, match="checkpoint_path"):
        check_requirements(gymma_config(checkpoint_path=str(tmp_path)))
    (tmp_path / "2000").mkdir()
    check_requirements(gymma_config(checkpoint_path=str(tmp_path), evaluate=True))


def test_resumed_from_names_a_run_and_needs_a_checkpoint(tmp_path):
    """``resumed_from`` / ``resumed_step`` (set by search.py's resume) come with a checkpoint and a run."""
    (tmp_path / "models" / "2000").mkdir(parents=True)
    run_dir = tmp_path / "sacred" / "mappo" / "toy" / "1"
    run_dir.mkdir(parents=True)
    resumed = dict(checkpoint_path=str(tmp_path / "models"), resumed_from=str(run_dir), resumed_step=2000)
    assert requirement_error(gymma_config(**{**resumed, "checkpoint_path": ""})).startswith(
        "bad value for 'resumed_from': '" + str(run_dir) + "'; allowed: '' with checkpoint_path=''")
    assert requirement_error(gymma_config(**resumed)).startswith(
        "bad value for 'resumed_from': '" + str(run_dir) + "'; allowed: '' or the directory of a sacred run")
    (run_dir / "run.json").write_text("{}")
    check_requirements(gymma_config(**resumed))
    assert requirement_error(gymma_config(**resumed, evaluate=True)).startswith(
        "bad value for 'resumed_from'")
    assert requirement_error(gymma_config(resumed_step=2000)) == (
        "bad value for 'resumed_step': 2000; allowed: 0 without resumed_from (the step belongs to the resumed run "
        "it names)")


def test_check_config_runs_values_before_combinations():
    """A bad type is reported as such, not as a crash of a combination check that compares it."""
    config = gymma_config(batch_size="many")
    with pytest.raises(ConfigError, match="bad value for 'batch_size': 'many'; allowed: an integer >= 1"):
        check_config(config)


# ------------------------------------------------------------------ overrides typed by the value rules
def test_rules_type_overrides_where_the_yaml_default_misleads():
    overrides = {"grad_norm_clip": 0.5, "target_update_interval_or_tau": 0.05, "actor_lr": 1, "seed": 3,
                 "env_args.n_agents": 2}
    config = apply_overrides(load_config("ippo_ns", "gymma"), overrides, VALUE_RULES)
    assert config["grad_norm_clip"] == 0.5 and config["target_update_interval_or_tau"] == 0.05  # ints in the yaml
    assert config["actor_lr"] == 1.0 and type(config["actor_lr"]) is float
    assert config["seed"] == 3 and config["env_args"]["n_agents"] == 2
    apply_overrides(config, {"actor_lr": "fast"}, VALUE_RULES)  # stored as given; check_values refuses it
    with pytest.raises(ConfigError, match="bad value for 'actor_lr': 'fast'"):
        check_values(config)
    with pytest.raises(ConfigError, match=r"unknown config key 'lrr'; did you mean: lr"):
        apply_overrides(config, {"lrr": 0.1}, VALUE_RULES)


def test_null_only_where_the_default_is_null(config):
    apply_overrides(config, {"env_args.key": None, "actor_lr": None})
    with pytest.raises(ConfigError, match=r"bad value for 'use_cuda': None is a NoneType, expected a bool"):
        apply_overrides(config, {"use_cuda": None})


# ------------------------------------------------------------------ nothing silently turns Lookahead into something else
def test_lookahead_refuses_settings_that_would_make_it_on_policy_or_unweighted():
    check_requirements(gymma_config("lookahead_mappo"))
    check_requirements(gymma_config("lookahead_mappo", lookahead=False, store_log_probs=False))  # the base learner
    assert requirement_error(gymma_config("lookahead_mappo", store_log_probs=False)).startswith(
        "bad value for 'store_log_probs': False; allowed: True with learner=lookahead_learner and lookahead=True"
    )
    assert requirement_error(gymma_config("lookahead_happo", advantage_estimator="nstep")).startswith(
        "bad value for 'advantage_estimator': 'nstep'; allowed: vtrace (the paper"
    )
    check_requirements(gymma_config("lookahead_happo", advantage_estimator="gae"))  # the authors' setting
    check_requirements(gymma_config("lookahead_happo", lka_weight_clip=2.0))
    check_requirements(gymma_config("lookahead_happo", lka_model="env", mlearn_steps=0))  # nothing to learn
    assert requirement_error(gymma_config("lookahead_happo", mlearn_steps=0)).startswith(
        "bad value for 'mlearn_steps': 0; allowed: an integer >= 1 with lka_model=learned"
    )
    assert requirement_error(gymma_config("lookahead_happo", lka_trust_region="mu", lka_weight_clip=2.0)).startswith(
        "bad value for 'lka_weight_clip': 2.0; allowed: null with lka_trust_region=mu"
    )


def test_the_imagined_runner_is_no_real_runner():
    with pytest.raises(ConfigError) as info:
        check_choices(gymma_config("lookahead_mappo", runner="imagined"))
    assert str(info.value) == "bad value for 'runner': 'imagined'; allowed: one of episode, parallel"


@pytest.mark.parametrize("env, overrides, key", [
    ("gymma", [], "mamujoco:HalfCheetah-2x3"),  # no env named: the paper's task
    ("toy_game", [], "toy"),
    ("mamujoco", ["env_args.key=mamujoco:Ant-2x4"], "mamujoco:Ant-2x4"),
    ("gymma", ["env_args.key=lbforaging:Foraging-8x8-2p-3f-v3"], "lbforaging:Foraging-8x8-2p-3f-v3"),
])
@pytest.mark.parametrize("alg", ["lookahead_happo", "lookahead_mappo", "lookahead_ippo", "happo_harl"])
def test_an_algorithms_default_env_applies_only_where_no_env_is_named(alg, env, overrides, key):
    config = main.build_config([f"--config={alg}", f"--env-config={env}", "with", *overrides])
    assert config["env_args"]["key"] == key
    if env == "gymma" and not overrides:
        assert config["env_args"]["time_limit"] == 1000
    if key.startswith("lbforaging"):
        assert config["env_args"]["time_limit"] == 100 and "norm_obs" not in config["env_args"]


def test_no_algorithm_file_carries_env_args():
    for alg in available("algs"):
        with open(os.path.join(CONFIG_DIR, "algs", f"{alg}.yaml")) as f:
            assert "env_args" not in yaml.safe_load(f), alg
