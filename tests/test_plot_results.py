"""src/plot_results.py on hand-written sacred run directories: means, standard errors, grouping,
smoothing, the table and the files written."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

import plot_results  # src/ is on sys.path: tests/conftest.py


def write_run(root: Path, name: str, run_id: int, values: list[float], *, key: str = "toy", lr: float = 0.001,
              status: str | dict = "COMPLETED", steps: list[int] | None = None, seed: int = 0,
              resumed: tuple[str, int] | None = None) -> None:
    """A sacred run directory; ``status`` a status or a whole run.json; ``resumed``: the
    ``(resumed_from, resumed_step)`` of a resumption."""
    run_dir = root / "sacred" / name / key / str(run_id)
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text(json.dumps(status if isinstance(status, dict) else {"status": status}))
    config = {"name": name, "env": "gymma", "lr": lr, "seed": seed, "env_args": {"key": key}}
    if resumed:
        config.update(resumed_from=resumed[0], resumed_step=resumed[1])
    (run_dir / "config.json").write_text(json.dumps(config))
    steps = steps or [100 * (i + 1) for i in range(len(values))]
    (run_dir / "metrics.json").write_text(json.dumps(
        {"test_return_mean": {"steps": steps, "values": values, "timestamps": [""] * len(values)},
         "return_mean": {"steps": steps, "values": [0.0] * len(values), "timestamps": [""] * len(values)}}))


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    write_run(tmp_path, "happo", 1, [1.0, 2.0, 3.0], seed=0)
    write_run(tmp_path, "happo", 2, [3.0, 4.0, 9.0], seed=1)
    write_run(tmp_path, "mappo", 1, [0.0, 5.0, 1.0], lr=0.01)
    write_run(tmp_path, "mappo", 2, [7.0, 7.0, 7.0], status="FAILED")  # left out by default
    write_run(tmp_path, "happo", 1, [10.0, 10.0, 10.0], key="other")
    return tmp_path


def read_csv(path: Path) -> list[dict]:
    with open(path) as f:
        return list(csv.DictReader(f))


def test_mean_and_standard_error_over_seeds(runs, tmp_path, capsys):
    out = tmp_path / "plots" / "curves"
    assert plot_results.main([str(runs), "--out", str(out)]) == 0
    curve = [row for row in read_csv(Path(f"{out}.csv")) if row["env"] == "toy" and row["group"] == "happo"]
    assert [int(r["step"]) for r in curve] == [100, 200, 300]
    assert [float(r["mean"]) for r in curve] == [2.0, 3.0, 6.0]
    # SE = sample std / sqrt(n): |a - b| / sqrt(2) / sqrt(2) = |a - b| / 2 for two runs
    assert [float(r["se"]) for r in curve] == pytest.approx([1.0, 1.0, 3.0])
    assert {r["n"] for r in curve} == {"2"}
    table = {(r["env"], r["group"]): r for r in read_csv(Path(f"{out}_table.csv"))}
    assert set(table) == {("toy", "happo"), ("toy", "mappo"), ("other", "happo")}  # FAILED run excluded
    assert float(table[("toy", "happo")]["final_mean"]) == 6.0 and float(table[("toy", "happo")]["final_se"]) == pytest.approx(3.0)
    assert (float(table[("toy", "mappo")]["best_mean"]), int(table[("toy", "mappo")]["best_step"])) == (5.0, 200)
    assert table[("toy", "mappo")]["runs"] == "1" and float(table[("toy", "mappo")]["final_se"]) == 0.0
    assert Path(f"{out}.png").stat().st_size > 1000
    assert "toy" in capsys.readouterr().out


def test_smoothing_group_by_metric_and_status(runs, tmp_path):
    out = tmp_path / "s"
    assert plot_results.main([str(runs), "--out", str(out), "--smooth", "2", "--group-by", "name,lr",
                              "--status", "any"]) == 0
    rows = read_csv(Path(f"{out}.csv"))
    mappo = [row for row in rows if row["group"] == "name=mappo,lr=0.01"]
    assert [float(r["mean"]) for r in mappo] == [0.0, 2.5, 3.0]  # trailing mean over 2 points
    assert {row["group"] for row in rows} == {"name=happo,lr=0.001", "name=mappo,lr=0.01", "name=mappo,lr=0.001"}
    failed_run = [row for row in rows if row["group"] == "name=mappo,lr=0.001"]  # --status any: FAILED too
    assert [float(r["mean"]) for r in failed_run] == [7.0, 7.0, 7.0]
    assert plot_results.main([str(runs), "--out", str(out), "--metric", "return_mean"]) == 0
    assert {float(r["mean"]) for r in read_csv(Path(f"{out}.csv"))} == {0.0}


def test_runs_logged_at_different_steps_are_interpolated(tmp_path):
    write_run(tmp_path, "happo", 1, [0.0, 10.0], steps=[0, 100])
    write_run(tmp_path, "happo", 2, [0.0, 20.0, 40.0], steps=[0, 100, 200])
    out = tmp_path / "i"
    assert plot_results.main([str(tmp_path), "--out", str(out)]) == 0
    rows = read_csv(Path(f"{out}.csv"))
    assert [(int(r["step"]), float(r["mean"])) for r in rows] == [(0, 0.0), (100, 15.0)]  # common range
    assert float(rows[1]["se"]) == pytest.approx(math.sqrt(50.0) / math.sqrt(2))


def test_bad_input_is_one_line(runs, tmp_path, capsys):
    assert plot_results.main([str(runs), "--metric", "nope", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no run logged metric 'nope'; logged metrics: return_mean, test_return_mean")
    assert plot_results.main([str(tmp_path / "empty"), "--out", str(tmp_path / "x")]) == 2
    assert "no sacred runs" in capsys.readouterr().err


def test_reference_curves_and_values_at_steps(tmp_path, capsys):
    write_run(tmp_path, "happo", 1, [2.0, 4.0, 6.0], seed=0)  # steps 100, 200, 300
    write_run(tmp_path, "happo", 2, [4.0, 8.0, 10.0], seed=1)
    reference = tmp_path / "reference"
    reference.mkdir()
    # Two reference seeds in the HARL layout: env_steps, an empty eval cell (skipped), eval_return.
    (reference / "seed1.csv").write_text("env_steps,train_return,eval_return\n100,0,2\n150,0,\n300,0,8\n")
    (reference / "seed2.csv").write_text("env_steps,train_return,eval_return\n100,0,4\n150,0,\n300,0,12\n")
    out = tmp_path / "ref"
    assert plot_results.main([str(tmp_path / "sacred"), "--out", str(out), "--at", "200,300,400",
                              "--reference", f"HARL={reference}/seed*.csv"]) == 0
    table = {r["group"]: r for r in read_csv(Path(f"{out}_table.csv"))}
    assert float(table["HARL (reference)"]["final_mean"]) == 10.0 and table["HARL (reference)"]["runs"] == "2"
    at = {(int(r["step"]), r["group"]): r for r in read_csv(Path(f"{out}_at.csv"))}
    assert float(at[(200, "happo")]["mean"]) == 6.0
    assert float(at[(200, "HARL (reference)")]["mean"]) == 6.5  # (3 + 10) / 2: linear between 100 and 300
    assert float(at[(200, "happo")]["ratio to HARL"]) == pytest.approx(6.0 / 6.5)
    assert float(at[(300, "happo")]["ratio to HARL"]) == pytest.approx(8.0 / 10.0)
    assert at[(400, "happo")]["mean"] == "" and at[(400, "happo")]["ratio to HARL"] == ""  # past the curves' end
    assert "ratio to HARL" in capsys.readouterr().out


def test_ratio_to_a_group_of_ours_and_medians(tmp_path):
    write_run(tmp_path, "happo", 1, [2.0, 4.0])
    write_run(tmp_path, "lookahead_happo", 1, [3.0, 5.0], seed=0)
    write_run(tmp_path, "lookahead_happo", 2, [3.0, 6.0], seed=1)
    write_run(tmp_path, "lookahead_happo", 3, [6.0, 10.0], seed=2)
    out = tmp_path / "ratio"
    assert plot_results.main([str(tmp_path / "sacred"), "--out", str(out), "--at", "200", "--ratio-to", "happo"]) == 0
    at = {r["group"]: r for r in read_csv(Path(f"{out}_at.csv"))}
    assert (float(at["lookahead_happo"]["mean"]), float(at["lookahead_happo"]["median"])) == (7.0, 6.0)
    assert float(at["lookahead_happo"]["ratio to happo"]) == 7.0 / 4.0
    assert "ratio to happo" not in at["happo"] or at["happo"]["ratio to happo"] == ""


def test_average_and_fraction_of_positive_points(runs, tmp_path):
    """The table's mean over the logged steps and fraction of raw points > 0 (e.g. a KL gap)."""
    out = tmp_path / "fractions"
    assert plot_results.main([str(runs / "sacred"), "--out", str(out)]) == 0
    table = {(r["env"], r["group"]): r for r in read_csv(Path(f"{out}_table.csv"))}
    # mappo's one completed run logged 0, 5, 1: two of its three points are above 0.
    assert float(table[("toy", "mappo")]["positive_fraction"]) == pytest.approx(2 / 3)
    assert float(table[("toy", "mappo")]["average"]) == pytest.approx(2.0)
    assert float(table[("toy", "happo")]["average"]) == pytest.approx((2 + 3 + 6) / 3)  # the mean curve's mean


def test_interquartile_mean_and_probability_of_improvement(tmp_path, capsys):
    """Four lookahead runs at step 200 score 1, 2, 3, 100: the IQM drops the outer quarter on each
    side, (2 + 3) / 2 = 2.5, while the mean is 26.5; P(lookahead > happo) with happo's 1.5 and 2.5
    counts the pairs won: (0 + 1 + 2 + 2) / 8 = 0.625."""
    for seed, value in enumerate([1.0, 2.0, 3.0, 100.0]):
        write_run(tmp_path, "lookahead_happo", seed + 1, [0.0, value], seed=seed)
    for seed, value in enumerate([1.5, 2.5]):
        write_run(tmp_path, "happo", seed + 1, [0.0, value], seed=seed)
    out = tmp_path / "stats"
    assert plot_results.main([str(tmp_path / "sacred"), "--out", str(out), "--at", "200", "--iqm",
                              "--improvement", "lookahead_happo:happo", "--bootstrap-reps", "500"]) == 0
    at = {r["group"]: r for r in read_csv(Path(f"{out}_at.csv"))}
    assert float(at["lookahead_happo"]["mean"]) == 26.5 and float(at["lookahead_happo"]["iqm"]) == 2.5
    low, high = float(at["lookahead_happo"]["iqm_low"]), float(at["lookahead_happo"]["iqm_high"])
    assert 1.0 <= low < 2.5 < high <= 100.0
    (row,) = read_csv(Path(f"{out}_improvement.csv"))
    assert (row["x"], row["y"], row["runs_x"], row["runs_y"]) == ("lookahead_happo", "happo", "4", "2")
    assert float(row["probability"]) == 0.625
    assert 0.0 <= float(row["ci_low"]) < 0.625 < float(row["ci_high"]) <= 1.0
    printed = capsys.readouterr().out
    assert "IQM [95% CI]" in printed and "lookahead_happo > happo" in printed
    # Same runs, same intervals: the bootstrap is seeded.
    assert plot_results.main([str(tmp_path / "sacred"), "--out", str(tmp_path / "again"), "--at", "200", "--iqm",
                              "--improvement", "lookahead_happo:happo", "--bootstrap-reps", "500"]) == 0
    assert read_csv(Path(f"{tmp_path / 'again'}_improvement.csv")) == [row]


def test_marl_eval_export(tmp_path):
    """marl-eval's layout: env / task / algorithm / run / step_i {step_count, metric: [value]}, the
    last evaluation as absolute_metrics; a resumed run is exported as its one joined curve."""
    write_run(tmp_path, "happo", 1, [1.0, 2.0, 3.0], key="mamujoco:HalfCheetah-2x3", seed=0)
    write_run(tmp_path, "happo", 2, [5.0, 6.0], key="mamujoco:HalfCheetah-2x3", seed=1,
              status="INTERRUPTED")
    write_run(tmp_path, "happo", 3, [7.0, 8.0], key="mamujoco:HalfCheetah-2x3", seed=1, steps=[200, 300],
              resumed=("/elsewhere/sacred/happo/mamujoco:HalfCheetah-2x3/2", 100))
    write_run(tmp_path, "toy_happo", 1, [4.0], key="toy", seed=0)
    path = tmp_path / "export" / "marl_eval.json"
    assert plot_results.main([str(tmp_path / "sacred"), "--out", str(tmp_path / "curves"),
                              "--marl-eval", str(path)]) == 0
    data = json.loads(path.read_text())
    assert set(data) == {"mamujoco", "gymma"} and set(data["gymma"]) == {"toy"}
    runs = data["mamujoco"]["HalfCheetah-2x3"]["happo"]
    assert set(runs) == {"seed_0", "seed_1"}
    assert runs["seed_0"]["step_2"] == {"step_count": 300, "test_return_mean": [3.0]}
    # seed 1: its first run's point at 100, then the resumption's at 200 and 300.
    assert [runs["seed_1"][f"step_{i}"]["test_return_mean"][0] for i in range(3)] == [5.0, 7.0, 8.0]
    assert runs["seed_1"]["absolute_metrics"] == {"test_return_mean": [8.0]}


@pytest.mark.parametrize("args, message", [
    (["--reference", "no-equals-sign"], "bad value for '--reference': 'no-equals-sign'"),
    (["--reference", "R=/nonexistent/*.csv"], "no file matches '/nonexistent/*.csv'"),
    (["--at", "soon"], "bad value for '--at': 'soon'"),
    (["--at", "100", "--ratio-to", "hapo"], "bad value for '--ratio-to': 'hapo'; allowed: happo"),
    (["--iqm"], "--iqm and --improvement compare runs at env steps: give them with --at"),
    (["--at", "100", "--improvement", "happo"], "bad value for '--improvement': 'happo'; allowed: X:Y"),
    (["--at", "100", "--improvement", "happo:ippo"], "bad value for '--improvement': 'happo:ippo'"),
    (["--at", "100", "--iqm", "--bootstrap-reps", "0"], "bad value for '--bootstrap-reps': 0"),
])
def test_bad_reference_or_steps_is_one_line(runs, tmp_path, capsys, args, message):
    assert plot_results.main([str(runs / "sacred" / "happo" / "toy"), "--out", str(tmp_path / "x"), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err


def test_a_run_and_its_resumptions_are_one_curve_and_dead_runs_are_dead(tmp_path, capsys):
    """Run 1 was killed (RUNNING, its heartbeat long stale: DEAD) after logging up to 400 with a
    checkpoint at 200; run 2 resumed it at 200 and was stopped at 400 after a checkpoint at 300; run
    3 resumed run 2 at 300 and completed. ``resumed_from`` names where the runs were first written
    (another machine's path): the last three parts find them here. Another seed did not resume."""
    dead = {"status": "RUNNING", "start_time": "2020-01-01T00:00:00", "heartbeat": "2020-01-01T01:00:00"}
    elsewhere = "/elsewhere/results/sacred/happo/toy"
    write_run(tmp_path, "happo", 1, [1.0, 2.0, 3.0, 4.0], status=dead)
    write_run(tmp_path, "happo", 2, [30.0, 40.0], steps=[300, 400], status="INTERRUPTED",
              resumed=(f"{elsewhere}/1", 200))
    write_run(tmp_path, "happo", 3, [400.0, 500.0], steps=[400, 500], resumed=(f"{elsewhere}/2", 300))
    write_run(tmp_path, "happo", 4, [1.0, 2.0, 3.0, 4.0, 5.0], status=dead, seed=1)
    out = tmp_path / "joined"
    assert plot_results.main([str(tmp_path), "--out", str(out), "--status", "any", "--group-by", "seed"]) == 0
    curve = {row["group"]: [] for row in read_csv(Path(f"{out}.csv"))}
    for row in read_csv(Path(f"{out}.csv")):
        curve[row["group"]].append((int(row["step"]), float(row["mean"])))
    assert curve["0"] == [(100, 1.0), (200, 2.0), (300, 30.0), (400, 400.0), (500, 500.0)]
    assert "runs by status (a run and its resumptions count once): COMPLETED 1, DEAD 1" in capsys.readouterr().out
    assert plot_results.main([str(tmp_path), "--out", str(out), "--status", "DEAD", "--group-by", "seed"]) == 0
    assert {row["group"] for row in read_csv(Path(f"{out}.csv"))} == {"1"}  # the chain's status is its last run's
    assert plot_results.main([str(tmp_path), "--out", str(out), "--status", "RUNNING"]) == 2
    assert "(runs by status: COMPLETED 1, DEAD 1)" in capsys.readouterr().err


def test_a_run_resumed_twice_from_one_checkpoint_follows_its_newest_resumption(tmp_path, capsys):
    """Run 1 stopped with a checkpoint at 200. Run 2 resumed it and died at 400 before its next
    checkpoint, so run 3 resumed run 1 at 200 again, later, and is still short of 400: the curve is
    run 1's up to 200, then run 3's, never the abandoned branch's points (which got further)."""
    dead = {"status": "RUNNING", "start_time": "2020-01-01T01:00:00", "heartbeat": "2020-01-01T02:00:00"}
    write_run(tmp_path, "happo", 1, [1.0, 2.0, 3.0], status={"status": "INTERRUPTED", "start_time": "2020-01-01T00:00:00"})
    write_run(tmp_path, "happo", 2, [-30.0, -40.0], steps=[300, 400], status=dead, resumed=("/x/happo/toy/1", 200))
    write_run(tmp_path, "happo", 3, [30.0], steps=[300], resumed=("/x/happo/toy/1", 200),
              status={"status": "COMPLETED", "start_time": "2020-01-01T03:00:00"})
    out = tmp_path / "joined"
    assert plot_results.main([str(tmp_path), "--out", str(out), "--status", "any"]) == 0
    assert [(int(row["step"]), float(row["mean"])) for row in read_csv(Path(f"{out}.csv"))] == [
        (100, 1.0), (200, 2.0), (300, 30.0)]
    assert "runs by status (a run and its resumptions count once): COMPLETED 1" in capsys.readouterr().out


def test_where_keeps_only_the_runs_whose_config_matches(runs, tmp_path, capsys):
    """``--where KEY=VALUE`` filters on the config (values read as YAML: ``seed=1`` is the integer,
    ``lr=0.01`` the float); several filters all hold; one that no run meets, or a spec without ``=``,
    is one line."""
    out = tmp_path / "where"
    assert plot_results.main([str(runs), "--out", str(out), "--where", "seed=1"]) == 0
    table = {(r["env"], r["group"]): r for r in read_csv(Path(f"{out}_table.csv"))}
    assert set(table) == {("toy", "happo")} and table[("toy", "happo")]["runs"] == "1"
    assert float(table[("toy", "happo")]["final_mean"]) == 9.0  # seed 1's run alone
    assert plot_results.main([str(runs), "--out", str(out), "--where", "seed=0", "--where", "lr=0.01"]) == 0
    assert {(r["env"], r["group"]) for r in read_csv(Path(f"{out}_table.csv"))} == {("toy", "mappo")}
    capsys.readouterr()
    assert plot_results.main([str(runs), "--out", str(out), "--where", "seed=7"]) == 2
    assert capsys.readouterr().err.strip() == "error: no run has seed=7 (--where); its values in these runs: 0, 1"
    assert plot_results.main([str(runs), "--out", str(out), "--where", "seed"]) == 2
    assert capsys.readouterr().err.strip().startswith("error: bad value for '--where': 'seed'; allowed: KEY=VALUE")
