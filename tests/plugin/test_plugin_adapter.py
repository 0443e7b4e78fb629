"""The adapter against our core: EPyMARL's batch conventions converted, behaviour log-probs
recomputed as the sampler had them, EPyMARL-shaped args completed and checked, and a Lookahead
update (with its imagined update) on episodes of a real env written the way EPyMARL's runner writes them."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
import yaml

from components.episode_buffer import EpisodeBatch
from components.transforms import OneHot
from envs import REGISTRY as env_registry
from lookahead_epymarl.runtime.batch import core_batch, store_behaviour_log_probs
from lookahead_epymarl.runtime.controller import PluginMAC
from lookahead_epymarl.runtime.learner import PluginLearner
from tests.plugin.conftest import REPO
from utils.config import ConfigError

LBF = "lbforaging:Foraging-8x8-2p-3f-v3"
TIME_LIMIT = 8


def epymarl_scheme(n_agents: int, n_actions: int, obs_dim: int, state_dim: int) -> tuple[dict, dict, dict]:
    """EPyMARL's run.py scheme (discrete actions as long (1,), a team reward), groups and preprocess."""
    scheme = {
        "state": {"vshape": state_dim},
        "obs": {"vshape": obs_dim, "group": "agents"},
        "actions": {"vshape": (1,), "group": "agents", "dtype": torch.long},
        "avail_actions": {"vshape": (n_actions,), "group": "agents", "dtype": torch.int},
        "terminated": {"vshape": (1,), "dtype": torch.uint8},
        "reward": {"vshape": (1,)},
    }
    return scheme, {"agents": n_agents}, {"actions": ("actions_onehot", [OneHot(out_dim=n_actions)])}


def epymarl_args(algorithm: str, env_info: dict, **overrides) -> SimpleNamespace:
    """The namespace EPyMARL's run.py hands components: the merged config plus the env sizes and device."""
    with open(REPO / "lookahead_epymarl" / "algs" / f"{algorithm}.yaml") as f:
        config = yaml.safe_load(f)
    config.update(
        env="gymma", env_args={"key": LBF, "time_limit": TIME_LIMIT, "pretrained_wrapper": None, "seed": 3},
        seed=3, device="cpu", common_reward=True, reward_scalarisation="sum", test_greedy=True,
        learner_log_interval=0, use_cuda=False, n_agents=env_info["n_agents"], n_actions=env_info["n_actions"],
        state_shape=env_info["state_shape"], batch_size_run=2, batch_size=2, buffer_size=2, hidden_dim=16,
        lka_warmup_steps=0, lka_rollouts=16, lka_horizon=3, lka_epochs=1, lka_mini_batches=1, mlearn_steps=5,
        model_hidden_dim=16, model_hidden_layers=1, model_batch_size=16,
    )
    config.update(overrides)
    return SimpleNamespace(**config)


def test_conversion_marks_transitions_and_reads_time_limit_ends_as_truncations():
    """Episode 0 hit the time limit (4 steps), episode 1 terminated after 2: EPyMARL marks steps
    0..L filled and stores both ends as terminations."""
    scheme, groups, preprocess = epymarl_scheme(n_agents=2, n_actions=3, obs_dim=2, state_dim=4)
    epymarl = EpisodeBatch(scheme, groups, 2, 5, preprocess=preprocess)
    epymarl.update({"obs": torch.arange(40.0).view(2, 5, 2, 2), "actions": torch.tensor([1, 2]).repeat(2, 5, 1)})
    epymarl.update({"filled": torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])}, mark_filled=False)
    epymarl.update({"terminated": torch.tensor([[0, 0, 0, 1, 0], [0, 1, 0, 0, 0]])}, mark_filled=False)

    converted = core_batch(epymarl, scheme, groups, preprocess, episode_limit=4)
    assert converted["filled"][..., 0].tolist() == [[1, 1, 1, 1, 0], [1, 1, 0, 0, 0]]
    assert converted["terminated"][..., 0].tolist() == [[0, 0, 0, 0, 0], [0, 1, 0, 0, 0]]
    assert torch.equal(converted["obs"], epymarl["obs"])  # the final observations stay in place
    assert converted["actions_onehot"][0, 0].tolist() == [[0, 1, 0], [0, 0, 1]]
    kept = core_batch(epymarl, scheme, groups, preprocess, episode_limit=None)  # no time limit known
    assert kept["terminated"][..., 0].tolist() == [[0, 0, 0, 1, 0], [0, 1, 0, 0, 0]]


def roll_as_epymarl(mac: PluginMAC, envs: list, new_batch) -> tuple[EpisodeBatch, torch.Tensor]:
    """Episodes written as EPyMARL's parallel runner writes them (final slot filled, every end a
    termination), acting through ``mac``; also the log-probs the acting policy had ``[B, T, n]``."""
    batch = new_batch()
    for b, env in enumerate(envs):
        env.reset()
        batch.update({"state": env.get_state(), "obs": env.get_obs(), "avail_actions": env.get_avail_actions()}, bs=b, ts=0)
    mac.init_hidden(len(envs))
    sampled = torch.zeros(len(envs), batch.max_seq_length, mac.args.n_agents)
    active = list(range(len(envs)))
    t = 0
    while active:
        actions = mac.select_actions(batch, t_ep=t, t_env=0, bs=active)
        with torch.no_grad():  # log pi~(a): the lookahead policy acts in training (a feed-forward one here)
            acting = mac.core.lookahead
            policy = acting.policy_distribution(acting.forward(batch, t)[active])
            sampled[active, t] = policy.log_prob(actions.unsqueeze(-1))
        batch.update({"actions": actions.unsqueeze(1)}, bs=active, ts=t, mark_filled=False)
        still = []
        for row, b in enumerate(active):
            _, reward, terminated, truncated, _ = envs[b].step(actions[row].tolist())
            batch.update({"reward": [(reward,)], "terminated": [(terminated or truncated,)]}, bs=b, ts=t, mark_filled=False)
            batch.update({"state": envs[b].get_state(), "obs": envs[b].get_obs(),
                          "avail_actions": envs[b].get_avail_actions()}, bs=b, ts=t + 1)
            if not (terminated or truncated):
                still.append(b)
        active, t = still, t + 1
    return batch, sampled


@pytest.fixture(scope="module")
def lbf():
    envs = [env_registry["gymma"](key=LBF, time_limit=TIME_LIMIT, seed=3 + i) for i in range(2)]
    yield envs, envs[0].get_env_info()
    for env in envs:
        env.close()


class RecordingLogger:
    def __init__(self) -> None:
        self.stats: dict[str, list[tuple[int, float]]] = {}

    def log_stat(self, key: str, value: float, t: int) -> None:
        self.stats.setdefault(key, []).append((t, value))


@pytest.mark.parametrize("algorithm", ["lookahead_mappo", "lookahead_happo"])
def test_lookahead_trains_on_epymarl_episodes_of_lbf(lbf, algorithm):
    envs, info = lbf
    args = epymarl_args(algorithm, info)
    scheme, groups, preprocess = epymarl_scheme(info["n_agents"], info["n_actions"], info["obs_shape"], info["state_shape"])
    buffer_scheme = EpisodeBatch(scheme, groups, 1, 1, preprocess=preprocess).scheme
    mac = PluginMAC("lookahead_mac", buffer_scheme, groups, args)
    logger = RecordingLogger()
    learner = PluginLearner("lookahead_learner", mac, buffer_scheme, logger, args)
    new_batch = lambda: EpisodeBatch(scheme, groups, 2, TIME_LIMIT + 1, preprocess=preprocess)  # noqa: E731

    torch.manual_seed(0)
    for t_env in (0, 2 * TIME_LIMIT):
        epymarl, _ = roll_as_epymarl(mac, envs, new_batch)
        converted = core_batch(epymarl, learner.scheme, learner.groups, learner.preprocess, TIME_LIMIT)
        assert converted["terminated"].sum() == 0  # LBF episodes end at the time limit here: truncations
        stats = learner.train(epymarl, t_env, 0)
    diagnostics = ("kl_gap", "rho_mean", "imagined_return", "lka_pg_loss", "model_loss", "pg_loss", "critic_loss")
    for key in diagnostics:  # (model_val_reward_r2 is undefined, NaN, while LBF has paid no reward yet)
        assert key in logger.stats, f"{key} not logged through EPyMARL's logger; logged: {sorted(logger.stats)}"
        assert all(torch.isfinite(torch.tensor(value)) for _, value in logger.stats[key]), (key, logger.stats[key])


def test_recomputed_behaviour_log_probs_are_the_samplers(lbf):
    envs, info = lbf
    args = epymarl_args("lookahead_mappo", info)
    scheme, groups, preprocess = epymarl_scheme(info["n_agents"], info["n_actions"], info["obs_shape"], info["state_shape"])
    buffer_scheme = EpisodeBatch(scheme, groups, 1, 1, preprocess=preprocess).scheme
    mac = PluginMAC("lookahead_mac", buffer_scheme, groups, args)
    learner = PluginLearner("lookahead_learner", mac, buffer_scheme, RecordingLogger(), args)
    with torch.no_grad():  # make pi~ differ from pi, so taking the wrong one would show
        for parameter in mac.core.lookahead.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    epymarl, sampled = roll_as_epymarl(mac, envs, lambda: EpisodeBatch(scheme, groups, 2, TIME_LIMIT + 1, preprocess=preprocess))
    converted = core_batch(epymarl, learner.scheme, learner.groups, learner.preprocess, TIME_LIMIT)
    store_behaviour_log_probs(converted, mac.behaviour)
    assert torch.allclose(converted["log_prob"][:, :TIME_LIMIT, :, 0], sampled[:, :TIME_LIMIT], atol=1e-5)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"buffer_size": 4}, "bad value for 'buffer_size': 4; allowed: batch_size_run (2)"),
        ({"learner": "ppo_learner"}, "bad value for 'learner': 'ppo_learner'; allowed: one of lookahead_learner, happo_learner"),
        ({"agent": "rnn", "use_rnn": True}, "bad value for 'agent': 'rnn'; allowed: a feed-forward agent"),
    ],
    ids=["stale-buffer", "epymarl-learner", "recurrent-lookahead"],
)
def test_bad_settings_are_refused_with_one_line(lbf, overrides, message):
    _, info = lbf
    scheme, groups, preprocess = epymarl_scheme(info["n_agents"], info["n_actions"], info["obs_shape"], info["state_shape"])
    with pytest.raises(ConfigError) as error:
        PluginMAC("lookahead_mac", EpisodeBatch(scheme, groups, 1, 1, preprocess=preprocess).scheme, groups,
                  epymarl_args("lookahead_mappo", info, **overrides))
    assert message in str(error.value) and "\n" not in str(error.value)
