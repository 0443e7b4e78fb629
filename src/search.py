"""Sweeps on Ray: every combination of a grid of overrides x seeds, each one ordinary ``src/main.py`` run.

    python src/search.py SWEEP.yaml                       # Ray started in-process on this machine
    python src/search.py SWEEP.yaml --address auto        # join the cluster of `ray start` on this node
    python src/search.py SWEEP.yaml --address HOST:6379   # join a remote cluster's head
    python src/search.py SWEEP.yaml --dry-run             # list the trials and what would be skipped
    python src/search.py SWEEP.yaml --set t_max=20000 --results /tmp/smoke   # a short try of the same file
    python src/search.py SWEEP.yaml --resume              # stopped runs go on from their last checkpoint

Each trial is a Ray task that runs ``python src/main.py --config=ALG --env-config=ENV with k=v ...``
as a subprocess (so a crash, a config error or a NaN in one run cannot take the others down); the
run writes its own sacred directory ``<local_results_path>/sacred/<name>/<env key>/<id>/`` as usual.
On a cluster every node needs this checkout (and its venv) at the same path and the results path
on a shared file system, or each node keeps the runs it executed.

Sweep file (yaml; every key but the grid is optional)::

    config: happo               # --config of every trial (a grid or group may vary "--config")
    env-config: toy_game        # --env-config of every trial
    overrides:                  # `with` overrides of every trial (nested dicts become dotted keys)
      t_max: 40
    grid:                       # cartesian product: one value of each key per trial (a scalar = one value)
      "--config": [happo, mappo]
      lr: [0.0003, 0.001]
    groups:                     # alternatives varied together, crossed with the grid
      - {"--env-config": mamujoco, env_args.key: "HalfCheetah-v5", env_args.agent_conf: "2x3"}
      - {"--env-config": toy_game}
    seeds: 3                    # seeds 0, 1, 2; or an explicit list [1, 7, 42]
    resources: {cpus: 1, gpus: 0}   # Ray resources each trial holds (set cpus to the envs' workers + 1)
    local_results_path: results     # where the runs go (relative: to the current directory)
    resume: checkpoint          # continue stopped runs from their newest checkpoint (as --resume)

EPyMARL's sweep files (its ``src/search.py``) run unchanged: ``grid-search`` is ``grid``;
``grid-search-groups`` (a mapping of group name -> list of one-key mappings) is ``groups``;
``exclude`` must be null (EPyMARL ignores it too); ``--seeds N`` on the command line sets the seeds
(EPyMARL's default, 3). Like EPyMARL's, every trial gets ``hypergroup`` (here a readable name of its
combination, e.g. ``--config=happo,lr=0.001``, which stays the same when the sweep grows) so
``plot_results.py --group-by hypergroup`` can group the seeds of a combination. The EPyMARL keys
``label``, ``repeat_id``, ``hypergroup``, ``use_wandb`` and ``wandb_*`` are config keys of ours
(``default.yaml``), so they pass through to the runs.

Resumable: a trial whose merged config (``main.build_config``, seed included) equals the
``config.json`` of a sacred run with status COMPLETED under the results path is skipped, so
re-running a sweep runs only what is missing or failed (``resumed_from``, ``resumed_step``,
``save_model_keep`` and ``local_results_path`` are left out of the comparison; a resumed run stands
for the run it resumed; settings at their ``default.yaml`` value are left out on both sides, so a
run recorded before a setting existed still matches its trial when the trial leaves that setting at
its default). ``--completed-in DIR`` adds the COMPLETED runs of a folder of copied runs (what
``scripts/collect_runs.py`` put in the checkout), so a sweep begun again on a new machine, whose
results path is empty, runs only the trials that no committed run finished.
With ``resume: checkpoint`` or ``--resume`` a trial whose earlier run stopped early (INTERRUPTED,
FAILED because an env worker was killed by a signal, or DEAD: RUNNING in its ``run.json`` but its
process is gone, see ``utils.run_state``) and saved checkpoints (``save_model=True``) continues
from the newest of them: the same ``main.py`` command plus ``checkpoint_path=<its models dir>
load_step=0 resumed_from=<its sacred dir> resumed_step=<t_env>``, a new sacred run that counts env
steps on from the checkpoint to the same ``t_max`` (``plot_results.py`` joins the two curves). The
checkpoints are found through the ``models_dir`` the run recorded in its sacred ``info.json``
(or the directory of that name under the results path, if the results were moved), which sacred
writes at the first heartbeat (10 s after the start): a run killed before it starts again from
step 0. A trial with a run (or a resumption) still alive, started by another ``search.py`` or by
hand, is not started again. ``--dry-run`` shows what each trial would do (completed, running,
resume, to run, invalid) and any earlier run that is DEAD.

A trial whose config is invalid is reported at once with the one-line error and not launched; a
trial that fails while running is reported with its error line (its output is in
``<local_results_path>/search_logs/<sweep>/``) while the others go on. Ctrl-C or SIGTERM (``kill``,
a scheduler) stops cleanly: running trials get SIGINT (their sacred runs save a checkpoint and are
marked INTERRUPTED), finished runs are untouched; a second signal cancels at once. A sweep started
with ``&`` from a script has SIGINT ignored (the shell's rule for background jobs), so ``kill <pid>``
(SIGTERM) is the way to stop it there.
Exit code: 0 all done, 1 some trial failed, 2 bad sweep file, 130 interrupted (143 by SIGTERM).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import glob
import hashlib
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import yaml

from utils.checkpoint import list_checkpoint_steps
from utils.config import CONFIG_DIR
from utils.parent_death import die_with_parent
from utils.resumed_runs import RESUME_KEYS, origin_dir
from utils.run_state import run_state
from utils.stop_signals import RunInterrupted

SRC_DIR = os.path.dirname(os.path.abspath(__file__))
MAIN_PATH = os.path.join(SRC_DIR, "main.py")
ALG_FLAG, ENV_FLAG = "--config", "--env-config"
EPYMARL_SEEDS = 3  # EPyMARL's search.py default
SWEEP_KEYS = ("config", "env-config", "overrides", "grid", "groups", "seeds", "resources", "local_results_path",
              "resume", "grid-search", "grid-search-groups", "exclude")
RESUME_MODES = ("checkpoint",)  # the sweep file's ``resume:`` values (absent or null: no resuming)
# How long a stop waits for the running trials to end INTERRUPTED with a checkpoint: a run stops at the
# end of its learner update, and one Lookahead iteration (model, imagined update) on a shared CPU
# takes minutes (Ant 2x4 with the paper's settings, three runs on 2 cores: ~7 min). A second signal
# does not wait.
INTERRUPT_GRACE_SECONDS = 30 * 60
POLL_SECONDS = 0.2  # how often a trial checks whether its run has ended


class SweepError(ValueError):
    """The sweep file or command line is not valid; the message names the value and what is allowed."""


# ------------------------------------------------------------------ the sweep file
@dataclass(frozen=True)
class Trial:
    """One ``main.py`` run: ``alg``/``env`` yaml names and the ``with`` overrides (seed included)."""

    index: int
    alg: str
    env: str
    overrides: tuple[tuple[str, Any], ...]
    hypergroup: str

    @property
    def seed(self) -> int:
        return dict(self.overrides)["seed"]

    @property
    def name(self) -> str:
        return f"{self.hypergroup},seed={self.seed}"

    def argv(self) -> list[str]:
        """``main.py`` arguments: ``--config=ALG --env-config=ENV with k=v ...``."""
        return [f"{ALG_FLAG}={self.alg}", f"{ENV_FLAG}={self.env}", "with",
                *(f"{key}={format_value(value)}" for key, value in self.overrides)]

    def log_stem(self) -> str:
        digest = hashlib.sha1(" ".join(self.argv()).encode()).hexdigest()[:8]
        return f"trial{self.index:04d}_{digest}"


@dataclass
class Sweep:
    """The trials of a sweep file and what each holds on Ray."""

    trials: list[Trial]
    cpus: float
    gpus: float
    results_path: str
    resume: bool = False  # continue stopped runs from their newest checkpoint
    completed_in: tuple[str, ...] = ()  # folders of copied runs whose COMPLETED ones count as done


def format_value(value: Any) -> str:
    """``value`` as ``main.py`` parses it back (``utils.config.parse_value``: Python literals)."""
    if isinstance(value, str):
        from utils.config import parse_value

        return value if parse_value(value) == value else repr(value)
    return repr(value)


def flatten(overrides: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"env_args": {"key": x}}`` -> ``{"env_args.key": x}`` (flags such as ``--config`` stay)."""
    flat: dict[str, Any] = {}
    for key, value in overrides.items():
        if isinstance(value, Mapping) and not str(key).startswith("--"):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _mapping(sweep: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = sweep.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise SweepError(f"bad value for '{key}': {value!r}; allowed: a mapping of config key -> value(s)")
    return dict(value)


def _groups(sweep: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Alternatives of ``groups`` (a list of mappings) or EPyMARL's ``grid-search-groups``
    (name -> list of one-key mappings); ``[{}]`` if there are none."""
    groups: list[dict[str, Any]] = []
    ours = sweep.get("groups") or []
    if not isinstance(ours, list) or not all(isinstance(group, Mapping) for group in ours):
        raise SweepError(f"bad value for 'groups': {ours!r}; allowed: a list of mappings of config key -> value")
    groups += [flatten(group) for group in ours]
    for name, items in _mapping(sweep, "grid-search-groups").items():
        if not isinstance(items, list) or not all(isinstance(item, Mapping) for item in items):
            raise SweepError(f"bad value for 'grid-search-groups.{name}': {items!r}; allowed: a list of "
                             "one-key mappings such as [{\"--env-config\": gymma}, {env_args.key: ...}]")
        merged: dict[str, Any] = {}
        for item in items:
            merged.update(flatten(item))
        groups.append(merged)
    return groups or [{}]


def _seeds(sweep: Mapping[str, Any], seeds_flag: int | None) -> list[int]:
    value = seeds_flag if seeds_flag is not None else sweep.get("seeds", EPYMARL_SEEDS)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return list(range(value))
    if isinstance(value, list) and value and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                                                 for s in value):
        return list(dict.fromkeys(value))
    raise SweepError(f"bad value for 'seeds': {value!r}; allowed: a count >= 1 or a list of integers >= 0")


def _resource(resources: Mapping[str, Any], key: str, default: float) -> float:
    value = resources.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise SweepError(f"bad value for 'resources.{key}': {value!r}; allowed: a number >= 0")
    return float(value)


def parse_set_flags(tokens: Iterable[str]) -> dict[str, Any]:
    """``--set KEY=VALUE`` flags -> overrides (values parsed as ``main.py`` parses ``with`` values)."""
    from utils.config import ConfigError, parse_overrides

    try:
        return parse_overrides(list(tokens))
    except ConfigError as error:
        raise SweepError(f"bad --set: {error}") from None


def load_sweep(path: str, seeds_flag: int | None = None, results_flag: str | None = None,
               set_flags: Mapping[str, Any] | None = None, resume_flag: bool = False,
               completed_in: Iterable[str] = ()) -> Sweep:
    """The trials of the sweep file at ``path``, in a fixed order (grid x groups, then seeds).

    ``set_flags`` (``--set``) override every trial last, over the grid and groups too;
    ``resume_flag`` (``--resume``) resumes stopped runs whatever the file's ``resume`` says;
    ``completed_in`` (``--completed-in``) are folders of copied runs (``past_runs``)."""
    try:
        with open(path) as f:
            raw = yaml.safe_load(f) or {}
    except OSError as error:
        raise SweepError(f"cannot read sweep file '{path}': {error.strerror}") from None
    except yaml.YAMLError as error:
        raise SweepError(f"sweep file '{path}' is not valid yaml: {error}") from None
    if not isinstance(raw, Mapping):
        raise SweepError(f"sweep file '{path}' must be a mapping; keys: {', '.join(SWEEP_KEYS)}")
    unknown = sorted(set(raw) - set(SWEEP_KEYS))
    if unknown:
        raise SweepError(f"unknown sweep key(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(SWEEP_KEYS)}")
    if raw.get("exclude") is not None:
        raise SweepError(f"bad value for 'exclude': {raw['exclude']!r}; allowed: null (EPyMARL ignores it too); "
                         "use groups to leave combinations out")

    base = flatten(_mapping(raw, "overrides"))
    grid = {**flatten(_mapping(raw, "grid-search")), **flatten(_mapping(raw, "grid"))}
    forced = dict(set_flags or {})
    if "seed" in forced:
        raise SweepError("--set seed=... is not allowed; use --seeds N or the file's 'seeds'")
    axes = [[(key, value) for value in (values if isinstance(values, list) else [values])]
            for key, values in grid.items()]
    groups = _groups(raw)
    varied = {key for key, values in grid.items() if isinstance(values, list) and len(values) > 1}
    varied |= {key for group in groups for key in group} if len(groups) > 1 else set()

    results_path = os.path.abspath(results_flag or base.pop("local_results_path", None)
                                   or raw.get("local_results_path") or "results")
    base.pop("local_results_path", None)
    resources = _mapping(raw, "resources")
    unknown = sorted(set(resources) - {"cpus", "gpus"})
    if unknown:
        raise SweepError(f"unknown resources key(s) {', '.join(unknown)}; allowed: cpus, gpus")
    cpus, gpus = _resource(resources, "cpus", 1), _resource(resources, "gpus", 0)
    if raw.get("resume") is not None and raw["resume"] not in RESUME_MODES:
        raise SweepError(f"bad value for 'resume': {raw['resume']!r}; allowed: null (no resuming) or "
                         f"{', '.join(RESUME_MODES)} (stopped runs go on from their newest checkpoint)")

    trials: list[Trial] = []
    seen: set[tuple] = set()
    for combination in itertools.product(*axes):
        for group in groups:
            overrides = {**base, **dict(combination), **group, **forced}
            alg = overrides.pop(ALG_FLAG, raw.get("config"))
            env = overrides.pop(ENV_FLAG, raw.get("env-config"))
            if not alg or not env:
                missing = "config" if not alg else "env-config"
                raise SweepError(f"no '{missing}' for a trial; set '{missing}:' or vary \"--{missing}\" in the grid")
            overrides.pop("seed", None)
            label = {ALG_FLAG: alg, ENV_FLAG: env, **overrides}
            named = (f"{key.lstrip('-')}={format_value(label[key])}" for key in sorted(varied) if key in label)
            hypergroup = ",".join(named)
            for seed in _seeds(raw, seeds_flag):
                settings = {"hypergroup": hypergroup or "all", **overrides, "seed": seed,
                            "local_results_path": results_path}
                items = tuple(settings.items())
                key = (alg, env, repr(items))
                if key not in seen:
                    seen.add(key)
                    trials.append(Trial(len(trials), str(alg), str(env), items, hypergroup or "all"))
    copies = tuple(os.path.abspath(folder) for folder in completed_in)
    for folder in copies:
        if not os.path.isdir(folder):
            raise SweepError(f"--completed-in '{folder}' is not a folder; give a folder of copied runs "
                             "(one holding sacred/<name>/<env>/<id>/)")
    return Sweep(trials, cpus, gpus, results_path, resume=resume_flag or raw.get("resume") is not None,
                 completed_in=copies)


# ------------------------------------------------------------------ earlier runs
# Set by a resumption (which is matched through its origin), only bounding the disk used, or only
# saying where the run's files went (a run moved or copied to another results path is the same run);
# and absent from the runs recorded before these keys existed, which must still match their trials.
MATCH_IGNORED = (*RESUME_KEYS, "save_model_keep", "local_results_path")
RESUMABLE = ("INTERRUPTED", "DEAD")  # states of a run that stopped early (and FAILED by a signal)


@functools.cache
def _default_settings() -> dict[str, Any]:
    """``default.yaml`` as JSON types (as config.json holds them)."""
    with open(os.path.join(CONFIG_DIR, "default.yaml")) as f:
        return json.loads(json.dumps(yaml.safe_load(f)))


def canonical(config: Mapping[str, Any]) -> str:
    """A config as the text sacred's config.json would hold (JSON types, sorted keys), without the
    keys ``MATCH_IGNORED`` and without the settings at their ``default.yaml`` value (a setting added
    after a run was recorded is absent from its config.json, and the run ran as its default): what
    a trial and an earlier run must share to be the same run."""
    defaults = _default_settings()
    as_json = json.loads(json.dumps({key: value for key, value in config.items() if key not in MATCH_IGNORED}))
    kept = {key: value for key, value in as_json.items() if key not in defaults or value != defaults[key]}
    return json.dumps(kept, sort_keys=True)


def _read_json(path: str) -> Any:
    with open(path) as f:
        return json.load(f)


def ended_by_signal(record: Mapping[str, Any]) -> bool:
    """Whether a FAILED run failed because a process of it was killed by a signal (an env worker
    the OOM killer took: ``EnvWorkerError ... (exit code -9)``), not by an error of its own."""
    trace = [line.strip() for line in record.get("fail_trace") or [] if line.strip()]
    return bool(trace) and "EnvWorkerError" in trace[-1] and "(exit code -" in trace[-1]


@dataclass(frozen=True)
class PastRun:
    """A sacred run under the results path: its directory, state (``utils.run_state``: DEAD for a
    RUNNING run whose process is gone), and checkpoints (the steps saved in its ``models_dir``)."""

    run_dir: str
    state: str
    models_dir: str | None
    steps: tuple[int, ...]
    stopped_early: bool  # INTERRUPTED, DEAD, or FAILED by a signal: what resuming continues


def _past_run(run_dir: str) -> tuple[PastRun, dict] | None:
    try:
        record = _read_json(os.path.join(run_dir, "run.json"))
        config = _read_json(os.path.join(run_dir, "config.json"))
    except (OSError, ValueError):
        return None  # a run being written or a broken directory
    try:
        models_dir = _read_json(os.path.join(run_dir, "info.json")).get("models_dir")
    except (OSError, ValueError):
        models_dir = None  # no heartbeat yet, or a run that saves no checkpoints
    if models_dir and not os.path.isdir(models_dir):  # the results were moved: look beside the run
        results_path = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(run_dir))))
        models_dir = os.path.join(results_path, "models", os.path.basename(models_dir))
    steps = tuple(list_checkpoint_steps(models_dir)) if models_dir and os.path.isdir(models_dir) else ()
    state = run_state(record)
    stopped_early = state in RESUMABLE or (state == "FAILED" and ended_by_signal(record))
    return PastRun(run_dir, state, models_dir, steps, stopped_early), config


def past_runs(results_path: str, completed_in: Iterable[str] = ()) -> dict[str, list[PastRun]]:
    """The sacred runs under ``results_path`` by the canonical config of the trial they ran (a
    resumed run by its origin's, through ``resumed_from``), with the COMPLETED runs under each of
    ``completed_in``: copies of finished runs kept elsewhere (``scripts/collect_runs.py``'s folders
    in the checkout), so that a sweep started on a machine without its old results path does not run
    them again. Only their COMPLETED runs count: a copy holds no checkpoints to resume from, and a
    RUNNING copy is no live run here."""
    found: dict[str, tuple[PastRun, dict]] = {}
    copied: set[str] = set()
    for root in (results_path, *completed_in):
        for run_json in glob.glob(os.path.join(root, "sacred", "*", "*", "*", "run.json")):
            run_dir = os.path.normpath(os.path.dirname(run_json))
            if run_dir not in found and (entry := _past_run(run_dir)) is not None:
                found[run_dir] = entry
                if root != results_path:
                    copied.add(run_dir)

    def key(run_dir: str, config: dict, depth: int = 0) -> str | None:
        origin = origin_dir(run_dir, config)
        if origin is None:
            return canonical(config)
        if origin not in found or depth > len(found):
            return None  # its origin is gone: it cannot be told which trial it continued
        return key(origin, found[origin][1], depth + 1)

    by_key: dict[str, list[PastRun]] = {}
    for run_dir, (run, config) in found.items():
        if run_dir in copied and run.state != "COMPLETED":
            continue
        if (trial_key := key(run_dir, config)) is not None:
            by_key.setdefault(trial_key, []).append(run)
    return by_key


@dataclass(frozen=True)
class Plan:
    """What a trial does this session: ``state`` is ``completed`` (skipped), ``running`` (a run of
    it, or a resumption of one, is alive: another ``search.py`` or ``main.py`` runs it, so it is not
    started twice), ``resume`` (from a stopped run's checkpoint), ``to run`` or ``invalid``;
    ``note`` says from where, or why."""

    state: str
    trial: Trial  # the trial to launch, the resumption's overrides appended
    note: str = ""


def resumption(trial: Trial, run: PastRun, step: int) -> Trial:
    """``trial`` continuing ``run`` from its checkpoint at ``step``: the same overrides, then the
    checkpoint and the record of what it resumes."""
    extra = (("checkpoint_path", run.models_dir), ("load_step", 0), ("resumed_from", run.run_dir),
             ("resumed_step", step))
    return Trial(trial.index, trial.alg, trial.env, trial.overrides + extra, trial.hypergroup)


def plan_trial(trial: Trial, runs: Mapping[str, list[PastRun]], resume: bool) -> Plan:
    """What ``trial`` does given the earlier ``runs`` (``past_runs``)."""
    try:
        config = trial_config(trial)
    except ValueError as error:  # ConfigError, EnvArgsError: the run could not start
        return Plan("invalid", trial, f"error: {error}")
    earlier = runs.get(canonical(config), [])
    if any(run.state == "COMPLETED" for run in earlier):
        return Plan("completed", trial)
    alive = [run.run_dir for run in earlier if run.state == "RUNNING"]
    if alive:
        return Plan("running", trial, f"{alive[0]} is RUNNING (another search.py or main.py): not started again")
    stopped = [(max(run.steps), run) for run in earlier if run.stopped_early and run.steps]
    if stopped:
        step, run = max(stopped, key=lambda item: item[0])  # the furthest any stopped run got
        if resume:
            return Plan("resume", resumption(trial, run, step), f"from t_env {step} of {run.run_dir} ({run.state})")
        note = f"{run.run_dir} ({run.state}) has a checkpoint at t_env {step}; --resume continues it"
    else:
        note = "; ".join(f"{run.run_dir} {run.state}" for run in earlier if run.state in ("RUNNING", "DEAD"))
    return Plan("to run", trial, note)


def trial_config(trial: Trial) -> dict[str, Any]:
    """The merged, checked config ``main.py`` would run (raises ``utils.config.ConfigError``)."""
    if SRC_DIR not in sys.path:
        sys.path.insert(0, SRC_DIR)
    from main import build_config

    return build_config(trial.argv())


# ------------------------------------------------------------------ one trial (a Ray task)
def error_line(stderr_text: str) -> str:
    """The line that says why a run failed: ``main.py``'s one-line ``error: ...``, else the last line
    (the exception of a traceback)."""
    lines = [line.strip() for line in stderr_text.splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("error:"):
            return line
    return lines[-1] if lines else "(no error output)"


def _prepare_run(trial_process: int) -> None:
    """In the trial's child before ``main.py`` starts: the run dies with the trial's Ray worker
    (killed with it, the run would train on unseen), and SIGINT reaches the run (a Ray worker has it
    blocked or ignored, both inherited by its children, and ``main.py`` keeps an ignored SIGINT ignored)."""
    die_with_parent(trial_process)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_trial(argv: list[str], main_path: str, log_dir: str, log_stem: str) -> dict[str, Any]:
    """Run ``main.py argv`` to its end; ``{"returncode", "error", "seconds", "host", "node"}`` (node: the
    Ray node id).

    Output goes to ``<log_dir>/<log_stem>.out`` / ``.err``. Cancelled (KeyboardInterrupt from
    ``ray.cancel``), it passes SIGINT on so the run stops in order and sacred marks it INTERRUPTED.
    """
    import socket

    os.makedirs(log_dir, exist_ok=True)
    started = time.monotonic()
    err_path = os.path.join(log_dir, f"{log_stem}.err")
    with open(os.path.join(log_dir, f"{log_stem}.out"), "w") as out, open(err_path, "w") as err:
        process = subprocess.Popen([sys.executable, main_path, *argv], stdout=out, stderr=err,
                                   stdin=subprocess.DEVNULL,
                                   preexec_fn=functools.partial(_prepare_run, os.getpid()))
        try:
            # Polled, not process.wait(): Ray's cancel raises KeyboardInterrupt between bytecodes,
            # which a thread blocked in waitpid would never reach.
            while (returncode := process.poll()) is None:
                time.sleep(POLL_SECONDS)
        except KeyboardInterrupt:
            process.send_signal(signal.SIGINT)
            try:
                returncode = process.wait(timeout=INTERRUPT_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                returncode = process.wait()
    with open(err_path) as f:
        error = error_line(f.read()) if returncode else ""
    import ray

    node = ray.get_runtime_context().get_node_id() if ray.is_initialized() else ""
    return {"returncode": returncode, "error": error, "seconds": time.monotonic() - started,
            "host": socket.gethostname(), "node": node}


# ------------------------------------------------------------------ the driver
def format_seconds(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


@dataclass
class Progress:
    """Counts of this session's trials and the progress line."""

    total: int
    skipped: int = 0
    done: int = 0
    failed: list[tuple[Trial, str]] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def line(self, running: int) -> str:
        finished = self.done + len(self.failed)
        left = self.total - self.skipped - finished
        elapsed = time.monotonic() - self.started
        eta = format_seconds(elapsed / finished * left) if finished and left else ("0:00:00" if not left else "?")
        return (f"[search] {self.done + self.skipped}/{self.total} done ({self.skipped} skipped), {running} running, "
                f"{len(self.failed)} failed | elapsed {format_seconds(elapsed)}, left ~{eta}")


def _print(message: str) -> None:
    print(message, flush=True)


def start_ray(address: str | None, num_cpus: int | None) -> bool:
    """Connect to Ray: ``address`` (a cluster) or a new local instance. False if a session was
    already open in this process (then the caller leaves it open)."""
    try:
        import ray
    except ImportError:
        raise SweepError("Ray is not installed; install the extra: pip install -e '.[ray]'") from None
    if ray.is_initialized():
        return False
    # The tasks import this module by name on the workers.
    runtime_env = {"env_vars": {"PYTHONPATH": os.pathsep.join(filter(None, [SRC_DIR, os.environ.get("PYTHONPATH")]))}}
    if address:
        try:
            ray.init(address=address, runtime_env=runtime_env, log_to_driver=False)
        except (ConnectionError, RuntimeError) as error:
            reason = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
            raise SweepError(f"cannot join the Ray cluster at --address={address}: {reason}; start one with "
                             "`ray start --head` (or use no --address for a local Ray)") from None
    else:
        with sigint_not_ignored():
            ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, runtime_env=runtime_env,
                     log_to_driver=False)
    return True


@contextlib.contextmanager
def sigint_not_ignored() -> Iterator[None]:
    """Start Ray's local processes with SIGINT not ignored, then ignore it here again if it was.

    Ray cancels a running trial (:func:`_stop`) by raising KeyboardInterrupt in its worker, which
    Python does only where SIGINT is not ignored; a sweep started with ``&`` from a script has it
    ignored (the shell's rule for background jobs), and the raylet and its workers would inherit that,
    so a stop would leave the trials running until Ray is shut down under them (DEAD, not
    INTERRUPTED). This process keeps the shell's rule: SIGTERM, not Ctrl-C, stops it."""
    ignored = (threading.current_thread() is threading.main_thread()
               and signal.getsignal(signal.SIGINT) is signal.SIG_IGN)
    if ignored:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        if ignored:
            signal.signal(signal.SIGINT, signal.SIG_IGN)


def check_schedulable(sweep: Sweep) -> None:
    """Refuse a sweep whose trials no node can hold (Ray would queue them forever)."""
    import ray

    nodes = [node.get("Resources", {}) for node in ray.nodes() if node.get("Alive")]
    for resource, need in (("CPU", sweep.cpus), ("GPU", sweep.gpus)):
        largest = max((node.get(resource, 0.0) for node in nodes), default=0.0)
        if need > largest:
            raise SweepError(f"bad value for 'resources.{resource.lower()}s': {need:g}; the largest Ray node has "
                             f"{largest:g} {resource}s (allowed: <= {largest:g}, or join a bigger cluster)")


def _running(pending: int, cpus: float) -> int:
    """Trials holding their resources now (the others wait in Ray's queue)."""
    import ray

    if cpus <= 0:
        return pending
    held = ray.cluster_resources().get("CPU", 0) - ray.available_resources().get("CPU", 0)
    return max(0, min(pending, int(round(held / cpus))))


def run_sweep(sweep: Sweep, address: str | None = None, num_cpus: int | None = None, log_name: str = "sweep",
              progress_interval: float = 10.0) -> Progress:
    """Run every trial of ``sweep`` not already COMPLETED (resuming stopped ones if ``sweep.resume``);
    returns the counts and failures."""
    progress = Progress(total=len(sweep.trials))
    runs = past_runs(sweep.results_path, sweep.completed_in)
    to_run: list[Trial] = []
    resumed = elsewhere = 0
    for trial in sweep.trials:
        plan = plan_trial(trial, runs, sweep.resume)
        if plan.state == "invalid":
            progress.failed.append((trial, plan.note))
            _print(f"[search] FAILED {trial.name}: {plan.note}")
        elif plan.state == "completed":
            progress.skipped += 1
        elif plan.state == "running":
            progress.skipped += 1
            elsewhere += 1
            _print(f"[search] skipping {trial.name}: {plan.note}")
        else:
            to_run.append(plan.trial)
            resumed += plan.state == "resume"
            if plan.state == "resume":
                _print(f"[search] resuming {trial.name} {plan.note}")
    _print(f"[search] {len(sweep.trials)} trials: {progress.skipped - elsewhere} already completed, {elsewhere} "
           f"running elsewhere, {len(to_run)} to run "
           f"({resumed} resumed from a checkpoint), {len(progress.failed)} invalid; runs in {sweep.results_path}")
    if not to_run:
        return progress

    import ray

    owns_ray = start_ray(address, num_cpus)
    try:
        check_schedulable(sweep)
    except SweepError:
        if owns_ray:
            ray.shutdown()
        raise
    log_dir = os.path.join(sweep.results_path, "search_logs", log_name)
    task = ray.remote(run_trial).options(num_cpus=sweep.cpus, num_gpus=sweep.gpus, max_retries=0)
    pending = {task.remote(trial.argv(), MAIN_PATH, log_dir, trial.log_stem()): trial for trial in to_run}
    last_line = 0.0
    with sigterm_as_ctrl_c() as sigterm:  # after ray.init, which installs its own SIGTERM handler
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=progress_interval)
                for ref in ready:
                    trial = pending.pop(ref)
                    _report(trial, ref, progress, log_dir)
                if time.monotonic() - last_line >= progress_interval or ready:
                    _print(progress.line(_running(len(pending), sweep.cpus)))
                    last_line = time.monotonic()
        except KeyboardInterrupt:
            finished_meanwhile, _ = ray.wait(list(pending), num_returns=len(pending), timeout=0)
            for ref in finished_meanwhile:
                _report(pending.pop(ref), ref, progress, log_dir)
            _print(f"[search] interrupted: stopping {len(pending)} unfinished trials (running runs end their "
                   "current update, save a checkpoint and are marked INTERRUPTED, which can take minutes; "
                   "finished runs are kept; Ctrl-C or SIGTERM again to cancel at once)")
            _stop(pending, progress, log_dir)
            if sigterm.signum is not None:
                raise RunInterrupted(sigterm.signum) from None
            raise
        finally:
            if owns_ray:
                ray.shutdown()
    return progress


def _report(trial: Trial, ref: Any, progress: Progress, log_dir: str) -> None:
    import ray

    try:
        result = ray.get(ref)
    except ray.exceptions.RayError as error:  # the worker died, or the task was cancelled
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        progress.failed.append((trial, first))
        _print(f"[search] FAILED {trial.name}: {first}")
        return
    if result["returncode"] == 0:
        progress.done += 1
        _print(f"[search] done {trial.name} in {format_seconds(result['seconds'])} on {result['host']} "
               f"(node {result['node'][:8]})")
    else:
        log = os.path.join(log_dir, f"{trial.log_stem()}.err")
        progress.failed.append((trial, result["error"]))
        _print(f"[search] FAILED {trial.name} (exit {result['returncode']}): {result['error']} [log: {log}]")


def _stop(pending: dict[Any, Trial], progress: Progress, log_dir: str) -> None:
    """Cancel the unfinished trials: queued ones never start, running ones get SIGINT and are waited
    for; a second Ctrl-C (or SIGTERM) force-cancels."""
    import ray

    for ref in pending:
        ray.cancel(ref, force=False)
    try:
        ray.wait(list(pending), num_returns=len(pending), timeout=INTERRUPT_GRACE_SECONDS + 5)
    except KeyboardInterrupt:
        for ref in pending:
            ray.cancel(ref, force=True)


@dataclass
class StopSignal:
    """The SIGTERM a sweep received, if any (Ray may turn the exception into a plain KeyboardInterrupt)."""

    signum: int | None = None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.signum = signum
        raise RunInterrupted(signum)


@contextlib.contextmanager
def sigterm_as_ctrl_c() -> Iterator[StopSignal]:
    """Inside the block SIGTERM raises :class:`RunInterrupted` (a ``KeyboardInterrupt``), so ``kill <pid>``
    stops the sweep exactly as Ctrl-C does (runs end INTERRUPTED with a checkpoint, not DEAD at the
    last periodic one); a second SIGTERM cancels at once, as a second Ctrl-C does. Left alone if the
    process was started with SIGTERM ignored, or outside the main thread (where Python sets no handler)."""
    received = StopSignal()
    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous is not signal.SIG_IGN:
        signal.signal(signal.SIGTERM, received)
    try:
        yield received
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)  # None: set outside Python


def summary(progress: Progress) -> str:
    lines = [f"[search] finished: {progress.done} ran, {progress.skipped} skipped (already completed), "
             f"{len(progress.failed)} failed, in {format_seconds(time.monotonic() - progress.started)}"]
    lines += [f"[search]   FAILED {trial.name}: {error}" for trial, error in progress.failed]
    return "\n".join(lines)


def parse_args(argv: Iterable[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep", help="sweep yaml (ours or EPyMARL's search config)")
    parser.add_argument("--address", default=None,
                        help="Ray cluster to join: 'auto' (this node's `ray start`) or HOST:PORT; default: "
                             "start Ray in-process on this machine")
    parser.add_argument("--num-cpus", type=int, default=None,
                        help="local Ray only: CPUs Ray may use (default: all of this machine's)")
    parser.add_argument("--seeds", type=int, default=None, help="seeds 0..N-1 (overrides the file's 'seeds')")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="set_flags",
                        help="override KEY of every trial (repeatable), e.g. a short try: --set t_max=20000")
    parser.add_argument("--results", default=None, help="local_results_path of every trial (overrides the file)")
    parser.add_argument("--progress-interval", type=float, default=10.0, help="seconds between progress lines")
    parser.add_argument("--resume", action="store_true",
                        help="continue trials whose run stopped early (INTERRUPTED, DEAD, ...) from its newest "
                             "checkpoint, as the file's 'resume: checkpoint'")
    parser.add_argument("--completed-in", action="append", default=[], metavar="DIR",
                        help="a folder of copied runs (scripts/collect_runs.py's, repeatable): its COMPLETED runs "
                             "count as done, e.g. on a machine where the results path is new")
    parser.add_argument("--dry-run", action="store_true",
                        help="list the trials and what each would do (completed, running, resume, to run), run nothing")
    return parser.parse_args(list(argv))


def main(argv: Iterable[str]) -> int:
    args = parse_args(argv)
    try:
        sweep = load_sweep(args.sweep, args.seeds, args.results, parse_set_flags(args.set_flags), args.resume,
                           args.completed_in)
        if args.dry_run:
            runs = past_runs(sweep.results_path, sweep.completed_in)
            for trial in sweep.trials:
                plan = plan_trial(trial, runs, sweep.resume)
                note = f" {plan.note}" if plan.note else ""
                _print(f"{trial.index:4d} [{plan.state}]{note}\n     python src/main.py {' '.join(plan.trial.argv())}")
            return 0
        log_name = os.path.splitext(os.path.basename(args.sweep))[0]
        progress = run_sweep(sweep, args.address, args.num_cpus, log_name, args.progress_interval)
    except SweepError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as stop:
        return stop.exit_code if isinstance(stop, RunInterrupted) else 130
    _print(summary(progress))
    return 1 if progress.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
