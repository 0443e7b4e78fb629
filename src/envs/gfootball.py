"""Google Research Football (gfootball 2.10.2) for ``GymmaWrapper``.

Key form ``gfootball:<scenario>``, e.g. ``gfootball:academy_3_vs_1_with_keeper``,
``gfootball:academy_counterattack_hard``, ``gfootball:academy_corner``: any scenario module of
``gfootball.scenarios`` (all academy scenarios; the 11 vs 11 games too). gfootball is imported
only when such a key is built; install it with ``scripts/install_football.sh``.

What this module adds on top of ``football_env.create_environment``:

* **Agents.** ``env_args.n_agents`` left-team players are controlled, one agent each
  (``number_of_left_players_agent_controls``); the right team is the built-in AI. Defaults:
  ``PAPER_AGENTS`` for the Lookahead paper's scenarios (3 vs 1: 3, counterattack hard: 4,
  corner: 4) and HARL's others, else every left outfield (non-goalkeeper) player. Which player
  an agent moves is the engine's choice and may change during an episode (its "active" player).
* **Observations.** ``simple115v2`` (``OBS_SIZE`` = 115 floats per agent; the only
  representation accepted, since the state is built from it). Actions: ``Discrete(19)`` each
  (gfootball's default action set), all always available.
* **Global state.** gfootball gives none. Ours, ``state_size(n) = 104 + 11 n`` floats (137 for
  3 agents, 148 for 4): the 104 entries of the simple115 layout that all left-team agents share
  (player positions and directions of both teams, ball position, direction and owner, game
  mode; simple115 order, with its active-player block cut out), then each agent's 11-entry
  one-hot of the player it controls (zeros if none), in agent order. It is sliced from the
  simple115v2 observations, which gfootball builds from the raw observation
  (``env.unwrapped.observation()``) every step anyway, so it costs one small copy. (HARL's
  state has the same size: agent 0's full 115 vector plus the other agents' one-hots.)
  Every observation is a fixed gather from the state (``observation_map``), which the adapter
  publishes as ``state_to_observations()``, so a world model predicts the 104 + 11 n state
  entries, not n x 115 observations, and hands the policies exactly what the env would.
* **Rewards.** ``env_args.rewards``: ``"scoring,checkpoints"`` (default) or ``"scoring"``.
  gfootball gives one reward per agent: the scoring part (+1 when we score, -1 when they do)
  is the same for every agent; the checkpoint part (0.1 for each of 10 distance rings towards
  the goal, at most 1.0 per episode, the rest paid on scoring) is paid per agent, only while
  that agent's own player holds the ball. With ``common_reward`` the team reward is
  ``team_reward(rewards)`` (``env_args.team_reward``): ``"mean"`` (default) = the mean of the
  agents' rewards, i.e. the scoring reward counted once plus the agents' mean checkpoint
  reward (a scoring episode returns 2.0 for any number of agents, like single-agent GRF);
  ``"first"`` = agent 0's reward (what HARL's GRF wrapper gives every agent). Summing would
  count every goal ``n_agents`` times, so ``reward_scalarisation`` does not apply here. With
  ``common_reward=False`` each agent gets its own gfootball reward.
* **Score rate.** Every step's info holds ``score_reward`` (gfootball's scoring reward of the
  step) and ``score_rate``: 1.0 once our team has scored in the episode, else 0.0. The runner
  logs the final step's values as ``score_rate_mean`` and ``test_score_rate_mean`` (the
  paper's metric: the fraction of episodes in which we score).
* **Episode ends.** gfootball 2.10.2 speaks the old gym API (``reset() -> obs``,
  ``step() -> (obs, reward, done, info)``). Academy games end on a goal, when the ball goes
  out of play, or (most scenarios) on a change of possession: those are terminations. A game
  that runs out of time (``game_duration``, 400 steps in every academy scenario; the raw
  observation's ``steps_left`` reaches 0) without a goal is a truncation, as is
  ``env_args.time_limit`` (counted by ``GymmaWrapper``; the paper and HARL's GRF runs use 100,
  which ends episodes early).
* **Seeds.** The engine draws its randomness from ``game_engine_random_seed``, which gfootball
  otherwise takes from Python's global ``random``. Here a numpy generator seeded with the env
  seed (``reset(seed=...)``, or the constructor's) gives every episode its own engine seed (and
  the team-processing order gfootball derives from it), so the same seed and actions reproduce
  the same games and successive episodes differ. The kick-off itself is fixed by the scenario.

Other ``env_args`` entries go to ``create_environment`` (e.g. ``write_video``, ``logdir``,
``render``, ``other_config_options``); the ones fixed here are rejected (``FIXED_ARGS``).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import warnings
from types import ModuleType
from typing import Any, Sequence

import gymnasium
import numpy as np
from gymnasium import spaces as gym_spaces

from envs.errors import EnvArgsError, EnvKeyError
from envs.state_to_obs import StateToObservations

INSTALL_HINT = "install it with ./scripts/install_football.sh (builds gfootball 2.10.2; needs gym==0.25.2)"
"""How to get gfootball, for error messages (it has no wheels on the package registry)."""

OBS_SIZE = 115
"""Length of a simple115v2 observation."""

ACTIVE = slice(97, 108)
"""The active-player one-hot inside a simple115v2 observation (after 88 player entries, ball
position 3, ball direction 3, ball owner 3; followed by the game mode 7)."""

SHARED_SIZE = OBS_SIZE - (ACTIVE.stop - ACTIVE.start)
"""Entries of the simple115 layout that every left-team agent shares (104)."""

PAPER_AGENTS: dict[str, int] = {
    "academy_3_vs_1_with_keeper": 3,
    "academy_counterattack_hard": 4,
    "academy_corner": 4,
    "academy_counterattack_easy": 4,
    "academy_pass_and_shoot_with_keeper": 2,
    "academy_run_pass_and_shoot_with_keeper": 2,
}
"""Default controlled players: the Lookahead paper's three scenarios and HARL's other academy
choices. Other scenarios default to all left outfield players."""

REWARD_COMPONENTS = ("scoring", "checkpoints")
"""gfootball's reward components (``env_args.rewards`` is a comma list of them with scoring)."""

TEAM_REWARDS = ("mean", "first")
"""``env_args.team_reward`` choices: mean of the agents' rewards, or agent 0's (HARL)."""

FIXED_ARGS = (
    "env_name",
    "representation",
    "number_of_left_players_agent_controls",
    "number_of_right_players_agent_controls",
    "stacked",
    "channel_dimensions",
)
"""``create_environment`` arguments set by the key and this module, not by ``env_args``."""

MAX_ENGINE_SEED = 2**31 - 1
"""Engine seeds are drawn from ``[0, MAX_ENGINE_SEED)`` (gfootball itself uses ``[0, 2e9]``)."""


def state_size(n_agents: int) -> int:
    """Length of the global state for ``n_agents`` controlled players: ``104 + 11 n``."""
    return SHARED_SIZE + n_agents * (ACTIVE.stop - ACTIVE.start)


def observation_map(n_agents: int) -> StateToObservations:
    """The agents' simple115v2 observations ``[..., n_agents, 115]`` from global states
    ``[..., state_size(n_agents)]``, exact: the inverse of ``GFootballAdapter.get_state``. Agent
    ``i`` reads the shared entries before the active one-hot, its own one-hot (state entries
    ``104 + 11 i`` on), then the shared entries after the one-hot (the game mode)."""
    width = ACTIVE.stop - ACTIVE.start
    shared_before = list(range(ACTIVE.start))
    shared_after = list(range(ACTIVE.start, SHARED_SIZE))
    indices = [
        shared_before + list(range(SHARED_SIZE + i * width, SHARED_SIZE + (i + 1) * width)) + shared_after
        for i in range(n_agents)
    ]
    return StateToObservations(indices, state_size(n_agents), agent_id=False, norm_obs=False, exact=True)


def import_gfootball(key: str) -> ModuleType:
    """``gfootball.env`` (which registers nothing; it provides ``create_environment``).

    Raises:
        EnvKeyError: naming the key and the install script when gfootball (or gym) is missing
            or broken.
    """
    try:
        # gym 0.25.2 prints a notice (unmaintained, use gymnasium) to stderr on import: it is
        # known and would repeat in every env worker.
        with contextlib.redirect_stderr(io.StringIO()):
            return importlib.import_module("gfootball.env")
    except ModuleNotFoundError as err:
        missing = err.name or "gfootball"
        raise EnvKeyError(
            f"Cannot build env key {key!r}: module {missing!r} is not installed; "
            f"Google Research Football is an optional extra: {INSTALL_HINT}."
        ) from err
    except Exception as err:  # e.g. an engine library that does not load
        raise EnvKeyError(
            f"Cannot build env key {key!r}: importing gfootball raised {type(err).__name__}: {err}. "
            f"Reinstall it: {INSTALL_HINT}."
        ) from err


def is_scenario(name: str) -> bool:
    """Whether ``gfootball.scenarios.<name>`` is a scenario module (one with ``build_scenario``)."""
    if importlib.util.find_spec(f"gfootball.scenarios.{name}") is None:
        return False
    return callable(getattr(importlib.import_module(f"gfootball.scenarios.{name}"), "build_scenario", None))


def available_scenarios() -> list[str]:
    """Scenario names of the installed gfootball (modules of ``gfootball.scenarios``)."""
    from gfootball.env import scenario_builder

    return sorted(name for name in scenario_builder.all_scenarios() if is_scenario(name))


def check_scenario(key: str, scenario: str) -> None:
    """Fail cleanly on an unknown scenario (gfootball itself calls ``sys.exit(1)``).

    Raises:
        EnvKeyError: naming the key and listing the available scenarios.
    """
    if not is_scenario(scenario):
        raise EnvKeyError(
            f"Cannot build env key {key!r}: gfootball has no scenario {scenario!r}. "
            f"Available: {', '.join(available_scenarios())}. Key form: 'gfootball:<scenario>'."
        )


def left_team_sizes(scenario: str) -> tuple[int, int]:
    """``(players, outfield players)`` of the scenario's left team, read from its definition."""
    from gfootball.env import config as gf_config
    from gfootball.env import scenario_builder

    # A fixed engine seed keeps this look-up from drawing on Python's global `random`.
    team = gf_config.Config({"level": scenario, "game_engine_random_seed": 0}).ScenarioConfig().left_team
    goalkeeper = scenario_builder.Role.e_PlayerRole_GK
    return len(team), sum(1 for player in team if player.role != goalkeeper)


def parse_rewards(key: str, rewards: Any) -> str:
    """Check ``env_args.rewards`` (a comma list of ``REWARD_COMPONENTS`` including scoring).

    Raises:
        EnvArgsError: on anything else.
    """
    parts = [p.strip() for p in rewards.split(",")] if isinstance(rewards, str) else None
    if not parts or "scoring" not in parts or any(p not in REWARD_COMPONENTS for p in parts):
        raise EnvArgsError(
            f"env_args.rewards={rewards!r} for {key!r}: give a comma list of {REWARD_COMPONENTS} "
            "that includes 'scoring', e.g. 'scoring,checkpoints' (default) or 'scoring'."
        )
    return ",".join(parts)


class GFootballAdapter(gymnasium.Env):
    """A gfootball multi-agent game with the Tuple-space, 5-tuple protocol ``GymmaWrapper`` drives.

    Args:
        key: the env key, for error messages.
        scenario: gfootball scenario, e.g. ``"academy_3_vs_1_with_keeper"``.
        seed: seeds the engine seeds of the episodes (``None``: from OS entropy); a
            ``reset(seed=...)`` reseeds.
        n_agents: controlled left players (default: ``PAPER_AGENTS`` or all outfield players).
        rewards: ``"scoring,checkpoints"`` or ``"scoring"``.
        team_reward: ``"mean"`` or ``"first"`` (see the module docstring).
        **kwargs: passed to ``football_env.create_environment``. The first three arguments are
            positional-only so that ``env_args.scenario`` / ``env_args.seed`` cannot clash.

    Attributes:
        n_agents: controlled players.
        football_env: the wrapped gfootball env (old gym API).
    """

    metadata = {"render_modes": []}
    render_mode = None

    shared_reward = False
    """Agents' rewards differ (checkpoints are per agent): ``team_reward`` gives the team's."""

    def __init__(
        self,
        key: str,
        scenario: str,
        seed: int | None = None,
        /,
        n_agents: int | None = None,
        rewards: str = "scoring,checkpoints",
        team_reward: str = "mean",
        **kwargs: Any,
    ) -> None:
        fixed = sorted(set(kwargs) & set(FIXED_ARGS))
        if fixed:
            raise EnvArgsError(
                f"Do not pass env_args {fixed} for {key!r}: the key names the scenario, the "
                "representation is simple115v2 and env_args.n_agents sets the controlled players."
            )
        if team_reward not in TEAM_REWARDS:
            raise EnvArgsError(f"env_args.team_reward={team_reward!r} for {key!r}: choose one of {TEAM_REWARDS}.")
        rewards = parse_rewards(key, rewards)
        football = import_gfootball(key)
        check_scenario(key, scenario)
        n_players, n_outfield = left_team_sizes(scenario)
        if n_agents is None:
            n_agents = PAPER_AGENTS.get(scenario, max(n_outfield, 1))
        if isinstance(n_agents, bool) or not isinstance(n_agents, (int, np.integer)) or not 1 <= n_agents <= n_players:
            raise EnvArgsError(
                f"env_args.n_agents={n_agents!r} for {key!r}: give an int from 1 to {n_players} "
                f"(the scenario's left players)."
            )
        self.key = key
        self.scenario = scenario
        self.n_agents = int(n_agents)
        self._first = team_reward == "first"
        self._rng = np.random.default_rng(seed)
        options = dict(kwargs.pop("other_config_options", None) or {})
        # gfootball builds (and seeds) a first game at construction: from our seed too.
        options["game_engine_random_seed"] = self._draw_engine_seed()
        try:
            with warnings.catch_warnings():  # gym 0.25's notice that gfootball uses the old step API
                warnings.filterwarnings("ignore", message=".*old step API", category=DeprecationWarning)
                self.football_env = football.create_environment(
                    env_name=scenario,
                    representation="simple115v2",
                    rewards=rewards,
                    number_of_left_players_agent_controls=self.n_agents,
                    number_of_right_players_agent_controls=0,
                    other_config_options=options,
                    **kwargs,
                )
        except TypeError as err:  # an env_args entry create_environment does not take
            raise EnvArgsError(f"Cannot build env key {key!r} with env_args {sorted(kwargs)}: {err}") from err
        self._core = self.football_env.unwrapped  # gfootball's FootballEnv: config and raw observations
        self._config = self._core._config

        # MultiDiscrete(nvec) for several agents, Discrete(n) for one.
        space = self.football_env.action_space
        n_actions = np.broadcast_to(np.atleast_1d(getattr(space, "nvec", getattr(space, "n", 0))), self.n_agents)
        self.observation_space = gym_spaces.Tuple(
            [gym_spaces.Box(-np.inf, np.inf, (OBS_SIZE,), np.float32) for _ in range(self.n_agents)]
        )
        self.action_space = gym_spaces.Tuple([gym_spaces.Discrete(int(n)) for n in n_actions])
        self._state_size = state_size(self.n_agents)
        self._state_to_obs = observation_map(self.n_agents)
        self._obs = np.zeros((self.n_agents, OBS_SIZE), dtype=np.float32)
        self._scored = False

    def _draw_engine_seed(self) -> int:
        """The next engine seed from our generator."""
        return int(self._rng.integers(MAX_ENGINE_SEED))

    # ------------------------------------------------------------------ protocol
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start a game with the next engine seed (``seed`` reseeds the generator first).

        Returns ``(obs, {})`` with ``obs`` the ``[n_agents, 115]`` simple115v2 observations.
        """
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        # Config values, read when gfootball builds the next game's scenario in reset().
        # gfootball derives `reverse_team_processing` (the order the engine processes the teams)
        # from the first game's seed and keeps it; deriving it from every game's own seed makes
        # reset(seed=s) replay the same games whatever the env played before.
        engine_seed = self._draw_engine_seed()
        self._config.update({"game_engine_random_seed": engine_seed, "reverse_team_processing": bool(engine_seed % 2)})
        self._set_obs(self.football_env.reset())
        self._scored = False
        return self._obs, {}

    def step(self, actions: Sequence[Any]) -> tuple[np.ndarray, list[float], bool, bool, dict[str, Any]]:
        """Step with one action index per agent (in agent order).

        Returns ``(obs, rewards, terminated, truncated, info)``: ``rewards`` one float per agent,
        ``info`` = ``{"score_reward", "score_rate"}`` (see the module docstring).
        """
        obs, reward, done, info = self.football_env.step(list(actions))
        self._set_obs(obs)
        score = float(info.get("score_reward", 0.0))
        if score > 0:
            self._scored = True
        truncated = bool(done) and score == 0 and self._out_of_time()
        info = {"score_reward": score, "score_rate": 1.0 if self._scored else 0.0}
        rewards = np.asarray(reward, dtype=np.float64).reshape(self.n_agents).tolist()
        return self._obs, rewards, bool(done) and not truncated, truncated, info

    def _out_of_time(self) -> bool:
        """Whether the game ended by its clock (``steps_left`` of the raw observation is 0)."""
        raw = self._core.observation()  # cached by gfootball for this step
        return bool(raw) and int(raw[0].get("steps_left", 1)) <= 0

    def _set_obs(self, obs: Any) -> None:
        """Keep the step's observations as a ``[n_agents, 115]`` float32 array (a single
        agent's ``(115,)`` observation included)."""
        self._obs = np.asarray(obs, dtype=np.float32).reshape(self.n_agents, OBS_SIZE)

    # ------------------------------------------------------------- extras
    def team_reward(self, rewards: Sequence[float]) -> float:
        """The team reward from the agents' rewards: their mean, or agent 0's with ``"first"``."""
        if self._first:
            return float(rewards[0])
        return float(sum(rewards)) / self.n_agents

    def get_state(self) -> np.ndarray:
        """The global state (``state_size(n_agents)`` floats): the shared simple115 entries, then
        each agent's active-player one-hot."""
        obs = self._obs
        state = np.empty(self._state_size, dtype=np.float32)
        state[: ACTIVE.start] = obs[0, : ACTIVE.start]
        state[ACTIVE.start : SHARED_SIZE] = obs[0, ACTIVE.stop :]
        state[SHARED_SIZE:] = obs[:, ACTIVE].reshape(-1)
        return state

    def get_state_size(self) -> int:
        """Length of ``get_state()``: ``104 + 11 n_agents``."""
        return self._state_size

    def state_to_observations(self) -> StateToObservations:
        """The exact map from ``get_state()`` to the agents' observations (``observation_map``);
        ``GymmaWrapper`` publishes it in the env info as ``"state_to_obs"``."""
        return self._state_to_obs

    def raw_observation(self) -> list[dict[str, Any]]:
        """gfootball's raw observation, one dict per controlled player (for tests and analysis)."""
        return self._core.observation()

    def render(self) -> Any:
        """Render through gfootball (pass ``render=True`` in env_args at construction)."""
        return self.football_env.render()

    def close(self) -> None:
        """Close the game (gfootball keeps the engine for reuse within the process)."""
        self.football_env.close()
