"""How far the lookahead policy predicts the real update, beside how far a second real update does:
a reference for the paper's KL gap (Fig. 4) at a run's own batch size.

The paper's diagnostic ``kl_gap = KL(pi^{k+1} || pi^k) - KL(pi^{k+1} || pi~^{k+1})`` is positive
when the lookahead policy pi~ lands nearer the updated policy than pi^k is. How positive it can be
depends on how much of the real update is direction and how much is the noise of one batch: if two
real updates from pi^k on two independent batches agree little, no prediction can agree much more.

From each run's newest checkpoint (pi^k, and for a Lookahead run the lookahead policy pi~ that its
next rollout would sample with; a HAPPO run samples with pi^k), this collects three real batches
A, B and C of the run's own size with that sampler, then updates pi^k by the run's real update on A
(pi_A) and, from the same pi^k, critic, optimiser and normalisers, on B (pi_B). On the states of C
(held out from both updates), averaged over agents and steps:

* ``r = KL(pi_A || pi^k)`` and ``r_B = KL(pi_B || pi^k)``: how far each real update moves;
* ``l = KL(pi~ || pi^k)``: how far the lookahead moved (Lookahead runs);
* ``gap_lookahead = r - KL(pi_A || pi~)``: the run's ``kl_gap`` on held-out states (also on A's own
  states, ``gap_lookahead_own``, as the run logs it);
* ``gap_replicate = r - KL(pi_A || pi_B)``: the same gap with pi~ replaced by the second real update,
  i.e. a predictor as good as one more batch of real data;
* ``kl_A_to_A_again``: pi_A against the update on A once more from the same start (only the
  mini-batch order and the update's own random draws differ): how much of the disagreement is the
  optimiser's rather than the data's;
* the cosine between two steps in the second-order picture (each KL half a squared length in the
  Fisher metric): ``(r + l - KL(pi_A || pi~)) / (2 sqrt(r l))`` for the lookahead step,
  ``(r + r_B - KL(pi_A || pi_B)) / (2 sqrt(r r_B))`` for the replicate, and likewise
  ``cos_same_batch`` for the update on A repeated.

``--set KEY=VALUE`` changes the real update's settings from the run's (e.g. ``lka_trust_region=mu``,
the authors' clip around the sampler), to see what a setting does to these numbers from the same
checkpoints.

The checkpoints live with the runs, outside the checkout (``scripts/collect_runs.py`` commits no
checkpoints); the command of each committed result (``benchmarks/results/update_alignment/<task>/``) is
in its JSON, e.g.:

    .venv/bin/python benchmarks/update_alignment.py --out benchmarks/results/update_alignment/halfcheetah_2x3 --repeats 2 \\
        ~/lookahead_runs/paper_halfcheetah_2x3/sacred/lookahead_happo/mamujoco:HalfCheetah-2x3/{3,4,5} \\
        ~/lookahead_runs/paper_halfcheetah_2x3/sacred/happo/mamujoco:HalfCheetah-2x3/{1,2,3}
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import math
import os
import shlex
import statistics
import sys
import time
from typing import Any

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "src"))

import torch  # noqa: E402
import yaml  # noqa: E402
from torch.distributions import kl_divergence  # noqa: E402

from experiment.build import build_run  # noqa: E402
from run import make_args, seed_everything  # noqa: E402
from runners import REGISTRY as runner_registry  # noqa: E402
from utils.checkpoint import list_checkpoint_steps  # noqa: E402
from utils.logging import Logger, get_console_logger  # noqa: E402
from utils.masked import masked_mean  # noqa: E402

SEED_OFFSET = 1000
"""Added to the run's seed, so the three batches are not the run's own episodes."""


class AlignmentError(ValueError):
    """A run directory this cannot measure: one line naming it and why."""


def run_config(run_dir: str, changes: dict[str, Any]) -> tuple[dict[str, Any], str, int]:
    """The sacred run's config with ``changes`` (``--set``), set to load its newest checkpoint in
    this process (no results written, the resumption keys cleared); the checkpoint directory and
    its step."""
    try:
        with open(os.path.join(run_dir, "config.json")) as f:
            config = json.load(f)
        with open(os.path.join(run_dir, "info.json")) as f:
            models = json.load(f).get("models_dir")
    except (OSError, ValueError) as error:
        raise AlignmentError(f"bad run directory '{run_dir}': {error}") from None
    steps = list_checkpoint_steps(models) if models and os.path.isdir(models) else []
    if not steps:
        raise AlignmentError(f"bad run directory '{run_dir}': no checkpoint in its models_dir '{models}'")
    unknown = sorted(set(changes) - set(config))
    if unknown:
        raise AlignmentError(f"bad key for '--set': {unknown[0]!r}; allowed: a key of the run's config.json")
    config.update(changes)
    config.update(checkpoint_path=models, load_step=0, resumed_from=None, resumed_step=None, save_model=False,
                  use_tensorboard=False, use_cuda=False, seed=config["seed"] + SEED_OFFSET)
    config["env_args"] = {**config["env_args"], "seed": config["seed"]}
    return config, models, max(steps)


def distributions(mac: Any, batch: Any) -> Any:
    """A controller's per-agent action distributions on every step of ``batch``."""
    with torch.no_grad():
        return mac.policy_distribution(mac.unroll(batch))


def mean_kl(p: Any, q: Any, batch: Any) -> float:
    """KL(p || q) averaged over the filled steps of ``batch`` and over agents."""
    kl = kl_divergence(p, q)  # [B, T, n_agents]
    return float(masked_mean(kl, batch["filled"][:, :-1].float().expand_as(kl)).item())


def cosine(a: float, b: float, ab: float) -> float:
    """The cosine between two steps of KL ``a`` and ``b`` from one start whose ends are KL ``ab``
    apart, each KL read as half a squared length."""
    return (a + b - ab) / (2.0 * math.sqrt(a * b)) if a > 0 and b > 0 else math.nan


def measure(run_dir: str, repeats: int, changes: dict[str, Any]) -> list[dict[str, Any]]:
    """``repeats`` measurements (fresh batches each) from ``run_dir``'s newest checkpoint."""
    config, models, step = run_config(run_dir, changes)
    args = make_args(config)
    seed_everything(args.seed)
    logger = Logger(get_console_logger())
    runner = runner_registry[args.runner](args=args, logger=logger)
    rows = []
    try:
        components = build_run(args, runner, logger)
        learner, mac = components.learner, components.mac
        learner.load_models(os.path.join(models, str(step)))  # a Lookahead run's pi~ too: its next sampler
        runner.t_env = step
        lookahead = getattr(learner, "enabled", False)
        real_learner = learner.real if lookahead else learner
        real_mac = mac.real if lookahead else mac
        for repeat in range(repeats):
            clock = time.time()
            a, b, c = (runner.run(test_mode=False) for _ in range(3))
            start = (copy.deepcopy(real_learner.state_dict()), copy.deepcopy(real_mac.agent.state_dict()))
            updated = {}
            for name, batch in (("A", a), ("B", b), ("A again", a)):
                real_learner.train(batch, runner.t_env, 0)
                updated[name] = (distributions(real_mac, c), distributions(real_mac, a))
                real_learner.load_state_dict(copy.deepcopy(start[0]))
                real_mac.agent.load_state_dict(start[1])
            pi_k = distributions(real_mac, c)
            (pa, pa_own), (pb, _), (pa2, _) = updated["A"], updated["B"], updated["A again"]
            r, r_b, d_ab = mean_kl(pa, pi_k, c), mean_kl(pb, pi_k, c), mean_kl(pa, pb, c)
            r_a2, d_aa2 = mean_kl(pa2, pi_k, c), mean_kl(pa, pa2, c)
            row = {"run": run_dir, "name": config["name"], "seed": config["seed"] - SEED_OFFSET, "checkpoint": step,
                   "repeat": repeat, "r": r, "r_B": r_b, "kl_A_to_B": d_ab, "gap_replicate": r - d_ab,
                   "cos_replicate": cosine(r, r_b, d_ab), "kl_A_to_A_again": d_aa2,
                   "cos_same_batch": cosine(r, r_a2, d_aa2)}
            if lookahead:
                mu, mu_own, pi_k_own = distributions(mac.lookahead, c), distributions(mac.lookahead, a), \
                    distributions(real_mac, a)
                l, d_al = mean_kl(mu, pi_k, c), mean_kl(pa, mu, c)
                row.update(l=l, kl_A_to_lookahead=d_al, gap_lookahead=r - d_al, cos_lookahead=cosine(r, l, d_al),
                           gap_lookahead_own=mean_kl(pa_own, pi_k_own, a) - mean_kl(pa_own, mu_own, a))
            row["seconds"] = round(time.time() - clock, 1)
            rows.append(row)
            print("  " + ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                                   for k, v in row.items() if k != "run"), flush=True)
    finally:
        runner.close_env()
    return rows


def summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per algorithm (``name``): the median over runs and repeats of each measured number."""
    out = []
    for name in dict.fromkeys(row["name"] for row in rows):
        mine = [row for row in rows if row["name"] == name]
        keys = [k for k in mine[0] if isinstance(mine[0][k], float) and k != "seconds"]
        out.append({"name": name, "measurements": len(mine),
                    **{k: statistics.median(row[k] for row in mine) for k in keys},
                    **{f"{k}_positive": statistics.fmean(row[k] > 0 for row in mine) for k in keys if k.startswith("gap")}})
    return out


def plot(rows: list[dict[str, Any]], path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 4.5))
    bars = (("cos_same_batch", "tab:green"), ("cos_replicate", "tab:blue"), ("cos_lookahead", "tab:red"))
    for i, row in enumerate(rows):
        for j, (key, colour) in enumerate(bars):
            if key in row:
                ax.bar(i * (len(bars) + 1) + j, row[key], color=colour)
    ax.set_xticks([i * (len(bars) + 1) + 1 for i in range(len(rows))],
                  [f"{row['name']} s{row['seed']} #{row['repeat']}" for row in rows], rotation=90, fontsize=7)
    ax.axhline(0, color="black", lw=0.5)
    ax.set_ylabel("cosine with the real update on A")
    ax.set_title("the real update on batch A against: the same update on A again (green),\n"
                 "on an independent batch B (blue), the lookahead step (red); 2nd-order cosines", fontsize=9)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Agreement of the real update with a second one and with the "
                                                 "lookahead step, from runs' checkpoints (see the module docstring).")
    parser.add_argument("runs", nargs="+", help="sacred run directories (their info.json names the checkpoints)")
    parser.add_argument("--repeats", type=int, default=1, help="measurements per run, each on fresh batches")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="change a config key of the runs' real update (YAML value), e.g. lka_trust_region=mu")
    parser.add_argument("--out", default=os.path.join(REPO, "benchmarks", "results", "update_alignment"),
                        help="output directory")
    options = parser.parse_args(argv)
    if options.repeats < 1:
        print(f"update_alignment.py: bad value for '--repeats': {options.repeats}; allowed: an integer >= 1",
              file=sys.stderr)
        return 2
    changes = {}
    for item in options.set:
        key, sep, value = item.partition("=")
        if not sep or not key:
            print(f"update_alignment.py: bad value for '--set': {item!r}; allowed: KEY=VALUE", file=sys.stderr)
            return 2
        changes[key] = yaml.safe_load(value)
    torch.set_num_threads(options.threads)
    started, rows = time.time(), []
    try:
        for run_dir in options.runs:
            print(run_dir, flush=True)
            rows += measure(os.path.normpath(run_dir), options.repeats, changes)
    except AlignmentError as error:
        print(f"update_alignment.py: {error}", file=sys.stderr)
        return 2
    table = summary(rows)
    for entry in table:
        print(", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in entry.items()))
    os.makedirs(options.out, exist_ok=True)
    fields = list(dict.fromkeys(k for row in rows for k in row))
    with open(os.path.join(options.out, "update_alignment.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    with open(os.path.join(options.out, "update_alignment.json"), "w") as f:
        json.dump({"command": shlex.join([".venv/bin/python", "benchmarks/update_alignment.py", *argv]),
                   "threads": options.threads, "changes": changes, "medians": table, "rows": rows,
                   "seconds": round(time.time() - started, 1)}, f, indent=2)
    plot(rows, os.path.join(options.out, "update_alignment.png"))
    print(f"wrote {options.out}/update_alignment.{{csv,json,png}} in {time.time() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
