"""How read commands print recorded text: escaped, never markup; durations; Markdown."""

from __future__ import annotations

import pytest

from otel_provlog.cli.output import Column, print_rich, render, safe, short_duration, table


@pytest.mark.parametrize(
    ("recorded", "shown"),
    [
        ("plain text", "plain text"),
        ("\x1b[2J\x1b]0;owned\x07", "\\x1b[2J\\x1b]0;owned\\x07"),
        ("carriage\rreturn", "carriage\\x0dreturn"),
        ("c1 \x9b31m", "c1 \\x9b31m"),
        ("naïve ✓", "naïve ✓"),
        (None, ""),
    ],
)
def test_control_characters_are_escaped(recorded, shown):
    """Terminal control sequences in recorded text are shown, never obeyed."""
    assert safe(recorded) == shown


def test_one_line_joins_lines():
    """A multi-line message becomes one line in a table cell."""
    assert safe("first\n  second\tthird", one_line=True) == "first second third"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, ""), (0, "0s"), (59.4, "59s"), (130, "2m10s"), (3600 + 300, "1h05m"), (-3, "0s")],
)
def test_short_durations(seconds, text):
    """Durations read like ``2m10s``."""
    assert short_duration(seconds) == text


def test_tables_print_markup_as_text(capsys):
    """Rich markup in recorded text is printed as it is, not interpreted."""
    print_rich(table(["[bold red]x[/]"], [Column("INFO", lambda row: row)]))
    assert "[bold red]x[/]" in capsys.readouterr().out


def test_markdown_cells_escape_pipes_and_html(capsys):
    """A pipe or a tag in a cell cannot break the Markdown table or inject HTML."""
    render(["a | b <script>"], [Column("INFO", lambda row: row, "right")], "markdown", data=None)
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["| INFO |", "| ---: |", "| a \\| b &lt;script&gt; |"]
