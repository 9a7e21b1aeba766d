"""Tables printed by the CLI (rich)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def console() -> Console:
    return Console()


def print_mapping(title: str, mapping: dict[str, Any]) -> None:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for key, value in mapping.items():
        table.add_row(str(key), _fmt(value))
    console().print(table)


def print_store_summary(store) -> None:
    """Chips per split and the class balance of a chip store."""
    info = store.describe()
    print_mapping(
        f"chip store {info['path']}",
        {
            **{k: info[k] for k in ("chips", "chip_size", "bands", "dtype", "crs")},
            "sources": _sources(info["sources"]),
        },
    )
    splits = info["splits"]
    table = Table(title="chips and labelled pixels per split", title_justify="left")
    table.add_column("")
    for split in splits:
        table.add_column(split, justify="right")
    table.add_row("chips", *(f"{n:,}" for n in splits.values()))
    for name, counts in info.get("classes", {}).items():
        totals = {s: max(1, sum(c[s] for c in info["classes"].values())) for s in splits}
        table.add_row(
            name, *(f"{counts[s]:,} ({100 * counts[s] / totals[s]:.1f}%)" for s in splits)
        )
    console().print(table)


def _sources(paths: list[str], shown: int = 3) -> str:
    """The first few source files and how many more (data sets of tiles have hundreds)."""
    if len(paths) <= shown + 1:
        return ", ".join(paths)
    return f"{len(paths)} files: {', '.join(paths[:shown])}, ... {paths[-1]}"


def _fmt(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
