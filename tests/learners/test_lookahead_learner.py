"""``learners.lookahead_learner.LookaheadLearner`` in-process, on small hand-built batches.

* ``lookahead: False``, and the warm-up of ``lookahead: True``, are the base learner number for
  number: same learner state after a ``train`` call, same torch random stream after it;
* HAPPO under Lookahead: ratio and factor M against the stored behaviour log-probs mu, V-trace
  with the joint log rho = sum_i (log pi^k_i - log mu_i), checked against hand-written formulas;
* the imagined update leaves the real learner alone, and the sync is a deep copy;
* checkpoints round-trip every part (model, lookahead actors and learner, real_steps).
"""

from __future__ import annotations

import copy
from dataclasses import replace
import math
from typing import Any

import pytest
import torch

from components.env_info import EnvInfo
from components.episode_buffer import EpisodeBatch
from components.scheme import build_scheme
from controllers import REGISTRY as mac_registry
from experiment.build import build_learner
from tests.factories import FakeLogger, make_test_args
import utils.compiling as compiling
from utils.finite_checks import NonFiniteError
from utils.logging import as_floats

N_AGENTS, ACTION_DIM, OBS_DIM, STATE_DIM, EPISODE_LIMIT = 2, 3, 4, 6, 5
LENGTHS = (5, 3, 4, 5, 2, 5)  # full-length rows (bootstrapped) and rows that terminate earlier
SMALL = {
    "hidden_dim": 16, "epochs": 2, "mini_batches": 2, "lka_epochs": 2, "lka_mini_batches": 2,
    "lka_rollouts": 8, "lka_horizon": 3, "mlearn_steps": 5, "model_hidden_dim": 16, "model_hidden_layers": 2,
    "model_batch_size": 16, "lka_warmup_steps": 0, "learner_log_interval": 0,
}


def env_info(kind: str) -> dict:
    """A made-up env: no ``state_to_obs``, so the model predicts the observations too."""
    info = {
        "n_agents": N_AGENTS, "obs_shape": OBS_DIM, "state_shape": STATE_DIM, "n_actions": ACTION_DIM,
        "episode_limit": EPISODE_LIMIT, "action_kind": kind,
    }
    if kind == "continuous":
        info["action_low"] = [[-1.0] * ACTION_DIM] * N_AGENTS
        info["action_high"] = [[1.0] * ACTION_DIM] * N_AGENTS
    return info


def build(kind: str = "continuous", alg: str = "lookahead_happo", seed: int = 0, **overrides) -> tuple[Any, Any]:
    """A learner of ``alg`` (its yaml + ``SMALL`` + ``overrides``) and its args, built as ``run.py`` does."""
    info = env_info(kind)
    args = make_test_args(info, alg=alg, **{**SMALL, **overrides})
    scheme, groups, preprocess = build_scheme(info, args)
    buffer_scheme = EpisodeBatch(scheme, groups, 1, 2, preprocess=preprocess).scheme
    torch.manual_seed(seed)
    mac = mac_registry[args.mac](buffer_scheme, groups, args)
    return build_learner(mac, buffer_scheme, FakeLogger(), args, EnvInfo.from_env(info)), args


def acting_controller(learner: Any) -> Any:
    """The controller that samples training data (pi~ under Lookahead, else the learner's own)."""
    return learner.mac.lookahead if hasattr(learner.mac, "lookahead") else learner.mac


def make_batch(args: Any, sampler: Any, seed: int = 0, lengths: tuple[int, ...] = LENGTHS) -> EpisodeBatch:
    """Rows of ``lengths`` (the short ones terminate), random observations, rewards and actions,
    with ``log_prob`` the log-probs of ``sampler`` (a controller) as a runner would store them."""
    info = env_info(args.test_action_kind)
    scheme, groups, preprocess = build_scheme(info, args)
    batch = EpisodeBatch(scheme, groups, len(lengths), EPISODE_LIMIT + 1, preprocess=preprocess)
    g = torch.Generator().manual_seed(seed)
    for b, length in enumerate(lengths):
        if args.test_action_kind == "discrete":
            actions = torch.randint(ACTION_DIM, (length, N_AGENTS, 1), generator=g)
        else:
            actions = 0.1 + 0.4 * torch.randn(length, N_AGENTS, ACTION_DIM, generator=g)
        batch.update(
            {
                "obs": torch.randn(length + 1, N_AGENTS, OBS_DIM, generator=g),
                "state": torch.randn(length + 1, STATE_DIM, generator=g),
                "avail_actions": torch.ones(length + 1, N_AGENTS, ACTION_DIM, dtype=torch.int),
            },
            bs=b, ts=slice(0, length + 1), mark_filled=False,
        )
        terminated = torch.zeros(length, 1)
        terminated[-1] = float(length < EPISODE_LIMIT)
        rewards = torch.randn(length, 1, generator=g)
        batch.update({"actions": actions, "reward": rewards, "terminated": terminated}, bs=b, ts=slice(0, length))
    with torch.no_grad():
        policy = sampler.policy_distribution(sampler.unroll(batch))
        log_probs = policy.log_prob(batch["actions"][:, :-1]) * batch["filled"][:, :-1]
    batch.update({"log_prob": log_probs.unsqueeze(-1)}, ts=slice(0, EPISODE_LIMIT), mark_filled=False)
    return batch


def snapshot(learner: Any) -> dict:
    """A deep copy of a base learner's state and of its actors' weights."""
    return copy.deepcopy({"learner": learner.state_dict(), "actors": learner.mac.agent.state_dict()})


def assert_same(a: Any, b: Any, path: str = "") -> None:
    """Nested dicts / lists of tensors and numbers are equal, tensors bit for bit."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b), f"differs at {path}"
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), f"keys differ at {path}: {sorted(a)} vs {sorted(b)}"
        for key in a:
            assert_same(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), f"lengths differ at {path}"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{path}[{i}]")
    else:
        assert a == b, f"differs at {path}: {a!r} vs {b!r}"


def differs(a: Any, b: Any) -> bool:
    """Whether :func:`assert_same` would fail."""
    try:
        assert_same(a, b)
    except AssertionError:
        return True
    return False


# --- lookahead: False and the warm-up are the base learner ---------------------------------------
@pytest.mark.parametrize("kind", ["discrete", "continuous"])
@pytest.mark.parametrize(
    "lookahead_overrides",
    [{"lookahead": False}, {"lookahead": True, "lka_warmup_steps": 10**9}],
    ids=["lookahead-off", "warm-up"],
)
def test_off_and_warm_up_reproduce_the_base_learner(kind, lookahead_overrides):
    """Two train calls on the same batches from the same seed: the real learner's state, its actors,
    the acting policy and the torch random stream equal plain HAPPO's (V-trace on stored log-probs)."""
    lookahead, _ = build(kind, **lookahead_overrides)
    base, base_args = build(kind, alg="happo", advantage_estimator="vtrace", store_log_probs=True)
    for call in range(2):
        results = []
        for learner in (lookahead, base):
            batch = make_batch(base_args, acting_controller(learner), seed=call)
            torch.manual_seed(100 + call)
            learner.train(batch, t_env=100 * (call + 1), episode_num=call)
            results.append((torch.get_rng_state(), acting_controller(learner).agent.state_dict()))
        assert_same(snapshot(lookahead.real), snapshot(base))
        assert torch.equal(results[0][0], results[1][0]), "the lookahead parts drew from the run's random stream"
        assert_same(results[0][1], results[1][1])  # training episodes act with pi (= pi~) in both


# --- HAPPO's ratio, weight, factor M and V-trace against the stored mu -------------------------------
@pytest.mark.parametrize("trust_region", ["pi_k", "mu"])
def test_happo_real_update_by_hand(trust_region):
    """Two agents, one 3-step episode that terminates, agent order [1, 0], one epoch, one mini-batch,
    raw advantages. The stored mu differs from pi^k (~1/3 per action at init):
    * V-trace's value target v_t uses the joint log rho_t = sum_i log pi^k_i(a) - log mu_i(a);
    * the policy advantage is A_t = r_t + g (1 - term_t) V_{t+1} - V_t + g l (1 - end_t)(v_{t+1} - V_{t+1}),
      with no rho_t (hand-computed below);
    * ``pi_k``: the ratio is pi / pi^k (1 at the first step: nothing clipped) and the weight
      w = pi^k / mu; ``mu``: the ratio is pi / mu (clipped on every step), no weight;
    * agent 0's factor is M = pi^1_new(a^1) / mu^1(a^1), not pi^1_new / pi^1_k."""
    learner, args = build(
        "discrete", epochs=1, mini_batches=1, normalise_advantages=False, standardise_returns=False,
        lka_warmup_steps=10**9, mlearn_steps=1, gamma=0.9, gae_lambda=0.8, eps_clip=0.2,
        lka_trust_region=trust_region, entropy_coef=0.0,
    )
    real = learner.real
    real.agent_order = lambda: [1, 0]
    batch = make_batch(args, learner.mac.real, lengths=(3,))
    mu = torch.tensor([[0.6, 0.2], [0.5, 0.9], [0.1, 0.15]])  # [T, agents], far from 1/3
    batch.transition_data["log_prob"][0, :3, :, 0] = mu.log()
    actions = batch["actions"][0, :3, :, 0]  # [T, agents]
    rewards = batch["reward"][0, :3, 0]
    with torch.no_grad():
        probs_k = learner.mac.real.unroll(batch)[0, :3]  # [T, agents, n_actions]
    pi_k = probs_k.gather(-1, actions.unsqueeze(-1))[..., 0]  # [T, agents]

    estimator_calls, agent_calls = [], []
    estimator = real.advantage_estimator

    def spy_estimator(*args_, **kwargs):
        result = estimator(*args_, **kwargs)
        estimator_calls.append((args_, kwargs, result))
        return result

    agent_step = real._agent_step

    def spy_agent_step(agent, mb_batch, acts, advantages, start, behaviour, mask, factor):
        stats = agent_step(agent, mb_batch, acts, advantages, start, behaviour, mask, factor)
        agent_calls.append({"agent": agent, "advantages": advantages.clone(), "start": start.clone(),
                            "behaviour": behaviour.clone(), "factor": factor.clone(), "stats": as_floats(stats)})
        return stats

    real.advantage_estimator, real._agent_step = spy_estimator, spy_agent_step
    stats = learner.train(batch, t_env=10, episode_num=0)

    # V-trace's value target with the joint log rho, and the policy advantage without rho_t, by hand
    (positional, kwargs, (advantages, targets)) = estimator_calls[0]
    log_rho = (pi_k.log() - mu.log()).sum(-1)  # [T]
    torch.testing.assert_close(kwargs["log_rho"][0, :3, 0], log_rho)
    bootstrap = kwargs["target_values"][0, :4]  # [T + 1, agents]: Vhat, what V-trace bootstraps with
    values = positional[1][0, :4]  # V, what the advantage subtracts
    gamma, lam = 0.9, 0.8
    rho = log_rho.exp().clamp(max=1.0)
    vtrace = torch.zeros(3, N_AGENTS)
    running = torch.zeros(N_AGENTS)
    for t in reversed(range(3)):
        not_end = 0.0 if t == 2 else 1.0  # the episode terminates at t = 2
        delta = rho[t] * (rewards[t] + gamma * not_end * bootstrap[t + 1] - bootstrap[t])
        running = delta + gamma * lam * rho[t] * not_end * running
        vtrace[t] = running
    v = vtrace + bootstrap[:3]
    torch.testing.assert_close(targets[0, :3], v, rtol=1e-5, atol=1e-6)
    expected = torch.zeros(3, N_AGENTS)
    for t in range(3):
        not_end = 0.0 if t == 2 else 1.0
        correction = (v[t + 1] - bootstrap[t + 1]) if t < 2 else torch.zeros(N_AGENTS)
        expected[t] = (rewards[t] + gamma * not_end * bootstrap[t + 1] - values[t]
                       + gamma * lam * not_end * correction)
    torch.testing.assert_close(advantages[0, :3], expected, rtol=1e-5, atol=1e-6)

    first, second = agent_calls
    assert (first["agent"], second["agent"]) == (1, 0)
    for call in agent_calls:  # mu is the stored log-probs, pi^k the policy before the update
        torch.testing.assert_close(call["behaviour"][0, :3], mu.log())
        torch.testing.assert_close(call["start"][0, :3], pi_k.log())
        torch.testing.assert_close(call["advantages"], advantages)
    a1 = advantages[0, :3, 1]
    to_mu = pi_k[:, 1] / mu[:, 1]
    if trust_region == "pi_k":  # r = 1 at the first step, w = pi^k / mu
        expected_loss = -(to_mu * a1).mean()
    else:  # r = pi^k / mu, outside [0.8, 1.2] on every step, so the clipped branch where it binds
        assert ((to_mu - 1).abs() > 0.2).all()
        expected_loss = -torch.min(to_mu * a1, to_mu.clamp(0.8, 1.2) * a1).mean()
    assert first["stats"]["pg_loss"] == pytest.approx(expected_loss.item(), rel=1e-5)
    # measured from pi^k, which pi still is at the first step: no KL, nothing outside its region
    assert first["stats"]["approx_kl"] == pytest.approx(0.0, abs=1e-6) and first["stats"]["clipfrac"] == 0.0
    assert torch.all(first["factor"][0, :3] == 1.0)
    with torch.no_grad():
        probs_new = learner.mac.real.unroll(batch)[0, :3]
    pi_new_1 = probs_new[:, 1].gather(-1, actions[:, 1:2])[:, 0]
    torch.testing.assert_close(second["factor"][0, :3], pi_new_1 / mu[:, 1], rtol=1e-5, atol=1e-6)
    assert not torch.allclose(second["factor"][0, :3], pi_new_1 / pi_k[:, 1], rtol=1e-2)
    # the weights' diagnostics: w = pi^k / mu per agent, mean and max over the 3 steps
    for agent in range(N_AGENTS):
        w = pi_k[:, agent] / mu[:, agent]
        assert stats[f"is_weight_mean_agent{agent}"] == pytest.approx(w.mean().item(), rel=1e-5)
        assert stats[f"is_weight_max_agent{agent}"] == pytest.approx(w.max().item(), rel=1e-5)


# --- the imagined update and the sync ------------------------------------------------------------
@pytest.mark.parametrize("kind, alg", [
    ("continuous", "lookahead_happo"), ("discrete", "lookahead_mappo"), ("continuous", "lookahead_ippo"),
    ("continuous", "lookahead_happo_harl"),  # HARL's V(s) critic (state_v_critic)
])
def test_imagined_update_leaves_the_real_learner_alone(kind, alg):
    """After (a) the real state is snapshotted; the model learning, sync and imagined update that
    follow change neither the real learner (critics, optimisers, normalisers, counters) nor its actors,
    while the lookahead copy does move; its batch is [lka_rollouts, lka_horizon + 1] without gradients."""
    learner, args = build(kind, alg=alg, standardise_rewards=True)
    after_real = {}
    real_train = learner.real.train

    def spy_real_train(*a, **k):
        stats = real_train(*a, **k)
        after_real["state"] = snapshot(learner.real)
        return stats

    imagined_batches = []
    lookahead_train = learner.lookahead.train

    def spy_lookahead_train(batch, *a, **k):
        imagined_batches.append(batch)
        before = snapshot(learner.lookahead)
        assert_same(before, after_real["state"])  # synchronised: pi~ <- pi before it is updated
        return lookahead_train(batch, *a, **k)

    learner.real.train, learner.lookahead.train = spy_real_train, spy_lookahead_train
    stats = learner.train(make_batch(args, learner.mac.lookahead), t_env=50, episode_num=0)

    assert_same(snapshot(learner.real), after_real["state"])
    assert differs(snapshot(learner.lookahead)["actors"], after_real["state"]["actors"]), "pi~ was not updated"
    # the one lookahead step's critic is thrown away at the next sync: HAPPO's critic steps (after its
    # actors') are skipped, PPO trains it in every epoch but the last (lka_epochs 2)
    critic_moved = differs(snapshot(learner.lookahead)["learner"]["critic"], after_real["state"]["learner"]["critic"])
    assert critic_moved == (not alg.startswith("lookahead_happo"))
    (imagined,) = imagined_batches
    assert (imagined.batch_size, imagined.max_seq_length) == (args.lka_rollouts, args.lka_horizon + 1)
    for name, value in imagined.transition_data.items():
        assert not value.requires_grad, f"imagined field {name} carries a graph"
    for key in ("kl_gap", "imagined_return", "model_loss", "time_imagination", "time_lookahead_update"):
        assert math.isfinite(stats[key]), key
    assert learner.real_steps == sum(LENGTHS)


@pytest.mark.parametrize("lka_steps", [1, 2])
@pytest.mark.parametrize("kind, alg", [("continuous", "lookahead_happo"), ("discrete", "lookahead_mappo")])
def test_only_the_last_lookahead_step_skips_its_critic_and_pi_tilde_is_the_same(kind, alg, lka_steps):
    """The last imagined update of an iteration skips the critic steps nothing reads (its critic is
    replaced at the next sync); pi~ comes out the same to the bit as when every critic step is taken.
    With two lookahead steps the first trains its critic: the second step's advantages come from it."""
    pair = [build(kind, alg=alg, lka_steps=lka_steps) for _ in range(2)]
    calls: list[list[bool]] = [[], []]
    for learner, seen, force_critic in zip((l for l, _ in pair), calls, (False, True)):
        train = learner.lookahead.train

        def spy(batch, *a, train=train, seen=seen, force_critic=force_critic, **k):
            seen.append(k["critic_discarded"])
            if force_critic:
                k["critic_discarded"] = False
            return train(batch, *a, **k)

        learner.lookahead.train = spy
    (skipping, args), (training, _) = pair
    for learner in (skipping, training):
        torch.manual_seed(1)  # the real update's draws (agent order, mini-batches): alike for both
        learner.train(make_batch(args, learner.mac.lookahead), t_env=50, episode_num=0)
    critic_before = snapshot(skipping.real)["learner"]["critic"]  # the lookahead copy's critic at the sync

    assert calls[0] == [False] * (lka_steps - 1) + [True]
    assert_same(skipping.mac.lookahead.agent.state_dict(), training.mac.lookahead.agent.state_dict())
    assert differs(snapshot(training.lookahead)["learner"]["critic"], critic_before)
    skipped_critic = snapshot(skipping.lookahead)["learner"]["critic"]
    if alg == "lookahead_happo" and lka_steps == 1:  # HAPPO's critic steps all follow its actors'
        assert_same(skipped_critic, critic_before)
    else:  # PPO's last epoch's critic steps (or the first lookahead step's) were taken
        assert differs(skipped_critic, critic_before)
    assert differs(skipped_critic, snapshot(training.lookahead)["learner"]["critic"])


def test_sync_is_a_deep_copy():
    """Changing every tensor of the lookahead learner and actors after a sync leaves the real ones as they were."""
    learner, args = build("continuous", standardise_rewards=True, lka_warmup_steps=10**9)
    learner.train(make_batch(args, learner.mac.lookahead), t_env=50, episode_num=0)  # optimisers get moments
    learner._sync_lookahead()
    real_before = snapshot(learner.real)
    with torch.no_grad():
        for p in learner.mac.lookahead.parameters():
            p.add_(1.0)
        state = learner.lookahead.state_dict()
        for part in ("critic", "target_critic"):
            for tensor in state[part].values():
                tensor.add_(1.0)
        for optimiser in learner.lookahead.agent_optimisers + [learner.lookahead.critic_optimiser]:
            for moments in optimiser.state.values():
                for tensor in moments.values():
                    tensor.add_(1.0)
        for stats in (learner.lookahead.reward_stats, learner.lookahead.return_stats):
            stats.mean.add_(1.0)
    assert_same(snapshot(learner.real), real_before)


# --- checkpoints ---------------------------------------------------------------------------------
def test_checkpoint_round_trip(tmp_path):
    """save_models, then load_models into a learner built from another seed: same model predictions,
    lookahead and real actors, learner states, model trainer state and real_steps."""
    learner, args = build("continuous")
    for call in range(2):
        learner.train(make_batch(args, learner.mac.lookahead, seed=call), t_env=50 * (call + 1), episode_num=call)
    learner.save_models(str(tmp_path))
    fresh, _ = build("continuous", seed=1)
    assert differs(snapshot(fresh.real), snapshot(learner.real))
    fresh.load_models(str(tmp_path))

    assert fresh.real_steps == learner.real_steps == 2 * sum(LENGTHS)
    loaded, saved = snapshot(fresh.real), snapshot(learner.real)
    for state in (loaded, saved):  # the base learners' checkpoint files (EPyMARL's layout) hold no counters
        del state["learner"]["counters"]
    assert_same(loaded, saved)
    assert_same(snapshot(fresh.lookahead), snapshot(learner.lookahead))
    assert_same(fresh.model_trainer.state_dict(), learner.model_trainer.state_dict())
    state = torch.randn(7, STATE_DIM)
    actions = torch.randn(7, N_AGENTS, ACTION_DIM)
    inputs = fresh.model_trainer.model.inputs(state, actions).expand(1, 7, -1)
    for a, b in zip(fresh.model_trainer.model(inputs), learner.model_trainer.model(inputs)):
        assert (a is None and b is None) or torch.equal(a, b)
    torch.testing.assert_close(fresh.model_trainer.model.step_with_obs(state, actions).next_state,
                               learner.model_trainer.model.step_with_obs(state, actions).next_state, rtol=0, atol=0)


def test_imagination_starts_from_the_states_agents_acted_in():
    """Start states are states of filled steps, the last one of an episode included (a one-step
    episode has no other), never a final state; fewer candidates than rollouts are drawn with replacement."""
    learner, args = build("continuous", lka_rollouts=8)
    batch = make_batch(args, learner.mac.lookahead, lengths=(1, 1, 1))  # one-step episodes, all terminated
    states, obs = learner._start_states(batch)
    assert states.shape == (8, STATE_DIM) and obs.shape == (8, N_AGENTS, OBS_DIM)
    first_states = batch["state"][:, 0]
    assert all(any(torch.equal(s, f) for f in first_states) for s in states)
    batch = make_batch(args, learner.mac.lookahead)
    learner.settings = replace(learner.settings, lka_rollouts=sum(LENGTHS))  # one per filled step: each once
    states, obs = learner._start_states(batch)
    filled = batch["filled"][:, :, 0] > 0
    expected = batch["state"][filled]
    assert sorted(map(tuple, states.tolist())) == sorted(map(tuple, expected.tolist()))
    expected_obs = batch["obs"][filled]
    assert sorted(map(tuple, obs.flatten(1).tolist())) == sorted(map(tuple, expected_obs.flatten(1).tolist()))


def test_a_first_batch_held_out_entirely_for_validation_does_not_stop_training():
    """A tiny first batch can land wholly in the model's validation FIFO (each transition with
    probability ``validation_fraction``): the iteration goes on without model steps, the next trains."""
    learner, args = build("continuous", lka_warmup_steps=10**9)
    trainer = learner.model_trainer
    trainer.validation_fraction = 1.0  # every transition of the first batch is held out
    stats = learner.train(make_batch(args, learner.mac.lookahead, lengths=(1, 1)), t_env=1, episode_num=0)
    assert len(trainer.train_buffer) == 0 and trainer.gradient_steps == 0 and "model_loss" not in stats
    trainer.validation_fraction = 0.0
    stats = learner.train(make_batch(args, learner.mac.lookahead, seed=1), t_env=2, episode_num=1)
    assert trainer.gradient_steps == args.mlearn_steps and math.isfinite(stats["model_loss"])


# --- diagnostics, by hand ------------------------------------------------------------------------
def test_kl_gap_and_rho_per_agent_by_hand():
    """``_kl_gap`` on two rows (3 and 2 valid steps), discrete, with pi^k and mu given as made-up
    categorical policies: every diagnostic against sum_a p log(p / q) and the taken actions' ratios,
    per agent and averaged over agents; agent 1's prediction points away (negative gap)."""
    learner, args = build("discrete", lka_warmup_steps=10**9)
    batch = make_batch(args, learner.mac.real, lengths=(3, 2))
    with torch.no_grad():
        updated = learner.mac.real.unroll(batch)  # [B, T, agents, actions]: pi^{k+1}'s probabilities
    g = torch.Generator().manual_seed(5)
    pi_k = torch.softmax(torch.randn(updated.shape, generator=g), -1)
    mu = updated.clone()
    mu[..., 0, :] = 0.9 * updated[..., 0, :] + 0.1 * pi_k[..., 0, :]  # agent 0: mu near the update
    mu[..., 1, :] = torch.softmax(torch.randn(updated[..., 1, :].shape, generator=g) * 3, -1)  # agent 1: far off
    policy = learner.mac.real.policy_distribution  # the controller's distribution over these probabilities
    stats = learner._kl_gap(batch, {"pi_k": policy(pi_k), "mu": policy(mu)})

    valid = batch["filled"][:, :-1, 0].bool()  # [B, T]
    kl = lambda p, q: (p * (p / q).log()).sum(-1)  # noqa: E731
    actions = batch["actions"][:, :-1, :, 0]
    taken = lambda probs: probs.gather(-1, actions.unsqueeze(-1))[..., 0]  # noqa: E731  [B, T, agents]
    rho = taken(pi_k) / taken(mu)
    gaps = []
    for agent in range(N_AGENTS):
        gap = (kl(updated, pi_k) - kl(updated, mu))[..., agent][valid].mean()
        gaps.append(gap)
        assert stats[f"kl_gap_agent{agent}"] == pytest.approx(gap.item(), rel=1e-4, abs=1e-6)
        assert stats[f"rho_mean_agent{agent}"] == pytest.approx(rho[..., agent][valid].clamp(max=1).mean().item(),
                                                                 rel=1e-5)
    assert gaps[0] > 0 > gaps[1]  # the sign a researcher reads
    assert stats["kl_gap"] == pytest.approx(sum(gaps).item() / N_AGENTS, rel=1e-4, abs=1e-6)
    assert stats["kl_updated_to_old"] == pytest.approx(kl(updated, pi_k)[valid].mean().item(), rel=1e-4)
    assert stats["kl_updated_to_lookahead"] == pytest.approx(kl(updated, mu)[valid].mean().item(), rel=1e-4)
    # the same under the earlier policies (the direction of the authors' code)
    assert stats["kl_old_to_updated"] == pytest.approx(kl(pi_k, updated)[valid].mean().item(), rel=1e-4)
    assert stats["kl_lookahead_to_updated"] == pytest.approx(kl(mu, updated)[valid].mean().item(), rel=1e-4)
    reverse = (kl(pi_k, updated) - kl(mu, updated))[valid].mean()
    assert stats["kl_gap_reverse"] == pytest.approx(reverse.item(), rel=1e-4, abs=1e-6)
    joint = rho.prod(-1)[valid]
    assert stats["rho_mean"] == pytest.approx(joint.clamp(max=1).mean().item(), rel=1e-5)
    assert stats["rho_clipped_fraction"] == pytest.approx((joint > 1).float().mean().item())


def test_a_batch_without_behaviour_log_probs_is_refused():
    """Without the sampler's log-probs mu would have to be pi^k: the learner says so instead."""
    learner, args = build("continuous", lka_warmup_steps=10**9)
    batch = make_batch(args, learner.mac.real)
    del batch.scheme["log_prob"]  # as a runner with store_log_probs=False would have built it
    with pytest.raises(ValueError, match="needs the behaviour log-probs of pi~"):
        learner.train(batch, t_env=1, episode_num=0)


@pytest.mark.parametrize("early_stop, steps", [(False, 20.0), (True, 2.0)])
def test_model_early_stop_reaches_the_models_training(early_stop, steps):
    """``model_early_stop`` is passed to the model's trainer: a tolerance no check can meet and
    patience 1 stop the iteration's model training at the first check (step 2 of 20)."""
    learner, args = build("continuous", mlearn_steps=20, model_early_stop=early_stop, model_early_stop_interval=2,
                          model_early_stop_patience=1, model_early_stop_tolerance=0.99)
    stats = {}
    for seed in range(3):  # the validation FIFO fills after the first batches
        stats = learner.train(make_batch(args, learner.mac.lookahead, seed=seed), t_env=seed, episode_num=seed)
    assert stats["model_steps_taken"] == steps


def model_steps_seen_by_imagination(learner: Any) -> list[int]:
    """Spy on the imagined runner: the model's gradient steps each time it imagines."""
    seen: list[int] = []
    run = learner.imagined.run

    def spy(*args):
        seen.append(learner.model_trainer.gradient_steps)
        return run(*args)

    learner.imagined.run = spy
    return seen


@pytest.mark.parametrize("background, expected", [(False, [6, 12, 18]), (True, [0, 6, 12])])
def test_the_model_trained_during_the_rollout_is_one_iteration_stale(background, expected, tmp_path):
    """``model_train_during_rollout``: iteration k imagines with the model trained on the data up to
    k - 1 (its steps ran beside k's rollout); saving waits for the running training."""
    learner, args = build("continuous", mlearn_steps=6, model_train_during_rollout=background)
    seen = model_steps_seen_by_imagination(learner)
    for seed in range(3):
        learner.train(make_batch(args, learner.mac.lookahead, seed=seed), t_env=seed, episode_num=seed)
    learner.save_models(str(tmp_path))
    assert seen == expected
    assert learner.model_trainer.gradient_steps == 18
    assert torch.load(tmp_path / "lookahead.th")["model_trainer"]["gradient_steps"] == 18


def test_the_model_trained_during_the_rollout_gives_the_same_numbers_for_the_same_seed():
    learners = [build("continuous", mlearn_steps=6, model_train_during_rollout=True) for _ in range(2)]
    for seed in range(3):
        for learner, args in learners:
            torch.manual_seed(100 + seed)  # the rollout's draws, the same in both
            learner.train(make_batch(args, learner.mac.lookahead, seed=seed), t_env=seed, episode_num=seed)
    (first, _), (second, _) = learners
    for learner in (first, second):
        learner.background.wait()
    for a, b in zip([*first.model_trainer.model.parameters(), *first.mac.lookahead.parameters()],
                    [*second.model_trainer.model.parameters(), *second.mac.lookahead.parameters()]):
        assert torch.equal(a, b)


def test_an_error_on_the_model_thread_stops_the_next_iteration():
    learner, args = build("continuous", mlearn_steps=6, model_train_during_rollout=True)

    def non_finite(n_steps, generator=None):
        raise NonFiniteError("ModelTrainer", "dynamics model loss", "nan")

    learner.model_trainer.train_steps = non_finite
    learner.train(make_batch(args, learner.mac.lookahead, seed=0), t_env=0, episode_num=0)  # starts the thread
    with pytest.raises(NonFiniteError, match="non-finite dynamics model loss"):
        learner.train(make_batch(args, learner.mac.lookahead, seed=1), t_env=1, episode_num=1)


@pytest.mark.parametrize("model_compile", [False, True])
def test_model_compile_reaches_the_models_training(monkeypatch, model_compile):
    """``model_compile`` hands the model trainer's loss to ``torch.compile`` (here a stand-in that
    records it and returns it uncompiled), and the iteration's model steps run through what it
    returned; off, nothing is compiled."""
    import utils.compiling as compiling

    compiled_calls: list[int] = []

    def compile(fn, dynamic=None):
        def counted(*args, **kwargs):
            compiled_calls.append(1)
            return fn(*args, **kwargs)
        compile.given.append(fn)
        return counted

    compile.given = []
    monkeypatch.setattr(compiling.torch, "compile", compile)
    learner, args = build("continuous", mlearn_steps=5, model_compile=model_compile)
    learner.train(make_batch(args, learner.mac.lookahead), t_env=0, episode_num=0)
    if model_compile:
        assert compile.given == [learner.model_trainer.loss]
        assert len(compiled_calls) == 5 == learner.model_trainer.gradient_steps
    else:
        assert compile.given == [] and compiled_calls == []


@pytest.mark.parametrize("alg", ["lookahead_happo", "lookahead_mappo"])
@pytest.mark.parametrize("fused", [False, True])
def test_adam_fused_reaches_every_optimiser(alg, fused):
    """``adam_fused`` is one switch for the real and lookahead learners' actors (HAPPO's one per
    agent) and critics, and the dynamics model."""
    learner, _ = build("continuous", alg=alg, adam_fused=fused)
    optimisers = [learner.model_trainer.optimiser]
    for base in (learner.real, learner.lookahead):
        actors = base.agent_optimisers if alg == "lookahead_happo" else [base.agent_optimiser]
        optimisers += [*actors, base.critic_optimiser]
    assert len(optimisers) == 1 + 2 * ((N_AGENTS if alg == "lookahead_happo" else 1) + 1)
    assert [o.fused for o in optimisers] == [fused] * len(optimisers)
