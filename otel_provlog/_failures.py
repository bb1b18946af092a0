"""A failure as its span carries it: a message for every reader, a stack for admins, apart.

The message comes from the exception itself (its ``str()``; for an exception group, the
group's message and its sub-exceptions' types and messages) and the stack from
:func:`traceback.format_exception`, so the two never mix and nothing has to be recognised
in text later. They are recorded as OpenTelemetry's ``exception`` span event:
``exception.type``, ``exception.message`` and ``exception.stacktrace``. Nothing here raises,
whatever the exception's ``__str__`` does.
"""

from __future__ import annotations

import traceback
from typing import Final

from opentelemetry import trace

from otel_provlog import attributes

__all__ = [
    "GROUP_LIMIT",
    "exception_attributes",
    "failure_message",
    "record_exception",
    "type_name",
]

GROUP_LIMIT: Final = 10
"""Most sub-exceptions of a group named in its message (the others are counted)."""
_GROUP_DEPTH: Final = 3
"""How deep nested groups are described in a message."""


def _str(exception: BaseException) -> str:
    try:
        return str(exception)
    except Exception:
        return ""


def type_name(exception: BaseException) -> str:
    """Return the exception's type as OpenTelemetry names it (``module.Qualname``)."""
    kind = type(exception)
    module = kind.__module__
    return f"{module}.{kind.__qualname__}" if module and module != "builtins" else kind.__qualname__


def _group_message(group: BaseExceptionGroup[BaseException], depth: int) -> str:
    try:
        own = str(group.message)
        members = list(group.exceptions)
    except Exception:
        return _str(group)
    count = f"{len(members)} sub-exception{'' if len(members) == 1 else 's'}"
    if depth >= _GROUP_DEPTH:
        return f"{own} ({count})"
    named = [
        f"{type(member).__name__}: {_message(member, depth + 1)}"
        for member in members[:GROUP_LIMIT]
    ]
    if len(members) > GROUP_LIMIT:
        named.append(f"and {len(members) - GROUP_LIMIT} more")
    return f"{own} ({count}: {'; '.join(named)})"


def _message(exception: BaseException, depth: int) -> str:
    if isinstance(exception, BaseExceptionGroup):
        return _group_message(exception, depth)
    return _str(exception) or type(exception).__name__


def failure_message(exception: BaseException) -> str:
    """Return the message of ``exception``, never its frames.

    Its ``str()``, or its type's name when that is empty; for an exception group, the group's
    message followed by its sub-exceptions' types and messages (nested groups likewise).
    """
    return _message(exception, 0)


def _stacktrace(exception: BaseException) -> str:
    try:
        return "".join(traceback.format_exception(exception)).rstrip("\n")
    except Exception:
        return ""


def exception_attributes(exception: BaseException, message: str | None = None) -> dict[str, str]:
    """Return the ``exception`` span event's attributes: type, message and stack, apart.

    ``message`` defaults to :func:`failure_message`; the stack is only ever in
    ``exception.stacktrace``.
    """
    return {
        attributes.EXCEPTION_TYPE: type_name(exception),
        attributes.EXCEPTION_MESSAGE: failure_message(exception) if message is None else message,
        attributes.EXCEPTION_STACKTRACE: _stacktrace(exception),
    }


def record_exception(
    span: trace.Span, exception: BaseException, message: str | None = None
) -> None:
    """Add ``exception`` to ``span`` as its ``exception`` event (may raise, like any span call)."""
    span.add_event(attributes.EXCEPTION_EVENT, exception_attributes(exception, message))
