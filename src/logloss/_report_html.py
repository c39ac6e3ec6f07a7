"""HTML building blocks of the report: the page template, tables, inline images, checks.

Everything the page needs is inline: CSS in a ``<style>`` element and images as base64 PNG
``data:`` URIs. :func:`external_references` checks that a page loads nothing else.
"""

from __future__ import annotations

import base64
import html
import io
import math
import re
import string
from html.parser import HTMLParser

import numpy as np

__all__ = ["PAGE", "external_references", "figure_html", "format_number", "format_weight", "table"]

PAGE = string.Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
<style>
body { font-family: sans-serif; margin: 1.5em auto; max-width: 80em; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
h2 { font-size: 1.15em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
p.source { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { padding: 0.2em 0.8em; border-bottom: 1px solid #e4e4e4; }
th { text-align: left; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
.figures { display: flex; flex-wrap: wrap; gap: 1em; }
.figures img { max-width: 100%; height: auto; border: 1px solid #e4e4e4; }
.notes li { color: #8a4b00; }
</style>
</head>
<body>
<h1>$title</h1>
<p class="source">$source</p>
<div class="figures-and-tables">
<h2>Summary</h2>
$summary
$decomposition
<h2>Plots</h2>
<div class="figures">
$plots
</div>
$segments
$notes
</div>
</body>
</html>
""")


def format_weight(value: float) -> str:
    """Format a weight sum: whole numbers as counts, others to 6 significant digits."""
    return f"{value:,.0f}" if math.isfinite(value) and value == round(value) else f"{value:,.6g}"


def format_number(value: float, digits: int = 6) -> str:
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.{digits}f}"


def table(header: list[str], rows: list[list]) -> str:
    """Build an HTML table: the first column is a label, the others are right-aligned values.

    Numbers are formatted by :func:`format_number`; strings are taken as already formatted.
    Every text is escaped.
    """
    lines = ["<table>", "<tr>" + "".join(f"<th>{html.escape(name)}</th>" for name in header) + "</tr>"]
    for row in rows:
        cells = []
        for i, value in enumerate(row):
            if i == 0:
                cells.append(f"<td>{html.escape(str(value))}</td>")
            elif isinstance(value, str):
                cells.append(f'<td class="number">{html.escape(value)}</td>')
            else:
                cells.append(f'<td class="number">{format_number(value)}</td>')
        lines.append("<tr>" + "".join(cells) + "</tr>")
    lines.append("</table>")
    return "\n".join(lines)


def figure_html(draw, alt: str, size: tuple[float, float]) -> str:
    """Draw on a new Agg figure and return an ``<img>`` with the PNG inline as base64."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, dpi=100, layout="constrained")
    draw(figure.add_subplot())
    buffer = io.BytesIO()
    # No Software metadata, so the bytes do not carry the matplotlib version.
    figure.savefig(buffer, format="png", metadata={"Software": None})
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{encoded}">'


# Elements that load or run something, and the attributes that name a resource.
_LOADING_ELEMENTS = frozenset({"script", "link", "iframe", "frame", "object", "embed", "base", "audio", "video"})
_RESOURCE_ATTRIBUTES = frozenset({"src", "href", "srcset", "action", "formaction", "poster", "data", "background"})
_CSS_REFERENCE = re.compile(r"url\(|@import", re.IGNORECASE)
_URL = re.compile(r"\b(?:https?|ftp|wss?)://[^\s\"'<>)]*", re.IGNORECASE)


class _ReferenceFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in _LOADING_ELEMENTS:
            self.found.append(f"<{tag}> element")
        for name, value in attrs:
            if name in _RESOURCE_ATTRIBUTES and value is not None and not value.startswith(("data:", "#")):
                self.found.append(f"<{tag} {name}={value[:80]!r}>")
            if name == "style" and value and _CSS_REFERENCE.search(value):
                self.found.append(f"<{tag} style> with url() or @import")

    def handle_data(self, data):
        if self.lasttag == "style" and _CSS_REFERENCE.search(data):
            self.found.append("<style> with url() or @import")


def external_references(page: str) -> list[str]:
    """List what in an HTML page could make a browser fetch or run something.

    Returns descriptions of script, link, frame and media elements, resource attributes
    that are not ``data:`` URIs or fragments, CSS ``url()`` and ``@import``, and any URL
    with a network scheme anywhere in the text. An empty list means the page is
    self-contained.

    Examples
    --------
    >>> external_references('<img src="data:image/png;base64,AAAA">')
    []
    >>> external_references('<script src="https://example.org/x.js"></script>')
    ['<script> element', "<script src='https://example.org/x.js'>", 'URL https://example.org/x.js']
    """
    finder = _ReferenceFinder()
    finder.feed(page)
    finder.close()
    return finder.found + [f"URL {url[:80]}" for url in _URL.findall(page)]
