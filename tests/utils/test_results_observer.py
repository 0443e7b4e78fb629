"""The run directory's JSON files survive a write that dies half-way (``utils.results_observer``)."""

from __future__ import annotations

import json
import os
import stat

import pytest
from sacred import Experiment

from utils import atomic_file
from utils.results_observer import AtomicFileStorageObserver


def logging_experiment(observer: AtomicFileStorageObserver, values: list[float]) -> Experiment:
    experiment = Experiment("observer_test", save_git_info=False)
    experiment.observers.append(observer)

    @experiment.main
    def main(_run) -> None:
        for step, value in enumerate(values):
            _run.log_scalar("loss", value, step)

    return experiment


def test_files_have_sacreds_layout_and_contents(tmp_path) -> None:
    observer = AtomicFileStorageObserver(str(tmp_path))
    logging_experiment(observer, [1.0, 0.5]).run()
    run_dir = tmp_path / "1"
    assert json.loads((run_dir / "run.json").read_text())["status"] == "COMPLETED"
    assert json.loads((run_dir / "metrics.json").read_text())["loss"]["values"] == [1.0, 0.5]
    assert "seed" in json.loads((run_dir / "config.json").read_text())
    assert stat.S_IMODE(os.stat(run_dir / "metrics.json").st_mode) == atomic_file.FILE_MODE
    assert not [name for name in os.listdir(run_dir) if name.startswith(".tmp-")]


def test_a_write_that_dies_half_way_keeps_the_previous_file(tmp_path, monkeypatch) -> None:
    """A JSON dump that fails after writing part of the file (what a kill -9 mid-write leaves with
    sacred's own observer: a truncated metrics.json) leaves the previous file whole."""
    observer = AtomicFileStorageObserver(str(tmp_path))
    logging_experiment(observer, [1.0, 0.5]).run()
    metrics = tmp_path / "1" / "metrics.json"
    before = metrics.read_text()

    def dies_half_way(obj, f, **kwargs) -> None:
        text = json.dumps(obj, **kwargs)
        f.write(text[: len(text) // 2])
        f.flush()
        raise KeyboardInterrupt

    monkeypatch.setattr(json, "dump", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        observer.save_json({"loss": {"values": [0.1], "steps": [9], "timestamps": []}}, "metrics.json")
    assert metrics.read_text() == before
    assert json.loads(before)["loss"]["values"] == [1.0, 0.5]
    assert not [name for name in os.listdir(tmp_path / "1") if name.startswith(".tmp-")]
