"""One metric of one sacred run as a CSV and a PNG learning curve (e.g. a football score rate).

    python benchmarks/plot_run.py RUN_DIR --metric test_score_rate_mean --out benchmarks/results/NAME

RUN_DIR is ``<local_results_path>/sacred/<name>/<env key>/<id>``; the run may still be going or
have been interrupted (sacred flushes metrics.json every few seconds). Writes ``NAME.csv`` (t_env,
value), ``NAME.png`` and ``NAME.json`` (the run's command-line config, status, speed, last value).
"""

from __future__ import annotations

import argparse
import csv
import json
import os


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", help="a sacred run directory")
    parser.add_argument("--metric", default="test_return_mean", help="logged key to plot")
    parser.add_argument("--out", required=True, help="output path without extension")
    parser.add_argument("--run-command", default=None, help="the command that produced the run, for the record")
    options = parser.parse_args()

    with open(os.path.join(options.run_dir, "metrics.json")) as f:
        metrics = json.load(f)
    with open(os.path.join(options.run_dir, "run.json")) as f:
        run = json.load(f)
    with open(os.path.join(options.run_dir, "config.json")) as f:
        config = json.load(f)
    steps, values = metrics[options.metric]["steps"], metrics[options.metric]["values"]
    speed = metrics.get("env_steps_per_second", {"values": [None]})["values"][-1]

    os.makedirs(os.path.dirname(os.path.abspath(options.out)), exist_ok=True)
    with open(options.out + ".csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["t_env", options.metric])
        writer.writerows(zip(steps, values))
    summary = {
        "run_command": options.run_command, "status": run.get("status"), "config_name": config.get("name"),
        "seed": config.get("seed"), "t_max": config.get("t_max"),
        "env_args": config.get("env_args"), "metric": options.metric, "last_t_env": steps[-1] if steps else None,
        "last_value": values[-1] if values else None, "best_value": max(values) if values else None,
        "env_steps_per_second": speed,
    }
    with open(options.out + ".json", "w") as f:
        json.dump(summary, f, indent=2)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(steps, values, marker=".")
    ax.set_xlabel("env steps")
    ax.set_ylabel(options.metric)
    ax.set_title(f"{config.get('name')} on {config.get('env_args', {}).get('key')} (seed {config.get('seed')})")
    fig.tight_layout()
    fig.savefig(options.out + ".png", dpi=120)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
