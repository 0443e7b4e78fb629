"""``save_model_keep``: a long run keeps only its newest checkpoints, each complete with the loop's
schedule; the run records where they are (an absolute ``models_dir`` in its sacred info), also
when ``local_results_path`` is relative (to the directory the run was started in)."""

from __future__ import annotations

import json
import os
import re
import sys

from tests.integration.helpers import MAIN, read_json
from tests.support import processes

TOY = ["runner=episode", "batch_size_run=4", "batch_size=4", "buffer_size=4", "epochs=1", "mini_batches=1",
       "test_nepisode=1", "t_max=60", "save_model=True", "save_model_interval=8"]


def test_only_the_newest_checkpoints_are_kept(tmp_path):
    result = processes.run([sys.executable, MAIN, "--config=mappo", "--env-config=toy_game", "with", *TOY,
                            "save_model_keep=2", "local_results_path=relative/results"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = [root for root, _, files in os.walk(tmp_path / "relative" / "results" / "sacred") if "run.json" in files]
    models_dir = read_json(os.path.join(run_dir, "info.json"))["models_dir"]
    assert os.path.isabs(models_dir) and models_dir.startswith(str(tmp_path / "relative" / "results" / "models"))
    with open(os.path.join(run_dir, "cout.txt")) as f:
        written = [int(step) for step in re.findall(rf"Saved models to {re.escape(models_dir)}/(\d+)", f.read())]
    saved = sorted(set(written))  # the final save may rewrite the last periodic one
    assert len(saved) >= 5 and written == sorted(written)
    assert sorted(os.listdir(models_dir)) == sorted(str(step) for step in saved[-2:])  # no partial directory either
    for step in saved[-2:]:
        with open(os.path.join(models_dir, str(step), "loop.json")) as f:
            loop = json.load(f)
        assert loop["last_save_t"] <= step and loop["episode"] > 0
        assert {"agent.th", "critic.th", "optimisers.th"} <= set(os.listdir(os.path.join(models_dir, str(step))))
