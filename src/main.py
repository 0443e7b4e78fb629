"""Command line, as in EPyMARL:

    python src/main.py --config=ALG --env-config=ENV with key=value a.b=value ...

The config is merged (``utils.config``) and checked (``experiment.config_checks``: value ranges, registry
names, combinations) before sacred creates a run directory, so a bad name, key or value stops with
one line naming it and what is allowed (exit code 2). The run itself is a sacred
``Experiment("pymarl")`` observed by sacred's file observer, with its JSON files replaced atomically
(``utils.results_observer``), in ``<local_results_path>/sacred/<name>/<env key>/<id>/``; an error
inside it is recorded there as FAILED and printed as one line (exit code 1), as is a non-finite
loss, gradient or parameter in a learner (``utils.finite_checks``). Ctrl-C and SIGTERM stop the run
in order (``utils.stop_signals``): status INTERRUPTED, env workers closed, exit code 130 or 143; a
second signal exits at once.
A run killed outright (``kill -9``) stays RUNNING in its ``run.json``; the process it records there
(``host.process``) lets the tools see it as DEAD (``utils.run_state``).
"""

from __future__ import annotations

import os
import sys
import warnings

# sacred 0.8 still imports pkg_resources; its deprecation notice is not the user's concern.
warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
# Runs as a script (`python src/main.py`), like EPyMARL: make the sibling packages importable.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from sacred import SETTINGS, Experiment  # noqa: E402
from sacred.host_info import host_info_gatherer  # noqa: E402
from sacred.utils import apply_backspaces_and_linefeeds  # noqa: E402

from envs import EnvArgsError  # noqa: E402
from experiment.config_checks import VALUE_RULES, check_config  # noqa: E402
from run import env_label, run  # noqa: E402
from runners.env_pool import EnvWorkerError  # noqa: E402
from utils.config import ConfigError, apply_default_env, apply_overrides, load_config, parse_overrides  # noqa: E402
from utils.finite_checks import NonFiniteError  # noqa: E402
from utils.logging import get_console_logger  # noqa: E402
from utils.results_observer import AtomicFileStorageObserver  # noqa: E402
from utils.run_state import process_identity  # noqa: E402
from utils.stop_signals import handled as stop_signals_handled  # noqa: E402

SETTINGS["CAPTURE_MODE"] = "fd"  # cout.txt gets everything printed, subprocesses included
USER_ERRORS = (ConfigError, EnvArgsError)
RUN_ERRORS = (EnvWorkerError, NonFiniteError)  # failures of the run itself, told in one line


def split_command_line(argv: list[str]) -> tuple[str | None, str | None, list[str]]:
    """``(alg, env, ["k=v", ...])`` from ``--config=ALG --env-config=ENV with k=v ...``."""
    alg = env = None
    overrides: list[str] = []
    seen_with = False
    for token in argv:
        if seen_with:
            overrides.append(token)
        elif token == "with":
            seen_with = True
        elif token.startswith("--config="):
            alg = token.split("=", 1)[1]
        elif token.startswith("--env-config="):
            env = token.split("=", 1)[1]
        else:
            raise ConfigError(
                f"unexpected argument '{token}'; usage: python src/main.py --config=ALG --env-config=ENV with key=value ..."
            )
    return alg, env, overrides


def build_config(argv: list[str]) -> dict:
    """The merged config of the command line, checked as far as it can be without an env."""
    alg, env, tokens = split_command_line(argv)
    config = apply_default_env(apply_overrides(load_config(alg, env), parse_overrides(tokens), VALUE_RULES))
    check_config(config)
    return config


def make_experiment(config: dict) -> Experiment:
    # run.json's host.process: how search.py and plot_results.py tell a killed run from a live one
    experiment = Experiment("pymarl", save_git_info=False,
                            additional_host_info=[host_info_gatherer("process")(process_identity)])
    experiment.logger = get_console_logger()
    experiment.captured_out_filter = apply_backspaces_and_linefeeds
    results = os.path.join(config["local_results_path"], "sacred", config["name"], env_label(config))
    experiment.observers.append(AtomicFileStorageObserver(results))
    experiment.add_config(config)
    experiment.main(run)
    return experiment


def main(argv: list[str]) -> int:
    logger = get_console_logger()
    with stop_signals_handled():
        try:
            experiment = make_experiment(build_config(argv))
            experiment.run()
        except USER_ERRORS as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        except RUN_ERRORS as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        except KeyboardInterrupt as interrupt:
            signal_name = getattr(interrupt, "signal_name", "SIGINT")
            logger.warning("Interrupted by %s: the sacred run is marked INTERRUPTED; saved checkpoints are complete",
                           signal_name)
            return getattr(interrupt, "exit_code", 130)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
