"""`terralearn --help` lists the commands without importing them."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from terralearn.cli.main import COMMANDS, cli


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_listed_summary_is_the_command_short_help(name):
    command = cli.get_command(click.Context(cli), name)
    assert command.name == name
    assert command.get_short_help_str(limit=10**6) == COMMANDS[name][1]


def test_help_imports_no_command_module():
    code = (
        "import sys\n"
        "from terralearn.cli.main import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('terralearn.cli.') "
        "and m != 'terralearn.cli.main'), 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "  train  " in out.stdout and "Train a segmentation model" in out.stdout
    assert out.stdout.splitlines()[-1] == "[] False"


def test_help_lists_every_command():
    result = CliRunner().invoke(cli, ["--help"], terminal_width=200)
    listed = result.output.split("Commands:\n")[1].splitlines()
    assert [line.split()[0] for line in listed] == sorted(COMMANDS)
    assert "  export-model  Export the model of RUN to OUT (e.g. model.onnx), checked against " in (
        result.output
    )
