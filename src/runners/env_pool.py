"""Groups of environments stepped together: in this process, or spread over subprocesses.

Both pools speak the same small protocol so one runner serves both:

* ``reset() -> list[StepData]`` for every env,
* ``step(actions, env_ids) -> list[StepResult]`` for the listed envs only,
* ``close()``.

Subprocess workers never hang the learner: an exception inside a worker is sent back with its
traceback and re-raised here as :class:`EnvWorkerError`; a worker that dies silently (segfault,
OOM kill) is noticed within ``poll_seconds``.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Callable

import numpy as np

EnvFactory = Callable[[], Any]


class EnvWorkerError(RuntimeError):
    """An environment failed inside a subprocess worker."""


@dataclass
class StepData:
    """What the learner sees of an env at one step (all per-agent lists padded by the env)."""

    state: np.ndarray
    avail_actions: list
    obs: list


@dataclass
class StepResult:
    reward: Any  # float, or one float per agent when rewards are not common
    terminated: bool  # a true termination: the episode's last value is not bootstrapped
    truncated: bool  # a time-limit end: bootstrapped from the final state in ``data``
    info: dict
    data: StepData


def _observe(env: Any) -> StepData:
    return StepData(np.asarray(env.get_state(), dtype=np.float32), env.get_avail_actions(), env.get_obs())


def _step(env: Any, actions: np.ndarray) -> StepResult:
    _, reward, terminated, truncated, info = env.step(actions)
    return StepResult(reward, bool(terminated), bool(truncated), info, _observe(env))


def _reset(env: Any) -> StepData:
    env.reset()
    return _observe(env)


class InProcessEnvs:
    """Envs stepped one after another in the calling process (no IPC; best for one env)."""

    def __init__(self, env_factories: list[EnvFactory]) -> None:
        self.envs = [make() for make in env_factories]

    def get_env_info(self) -> dict:
        return self.envs[0].get_env_info()

    def reset(self) -> list[StepData]:
        return [_reset(env) for env in self.envs]

    def step(self, actions: np.ndarray, env_ids: list[int]) -> list[StepResult]:
        return [_step(self.envs[i], a) for i, a in zip(env_ids, actions)]

    def save_replay(self) -> None:
        self.envs[0].save_replay()

    def close(self) -> None:
        for env in self.envs:
            env.close()


def _worker(remote: Connection, make_envs: list[EnvFactory]) -> None:
    """Subprocess main loop: build this worker's envs, then answer commands until "close".

    Commands address envs by their index in this worker: ("step", [(index, actions), ...]),
    ("reset", None), ("save_replay", None), ("close", None).
    """
    envs: list[Any] = []
    try:
        envs = [make() for make in make_envs]
        remote.send(("ok", envs[0].get_env_info()))
        while True:
            command, payload = remote.recv()
            if command == "step":
                remote.send(("ok", [_step(envs[index], actions) for index, actions in payload]))
            elif command == "reset":
                remote.send(("ok", [_reset(env) for env in envs]))
            elif command == "save_replay":
                remote.send(("ok", envs[0].save_replay()))
            elif command == "close":
                break
            else:
                raise ValueError(f"unknown worker command {command!r}")
    except KeyboardInterrupt:
        pass
    except BaseException as error:  # report every failure to the learner instead of dying silently
        try:
            remote.send(("error", (error, traceback.format_exc(), not envs)))
        except Exception:  # the exception itself may not pickle: send its text
            remote.send(("error", (RuntimeError(f"{type(error).__name__}: {error}"), traceback.format_exc(), not envs)))
    finally:
        for env in envs:
            try:
                env.close()
            except Exception:
                pass
        remote.close()


class SubprocessEnvs:
    """Envs spread round-robin over ``n_workers`` subprocesses (default: one per CPU core).

    Each step sends one message per worker holding unfinished envs, then awaits every reply, so
    workers step their envs concurrently while IPC stays a few messages per step. An error raised
    while *building* an env is re-raised here as itself (e.g. a bad env key); an error while
    running is raised as :class:`EnvWorkerError` carrying the worker's traceback.
    """

    def __init__(self, env_factories: list[EnvFactory], n_workers: int = 0, poll_seconds: float = 1.0) -> None:
        context = mp.get_context("fork")
        n_envs = len(env_factories)
        n_workers = min(n_envs, n_workers or os.cpu_count() or 1)
        self.poll_seconds = poll_seconds
        self.location = [(i % n_workers, i // n_workers) for i in range(n_envs)]  # env -> (worker, index)
        self.remotes: list[Connection] = []
        self.processes: list[mp.process.BaseProcess] = []
        for w in range(n_workers):
            parent, child = context.Pipe()
            process = context.Process(
                target=_worker, args=(child, env_factories[w::n_workers]), daemon=True, name=f"env-worker-{w}"
            )
            process.start()
            child.close()
            self.remotes.append(parent)
            self.processes.append(process)
        self.env_info = [self._receive(w) for w in range(n_workers)][0]

    def _receive(self, w: int) -> Any:
        remote, process = self.remotes[w], self.processes[w]
        while not remote.poll(self.poll_seconds):
            if not process.is_alive():
                self.close()
                raise EnvWorkerError(f"env worker {w} died (exit code {process.exitcode}) without a reply")
        try:
            status, payload = remote.recv()
        except EOFError:
            process.join(timeout=self.poll_seconds)
            self.close()
            raise EnvWorkerError(f"env worker {w} closed its pipe (exit code {process.exitcode})") from None
        if status == "error":
            error, worker_traceback, while_building = payload
            self.close()
            if while_building:
                raise error
            raise EnvWorkerError(
                f"env worker {w} raised {type(error).__name__}: {error}\n--- worker traceback ---\n{worker_traceback}"
            )
        return payload

    def _send(self, w: int, command: str, payload: Any) -> None:
        try:
            self.remotes[w].send((command, payload))
        except (BrokenPipeError, OSError):
            self._receive(w)  # raises the worker's error, or reports its death
            raise

    def _broadcast(self, command: str) -> list[Any]:
        """Send ``command`` to every worker; the replies' per-env lists, in env order."""
        for w in range(len(self.remotes)):
            self._send(w, command, None)
        replies = [self._receive(w) for w in range(len(self.remotes))]
        return [replies[w][index] for w, index in self.location]

    def get_env_info(self) -> dict:
        return self.env_info

    def reset(self) -> list[StepData]:
        return self._broadcast("reset")

    def step(self, actions: np.ndarray, env_ids: list[int]) -> list[StepResult]:
        requests: dict[int, list[tuple[int, np.ndarray]]] = {}
        for env_id, env_actions in zip(env_ids, actions):
            w, index = self.location[env_id]
            requests.setdefault(w, []).append((index, env_actions))
        for w, request in requests.items():
            self._send(w, "step", request)
        replies = {w: iter(self._receive(w)) for w in requests}
        return [next(replies[self.location[env_id][0]]) for env_id in env_ids]

    def save_replay(self) -> None:
        self._send(0, "save_replay", None)
        self._receive(0)

    def close(self) -> None:
        for remote, process in zip(self.remotes, self.processes):
            if process.is_alive():
                try:
                    remote.send(("close", None))
                except (BrokenPipeError, OSError):
                    pass
        for process in self.processes:
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
        for remote in self.remotes:
            remote.close()
        self.remotes, self.processes = [], []
