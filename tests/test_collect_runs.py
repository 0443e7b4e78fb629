"""scripts/collect_runs.py: only finished runs (with the runs they resumed) are copied, and only
their small files; running again copies nothing new."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("collect_runs", ROOT / "scripts" / "collect_runs.py")
collect_runs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(collect_runs)


def write_run(root: Path, run_id: int, status: str, resumed_from: str = "") -> Path:
    run_dir = root / "sacred" / "happo" / "mamujoco:Ant-2x4" / str(run_id)
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text(json.dumps({"status": status}))
    config = {"name": "happo", "seed": run_id}
    if resumed_from:
        config.update(resumed_from=resumed_from, resumed_step=100)
    (run_dir / "config.json").write_text(json.dumps(config))
    (run_dir / "metrics.json").write_text(json.dumps({"test_return_mean": {"steps": [100], "values": [1.0]}}))
    (run_dir / "cout.txt").write_text("console\n")
    return run_dir


def test_finished_runs_and_their_origins_only(tmp_path, capsys):
    source, dest = tmp_path / "runs", tmp_path / "committed"
    write_run(source, 1, "COMPLETED")
    write_run(source, 2, "INTERRUPTED")  # resumed by 3, which completed: copied with it
    write_run(source, 3, "COMPLETED", resumed_from="/elsewhere/sacred/happo/mamujoco:Ant-2x4/2")
    write_run(source, 4, "FAILED")
    write_run(source, 5, "INTERRUPTED")  # resumed by 6, still going: neither copied
    write_run(source, 6, "QUEUED", resumed_from=str(source / "sacred/happo/mamujoco:Ant-2x4/5"))
    (source / "models").mkdir()
    (source / "models" / "agent.th").write_bytes(b"checkpoint")

    assert collect_runs.main([str(source), str(dest)]) == 0
    copied = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert copied == [f"sacred/happo/mamujoco:Ant-2x4/{i}/{name}" for i in (1, 2, 3)
                      for name in ("config.json", "metrics.json", "run.json")]
    assert "3 finished runs" in capsys.readouterr().out

    assert collect_runs.collect(str(source), str(dest)) == (3, 0)  # nothing new
    (source / "sacred/happo/mamujoco:Ant-2x4/4/run.json").write_text(json.dumps({"status": "COMPLETED"}))
    assert collect_runs.collect(str(source), str(dest)) == (4, 3)


def test_a_missing_source_is_one_line(tmp_path, capsys):
    assert collect_runs.main([str(tmp_path / "nowhere"), str(tmp_path / "dest")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "is not a directory" in err
