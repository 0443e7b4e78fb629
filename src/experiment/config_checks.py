"""What values the run configuration accepts: value ranges, registry names and combinations.

``main.py`` calls :func:`check_config` on the merged config before sacred creates a run
directory, so a value that cannot work stops with one line, e.g.
``bad value for 'gamma': 1.5; allowed: a number in [0, 1]``, and exit code 2. Three tables:

* ``VALUE_RULES``: the range (and type) of every numeric key, by dotted name
  (``env_args.time_limit``). A key whose yaml default is null gets a typed rule that says what
  null means (``actor_lr``: null (use lr) or a number > 0). Adding a key is one line here;
  ``tests/utils/test_config.py`` fails for a numeric yaml key with neither a rule nor an entry in
  ``NO_RANGE`` (a key that takes any real number, with the reason).
* ``CHOICES``: keys that name a registry entry or one of a few fixed words.
* ``REQUIREMENTS``: combinations that cannot work (HAPPO with a shared agent, a buffer smaller
  than the batch, evaluate without a checkpoint, ...).

Checks that need the env's spaces (a discrete-only selector on a continuous env) happen where the
env is built (``controllers.basic_controller``), inside the run.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from components.action_selectors import REGISTRY as selector_registry
from controllers import REGISTRY as mac_registry
from controllers.lookahead_controller import BASE_MACS
from envs import REGISTRY as env_registry
from experiment.build import LEARNER_BUILDERS
from experiment.lookahead import BASE_LEARNERS, IMAGINED_RUNNERS
from learners import REGISTRY as learner_registry
from learners.minibatches import MINI_BATCH_UNITS, needs_whole_episodes
from modules.agents import REGISTRY as agent_registry
from modules.critics import REGISTRY as critic_registry
from modules.mlp import ACTIVATIONS, INITS
from runners import REGISTRY as runner_registry
from utils.checkpoint import list_checkpoint_steps
from utils.config import Rule, bad_value, integer, number, positive, text
from utils.logging import WANDB_EXTRA, WANDB_MODES
from utils.returns import ADVANTAGE_ESTIMATORS


# Intervals in env steps may be 0: the event then happens after every batch of episodes.
VALUE_RULES: dict[str, Rule] = {
    # --- experiment wiring ---
    "seed": integer(0, 2**32 - 1),  # sacred's seed (a free key, in no yaml); numpy needs 32 bits
    "batch_size_run": integer(1),
    "env_workers": integer(0),  # 0: one worker per CPU core
    "rollout_length": integer(0),  # 0: whole episodes
    # --- testing and logging ---
    "test_nepisode": integer(1),
    "test_interval": integer(0),
    "log_interval": integer(0),
    "runner_log_interval": integer(0),
    "learner_log_interval": integer(0),
    "t_max": integer(0),
    "torch_threads": integer(1),
    "learner_threads": integer(0),  # 0: every CPU the run holds
    "save_model_interval": integer(0),
    "load_step": integer(0),  # 0: the latest checkpoint
    "save_model_keep": integer(0),  # 0: keep every checkpoint
    "resumed_step": integer(0),
    # --- RL hyper-parameters ---
    "gamma": number(0, 1),
    "batch_size": integer(1),
    "buffer_size": integer(1),
    "lr": positive(),
    "actor_lr": positive(null="use lr"),
    "critic_lr": positive(null="use lr"),
    "adam_eps": positive(),  # 0 divides 0 by 0 where a gradient's second moment is 0
    "grad_norm_clip": positive(),  # 0 would zero every gradient
    # --- networks ---
    "hidden_dim": integer(1),
    "hidden_layers": integer(1),
    "init_agent_output_gain": positive(),
    # --- continuous actions ---
    "std_scale": positive(),
    # --- exploration ---
    "epsilon_start": number(0, 1),
    "epsilon_finish": number(0, 1),
    "epsilon_anneal_time": integer(0),  # 0: epsilon_finish from the start
    # --- actor-critic learners ---
    "epochs": integer(1),
    "mini_batches": integer(1),
    "huber_delta": positive(),
    "value_clip": number(0),  # 0: off
    "eps_clip": positive(),
    "entropy_coef": number(0),
    "q_nstep": integer(1),
    "gae_lambda": number(0, 1),
    "target_update_interval_or_tau": positive(),  # <= 1: soft rate; > 1: hard-update period
    "ppo_updates_per_batch": integer(1),
    # --- Lookahead ---
    "lka_horizon": integer(1),
    "lka_rollouts": integer(1),
    "lka_epochs": integer(1),
    "lka_mini_batches": integer(1),
    "lka_entropy_coef": number(0),
    "lka_steps": integer(1),
    "lka_warmup_steps": integer(0),
    "lka_weight_clip": positive(null="no truncation of pi^k / mu"),
    "mlearn_steps": integer(0),
    "model_n_models": integer(1),
    "model_hidden_dim": integer(1),
    "model_hidden_layers": integer(1),
    "model_lr": positive(),
    "model_batch_size": integer(1),
    "model_buffer_size": integer(1),
    "model_early_stop_interval": integer(1),
    "model_early_stop_patience": integer(1),
    "model_early_stop_tolerance": Rule("a number in [0, 1)", lambda value: number(0, 1).accepts(value) and value < 1,
                                       real=True),
    # --- EPyMARL's sweep keys (no effect on training) ---
    "hypergroup": Rule("null or a string naming the sweep combination",
                       lambda value: value is None or isinstance(value, str)),
    "repeat_id": integer(0),
    # --- Weights & Biases ---
    "wandb_team": text("the W&B entity (team or user)", null="the account's default entity"),
    "wandb_project": text("the W&B project", null="the project 'lookahead'"),
    # --- env_args (the env checks the rest when it is built) ---
    "env_args.key": text("an env key such as lbforaging:Foraging-8x8-2p-3f-v3, a gymnasium id or pz:<module>"),
    "env_args.time_limit": integer(1),
    "env_args.n_agents": integer(1, null="the scenario's default"),
    "env_args.agent_obsk": integer(0),
    "default_env_args.time_limit": integer(1),
}

# Numeric (or null-default) yaml keys that deliberately have no range, and why.
NO_RANGE: dict[str, str] = {
    "std_init_param": "any real p: std = sigmoid(p) * std_scale lies in (0, std_scale) for every p",
    "action_mean_init": "any real: the policy's initial mean (the env clips actions to its bounds)",
    "env_args.pretrained_wrapper": "must stay null; the gymma env refuses anything else (EnvArgsError)",
}

REAL_KEYS = frozenset(key for key, rule in VALUE_RULES.items() if rule.real)


def _lookup(config: Mapping[str, Any], dotted: str) -> tuple[bool, Any]:
    """``(True, value)`` of a dotted key in ``config``, or ``(False, None)`` if it is absent."""
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def check_values(config: Mapping[str, Any]) -> None:
    """Every key of ``VALUE_RULES`` present in ``config`` holds an accepted value."""
    for key, rule in VALUE_RULES.items():
        present, value = _lookup(config, key)
        if present and not rule.accepts(value):
            raise bad_value(key, value, rule.allowed)


# ------------------------------------------------------------------ names
POLICY_GRADIENT_LEARNERS = tuple(BASE_LEARNERS)

CHOICES: dict[str, Collection[str]] = {
    "runner": runner_registry,  # runners of a real env only
    "mac": mac_registry,
    "env": env_registry,
    "learner": {**learner_registry, **LEARNER_BUILDERS},
    "agent": agent_registry,
    "critic_type": critic_registry,
    "action_selector": selector_registry,
    "advantage_estimator": ADVANTAGE_ESTIMATORS,
    "reward_scalarisation": ("mean", "sum"),
    "value_loss": ("huber", "mse"),
    "agent_output_type": ("pi_logits", "q"),
    "activation": ACTIVATIONS,
    "init": INITS,
    "mini_batch_unit": MINI_BATCH_UNITS,
    "vtrace_ratio": ("joint", "per_agent"),
    "lka_base_learner": POLICY_GRADIENT_LEARNERS,
    "lka_base_mac": BASE_MACS,
    "lka_runner": IMAGINED_RUNNERS,
    "lka_model": ("learned", "env"),
    "lka_trust_region": ("pi_k", "mu"),
    "wandb_mode": WANDB_MODES,
}


def check_choices(config: Mapping[str, Any] | SimpleNamespace) -> None:
    """Every key of ``CHOICES`` names a registry entry or allowed word. Takes the config dict, or
    the args namespace ``run.make_args`` builds (it checks again for code that calls ``run``)."""
    values = vars(config) if isinstance(config, SimpleNamespace) else config
    for key, choices in CHOICES.items():
        value = values[key]
        if not (isinstance(value, str) and value in choices):
            raise bad_value(key, value, f"one of {', '.join(sorted(choices))}")


# ------------------------------------------------------------------ combinations
@dataclass(frozen=True)
class Requirement:
    """Where ``applies(config)``, ``holds(config)`` must be true, else ``key`` has a bad value;
    ``allowed`` is formatted with the config (``{batch_size}``)."""

    key: str
    applies: Callable[[Mapping[str, Any]], bool]
    holds: Callable[[Mapping[str, Any]], bool]
    allowed: str


NON_SHARED_AGENTS = ", ".join(sorted(name for name in agent_registry if name.endswith("_ns")))


def _is_lookahead(config: Mapping[str, Any]) -> bool:
    return config["learner"] == "lookahead_learner"


def _base(config: Mapping[str, Any], key: str) -> str:
    """The learner / mac that does the work: Lookahead's base one, else the configured one."""
    return config[f"lka_base_{key}"] if _is_lookahead(config) else config[key]


def _is_happo(config: Mapping[str, Any]) -> bool:
    return _base(config, "learner") == "happo_learner"


def _feed_forward(config: Mapping[str, Any]) -> bool:
    """Agents whose input at step t depends on step t only (no GRU, no previous action)."""
    return not needs_whole_episodes(SimpleNamespace(**config))


def _holds_checkpoints(path: str) -> bool:
    return os.path.isdir(path) and bool(list_checkpoint_steps(path))


def _wandb_installed() -> bool:
    """Whether ``import wandb`` would find the package (without the cost of importing it)."""
    return importlib.util.find_spec("wandb") is not None


REQUIREMENTS: tuple[Requirement, ...] = (
    Requirement(
        "agent", _is_happo, lambda c: c["agent"].endswith("_ns"),
        f"a non-shared agent ({NON_SHARED_AGENTS}) with learner=happo_learner, which updates each agent's "
        "own parameters in turn",
    ),
    Requirement(
        "mac", lambda c: _is_happo(c) and not _is_lookahead(c), lambda c: c["mac"] == "non_shared_mac",
        "non_shared_mac with learner=happo_learner (one network per agent)",
    ),
    Requirement(
        "lka_base_mac", lambda c: _is_happo(c) and _is_lookahead(c), lambda c: c["lka_base_mac"] == "non_shared_mac",
        "non_shared_mac with lka_base_learner=happo_learner (one network per agent)",
    ),
    Requirement(
        "agent", lambda c: _base(c, "mac") == "non_shared_mac", lambda c: c["agent"].endswith("_ns"),
        f"a non-shared agent ({NON_SHARED_AGENTS}) with mac=non_shared_mac",
    ),
    Requirement(
        "mac", _is_lookahead, lambda c: c["mac"] == "lookahead_mac",
        "lookahead_mac with learner=lookahead_learner (it holds the real and the lookahead policies)",
    ),
    Requirement(
        "store_log_probs", lambda c: _is_lookahead(c) and c["lookahead"], lambda c: c["store_log_probs"],
        "True with learner=lookahead_learner and lookahead=True: the real update weighs by pi^k / mu with the "
        "sampler pi~'s stored log-probs (without them mu would silently be pi^k and the update on-policy)",
    ),
    Requirement(
        "advantage_estimator", lambda c: _is_lookahead(c) and c["lookahead"],
        lambda c: c["advantage_estimator"] in ("vtrace", "gae"),
        "vtrace (the paper: the advantage of pi^k from pi~'s data) or gae (the authors' released code, no "
        "off-policy correction) with learner=lookahead_learner",
    ),
    Requirement(
        "mlearn_steps", lambda c: _is_lookahead(c) and c["lookahead"] and c["lka_model"] == "learned",
        lambda c: c["mlearn_steps"] >= 1,
        "an integer >= 1 with lka_model=learned: a model that never trains imagines nothing of the env",
    ),
    Requirement(
        "lka_weight_clip", lambda c: c["lka_trust_region"] == "mu", lambda c: c["lka_weight_clip"] is None,
        "null with lka_trust_region=mu, whose ratio pi / mu carries no separate weight to truncate",
    ),
    Requirement(
        "agent", lambda c: _is_lookahead(c) and c["lookahead"], _feed_forward,
        "a feed-forward agent (mlp, mlp_ns or use_rnn=False, obs_last_action=False) with Lookahead: imagined "
        "rollouts start mid-episode, where a recurrent agent's memory of the real episode is not available",
    ),
    Requirement(
        "agent_output_type", lambda c: _base(c, "learner") in POLICY_GRADIENT_LEARNERS,
        lambda c: c["agent_output_type"] == "pi_logits",
        "pi_logits with learner={learner}: a policy-gradient learner needs a policy, not action values",
    ),
    Requirement(
        "rollout_length", lambda c: c["rollout_length"] > 0, _feed_forward,
        "0 (whole episodes) with agent={agent} use_rnn={use_rnn} obs_last_action={obs_last_action}: segments start "
        "mid-episode, so they need feed-forward agents (mlp, mlp_ns or use_rnn=False) with obs_last_action=False",
    ),
    Requirement(
        "mini_batch_unit", lambda c: c["mini_batch_unit"] == "transitions", _feed_forward,
        "episodes or auto with agent={agent} use_rnn={use_rnn} obs_last_action={obs_last_action}: shuffled "
        "transitions need feed-forward agents (mlp, mlp_ns or use_rnn=False) with obs_last_action=False",
    ),
    Requirement(
        "buffer_size", lambda c: True, lambda c: c["buffer_size"] >= c["batch_size"],
        "an integer >= batch_size ({batch_size}): each training batch is sampled from the buffer",
    ),
    Requirement(
        "checkpoint_path", lambda c: c["evaluate"], lambda c: bool(c["checkpoint_path"]),
        "a checkpoint directory when evaluate=True (the model to evaluate)",
    ),
    Requirement(
        "checkpoint_path", lambda c: bool(c["checkpoint_path"]), lambda c: _holds_checkpoints(c["checkpoint_path"]),
        "'' (start from scratch) or a directory holding <t_env>/ model directories (results/models/<token>/)",
    ),
    Requirement(
        "resumed_from", lambda c: bool(c["resumed_from"]), lambda c: bool(c["checkpoint_path"]),
        "'' with checkpoint_path='': a resumed run continues from a checkpoint of the run it names",
    ),
    Requirement(
        "resumed_from", lambda c: bool(c["resumed_from"]),
        lambda c: os.path.isfile(os.path.join(c["resumed_from"], "run.json")),
        "'' or the directory of a sacred run (holding run.json), the run this one resumes",
    ),
    Requirement(
        "resumed_from", lambda c: bool(c["resumed_from"]), lambda c: not c["evaluate"],
        "'' with evaluate=True: an evaluation resumes no training",
    ),
    Requirement(
        "resumed_step", lambda c: c["resumed_step"] > 0, lambda c: bool(c["resumed_from"]),
        "0 without resumed_from (the step belongs to the resumed run it names)",
    ),
    Requirement(
        "use_wandb", lambda c: c["use_wandb"], lambda c: _wandb_installed(),
        f"False, or True once wandb is installed: {WANDB_EXTRA}",
    ),
)


def check_requirements(config: Mapping[str, Any]) -> None:
    """Every combination in ``REQUIREMENTS`` that applies to ``config`` holds."""
    for requirement in REQUIREMENTS:
        if requirement.applies(config) and not requirement.holds(config):
            allowed = requirement.allowed.format_map(config)
            raise bad_value(requirement.key, config[requirement.key], allowed)


def check_config(config: Mapping[str, Any]) -> None:
    """Every check that needs only the config: values, then names, then combinations (each later
    stage relies on the types the earlier ones established). Raises :class:`ConfigError`."""
    check_values(config)
    check_choices(config)
    check_requirements(config)
