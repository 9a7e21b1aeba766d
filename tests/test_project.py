"""Project-level checks: the README's commands, CI, and the public API."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import terralearn

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section, flags=re.S)


def test_readme_has_two_commands_install_demo_and_tests():
    commands = _readme_commands()
    assert len(commands) == 2
    assert "terralearn demo" in commands[0] and "pip install" in commands[0]
    assert "pytest" in commands[1] and '".[test]"' in commands[1]


def test_ci_runs_exactly_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert _readme_commands()[1] in ci


def test_public_api_names_resolve():
    for name in terralearn.__all__:
        assert getattr(terralearn, name) is not None, name
    assert "open_image" in terralearn.__all__


def test_every_cli_command_module_imports():
    from terralearn.cli.main import COMMANDS

    for name, (target, _summary) in COMMANDS.items():
        module, attr = target.split(":")
        command = getattr(importlib.import_module(module), attr)
        assert command.name == name
