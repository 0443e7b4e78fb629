"""A minimal EPyMARL-shaped checkout to install the plugin into, and a snapshot of a tree's files."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "epymarl_plugin.py"
if str(REPO) not in sys.path:  # lookahead_epymarl lives at the repository root
    sys.path.insert(0, str(REPO))

EPYMARL_SHAPED_FILES = {
    "src/main.py": "from run import run\n",
    "src/run.py": "from learners import REGISTRY as le_REGISTRY\n",
    "src/components/__init__.py": "",
    "src/components/episode_buffer.py": "class EpisodeBatch:\n    pass\n",
    # EPyMARL's shape: an empty dict filled entry by entry (and, as upstream's, no final newline)
    "src/learners/__init__.py": 'class PPOLearner:\n    pass\n\n\nREGISTRY = {}\nREGISTRY["ppo_learner"] = PPOLearner',
    "src/controllers/__init__.py": 'REGISTRY = {}\n\n\nclass BasicMAC:\n    pass\n\n\nREGISTRY["basic_mac"] = BasicMAC\n',
    "src/config/default.yaml": 'runner: "episode"\nmac: "basic_mac"\nlr: 0.0005 # Learning rate\nenv_args: {}\n',
    "src/config/algs/mappo.yaml": 'learner: "ppo_learner"\n',
}


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``root`` (but Python caches): relative path -> (contents, mode)."""
    return {
        path.relative_to(root).as_posix(): (path.read_bytes(), path.stat().st_mode)
        for path in sorted(root.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


@pytest.fixture
def epymarl_shaped(tmp_path: Path) -> Path:
    root = tmp_path / "epymarl"
    for relative, text in EPYMARL_SHAPED_FILES.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    return root
