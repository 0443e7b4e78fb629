"""The installer on an EPyMARL-shaped checkout: what it adds, idempotence, byte-for-byte uninstall,
refusals (one line, nothing changed), and the import renaming of the copied core."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lookahead_epymarl.configs import ALGORITHMS, KEYS_EPYMARL_DECIDES, top_level_entries
from lookahead_epymarl.errors import PluginError
from lookahead_epymarl.vendoring import core_top_level_names, rewrite_imports
from tests.plugin.conftest import REPO, SCRIPT, snapshot
from tests.support import processes


def plugin(command: str, root: Path) -> subprocess.CompletedProcess:
    return processes.run([sys.executable, str(SCRIPT), command, str(root)], capture_output=True, text=True, timeout=60)


def run_python(code: str, cwd: Path) -> subprocess.CompletedProcess:
    return processes.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_install_twice_equals_once_and_uninstall_restores_every_byte(epymarl_shaped):
    before = snapshot(epymarl_shaped)
    first = plugin("install", epymarl_shaped)
    assert first.returncode == 0, first.stderr
    once = snapshot(epymarl_shaped)
    assert plugin("install", epymarl_shaped).returncode == 0
    assert snapshot(epymarl_shaped) == once

    added = once.keys() - before.keys()
    assert {f"src/config/algs/{name}.yaml" for name in ALGORITHMS} <= added
    assert "src/lookahead_plugin/learners/lookahead_learner.py" in added
    assert "src/lookahead_plugin/epymarl/learner.py" in added
    assert "src/lookahead_plugin/main.py" not in added  # EPyMARL's main runs everything
    edited = {path for path in before if before[path] != once[path]}
    assert edited == {"src/learners/__init__.py", "src/controllers/__init__.py"}

    run_python("import learners, controllers", epymarl_shaped / "src")  # leaves __pycache__ folders behind
    result = plugin("uninstall", epymarl_shaped)
    assert result.returncode == 0, result.stderr
    assert snapshot(epymarl_shaped) == before
    assert not (epymarl_shaped / "src" / "lookahead_plugin").exists()
    again = plugin("uninstall", epymarl_shaped)
    assert again.returncode == 0 and "nothing to uninstall" in again.stdout


def test_registries_keep_epymarls_entries_and_gain_the_plugins(epymarl_shaped):
    assert plugin("install", epymarl_shaped).returncode == 0
    code = (
        "import sys, learners, controllers\n"
        "print(sorted(learners.REGISTRY), sorted(controllers.REGISTRY))\n"
        "print(learners.REGISTRY['ppo_learner'] is learners.PPOLearner, 'torch' in sys.modules)\n"
    )
    result = run_python(code, epymarl_shaped / "src")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "['happo_learner', 'lookahead_learner', 'ppo_learner'] ['basic_mac', 'happo_mac', 'lookahead_mac']",
        "True False",  # EPyMARL's own entry untouched; registering loads none of the plugin's code
    ]


def test_the_copied_core_imports_only_itself(epymarl_shaped):
    """The adapter and the core import under lookahead_plugin only: no module of a core top-level name
    (which would be EPyMARL's own, e.g. its components.episode_buffer) gets imported."""
    assert plugin("install", epymarl_shaped).returncode == 0
    names = core_top_level_names(REPO / "src")
    code = (
        "import sys\n"
        "import lookahead_plugin.epymarl.learner\n"
        f"leaked = sorted(m for m in sys.modules if m.split('.')[0] in {names!r})\n"
        "print(leaked)\n"
    )
    result = run_python(code, epymarl_shaped / "src")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_installed_configs_define_every_core_key_once(epymarl_shaped):
    assert plugin("install", epymarl_shaped).returncode == 0
    core = top_level_entries((REPO / "src/config/default.yaml").read_text())
    epymarl = top_level_entries((epymarl_shaped / "src/config/default.yaml").read_text())
    for name in ALGORITHMS:
        text = (epymarl_shaped / f"src/config/algs/{name}.yaml").read_text()
        keys = [line.split(":")[0] for line in text.splitlines() if line[:1].isalpha()]
        assert len(keys) == len(set(keys)), f"{name}.yaml defines a key twice"
        missing = core.keys() - set(keys) - epymarl.keys() - set(KEYS_EPYMARL_DECIDES)
        assert not missing, f"{name}.yaml lacks {sorted(missing)}: `with` could not set them"
        assert "env_args" not in keys  # the user's env config decides the env


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda root: (root / "src/run.py").unlink(), "is not an EPyMARL checkout: src/run.py missing"),
        (lambda root: (root / "src/learners/__init__.py").write_text("LEARNERS = {}\n"),
         "src/learners/__init__.py has an unexpected shape: no module-level 'REGISTRY = ...'"),
        (lambda root: (root / "src/controllers/__init__.py").write_text('REGISTRY = {"happo_mac": None}\n'),
         "src/controllers/__init__.py already registers 'happo_mac'"),
        (lambda root: (root / "src/config/algs/happo.yaml").write_text("lr: 1\n"),
         "src/config/algs/happo.yaml exists already and was not installed by the plugin"),
    ],
    ids=["not-epymarl", "registry-shape", "name-taken", "config-in-the-way"],
)
def test_install_refuses_with_one_line_and_changes_nothing(epymarl_shaped, damage, message):
    damage(epymarl_shaped)
    before = snapshot(epymarl_shaped)
    result = plugin("install", epymarl_shaped)
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert snapshot(epymarl_shaped) == before


def test_uninstall_refuses_to_lose_edits_made_after_the_install(epymarl_shaped):
    assert plugin("install", epymarl_shaped).returncode == 0
    tuned = epymarl_shaped / "src/config/algs/lookahead_mappo.yaml"
    tuned.write_text(tuned.read_text() + "# my tuning\n")
    stray = epymarl_shaped / "src/lookahead_plugin/notes.txt"
    stray.write_text("mine")
    before = snapshot(epymarl_shaped)
    result = plugin("uninstall", epymarl_shaped)
    assert result.returncode == 2 and "lookahead_mappo.yaml was edited since the install" in result.stderr
    assert snapshot(epymarl_shaped) == before
    tuned.write_text(tuned.read_text().replace("# my tuning\n", ""))
    result = plugin("uninstall", epymarl_shaped)
    assert result.returncode == 2 and "src/lookahead_plugin/notes.txt was not installed by the plugin" in result.stderr
    stray.unlink()
    assert plugin("uninstall", epymarl_shaped).returncode == 0


def test_rewrite_imports_renames_import_statements_only():
    renames = {"components": "lookahead_plugin.components", "utils": "lookahead_plugin.utils"}
    source = (
        '"""Docs: from components import x stays text."""\n'
        "from components.episode_buffer import EpisodeBatch  # η\n"
        "import utils.config as config, os\n"
        "from componentsx import y\n"
        "def f():\n"
        "    from utils import logging\n"
    )
    assert rewrite_imports(source, renames, "m.py") == (
        '"""Docs: from components import x stays text."""\n'
        "from lookahead_plugin.components.episode_buffer import EpisodeBatch  # η\n"
        "import lookahead_plugin.utils.config as config, os\n"
        "from componentsx import y\n"
        "def f():\n"
        "    from lookahead_plugin.utils import logging\n"
    )
    with pytest.raises(PluginError, match="m.py:1: 'import utils.config' binds a top-level name"):
        rewrite_imports("import utils.config\n", renames, "m.py")
