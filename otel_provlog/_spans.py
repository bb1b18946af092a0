"""What operations, steps and events do alike with their spans, never raising.

Recording must not turn a provisioning action into a failure: every call into the
OpenTelemetry API here is guarded and its failure logged. :class:`SpanScope` is the part
an operation and a step share: the span, its ids, beginning it and the ``with`` block;
:class:`NoOpContext` the ``with`` block of their no-op twins (and the event's).
"""

from __future__ import annotations

from contextvars import Token
from types import TracebackType
from typing import Any, ClassVar, Literal, Protocol, Self

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.util.types import Attributes

from otel_provlog._attachment import Scope
from otel_provlog._failures import failure_message, record_exception
from otel_provlog._ids import span_row_id
from otel_provlog._tracer import logger

__all__ = [
    "NoOpContext",
    "Owned",
    "OwnerScope",
    "SpanScope",
    "end_span",
    "make_current",
    "record_error",
    "record_marker",
    "restore_context",
    "row_id",
    "span_id",
]


def record_error(span: trace.Span, error: BaseException) -> None:
    """Record ``error`` on ``span`` and set its status to ERROR (never raises).

    The message and the stack stay apart, as :mod:`otel_provlog._failures` records them.
    """
    try:
        message = failure_message(error)
        record_exception(span, error, message)
        span.set_status(trace.Status(trace.StatusCode.ERROR, f"{type(error).__name__}: {message}"))
    except Exception:
        logger.exception("otel_provlog: could not record an error on its span")


def end_span(span: trace.Span, noun: str, *, end_time: int | None = None) -> None:
    """End ``span`` (never raises); ``noun`` names it in the log, e.g. ``"a step"``."""
    try:
        span.end(end_time=end_time)
    except Exception:
        logger.exception("otel_provlog: could not end %s span", noun)


def make_current(span: trace.Span, noun: str) -> Token[otel_context.Context] | None:
    """Make ``span`` current in the caller's context; return the token that restores it.

    None when that failed (logged, naming the span's owner ``noun``).
    """
    try:
        return otel_context.attach(trace.set_span_in_context(span))
    except Exception:
        logger.exception("otel_provlog: could not make %s current", noun)
        return None


def restore_context(token: Token[otel_context.Context] | None) -> None:
    """Restore the context :func:`make_current` replaced (nothing for None; never raises)."""
    if token is None:
        return
    try:
        otel_context.detach(token)
    except Exception:
        logger.exception("otel_provlog: could not restore the context")


def record_marker(
    tracer: trace.Tracer,
    name: str,
    parent: trace.Span,
    attrs: Attributes,
    at_ns: int,
    noun: str,
) -> None:
    """Record a zero-length start marker span, a child of ``parent``, at ``at_ns``.

    Never raises; ``noun`` names the marker's owner in the log, e.g. ``"a step"``.
    """
    try:
        marker = tracer.start_span(
            name, context=trace.set_span_in_context(parent), attributes=attrs, start_time=at_ns
        )
        marker.end(end_time=at_ns)
    except Exception:
        logger.exception("otel_provlog: could not record %s start marker", noun)


def _valid_context(span: trace.Span | None) -> trace.SpanContext | None:
    if span is None:
        return None
    try:
        context = span.get_span_context()
    except Exception:
        return None
    return context if context.is_valid else None


def span_id(span: trace.Span | None) -> str | None:
    """Return the span id of ``span`` as 16 lower-case hex digits (None if invalid)."""
    context = _valid_context(span)
    return format(context.span_id, "016x") if context is not None else None


def row_id(span: trace.Span | None) -> str | None:
    """Return the store's row id of ``span`` (see :mod:`otel_provlog._ids`), None if invalid."""
    context = _valid_context(span)
    if context is None:
        return None
    return span_row_id(format(context.trace_id, "032x"), format(context.span_id, "016x"))


class NoOpContext:
    """The ``with`` block of a no-op twin: entering and leaving it do nothing."""

    __slots__ = ()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: Any) -> Literal[False]:
        return False


class SpanScope(Scope):
    """A scope with a span of its own: an operation or a step.

    Subclasses open the span in :meth:`_open` and end it in :meth:`end`; used as a
    context manager the scope is begun, made current, and ended with the block's error.
    """

    _kind: ClassVar[str]
    """What the scope is, for the log: ``"operation"`` or ``"step"``."""
    _noun: ClassVar[str]
    """The same with its article, for the log: ``"an operation"``, ``"a step"``."""

    def __init__(self, cluster_id: str | None) -> None:
        super().__init__(cluster_id)
        self._span: trace.Span | None = None
        self._token: Token[Scope | None] | None = None
        self._otel_token: Token[otel_context.Context] | None = None

    @property
    def span(self) -> trace.Span:
        """The scope's span (a non-recording one before it starts)."""
        return self._span if self._span is not None else trace.INVALID_SPAN

    @property
    def id(self) -> str | None:
        """The scope's id in the store and the REST API (a UUID derived from its span).

        None before it starts or when nothing is recorded.
        """
        return row_id(self._span)

    @property
    def span_id(self) -> str | None:
        """The scope's span id in hex, None before it starts or when not recording."""
        return span_id(self._span)

    def _open(self) -> bool:
        """Start the span; tell whether the scope began now (not twice)."""
        raise NotImplementedError

    def _begin(self) -> bool:
        try:
            return self._open()
        except Exception:
            logger.exception("otel_provlog: could not begin a %s", self._kind)
            return False

    def end(self, error: BaseException | None = None) -> None:
        """End the scope (once), recording ``error`` on its span when given."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        if self._begin():
            self._token = self._attach(scoped=True)
            self._otel_token = make_current(self.span, self._noun)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        tb: TracebackType | None,
    ) -> Literal[False]:
        restore_context(self._otel_token)
        self._otel_token = None
        self.end(exc_value)
        return False


class Owned(Protocol):
    """A scope an :class:`OwnerScope` ends with itself, at the latest: a step."""

    def end(self, error: BaseException | None = None, *, by_operation: bool = False) -> None:
        """End the scope; ``by_operation`` when its owner ends it."""


class OwnerScope(SpanScope):
    """A scope the steps opened under it belong to: an operation.

    A step looks for the innermost open owner of its cluster (:func:`~otel_provlog.
    attachment.find`), takes its tracer, cluster, tenant and step type, hangs its span
    under the owner's and is :meth:`adopt`-ed, so the owner ends it at the latest.
    """

    tracer: trace.Tracer | None
    tenant_id: str | None
    step_type: str | None

    def adopt(self, scope: Owned) -> None:
        """Remember ``scope`` so that it is ended, at the latest, with this one."""
        raise NotImplementedError
