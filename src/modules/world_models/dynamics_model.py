"""Lookahead's learned model of the environment: ``(state, joint action) -> (next state, reward,
termination[, next observations])``, and one imagined step of many rollouts at once.

Lookahead ("Efficient Multi-Agent Cooperation Learning through Teammate Lookahead") trains a model
of the environment on real transitions and rolls the agents' policies inside it. The model here:

* **Inputs**: the global state normalised by the model's own running mean/std, with the joint
  action: one-hot per agent ``[n_agents * n_actions]`` (discrete) or the continuous actions clipped
  to the env's ``action_low`` / ``action_high`` and rescaled to ``[-1, 1]`` (padded dims zeroed)
  ``[n_agents * action_dim]``.
* **Outputs**: the state change ``s' - s`` normalised by its own running mean/std, the reward (one
  team reward or one per agent; optionally symlog-squashed, DreamerV3's transform for rewards of
  very different sizes), the logit of a true termination and, when the env publishes no
  state-to-observation map (env info ``"state_to_obs"``), every agent's next observation
  (normalised by its own running mean/std).
* **Members**: ``n_models = 1`` is one deterministic MLP (the Lookahead authors' choice: 4 hidden
  layers of 256 ReLU units, trained with MSE and a Bernoulli likelihood for termination);
  ``n_models > 1`` is an ensemble of probabilistic members as in MBPO (Janner et al. 2019, "When to
  Trust Your Model"), each predicting a Gaussian with bounded log-variance (Chua et al. 2018, PETS,
  appendix A.1). All members are one batched network (weights ``[n_models, in, out]``, one
  ``torch.baddbmm`` per layer); an imagined step uses a random elite member per rollout.
* **Constant dimensions** of the state (and observations) are copied, not predicted: a dimension
  whose every value seen so far equals the first one keeps that value.

The normalisers are updated from real data by ``update_normalisers`` (the trainer does it when it
adds transitions) and travel with ``state_dict()`` and ``.to(device)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import torch
from torch import nn

from components.env_info import EnvInfo
from components.running_mean_std import RunningMeanStd
from utils.config import ConfigError

LOG_VAR_MAX_INIT = 0.5
"""Initial upper bound on a member's predicted log-variance (MBPO / PETS)."""
LOG_VAR_MIN_INIT = -10.0
"""Initial lower bound on a member's predicted log-variance (MBPO / PETS)."""

StateToObs = Callable[[torch.Tensor], torch.Tensor]
"""An env's map ``state [..., state_dim] -> observations [..., n_agents, obs_dim]``."""


NORMALISED_LIMIT = 10.0
"""Bound on normalised model inputs and outputs (in standard deviations of the real data): a
rollout compounding its own errors, or a dimension that barely varies in the data, cannot drive the
model, and through it the policies being trained, to inf/NaN."""


class ImaginedStep(NamedTuple):
    """One imagined step of ``N`` rollouts (:meth:`DynamicsModel.step_with_obs`), raw units."""

    next_state: torch.Tensor  # [N, state_dim]
    reward: torch.Tensor  # [N, reward_dim]
    termination_prob: torch.Tensor  # [N], the probability of a true termination
    next_obs: torch.Tensor  # [N, n_agents, obs_dim]


def symlog(x: torch.Tensor) -> torch.Tensor:
    """``sign(x) * log(1 + |x|)`` (DreamerV3, Hafner et al. 2023): squashes large rewards, keeps small ones."""
    return torch.sign(x) * torch.log1p(x.abs())


def symexp(x: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`symlog`."""
    return torch.sign(x) * torch.expm1(x.abs())


class EnsembleLinear(nn.Module):
    """``n_models`` independent linear layers in one op: ``y[m] = x[m] @ weight[m] + bias[m]``.

    ``x`` ``[n_models, batch, in]`` -> ``[n_models, batch, out]``. Each member is initialised as an
    ``nn.Linear`` (uniform in ``±1/sqrt(in)``), independently, so members start different.
    """

    def __init__(self, n_models: int, in_features: int, out_features: int) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(in_features)
        self.weight = nn.Parameter(torch.empty(n_models, in_features, out_features).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(n_models, 1, out_features).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


class EnsembleMLP(nn.Sequential):
    """``(EnsembleLinear -> ReLU) x hidden_layers -> EnsembleLinear``: ``[n_models, batch, in]`` ->
    ``[n_models, batch, out]``."""

    def __init__(self, n_models: int, in_features: int, out_features: int, hidden_dim: int, hidden_layers: int) -> None:
        widths = [in_features] + [hidden_dim] * hidden_layers
        layers: list[nn.Module] = []
        for width_in, width_out in zip(widths[:-1], widths[1:]):
            layers += [EnsembleLinear(n_models, width_in, width_out), nn.ReLU()]
        layers.append(EnsembleLinear(n_models, widths[-1], out_features))
        super().__init__(*layers)


class ConstantDims(nn.Module):
    """Which dimensions of a stream of vectors ``[N, dim]`` have never changed, and their value.

    Compared exactly against the first vector seen rather than read off a running variance:
    :class:`RunningMeanStd`'s prior count keeps the variance of a constant dimension slightly
    above zero, at a size that depends on how much data came in.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("reference", torch.zeros(dim))
        self.register_buffer("varies", torch.zeros(dim, dtype=torch.bool))
        self.register_buffer("seen", torch.zeros((), dtype=torch.bool))

    def update(self, x: torch.Tensor) -> None:
        """Fold in the vectors ``x`` ``[N, dim]``."""
        if x.shape[0] == 0:
            return
        if not self.seen:
            self.reference.copy_(x[0])
            self.seen.fill_(True)
        self.varies |= (x != self.reference).any(0)

    @property
    def mask(self) -> torch.Tensor:
        """``[dim]`` bool: True where every value seen equals ``reference`` (False before any data)."""
        return self.seen & ~self.varies


class DynamicsModel(nn.Module):
    """The learned environment model (see the module docstring).

    Args:
        state_dim: size of the global state.
        n_agents: number of agents.
        n_actions: actions per agent (discrete) or the padded action dimension (continuous).
        reward_dim: 1 (team reward) or ``n_agents`` (per-agent rewards).
        action_kind: ``"discrete"`` or ``"continuous"``.
        action_low, action_high: ``[n_agents, action_dim]`` bounds of continuous actions (env info).
        agent_action_dims: per agent, its real action size; dims beyond it are padding, zeroed in the
            inputs (None: no padding).
        obs_dim: observation size per agent; needed when ``state_to_obs`` is None (then predicted).
        state_to_obs: the env's ``state -> observations`` map, or None to predict observations.
        n_models: ensemble size; 1 is a deterministic MLP, more are probabilistic members (MBPO).
        n_elites: members an imagined step draws from (the best on validation data); None: all.
        hidden_dim, hidden_layers: width and depth of each member's MLP.
        symlog_rewards: predict ``symlog(reward)`` (for sparse, large rewards such as football's).
        sample_predictions: probabilistic members sample their Gaussian in ``step`` (MBPO) instead
            of returning its mean.
    """

    def __init__(
        self,
        state_dim: int,
        n_agents: int,
        n_actions: int,
        reward_dim: int,
        *,
        action_kind: str = "discrete",
        action_low: Sequence[Sequence[float]] | None = None,
        action_high: Sequence[Sequence[float]] | None = None,
        agent_action_dims: Sequence[int] | None = None,
        obs_dim: int | None = None,
        state_to_obs: StateToObs | None = None,
        n_models: int = 1,
        n_elites: int | None = None,
        hidden_dim: int = 256,
        hidden_layers: int = 4,
        symlog_rewards: bool = False,
        sample_predictions: bool = True,
    ) -> None:
        super().__init__()
        n_elites = n_models if n_elites is None else n_elites
        _check_arguments(
            action_kind, action_low, action_high, obs_dim, state_to_obs, n_models, n_elites, hidden_dim, hidden_layers
        )
        self.state_dim, self.n_agents, self.n_actions, self.reward_dim = state_dim, n_agents, n_actions, reward_dim
        self.continuous = action_kind == "continuous"
        self.state_to_obs = state_to_obs
        self.predicts_obs = state_to_obs is None
        self.obs_dim = obs_dim
        self.n_models = n_models
        self.probabilistic = n_models > 1
        self.symlog_rewards = symlog_rewards
        self.sample_predictions = sample_predictions

        if self.continuous:
            low = torch.as_tensor(action_low, dtype=torch.float32).reshape(n_agents, n_actions)
            high = torch.as_tensor(action_high, dtype=torch.float32).reshape(n_agents, n_actions)
            real = torch.ones(n_agents, n_actions)
            if agent_action_dims is not None:
                real = (torch.arange(n_actions) < torch.as_tensor(agent_action_dims)[:, None]).float()
            self.register_buffer("action_low", low)
            self.register_buffer("action_high", high)
            self.register_buffer("action_real_dims", real)  # [n_agents, action_dim], 0 on padding

        # Output layout: Gaussian part [delta | reward | next obs], then the termination logit.
        obs_size = n_agents * obs_dim if self.predicts_obs else 0
        self.gaussian_dim = state_dim + reward_dim + obs_size
        self.input_dim = state_dim + n_agents * n_actions
        output_dim = self.gaussian_dim * (2 if self.probabilistic else 1) + 1
        self.network = EnsembleMLP(n_models, self.input_dim, output_dim, hidden_dim, hidden_layers)
        if self.probabilistic:
            self.max_log_var = nn.Parameter(torch.full((self.gaussian_dim,), LOG_VAR_MAX_INIT))
            self.min_log_var = nn.Parameter(torch.full((self.gaussian_dim,), LOG_VAR_MIN_INIT))
        self.register_buffer("elites", torch.arange(n_elites))

        self.state_normaliser = RunningMeanStd((state_dim,))
        self.delta_normaliser = RunningMeanStd((state_dim,))
        self.constant_state = ConstantDims(state_dim)
        if self.predicts_obs:
            self.obs_normaliser = RunningMeanStd((obs_size,))
            self.constant_obs = ConstantDims(obs_size)

    @classmethod
    def from_env_info(cls, env_info: Mapping[str, Any], reward_dim: int, **options: Any) -> DynamicsModel:
        """A model sized by an env's info (an ``EnvInfo``, or the dictionary of ``get_env_info()``);
        ``options`` are the keyword arguments from ``n_models`` on. Uses ``"state_to_obs"`` and
        ``"agent_action_dims"`` when present."""
        info = EnvInfo.from_env(env_info)
        return cls(
            info.state_shape,
            info.n_agents,
            info.n_actions,
            reward_dim,
            action_kind=info.action_kind,
            action_low=info.get("action_low"),
            action_high=info.get("action_high"),
            agent_action_dims=info.get("agent_action_dims"),
            obs_dim=info.obs_shape,
            state_to_obs=info.get("state_to_obs"),
            **options,
        )

    # ------------------------------------------------------------------ inputs and targets
    def encode_actions(self, actions: torch.Tensor) -> torch.Tensor:
        """The joint action as network input ``[..., n_agents * n_actions]``.

        Discrete: integer indices ``[..., n_agents]`` become one-hots;
        float ``[..., n_agents, n_actions]`` are taken as one-hots already. Continuous
        ``[..., n_agents, action_dim]``: clipped to the bounds, rescaled to ``[-1, 1]``, padding zeroed.
        """
        if self.continuous:
            actions = actions.reshape(*actions.shape[:-2], self.n_agents, self.n_actions).float()
            low, high = self.action_low, self.action_high
            clipped = torch.minimum(torch.maximum(actions, low), high)
            scaled = (2 * clipped - (high + low)) / (high - low).clamp_min(1e-8)
            return (scaled * self.action_real_dims).flatten(-2)
        if not actions.is_floating_point():
            actions = nn.functional.one_hot(actions.long(), self.n_actions).float()
        return actions.flatten(-2)

    def inputs(self, state: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Network inputs ``[..., input_dim]`` from states ``[..., state_dim]`` and joint actions
        (see :meth:`encode_actions`); constant state dims are fed as 0."""
        normalised = self.state_normaliser.normalise(state).masked_fill(self.constant_state.mask, 0.0)
        normalised = normalised.clamp(-NORMALISED_LIMIT, NORMALISED_LIMIT)  # imagined states drift off the data
        return torch.cat([normalised, self.encode_actions(actions)], dim=-1)

    def targets(
        self, state: torch.Tensor, next_state: torch.Tensor, reward: torch.Tensor, next_obs: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The Gaussian part's regression targets ``[..., gaussian_dim]``: normalised ``s' - s``
        (0 on constant dims), the (symlog) reward and, when predicted, normalised next observations
        (``next_obs`` ``[..., n_agents, obs_dim]``, 0 on constant dims)."""
        delta = self.delta_normaliser.normalise(next_state - state).masked_fill(self.constant_state.mask, 0.0)
        parts = [delta, symlog(reward) if self.symlog_rewards else reward]
        if self.predicts_obs:
            obs = self.obs_normaliser.normalise(next_obs.flatten(-2)).masked_fill(self.constant_obs.mask, 0.0)
            parts.append(obs)
        return torch.cat(parts, dim=-1)

    def target_weights(self) -> torch.Tensor:
        """``[gaussian_dim]``: 0 on outputs that are copied (constant dims), 1 on the rest."""
        reward = torch.ones(self.reward_dim, device=self.elites.device)
        parts = [(~self.constant_state.mask).float(), reward]
        if self.predicts_obs:
            parts.append((~self.constant_obs.mask).float())
        return torch.cat(parts)

    @torch.no_grad()
    def update_normalisers(
        self, state: torch.Tensor, next_state: torch.Tensor, next_obs: torch.Tensor | None = None
    ) -> None:
        """Fold real transitions (``[N, state_dim]``, ``next_obs`` ``[N, n_agents, obs_dim]``) into
        the running statistics and the constant-dimension records."""
        self.state_normaliser.update(state)
        self.delta_normaliser.update(next_state - state)
        self.constant_state.update(torch.cat([state, next_state]))
        if self.predicts_obs:
            self.obs_normaliser.update(next_obs.flatten(-2))
            self.constant_obs.update(next_obs.flatten(-2))

    # ------------------------------------------------------------------ network
    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """Every member's prediction for its inputs ``[n_models, batch, input_dim]``.

        Returns:
            mean ``[n_models, batch, gaussian_dim]`` (normalised units, see :meth:`targets`),
            log_var of the same shape (None for a deterministic model), bounded softly between
            ``min_log_var`` and ``max_log_var`` as in PETS/MBPO, and the termination logit
            ``[n_models, batch]``.
        """
        output = self.network(inputs)
        mean = output[..., : self.gaussian_dim]
        termination_logit = output[..., -1]
        if not self.probabilistic:
            return mean, None, termination_logit
        log_var = output[..., self.gaussian_dim : 2 * self.gaussian_dim]
        log_var = self.max_log_var - nn.functional.softplus(self.max_log_var - log_var)
        log_var = self.min_log_var + nn.functional.softplus(log_var - self.min_log_var)
        return mean, log_var, termination_logit

    def decode(
        self, state: torch.Tensor, prediction: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Raw-unit ``(next_state [..., state_dim], reward [..., reward_dim], next_obs [..., n_agents,
        obs_dim] or None)`` from a Gaussian-part prediction ``[..., gaussian_dim]`` for ``state``.
        Constant dims are copied: the state's own value, the observations' recorded one."""
        prediction = prediction.clamp(-NORMALISED_LIMIT, NORMALISED_LIMIT)  # no step leaves the data's range far
        delta = self.delta_normaliser.denormalise(prediction[..., : self.state_dim])
        next_state = torch.where(self.constant_state.mask, state, state + delta)
        reward = prediction[..., self.state_dim : self.state_dim + self.reward_dim]
        reward = symexp(reward) if self.symlog_rewards else reward
        if not self.predicts_obs:
            return next_state, reward, None
        obs = self.obs_normaliser.denormalise(prediction[..., self.state_dim + self.reward_dim :])
        obs = torch.where(self.constant_obs.mask, self.constant_obs.reference, obs)
        return next_state, reward, obs.unflatten(-1, (self.n_agents, self.obs_dim))

    def set_elites(self, members: torch.Tensor) -> None:
        """Make ``members`` (``[n_elites]`` indices) the ones imagined steps draw from."""
        self.elites.copy_(members)

    # ------------------------------------------------------------------ imagination
    @torch.no_grad()
    def step_with_obs(self, state: torch.Tensor, actions: torch.Tensor) -> ImaginedStep:
        """One imagined step of ``N`` rollouts, each from a random elite member.

        Args:
            state: ``[N, state_dim]`` raw states.
            actions: the joint actions (see :meth:`encode_actions`), e.g. ``[N, n_agents]`` indices.

        Returns:
            ``next_state [N, state_dim]``, ``reward [N, reward_dim]``, the termination probability
            ``[N]`` and the agents' observations of the next state ``[N, n_agents, obs_dim]`` (the
            env's map when it has one, else the model's prediction). Callers draw or threshold the
            termination themselves (e.g. ``torch.bernoulli(p).bool()`` or ``p > 0.5``).
        """
        inputs = self.inputs(state, actions)
        mean, log_var, termination_logit = self(inputs.expand(self.n_models, *inputs.shape))
        rollouts = torch.arange(state.shape[0], device=state.device)
        member = self.elites[torch.randint(len(self.elites), (state.shape[0],), device=state.device)]
        prediction = mean[member, rollouts]  # [N, gaussian_dim]
        if log_var is not None and self.sample_predictions:
            prediction = prediction + torch.randn_like(prediction) * (0.5 * log_var[member, rollouts]).exp()
        next_state, reward, next_obs = self.decode(state, prediction)
        if next_obs is None:
            next_obs = self.state_to_obs(next_state)
        return ImaginedStep(next_state, reward, torch.sigmoid(termination_logit[member, rollouts]), next_obs)

    @torch.no_grad()
    def step(self, state: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(next_state [N, state_dim], reward [N, reward_dim], termination probability [N])``:
        :meth:`step_with_obs` without the observations."""
        next_state, reward, termination, _ = self.step_with_obs(state, actions)
        return next_state, reward, termination

    # ------------------------------------------------------------------ persistence and devices
    def _normalisers(self) -> dict[str, RunningMeanStd]:
        normalisers = {"state": self.state_normaliser, "delta": self.delta_normaliser}
        if self.predicts_obs:
            normalisers["obs"] = self.obs_normaliser
        return normalisers

    def get_extra_state(self) -> dict[str, dict]:
        """The running normalisers (not ``nn.Module`` buffers), saved in ``state_dict()``."""
        return {name: normaliser.state_dict() for name, normaliser in self._normalisers().items()}

    def set_extra_state(self, state: dict[str, dict]) -> None:
        for name, normaliser in self._normalisers().items():
            normaliser.load_state_dict(state[name])

    def _apply(self, fn: Callable[[torch.Tensor], torch.Tensor], recurse: bool = True) -> DynamicsModel:
        """Move/cast the normalisers' statistics with the parameters (``.to(device)``, ``.cuda()``)."""
        super()._apply(fn, recurse)
        for normaliser in self._normalisers().values():
            normaliser.mean, normaliser.var = fn(normaliser.mean), fn(normaliser.var)
        return self


def _check_arguments(
    action_kind: str,
    action_low: Any,
    action_high: Any,
    obs_dim: int | None,
    state_to_obs: StateToObs | None,
    n_models: int,
    n_elites: int,
    hidden_dim: int,
    hidden_layers: int,
) -> None:
    """Raise :class:`ConfigError` naming the first bad argument, its value and what is allowed."""
    if action_kind not in ("discrete", "continuous"):
        raise ConfigError(f"bad value for 'action_kind': {action_kind!r}; allowed: discrete, continuous")
    if action_kind == "continuous" and (action_low is None or action_high is None):
        raise ConfigError("continuous actions need 'action_low' and 'action_high' (env info); got None")
    if state_to_obs is None and obs_dim is None:
        raise ConfigError("'obs_dim' is needed to predict observations when the env has no 'state_to_obs'; got None")
    for key, value in {"n_models": n_models, "hidden_dim": hidden_dim, "hidden_layers": hidden_layers}.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"bad value for '{key}': {value!r}; allowed: an integer >= 1")
    if not isinstance(n_elites, int) or isinstance(n_elites, bool) or not 1 <= n_elites <= n_models:
        raise ConfigError(f"bad value for 'n_elites': {n_elites!r}; allowed: an integer in [1, n_models={n_models}]")
