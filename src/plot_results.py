"""Learning curves and a table of final / best values from sacred runs, grouped over seeds.

    python src/plot_results.py results/ --metric test_return_mean --out plots/toy
    python src/plot_results.py results/sacred/happo --group-by name,lr --smooth 5 --status any
    python src/plot_results.py results/halfcheetah --at 200000,1000000 \
        --reference "HARL HAPPO=benchmarks/reference/harl_happo_halfcheetah2x3_seed*.csv"
    python src/plot_results.py results/halfcheetah --at 1000000 --iqm --improvement lookahead_happo:happo \
        --marl-eval results/halfcheetah.marl_eval.json
    python src/plot_results.py results/halfcheetah results/halfcheetah_lka_steps --where seed=0

Reads every ``<dir>/**/<id>/{run.json,config.json,metrics.json}`` under the given directories
(sacred's FileStorageObserver layout, as ``main.py`` and ``search.py`` write it). A run's status is
sacred's, except that a RUNNING run whose process is gone counts as ``DEAD``
(``utils.run_state``; ``--status DEAD`` selects them); the count of runs by status is printed. A
run that ``search.py`` resumed from a checkpoint and its resumptions are one curve (one run): the
earlier run's points up to the step resumed from (``resumed_step``), then the resumption's, which
replace those the earlier run logged after that step; its status is the last resumption's. A run
resumed more than once from the same checkpoint (a resumption that died before saving one of its own
is resumed again from where it started) continues in its newest resumption, the branch that
``search.py`` went on with; the abandoned branch's points are left out.
``--where KEY=VALUE`` (repeatable) keeps only the runs whose config holds VALUE at the dotted KEY
(VALUE read as YAML, as sacred reads ``with`` arguments: ``seed=0`` matches the integer 0). Runs are grouped
by the environment (``env_args.key``, else ``env_args.map_name``, else ``env``) and by the
``--group-by`` config keys (dotted; default ``name``, the algorithm). Each run's curve is smoothed
(a trailing moving average over ``--smooth`` logged points) and put on a common step grid (the
steps logged by all its group's runs, or, where they differ, linear interpolation onto the first
run's steps within the common range); the group curve is the mean +- standard error over its runs
(seeds): SE = sample std / sqrt(n), 0 for one run.

Writes ``<out>.png`` (one panel per env, one line and shaded SE band per group), ``<out>.csv``
(``env, group, step, mean, se, n``) and ``<out>_table.csv`` (per group: runs, final mean +- SE of
the last point, best mean over steps and its step, the mean over the logged steps, and the fraction
of all its runs' logged points above 0, e.g. of iterations with a positive KL gap), also printed.

Reference curves (``--reference NAME=GLOB``, repeatable) are runs measured elsewhere, e.g. another
code base's: one CSV file per seed with a step column (``step``, ``t_env`` or ``env_steps``) and a
value column (``--reference-column``; empty cells are skipped). They are averaged like a group of
ours, drawn dashed in the (single) env's panel and listed in the table as ``NAME (reference)``.
``--at STEPS`` adds ``<out>_at.csv``: each group's mean and median over runs at those env steps
(linear interpolation between logged points; none outside a curve's range) and the ratio of its
mean to each reference's there, and to each ``--ratio-to`` group of ours (e.g. the base algorithm).

Few seeds (``analysis.statistics``, the rliable library: the ``stats`` extra): with ``--at``,
``--iqm`` adds each group's interquartile mean over its runs at those steps with a 95%
stratified-bootstrap confidence interval, and ``--improvement X:Y`` (repeatable) writes
``<out>_improvement.csv``: the probability that a run of X scores above a run of Y there, with its
95% CI. ``--marl-eval PATH`` exports the runs' raw points of the metric in the JSON layout of
InstaDeep's marl-eval (``analysis.marl_eval``), which BenchMARL and Mava users aggregate with.
"""

from __future__ import annotations

import argparse
import csv
import glob
import json
import math
import os
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import yaml

from analysis.marl_eval import RunScores, marl_eval_json, split_env_key
from utils.resumed_runs import origin_dir
from utils.run_state import run_state


class PlotError(ValueError):
    """Bad input (no runs, an unknown metric): one line naming it and what exists."""


@dataclass
class Run:
    """One sacred run (or a run joined with its resumptions): its directory, config, the chosen
    metric's ``steps``/``values`` (1-D arrays, empty if it logged none), its status and when it
    started (sacred's ``start_time``, ISO 8601 UTC, so that text order is time order)."""

    path: str
    config: dict
    steps: np.ndarray
    values: np.ndarray
    status: str = "COMPLETED"
    started: str = ""


@dataclass
class GroupCurve:
    """Mean, standard error and median over ``n`` runs at ``steps`` (all 1-D arrays of one length);
    ``matrix`` (runs x steps) holds each run's (smoothed) curve on those steps, and
    ``positive_fraction`` is the fraction of all the runs' logged (raw) points above 0."""

    env: str
    group: str
    steps: np.ndarray
    mean: np.ndarray
    se: np.ndarray
    n: int
    median: np.ndarray
    matrix: np.ndarray
    positive_fraction: float


def config_value(config: dict, dotted: str) -> object:
    node: object = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def env_of(config: dict) -> str:
    env_args = config.get("env_args") or {}
    return str(env_args.get("key") or env_args.get("map_name") or config.get("env"))


def read_runs(directories: Iterable[str], metric: str) -> tuple[list[Run], set[str]]:
    """Every sacred run under ``directories``, with its status (DEAD included) and ``metric``'s
    points; also the metric names seen, for the error message."""
    runs: list[Run] = []
    seen: set[str] = set()
    for directory in directories:
        for run_json in sorted(glob.glob(os.path.join(directory, "**", "run.json"), recursive=True)):
            run_dir = os.path.normpath(os.path.dirname(run_json))
            try:
                with open(run_json) as f:
                    record = json.load(f)
                status = run_state(record)
                with open(os.path.join(run_dir, "config.json")) as f:
                    config = json.load(f)
                with open(os.path.join(run_dir, "metrics.json")) as f:
                    metrics = json.load(f)
            except (OSError, ValueError):
                continue  # a run being written, or not a run directory
            seen |= set(metrics)
            entry = metrics.get(metric) or {"steps": [], "values": []}
            order = np.argsort(entry["steps"], kind="stable")
            runs.append(Run(run_dir, config, np.asarray(entry["steps"], float)[order],
                            np.asarray(entry["values"], float)[order], status, record.get("start_time") or ""))
    return runs, seen


def join_resumptions(runs: list[Run]) -> tuple[list[Run], int]:
    """Each run that is no resumption, followed by its chain of resumptions, as one run (see the
    module docstring; of several resumptions of one run, the newest); also how many resumptions
    were joined."""
    by_dir = {run.path: run for run in runs}
    origins = {run.path: origin_dir(run.path, run.config) for run in runs}
    resumptions: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        if origins[run.path] in by_dir:
            resumptions[origins[run.path]].append(run)
    joined, count = [], 0
    for run in runs:
        if origins[run.path] in by_dir:
            continue  # part of its origin's curve
        steps, values, tip = run.steps, run.values, run
        while resumptions.get(tip.path):
            tip = max(resumptions[tip.path], key=lambda r: (r.started, r.path))
            kept = steps <= tip.config["resumed_step"]
            steps, values = np.concatenate([steps[kept], tip.steps]), np.concatenate([values[kept], tip.values])
            count += 1
        joined.append(Run(run.path, run.config, steps, values, tip.status, run.started))
    return joined, count


def find_runs(directories: Iterable[str], metric: str, statuses: Sequence[str]) -> tuple[list[Run], set[str], Counter]:
    """Runs under ``directories`` (each joined with its resumptions) whose status is in ``statuses``
    (``any``: all) and that logged ``metric``; also the metric names seen, for the error message,
    and the count of runs by status."""
    runs, seen = read_runs(directories, metric)
    joined, _ = join_resumptions(runs)
    counts = Counter(run.status for run in joined)
    chosen = [run for run in joined if ("any" in statuses or run.status in statuses) and len(run.steps)]
    return chosen, seen, counts


def parse_where(specs: Sequence[str]) -> list[tuple[str, object]]:
    """``KEY=VALUE`` filters as (dotted key, value read as YAML)."""
    filters = []
    for spec in specs:
        key, sep, text = spec.partition("=")
        if not sep or not key.strip():
            raise PlotError(f"bad value for '--where': {spec!r}; allowed: KEY=VALUE with a dotted config key, e.g. seed=0")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            value = text
        filters.append((key.strip(), value))
    return filters


def select_runs(runs: list[Run], filters: Sequence[tuple[str, object]]) -> list[Run]:
    """The runs whose config matches every filter; a filter no run matches is an error naming the
    values the runs hold there."""
    for key, value in filters:
        chosen = [run for run in runs if config_value(run.config, key) == value]
        if not chosen:
            held = sorted({repr(config_value(run.config, key)) for run in runs})
            raise PlotError(f"no run has {key}={value!r} (--where); its values in these runs: {', '.join(held)}")
        runs = chosen
    return runs


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average over ``window`` points (fewer at the start); window 1: unchanged."""
    if window <= 1:
        return values
    sums = np.cumsum(np.insert(values, 0, 0.0))
    idx = np.arange(1, len(values) + 1)
    low = np.maximum(0, idx - window)
    return (sums[idx] - sums[low]) / (idx - low)


def group_curve(env: str, group: str, runs: list[Run], window: int) -> GroupCurve:
    """Mean +- SE over ``runs`` of their smoothed curves on a common step grid."""
    first = runs[0].steps
    if all(len(run.steps) == len(first) and np.array_equal(run.steps, first) for run in runs):
        steps = first
        matrix = np.stack([smooth(run.values, window) for run in runs])
    else:
        low = max(run.steps[0] for run in runs)
        high = min(run.steps[-1] for run in runs)
        steps = first[(first >= low) & (first <= high)]
        matrix = np.stack([np.interp(steps, run.steps, smooth(run.values, window)) for run in runs])
    n = len(runs)
    mean = matrix.mean(axis=0)
    se = matrix.std(axis=0, ddof=1) / math.sqrt(n) if n > 1 else np.zeros_like(mean)
    points = np.concatenate([run.values for run in runs])
    return GroupCurve(env, group, steps, mean, se, n, np.median(matrix, axis=0), matrix, float(np.mean(points > 0)))


def group_label(run: Run, group_by: Sequence[str]) -> str:
    """The run's group within its env: the ``group_by`` config values."""
    if len(group_by) > 1:
        return ",".join(f"{key}={config_value(run.config, key)}" for key in group_by)
    return str(config_value(run.config, group_by[0]))


def group_runs(runs: list[Run], group_by: Sequence[str], window: int) -> list[GroupCurve]:
    groups: dict[tuple[str, str], list[Run]] = defaultdict(list)
    for run in runs:
        groups[(env_of(run.config), group_label(run, group_by))].append(run)
    return [group_curve(env, label, members, window) for (env, label), members in sorted(groups.items())]


def table_rows(curves: list[GroupCurve]) -> list[dict]:
    rows = []
    for curve in curves:
        best = int(np.argmax(curve.mean))
        rows.append({"env": curve.env, "group": curve.group, "runs": curve.n, "final_step": int(curve.steps[-1]),
                     "final_mean": float(curve.mean[-1]), "final_se": float(curve.se[-1]),
                     "best_mean": float(curve.mean[best]), "best_se": float(curve.se[best]),
                     "best_step": int(curve.steps[best]), "average": float(curve.mean.mean()),
                     "positive_fraction": curve.positive_fraction})
    return rows


REFERENCE_SUFFIX = " (reference)"
REFERENCE_STEP_COLUMNS = ("step", "t_env", "env_steps")


def read_reference(spec: str, column: str) -> tuple[str, list[Run]]:
    """``NAME=GLOB`` -> the name and one ``Run`` per CSV file the glob matches (sorted)."""
    name, separator, pattern = spec.partition("=")
    if not separator or not name.strip() or not pattern.strip():
        raise PlotError(f"bad value for '--reference': {spec!r}; allowed: NAME=GLOB of CSV files, one per seed")
    paths = sorted(glob.glob(pattern.strip()))
    if not paths:
        raise PlotError(f"--reference {name.strip()!r}: no file matches {pattern.strip()!r}")
    runs = []
    for path in paths:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            header = reader.fieldnames or []
            step_column = next((c for c in REFERENCE_STEP_COLUMNS if c in header), None)
            if step_column is None or column not in header:
                raise PlotError(f"reference file '{path}' needs a step column ({', '.join(REFERENCE_STEP_COLUMNS)}) "
                                f"and the value column '{column}'; its columns: {', '.join(header)}")
            points = sorted((float(row[step_column]), float(row[column])) for row in reader if row[column].strip())
        if not points:
            raise PlotError(f"reference file '{path}' has no value in column '{column}'")
        steps, values = (np.asarray(axis) for axis in zip(*points))
        runs.append(Run(path, {}, steps, values))
    return name.strip(), runs


def reference_curves(specs: Sequence[str], column: str, curves: list[GroupCurve], window: int) -> list[GroupCurve]:
    """Each ``--reference`` as a group curve in the env of ``curves`` (which must hold one env)."""
    if not specs:
        return []
    envs = sorted({curve.env for curve in curves})
    if len(envs) != 1:
        raise PlotError(f"--reference needs runs of one env, these hold {len(envs)}: {', '.join(envs)}; "
                        "plot each env's directory separately")
    references = []
    for spec in specs:
        name, runs = read_reference(spec, column)
        references.append(group_curve(envs[0], name + REFERENCE_SUFFIX, runs, window))
    return references


def value_at(curve: GroupCurve, step: float, statistic: str = "mean") -> float | None:
    """The curve's ``statistic`` (mean, se or median over runs) at ``step``, linear between logged
    points; None outside its range."""
    if not curve.steps[0] <= step <= curve.steps[-1]:
        return None
    return float(np.interp(step, curve.steps, getattr(curve, statistic)))


def run_values_at(curve: GroupCurve, step: float) -> np.ndarray | None:
    """Each run's value at ``step`` (linear between logged points); None outside the curve's range."""
    if not curve.steps[0] <= step <= curve.steps[-1]:
        return None
    return np.array([np.interp(step, curve.steps, row) for row in curve.matrix])


def statistics_module():
    """``analysis.statistics``, which needs rliable (an optional extra): imported on first use, so
    that plotting works without it."""
    try:
        from analysis import statistics
    except ImportError as error:
        raise PlotError(f"--iqm and --improvement need the rliable library ({error}); install the 'stats' extra: "
                        "pip install -e \".[stats]\"") from None
    return statistics


def comparison_rows(curves: list[GroupCurve], steps: Sequence[int], ratio_to: Sequence[str] = (),
                    iqm_reps: int = 0) -> list[dict]:
    """Per step and group: its mean, SE and median there, with ``iqm_reps`` > 0 its interquartile
    mean and the 95% stratified-bootstrap CI of it (that many resamples), and the ratio of its mean
    to the mean of every reference curve and of every ``ratio_to`` group of its env."""
    names = {curve.group for curve in curves}
    unknown = [group for group in ratio_to if group not in names]
    if unknown:
        raise PlotError(f"bad value for '--ratio-to': {unknown[0]!r}; allowed: {', '.join(sorted(names))}")
    statistics = statistics_module() if iqm_reps else None
    rows = []
    for step in steps:
        for curve in curves:
            value = value_at(curve, step)
            row: dict = {"env": curve.env, "step": step, "group": curve.group, "runs": curve.n, "mean": value,
                         "se": value_at(curve, step, "se"), "median": value_at(curve, step, "median")}
            if statistics:
                row.update(dict.fromkeys(("iqm", "iqm_low", "iqm_high")))
                scores = run_values_at(curve, step)
                if scores is not None:
                    estimate = statistics.interquartile_mean(scores, iqm_reps)
                    row.update(iqm=estimate.value, iqm_low=estimate.low, iqm_high=estimate.high)
            for other in curves:
                if other is curve or other.env != curve.env:
                    continue
                if other.group.endswith(REFERENCE_SUFFIX):
                    name = other.group[: -len(REFERENCE_SUFFIX)]
                elif other.group in ratio_to:
                    name = other.group
                else:
                    continue
                other_value = value_at(other, step)
                row[f"ratio to {name}"] = value / other_value if value is not None and other_value else None
            rows.append(row)
    return rows


def write_comparison(rows: list[dict], out: str) -> str:
    """``<out>_at.csv`` from ``comparison_rows``; returns the printed table."""
    fields = list(dict.fromkeys(key for row in rows for key in row))
    with open(f"{out}_at.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)

    ratios = [field for field in fields if field.startswith("ratio to ")]
    with_iqm = "iqm" in fields
    lines = [f"{'env':<24} {'step':>9} {'group':<32} {'runs':>4} {'mean':>10} {'se':>9} {'median':>10}"
             + (f" {'IQM [95% CI]':>30}" if with_iqm else "") + "".join(f" {r:>22}" for r in ratios)]
    for row in rows:
        mean, se, median = ("-" if row[key] is None else f"{row[key]:.4g}" for key in ("mean", "se", "median"))
        iqm = ""
        if with_iqm:
            iqm = " " + ("-" if row["iqm"] is None else
                         f"{row['iqm']:.4g} [{row['iqm_low']:.4g}, {row['iqm_high']:.4g}]").rjust(30)
        cells = ["-" if row.get(r) is None else f"{row[r]:.3f}" for r in ratios]
        lines.append(f"{row['env']:<24} {row['step']:>9} {row['group']:<32} {row['runs']:>4} {mean:>10} {se:>9} "
                     f"{median:>10}{iqm}" + "".join(f" {c:>22}" for c in cells))
    return "\n".join(lines)


def parse_pairs(specs: Sequence[str], curves: list[GroupCurve]) -> list[tuple[str, str]]:
    """``--improvement X:Y`` values -> (X, Y) pairs of existing groups."""
    names = sorted({curve.group for curve in curves})
    pairs = []
    for spec in specs:
        x, separator, y = (part.strip() for part in spec.partition(":"))
        bad = next((name for name in (x, y) if name not in names), None) if separator else spec
        if bad is not None:
            raise PlotError(f"bad value for '--improvement': {spec!r}; allowed: X:Y with X and Y among the groups "
                            f"{', '.join(names)}")
        pairs.append((x, y))
    return pairs


def improvement_rows(curves: list[GroupCurve], pairs: Sequence[tuple[str, str]], steps: Sequence[int],
                     reps: int) -> list[dict]:
    """Per env, step and pair (X, Y): the probability of improvement P(X > Y) over the runs' values
    there, with its 95% bootstrap CI (``reps`` resamples); envs lacking X or Y are skipped."""
    statistics = statistics_module()
    by_key = {(curve.env, curve.group): curve for curve in curves}
    rows = []
    for env in sorted({curve.env for curve in curves}):
        for x, y in pairs:
            if (env, x) not in by_key or (env, y) not in by_key:
                continue
            for step in steps:
                scores_x, scores_y = run_values_at(by_key[env, x], step), run_values_at(by_key[env, y], step)
                if scores_x is None or scores_y is None:
                    continue
                estimate = statistics.probability_of_improvement(scores_x, scores_y, reps)
                rows.append({"env": env, "step": step, "x": x, "y": y, "runs_x": len(scores_x),
                             "runs_y": len(scores_y), "probability": estimate.value, "ci_low": estimate.low,
                             "ci_high": estimate.high})
    return rows


def write_improvement(rows: list[dict], out: str) -> str:
    """``<out>_improvement.csv`` from ``improvement_rows``; returns the printed table."""
    with open(f"{out}_improvement.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["env", "step", "x", "y", "runs_x", "runs_y", "probability",
                                               "ci_low", "ci_high"])
        writer.writeheader()
        writer.writerows(rows)
    lines = [f"{'env':<24} {'step':>9} {'P(X > Y)':<48} {'runs':>7} {'P [95% CI]':>22}"]
    for row in rows:
        lines.append(f"{row['env']:<24} {row['step']:>9} {row['x'] + ' > ' + row['y']:<48} "
                     f"{row['runs_x']:>3} v {row['runs_y']:<1} "
                     f"{row['probability']:>6.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]")
    return "\n".join(lines)


def write_marl_eval(runs: list[Run], group_by: Sequence[str], metric: str, path: str) -> None:
    """``runs``' raw points of ``metric`` in marl-eval's JSON layout (``analysis.marl_eval``): env and
    task from the env key, the group as the algorithm, ``seed_<seed>`` as the run."""
    records = []
    for run in runs:
        env_key = env_of(run.config)
        env, task = split_env_key(env_key, str(run.config.get("env")))
        records.append(RunScores(env, task, group_label(run, group_by), f"seed_{run.config.get('seed')}",
                                 run.steps, run.values))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(marl_eval_json(records, metric), f, indent=1)


def write_outputs(curves: list[GroupCurve], metric: str, out: str) -> list[dict]:
    """``<out>.csv``, ``<out>_table.csv`` and ``<out>.png``; returns the table rows."""
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(f"{out}.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["env", "group", "step", "mean", "se", "n"])
        for curve in curves:
            for step, mean, se in zip(curve.steps, curve.mean, curve.se):
                writer.writerow([curve.env, curve.group, int(step), f"{mean:.6g}", f"{se:.6g}", curve.n])
    rows = table_rows(curves)
    with open(f"{out}_table.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    envs = sorted({curve.env for curve in curves})
    figure, axes = plt.subplots(1, len(envs), figsize=(5.5 * len(envs), 4), squeeze=False)
    for axis, env in zip(axes[0], envs):
        for curve in (c for c in curves if c.env == env):
            style = "--" if curve.group.endswith(REFERENCE_SUFFIX) else "-"
            axis.plot(curve.steps, curve.mean, style, label=f"{curve.group} (n={curve.n})")
            axis.fill_between(curve.steps, curve.mean - curve.se, curve.mean + curve.se, alpha=0.25)
        axis.set_title(env)
        axis.set_xlabel("env steps")
        axis.set_ylabel(metric)
        axis.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(f"{out}.png", dpi=100)
    plt.close(figure)
    return rows


def format_table(rows: list[dict], metric: str) -> str:
    lines = [f"{metric}: final (last logged step) and best mean +- SE over runs, the mean over the logged "
             "steps, the fraction of logged points > 0",
             f"{'env':<24} {'group':<32} {'runs':>4} {'final':>22} {'best':>22} {'best step':>10} {'average':>10} "
             f"{'> 0':>6}"]
    for row in rows:
        lines.append(f"{row['env']:<24} {row['group']:<32} {row['runs']:>4} "
                     f"{row['final_mean']:>12.4g} +- {row['final_se']:<7.3g} "
                     f"{row['best_mean']:>12.4g} +- {row['best_se']:<7.3g} {row['best_step']:>10} "
                     f"{row['average']:>10.4g} {row['positive_fraction']:>6.1%}")
    return "\n".join(lines)


def parse_args(argv: Iterable[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dirs", nargs="+", help="directories holding sacred runs (searched recursively)")
    parser.add_argument("--metric", default="test_return_mean", help="a key of metrics.json (default: %(default)s)")
    parser.add_argument("--group-by", default="name",
                        help="comma-separated config keys (dotted) that name a group, besides the env "
                             "(default: name, the algorithm; e.g. name,lr or hypergroup)")
    parser.add_argument("--smooth", type=int, default=1, help="moving-average window in logged points (1: none)")
    parser.add_argument("--status", default="COMPLETED",
                        help="comma-separated sacred statuses to include (COMPLETED, RUNNING, INTERRUPTED, FAILED, "
                             "and DEAD: RUNNING but its process is gone), or 'any' (default: %(default)s)")
    parser.add_argument("--where", action="append", default=[], metavar="KEY=VALUE",
                        help="only runs whose config holds VALUE (read as YAML) at the dotted KEY, e.g. seed=0 "
                             "(repeatable)")
    parser.add_argument("--out", default="results/plots/curves", help="output path stem (default: %(default)s)")
    parser.add_argument("--reference", action="append", default=[], metavar="NAME=GLOB",
                        help="reference runs measured elsewhere: CSV files, one per seed (repeatable)")
    parser.add_argument("--reference-column", default="eval_return",
                        help="value column of the reference CSVs (default: %(default)s)")
    parser.add_argument("--at", default="", help="comma-separated env steps: each group's mean and median there "
                                                 "and its ratio to the references (<out>_at.csv)")
    parser.add_argument("--ratio-to", action="append", default=[], metavar="GROUP",
                        help="with --at: also each group's ratio to this group of ours (repeatable), e.g. happo")
    parser.add_argument("--iqm", action="store_true",
                        help="with --at: also each group's interquartile mean there with its 95%% stratified-bootstrap "
                             "CI (rliable; the 'stats' extra)")
    parser.add_argument("--improvement", action="append", default=[], metavar="X:Y",
                        help="with --at: the probability that a run of group X beats a run of group Y there, with its "
                             "95%% bootstrap CI (<out>_improvement.csv; repeatable; rliable)")
    parser.add_argument("--bootstrap-reps", type=int, default=10_000,
                        help="bootstrap resamples of --iqm and --improvement (default: %(default)s)")
    parser.add_argument("--marl-eval", default="", metavar="PATH",
                        help="also write the runs' raw points of --metric to PATH in the JSON layout of InstaDeep's "
                             "marl-eval (id-marl-eval), as BenchMARL and Mava users aggregate")
    return parser.parse_args(list(argv))


def main(argv: Iterable[str]) -> int:
    args = parse_args(argv)
    try:
        if args.smooth < 1:
            raise PlotError(f"bad value for '--smooth': {args.smooth}; allowed: an integer >= 1")
        statuses = [s.strip() for s in args.status.split(",") if s.strip()]
        filters = parse_where(args.where)
        runs, seen, counts = find_runs(args.dirs, args.metric, statuses)
        found = ", ".join(f"{status} {n}" for status, n in sorted(counts.items())) or "none"
        if runs:
            runs = select_runs(runs, filters)
        if not runs:
            if seen and args.metric not in seen:
                raise PlotError(f"no run logged metric '{args.metric}'; logged metrics: {', '.join(sorted(seen))}")
            raise PlotError(f"no sacred runs with status {args.status} under {', '.join(args.dirs)} (runs by status: "
                            f"{found})")
        try:
            at_steps = [int(float(step)) for step in args.at.split(",") if step.strip()]
        except ValueError:
            raise PlotError(f"bad value for '--at': {args.at!r}; allowed: comma-separated env steps") from None
        if (args.iqm or args.improvement) and not at_steps:
            raise PlotError("--iqm and --improvement compare runs at env steps: give them with --at, e.g. --at 1000000")
        if args.bootstrap_reps < 1:
            raise PlotError(f"bad value for '--bootstrap-reps': {args.bootstrap_reps}; allowed: an integer >= 1")
        group_by = [key.strip() for key in args.group_by.split(",") if key.strip()]
        curves = group_runs(runs, group_by, args.smooth)
        curves += reference_curves(args.reference, args.reference_column, curves, args.smooth)
        pairs = parse_pairs(args.improvement, curves)
        rows = write_outputs(curves, args.metric, args.out)
        written = [f"{args.out}.png", f"{args.out}.csv", f"{args.out}_table.csv"]
        tables = [format_table(rows, args.metric)]
        if at_steps:
            iqm_reps = args.bootstrap_reps if args.iqm else 0
            tables.append(write_comparison(comparison_rows(curves, at_steps, args.ratio_to, iqm_reps), args.out))
            written.append(f"{args.out}_at.csv")
        if pairs:
            tables.append(write_improvement(improvement_rows(curves, pairs, at_steps, args.bootstrap_reps), args.out))
            written.append(f"{args.out}_improvement.csv")
        if args.marl_eval:
            write_marl_eval(runs, group_by, args.metric, args.marl_eval)
            written.append(args.marl_eval)
    except PlotError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"runs by status (a run and its resumptions count once): {found}")
    print("\n".join(tables))
    print(f"wrote {', '.join(written)} ({len(runs)} runs, {len(curves)} groups)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
