"""scripts/import_graph.py: the project's imports have no cycle and follow the layers; and the
check finds a cycle, a function-local or type-only upward import in a small made-up tree."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

import import_graph  # noqa: E402


def test_the_projects_imports_have_no_cycle_and_follow_the_layers():
    assert import_graph.problems() == []


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_cycles_and_upward_imports_are_found_wherever_they_hide(tmp_path):
    write(tmp_path, {
        "utils/__init__.py": "",
        "utils/config.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from learners import Rule\n",
        "learners/__init__.py": "from learners.a import A\n",
        "learners/a.py": "def build():\n    from learners import REGISTRY  # hidden in a function\n",
        "modules/__init__.py": "import utils.config\n",
    })
    found = import_graph.problems({tmp_path: ""})
    assert any(line.startswith("cycle: learners -> learners.a -> learners") for line in found), found
    assert "against the layers: utils.config (layer 0) imports learners (layer 4)" in found
    assert not any("modules" in line for line in found)  # a downward import is fine
