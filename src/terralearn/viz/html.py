"""A self-contained HTML report: figures embedded as base64 PNGs, no external assets."""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Sequence
from pathlib import Path

from terralearn._fs import atomic_write_bytes

_STYLE = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 2rem auto;
       max-width: 1200px; color: #222; line-height: 1.45; padding: 0 1rem; }
h1 { margin-bottom: .2rem; } .sub { color: #666; margin-top: 0; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: .2rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; }
td, th { border: 1px solid #ddd; padding: .3rem .7rem; text-align: right; }
th { background: #f4f4f4; } td:first-child, th:first-child { text-align: left; }
figure { margin: 1rem 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: .9rem; }
.kpi { display: flex; gap: 1rem; flex-wrap: wrap; }
.kpi div { background: #f4f7fb; border-radius: 8px; padding: .6rem 1rem; min-width: 9rem; }
.kpi b { display: block; font-size: 1.5rem; }
code { background: #f4f4f4; padding: 0 .25rem; border-radius: 3px; }
"""


class HtmlReport:
    """Builds a one-file HTML report section by section."""

    def __init__(self, title: str, subtitle: str = ""):
        self.parts: list[str] = [f"<h1>{html.escape(title)}</h1>"]
        if subtitle:
            self.parts.append(f'<p class="sub">{html.escape(subtitle)}</p>')
        self.title = title

    def heading(self, text: str) -> None:
        self.parts.append(f"<h2>{html.escape(text)}</h2>")

    def paragraph(self, text: str) -> None:
        self.parts.append(f"<p>{html.escape(text)}</p>")

    def kpis(self, values: dict[str, str]) -> None:
        cells = "".join(
            f"<div>{html.escape(k)}<b>{html.escape(v)}</b></div>" for k, v in values.items()
        )
        self.parts.append(f'<div class="kpi">{cells}</div>')

    def table(self, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
        head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>"
            for row in rows
        )
        self.parts.append(f"<table><tr>{head}</tr>{body}</table>")

    def figure(self, png: str | os.PathLike, caption: str = "") -> None:
        data = base64.b64encode(Path(png).read_bytes()).decode()
        alt = html.escape(caption or Path(png).stem)
        cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
        self.parts.append(
            f'<figure><img src="data:image/png;base64,{data}" alt="{alt}">{cap}</figure>'
        )

    def render(self) -> str:
        body = "\n".join(self.parts)
        return (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(self.title)}</title><style>{_STYLE}</style></head>"
            f"<body>\n{body}\n</body></html>\n"
        )

    def write(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        atomic_write_bytes(path, self.render().encode())
        return path
