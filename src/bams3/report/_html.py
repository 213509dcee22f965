"""Small self-contained HTML pages for the tables of the Snakemake report.

The report shows an HTML result in an iframe, so each page carries its own styles and no
script: it renders the same in the report, opened on its own, or attached to an email.
"""
from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

__all__ = ["page", "table", "write_page"]

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; margin: 1.2em;
       color: #1c2430; }
h1 { font-size: 1.25em; margin: 0 0 .3em 0; }
h2 { font-size: 1.05em; margin: 1.4em 0 .4em 0; }
p.note { color: #4a5566; margin: .2em 0 .8em 0; max-width: 70em; }
table { border-collapse: collapse; font-size: .9em; }
th, td { border: 1px solid #d5dbe3; padding: .3em .6em; }
th { background: #eef2f7; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr:nth-child(even) td { background: #f8fafc; }
"""


def table(header: Sequence[str], rows: Sequence[Sequence[object]], *, numeric: Sequence[bool] | None = None) -> str:
    """An HTML table; cells are escaped, numeric columns right-aligned."""
    numeric = list(numeric) if numeric is not None else [False] * len(header)
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = []
    for row in rows:
        cells = "".join(f'<td class="num">{html.escape(str(v))}</td>' if numeric[i] else f"<td>{html.escape(str(v))}</td>"
                        for i, v in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def page(title: str, sections: Sequence[tuple[str | None, str | None, str]]) -> str:
    """A page: a title, then sections of (heading, note, already-built HTML such as a table)."""
    parts = [f"<h1>{html.escape(title)}</h1>"]
    for heading, note, content in sections:
        if heading:
            parts.append(f"<h2>{html.escape(heading)}</h2>")
        if note:
            parts.append(f'<p class="note">{html.escape(note)}</p>')
        parts.append(content)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>\n"
            + "\n".join(parts) + "\n</body></html>\n")


def write_page(path: str | Path, text: str) -> Path:
    """Write ``text`` at ``path`` through a temporary name (a reader never sees half a page)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path
