"""Collect one episode per environment into an :class:`EpisodeBatch` with the current controller.

``EpisodeRunner`` (envs in this process) and ``ParallelRunner`` (one subprocess per env) are this
class with a different :mod:`runners.env_pool`. A call to ``run`` resets every env, steps all
unfinished envs together (one batched ``mac.select_actions`` per step, under ``torch.no_grad``)
and returns the batch: transitions at ``0..L-1`` marked filled, the final obs/state at ``L``.
"""

from __future__ import annotations

from functools import partial
from types import SimpleNamespace
from typing import Any, Callable, Mapping

import numpy as np
import torch

from components.episode_buffer import EpisodeBatch
from envs import REGISTRY as env_registry
from runners.env_pool import StepData


def env_factories(args: SimpleNamespace) -> list[Callable[[], Any]]:
    """One constructor per env; env i gets seed ``args.seed + i`` so envs differ yet reproduce."""
    factories = []
    for i in range(args.batch_size_run):
        env_args = dict(args.env_args, seed=args.env_args.get("seed", args.seed) + i)
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
    """Runs ``batch_size`` envs for one episode each; keeps train/test return statistics."""

    def __init__(self, args: SimpleNamespace, logger: Any) -> None:
        self.args = args
        self.logger = logger
        self.batch_size = args.batch_size_run
        self.envs = self.make_pool(env_factories(args))
        self.env_info = self.envs.get_env_info()
        self.episode_limit = self.env_info["episode_limit"]
        self.t = 0
        self.t_env = 0
        self.log_train_stats_t = -1000000
        self.returns = {"train": [], "test": []}
        self.lengths = {"train": [], "test": []}
        self.env_stats: dict[str, dict[str, list[float]]] = {"train": {}, "test": {}}
        self.new_batch: Callable[[], EpisodeBatch] | None = None
        self.mac = None

    def make_pool(self, factories: list[Callable[[], Any]]) -> Any:
        """The env pool this runner steps (in-process or subprocesses)."""
        raise NotImplementedError

    def get_env_info(self) -> dict:
        return self.env_info

    def setup(self, scheme: Mapping, groups: Mapping, preprocess: Mapping, mac: Any) -> None:
        self.new_batch = partial(
            EpisodeBatch, scheme, groups, self.batch_size, self.episode_limit + 1, preprocess=preprocess,
            device=self.args.device,
        )
        self.mac = mac

    # ------------------------------------------------------------------ one batch of episodes
    def run(self, test_mode: bool = False, n_episodes: int | None = None) -> EpisodeBatch:
        """One episode in each of the first ``n_episodes`` envs (default: all); other rows stay empty."""
        n_episodes = self.batch_size if n_episodes is None else min(n_episodes, self.batch_size)
        batch = self.new_batch()
        self._write_observations(batch, self.envs.reset(), list(range(self.batch_size)), 0)
        self.mac.init_hidden(batch_size=self.batch_size)
        reward_shape = () if self.args.common_reward else (self.env_info["n_agents"],)
        episode_returns = np.zeros((n_episodes, *reward_shape))
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
                actions = self.mac.select_actions(batch, t_ep=t, t_env=self.t_env, bs=active, test_mode=test_mode)
                batch.update({"actions": actions}, bs=active, ts=t)
                results = self.envs.step(actions.cpu().numpy(), active)
                rewards = np.asarray([r.reward for r in results], dtype=np.float32)
                terminated = np.asarray([r.terminated for r in results], dtype=np.int64)
                batch.update({"reward": rewards, "terminated": terminated}, bs=active, ts=t)
                self._write_observations(batch, [r.data for r in results], active, t + 1)
                episode_returns[active] += rewards
                episode_lengths[active] += 1
                still_active = []
                for env_id, result in zip(active, results):
                    if result.terminated or result.truncated:
                        final_infos.append(result.info)
                    else:
                        still_active.append(env_id)
                active = still_active
                t += 1
        self.t = t
        if not test_mode:
            self.t_env += int(episode_lengths.sum())
        self._record(test_mode, episode_returns, episode_lengths, final_infos)
        return batch

    def _write_observations(self, batch: EpisodeBatch, data: list[StepData], env_ids: list[int], t: int) -> None:
        """Obs/state/avail-actions at step ``t`` (not a transition: ``filled`` is set by the actions)."""
        batch.update(
            {
                "state": np.stack([d.state for d in data]),
                "avail_actions": np.asarray([d.avail_actions for d in data]),
                "obs": np.asarray([d.obs for d in data], dtype=np.float32),
            },
            bs=env_ids,
            ts=t,
            mark_filled=False,
        )

    # ------------------------------------------------------------------ statistics
    def _record(self, test_mode: bool, returns: np.ndarray, lengths: np.ndarray, infos: list[dict]) -> None:
        mode = "test" if test_mode else "train"
        self.returns[mode].extend(returns)
        self.lengths[mode].extend(lengths.tolist())
        for info in infos:
            for key, value in info.items():
                if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
                    self.env_stats[mode].setdefault(key, []).append(float(value))
        if test_mode and len(self.returns["test"]) >= self.args.test_nepisode:
            self._log(mode, "test_")
        elif not test_mode and self.t_env - self.log_train_stats_t >= self.args.runner_log_interval:
            self._log(mode, "")
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
