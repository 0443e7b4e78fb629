"""Run ``src/main.py`` as a user would, in a subprocess, and read what it wrote."""

from __future__ import annotations

import glob
import json
import os
import sys

from tests.support import processes

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MAIN = os.path.join(REPO, "src", "main.py")
SUPPORT = os.path.join(REPO, "tests", "support")
LBF = "lbforaging:Foraging-8x8-2p-3f-v3"


def run_main(alg: str, overrides: list[str], results: str, env: str = "gymma", timeout: float = 300,
             variables: dict[str, str] | None = None):
    """``python src/main.py --config=alg --env-config=env with local_results_path=results ...``, with
    ``variables`` added to its environment."""
    command = [sys.executable, MAIN, f"--config={alg}", f"--env-config={env}", "with",
               f"local_results_path={results}", *overrides]
    environment = dict(os.environ, PYTHONPATH=SUPPORT, **(variables or {}))
    return processes.run(command, capture_output=True, text=True, timeout=timeout, env=environment)


def sacred_runs(results: str) -> list[str]:
    """The sacred run directories written under ``results`` (sorted by creation)."""
    runs = [d for d in glob.glob(os.path.join(results, "sacred", "*", "*", "*")) if os.path.basename(d).isdigit()]
    return sorted(runs, key=os.path.getmtime)


def read_json(path: str) -> dict:
    with open(path) as f:
        return json.load(f)


def read_tensorboard(directory: str) -> dict[str, list[tuple[int, float]]]:
    """Every scalar of the single TensorBoard event file under ``directory``: key -> [(step, value)]."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    (events,) = glob.glob(os.path.join(directory, "**", "events.out.tfevents.*"), recursive=True)
    accumulator = EventAccumulator(events, size_guidance={"scalars": 0})  # 0: keep every value
    accumulator.Reload()
    return {key: [(e.step, e.value) for e in accumulator.Scalars(key)] for key in accumulator.Tags()["scalars"]}
