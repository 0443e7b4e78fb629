"""Collect trajectories into an :class:`EpisodeBatch` with the current controller.

``EpisodeRunner`` (envs in this process) and ``ParallelRunner`` (envs spread over worker processes) are this
class with a different :mod:`runners.env_pool`. Two ways to collect, both stepping all envs together
(one batched ``mac.select_actions`` per step, under ``torch.no_grad``):

* **Whole episodes** (``rollout_length: 0``, EPyMARL's behaviour): ``run`` resets every env and plays
  one episode in each. Row b holds env b's episode: transitions at ``0..L-1`` marked filled, the
  final obs/state at ``L``.
* **Rollout segments** (``rollout_length: N > 0``, HARL's and the HAPPO/Lookahead papers' on-policy
  collection): the envs keep running across calls and ``run`` steps each exactly N times. Row b
  holds env b's N steps. An episode that ends inside the segment stores its final obs/state in the
  next slot, *unfilled*, and the env's next episode starts in the slot after it; so every episode
  piece in a row ends, for the learner, exactly as a whole episode does: at a termination (no
  bootstrap) or at an unfilled slot holding the state to bootstrap from (a time-limit truncation,
  or the segment's end, which is a truncation too). Rows are ``2N`` slots long (at most N - 1
  such gaps, plus the final slot). Needs feed-forward agents without previous-action inputs, since
  a row may start mid-episode (``experiment.config_checks`` refuses other agents). Returns are logged per finished episode; test episodes are whole
  episodes on a separate set of envs (seeds ``seed + batch_size_run + i``), so training episodes
  are never cut by a test.
"""

from __future__ import annotations

import time
from functools import partial
from types import SimpleNamespace
from typing import Any, Callable, Mapping

import numpy as np
import torch

from components.episode_buffer import EpisodeBatch
from components.interfaces import Controller, StatLogger
from envs import REGISTRY as env_registry
from runners.acting import act
from runners.env_pool import Observations


def env_factories(args: SimpleNamespace, seed_offset: int = 0) -> list[Callable[[], Any]]:
    """One constructor per env; env i gets seed ``args.seed + seed_offset + i`` so envs differ yet reproduce."""
    factories = []
    for i in range(args.batch_size_run):
        env_args = dict(args.env_args, seed=args.env_args.get("seed", args.seed) + seed_offset + i)
        factories.append(
            partial(
                env_registry[args.env],
                **env_args,
                common_reward=args.common_reward,
                reward_scalarisation=args.reward_scalarisation,
            )
        )
    return factories


class RolloutRunner:
    """Runs ``batch_size_run`` envs for whole episodes or segments; keeps train/test return statistics."""

    def __init__(self, args: SimpleNamespace, logger: StatLogger) -> None:
        self.args = args
        self.logger = logger
        self.batch_size = args.batch_size_run
        self.rollout_length = args.rollout_length
        self.envs = self.make_pool(env_factories(args))
        self._test_envs: Any | None = None  # segments only: a second pool for whole test episodes
        self.env_info = self.envs.get_env_info()
        self.episode_limit = self.env_info["episode_limit"]
        self.t = 0
        self.t_env = 0
        self.log_train_stats_t = -1000000
        self.returns = {"train": [], "test": []}
        self.rollout_seconds: list[float] = []  # wall time of each training run since the last log
        self._rollout_started = 0.0
        self.lengths = {"train": [], "test": []}
        self.env_stats: dict[str, dict[str, list[float]]] = {"train": {}, "test": {}}
        self.new_batch: Callable[[], EpisodeBatch] | None = None
        self.mac = None
        # segments: each env's current step data and its running episode's return and length
        self._current: Observations | None = None
        self._running_returns: np.ndarray | None = None
        self._running_lengths = np.zeros(self.batch_size, dtype=np.int64)

    def make_pool(self, factories: list[Callable[[], Any]]) -> Any:
        """The env pool this runner steps (in-process or subprocesses)."""
        raise NotImplementedError

    def get_env_info(self) -> dict:
        return self.env_info

    @property
    def max_seq_length(self) -> int:
        """Slots per row of the training batches ``run`` returns (the replay buffer's length)."""
        return 2 * self.rollout_length if self.rollout_length else self.episode_limit + 1

    def setup(self, scheme: Mapping, groups: Mapping, preprocess: Mapping, mac: Controller) -> None:
        make = partial(EpisodeBatch, scheme, groups, self.batch_size, preprocess=preprocess, device=self.args.device)
        self.new_batch = partial(make, self.max_seq_length)
        self._new_episode_batch = partial(make, self.episode_limit + 1)
        self._new_step_batch = partial(make, 1)
        self.mac = mac

    # ------------------------------------------------------------------ one batch
    def run(self, test_mode: bool = False, n_episodes: int | None = None) -> EpisodeBatch:
        """Training: one segment of every env (``rollout_length > 0``) or one episode in each.
        Tests: one whole episode in each of the first ``n_episodes`` envs (default: all)."""
        if test_mode and self.rollout_length:
            if self._test_envs is None:
                self._test_envs = self.make_pool(env_factories(self.args, seed_offset=self.batch_size))
            return self._run_episodes(self._test_envs, self._new_episode_batch, test_mode, n_episodes)
        if test_mode:
            return self._run_episodes(self.envs, self.new_batch, test_mode, n_episodes)
        self._rollout_started = time.perf_counter()  # its wall time is logged with the training returns
        if self.rollout_length:
            return self._run_segment()
        return self._run_episodes(self.envs, self.new_batch, test_mode, n_episodes)

    def _run_episodes(
        self, envs: Any, new_batch: Callable[[], EpisodeBatch], test_mode: bool, n_episodes: int | None
    ) -> EpisodeBatch:
        """One episode in each of the first ``n_episodes`` envs of ``envs``; other rows stay empty."""
        n_episodes = self.batch_size if n_episodes is None else min(n_episodes, self.batch_size)
        batch = new_batch()
        self._write_observations(batch, envs.reset(), slice(None), 0)
        self.mac.init_hidden(batch_size=self.batch_size)
        episode_returns = np.zeros((n_episodes, *self._reward_shape()))
        episode_lengths = np.zeros(n_episodes, dtype=np.int64)
        active = list(range(n_episodes))
        final_infos: list[dict] = []
        t = 0
        with torch.no_grad():
            while active:
                if t >= self.episode_limit:
                    raise RuntimeError(
                        f"envs {active} ran past episode_limit={self.episode_limit} without ending; "
                        "the env must truncate at its time limit"
                    )
                transition = act(self.mac, batch, t, self.t_env, active, test_mode)
                steps = envs.step(transition["actions"].cpu().numpy(), active)
                batch.update({**transition, "reward": steps.reward, "terminated": steps.terminated}, bs=active, ts=t)
                self._write_observations(batch, steps.next, active, t + 1)
                episode_returns[active] += steps.reward
                episode_lengths[active] += 1
                final_infos.extend(steps.final_infos)
                active = [env_id for env_id, ended in zip(active, steps.ended.tolist()) if not ended]
                t += 1
        self.t = t
        if not test_mode:
            self.t_env += int(episode_lengths.sum())
        self._record(test_mode, episode_returns, episode_lengths, final_infos)
        return batch

    def _reward_shape(self) -> tuple[int, ...]:
        return () if self.args.common_reward else (self.env_info["n_agents"],)

    def _run_segment(self) -> EpisodeBatch:
        """``rollout_length`` steps of every env, continuing their episodes (see module docstring)."""
        if self._current is None:
            self._current = self.envs.reset()
            self._running_returns = np.zeros((self.batch_size, *self._reward_shape()))
        batch, step_batch = self.new_batch(), self._new_step_batch()
        every_env = list(range(self.batch_size))
        slots = torch.zeros(self.batch_size, dtype=torch.long)  # the step of each row being written
        self._write_observations_at(batch, self._current, slots)
        self.mac.init_hidden(batch_size=self.batch_size)
        finished_returns, finished_lengths, final_infos = [], [], []
        with torch.no_grad():
            for t in range(self.rollout_length):
                self._write_observations(step_batch, self._current, slice(None), 0)
                transition = act(self.mac, step_batch, 0, self.t_env, slice(None), test_mode=False)
                steps = self.envs.step(transition["actions"].cpu().numpy(), every_env, reset_ended=True)
                batch.update_steps({**transition, "reward": steps.reward, "terminated": steps.terminated}, slots)
                self._write_observations_at(batch, steps.next, slots + 1)
                self._running_returns += steps.reward.reshape(self._running_returns.shape)
                self._running_lengths += 1
                ended = steps.ended
                ended_rows = np.flatnonzero(ended)
                for env_id in ended_rows:
                    finished_returns.append(self._running_returns[env_id].copy())
                    finished_lengths.append(int(self._running_lengths[env_id]))
                final_infos.extend(steps.final_infos)
                self._running_returns[ended] = 0
                self._running_lengths[ended] = 0
                if steps.restarted is not None:  # ended envs continue from their next episode's first step
                    self._current = steps.next.replace(ended_rows, steps.restarted)
                else:
                    self._current = steps.next
                slots = slots + 1 + torch.as_tensor(ended, dtype=torch.long)  # skip the final-state slot
                if t < self.rollout_length - 1 and steps.restarted is not None:
                    rows = torch.as_tensor(ended_rows, dtype=torch.long)
                    self._write_observations_at(batch, steps.restarted, slots[rows], rows)
        self.t = self.rollout_length
        self.t_env += self.rollout_length * self.batch_size
        returns = np.asarray(finished_returns).reshape(-1, *self._reward_shape())
        self._record(False, returns, np.asarray(finished_lengths, dtype=np.int64), final_infos)
        return batch

    def _write_observations(self, batch: EpisodeBatch, data: Observations, rows: slice | list[int], t: int) -> None:
        """Obs/state/avail-actions of ``rows`` at step ``t`` (not a transition: ``filled`` is set by the actions)."""
        fields = {"state": data.state, "avail_actions": data.avail_actions, "obs": data.obs}
        batch.update(fields, bs=rows, ts=t, mark_filled=False)

    def _write_observations_at(
        self, batch: EpisodeBatch, data: Observations, ts: torch.Tensor, rows: torch.Tensor | None = None
    ) -> None:
        """Obs/state/avail-actions of row ``rows[i]`` (default: every row) at its own step ``ts[i]``."""
        fields = {"state": data.state, "avail_actions": data.avail_actions, "obs": data.obs}
        batch.update_steps(fields, ts, rows=rows, mark_filled=False)

    # ------------------------------------------------------------------ statistics
    def _record(self, test_mode: bool, returns: np.ndarray, lengths: np.ndarray, infos: list[dict]) -> None:
        mode = "test" if test_mode else "train"
        if not test_mode:
            self.rollout_seconds.append(time.perf_counter() - self._rollout_started)
        self.returns[mode].extend(returns)
        self.lengths[mode].extend(lengths.tolist())
        for info in infos:
            for key, value in info.items():
                if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
                    self.env_stats[mode].setdefault(key, []).append(float(value))
        if test_mode and len(self.returns["test"]) >= self.args.test_nepisode:
            self._log(mode, "test_")
        elif not test_mode and self.returns[mode] and self.t_env - self.log_train_stats_t >= self.args.runner_log_interval:
            self._log(mode, "")
            self.logger.log_stat("time_real_rollout", float(np.mean(self.rollout_seconds)), self.t_env)
            self.rollout_seconds = []
            selector = self.mac.action_selector
            if hasattr(selector, "epsilon"):
                self.logger.log_stat("epsilon", selector.epsilon, self.t_env)
            self.log_train_stats_t = self.t_env

    def _log(self, mode: str, prefix: str) -> None:
        returns = np.asarray(self.returns[mode])
        if returns.ndim == 2:  # per-agent rewards: log each agent and the team total
            for agent in range(returns.shape[1]):
                self.logger.log_stat(f"{prefix}agent_{agent}_return_mean", float(returns[:, agent].mean()), self.t_env)
            returns = returns.sum(axis=1)
        self.logger.log_stat(f"{prefix}return_mean", float(returns.mean()), self.t_env)
        self.logger.log_stat(f"{prefix}return_std", float(returns.std()), self.t_env)
        self.logger.log_stat(f"{prefix}ep_length_mean", float(np.mean(self.lengths[mode])), self.t_env)
        for key, values in self.env_stats[mode].items():
            self.logger.log_stat(f"{prefix}{key}_mean", float(np.mean(values)), self.t_env)
        self.returns[mode], self.lengths[mode], self.env_stats[mode] = [], [], {}

    def run_tests(self) -> None:
        """Exactly ``test_nepisode`` greedy test episodes (in calls of up to ``batch_size`` envs)."""
        remaining = self.args.test_nepisode
        while remaining > 0:
            self.run(test_mode=True, n_episodes=remaining)
            remaining -= self.batch_size

    def save_replay(self) -> None:
        self.envs.save_replay()

    def close_env(self) -> None:
        self.envs.close()
        if self._test_envs is not None:
            self._test_envs.close()
