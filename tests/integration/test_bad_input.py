"""Bad input ends with one clear line naming the bad value and what is allowed; no traceback.

A value that the config alone shows to be bad stops before sacred creates a run directory: a few
representative ones go through ``python src/main.py`` (a subprocess, as a user runs it), the rest
through ``main.main`` in this process (the same code path, without the interpreter start-up).
Errors only the env can find (a bad env key or argument) stop inside the run, which is then FAILED.
"""

from __future__ import annotations

import os

import pytest

import main
from tests.integration.helpers import LBF, read_json, run_main, sacred_runs
from utils.config import available


def lbf(*overrides: str) -> list[str]:
    """``overrides`` after the LBF env key (gymma's yaml leaves the key null, itself an error)."""
    return [f"env_args.key={LBF}", *overrides]


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
        ("mapo", "gymma", [], ["'mapo'", f"choose from: {', '.join(available('algs'))}"]),
        ("mappo", "gymma", ["t_max"], ["'t_max'", "key=value"]),
        ("mappo", "gymma", lbf("gamma=1.5"), ["bad value for 'gamma': 1.5; allowed: a number in [0, 1]"]),
        ("happo", "gymma", lbf("agent=rnn"), ["bad value for 'agent': 'rnn'", "mlp_ns, rnn_ns"]),
    ],
)
def test_config_errors_stop_before_the_run(alg, env, overrides, fragments, tmp_path):
    result = run_main(alg, overrides, str(tmp_path), env=env)
    assert_one_line_error(result, *fragments)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr  # nothing else on stderr
    assert not os.path.exists(tmp_path / "sacred"), "no run directory should be created"


# alg, env, overrides, fragments of the error line
IN_PROCESS_CASES = [
        ("mappo", "gym", [], ["'gym'", f"choose from: {', '.join(available('envs'))}"]),
        ("mappo", "gymma", ["lrr=0.1"], ["'lrr'", "did you mean: lr"]),
        ("mappo", "gymma", lbf("lr=abc"), ["bad value for 'lr': 'abc'; allowed: a number > 0"]),
        ("mappo", "gymma", lbf("use_cuda=3"), ["'use_cuda'", "expected a bool"]),
        ("mappo", "gymma", [], ["bad value for 'env_args.key': None", "lbforaging:Foraging-8x8-2p-3f-v3"]),
        ("mappo", "gymma", lbf("lr=-1"), ["bad value for 'lr': -1.0; allowed: a number > 0"]),
        ("mappo", "gymma", lbf("t_max=-5"), ["bad value for 't_max': -5; allowed: an integer >= 0"]),
        ("mappo", "gymma", lbf("t_max=1.5"), ["bad value for 't_max': 1.5; allowed: an integer >= 0"]),
        ("mappo", "gymma", lbf("actor_lr=fast"), ["bad value for 'actor_lr': 'fast'; allowed: null (use lr) or a number > 0"]),
        ("mappo", "gymma", lbf("mini_batches=0"), ["bad value for 'mini_batches': 0; allowed: an integer >= 1"]),
        ("mappo", "gymma", lbf("seed=-1"), ["bad value for 'seed': -1"]),
        ("mappo", "gymma", lbf("env_args.time_limit=0"), ["bad value for 'env_args.time_limit': 0; allowed: an integer >= 1"]),
        ("mappo", "gymma", lbf("learner=nope"), ["bad value for 'learner': 'nope'", "ppo_learner"]),
        ("mappo", "gymma", lbf("critic_type=nope"), ["bad value for 'critic_type': 'nope'", "cv_critic"]),
        ("mappo", "gymma", lbf("value_loss=l1"), ["bad value for 'value_loss': 'l1'; allowed: one of huber, mse"]),
        ("mappo", "gymma", lbf("buffer_size=5"), ["bad value for 'buffer_size': 5", "batch_size (10)"]),
        ("mappo", "gymma", lbf("agent_output_type=q"), ["bad value for 'agent_output_type': 'q'", "pi_logits"]),
        ("mappo_ns", "gymma", lbf("agent=rnn"), ["bad value for 'agent': 'rnn'", "mac=non_shared_mac"]),
        ("happo", "mamujoco", ["mac=basic_mac"], ["bad value for 'mac': 'basic_mac'", "happo_learner"]),
        ("mappo", "gymma", lbf("rollout_length=50"), ["bad value for 'rollout_length': 50", "feed-forward"]),
        ("mappo", "gymma", lbf("evaluate=True"), ["bad value for 'checkpoint_path': ''", "evaluate=True"]),
        ("mappo", "gymma", lbf("checkpoint_path=/no/such/dir"), ["bad value for 'checkpoint_path': '/no/such/dir'"]),
        ("lookahead_mappo", "gymma", lbf("store_log_probs=False"), ["bad value for 'store_log_probs': False",
                                                                    "mu would silently be pi^k"]),
        ("lookahead_mappo", "gymma", lbf("runner=imagined"), ["bad value for 'runner': 'imagined'", "episode, parallel"]),
]


@pytest.mark.parametrize(
    "alg, env, overrides, fragments",
    IN_PROCESS_CASES,
    ids=[f"{alg}-{env}-{' '.join(overrides[-1:])}" for alg, env, overrides, _ in IN_PROCESS_CASES],
)
def test_config_errors_in_process(alg, env, overrides, fragments, tmp_path, capsys):
    """``main.main`` refuses each with exit code 2 and one line, before any run directory exists."""
    argv = [f"--config={alg}", f"--env-config={env}", "with", f"local_results_path={tmp_path}", *overrides]
    assert main.main(argv) == 2
    captured = capsys.readouterr()
    (line,) = captured.err.strip().splitlines()
    assert line.startswith("error: ") and "Traceback" not in captured.err + captured.out
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    assert not os.path.exists(tmp_path / "sacred")


@pytest.mark.parametrize(
    "overrides, fragments",
    [
        (["env_args.key=lbforaging:Foraging-8x8-2p-3f-v9"], ["Foraging-8x8-2p-3f-v9", "v3"]),
        (["env_args.key=nosuchpackage:Foo-v0"], ["nosuchpackage", "pip install"]),
        (lbf("env_args.bogus_arg=3"), ["bogus_arg"]),
    ],
)
def test_errors_inside_the_run_mark_it_failed(overrides, fragments, tmp_path):
    result = run_main("mappo", overrides, str(tmp_path))
    assert_one_line_error(result, *fragments)
    (run_dir,) = sacred_runs(str(tmp_path))
    assert read_json(os.path.join(run_dir, "run.json"))["status"] == "FAILED"


def test_the_env_model_is_refused_on_an_env_that_publishes_none(tmp_path):
    """``lka_model=env`` needs the env's own batched dynamics (the toy game has them, LBF has not):
    one line naming the value, the choice and the env, when the learner is built."""
    overrides = lbf("lka_model=env", "runner=episode", "batch_size_run=1", "batch_size=1", "buffer_size=1", "t_max=10")
    result = run_main("lookahead_mappo", overrides, str(tmp_path))
    assert_one_line_error(result, "bad value for 'lka_model': 'env'; allowed: learned", LBF, "toy game")
