"""The instance map's cells as HTML: one small link per instance, built in one pass.

A running 10,000-instance step has 10,000 cells; through a Jinja loop (a filter call and
an escape per cell) they were most of the cluster page's render time, so they are joined
here. Within a node group the failed cells come first, then the running, then the done
ones, each in name order: the state shows as a glyph in every cell and as the colour of
its block (one class per block rather than per cell keeps a 10,000-cell page under
600 KB). Every recorded value is escaped (an id that needs it is also URL-quoted).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final
from urllib.parse import quote

from markupsafe import Markup, escape

from otel_provlog.exporter.step_reads import DONE, FAILED, RUNNING, InstanceCell

__all__ = ["CELL_GLYPHS", "cells_html", "pending_html"]

CELL_GLYPHS: Final = {DONE: "✓", FAILED: "✗", RUNNING: "◔", "pending": "·"}
"""The glyph of each state in the map (the legend uses the same)."""
_LETTERS: Final = {DONE: "k", FAILED: "f", RUNNING: "r"}
_ORDER: Final = (FAILED, RUNNING, DONE)
_PLAIN_ID: Final = re.compile(r"[A-Za-z0-9_.~-]+\Z")


def _cell(cell: InstanceCell) -> str:
    mark = CELL_GLYPHS[cell.state]
    if cell.instance_id is None:
        return f"<i>{mark}</i>"
    title = ""
    if cell.state == FAILED:  # the few failed cells name their instance on hover
        title = f' title="{escape(cell.instance_name or cell.instance_id)} failed"'
    link = cell.instance_id  # a plain id needs neither quoting nor escaping
    if not _PLAIN_ID.match(link):
        link = escape(quote(link, safe=""))
    return f'<a href="?i={link}"{title}>{mark}</a>'


def cells_html(cells: Iterable[InstanceCell]) -> Markup:
    """Return the cells of one node group: failed, running, then done, a block each."""
    blocks: dict[str, list[str]] = {state: [] for state in _ORDER}
    for cell in cells:
        blocks[cell.state].append(_cell(cell))
    return Markup(
        "".join(
            f'<span class="{_LETTERS[state]}">{"".join(blocks[state])}</span>'
            for state in _ORDER
            if blocks[state]
        )
    )


def pending_html(count: int) -> Markup:
    """Return ``count`` cells of instances the store has not seen yet."""
    return Markup('<span class="p">' + "<i>·</i>" * count + "</span>") if count else Markup("")
