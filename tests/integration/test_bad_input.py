"""Bad input ends with one clear line naming the bad value and the choices; no traceback."""

from __future__ import annotations

import os

import pytest

from tests.integration.helpers import LBF, read_json, run_main, sacred_runs


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr + result.stdout
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(error_lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in error_lines[0], (fragment, error_lines[0])


@pytest.mark.parametrize(
    "alg, env, overrides, fragments",
    [
        ("mapo", "gymma", [], ["'mapo'", "choose from: happo, happo_gfootball, ippo, ippo_ns, mappo, mappo_gfootball, mappo_ns"]),
        ("mappo", "gym", [], ["'gym'", "choose from: gfootball, gymma, mamujoco, toy_game"]),
        ("mappo", "gymma", ["lrr=0.1"], ["'lrr'", "did you mean: lr"]),
        ("mappo", "gymma", ["lr=abc"], ["'lr'", "'abc'", "expected a float"]),
        ("mappo", "gymma", ["t_max=1.5"], ["'t_max'", "expected a int"]),
        ("mappo", "gymma", ["use_cuda=3"], ["'use_cuda'", "expected a bool"]),
        ("mappo", "gymma", ["t_max"], ["'t_max'", "key=value"]),
    ],
)
def test_config_errors_stop_before_the_run(alg, env, overrides, fragments, tmp_path):
    result = run_main(alg, overrides, str(tmp_path), env=env)
    assert_one_line_error(result, *fragments)
    assert not sacred_runs(str(tmp_path)), "no sacred run should start"


@pytest.mark.parametrize(
    "overrides, fragments",
    [
        (["env_args.key=lbforaging:Foraging-8x8-2p-3f-v9"], ["Foraging-8x8-2p-3f-v9", "v3"]),
        (["env_args.key=nosuchpackage:Foo-v0"], ["nosuchpackage", "pip install"]),
        ([f"env_args.key={LBF}", "env_args.bogus_arg=3"], ["bogus_arg"]),
        ([f"env_args.key={LBF}", "learner=nope"], ["'nope'", "ppo_learner"]),
        ([f"env_args.key={LBF}", "critic_type=nope"], ["'nope'", "cv_critic"]),
        ([f"env_args.key={LBF}", "runner=episode", "batch_size_run=1", "env_args.time_limit=0"], ["time_limit"]),
        ([f"env_args.key={LBF}", "checkpoint_path=/no/such/dir"], ["/no/such/dir"]),
    ],
)
def test_errors_inside_the_run_mark_it_failed(overrides, fragments, tmp_path):
    result = run_main("mappo", overrides, str(tmp_path))
    assert_one_line_error(result, *fragments)
    (run_dir,) = sacred_runs(str(tmp_path))
    assert read_json(os.path.join(run_dir, "run.json"))["status"] == "FAILED"
