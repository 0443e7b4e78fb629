"""Lookahead's dynamics model (``modules.world_models``): fitting known systems, the batched
ensemble, copied constant dims, the transition FIFO, termination targets and checkpoints."""

from __future__ import annotations

import io

import pytest
import torch

from components.episode_buffer import EpisodeBatch
from components.transforms import OneHot
from modules.world_models import REGISTRY
from modules.world_models.dynamics_model import DynamicsModel
from modules.world_models.model_trainer import ModelTrainer
from modules.world_models.transition_buffer import TransitionBuffer, transitions_from_episodes
from utils.config import ConfigError
from utils.finite_checks import NonFiniteError

STATE_DIM, N_AGENTS, ACTION_DIM = 4, 2, 2
THRESHOLD = 1.0  # the linear system terminates when the next state's first entry exceeds it
SMALL = {"hidden_dim": 64, "hidden_layers": 2}


def linear_system(generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``A [state, state]``, ``B [state, n_agents * action_dim]``, ``c [state]`` of ``s' = A s + B a``, ``r = c.s``."""
    a = 0.9 * torch.eye(STATE_DIM) + 0.1 * torch.randn(STATE_DIM, STATE_DIM, generator=generator)
    b = 0.5 * torch.randn(STATE_DIM, N_AGENTS * ACTION_DIM, generator=generator)
    c = torch.randn(STATE_DIM, generator=generator)
    return a, b, c


def linear_transitions(n: int, system: tuple, generator: torch.Generator, constant: float | None = None) -> dict:
    """``n`` i.i.d. transitions of the linear system (actions sampled beyond the [-1, 1] bounds, so
    clipping matters: the env acts on clipped actions). ``constant`` overwrites state dim 1."""
    a, b, c = system
    state = torch.randn(n, STATE_DIM, generator=generator)
    if constant is not None:
        state[:, 1] = constant
    actions = 1.5 * (2 * torch.rand(n, N_AGENTS, ACTION_DIM, generator=generator) - 1)
    next_state = state @ a.T + actions.clamp(-1, 1).flatten(1) @ b.T
    if constant is not None:
        next_state[:, 1] = constant
    terminated = (next_state[:, 0] > THRESHOLD).float()
    return {
        "state": state,
        "actions": actions,
        "reward": (state @ c)[:, None],
        "next_state": next_state,
        "terminated": terminated,
        "episode_end": terminated > 0,
    }


def identity_obs(state: torch.Tensor) -> torch.Tensor:
    """A state-to-observation map: every agent sees the whole state ``[..., n_agents, state_dim]``."""
    return state.unsqueeze(-2).expand(*state.shape[:-1], N_AGENTS, STATE_DIM)


def continuous_model(**options) -> DynamicsModel:
    bounds = {"action_low": [[-1.0] * ACTION_DIM] * N_AGENTS, "action_high": [[1.0] * ACTION_DIM] * N_AGENTS}
    return DynamicsModel(
        STATE_DIM, N_AGENTS, ACTION_DIM, 1, action_kind="continuous", state_to_obs=identity_obs, **bounds,
        **{**SMALL, **options},
    )


def fitted(model: DynamicsModel, n_steps: int, seed: int = 0, constant: float | None = None) -> ModelTrainer:
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    trainer = ModelTrainer(model, batch_size=128, buffer_size=5000, lr=1e-3)
    trainer.add_transitions(linear_transitions(3000, linear_system(generator), generator, constant))
    trainer.train_steps(n_steps)
    return trainer


# ------------------------------------------------------------------ fitting
def test_fits_linear_system_with_reward_and_termination():
    system = linear_system(torch.Generator().manual_seed(0))  # the system ``fitted`` trains on
    held_out = linear_transitions(500, system, torch.Generator().manual_seed(99))
    copy_mse = (held_out["next_state"] - held_out["state"]).square().mean()
    trainer = fitted(continuous_model(), n_steps=300)
    metrics = trainer.validation_metrics()
    assert set(metrics) == {"model_next_state_mse", "model_reward_r2", "model_termination_accuracy"}
    assert all(isinstance(value, float) for value in metrics.values())
    assert metrics["model_next_state_mse"] < 0.02 * float(copy_mse)
    assert metrics["model_reward_r2"] > 0.95
    assert metrics["model_termination_accuracy"] > 0.9
    # step() on fresh data: the same accuracy, in raw units, batched over rollouts
    next_state, reward, termination = trainer.model.step(held_out["state"], held_out["actions"])
    assert next_state.shape == (500, STATE_DIM) and reward.shape == (500, 1) and termination.shape == (500,)
    assert (next_state - held_out["next_state"]).square().mean() < 0.02 * copy_mse
    assert ((termination > 0.5).float() == held_out["terminated"]).float().mean() > 0.9


def test_train_steps_reports_finite_losses_and_validation_split():
    trainer = fitted(continuous_model(), n_steps=3)
    assert len(trainer.train_buffer) + len(trainer.validation_buffer) == 3000
    assert 200 < len(trainer.validation_buffer) < 400  # about 10% held out
    losses = trainer.train_steps(2)
    assert set(losses) == {
        "model_loss", "model_state_loss", "model_reward_loss", "model_termination_loss", "model_steps_taken",
    }
    assert losses["model_steps_taken"] == 2.0
    assert all(torch.isfinite(torch.tensor(value)) for value in losses.values())
    assert trainer.gradient_steps == 5


def test_normalisers_see_the_training_split_only():
    """The held-out transitions never reach the normalisers (nor the constant-dimension records), so
    ``model_val_*`` measures the model on data it has seen in no form: the state normaliser's count
    and mean are those of the training split, not of every transition added."""
    model = continuous_model()
    trainer = ModelTrainer(model, batch_size=32, buffer_size=5000)
    generator = torch.Generator().manual_seed(3)
    transitions = linear_transitions(1000, linear_system(generator), generator)
    torch.manual_seed(0)
    trainer.add_transitions(transitions)
    torch.manual_seed(0)  # the same draw again: which rows were kept for training
    kept = ~(torch.rand(1000) < trainer.validation_fraction)
    assert len(trainer.train_buffer) == int(kept.sum()) and 0 < len(trainer.validation_buffer) < 1000
    assert model.state_normaliser.count == pytest.approx(int(kept.sum()), abs=1e-3)
    torch.testing.assert_close(model.state_normaliser.mean, transitions["state"][kept].mean(0), rtol=1e-4, atol=1e-5)
    assert not torch.allclose(model.state_normaliser.mean, transitions["state"].mean(0), atol=1e-6)


def test_a_nan_reward_stops_model_training_before_the_step():
    """A NaN in the data makes the loss NaN: the trainer raises (naming itself and the quantity)
    before the optimiser step, so the model's weights stay finite and unchanged."""
    generator = torch.Generator().manual_seed(0)
    trainer = ModelTrainer(continuous_model(), batch_size=64, buffer_size=5000, validation_fraction=0.0)
    transitions = linear_transitions(3000, linear_system(generator), generator)
    transitions["reward"][::2] = float("nan")  # half the data: every mini-batch holds some
    trainer.add_transitions(transitions)
    before = [p.detach().clone() for p in trainer.model.parameters()]
    with pytest.raises(NonFiniteError, match=r"non-finite dynamics model loss \(nan\) in ModelTrainer"):
        trainer.train_steps(1)
    assert all(torch.equal(p, q) for p, q in zip(trainer.model.parameters(), before))
    assert trainer.gradient_steps == 0


def test_ensemble_is_one_batched_network_with_differing_members():
    model = continuous_model(n_models=3, sample_predictions=False)
    for name, parameter in model.network.named_parameters():
        assert parameter.shape[0] == 3, name
    assert model.max_log_var.shape == model.min_log_var.shape == (STATE_DIM + 1,)
    trainer = fitted(model, n_steps=300)
    assert trainer.validation_metrics()["model_next_state_mse"] < 0.05
    # the same input through each member: different predictions
    state, actions = torch.zeros(1, STATE_DIM), torch.zeros(1, N_AGENTS, ACTION_DIM)
    inputs = model.inputs(state, actions).expand(3, 1, -1)
    mean, log_var, _ = model(inputs)
    assert log_var is not None and log_var.shape == mean.shape == (3, 1, STATE_DIM + 1)
    assert (mean[0] != mean[1]).all() and (mean[1] != mean[2]).all()
    # step() draws a member per rollout: identical rollouts get (a few) different next states
    next_state, _, _ = model.step(state.expand(64, -1), actions.expand(64, -1, -1))
    assert len(torch.unique(next_state[:, 0].round(decimals=4))) == 3  # rows may differ in the last bits


def test_elites_are_the_best_members_on_validation():
    model = continuous_model(n_models=3, n_elites=2)
    trainer = fitted(model, n_steps=50)
    with torch.no_grad():
        model.network[0].weight[1].mul_(10)  # break member 1
    trainer.validation_metrics()
    assert model.elites.tolist() == [0, 2]


# ------------------------------------------------------------------ constant dims
@pytest.mark.parametrize("n_models", [1, 3])
def test_constant_state_dims_are_copied_exactly(n_models):
    model = continuous_model(n_models=n_models)
    fitted(model, n_steps=20, constant=3.7)
    assert model.constant_state.mask.tolist() == [False, True, False, False]
    state = torch.randn(16, STATE_DIM)
    state[:, 1] = 3.7
    next_state, _, _ = model.step(state, torch.zeros(16, N_AGENTS, ACTION_DIM))
    assert torch.equal(next_state[:, 1], state[:, 1])
    assert (next_state[:, 0] != state[:, 0]).all()


# ------------------------------------------------------------------ the FIFO
def test_fifo_wraps_around_and_keeps_the_newest():
    buffer = TransitionBuffer(capacity=5)
    buffer.add({"x": torch.arange(3.0)[:, None], "k": torch.arange(3)})
    buffer.add({"x": torch.arange(3.0, 7.0)[:, None], "k": torch.arange(3, 7)})
    assert len(buffer) == 5
    assert sorted(buffer.all()["k"].tolist()) == [2, 3, 4, 5, 6]
    assert torch.equal(buffer.all()["x"][:, 0], buffer.all()["k"].float())  # fields stay aligned
    buffer.add({"x": torch.arange(10.0, 18.0)[:, None], "k": torch.arange(10, 18)})  # more than capacity
    assert sorted(buffer.all()["k"].tolist()) == [13, 14, 15, 16, 17]
    sample = buffer.sample((3, 7))
    assert sample["x"].shape == (3, 7, 1) and set(sample["k"].flatten().tolist()) <= set(range(13, 18))
    with pytest.raises(KeyError):
        buffer.add({"x": torch.zeros(1, 1)})


def episode_batch(n_rows: int, seq: int, n_actions: int, obs_dim: int) -> EpisodeBatch:
    scheme = {
        "state": {"vshape": STATE_DIM},
        "obs": {"vshape": obs_dim, "group": "agents"},
        "actions": {"vshape": (1,), "group": "agents", "dtype": torch.long},
        "reward": {"vshape": (1,)},
        "terminated": {"vshape": (1,), "dtype": torch.uint8},
    }
    preprocess = {"actions": ("actions_onehot", [OneHot(n_actions)])}
    return EpisodeBatch(scheme, {"agents": N_AGENTS}, n_rows, seq, preprocess=preprocess)


def test_transitions_of_rows_holding_several_episodes():
    batch = episode_batch(n_rows=2, seq=8, n_actions=3, obs_dim=1)
    states = torch.arange(16.0).reshape(2, 8, 1).expand(-1, -1, STATE_DIM)  # state[b, t] = 8 b + t
    batch.update({"state": states, "obs": torch.zeros(2, 8, N_AGENTS, 1)}, mark_filled=False)
    # row 0: an episode on steps 0-2 (final state in slot 3), another on steps 4-5 (final state in 6)
    batch.update({"actions": torch.ones(2, N_AGENTS, 1, dtype=torch.long)}, bs=0, ts=[0, 1])
    batch.update({"actions": torch.full((1, N_AGENTS, 1), 2), "terminated": 1}, bs=0, ts=2)
    batch.update({"actions": torch.zeros(2, N_AGENTS, 1, dtype=torch.long)}, bs=0, ts=[4, 5])
    # row 1: one episode on steps 0-6, truncated by the row's end
    batch.update({"reward": torch.ones(7, 1)}, bs=1, ts=slice(0, 7))
    transitions = transitions_from_episodes(batch, with_next_obs=True)
    step_ids = transitions["state"][:, 0].tolist()
    assert step_ids == [0, 1, 2, 4, 5, 8, 9, 10, 11, 12, 13, 14]
    assert torch.equal(transitions["next_state"], transitions["state"] + 1)
    assert transitions["actions"].shape == (12, N_AGENTS) and transitions["actions"][:5, 0].tolist() == [1, 1, 2, 0, 0]
    assert transitions["terminated"].tolist() == [0, 0, 1] + [0] * 9
    assert transitions["episode_end"].nonzero().flatten().tolist() == [2, 4, 11]
    assert transitions["reward"][5:, 0].tolist() == [1.0] * 7
    assert transitions["next_obs"].shape == (12, N_AGENTS, 1)


# ------------------------------------------------------------------ discrete actions, predicted observations
def discrete_episodes(generator: torch.Generator, n_rows: int = 64, seq: int = 21) -> EpisodeBatch:
    """Rows of ``s' = 0.8 s + E[a_0] + F[a_1]`` with observations ``[2 s[:2] * (i + 1), one-hot(i)]``."""
    n_actions = 3
    effects = torch.randn(N_AGENTS, n_actions, STATE_DIM, generator=generator)
    actions = torch.randint(n_actions, (n_rows, seq, N_AGENTS), generator=generator)
    states = [torch.randn(n_rows, STATE_DIM, generator=generator)]
    for t in range(seq - 1):
        effect = effects[0, actions[:, t, 0]] + effects[1, actions[:, t, 1]]
        states.append(0.8 * states[-1] + effect)
    state = torch.stack(states, dim=1)  # [rows, seq, state]
    agent_ids = torch.eye(N_AGENTS).expand(n_rows, seq, -1, -1)
    scale = torch.arange(1.0, N_AGENTS + 1)[:, None]
    obs = torch.cat([state[:, :, None, :2] * scale, agent_ids], dim=-1)  # [rows, seq, n_agents, 2 + n_agents]
    batch = episode_batch(n_rows, seq, n_actions, obs_dim=2 + N_AGENTS)
    batch.update({"state": state, "obs": obs}, mark_filled=False)
    batch.update({"actions": actions[:, :-1, :, None], "reward": state[:, :-1, :1]}, ts=slice(0, seq - 1))
    return batch


def discrete_model(**options) -> DynamicsModel:
    return DynamicsModel(STATE_DIM, N_AGENTS, 3, 1, obs_dim=2 + N_AGENTS, **{**SMALL, **options})


def test_discrete_actions_are_one_hot_inputs():
    model = discrete_model()
    encoded = model.encode_actions(torch.tensor([[0, 2], [1, 1]]))
    assert encoded.tolist() == [[1, 0, 0, 0, 0, 1], [0, 1, 0, 0, 1, 0]]
    assert model.input_dim == STATE_DIM + N_AGENTS * 3


def test_fits_discrete_system_and_predicts_observations():
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    batch = discrete_episodes(generator)
    model = discrete_model()
    trainer = ModelTrainer(model, batch_size=128, lr=1e-3)
    assert trainer.add_episodes(batch) == 64 * 20
    losses = trainer.train_steps(300)
    assert "model_obs_loss" in losses
    metrics = trainer.validation_metrics()
    spread = (batch["state"][:, 1:] - batch["state"][:, :-1]).var()
    assert metrics["model_next_state_mse"] < 0.02 * float(spread)
    assert metrics["model_obs_mse"] < 0.05 * float(spread)
    # the one-hot agent ids in the observations are constant: copied exactly
    state, actions = batch["state"][:5, 0], batch["actions"][:5, 0, :, 0]
    next_obs = model.step_with_obs(state, actions).next_obs
    assert next_obs.shape == (5, N_AGENTS, 2 + N_AGENTS)
    assert torch.equal(next_obs[..., 2:], torch.eye(N_AGENTS).expand(5, -1, -1))


def test_step_with_obs_uses_the_env_map_when_there_is_one():
    model = continuous_model()
    state = torch.randn(3, STATE_DIM)
    next_state, _, _, next_obs = model.step_with_obs(state, torch.zeros(3, N_AGENTS, ACTION_DIM))
    assert torch.equal(next_obs, identity_obs(next_state))
    assert not model.predicts_obs and model.gaussian_dim == STATE_DIM + 1


# ------------------------------------------------------------------ termination targets
def test_terminations_are_learnt_from_the_terminated_flag_only():
    """Row 0 ends by a time limit (terminated 0), row 1 by a true termination: only the latter's
    last transition may be predicted terminal."""
    batch = episode_batch(n_rows=2, seq=5, n_actions=2, obs_dim=1)
    states = torch.linspace(-1, 1, 10).reshape(2, 5, 1).expand(-1, -1, STATE_DIM)
    batch.update({"state": states, "obs": torch.zeros(2, 5, N_AGENTS, 1)}, mark_filled=False)
    batch.update({"actions": torch.zeros(2, 4, N_AGENTS, 1, dtype=torch.long)}, ts=slice(0, 4))
    batch.update({"terminated": 1}, bs=1, ts=3)
    torch.manual_seed(0)
    model = DynamicsModel(STATE_DIM, N_AGENTS, 2, 1, state_to_obs=identity_obs, **SMALL)
    trainer = ModelTrainer(model, batch_size=32, lr=3e-3, validation_fraction=0.0)
    trainer.add_episodes(batch)
    stored = trainer.train_buffer.all()
    assert stored["terminated"].tolist() == [0, 0, 0, 0, 0, 0, 0, 1]
    assert stored["episode_end"].tolist() == [False, False, False, True, False, False, False, True]
    trainer.train_steps(200)
    _, _, termination = model.step(stored["state"], stored["actions"])
    assert termination[3] < 0.2  # the truncated episode's last step
    assert termination[7] > 0.8


# ------------------------------------------------------------------ checkpoints, devices, registry, errors
def test_state_dict_round_trip_gives_identical_predictions():
    trainer = fitted(continuous_model(n_models=3, n_elites=2), n_steps=20)
    trainer.validation_metrics()
    saved = io.BytesIO()
    torch.save(trainer.state_dict(), saved)
    saved.seek(0)
    torch.manual_seed(123)  # a differently initialised copy
    restored = ModelTrainer(continuous_model(n_models=3, n_elites=2), batch_size=128, lr=1e-3)
    restored.load_state_dict(torch.load(saved, weights_only=False))
    assert torch.equal(restored.model.elites, trainer.model.elites)
    assert restored.model.state_normaliser.count == trainer.model.state_normaliser.count
    moments = [t.optimiser.state_dict()["state"][0]["exp_avg"] for t in (trainer, restored)]
    assert torch.equal(*moments)
    assert restored.gradient_steps == 20
    state, actions = torch.randn(32, STATE_DIM), torch.randn(32, N_AGENTS, ACTION_DIM)
    predictions = []
    for model in (trainer.model, restored.model):
        torch.manual_seed(7)  # same member draws and Gaussian samples
        predictions.append(model.step(state, actions))
    for original, loaded in zip(*predictions):
        assert torch.equal(original, loaded)


def test_to_moves_the_normalisers_with_the_parameters():
    model = continuous_model()
    model.to("meta")
    assert model.state_normaliser.mean.device.type == "meta"
    assert model.delta_normaliser.var.device.type == "meta"
    assert model.network[0].weight.device.type == "meta"


def test_registry_builds_from_env_info():
    env_info = {
        "state_shape": STATE_DIM, "obs_shape": 3, "n_agents": N_AGENTS, "n_actions": ACTION_DIM,
        "action_kind": "continuous", "action_low": [[-0.4, -1.0]] * N_AGENTS, "action_high": [[0.4, 1.0]] * N_AGENTS,
        "agent_action_dims": [2, 1],
    }
    model = REGISTRY["mlp"].from_env_info(env_info, reward_dim=N_AGENTS, **SMALL)
    assert model.predicts_obs and model.gaussian_dim == STATE_DIM + N_AGENTS + N_AGENTS * 3
    encoded = model.encode_actions(torch.tensor([[[0.2, 5.0], [-9.0, 0.5]]]))
    assert torch.allclose(encoded, torch.tensor([[0.5, 1.0, -1.0, 0.0]]))  # rescaled, clipped, padding zeroed


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: continuous_model(n_models=0), "'n_models': 0"),
        (lambda: continuous_model(n_models=2, n_elites=3), "'n_elites': 3"),
        (lambda: discrete_model(action_kind="box"), "'action_kind'"),
        (lambda: discrete_model(action_kind="continuous"), "action_low"),
        (lambda: DynamicsModel(STATE_DIM, N_AGENTS, 2, 1), "'obs_dim'"),
        (lambda: ModelTrainer(continuous_model(), validation_fraction=1.0), "'validation_fraction': 1.0"),
        (lambda: ModelTrainer(continuous_model(), batch_size=0), "'batch_size': 0"),
    ],
)
def test_bad_arguments_raise_config_error(build, message):
    with pytest.raises(ConfigError, match=message):
        build()


def test_imagined_steps_stay_bounded_far_from_the_data():
    """A state far outside the data (compounding imagined errors) gives a step of at most 10
    standard deviations of the real deltas (the model's bound), never inf or NaN."""
    torch.manual_seed(0)
    model = DynamicsModel(3, 2, 2, 1, action_kind="continuous", action_low=[[-1.0, -1.0]] * 2,
                          action_high=[[1.0, 1.0]] * 2, state_to_obs=lambda s: s.unsqueeze(-2).expand(*s.shape[:-1], 2, 3))
    state = torch.full((4, 3), 1e6)
    step = model.step_with_obs(state, torch.zeros(4, 2, 2))
    delta = step.next_state - state
    bound = 10.0 * (model.delta_normaliser.var + 1e-8).sqrt() + model.delta_normaliser.mean.abs()
    assert torch.isfinite(step.next_state).all() and torch.isfinite(step.reward).all()
    assert torch.all(delta.abs() <= bound + 1e-3)
