"""Failure fingerprints: what a failed event's message says once its particulars are gone.

Two instances that fail for the same reason rarely fail with the same text: the message
names the instance, its address, a request id, a count. :func:`error_pattern` replaces
those particulars with placeholders, and :func:`fingerprint` is a short stable hash of the
pattern, so the failures of one cause share one fingerprint::

    >>> error_pattern("SSH to 10.0.0.12:22 timed out after 300s (instance worker-017)")
    'SSH to <ip>:<port> timed out after <n>s (instance <name>)'

What is replaced, in this order:

- quoted text that holds a digit, a path or is long (``'worker-3'``), as ``'<str>'``; a
  short quoted word (``'cores'``) stays, it usually names the cause;
- URLs (``<url>``), UUIDs (``<uuid>``), IPv6 and IPv4 addresses with an optional port
  (``<ip>``, ``<ip>:<port>``), paths of two or more parts (``<path>``), hex ids of eight
  digits or more and ``0x…`` values (``<hex>``);
- a number, with its unit kept (``300s`` is ``<n>s``), as ``<n>``; any other word with a
  digit in it, such as a host or instance name (``worker-017``, ``node3.example.com``), as
  ``<name>`` (but a capitalised word with one final digit, such as ``IPv6`` or ``EC2``,
  stays).

A message holding a Python traceback is reduced to its last line (the exception); stack
frame lines of other languages are dropped. Whitespace runs become one space. The rules are
pure and deterministic: the store computes the fingerprint once, when a failed event is
written (and the migration that added the columns computed it for older rows the same way),
so SQL and dashboards can group failures too.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

__all__ = [
    "FINGERPRINT_LENGTH",
    "PATTERN_LENGTH",
    "error_pattern",
    "fingerprint",
    "fingerprint_message",
]

FINGERPRINT_LENGTH: Final = 16
"""Hex digits of a fingerprint (the first 64 bits of the pattern's SHA-256)."""
PATTERN_LENGTH: Final = 500
"""Most characters of a pattern kept in the store (the fingerprint covers all of it)."""
NO_MESSAGE: Final = "(no message)"
"""The pattern of a failure that gave no message."""

_TRACEBACK: Final = "Traceback (most recent call last):"
_FRAME: Final = re.compile(r"^\s+(?:File \"|at |\.\.\. \d+ more)")
_TOKENS: Final = re.compile(
    r"""
    (?P<quoted>'[^'\n]{0,200}'|"[^"\n]{0,200}")
    | (?P<url>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s'"<>]+)
    | (?P<uuid>\b[0-9A-Fa-f]{8}-(?:[0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12}\b)
    | (?P<ip6port>\[[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*\](?::\d{1,5})?)
    | (?P<ip6>(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:]))
    | (?P<ip4>\b\d{1,3}(?:\.\d{1,3}){3}(?P<port4>:\d{1,5})?\b)
    | (?P<path>(?<![\w.])(?:~|\.{1,2})?(?:/[\w.@%+=-]+){2,}/?)
    | (?P<hex>\b0[xX][0-9A-Fa-f]+\b|\b[0-9A-Fa-f]{8,}\b)
    | (?P<word>[\w-]*\d[\w-]*(?:\.[\w-]+)*)
    """,
    re.VERBOSE,
)
_PLAIN_QUOTED: Final = re.compile(r"[A-Za-z_][A-Za-z_ .-]{0,39}")
_NUMBER: Final = re.compile(r"[+-]?\d+(?:[.,]\d+)*(?P<unit>[A-Za-z%]{0,3})")
_ACRONYM: Final = re.compile(r"[A-Za-z]*[A-Z][A-Za-z]*\d")
"""A word such as ``IPv6``, ``EC2`` or ``S3``: a capitalised name with one digit, kept."""
_SPACE: Final = re.compile(r"\s+")


def _message_lines(message: str) -> list[str]:
    """Return the lines that carry the message: a traceback's last line, no stack frames."""
    lines = message.splitlines()
    if any(line.strip() == _TRACEBACK for line in lines):
        cause = [line for line in lines if line.strip() and not line[:1].isspace()]
        return cause[-1:] if cause else []
    return [line for line in lines if not _FRAME.match(line)]


def _ip6(text: str) -> bool:
    """Tell a bare IPv6 address from a clock time or a ratio (``12:30:45``)."""
    return "::" in text or text.count(":") >= 4


def _hex_part(part: str) -> str:
    if not any(c.isdigit() for c in part):
        return part
    return "<n>" if part.isdigit() else "<hex>"


def _replace(found: re.Match[str]) -> str:
    kind = found.lastgroup
    text = found.group()
    if kind == "quoted":
        inner = text[1:-1]
        return text if _PLAIN_QUOTED.fullmatch(inner) else f"{text[0]}<str>{text[0]}"
    if kind == "ip6port":
        return "<ip>:<port>" if text.rsplit("]", 1)[1] else "<ip>"
    if kind == "ip6":
        if _ip6(text):
            return "<ip>"
        return ":".join(_hex_part(part) for part in text.split(":"))
    if kind == "ip4":
        return "<ip>:<port>" if found.group("port4") else "<ip>"
    if kind == "hex":
        if text[:2].lower() != "0x" and not any(c.isdigit() for c in text):
            return text  # a word such as "deadbeef" or "accedeed"
        return "<hex>"
    if kind == "word":
        number = _NUMBER.fullmatch(text)
        if number is None and _ACRONYM.fullmatch(text):
            return text
        return "<n>" + number.group("unit") if number else "<name>"
    return f"<{kind}>"


def error_pattern(message: str | None) -> str:
    """Return the pattern of a failure message: its particulars replaced by placeholders.

    The pattern keeps at most :data:`PATTERN_LENGTH` characters; an empty or missing
    message is :data:`NO_MESSAGE`.
    """
    return _full_pattern(message)[:PATTERN_LENGTH]


def _full_pattern(message: str | None) -> str:
    lines = _message_lines(message or "")
    pattern = _SPACE.sub(" ", _TOKENS.sub(_replace, " ".join(lines))).strip()
    return pattern or NO_MESSAGE


def fingerprint(pattern: str) -> str:
    """Return the fingerprint of a pattern: :data:`FINGERPRINT_LENGTH` hex digits."""
    digest = hashlib.sha256(pattern.encode("utf-8", "surrogatepass")).hexdigest()
    return digest[:FINGERPRINT_LENGTH]


def fingerprint_message(message: str | None) -> tuple[str, str]:
    """Return ``(fingerprint, pattern)`` of a failure message, as the store keeps them.

    The fingerprint covers the whole pattern; the pattern returned is cut to
    :data:`PATTERN_LENGTH` characters.
    """
    full = _full_pattern(message)
    return fingerprint(full), full[:PATTERN_LENGTH]
