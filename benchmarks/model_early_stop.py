"""What early stopping does to Lookahead's model training: HalfCheetah 2x3, steps, time and accuracy.

Collects real HalfCheetah 2x3 transitions (``mamujoco:HalfCheetah-2x3`` built through the gymma
registry as a run builds it, uniformly random actions in the bounds), then replays Lookahead's
model training on them twice, with and without ``early_stop`` (MBPO's practice: stop when the
held-out loss has not improved by ``tolerance`` for ``patience`` checks): each iteration adds
``--new`` transitions (10% held out) and calls ``train_steps(--steps)`` with batch ``--batch`` on
the authors' deterministic 4 x 256 MLP. Per iteration the random stream is reseeded for both, so
they get the same model, the same held-out split and the same mini-batches until one stops; the two
alternate iteration by iteration, so a change in machine load hits both alike. Reports per
iteration the steps taken, the seconds of ``train_steps`` and ``validation_metrics()`` on the
held-out transitions (next-state MSE in raw units, reward R^2).

    python benchmarks/model_early_stop.py

Writes ``<out>/model_early_stop.json`` with the command; prints the table. One torch thread.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
import warnings

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "src"))
warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)

import numpy as np  # noqa: E402
import torch  # noqa: E402

from envs import REGISTRY as env_registry  # noqa: E402
from modules.world_models.dynamics_model import DynamicsModel  # noqa: E402
from modules.world_models.model_trainer import ModelTrainer  # noqa: E402
from modules.world_models.transition_buffer import Transitions  # noqa: E402

KEY = "mamujoco:HalfCheetah-2x3"


def collect(n: int, seed: int) -> tuple[Transitions, dict]:
    """``n`` transitions of random play (episodes of 1,000 steps, reset at each end) and the env info."""
    env = env_registry["gymma"](key=KEY, time_limit=1000, seed=seed, common_reward=True, reward_scalarisation="sum")
    info = env.get_env_info()
    low, high = np.array(info["action_low"]), np.array(info["action_high"])
    rng = np.random.default_rng(seed)
    names = ("state", "actions", "reward", "next_state", "terminated", "episode_end")
    fields: dict[str, list] = {name: [] for name in names}
    env.reset()
    for _ in range(n):
        actions = rng.uniform(low, high).astype(np.float32)
        state = env.get_state()
        _, reward, terminated, truncated, _ = env.step(actions)
        values = (state, actions, [reward], env.get_state(), terminated, terminated or truncated)
        for name, value in zip(names, values):
            fields[name].append(value)
        if terminated or truncated:
            env.reset()
    env.close()
    transitions = {name: torch.as_tensor(np.array(values)) for name, values in fields.items()}
    for name in ("state", "reward", "next_state", "terminated"):
        transitions[name] = transitions[name].float()
    return transitions, info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--new", type=int, default=4000, help="real transitions added per iteration")
    parser.add_argument("--steps", type=int, default=2000, help="train_steps per iteration (paper: 2000 HalfCheetah)")
    parser.add_argument("--batch", type=int, default=512, help="model batch size (paper: 512)")
    parser.add_argument("--interval", type=int, default=100)
    parser.add_argument("--patience", type=int, default=5)
    parser.add_argument("--tolerance", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=os.path.join(REPO, "benchmarks", "results"))
    args = parser.parse_args()
    torch.set_num_threads(1)

    start = time.perf_counter()
    data, env_info = collect(args.iterations * args.new, args.seed)
    print(f"collected {args.iterations * args.new} transitions in {time.perf_counter() - start:.1f} s", flush=True)
    variants = {"fixed": {}, "early_stop": {"early_stop": True, "early_stop_interval": args.interval,
                                            "early_stop_patience": args.patience,
                                            "early_stop_tolerance": args.tolerance}}
    trainers = {}
    for name, options in variants.items():
        torch.manual_seed(args.seed)
        model = DynamicsModel.from_env_info(env_info, reward_dim=1, n_models=1, hidden_dim=256, hidden_layers=4)
        trainers[name] = ModelTrainer(model, batch_size=args.batch, **options)

    rows = []
    for iteration in range(args.iterations):
        new = {field: value[iteration * args.new:(iteration + 1) * args.new] for field, value in data.items()}
        for name, trainer in trainers.items():
            torch.manual_seed(args.seed + 1 + iteration)
            trainer.add_transitions(new)
            tic = time.perf_counter()
            stats = trainer.train_steps(args.steps)
            seconds = time.perf_counter() - tic
            metrics = trainer.validation_metrics()
            rows.append({
                "iteration": iteration + 1, "variant": name, "steps_taken": int(stats["model_steps_taken"]),
                "seconds": seconds, "train_loss": stats["model_loss"],
                "next_state_mse": metrics["model_next_state_mse"], "reward_r2": metrics["model_reward_r2"],
                "held_out": len(trainer.validation_buffer),
            })
            print(", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in rows[-1].items()),
                  flush=True)

    print(f"\n{'iter':>4} {'variant':>10} {'steps':>6} {'seconds':>8} {'train loss':>10} {'val next-state MSE':>19}"
          f" {'val reward R^2':>15}")
    for row in rows:
        print(f"{row['iteration']:>4} {row['variant']:>10} {row['steps_taken']:>6} {row['seconds']:>8.1f}"
              f" {row['train_loss']:>10.4f} {row['next_state_mse']:>19.4f} {row['reward_r2']:>15.4f}")
    totals = {name: (sum(r["steps_taken"] for r in rows if r["variant"] == name),
                     sum(r["seconds"] for r in rows if r["variant"] == name)) for name in variants}
    for name, (steps, seconds) in totals.items():
        print(f"total {name}: {steps} steps, {seconds:.1f} s")
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "model_early_stop.json")
    command = shlex.join([os.path.relpath(sys.executable, REPO), *sys.argv])
    with open(path, "w") as f:
        json.dump({"command": command, "env": KEY, "torch_threads": torch.get_num_threads(), "settings": vars(args),
                   "rows": rows, "totals": {name: {"steps": s, "seconds": t} for name, (s, t) in totals.items()}},
                  f, indent=1)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
