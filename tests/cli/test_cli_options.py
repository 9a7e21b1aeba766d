"""Shared CLI options: defaults read from the library and shown in --help; the distance type."""

from __future__ import annotations

import dataclasses
import re

import click
import pytest
from click.testing import CliRunner

from terralearn.cli.main import COMMANDS, cli
from terralearn.cli.options import DefaultOption, library_default
from terralearn.geo.distance import Distance
from terralearn.runs.pretrain import PretrainConfig
from terralearn.runs.train import TrainConfig
from terralearn.store import PrepareConfig


def all_commands() -> list[tuple[str, click.Command]]:
    """Every command of the CLI (group subcommands too), with its full name."""
    ctx = click.Context(cli)
    found = []
    pending = [(name, cli.get_command(ctx, name)) for name in COMMANDS]
    while pending:
        name, command = pending.pop()
        found.append((name, command))
        if isinstance(command, click.Group):
            pending += [(f"{name} {n}", c) for n, c in command.commands.items()]
    return sorted(found, key=lambda item: item[0])


COMMAND_LIST = all_commands()


def shown_value(option: DefaultOption, shown: str):
    """The value the --help text stands for, converted like the command line would."""
    if isinstance(option.library_value, bool):
        return shown == option.opts[0].lstrip("-")
    if option.nargs > 1:
        return tuple(option.type.convert(part, option, None) for part in shown.split(","))
    value = option.type.convert(shown, option, None)
    if isinstance(value, Distance):
        return value.value
    return value if option.type is not click.STRING else type(option.library_value)(value)


@pytest.mark.parametrize(("name", "command"), COMMAND_LIST, ids=[n for n, _ in COMMAND_LIST])
def test_every_shown_default_is_the_library_default(name, command):
    ctx = click.Context(command)
    for option in command.params:
        hand_written = re.search(r"\[[^\]]*\]\.?$", option.help or "")
        assert not hand_written, f"{name} {option.opts}: default written by hand in the help"
        if not isinstance(option, DefaultOption) or option.source is None:
            continue
        expected = library_default(option.source, option.field)
        names, text = option.get_help_record(ctx)
        shown = re.search(r"\[default: (.*)\]$", text)
        if expected in (None, "") or expected is False and not option.secondary_opts:
            # a default chosen at run time is described; None/off is not shown
            assert (shown.group(1) if shown else None) == option.describe, names
            continue
        assert shown is not None, f"{name} {names}: the default {expected!r} is not shown"
        if isinstance(expected, list):
            assert shown.group(1) == ",".join(expected)
        else:
            assert shown_value(option, shown.group(1)) == expected, names


@pytest.mark.parametrize(
    ("command", "config", "args"),
    [
        ("train", TrainConfig, ["STORE", "--out", "RUN"]),
        ("pretrain", PretrainConfig, ["IMAGE", "--out", "RUN"]),
        ("prepare", PrepareConfig, ["IMAGE", "--out", "STORE"]),
    ],
)
def test_config_commands_take_every_default_from_the_dataclass(command, config, args):
    fields = {f.name for f in dataclasses.fields(config)}
    command = dict(COMMAND_LIST)[command]
    options = [p for p in command.params if isinstance(p, click.Option)]
    sourced = {p.name for p in options if isinstance(p, DefaultOption) and p.source is config}
    # (--out is required; --bands and --labels are lists without a default)
    assert {p.name for p in options if p.name in fields} - {"out", "bands", "labels"} == sourced
    # default None everywhere: a value from --config is not overridden by a click default
    values = command.make_context(command.name, args).params
    assert {name: values[name] for name in sourced if values[name] is not None} == {}


def test_help_shows_the_dataclass_defaults():
    result = CliRunner().invoke(cli, ["train", "--help"], terminal_width=200)
    assert result.exit_code == 0
    assert "Chips per batch.  [default: 16]" in result.output
    assert "Peak learning rate of AdamW.  [default: 0.001]" in result.output
    assert "[default: no-class-weights]" in result.output
    assert "Epochs to train.  [default: 20, within --min-steps .. --max-steps steps" in (
        result.output
    )
    result = CliRunner().invoke(cli, ["prepare", "--help"], terminal_width=200)
    assert "Validation share.  [default: 0.15]" in result.output
    assert "Split block side: 512 (pixels), 512px, 300m or 5km.  [default: the largest" in (
        result.output
    )
