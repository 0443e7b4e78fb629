"""Tests of ``components.episode_buffer``: EpisodeBatch storage/indexing and the ReplayBuffer ring."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from components.episode_buffer import EpisodeBatch, ReplayBuffer
from components.transforms import OneHot

N_AGENTS, OBS_DIM, STATE_DIM, N_ACTIONS = 3, 2, 4, 5
BATCH, SEQ = 4, 6  # episode_limit 5 -> max_seq_length 6


def scheme() -> dict:
    return {
        "state": {"vshape": STATE_DIM},
        "obs": {"vshape": OBS_DIM, "group": "agents"},
        "actions": {"vshape": (1,), "group": "agents", "dtype": torch.long},
        "reward": {"vshape": (1,)},
        "task_id": {"vshape": (2,), "episode_const": True},
        "agent_type": {"vshape": (1,), "group": "agents", "episode_const": True, "dtype": torch.long},
    }


PREPROCESS = {"actions": ("actions_onehot", [OneHot(N_ACTIONS)])}
GROUPS = {"agents": N_AGENTS}


def new_batch(batch_size: int = BATCH, seq: int = SEQ) -> EpisodeBatch:
    return EpisodeBatch(scheme(), GROUPS, batch_size, seq, preprocess=PREPROCESS)


def filled(batch: EpisodeBatch) -> torch.Tensor:
    return batch["filled"][..., 0]


# ------------------------------------------------------------------ allocation
def test_allocation_shapes_and_dtypes():
    batch = new_batch()
    assert batch["state"].shape == (BATCH, SEQ, STATE_DIM)
    assert batch["obs"].shape == (BATCH, SEQ, N_AGENTS, OBS_DIM)
    assert batch["actions"].shape == (BATCH, SEQ, N_AGENTS, 1)
    assert batch["actions"].dtype == torch.long
    assert batch["reward"].shape == (BATCH, SEQ, 1)
    assert batch["reward"].dtype == torch.float32  # default dtype
    assert batch["filled"].shape == (BATCH, SEQ, 1)
    assert batch["filled"].dtype == torch.long
    # episode-constant fields have no time axis
    assert batch["task_id"].shape == (BATCH, 2)
    assert batch["agent_type"].shape == (BATCH, N_AGENTS, 1)
    assert set(batch.episode_data) == {"task_id", "agent_type"}
    # preprocessed field: derived shape/dtype from the transform
    assert batch["actions_onehot"].shape == (BATCH, SEQ, N_AGENTS, N_ACTIONS)
    assert batch["actions_onehot"].dtype == torch.float32
    assert batch.scheme["actions_onehot"]["vshape"] == (N_ACTIONS,)
    assert batch.scheme["obs"]["vshape"] == (OBS_DIM,)  # int vshape normalised to a tuple
    for name in ("state", "obs", "actions", "reward", "filled", "actions_onehot", "task_id"):
        assert not batch[name].any()


def test_preprocess_derives_onehot_actions():
    batch = new_batch()
    batch.update({"actions": [[[4], [0], [2]]]}, bs=1, ts=2)
    expected = torch.zeros(N_AGENTS, N_ACTIONS)
    expected[0, 4] = expected[1, 0] = expected[2, 2] = 1.0
    assert torch.equal(batch["actions_onehot"][1, 2], expected)
    assert batch["actions_onehot"].sum() == N_AGENTS  # nothing written elsewhere


# ------------------------------------------------------------------ update
def test_update_int_indices_and_nested_lists():
    batch = new_batch()
    obs = [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]  # per-agent lists for one env
    batch.update({"obs": obs, "state": [9.0, 8.0, 7.0, 6.0]}, bs=2, ts=3)
    assert torch.equal(batch["obs"][2, 3], torch.tensor(obs))
    assert torch.equal(batch["state"][2, 3], torch.tensor([9.0, 8.0, 7.0, 6.0]))
    assert batch["obs"].abs().sum() == 21.0  # only that slot was written
    expected_filled = torch.zeros(BATCH, SEQ, dtype=torch.long)
    expected_filled[2, 3] = 1
    assert torch.equal(filled(batch), expected_filled)


def test_update_env_id_list_with_per_env_per_agent_arrays():
    batch = new_batch()
    # what a runner writes: one entry per active env, each a [n_agents, obs_dim] array
    per_env = [np.full((N_AGENTS, OBS_DIM), 10.0), np.full((N_AGENTS, OBS_DIM), 30.0)]
    batch.update({"obs": per_env, "actions": [[1, 2, 3], [4, 0, 1]]}, bs=[3, 1], ts=4)
    assert torch.all(batch["obs"][3, 4] == 10.0)
    assert torch.all(batch["obs"][1, 4] == 30.0)
    assert batch["obs"][[0, 2]].abs().sum() == 0
    assert batch["actions"][3, 4, :, 0].tolist() == [1, 2, 3]
    assert batch["actions"][1, 4, :, 0].tolist() == [4, 0, 1]
    assert batch["actions_onehot"][1, 4].argmax(-1).tolist() == [4, 0, 1]
    assert filled(batch)[:, 4].tolist() == [0, 1, 0, 1]
    assert filled(batch).sum() == 2


def test_update_tensor_over_slices():
    batch = new_batch()
    rewards = torch.arange(6, dtype=torch.float32).reshape(2, 3)  # [bs, ts]; missing trailing dim
    batch.update({"reward": rewards}, bs=slice(1, 3), ts=slice(0, 3))
    assert batch["reward"][1:3, :3, 0].tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    assert batch["reward"][:, 3:].abs().sum() == 0 and batch["reward"][[0, 3]].abs().sum() == 0
    assert filled(batch)[1:3, :3].sum() == 6 and filled(batch).sum() == 6


def test_update_scalar_broadcasts():
    batch = new_batch()
    batch.update({"reward": 2.5}, bs=slice(None), ts=slice(1, 3))
    assert torch.all(batch["reward"][:, 1:3] == 2.5)
    assert batch["reward"].sum() == 2.5 * BATCH * 2
    batch.update({"filled": 0}, bs=[0, 2], ts=slice(None), mark_filled=False)
    assert filled(batch)[:, 1:3].tolist() == [[0, 0], [1, 1], [0, 0], [1, 1]]


def test_update_advanced_index_on_both_axes():
    batch = new_batch()
    batch.update({"reward": [[1.0, 2.0], [3.0, 4.0]]}, bs=[2, 0], ts=[1, 4])
    assert batch["reward"][2, 1, 0] == 1.0 and batch["reward"][2, 4, 0] == 2.0
    assert batch["reward"][0, 1, 0] == 3.0 and batch["reward"][0, 4, 0] == 4.0
    assert batch["reward"].sum() == 10.0


@pytest.mark.parametrize("rows", [[1, 2, 3], [0, 1], [2], [3, 1], [0, 2, 3], [-1], [-2, -1]])
def test_update_with_a_list_of_rows_writes_exactly_those_rows(rows):
    """A runner's active envs as a list: consecutive ids take the slice path, others (and negative
    ids, counted from the end) an index tensor; both write each value to its own row only."""
    batch = new_batch()
    values = torch.arange(1, len(rows) + 1, dtype=torch.float32)
    batch.update({"reward": values, "actions": [[r % N_ACTIONS] * N_AGENTS for r in range(len(rows))]}, bs=rows, ts=2)
    expected_reward = torch.zeros(BATCH, SEQ)
    expected_filled = torch.zeros(BATCH, SEQ, dtype=torch.long)
    for value, row in zip(values, rows):
        expected_reward[row, 2] = value
        expected_filled[row, 2] = 1
    assert torch.equal(batch["reward"][..., 0], expected_reward)
    assert torch.equal(filled(batch), expected_filled)
    assert batch["actions_onehot"][rows, 2].argmax(-1)[:, 0].tolist() == [r % N_ACTIONS for r in range(len(rows))]


def test_update_dtype_cast_from_float_array():
    batch = new_batch()
    batch.update({"actions": np.array([[1.0, 2.0, 3.0]])}, bs=0, ts=0)
    assert batch["actions"].dtype == torch.long
    assert batch["actions"][0, 0, :, 0].tolist() == [1, 2, 3]


def test_mark_filled_false_leaves_filled_untouched():
    batch = new_batch()
    batch.update({"actions": [[0, 0, 0]]}, bs=0, ts=0)
    before = batch["filled"].clone()
    # the final observation of an episode: written without marking a transition
    batch.update({"obs": np.ones((N_AGENTS, OBS_DIM)), "state": np.ones(STATE_DIM)}, bs=0, ts=1, mark_filled=False)
    assert torch.equal(batch["filled"], before)
    assert batch["obs"][0, 1].sum() == N_AGENTS * OBS_DIM


def test_episode_const_update_ignores_ts_and_filled():
    batch = new_batch()
    batch.update({"task_id": [[1.0, 2.0], [3.0, 4.0]]}, bs=[3, 1])
    assert batch["task_id"].tolist() == [[0.0, 0.0], [3.0, 4.0], [0.0, 0.0], [1.0, 2.0]]
    batch.update({"agent_type": [7, 8, 9]}, bs=0)
    assert batch["agent_type"][0, :, 0].tolist() == [7, 8, 9]
    assert filled(batch).sum() == 0  # episode-constant writes are not transitions


# ------------------------------------------------------------------ reading
def numbered_batch() -> EpisodeBatch:
    """obs[b, t, a, d] = 1000 b + 100 t + 10 a + d, so every element says where it came from."""
    batch = new_batch()
    b, t, a, d = torch.meshgrid(
        torch.arange(BATCH), torch.arange(SEQ), torch.arange(N_AGENTS), torch.arange(OBS_DIM), indexing="ij"
    )
    batch.update({"obs": (1000 * b + 100 * t + 10 * a + d).float()})
    batch.update({"task_id": torch.arange(BATCH * 2).reshape(BATCH, 2).float()})
    return batch


def test_slice_returns_views_of_the_right_shape():
    batch = numbered_batch()
    sub = batch[1:3, 2:5]
    assert isinstance(sub, EpisodeBatch)
    assert (sub.batch_size, sub.max_seq_length) == (2, 3)
    assert sub["obs"].shape == (2, 3, N_AGENTS, OBS_DIM)
    assert sub["filled"].shape == (2, 3, 1)
    assert sub["task_id"].shape == (2, 2)
    assert sub["obs"][0, 0, 0, 0] == 1200 and sub["obs"][1, 2, 2, 1] == 2421
    assert sub["task_id"].tolist() == [[2.0, 3.0], [4.0, 5.0]]
    # a view: writing through the slice changes the parent
    sub.update({"reward": 7.0}, bs=0, ts=1)
    assert batch["reward"][1, 3, 0] == 7.0 and batch["filled"][1, 3, 0] == 1


def test_int_index_keeps_the_axis():
    batch = numbered_batch()
    sub = batch[2, 3]
    assert (sub.batch_size, sub.max_seq_length) == (1, 1)
    assert sub["obs"].shape == (1, 1, N_AGENTS, OBS_DIM)
    assert sub["obs"][0, 0, 1, 1] == 2311
    only_b = batch[3]
    assert (only_b.batch_size, only_b.max_seq_length) == (1, SEQ)
    assert only_b["obs"][0, 5, 0, 0] == 3500


def test_list_of_episode_ids_selects_in_order():
    batch = numbered_batch()
    sub = batch[[3, 0], :2]
    assert (sub.batch_size, sub.max_seq_length) == (2, 2)
    assert sub["obs"][:, :, 0, 0].tolist() == [[3000.0, 3100.0], [0.0, 100.0]]
    assert sub["task_id"][:, 0].tolist() == [6.0, 0.0]


def test_negative_int_index_selects_last_episode():
    batch = numbered_batch()
    sub = batch[-1]
    assert sub.batch_size == 1 and sub["obs"][0, 0, 0, 0] == 3000


def test_field_selection():
    batch = numbered_batch()
    sub = batch[["obs", "task_id"]]
    assert isinstance(sub, EpisodeBatch)
    assert set(sub.transition_data) == {"obs", "filled"}
    assert set(sub.episode_data) == {"task_id"}
    assert sub["obs"] is batch["obs"]  # no copy
    assert (sub.batch_size, sub.max_seq_length) == (BATCH, SEQ)
    with pytest.raises(KeyError):
        sub["state"]


def test_transitions_are_one_step_episodes_picked_when_read():
    """``transitions(rows, steps)``: row i is transition (rows[i], steps[i]) then an empty final slot,
    every field of the scheme there; a field is picked when first read (a later write to the source
    shows in a field not read yet, not in one already read), and a field can be replaced."""
    batch = numbered_batch()
    batch.update({"reward": torch.arange(BATCH * SEQ).reshape(BATCH, SEQ, 1).float()}, mark_filled=True)
    rows, steps = torch.tensor([3, 0, 2]), torch.tensor([1, 4, 0])
    picked = batch.transitions(rows, steps)
    assert (picked.batch_size, picked.max_seq_length) == (3, 2)
    assert set(picked.transition_data) == set(batch.transition_data) and len(picked.transition_data) == len(
        batch.transition_data)
    assert picked["obs"][:, 0, 1, 1].tolist() == [3111.0, 411.0, 2011.0]
    assert torch.all(picked["obs"][:, 1] == 0) and picked["filled"][:, :, 0].tolist() == [[1, 0]] * 3
    assert picked["task_id"][:, 0].tolist() == [6.0, 0.0, 4.0]
    batch["reward"][3, 1, 0] = -1.0  # not read yet: the mini-batch reads the source as it is now
    batch["obs"][3, 1] = -1.0  # read already: kept
    assert picked["reward"][:, 0, 0].tolist() == [-1.0, 4.0, 12.0]
    assert picked["obs"][0, 0, 1, 1] == 3111.0
    picked.transition_data["reward"] = torch.zeros(3, 2, 1)
    assert picked["reward"].sum() == 0 and batch["reward"][0, 4, 0] == 4.0
    with pytest.raises(KeyError):
        picked["rewards"]


def test_unknown_field_errors_name_the_field_and_the_scheme():
    batch = new_batch()
    with pytest.raises(KeyError, match=r"'rewards' is not a field.*'reward'"):
        batch.update({"rewards": 1.0}, bs=0, ts=0)
    with pytest.raises(KeyError, match=r"'stat' is not a field.*'state'"):
        batch["stat"]
    assert filled(batch).sum() == 0


def test_max_t_filled():
    batch = new_batch()
    assert batch.max_t_filled() == 1  # nothing filled: only the slot of a final state
    batch.update({"actions": np.zeros((2, N_AGENTS))}, bs=[0, 2], ts=0)
    batch.update({"actions": np.zeros((1, 3, N_AGENTS))}, bs=[1], ts=slice(0, 3))  # length 3
    assert batch.max_t_filled() == 4  # 3 transitions + final state
    batch.update({"reward": 0.0}, bs=3, ts=slice(0, SEQ))  # full-length episode
    assert batch.max_t_filled() == SEQ  # capped at max_seq_length


# ------------------------------------------------------------------ replay buffer
def tagged_batch(first_id: int, size: int = 2, seq: int = SEQ) -> EpisodeBatch:
    """Episodes whose state and task_id both carry an episode id, filled for 2 steps."""
    batch = new_batch(size, seq)
    ids = torch.arange(first_id, first_id + size, dtype=torch.float32)
    batch.update({"state": ids.reshape(size, 1, 1).expand(size, seq, STATE_DIM)}, mark_filled=False)
    batch.update({"reward": ids.reshape(size, 1).expand(size, 2)}, ts=slice(0, 2))
    batch.update({"task_id": ids.reshape(size, 1).expand(size, 2)})
    return batch


def ids_of(batch: EpisodeBatch) -> list[int]:
    ids = batch["state"][:, 0, 0]
    assert torch.equal(ids, batch["task_id"][:, 0])  # transition and episode data stay together
    return [int(i) for i in ids]


def test_replay_buffer_fifo_wraps_around():
    buffer = ReplayBuffer(scheme(), GROUPS, 4, SEQ, preprocess=PREPROCESS)
    assert buffer.episodes_in_buffer == 0 and not buffer.can_sample(1)

    buffer.insert_episode_batch(tagged_batch(0))
    assert (buffer.episodes_in_buffer, buffer.buffer_index) == (2, 2)
    assert buffer.can_sample(2) and not buffer.can_sample(3)
    buffer.insert_episode_batch(tagged_batch(2))
    assert (buffer.episodes_in_buffer, buffer.buffer_index) == (4, 0)
    buffer.insert_episode_batch(tagged_batch(4))  # overwrites the oldest two (ids 0, 1)
    assert (buffer.episodes_in_buffer, buffer.buffer_index) == (4, 2)
    assert ids_of(buffer) == [4, 5, 2, 3]
    assert buffer["filled"][:, :, 0].sum(1).tolist() == [2, 2, 2, 2]
    assert buffer.can_sample(4) and not buffer.can_sample(5)
    with pytest.raises(ValueError, match="cannot sample 5"):
        buffer.sample(5)

    assert ids_of(buffer.sample_latest(2)) == [4, 5]
    assert ids_of(buffer.sample_latest(3)) == [3, 4, 5]
    assert sorted(ids_of(buffer.sample(4))) == [2, 3, 4, 5]


def test_replay_buffer_sample_draws_distinct_stored_episodes():
    torch.manual_seed(0)
    buffer = ReplayBuffer(scheme(), GROUPS, 4, SEQ, preprocess=PREPROCESS)
    for first in (0, 2, 4):
        buffer.insert_episode_batch(tagged_batch(first))
    seen = set()
    for _ in range(50):
        sample = buffer.sample(3)
        ids = ids_of(sample)
        assert sample.batch_size == 3 and sample.max_seq_length == SEQ
        assert len(set(ids)) == 3 and set(ids) <= {2, 3, 4, 5}
        seen.update(ids)
    assert seen == {2, 3, 4, 5}


def test_replay_buffer_accepts_shorter_batches():
    buffer = ReplayBuffer(scheme(), GROUPS, 3, SEQ, preprocess=PREPROCESS)
    buffer.insert_episode_batch(tagged_batch(7, size=1, seq=3))
    assert buffer["state"][0, :3, 0].tolist() == [7.0, 7.0, 7.0]
    assert buffer["state"][0, 3:].abs().sum() == 0
    assert buffer.episodes_in_buffer == 1 and buffer.buffer_index == 1
