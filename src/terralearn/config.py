"""Typed configs loaded from YAML (safe loader); CLI options override file values."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, TypeVar

import yaml

from terralearn.errors import ConfigError, InputNotFoundError

T = TypeVar("T")


def load_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """Read a YAML mapping with ``yaml.safe_load``."""
    path = Path(path)
    if not path.exists():
        raise InputNotFoundError(f"config file {str(path)!r} does not exist")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping of option: value")
    return data


def build_config(cls: type[T], file_values: dict[str, Any] | None, **overrides: Any) -> T:
    """Make a dataclass config from file values, then non-None overrides (the CLI options).

    Unknown keys are an error naming the file's key and the known ones.
    """
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    values: dict[str, Any] = {}
    for key, value in (file_values or {}).items():
        key_norm = key.replace("-", "_")
        if key_norm not in known:
            raise ConfigError(f"unknown config key {key!r}; known keys: {', '.join(sorted(known))}")
        values[key_norm] = value
    values.update({k: v for k, v in overrides.items() if v is not None})
    return cls(**values)


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
