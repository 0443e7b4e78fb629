"""What Lookahead costs: Lookahead-HAPPO vs HAPPO on HalfCheetah 2x3, wall time per real env step.

All variants are built in this one process exactly as ``src/main.py`` builds them (same merged
config, same registries) and run side by side: iteration i of each is one ``learner.train(batch)``
on its last rollout, then one ``runner.run()`` (the next real rollout), then, with
``model_train_during_rollout``, the wait for the model's training if it outlasted the rollout;
the variants alternate, each going first in turn, so a change in machine load hits all alike.
Lookahead's own phases come from the learner's diagnostics (``time_real_update``, ``time_model``,
``time_imagination``, ``time_lookahead_update``, ``time_model_background``). The model warm-up is
switched off (``lka_warmup_steps=0``) so every timed iteration pays for the whole of Lookahead, as
it does after the first 50k steps of a run; the first iteration of each is not counted (one-off
start-up costs).

The variants (``VARIANTS``), all side by side, each going first in turn: ``happo`` (the paper's
settings: 40 envs x 400 steps = 16,000 real steps per iteration, 20 epochs x 10 mini-batches),
``lookahead_happo`` (the paper's: 2,000 model steps x 512; 4,000 imagined rollouts x 20 steps, 20
epochs x 10 mini-batches), ``lookahead_happo_authors`` (the authors' released settings: the clip
around mu, GAE, 400 imagined rollouts x 15 steps, 10 epochs x 5 mini-batches, 4,000 model steps
x 256), and both Lookahead ones with ``model_early_stop=True``, with
``model_train_during_rollout=True`` (whose model steps overlap the next rollout, so its rollout
time holds what the model costs it) and with ``model_compile=True`` (whose first iteration, not
timed, holds the compile); and HAPPO and both Lookahead ones with ``+adam_fused`` (torch's fused
Adam for every optimiser) and with ``+cuda`` (``use_cuda=True``: learners, model and imagined
rollouts on the GPU; refused where torch sees none; ``benchmarks/gpu_check.sh`` runs them). The
learner phases run on ``learner_threads`` (default: every core), as in ``src/main.py``.

    python benchmarks/lookahead_cost.py --iterations 3
    python benchmarks/lookahead_cost.py --iterations 3 --out benchmarks/results/model_compile \
        --variants happo,lookahead_happo,lookahead_happo+model_compile,lookahead_happo_authors,lookahead_happo_authors+model_compile
    python benchmarks/lookahead_cost.py --iterations 9 --out benchmarks/results/learner_steps_envs \
        --variants happo_harl,happo_harl+envs_in_workers
    python benchmarks/lookahead_cost.py --iterations 3 --out benchmarks/results/adam_fused --variants \
        happo,happo+adam_fused,lookahead_happo,lookahead_happo+adam_fused,lookahead_happo_authors,lookahead_happo_authors+adam_fused

Writes ``<out>/lookahead_cost.{json,csv,png}`` with the command; prints the table.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shlex
import statistics
import sys
import time
import warnings
from types import SimpleNamespace

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "src"))
warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)

import torch  # noqa: E402

from main import build_config  # noqa: E402
from components.episode_buffer import EpisodeBatch  # noqa: E402
from experiment.build import build_run  # noqa: E402
from run import make_args, seed_everything  # noqa: E402
from runners import REGISTRY as runner_registry  # noqa: E402
from utils.config import ConfigError  # noqa: E402
from utils.logging import Logger, get_console_logger  # noqa: E402
from utils.threads import learner_threads, torch_threads  # noqa: E402
from utils.timehelper import timed  # noqa: E402

LOOKAHEAD_PHASES = ("time_real_update", "time_model", "time_imagination", "time_lookahead_update",
                    "time_model_background")


class Trial:
    """One algorithm's runner, buffer and learner, built as ``run.run_sequential`` builds them
    (``experiment.build.build_run``)."""

    def __init__(self, alg: str, overrides: list[str]) -> None:
        self.args: SimpleNamespace = make_args(self.config(alg, overrides))
        seed_everything(self.args.seed)
        torch.set_num_threads(self.args.torch_threads)
        self.name = alg
        logger = Logger(get_console_logger())
        self.runner = runner_registry[self.args.runner](args=self.args, logger=logger)
        components = build_run(self.args, self.runner, logger)
        self.buffer, self.learner = components.buffer, components.learner
        if self.args.use_cuda:
            self.learner.cuda()
        self.pending: EpisodeBatch | None = None  # the batch the next update trains on

    @staticmethod
    def config(alg: str, overrides: list[str]) -> dict:
        """The merged config of ``alg`` on MaMuJoCo with ``overrides``, as ``src/main.py`` builds it."""
        return build_config([f"--config={alg}", "--env-config=mamujoco", "with", *overrides])

    def iteration(self) -> dict[str, float]:
        """One update on the last rollout's batch, then the next real rollout (beside which
        ``model_train_during_rollout`` trains the model), then the wait for that training if it
        outlasted the rollout (as the next update would wait); seconds per phase, real steps."""
        if self.pending is None:  # the first rollout, before any update
            self.pending = self._rollout()
        took: dict[str, float] = {}
        with timed(took, "update"), torch_threads(learner_threads(self.args.learner_threads)):  # as run.train does
            stats = self.learner.train(self.pending, self.runner.t_env, 0)
        update = took["update"]  # with the GPU's queue drained (timed), so no kernel spills into the rollout
        t_env, clock = self.runner.t_env, time.perf_counter()
        self.pending = self._rollout()
        rollout = time.perf_counter() - clock
        clock = time.perf_counter()
        background = getattr(self.learner, "background", None)
        trained = background.wait() if background is not None else {}
        wait = time.perf_counter() - clock
        row = {"real_steps": self.runner.t_env - t_env, "time_real_rollout": rollout, "time_train": update,
               "time_model_wait": wait}
        row.update({key: float(stats[key]) for key in (*LOOKAHEAD_PHASES, "model_steps_taken") if key in stats})
        row.update({key: trained[key] for key in ("time_model_background", "model_steps_taken") if key in trained})
        row.setdefault("time_real_update", update)
        row["time_total"] = rollout + update + wait
        return row

    def _rollout(self) -> EpisodeBatch:
        batch = self.runner.run(test_mode=False)
        self.buffer.insert_episode_batch(batch)
        sample = self.buffer.sample(self.args.batch_size)
        return sample[:, : sample.max_t_filled()]

    def close(self) -> None:
        self.runner.close_env()


def summarise(rows: list[dict], names: list[str], base: str) -> dict[str, dict[str, float]]:
    """Per variant, the median over timed iterations of every phase, ms per real step and its ratio
    to ``base``'s."""
    summary = {}
    for name in names:
        timed = [row for row in rows if row["variant"] == name and row["iteration"] > 0]
        keys = [key for key in timed[0] if key.startswith("time_") or key == "model_steps_taken"]
        summary[name] = {key: statistics.median(row.get(key, 0.0) for row in timed) for key in keys}
        summary[name]["ms_per_real_step"] = 1000 * statistics.median(row["time_total"] / row["real_steps"] for row in timed)
    for name in names:
        summary[name]["ratio_to_base"] = summary[name]["ms_per_real_step"] / summary[base]["ms_per_real_step"]
    return summary


def plot(summary: dict[str, dict[str, float]], path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    phases = ["time_real_rollout", "time_real_update", "time_model", "time_imagination", "time_lookahead_update",
              "time_model_wait"]
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.5 * len(summary)))
    for row, (alg, times) in enumerate(summary.items()):
        left = 0.0
        for colour, phase in enumerate(phases):
            width = times.get(phase, 0.0)
            label = phase.removeprefix("time_") if row == len(summary) - 1 else None
            ax.barh(row, width, left=left, color=f"C{colour}", label=label)
            left += width
    ax.set_yticks(range(len(summary)), list(summary))
    ax.set_xlabel("seconds per iteration (median)")
    ax.set_title(title, fontsize=6)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


VARIANTS = {
    "happo": ("happo", []),
    "lookahead_happo": ("lookahead_happo", []),
    "lookahead_happo+early_stop": ("lookahead_happo", ["model_early_stop=True"]),
    "lookahead_happo+during_rollout": ("lookahead_happo", ["model_train_during_rollout=True"]),
    "lookahead_happo+model_compile": ("lookahead_happo", ["model_compile=True"]),
    "lookahead_happo_authors": ("lookahead_happo_authors", []),
    "lookahead_happo_authors+early_stop": ("lookahead_happo_authors", ["model_early_stop=True"]),
    "lookahead_happo_authors+during_rollout": ("lookahead_happo_authors", ["model_train_during_rollout=True"]),
    "lookahead_happo_authors+model_compile": ("lookahead_happo_authors", ["model_compile=True"]),
    "happo+adam_fused": ("happo", ["adam_fused=True"]),
    "lookahead_happo+adam_fused": ("lookahead_happo", ["adam_fused=True"]),
    "lookahead_happo_authors+adam_fused": ("lookahead_happo_authors", ["adam_fused=True"]),
    "happo+cuda": ("happo", ["use_cuda=True"]),
    "lookahead_happo+cuda": ("lookahead_happo", ["use_cuda=True"]),
    "lookahead_happo_authors+cuda": ("lookahead_happo_authors", ["use_cuda=True"]),
    "happo_harl": ("happo_harl", []),
    "happo_harl+envs_in_workers": ("happo_harl", ["learner_steps_envs=False"]),
}
"""name -> (config, overrides): the base, Lookahead with the paper's and with the authors' settings,
each as it is, with the model's early stopping, with the model trained during the rollouts, with
the model's loss compiled, with torch's fused Adam (``+adam_fused``) and on the GPU (``+cuda``: the
learners, the model and the imagined rollouts there, the envs on the CPU); and HAPPO with HARL's
settings with the learner stepping a block of the envs (the default) and with every env in a
subprocess."""
LOOKAHEAD_VARIANTS = [name for name in VARIANTS
                      if not name.startswith("happo_harl") and not name.endswith(("+cuda", "+adam_fused"))]
"""The default comparison: HAPPO and Lookahead's variants with the paper's networks and rollouts."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=3, help="iterations of each variant (the first is not timed)")
    parser.add_argument("--variants", default=",".join(LOOKAHEAD_VARIANTS),
                        help=f"comma-separated, of {', '.join(VARIANTS)} (default: {', '.join(LOOKAHEAD_VARIANTS)})")
    parser.add_argument("--out", default=os.path.join(REPO, "benchmarks", "results"))
    parser.add_argument("extra", nargs="*", help="key=value overrides for every variant")
    options = parser.parse_args()
    names = options.variants.split(",")
    unknown = [name for name in names if name not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}; allowed: {', '.join(VARIANTS)}")
    common = ["env_args.key=mamujoco:HalfCheetah-2x3", "seed=1", "use_tensorboard=False", *options.extra]
    setups = {}  # variant -> (its algorithm file, every override it runs with)
    for name in names:
        alg, overrides = VARIANTS[name]
        warmup = ["lka_warmup_steps=0"] if alg.startswith("lookahead") else []
        setups[name] = (alg, common + warmup + overrides)
    # asked here, before make_args would quietly run a use_cuda=True variant on the CPU
    try:
        on_gpu = [name for name, setup in setups.items() if Trial.config(*setup)["use_cuda"]]
    except ConfigError as error:  # a bad key or value among the overrides: its one line
        parser.error(str(error))
    if on_gpu and not torch.cuda.is_available():
        parser.error(f"{', '.join(on_gpu)} need a CUDA device and torch sees none; drop them or run on a GPU machine")
    trials = {name: Trial(*setup) for name, setup in setups.items()}
    rows = []
    try:
        for iteration in range(options.iterations):
            order = names[iteration % len(names):] + names[: iteration % len(names)]  # each goes first in turn
            for name in order:
                row = {"variant": name, "iteration": iteration, **trials[name].iteration()}
                rows.append(row)
                print(", ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()), flush=True)
    finally:
        for trial in trials.values():
            trial.close()

    summary = summarise(rows, names, names[0])
    command = shlex.join([os.path.relpath(sys.executable, REPO), *sys.argv])
    keys = sorted({key for times in summary.values() for key in times}, key=lambda k: (k.startswith("ms") or k.startswith("ratio"), k))
    print(f"\n{'median per iteration':<26}" + "".join(f"{name[:22]:>24}" for name in names))
    for key in keys:
        print(f"{key:<26}" + "".join(f"{summary[name].get(key, 0.0):>24.3f}" for name in names))

    os.makedirs(options.out, exist_ok=True)
    stem = os.path.join(options.out, "lookahead_cost")
    with open(stem + ".csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=sorted({key for row in rows for key in row}))
        writer.writeheader()
        writer.writerows(rows)
    threads = learner_threads(next(iter(trials.values())).args.learner_threads)
    with open(stem + ".json", "w") as f:
        json.dump({"command": command, "learner_threads": threads, "summary": summary, "iterations": rows}, f, indent=1)
    ratios = ", ".join(f"{name} {summary[name]['ratio_to_base']:.2f}x" for name in names[1:])
    plot(summary, stem + ".png", f"{command}\nper real step, to {names[0]}: {ratios}")
    print(f"wrote {stem}.{{csv,json,png}}")


if __name__ == "__main__":
    main()
