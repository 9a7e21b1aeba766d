"""Typed configs loaded from YAML (safe loader); CLI options override file values.

File values are checked against the config dataclass's type hints when the config is built,
so ``epochs: "20"`` fails at once, in one line naming the file and the key, rather than with a
``TypeError`` deep inside training.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from terralearn.errors import ConfigError, InputNotFoundError

T = TypeVar("T")


class ConfigValues(dict):
    """The values of a config file, remembering the file (for messages)."""

    source: str | None = None


def load_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """Read a YAML mapping with ``yaml.safe_load`` (a :class:`ConfigValues` naming the file)."""
    path = Path(path)
    if not path.exists():
        raise InputNotFoundError(f"config file {str(path)!r} does not exist")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping of option: value")
    values = ConfigValues(data)
    values.source = str(path)
    return values


def build_config(cls: type[T], file_values: dict[str, Any] | None, **overrides: Any) -> T:
    """Make a dataclass config from file values, then non-None overrides (the CLI options).

    Unknown keys are an error naming the file's key and the known ones; so is a file value
    whose type does not fit the dataclass field (``config.yaml: epochs must be an integer,
    got '20'``). Integers are accepted where a float is expected.

    Raises:
        ConfigError: an unknown key, or a value of the wrong type.
    """
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    hints = typing.get_type_hints(cls)
    source = getattr(file_values, "source", None) or "config"
    values: dict[str, Any] = {}
    for key, value in (file_values or {}).items():
        key_norm = key.replace("-", "_")
        if key_norm not in known:
            raise ConfigError(f"unknown config key {key!r}; known keys: {', '.join(sorted(known))}")
        if not fits(value, hints[key_norm]):
            raise ConfigError(f"{source}: {key} must be {describe(hints[key_norm])}, got {value!r}")
        values[key_norm] = value
    values.update({k: v for k, v in overrides.items() if v is not None})
    return cls(**values)


def fits(value: Any, hint: Any) -> bool:
    """Whether ``value`` (as YAML gives it) is of the type ``hint`` (a dataclass field's)."""
    if hint is Any:
        return True
    if hint is None or hint is type(None):
        return value is None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(fits(value, h) for h in typing.get_args(hint))
    if origin is list or hint is list:
        (item,) = typing.get_args(hint) or (Any,)
        return isinstance(value, list) and all(fits(v, item) for v in value)
    if origin is dict or hint is dict:
        key, item = typing.get_args(hint) or (Any, Any)
        return isinstance(value, dict) and all(
            fits(k, key) and fits(v, item) for k, v in value.items()
        )
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, hint)


_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
_PLURALS = {int: "integers", float: "numbers", str: "strings", bool: "booleans"}


def describe(hint: Any) -> str:
    """``hint`` in words: ``int | None`` -> ``"an integer or null"``."""
    if hint is Any:
        return "any value"
    if hint is None or hint is type(None):
        return "null"
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe(h) for h in typing.get_args(hint))
    if origin is list or hint is list:
        (item,) = typing.get_args(hint) or (Any,)
        return f"a list of {_PLURALS[item]}" if item in _PLURALS else "a list"
    if origin is dict or hint is dict:
        return "a mapping"
    return _NAMES.get(hint, f"a {getattr(hint, '__name__', hint)}")


def to_yaml(config: Any) -> str:
    """Serialise a dataclass config (the resolved config saved beside outputs)."""
    data = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)
    return yaml.safe_dump(_plain(data), sort_keys=False)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, os.PathLike):
        return str(value)
    return value
