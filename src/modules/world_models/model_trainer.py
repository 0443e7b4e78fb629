"""Fitting Lookahead's dynamics model to real transitions, and measuring it on held-out ones.

Lookahead ("Efficient Multi-Agent Cooperation Learning through Teammate Lookahead") trains its
model of the environment on the real transitions collected so far. :class:`ModelTrainer` keeps
them in a FIFO (:class:`TransitionBuffer`), sets a random ``validation_fraction`` of every new
batch aside in a smaller validation FIFO (as MBPO's holdout set, Janner et al. 2019), and takes
gradient steps on random mini-batches:

* deterministic model (``n_models = 1``, the Lookahead authors' setting): MSE on the normalised
  state change, the reward (and predicted observations) plus binary cross-entropy on the
  termination logit;
* probabilistic ensemble (MBPO): the Gaussian negative log-likelihood ``(mean - y)^2 / var + log var``
  instead of the MSE, summed over members that each see their own random mini-batch, plus
  MBPO's small penalty ``0.01 * (sum(max_log_var) - sum(min_log_var))`` that tightens the
  log-variance bounds.

Constant state/observation dimensions are left out of the loss (the model copies them).
Optimiser: Adam (lr 5e-4, eps 1e-5, weight decay 1e-5 on the network weights), gradient norm
clipped at 10.

Early stopping (``early_stop``, off by default: Lookahead's authors take a fixed number of steps)
is MBPO's practice (Janner et al. 2019): stop when the held-out loss has not improved by 1% for 5
checks. Every ``early_stop_interval`` steps the training loss is computed on the whole validation
FIFO (summed over members as in training; MBPO tracks each member's held-out MSE and goes on while
any improves); a :meth:`ModelTrainer.train_steps` call stops once ``early_stop_patience`` checks in
a row failed to beat the best held-out loss of the call (the first best is the loss before its
first step) by ``early_stop_tolerance`` of it, so a model that has stopped generalising better does
not spend the rest of its steps fitting the training FIFO. It needs held-out data: without a
validation FIFO (``validation_fraction = 0``) or while it is empty, every step is taken.

``compile_loss`` (off by default) computes the training loss with ``torch.compile``: its forward
and backward become fused kernels (one compile per run, on the first step). The steps are the same
computation with the element-wise work regrouped, so they match the uncompiled ones up to float
rounding (a run parts from the uncompiled one after a while, as with another thread count).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from components.adam import Adam
from components.episode_buffer import EpisodeBatch
from modules.world_models.dynamics_model import DynamicsModel
from modules.world_models.transition_buffer import TransitionBuffer, Transitions, transitions_from_episodes
from utils.compiling import CompiledOrEager
from utils.config import ConfigError
from utils.finite_checks import StepChecks
from utils.logging import as_floats

LOG_VAR_BOUND_PENALTY = 0.01
"""Weight of MBPO's penalty on the gap between the learnt log-variance bounds."""


class ModelTrainer:
    """Owns the model's training data and optimiser (see the module docstring).

    Args:
        model: the model to train (its normalisers are updated as data is added).
        lr, adam_eps, weight_decay: Adam's settings (weight decay only on the network weights).
        grad_clip: maximum global norm of the gradient.
        batch_size: transitions per mini-batch (per member for an ensemble).
        buffer_size: capacity of the training FIFO.
        validation_fraction: share of added transitions held out for validation, in ``[0, 1)``;
            the validation FIFO holds ``buffer_size * validation_fraction`` of them.
        buffer_device: where the FIFOs live (mini-batches are moved to the model's device).
        early_stop: stop :meth:`train_steps` early on the held-out loss (module docstring).
        early_stop_interval: gradient steps between held-out checks.
        early_stop_patience: checks in a row without improvement that stop a call.
        early_stop_tolerance: relative improvement that counts, in ``[0, 1)``: a held-out loss
            improves on the best one if it is below ``best - tolerance * |best|`` (``best * (1 -
            tolerance)`` for a positive loss; ``|best|`` keeps the test right for an ensemble's
            Gaussian NLL, which can be negative).
        compile_loss: compute the training steps' loss with ``torch.compile`` (module docstring);
            where it cannot compile, a warning and the uncompiled loss.
        fused_adam: torch's fused Adam kernel (config ``adam_fused``; ``components.adam``).
    """

    def __init__(
        self,
        model: DynamicsModel,
        *,
        lr: float = 5e-4,
        adam_eps: float = 1e-5,
        weight_decay: float = 1e-5,
        grad_clip: float = 10.0,
        batch_size: int = 512,
        buffer_size: int = 100_000,
        validation_fraction: float = 0.1,
        buffer_device: str | torch.device = "cpu",
        early_stop: bool = False,
        early_stop_interval: int = 100,
        early_stop_patience: int = 5,
        early_stop_tolerance: float = 0.01,
        compile_loss: bool = False,
        fused_adam: bool = False,
    ) -> None:
        _check_arguments(
            lr, adam_eps, weight_decay, grad_clip, batch_size, buffer_size, validation_fraction,
            early_stop, early_stop_interval, early_stop_patience, early_stop_tolerance,
        )
        self.model = model
        self.grad_clip = grad_clip
        self.batch_size = batch_size
        self.validation_fraction = validation_fraction
        self.early_stop = early_stop
        self.early_stop_interval = early_stop_interval
        self.early_stop_patience = early_stop_patience
        self.early_stop_tolerance = early_stop_tolerance
        self.train_buffer = TransitionBuffer(buffer_size, buffer_device)
        validation_size = max(1, round(buffer_size * validation_fraction))
        self.validation_buffer = TransitionBuffer(validation_size, buffer_device) if validation_fraction > 0 else None
        bounds = [p for name, p in model.named_parameters() if name in ("max_log_var", "min_log_var")]
        weights = [p for name, p in model.named_parameters() if name not in ("max_log_var", "min_log_var")]
        groups = [{"params": weights, "weight_decay": weight_decay}]
        if bounds:
            groups.append({"params": bounds, "weight_decay": 0.0})
        self.optimiser = Adam(groups, lr=lr, eps=adam_eps, fused=fused_adam)
        self.gradient_steps = 0
        self._step_loss = CompiledOrEager(self.loss, "the dynamics model's loss") if compile_loss else self.loss

    @property
    def device(self) -> torch.device:
        return self.model.elites.device

    # ------------------------------------------------------------------ data
    def add_episodes(self, batch: EpisodeBatch) -> int:
        """Add every valid transition of ``batch`` (see :func:`transitions_from_episodes`);
        returns how many there were."""
        transitions = transitions_from_episodes(batch, with_next_obs=self.model.predicts_obs)
        self.add_transitions(transitions)
        return int(transitions["state"].shape[0])

    def add_transitions(self, transitions: Transitions) -> None:
        """Split ``transitions`` (``[N, ...]`` per field) at random between the training and
        validation FIFOs, and fold the training share into the model's normalisers and
        constant-dimension records: the held-out transitions stay unseen, so ``model_val_*`` is an
        honest estimate."""
        if transitions["state"].shape[0] == 0:
            return
        training = transitions
        if self.validation_buffer is not None:
            draws = torch.rand(transitions["state"].shape[0], device=transitions["state"].device)
            held_out = draws < self.validation_fraction
            training = {name: value[~held_out] for name, value in transitions.items()}
            self.validation_buffer.add({name: value[held_out] for name, value in transitions.items()})
        self.train_buffer.add(training)
        if training["state"].shape[0] == 0:
            return
        device = self.device
        self.model.update_normalisers(
            training["state"].to(device),
            training["next_state"].to(device),
            training["next_obs"].to(device) if self.model.predicts_obs else None,
        )

    # ------------------------------------------------------------------ training
    def loss(self, batch: Transitions) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The training loss on ``batch`` (fields ``[n_models, batch_size, ...]``) and its parts
        (``state``, ``reward``, ``obs`` when predicted, ``termination``), each summed over members."""
        model = self.model
        next_obs = batch.get("next_obs")
        inputs = model.inputs(batch["state"], batch["actions"])  # [M, B, input_dim]
        targets = model.targets(batch["state"], batch["next_state"], batch["reward"], next_obs)  # [M, B, G]
        mean, log_var, termination_logit = model(inputs)
        error = (mean - targets).square()
        per_output = error if log_var is None else error * torch.exp(-log_var) + log_var  # [M, B, G]
        weights = model.target_weights()
        parts = {}
        for name, outputs in _output_slices(model).items():
            weight = weights[outputs]
            per_sample = (per_output[..., outputs] * weight).sum(-1) / weight.sum().clamp_min(1.0)  # [M, B]
            parts[name] = per_sample.mean(-1).sum()
        parts["termination"] = (
            nn.functional.binary_cross_entropy_with_logits(termination_logit, batch["terminated"], reduction="none")
            .mean(-1)
            .sum()
        )
        loss = sum(parts.values())
        if model.probabilistic:
            loss = loss + LOG_VAR_BOUND_PENALTY * (model.max_log_var.sum() - model.min_log_var.sum())
        return loss, parts

    def train_steps(self, n_steps: int, generator: torch.Generator | None = None) -> dict[str, float]:
        """Take ``n_steps`` gradient steps on random mini-batches of the training FIFO, fewer when
        ``early_stop`` stops the call (module docstring; the held-out checks draw no random numbers,
        so the steps taken are those an ``early_stop=False`` trainer would take).

        Returns the mean over the steps taken of the loss (``model_loss``) and its parts
        (``model_state_loss``, ``model_reward_loss``, ``model_termination_loss``, ``model_obs_loss``),
        and their number (``model_steps_taken``). ``generator``: where the mini-batches are drawn from
        (default: torch's global stream).
        """
        if len(self.train_buffer) == 0:
            raise ValueError("the dynamics model has no transitions to train on; add episodes first")
        held_out = self._held_out_batch() if self.early_stop else None
        best = self._held_out_loss(held_out) if held_out is not None else math.inf
        checks_without_improvement = 0
        totals: dict[str, torch.Tensor] = {}
        checks = StepChecks(self)
        steps_taken = 0
        while steps_taken < n_steps:
            batch = self.train_buffer.sample((self.model.n_models, self.batch_size), self.device, generator)
            loss, parts = self._step_loss(batch)
            self.optimiser.zero_grad()
            loss.backward()
            grad_norm = nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
            checks.step("dynamics model", loss, grad_norm, self.model.parameters())
            self.optimiser.step()
            self.gradient_steps += 1
            named = {"loss": loss} | {f"{part}_loss": value for part, value in parts.items()}
            for name, value in named.items():
                totals[name] = totals.get(name, 0.0) + value.detach()
            steps_taken += 1
            if held_out is not None and steps_taken % self.early_stop_interval == 0 and steps_taken < n_steps:
                checks.finish()  # the held-out loss is read back here anyway
                held_out_loss = self._held_out_loss(held_out)
                if held_out_loss < best - self.early_stop_tolerance * abs(best):
                    best, checks_without_improvement = held_out_loss, 0
                else:
                    checks_without_improvement += 1
                if checks_without_improvement == self.early_stop_patience:
                    break
        checks.finish()
        stats = {f"model_{name}": total / max(steps_taken, 1) for name, total in as_floats(totals).items()}
        return stats | {"model_steps_taken": float(steps_taken)}

    def _held_out_batch(self) -> Transitions | None:
        """The validation FIFO's transitions as one batch for every member (fields ``[n_models, V,
        ...]``, expanded, not copied), or None without held-out data to check on."""
        if self.validation_buffer is None or len(self.validation_buffer) == 0:
            return None
        data = self.validation_buffer.all(self.device)
        return {name: value.expand(self.model.n_models, *value.shape) for name, value in data.items()}

    @torch.no_grad()
    def _held_out_loss(self, held_out: Transitions) -> float:
        """The training loss (:meth:`loss`, summed over members) on the held-out batch."""
        return float(self.loss(held_out)[0])

    # ------------------------------------------------------------------ validation
    @torch.no_grad()
    def validation_metrics(self) -> dict[str, float]:
        """Accuracy of the model on the validation FIFO (empty dict while it is empty).

        Picks the ensemble's elites first (the ``n_elites`` members with the lowest normalised
        mean-prediction error, as MBPO), then reports the elites' average of:

        * ``model_next_state_mse``: mean squared error of the predicted next state, raw units;
        * ``model_reward_r2``: coefficient of determination of the predicted reward (NaN when the
          validation rewards are all equal);
        * ``model_termination_accuracy``: share of transitions whose termination (probability > 0.5)
          is predicted right;
        * ``model_obs_mse`` (when observations are predicted): their mean squared error, raw units.
        """
        if self.validation_buffer is None or len(self.validation_buffer) == 0:
            return {}
        model = self.model
        data = self.validation_buffer.all(self.device)
        inputs = model.inputs(data["state"], data["actions"])
        mean, _, termination_logit = model(inputs.expand(model.n_models, *inputs.shape))
        targets = model.targets(data["state"], data["next_state"], data["reward"], data.get("next_obs"))
        weights = model.target_weights()
        normalised_error = ((mean - targets).square() * weights).sum(-1).mean(-1) / weights.sum()  # [M]
        model.set_elites(normalised_error.argsort()[: len(model.elites)].sort().values)
        elites = model.elites

        next_state, reward, next_obs = model.decode(data["state"], mean[elites])  # [E, V, ...]
        reward_true = data["reward"]
        reward_error = (reward - reward_true).square().sum((1, 2))  # [E]
        reward_spread = (reward_true - reward_true.mean(0)).square().sum()
        reward_r2 = (1 - reward_error / reward_spread).mean() if reward_spread > 0 else torch.tensor(float("nan"))
        terminated = data["terminated"] > 0.5
        metrics = {
            "model_next_state_mse": (next_state - data["next_state"]).square().mean((1, 2)).mean(),
            "model_reward_r2": reward_r2,
            "model_termination_accuracy": ((termination_logit[elites] > 0) == terminated).float().mean(),
        }
        if next_obs is not None:
            metrics["model_obs_mse"] = (next_obs - data["next_obs"]).square().mean((1, 2, 3)).mean()
        return {name: float(value) for name, value in metrics.items()}

    # ------------------------------------------------------------------ persistence and devices
    def state_dict(self) -> dict:
        """The model (networks, normalisers, elites), the optimiser and the step count; the FIFOs
        are not saved (as EPyMARL's replay buffer, they refill after a resume)."""
        return {
            "model": self.model.state_dict(),
            "optimiser": self.optimiser.state_dict(),
            "gradient_steps": self.gradient_steps,
        }

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimiser.load_state_dict(state["optimiser"])  # casts its moments to the parameters' device
        self.gradient_steps = state["gradient_steps"]

    def to(self, device: str | torch.device) -> ModelTrainer:
        """Move the model and the optimiser's moments to ``device`` (the FIFOs stay where they are)."""
        self.model.to(device)
        self.optimiser.load_state_dict(self.optimiser.state_dict())
        return self


def _output_slices(model: DynamicsModel) -> dict[str, slice]:
    """Where each predicted quantity sits in the Gaussian part of the output."""
    state_end = model.state_dim
    reward_end = state_end + model.reward_dim
    slices = {"state": slice(0, state_end), "reward": slice(state_end, reward_end)}
    if model.predicts_obs:
        slices["obs"] = slice(reward_end, model.gaussian_dim)
    return slices


def _check_arguments(
    lr: float,
    adam_eps: float,
    weight_decay: float,
    grad_clip: float,
    batch_size: int,
    buffer_size: int,
    validation_fraction: float,
    early_stop: bool,
    early_stop_interval: int,
    early_stop_patience: int,
    early_stop_tolerance: float,
) -> None:
    """Raise :class:`ConfigError` naming the first bad argument, its value and what is allowed."""
    numbers = {"lr": lr, "adam_eps": adam_eps, "grad_clip": grad_clip}
    for key, value in numbers.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ConfigError(f"bad value for '{key}': {value!r}; allowed: a number > 0")
    if isinstance(weight_decay, bool) or not isinstance(weight_decay, (int, float)) or weight_decay < 0:
        raise ConfigError(f"bad value for 'weight_decay': {weight_decay!r}; allowed: a number >= 0")
    integers = {
        "batch_size": batch_size, "buffer_size": buffer_size,
        "early_stop_interval": early_stop_interval, "early_stop_patience": early_stop_patience,
    }
    for key, value in integers.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"bad value for '{key}': {value!r}; allowed: an integer >= 1")
    fraction = validation_fraction
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction < 1:
        raise ConfigError(f"bad value for 'validation_fraction': {validation_fraction!r}; allowed: a number in [0, 1)")
    if not isinstance(early_stop, bool):
        raise ConfigError(f"bad value for 'early_stop': {early_stop!r}; allowed: True or False")
    tolerance = early_stop_tolerance
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not 0 <= tolerance < 1:
        raise ConfigError(f"bad value for 'early_stop_tolerance': {tolerance!r}; allowed: a number in [0, 1)")
