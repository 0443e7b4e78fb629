"""Groups of environments stepped together: in this process, or spread over subprocesses.

Both pools speak the same small protocol so one runner serves both:

* ``reset() -> Observations`` of every env,
* ``step(actions, env_ids, reset_ended=False) -> Steps`` of the listed envs only (ascending ids;
  ``reset_ended``: an env whose episode ended is reset in the same call, for rollout segments),
* ``close()``.

Results come stacked over envs as numpy arrays (:class:`Observations`, :class:`Steps`), built where
the envs run: a worker sends one message of a few arrays per step instead of one pickled object per
env, and the runner writes whole arrays into its batch. Each env is stepped, observed and (when
asked) reset in turn, exactly as one env at a time would be.

Subprocess workers never hang the learner: an exception inside a worker is sent back with its
traceback and re-raised here as :class:`EnvWorkerError`; a worker that dies silently (segfault,
OOM kill) is noticed within ``poll_seconds``.

Workers never outlive the learner either, even when it dies without cleanup (``kill -9``, OOM):
a worker holds no copy of any pool's learner-side pipe end (it closes the ones it inherited when
forked), so the learner's death closes its pipe and ``recv`` ends with EOF; it also checks every
``PARENT_CHECK_SECONDS`` while idle that its parent is still the process that started it, in case
something else keeps a copy of the pipe open. SIGINT and SIGTERM stop a worker quietly (the
learner stops the run), closing its envs.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Callable, Sequence

import numpy as np

EnvFactory = Callable[[], Any]
PARENT_CHECK_SECONDS = 1.0  # how often an idle worker checks that the learner is still alive
# The learner-side pipe ends of every live SubprocessEnvs in this process: a worker forked from it
# closes all of them, so none outlives the learner in another process.
_learner_ends: set[Connection] = set()


class EnvWorkerError(RuntimeError):
    """An environment failed inside a subprocess worker."""


@dataclass
class Observations:
    """What the learner sees of several envs at one step, stacked over the envs (per-agent rows
    padded by the env): ``state [n_envs, state_dim]`` float32, ``avail_actions [n_envs, n_agents,
    n_actions]``, ``obs [n_envs, n_agents, obs_dim]`` float32."""

    state: np.ndarray
    avail_actions: np.ndarray
    obs: np.ndarray

    @staticmethod
    def stack(per_env: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> "Observations":
        """From one ``(state, avail_actions, obs)`` triple per env (see ``_observe``)."""
        states, avail_actions, obs = zip(*per_env)
        return Observations(np.stack(states), np.stack(avail_actions), np.stack(obs))

    @staticmethod
    def concatenate(parts: Sequence["Observations"]) -> "Observations":
        """The envs of ``parts`` one after another (e.g. the replies of several workers)."""
        if len(parts) == 1:
            return parts[0]
        return Observations(
            np.concatenate([p.state for p in parts]),
            np.concatenate([p.avail_actions for p in parts]),
            np.concatenate([p.obs for p in parts]),
        )

    def replace(self, rows: np.ndarray, other: "Observations") -> "Observations":
        """A copy with the envs at positions ``rows`` replaced by ``other`` (one env per row)."""
        merged = Observations(self.state.copy(), self.avail_actions.copy(), self.obs.copy())
        merged.state[rows], merged.avail_actions[rows], merged.obs[rows] = other.state, other.avail_actions, other.obs
        return merged


@dataclass
class Steps:
    """One step of several envs, stacked over them in the order of the ``env_ids`` asked for."""

    reward: np.ndarray  # [n_envs] float32 team rewards, or [n_envs, n_agents] per-agent rewards
    terminated: np.ndarray  # [n_envs] bool: true terminations (the last value is not bootstrapped)
    truncated: np.ndarray  # [n_envs] bool: time-limit ends (bootstrapped from the final state in ``next``)
    next: Observations  # after the step: an ended episode's final obs/state
    final_infos: list[dict]  # the step info of each env whose episode ended, in env order
    restarted: Observations | None = None  # reset_ended: each ended env's next first step, in env order

    @property
    def ended(self) -> np.ndarray:
        """``[n_envs]`` bool: the episode ended at this step (terminated or truncated)."""
        return self.terminated | self.truncated

    @staticmethod
    def concatenate(parts: Sequence["Steps"]) -> "Steps":
        """The envs of ``parts`` one after another (e.g. the replies of several workers)."""
        if len(parts) == 1:
            return parts[0]
        restarted = [p.restarted for p in parts if p.restarted is not None]
        return Steps(
            np.concatenate([p.reward for p in parts]),
            np.concatenate([p.terminated for p in parts]),
            np.concatenate([p.truncated for p in parts]),
            Observations.concatenate([p.next for p in parts]),
            [info for p in parts for info in p.final_infos],
            Observations.concatenate(restarted) if restarted else None,
        )


def _observe(env: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(state, avail_actions, obs)`` of one env, copied (an env may reuse its buffers)."""
    return (
        np.array(env.get_state(), dtype=np.float32),
        np.array(env.get_avail_actions()),
        np.array(env.get_obs(), dtype=np.float32),
    )


def _reset(envs: Sequence[Any]) -> Observations:
    observed = []
    for env in envs:
        env.reset()
        observed.append(_observe(env))
    return Observations.stack(observed)


def _step(envs: Sequence[Any], actions: np.ndarray, reset_ended: bool) -> Steps:
    """Step each env with its row of ``actions``; observe it, and reset it at once if its episode
    ended and ``reset_ended`` (the final step's observations are kept)."""
    rewards, terminated, truncated, observed, final_infos, restarted = [], [], [], [], [], []
    for env, env_actions in zip(envs, actions):
        _, reward, env_terminated, env_truncated, info = env.step(env_actions)
        rewards.append(reward)
        terminated.append(bool(env_terminated))
        truncated.append(bool(env_truncated))
        observed.append(_observe(env))
        if env_terminated or env_truncated:
            final_infos.append(info)
            if reset_ended:
                env.reset()
                restarted.append(_observe(env))
    return Steps(
        np.asarray(rewards, dtype=np.float32),
        np.asarray(terminated, dtype=bool),
        np.asarray(truncated, dtype=bool),
        Observations.stack(observed),
        final_infos,
        Observations.stack(restarted) if restarted else None,
    )


def _check_ascending(env_ids: Sequence[int]) -> None:
    if any(later <= earlier for earlier, later in zip(env_ids, env_ids[1:])):
        raise ValueError(f"env_ids must be distinct and ascending, got {list(env_ids)}")


class InProcessEnvs:
    """Envs stepped one after another in the calling process (no IPC; best for one env)."""

    def __init__(self, env_factories: list[EnvFactory]) -> None:
        self.envs = [make() for make in env_factories]

    def get_env_info(self) -> dict:
        return self.envs[0].get_env_info()

    def reset(self) -> Observations:
        return _reset(self.envs)

    def step(self, actions: np.ndarray, env_ids: Sequence[int], reset_ended: bool = False) -> Steps:
        _check_ascending(env_ids)
        return _step([self.envs[i] for i in env_ids], actions, reset_ended)

    def save_replay(self) -> None:
        self.envs[0].save_replay()

    def close(self) -> None:
        for env in self.envs:
            env.close()


class _LearnerGone(Exception):
    """The process that started this worker has died (or closed the pipe without "close")."""


def _detach_from_learner() -> None:
    """In a freshly forked worker: close the inherited learner-side pipe ends (its own and other
    workers'), and let SIGINT/SIGTERM raise KeyboardInterrupt instead of the learner's handlers."""
    for end in _learner_ends:
        end.close()
    _learner_ends.clear()
    for signum in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, signal.default_int_handler)


def _next_command(remote: Connection, learner_pid: int) -> tuple[str, Any]:
    """The learner's next command; :class:`_LearnerGone` if the learner dies while we wait."""
    while not remote.poll(PARENT_CHECK_SECONDS):
        if os.getppid() != learner_pid:  # re-parented: the learner is dead
            raise _LearnerGone
    try:
        return remote.recv()
    except EOFError:
        raise _LearnerGone from None


def _worker(remote: Connection, make_envs: list[EnvFactory], learner_pid: int) -> None:
    """Subprocess main loop: build this worker's envs, then answer commands until "close".

    Commands address envs by their index in this worker: ("step", (indices, actions)) with
    ``actions[i]`` for env ``indices[i]``, ("step_reset", (indices, actions)) (an env whose episode
    ended is reset too), ("reset", None), ("save_replay", None), ("close", None). The worker ends
    quietly, closing its envs, when the learner (``learner_pid``) is gone or a stop signal arrives.
    """
    _detach_from_learner()
    envs: list[Any] = []
    try:
        envs = [make() for make in make_envs]
        remote.send(("ok", envs[0].get_env_info()))
        while True:
            command, payload = _next_command(remote, learner_pid)
            if command in ("step", "step_reset"):
                indices, actions = payload
                remote.send(("ok", _step([envs[i] for i in indices], actions, command == "step_reset")))
            elif command == "reset":
                remote.send(("ok", _reset(envs)))
            elif command == "save_replay":
                remote.send(("ok", envs[0].save_replay()))
            elif command == "close":
                break
            else:
                raise ValueError(f"unknown worker command {command!r}")
    except (KeyboardInterrupt, _LearnerGone, BrokenPipeError, ConnectionResetError):
        pass  # stopped, or nobody is left to answer
    except BaseException as error:  # report every failure to the learner instead of dying silently
        try:
            remote.send(("error", (error, traceback.format_exc(), not envs)))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the learner is gone
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
    """Envs spread over ``n_workers`` processes (default: one per CPU core) in contiguous blocks
    (block 0 holds envs 0..k-1, ...), so concatenating the blocks' replies keeps env order.

    Each step sends one message per subprocess holding listed envs, then awaits every reply, so
    workers step their envs concurrently while IPC stays one small message each way per worker.
    With ``learner_block`` the calling process is one of the ``n_workers``: it steps block 0
    itself between sending the subprocesses their actions and reading their replies, instead of
    waiting idle for them. That is one process fewer on the cores and one round trip fewer per step
    (a pipe round trip costs 0.1-0.3 ms on a small VM, as much as stepping a few light envs). Every
    env is stepped exactly as in a worker, so the results are the same; an env that draws from the
    process-wide random generators (``np.random``, ``random``) would then draw from the learner's
    (still reproducible, but not the same draws as in a worker).
    An error raised while *building* an env is re-raised here as itself (e.g. a bad env key); an
    error while running is raised as :class:`EnvWorkerError` carrying the worker's traceback (as
    itself for an env of the learner's block).
    """

    def __init__(
        self, env_factories: list[EnvFactory], n_workers: int = 0, poll_seconds: float = 1.0, learner_block: bool = False
    ) -> None:
        context = mp.get_context("fork")
        n_envs = len(env_factories)
        n_workers = min(n_envs, n_workers or os.cpu_count() or 1)
        self.poll_seconds = poll_seconds
        blocks = np.array_split(np.arange(n_envs), n_workers)
        # env -> (its block, its index in that block); subprocess w holds block w + first_remote
        self.first_remote = 1 if learner_block else 0
        self.location = [(w, index) for w, block in enumerate(blocks) for index in range(len(block))]
        self.local: InProcessEnvs | None = None
        self.remotes: list[Connection] = []
        self.processes: list[mp.process.BaseProcess] = []
        for w, block in enumerate(blocks[self.first_remote :]):
            parent, child = context.Pipe()
            _learner_ends.add(parent)  # before the fork: the new worker closes its copy too
            process = context.Process(
                target=_worker,
                args=(child, [env_factories[i] for i in block], os.getpid()),
                daemon=True,
                name=f"env-worker-{w}",
            )
            process.start()
            child.close()
            self.remotes.append(parent)
            self.processes.append(process)
        if learner_block:  # built after the forks: no worker inherits a copy of these envs
            try:
                self.local = InProcessEnvs([env_factories[i] for i in blocks[0]])
            except BaseException:
                self.close()
                raise
        infos = [self._receive(w) for w in range(len(self.remotes))]
        self.env_info = self.local.get_env_info() if self.local is not None else infos[0]

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

    def get_env_info(self) -> dict:
        return self.env_info

    def reset(self) -> Observations:
        for w in range(len(self.remotes)):
            self._send(w, "reset", None)
        here = [self._here(self.local.reset)] if self.local is not None else []
        return Observations.concatenate(here + [self._receive(w) for w in range(len(self.remotes))])

    def step(self, actions: np.ndarray, env_ids: Sequence[int], reset_ended: bool = False) -> Steps:
        _check_ascending(env_ids)
        command = "step_reset" if reset_ended else "step"
        requests: dict[int, tuple[list[int], list[int]]] = {}  # block -> (its env indices, rows of actions)
        for row, env_id in enumerate(env_ids):
            block, index = self.location[env_id]
            indices, rows = requests.setdefault(block, ([], []))
            indices.append(index)
            rows.append(row)
        remote = [block - self.first_remote for block in requests if block >= self.first_remote]
        for w in remote:
            indices, rows = requests[w + self.first_remote]
            self._send(w, command, (indices, actions[rows[0] : rows[-1] + 1]))  # a block's rows are contiguous
        here = []
        if self.local is not None and 0 in requests:  # block 0 is stepped here while the workers step theirs
            indices, rows = requests[0]
            envs = [self.local.envs[i] for i in indices]
            here.append(self._here(lambda: _step(envs, actions[rows[0] : rows[-1] + 1], reset_ended)))
        return Steps.concatenate(here + [self._receive(w) for w in remote])

    def _here(self, work: Callable[[], Any]) -> Any:
        """``work()`` on the learner's own block; on an error the workers are closed before it goes on up."""
        try:
            return work()
        except BaseException:
            self.close()
            raise

    def save_replay(self) -> None:
        if self.local is not None:
            self.local.save_replay()
            return
        self._send(0, "save_replay", None)
        self._receive(0)

    def close(self) -> None:
        try:
            self._close_workers()
        finally:
            local, self.local = self.local, None
            if local is not None:
                local.close()

    def _close_workers(self) -> None:
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
            _learner_ends.discard(remote)
        self.remotes, self.processes = [], []
