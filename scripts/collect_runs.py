"""Copy the small files of finished sacred runs out of a results directory kept outside the checkout.

    python scripts/collect_runs.py ~/lookahead_runs/paper_halfcheetah_2x3 benchmarks/results/paper/halfcheetah_2x3

Long sweeps write their results (checkpoints included) outside the checkout while they run; what is
committed is each finished run's ``run.json``, ``config.json`` and ``metrics.json`` (no checkpoints,
no console log), at the same path below DEST as below SOURCE, so that ``src/plot_results.py DEST``
reads them as it reads SOURCE. A finished run is one whose status is COMPLETED; a run that
``search.py`` resumed is copied with every run it resumed (its ``resumed_from`` chain), so that its
curve is whole. Runs still running, dead or failed are left where they are. Run it again as more
runs finish: files already copied and unchanged are left alone.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # utils.run_state, utils.resumed_runs

from utils.resumed_runs import origin_dir  # noqa: E402
from utils.run_state import run_state  # noqa: E402

FILES = ("run.json", "config.json", "metrics.json")


def read_json(path: str) -> dict:
    with open(path) as f:
        return json.load(f)


def finished_runs(source: str) -> list[str]:
    """Directories under ``source`` of COMPLETED runs and of the runs each one resumed, sorted."""
    runs = {}
    for run_json in glob.glob(os.path.join(source, "**", "run.json"), recursive=True):
        run_dir = os.path.normpath(os.path.dirname(run_json))
        try:
            runs[run_dir] = (run_state(read_json(run_json)), read_json(os.path.join(run_dir, "config.json")))
        except (OSError, ValueError):
            continue  # being written, or not a run
    chosen: set[str] = set()
    for run_dir, (status, _) in runs.items():
        if status != "COMPLETED":
            continue
        while run_dir in runs and run_dir not in chosen:
            chosen.add(run_dir)
            run_dir = origin_dir(run_dir, runs[run_dir][1]) or ""
    return sorted(chosen)


def collect(source: str, dest: str) -> tuple[int, int]:
    """Copy the finished runs' files from ``source`` to ``dest``; returns (runs found, files written)."""
    runs, written = finished_runs(source), 0
    for run_dir in runs:
        target = os.path.join(dest, os.path.relpath(run_dir, source))
        os.makedirs(target, exist_ok=True)
        for name in FILES:
            src, dst = os.path.join(run_dir, name), os.path.join(target, name)
            if os.path.exists(dst) and Path(dst).read_bytes() == Path(src).read_bytes():
                continue
            shutil.copyfile(src, dst + ".partial")
            os.replace(dst + ".partial", dst)  # a stop mid-copy leaves no half-written file
            written += 1
    return len(runs), written


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", help="results directory of the sweep (its local_results_path)")
    parser.add_argument("dest", help="where the finished runs' small files go (e.g. under benchmarks/results/)")
    args = parser.parse_args(argv)
    if not os.path.isdir(args.source):
        print(f"error: bad value for 'source': {args.source!r} is not a directory", file=sys.stderr)
        return 2
    found, written = collect(args.source, args.dest)
    print(f"{found} finished runs under {args.source}: {written} files written to {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
