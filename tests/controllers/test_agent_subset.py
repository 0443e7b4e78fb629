"""Running a subset of agents: ``mac.unroll(batch, agents=[i])`` and ``policy_distribution(outputs, agents=[i])``.

HAPPO's per-agent steps run only the agent being updated. The subset must give exactly the full
unroll's columns, build a graph that holds none of the other agents' parameters, and leave a HAPPO
``train`` call where the full-unroll computation HAPPO used before left it (``FullUnrollHAPPO``
below keeps that computation as the reference).
"""

from __future__ import annotations

import pytest
import torch

from components.episode_buffer import EpisodeBatch
from components.scheme import build_scheme
from controllers import REGISTRY as mac_registry
from learners.happo_learner import HAPPOLearner
from tests.factories import FakeLogger, make_test_args
from utils.masked import masked_mean

N_AGENTS, ACTION_DIM, EPISODE_LIMIT = 3, 3, 5
LENGTHS = (5, 3, 4, 2)
KINDS = ["discrete", "continuous"]
NO_NORMS = dict(input_layer_norm=False, hidden_layer_norm=False, init="default")
WITH_NORMS = dict(input_layer_norm=True, hidden_layer_norm=True, init="orthogonal")
NS_AGENTS = [
    pytest.param(dict(agent="mlp_ns", **NO_NORMS), id="mlp_ns"),
    pytest.param(dict(agent="mlp_ns", hidden_layers=3, **WITH_NORMS), id="mlp_ns-layernorm"),
    pytest.param(dict(agent="rnn_ns", use_rnn=True, **NO_NORMS), id="rnn_ns-gru"),
    pytest.param(dict(agent="rnn_ns", use_rnn=True, **WITH_NORMS), id="rnn_ns-gru-layernorm"),
    pytest.param(dict(agent="rnn_ns", use_rnn=False, **WITH_NORMS), id="rnn_ns-linear-layernorm"),
]
SHARED_AGENTS = [
    pytest.param(dict(mac="basic_mac", agent="mlp", obs_agent_id=True, **WITH_NORMS), id="mlp"),
    pytest.param(dict(mac="basic_mac", agent="rnn", use_rnn=True, obs_agent_id=True, **WITH_NORMS), id="rnn-gru"),
]
SUBSETS = [[0], [2], [2, 0]]


def env_info(kind: str) -> dict:
    return {
        "n_agents": N_AGENTS, "obs_shape": 4, "state_shape": 6, "n_actions": ACTION_DIM,
        "episode_limit": EPISODE_LIMIT, "action_kind": kind,
    }


def make_args(kind: str, config: dict):
    overrides = {"hidden_dim": 16, "epochs": 2, "mini_batches": 2, "mac": "non_shared_mac", **config}
    return make_test_args(env_info(kind), alg="happo", **overrides)


def buffer_scheme(args):
    scheme, groups, preprocess = build_scheme(env_info(args.test_action_kind), args)
    return EpisodeBatch(scheme, groups, 1, 2, preprocess=preprocess).scheme, groups


def build_mac(kind: str, config: dict, seed: int = 0):
    args = make_args(kind, config)
    scheme, groups = buffer_scheme(args)
    torch.manual_seed(seed)
    return mac_registry[args.mac](scheme, groups, args), args


def build_learner(learner_class: type[HAPPOLearner], kind: str, config: dict, seed: int = 0) -> HAPPOLearner:
    args = make_args(kind, config)
    scheme, groups = buffer_scheme(args)
    torch.manual_seed(seed)
    mac = mac_registry[args.mac](scheme, groups, args)
    return learner_class(mac, scheme, FakeLogger(), args)


def make_batch(args, seed: int = 0) -> EpisodeBatch:
    """Episodes of ``LENGTHS`` (the short ones terminate); random available actions (discrete) or
    actions around 0.1 (continuous); random observations, states and rewards."""
    scheme, groups, preprocess = build_scheme(env_info(args.test_action_kind), args)
    batch = EpisodeBatch(scheme, groups, len(LENGTHS), EPISODE_LIMIT + 1, preprocess=preprocess)
    g = torch.Generator().manual_seed(seed)
    for b, length in enumerate(LENGTHS):
        if args.test_action_kind == "discrete":
            avail = (torch.rand(length + 1, N_AGENTS, ACTION_DIM, generator=g) < 0.7).int()
            avail[..., 0] |= (avail.sum(-1) == 0).int()
            actions = torch.multinomial(avail[:length].float().reshape(-1, ACTION_DIM), 1, generator=g)
            actions = actions.reshape(length, N_AGENTS, 1)
        else:
            avail = torch.ones(length + 1, N_AGENTS, ACTION_DIM, dtype=torch.int)
            actions = 0.1 + 0.4 * torch.randn(length, N_AGENTS, ACTION_DIM, generator=g)
        batch.update(
            {
                "obs": torch.randn(length + 1, N_AGENTS, 4, generator=g),
                "state": torch.randn(length + 1, 6, generator=g),
                "avail_actions": avail,
            },
            bs=b, ts=slice(0, length + 1), mark_filled=False,
        )
        terminated = torch.zeros(length, 1)
        terminated[-1] = float(length < EPISODE_LIMIT)
        rewards = torch.randn(length, 1, generator=g)
        batch.update({"actions": actions, "reward": rewards, "terminated": terminated}, bs=b, ts=slice(0, length))
    return batch


# ------------------------------------------------------------------ the controller
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("config", NS_AGENTS + SHARED_AGENTS)
def test_subset_unroll_gives_the_full_unrolls_columns(kind, config):
    mac, args = build_mac(kind, config)
    batch = make_batch(args)
    actions = batch["actions"][:, :-1]
    with torch.no_grad():
        full = mac.unroll(batch)
        full_policy = mac.policy_distribution(full)
        for agents in SUBSETS:
            outputs = mac.unroll(batch, agents=agents)
            assert outputs.shape == (len(LENGTHS), EPISODE_LIMIT, len(agents), ACTION_DIM)
            torch.testing.assert_close(outputs, full[:, :, agents], rtol=0, atol=1e-6)
            policy = mac.policy_distribution(outputs, agents=agents)
            torch.testing.assert_close(
                policy.log_prob(actions[:, :, agents]), full_policy.log_prob(actions)[..., agents], rtol=0, atol=1e-5
            )
            torch.testing.assert_close(policy.entropy(), full_policy.entropy()[..., agents], rtol=0, atol=1e-6)


@pytest.mark.parametrize("agents", SUBSETS)
def test_subset_std_is_those_agents_own(agents):
    mac, args = build_mac("continuous", dict(agent="mlp_ns"))
    with torch.no_grad():
        for i, p in enumerate(mac.agent.std_params):  # distinct deviations per agent
            p.add_(0.3 * i)
        outputs = mac.unroll(make_batch(args), agents=agents)
        stddev = mac.policy_distribution(outputs, agents=agents).base_dist.stddev
    torch.testing.assert_close(stddev, mac.agent.std()[agents].expand_as(stddev), rtol=0, atol=0)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("config", NS_AGENTS)
def test_subset_graph_holds_only_the_selected_agents_parameters(kind, config):
    """Back-propagating through ``unroll(agents=[1])`` reaches every parameter of agent 1 and none
    of the others' (a full unroll would give them zero gradients; here they get none at all)."""
    mac, args = build_mac(kind, config)
    batch = make_batch(args)
    policy = mac.policy_distribution(mac.unroll(batch, agents=[1]), agents=[1])
    (policy.log_prob(batch["actions"][:, :-1, [1]]).sum() + policy.entropy().sum()).backward()
    for agent in range(N_AGENTS):
        grads = [p.grad for p in mac.agent_parameters(agent)]
        if agent == 1:
            assert all(g is not None and torch.isfinite(g).all() for g in grads)
        else:
            assert all(g is None for g in grads), agent
    owned = {id(p) for agent in range(N_AGENTS) for p in mac.agent_parameters(agent)}
    assert owned == {id(p) for p in mac.parameters()}  # no parameter outside the per-agent sets was skipped


def test_subset_unroll_leaves_the_acting_hidden_state_alone():
    mac, args = build_mac("discrete", dict(agent="rnn_ns", use_rnn=True))
    batch = make_batch(args)
    with torch.no_grad():
        mac.init_hidden(len(LENGTHS))
        mac.forward(batch, t=0)
        hidden = mac.hidden_states.clone()
        mac.unroll(batch, agents=[1])
        assert torch.equal(mac.hidden_states, hidden)
        mac.unroll(batch)  # a full unroll leaves its last hidden state, as before
        assert mac.hidden_states.shape == hidden.shape and not torch.equal(mac.hidden_states, hidden)


# ------------------------------------------------------------------ HAPPO against the full-unroll reference
class FullUnrollHAPPO(HAPPOLearner):
    """HAPPO as computed before agent subsets: every step of agent i, and M's update after it, runs
    all agents' networks and keeps agent i's column."""

    def behaviour_log_probs(self, batch, actions, agents=None):
        log_probs = self.mac.policy_distribution(self.mac.unroll(batch)).log_prob(batch["actions"][:, :-1])
        return log_probs if agents is None else log_probs[..., agents]

    def _agent_step(self, agent, batch, actions, advantages, start, old_log_probs, mask, factor):
        only_this_agent = torch.zeros_like(mask)
        only_this_agent[..., agent] = mask[..., agent]
        surrogate, entropy, stats = self._surrogate(batch, actions, advantages, start, old_log_probs, only_this_agent)
        objective = factor * surrogate[..., agent] + self.settings.entropy_coef * entropy[..., agent]
        loss = -masked_mean(objective, mask[..., agent])
        params = self.mac.agent_parameters(agent)
        self.agent_optimisers[agent].zero_grad()
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(params, self.settings.grad_norm_clip)
        self.agent_optimisers[agent].step()
        return {"pg_loss": loss.item(), "agent_grad_norm": grad_norm.item(), **stats}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("config", NS_AGENTS)
def test_happo_train_equals_the_full_unroll_reference(kind, config):
    """Two train calls (2 epochs x 2 mini-batches, 3 agents): same parameters, critic and stats."""
    learner = build_learner(HAPPOLearner, kind, config)
    reference = build_learner(FullUnrollHAPPO, kind, config)
    batch = make_batch(learner.mac.args)
    for call in range(2):
        results = []
        for trained in (learner, reference):
            torch.manual_seed(100 + call)  # same agent order and mini-batches
            results.append(trained.train(batch, t_env=call, episode_num=call))
        stats, expected = results
        # action_std: the reference averaged every agent's deviation, the subset the updated agent's
        assert set(stats) == set(expected)
        for key in set(stats) - {"action_std"}:
            assert stats[key] == pytest.approx(expected[key], rel=1e-5, abs=1e-6), key
    for ours, theirs in zip(learner.mac.parameters(), reference.mac.parameters(), strict=True):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)
    for ours, theirs in zip(learner.critic.parameters(), reference.critic.parameters(), strict=True):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)
    initial = build_learner(HAPPOLearner, kind, config)  # precondition: the actors really moved
    assert any(not torch.allclose(p, q, atol=1e-4) for p, q in zip(learner.mac.parameters(), initial.mac.parameters()))
