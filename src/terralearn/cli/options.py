"""Options shared by several commands, defaults read from the library, and the distance type.

A command's defaults live in the library: the fields of its config dataclass (``TrainConfig``,
``PrepareConfig``, ...) or the parameters of the function it calls (``predict_raster``, ...).
:func:`defaults_from` makes options that show that default in ``--help``. Options backed by a
dataclass keep ``default=None``, so that a YAML config (``--config``) can fill an option the
command line leaves unset; options backed by a function take the function's default.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any

import click

from terralearn.geo.distance import Distance


def library_default(source: Any, name: str) -> Any:
    """The default of field ``name`` of a dataclass, or of parameter ``name`` of a function."""
    if dataclasses.is_dataclass(source):
        for f in dataclasses.fields(source):
            if f.name == name:
                if f.default_factory is not dataclasses.MISSING:
                    return f.default_factory()
                return None if f.default is dataclasses.MISSING else f.default
        raise KeyError(f"{source.__name__} has no field {name!r}")
    parameter = inspect.signature(source).parameters[name]
    return None if parameter.default is inspect.Parameter.empty else parameter.default


def render_default(value: Any, option: click.Option | None = None) -> str | None:
    """How ``--help`` shows a default: ``16``, ``0.001``, ``B2,B3``, ``no-class-weights``."""
    if isinstance(value, bool):
        if option is not None and option.secondary_opts:  # --flag/--no-flag
            names = option.opts if value else option.secondary_opts
            return names[0].lstrip("-")
        return None if not value else "on"
    if value is None or value == "":
        return None
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


class DefaultOption(click.Option):
    """An option whose ``--help`` shows ``[default: ...]``: the library default read from
    ``source`` (a config dataclass or a function), or ``describe`` for a computed default.

    Args:
        source: config dataclass or function whose field/parameter holds the default.
        field: name of that field/parameter (default: the option's name).
        describe: the shown default when the library default is None (chosen at run time).
    """

    def __init__(
        self,
        *decls: str,
        source: Any = None,
        field: str | None = None,
        describe: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*decls, **kwargs)
        self.source = source
        self.field = field or self.name
        self.library_value = library_default(source, self.field) if source is not None else None
        given = kwargs.get("default") is not None
        if source is not None and not dataclasses.is_dataclass(source) and not given:
            # no config file fills a function's parameter: click passes the library default
            self.default = self.library_value
        if describe is not None and self.library_value is not None:
            raise ValueError(f"{self.name}: describe= is for defaults left to run time (None)")
        self.describe = describe

    def shown_default(self) -> str | None:
        """The text inside ``[default: ...]``, or None."""
        return self.describe or render_default(self.library_value, self)

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        record = super().get_help_record(ctx)
        shown = self.shown_default()
        if record is None or shown is None:
            return record
        names, text = record
        return names, f"{text}  [default: {shown}]".strip()


def defaults_from(source: Any) -> Callable[..., Callable]:
    """``option = defaults_from(TrainConfig)``; ``@option("--lr", type=float, help=...)``."""

    def option(*decls: str, **kwargs: Any) -> Callable:
        return click.option(*decls, cls=DefaultOption, source=source, **kwargs)

    return option


def described(*decls: str, describe: str, **kwargs: Any) -> Callable:
    """An option with no library default whose ``--help`` says what happens when it is unset."""
    return click.option(*decls, cls=DefaultOption, describe=describe, **kwargs)


class DistanceType(click.ParamType):
    """A distance: ``512`` (pixels of a raster, CRS units of points), ``512px``, ``300m``, ``5km``.

    Converts to :class:`terralearn.geo.distance.Distance`; a bad value is one line naming the
    option (``error: ...``, exit 2), like every other input mistake.
    """

    name = "distance"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None):
        option = max(param.opts, key=len) if param is not None else "distance"
        return Distance.parse(value, option)


DISTANCE = DistanceType()
DISTANCE_SYNTAX = "512 (pixels), 512px, 300m or 5km"
POINT_DISTANCE_SYNTAX = "5000 (CRS units), 300m or 5km"


overwrite_option = click.option(
    "--overwrite", is_flag=True, help="Replace the output if it already exists."
)
quiet_option = click.option("--quiet", is_flag=True, help="No progress bar.")
config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="YAML file with options; command-line options override it.",
)
checkpoint_option = click.option(
    "--checkpoint",
    type=click.Choice(["best", "last"]),
    default="best",
    show_default=True,
    help="Checkpoint of the run: best (highest validation mIoU) or last.",
)

# --device of predict, evaluate and attention; resolve_device checks the value (one line, exit 2)
device_option = click.option(
    "--device",
    default="auto",
    show_default=True,
    metavar="auto|cpu|cuda|cuda:N|mps",
    help="Where the network runs: auto = a CUDA GPU, else Apple MPS, else the CPU.",
)


def seed_option(source: Any, help: str = "Random seed.") -> Callable:
    """``--seed`` with the default of ``source``."""
    return defaults_from(source)("--seed", type=int, help=help)


def bands_option(help: str = "Comma-separated band names to keep, in order.") -> Callable:
    """``--bands a,b,c`` (see :func:`split_list`)."""
    return click.option("--bands", default=None, help=help)


def split_list(values: str | tuple[str, ...] | None) -> list[str] | None:
    """``"a, b"`` or ``("a,b", "c")`` -> ``["a", "b", "c"]``; None or empty -> None."""
    if not values:
        return None
    items = (values,) if isinstance(values, str) else values
    return [v.strip() for item in items for v in item.split(",") if v.strip()] or None


def trainer_options(source: Any) -> Callable:
    """``--devices --strategy --accelerator --num-workers`` of train and pretrain."""
    option = defaults_from(source)

    def decorate(fn: Callable) -> Callable:
        for decorator in reversed([
            option("--devices", help="Devices: a number, or 'auto'."),
            option("--strategy", help="Lightning strategy, e.g. ddp."),
            option("--accelerator", help="cpu, gpu or auto."),
            option("--num-workers", type=int, help="Data loader workers."),
        ]):  # fmt: skip
            fn = decorator(fn)
        return fn

    return decorate


def devices_value(devices: str | None) -> int | str | None:
    """``--devices 2`` -> 2, ``auto`` stays a string."""
    if devices is None:
        return None
    return int(devices) if devices.isdigit() else devices
