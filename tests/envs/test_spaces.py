"""``envs.spaces.ActionSpec``: discrete and continuous (``Box``) joint action specs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gymnasium import spaces

from envs.spaces import ActionSpec, ContinuousActionSpec, DiscreteActionSpec


def test_discrete_spec_info() -> None:
    spec = ActionSpec.from_spaces([spaces.Discrete(3), spaces.Discrete(5, start=1)])
    assert isinstance(spec, DiscreteActionSpec)
    assert spec.info() == {"action_kind": "discrete", "n_actions": 5, "action_dim": 1}
    assert spec.all_available() == [[1, 1, 1, 0, 0], [1] * 5]
    assert spec.to_env(np.array([[2], [0]])) == [2, 1]


def uneven_boxes() -> list[spaces.Box]:
    return [spaces.Box(-2.0, 3.0, (3,), np.float32),
            spaces.Box(np.array([0.0]), np.array([0.5]), dtype=np.float64),
            spaces.Box(-1.0, 1.0, (2, 2), np.float32)]


def test_continuous_spec_pads_bounds() -> None:
    spec = ActionSpec.from_spaces(uneven_boxes())
    assert isinstance(spec, ContinuousActionSpec)
    assert spec.info() == {
        "action_kind": "continuous", "n_actions": 4, "action_dim": 4,
        "action_low": [[-2.0, -2.0, -2.0, -1.0], [0.0, -1.0, -1.0, -1.0], [-1.0] * 4],
        "action_high": [[3.0, 3.0, 3.0, 1.0], [0.5, 1.0, 1.0, 1.0], [1.0] * 4],
    }
    assert spec.all_available() == [[1] * 4] * 3


def test_continuous_to_env_clips_and_drops_padding() -> None:
    spec = ActionSpec.from_spaces(uneven_boxes())
    raw = np.array([[9.0, -9.0, 0.5, 7.0], [0.7, 5.0, 5.0, 5.0], [-3.0, 0.2, 3.0, -0.4]])
    out = spec.to_env(raw)
    assert [a.shape for a in out] == [(3,), (1,), (2, 2)]
    assert [a.dtype for a in out] == [np.float32, np.float64, np.float32]
    np.testing.assert_allclose(out[0], [3.0, -2.0, 0.5])
    np.testing.assert_allclose(out[1], [0.5])
    np.testing.assert_allclose(out[2], [[-1.0, 0.2], [1.0, -0.4]], rtol=1e-6)
    assert raw[0, 0] == 9.0  # the caller's array is not modified
    for other in (raw.tolist(), torch.tensor(raw), raw.reshape(-1)):
        for a, b in zip(spec.to_env(other), out):
            np.testing.assert_array_equal(a, b)


def test_continuous_rejects_bad_actions() -> None:
    spec = ActionSpec.from_spaces([spaces.Box(-1, 1, (2,), np.float32)] * 2)
    with pytest.raises(ValueError, match=r"shape \[2, 2\].*got shape \[3\]"):
        spec.to_env([0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match=r"agents \[0\]"):
        spec.to_env([[np.nan, 0.0], [0.0, 0.0]])
    np.testing.assert_array_equal(spec.to_env([[np.inf, 0.0], [0.0, -np.inf]])[0], [1.0, 0.0])  # finite bounds
    unbounded = ActionSpec.from_spaces([spaces.Box(-np.inf, np.inf, (1,), np.float32)])
    with pytest.raises(ValueError, match="Non-finite"):
        unbounded.to_env([[np.inf]])


@pytest.mark.parametrize("agent_spaces", [
    [spaces.Discrete(2), spaces.Box(-1, 1, (1,), np.float32)],
    [spaces.Box(0, 5, (1,), np.int64)],
    [spaces.MultiDiscrete([2, 3])],
    [],
])
def test_unsupported_spaces(agent_spaces: list) -> None:
    with pytest.raises(ValueError, match="Unsupported per-agent action spaces"):
        ActionSpec.from_spaces(agent_spaces)


def test_continuous_clip_actions_false_passes_raw_values() -> None:
    clipping = ActionSpec.from_spaces(uneven_boxes())
    raw_spec = ActionSpec.from_spaces(uneven_boxes(), clip_actions=False)
    assert clipping.clip_actions and not raw_spec.clip_actions
    raw = np.array([[9.0, -9.0, 0.5, 7.0], [0.7, 5.0, 5.0, 5.0], [-3.0, 0.2, 3.0, -0.4]])
    out = raw_spec.to_env(raw)
    assert [a.shape for a in out] == [(3,), (1,), (2, 2)]  # padding is still dropped
    assert [a.dtype for a in out] == [np.float32, np.float64, np.float32]
    np.testing.assert_array_equal(out[0], [9.0, -9.0, 0.5])
    np.testing.assert_array_equal(out[1], [0.7])
    np.testing.assert_allclose(out[2], [[-3.0, 0.2], [3.0, -0.4]], rtol=1e-6)
    np.testing.assert_array_equal(clipping.to_env(raw)[0], [3.0, -2.0, 0.5])  # the default clips
    for other in (raw.tolist(), torch.tensor(raw), raw.reshape(-1)):
        for a, b in zip(raw_spec.to_env(other), out):
            np.testing.assert_array_equal(a, b)


def test_unclipped_actions_do_not_alias_the_callers_array() -> None:
    spec = ActionSpec.from_spaces([spaces.Box(-1, 1, (2,), np.float64)] * 2, clip_actions=False)
    raw = np.array([[5.0, 0.0], [0.0, -5.0]])
    out = spec.to_env(raw)
    out[0][0] = 1.0
    assert raw[0, 0] == 5.0


def test_unclipped_actions_still_reject_non_finite_values() -> None:
    spec = ActionSpec.from_spaces([spaces.Box(-1, 1, (2,), np.float32)] * 2, clip_actions=False)
    with pytest.raises(ValueError, match=r"Non-finite continuous actions for agents \[1\]"):
        spec.to_env([[0.0, 0.0], [np.nan, 0.0]])
    with pytest.raises(ValueError, match=r"Non-finite continuous actions for agents \[0\]"):
        spec.to_env([[np.inf, 0.0], [0.0, 0.0]])  # clipping would have made this +1
    with pytest.raises(ValueError, match=r"shape \[2, 2\].*got shape \[3\]"):
        spec.to_env([0.0, 0.0, 0.0])


@pytest.mark.parametrize("clip_actions, expected", [(True, [[1.0], [0.0]]), (False, [[1.5], [-0.2]])])
def test_gymma_clip_actions_decides_what_the_env_receives(clip_actions: bool, expected: list) -> None:
    """The toy game goes through gymma's ActionSpec; it scores the clipped action either way."""
    from envs import REGISTRY
    from envs.toy_game import toy_reward

    env = REGISTRY["gymma"](key="toy", time_limit=1, seed=0, clip_actions=clip_actions)
    game = env._env.unwrapped
    received: list = []
    original = game.step
    game.step = lambda actions: received.append(np.array(actions, dtype=np.float64)) or original(actions)
    env.reset()
    _, reward, _, _, info = env.step(torch.tensor([[1.5], [-0.2]]))
    assert len(received) == 1
    np.testing.assert_allclose(received[0], expected, rtol=1e-6)  # float32 Box: 1.5 / -0.2 to float32 precision
    assert info["actions"] == [1.0, 0.0] and reward == pytest.approx(toy_reward(1.0, 0.0))


def test_gymma_rejects_a_non_bool_clip_actions() -> None:
    from envs import REGISTRY, EnvArgsError

    with pytest.raises(EnvArgsError, match="clip_actions must be True or False, got 'no'"):
        REGISTRY["gymma"](key="toy", time_limit=1, clip_actions="no")
