"""Our HAPPO's training speed beside HARL's own, side by side: env steps per second on HalfCheetah 2x3
with HARL's tuned config, tests and evaluation excluded, the two alternating on one machine.

* Ours: ``src/main.py --config=happo_harl --env-config=mamujoco with t_max=T seed=S`` (10 envs x
  200-step segments, 15 epochs, ...); its last ``train_steps_per_second`` (env steps over the
  training loop's wall time less its test episodes: start-up excluded).
* HARL: ``examples/train.py --load_config tuned_configs/mamujoco/HalfCheetah-v2-2x3/happo/config.json``
  with ``n_rollout_threads 10``, ``torch_threads 2``, ``cuda False``, ``use_eval False``,
  ``num_env_steps T``, ``seed S`` (its anchor run's settings); its last printed FPS (env steps over
  the wall time since its logger started: start-up excluded, no evaluation).

HARL's MaMuJoCo wrapper needs mujoco-py and the old gym, which this machine does not have. Its
module ``harl.envs.mamujoco.multiagent_mujoco.mujoco_multi`` is replaced, inside the HARL process
only, by ``HARL_ENV_SHIM`` below (written here, over gymnasium-robotics' HalfCheetah-v5 2x3, the
env our runs use), with HARL's conventions: agent i observes the state with its one-hot id, z-scored
per sample; the critic the z-scored state; the team reward for each agent; ``bad_transition`` at the
time limit; a seed applied at the next reset. HARL's files are not touched: the launcher puts the
shim into ``sys.modules`` and runs ``examples/train.py``. HARL needs ``setproctitle``,
``tensorboardX`` and ``absl-py`` beside our requirements (``--harl-pythonpath`` adds a folder
holding them).

Each round runs both, the order swapping every round; the report gives per-run figures, medians and
their ratio. Command that produced ``benchmarks/results/harl_speed.{json,csv,png}``:

    python benchmarks/harl_speed.py --harl /tmp/harl --harl-pythonpath /tmp/harl_deps --rounds 4
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

from median_bars import plot_median_bars

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HARL_CONFIG = "tuned_configs/mamujoco/HalfCheetah-v2-2x3/happo/config.json"

HARL_ENV_SHIM = '''
import numpy as np
from gymnasium.spaces import Box
from gymnasium_robotics import mamujoco_v1


def _zscore(x):
    return (x - np.mean(x)) / np.std(x)


class MujocoMulti:
    """HARL's MaMuJoCo env interface over gymnasium-robotics (state-based observations)."""

    def __init__(self, env_args):
        self.episode_limit = env_args.get("episode_limit", 1000)
        self.env = mamujoco_v1.parallel_env(env_args["scenario"].split("-")[0], env_args["agent_conf"],
                                            agent_obsk=0, max_episode_steps=self.episode_limit)
        self.agents = self.env.possible_agents
        self.n_agents = len(self.agents)
        self.pending_seed = None
        self.env.reset()
        n_state = self.env.state().shape[0]
        self.observation_space = [Box(-10, 10, (n_state + self.n_agents,)) for _ in self.agents]
        self.share_observation_space = [Box(-10, 10, (n_state,)) for _ in self.agents]
        self.action_space = tuple(self.env.action_space(agent) for agent in self.agents)
        self.ids = np.eye(self.n_agents, dtype=np.float32)

    def seed(self, seed):
        self.pending_seed = seed

    def _observe(self):
        state = self.env.state()
        obs = [_zscore(np.concatenate([state, agent_id])) for agent_id in self.ids]
        share_obs = _zscore(state)
        return obs, [share_obs for _ in self.agents]

    def reset(self, **kwargs):
        self.env.reset(seed=self.pending_seed)
        self.pending_seed = None
        obs, share_obs = self._observe()
        return obs, share_obs, None

    def step(self, actions):
        """As HARL's wrapper: the agents' actions joined into the single-agent env's (by
        gymnasium-robotics' partition), one step of that env, then the observations."""
        local = {agent: actions[i][: self.action_space[i].shape[0]] for i, agent in enumerate(self.agents)}
        _, reward, terminated, truncated, _ = self.env.single_agent_env.step(
            self.env.map_local_actions_to_global_action(local))
        done = bool(terminated or truncated)
        info = {"bad_transition": bool(truncated and not terminated)} if done else {}
        obs, share_obs = self._observe()
        return (obs, share_obs, [[float(reward)]] * self.n_agents, [done] * self.n_agents,
                [dict(info) for _ in self.agents], None)

    def get_avail_actions(self):
        return None

    def render(self, **kwargs):
        pass

    def close(self):
        self.env.close()
'''

HARL_LAUNCHER = '''
import os, runpy, sys, types
import harl_env_shim
package = types.ModuleType("harl.envs.mamujoco.multiagent_mujoco")
package.__path__ = []
package.MujocoMulti = harl_env_shim.MujocoMulti
sys.modules[package.__name__] = package
sys.modules[package.__name__ + ".mujoco_multi"] = harl_env_shim
sys.argv = ["examples/train.py", *sys.argv[1:]]
runpy.run_path("examples/train.py", run_name="__main__")
'''


def ours_command(t_max: int, seed: int, results: str) -> list[str]:
    return [sys.executable, os.path.join(REPO, "src", "main.py"), "--config=happo_harl", "--env-config=mamujoco",
            "with", f"t_max={t_max}", f"seed={seed}", "use_cuda=False", f"local_results_path={results}"]


def harl_command(launcher: str, t_max: int, seed: int, log_dir: str) -> list[str]:
    return [sys.executable, launcher, "--load_config", HARL_CONFIG, "--exp_name", "speed",
            "--num_env_steps", str(t_max), "--n_rollout_threads", "10", "--cuda", "False", "--torch_threads", "2",
            "--use_eval", "False", "--seed", str(seed), "--log_dir", log_dir]


def timed(command: list[str], cwd: str, pythonpath: list[str], pattern: str) -> dict:
    """Run ``command``; its wall time and the last number its output matched with ``pattern``."""
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join([*pythonpath, *filter(None, [environment.get("PYTHONPATH")])])
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{shlex.join(command)} failed:\n{result.stderr[-3000:]}")
    found = re.findall(pattern, result.stdout + result.stderr)
    if not found:
        raise RuntimeError(f"{shlex.join(command)} printed no match for {pattern!r}:\n{result.stdout[-2000:]}")
    return {"wall_seconds": wall, "steps_per_second": float(found[-1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--harl", required=True, help="a HARL checkout (holding examples/train.py)")
    parser.add_argument("--harl-pythonpath", default="", help="extra folders for HARL's imports (os.pathsep-separated)")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each, alternating")
    parser.add_argument("--t-max", type=int, default=100000, help="env steps per run")
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--out", default=os.path.join(REPO, "benchmarks", "results"), help="output directory")
    options = parser.parse_args()
    if not os.path.isfile(os.path.join(options.harl, "examples", "train.py")):
        parser.error(f"--harl {options.harl!r} holds no examples/train.py (a HARL checkout does)")

    scratch = tempfile.mkdtemp(prefix="harl-speed-")
    with open(os.path.join(scratch, "harl_env_shim.py"), "w") as f:
        f.write(HARL_ENV_SHIM)
    launcher = os.path.join(scratch, "run_harl.py")
    with open(launcher, "w") as f:
        f.write(HARL_LAUNCHER)
    harl_path = [scratch, os.path.abspath(options.harl), *filter(None, options.harl_pythonpath.split(os.pathsep))]

    def run(impl: str) -> dict:
        if impl == "ours":
            return timed(ours_command(options.t_max, options.seed, scratch), REPO, [],
                         r"train_steps_per_second:\s+([0-9.]+)")
        return timed(harl_command(launcher, options.t_max, options.seed, os.path.join(scratch, "harl")), options.harl,
                     harl_path, r"FPS (\d+)\.")

    load_before = os.getloadavg()[0]
    rows = []
    for round_ in range(options.rounds):
        for impl in ("ours", "harl") if round_ % 2 == 0 else ("harl", "ours"):
            rows.append({"impl": impl, "round": round_, "t_max": options.t_max, **run(impl)})
            print(f"round {round_} {impl:5s}: {rows[-1]['steps_per_second']:7.0f} env steps/s "
                  f"({rows[-1]['wall_seconds']:.0f} s whole process)", flush=True)
    load_after = os.getloadavg()[0]

    medians = {i: statistics.median(r["steps_per_second"] for r in rows if r["impl"] == i) for i in ("ours", "harl")}
    ratio = medians["ours"] / medians["harl"]
    print("\n| impl | round | env steps/s (training) | whole process s |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['impl']} | {r['round']} | {r['steps_per_second']:.0f} | {r['wall_seconds']:.1f} |")
    print(f"medians: ours {medians['ours']:.0f}, HARL {medians['harl']:.0f} env steps/s; ratio {ratio:.2f}x")
    print(f"1-minute load average: {load_before:.2f} before, {load_after:.2f} after ({os.cpu_count()} CPUs)")

    os.makedirs(options.out, exist_ok=True)
    stem = os.path.join(options.out, "harl_speed")
    command = shlex.join(["python", os.path.relpath(sys.argv[0], REPO), *sys.argv[1:]])
    with open(stem + ".json", "w") as f:
        json.dump({"command": command, "rows": rows, "medians": medians, "ratio_ours_over_harl": ratio,
                   "cpu_count": os.cpu_count(), "load_average_1min": {"before": load_before, "after": load_after}},
                  f, indent=2)
    with open(stem + ".csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    plot_median_bars(rows, medians, stem + ".png", "env steps / s (training, tests excluded)",
                     f"HAPPO, HalfCheetah 2x3, HARL's tuned config\n{options.t_max} steps per run, alternated")
    print(f"wrote {stem}.{{json,csv,png}}")


if __name__ == "__main__":
    main()
