"""The basic multi-agent controller: one agent network (shared by default) acting for all agents."""

from __future__ import annotations

import os
from types import SimpleNamespace
from typing import Any, Mapping, Sequence

import torch

from components.action_distributions import CategoricalActions, DiagGaussianActions
from components.action_selectors import REGISTRY as action_selector_registry
from components.episode_buffer import EpisodeBatch
from components.scheme import has_continuous_actions
from modules.agents import REGISTRY as agent_registry
from modules.agents.gaussian_agent import GaussianAgent
from modules.inputs import action_feature_size, agent_ids, last_actions
from utils.checkpoint import atomic_torch_save
from utils.config import ConfigError


class BasicMAC:
    """Builds per-agent inputs from a batch, runs the agent network and selects actions.

    Agent inputs at step t: own observation, then (``obs_last_action``) its previous action
    features, then (``obs_agent_id``) its one-hot id. ``forward`` keeps the recurrent hidden state
    between calls, so callers step t = 0, 1, ... after ``init_hidden``.

    Continuous actions (float actions in the scheme): the agent network gives the mean of
    a diagonal Gaussian (:class:`GaussianAgent` adds the learnable std); actions are sampled from
    it, or its mean in greedy tests, and stored raw (the env clips them to its bounds).
    """

    def __init__(self, scheme: Mapping[str, Any], groups: Mapping[str, int], args: SimpleNamespace) -> None:
        self.n_agents = args.n_agents
        self.args = args
        self.agent_output_type = args.agent_output_type
        self.continuous = has_continuous_actions(scheme)
        self.action_selector = action_selector_registry[args.action_selector](args)
        self.agent = agent_registry[args.agent](self._get_input_shape(scheme), args)
        if self.continuous:
            self._check_continuous_support()
            self.agent = GaussianAgent(self.agent, args, per_agent=args.agent.endswith("_ns"))
        self.hidden_states: torch.Tensor | None = None

    def _check_continuous_support(self) -> None:
        if not hasattr(self.action_selector, "select_continuous"):
            raise ConfigError(
                f"action_selector '{self.args.action_selector}' supports discrete actions only and this env has "
                "continuous actions; use action_selector=soft_policies (sample from the policy)"
            )
        if self.agent_output_type != "pi_logits":
            raise ConfigError(
                f"agent_output_type '{self.agent_output_type}' (action values) supports discrete actions only and "
                "this env has continuous actions; use a policy-gradient algorithm (agent_output_type=pi_logits)"
            )

    # ------------------------------------------------------------------ acting
    def select_actions(
        self,
        ep_batch: EpisodeBatch,
        t_ep: int,
        t_env: int,
        bs: slice | list[int] = slice(None),
        test_mode: bool = False,
        return_log_probs: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Actions for the episodes ``bs`` at step ``t_ep``: ``[len(bs), n_agents]`` indices
        (discrete) or ``[len(bs), n_agents, action_dim]`` raw values (continuous). With
        ``return_log_probs`` also each agent's log pi(a) ``[len(bs), n_agents]`` of the policy the
        actions were drawn from (the behaviour policy a learner's ratio is taken against)."""
        agent_outputs = self.forward(ep_batch, t_ep, test_mode=test_mode)[bs]
        if self.continuous:
            policy = self.policy_distribution(agent_outputs)
            actions = self.action_selector.select_continuous(policy, test_mode)
        else:
            avail_actions = ep_batch["avail_actions"][:, t_ep][bs]
            actions = self.action_selector.select_action(agent_outputs, avail_actions, t_env, test_mode=test_mode)
        if not return_log_probs:
            return actions
        policy = policy if self.continuous else self.policy_distribution(agent_outputs)
        return actions, policy.log_prob(actions if self.continuous else actions.unsqueeze(-1))

    def forward(self, ep_batch: EpisodeBatch, t: int, test_mode: bool = False) -> torch.Tensor:
        """Agent outputs ``[batch, n_agents, n_actions]`` at step ``t``: probabilities for
        ``pi_logits`` agents (unavailable actions masked before the softmax), raw values otherwise."""
        inputs = self._build_inputs(ep_batch, slice(t, t + 1))[:, 0]
        return self._step_agent(inputs, ep_batch["avail_actions"][:, t])

    def unroll(
        self, ep_batch: EpisodeBatch, n_steps: int | None = None, agents: Sequence[int] | None = None
    ) -> torch.Tensor:
        """Outputs for steps ``0..n_steps-1`` from a fresh hidden state: ``[B, T, n_agents, n_actions]``.

        Same values as calling ``forward`` for t = 0..T-1, computed as one sequence pass.
        ``agents`` (e.g. ``[i]``): run only those agents' networks, giving ``[B, T, len(agents), n_actions]``
        (the same values as their columns of the full unroll) from a graph that holds nothing of the other
        agents' parameters (HAPPO's per-agent steps); the controller's hidden state is then left as it was.
        """
        n_steps = ep_batch.max_seq_length - 1 if n_steps is None else n_steps
        batch_size = ep_batch.batch_size
        inputs = self._build_inputs(ep_batch, slice(0, n_steps))  # [B, T, n, d]
        avail_actions = ep_batch["avail_actions"][:, :n_steps]
        n_run = self.n_agents if agents is None else len(agents)
        if agents is not None:
            inputs, avail_actions = inputs[:, :, agents], avail_actions[:, :, agents]
        inputs = inputs.transpose(1, 2).reshape(batch_size * n_run, n_steps, -1)
        hidden = self.agent.init_hidden().expand(batch_size * n_run, -1)  # a view: no [rows, hidden] zeros written per call
        outputs, hidden = self.agent.forward_sequence(inputs, hidden, agents)
        if agents is None:
            self.hidden_states = hidden
        outputs = outputs.view(batch_size, n_run, n_steps, -1).transpose(1, 2)
        return self._policy_outputs(outputs, avail_actions)

    def _step_agent(self, inputs: torch.Tensor, avail_actions: torch.Tensor) -> torch.Tensor:
        batch_size = inputs.shape[0]
        outputs, self.hidden_states = self.agent(inputs.reshape(batch_size * self.n_agents, -1), self.hidden_states)
        return self._policy_outputs(outputs.view(batch_size, self.n_agents, -1), avail_actions)

    def _policy_outputs(self, outputs: torch.Tensor, avail_actions: torch.Tensor) -> torch.Tensor:
        """Probabilities for discrete ``pi_logits`` agents; Gaussian means or action values as they are."""
        if self.agent_output_type == "pi_logits" and not self.continuous:
            if self.args.mask_before_softmax:
                outputs = outputs.masked_fill(avail_actions == 0, -1e10)
            outputs = torch.softmax(outputs, dim=-1)
        return outputs

    def policy_distribution(
        self, agent_outputs: torch.Tensor, agents: Sequence[int] | None = None
    ) -> CategoricalActions | DiagGaussianActions:
        """The policy given ``forward``/``unroll`` outputs; its ``log_prob`` takes stored actions.
        ``agents``: the outputs are those agents' (``unroll(..., agents=agents)``), and so is the std."""
        if self.continuous:
            return DiagGaussianActions(agent_outputs, self.agent.std(agents))
        return CategoricalActions(probs=agent_outputs)

    def agent_parameters(self, agent: int) -> list[torch.nn.Parameter]:
        """Agent ``agent``'s own parameters (non-shared agents only; HAPPO's per-agent optimisers)."""
        network = self.agent.body if isinstance(self.agent, GaussianAgent) else self.agent
        if not hasattr(network, "agent_parameters"):
            raise ConfigError(f"agent '{self.args.agent}' shares parameters between agents; use a *_ns agent")
        return self.agent.agent_parameters(agent)

    def init_hidden(self, batch_size: int) -> None:
        self.hidden_states = self.agent.init_hidden().expand(batch_size * self.n_agents, -1).contiguous()

    # ------------------------------------------------------------------ inputs
    def _build_inputs(self, batch: EpisodeBatch, ts: slice) -> torch.Tensor:
        parts = [batch["obs"][:, ts]]
        if self.args.obs_last_action:
            parts.append(last_actions(batch, ts))
        if self.args.obs_agent_id:
            parts.append(agent_ids(batch.batch_size, parts[0].shape[1], self.n_agents, batch.device))
        return torch.cat(parts, dim=-1)

    def _get_input_shape(self, scheme: Mapping[str, Any]) -> int:
        size = scheme["obs"]["vshape"]
        size = size if isinstance(size, int) else size[0]
        if self.args.obs_last_action:
            size += action_feature_size(scheme)
        if self.args.obs_agent_id:
            size += self.n_agents
        return size

    # ------------------------------------------------------------------ parameters
    def parameters(self):
        return self.agent.parameters()

    def load_state(self, other_mac: "BasicMAC") -> None:
        """Copy another controller's agent weights into this one (used for old/lookahead copies)."""
        self.agent.load_state_dict(other_mac.agent.state_dict())

    def cuda(self) -> None:
        self.agent.cuda()

    def save_models(self, path: str) -> None:
        atomic_torch_save(self.agent.state_dict(), os.path.join(path, "agent.th"))

    def load_models(self, path: str) -> None:
        self.agent.load_state_dict(torch.load(os.path.join(path, "agent.th"), map_location="cpu"))
