"""Which step an event belongs to, in whichever thread it is reported.

Two sources answer the question, the first that knows wins:

1. **The caller's context.** Opening an operation or a step makes it current in the
   calling :mod:`contextvars` context (a ``with`` block restores the previous one on exit).
   The innermost open scope of the cluster in that chain is the answer. This is exact, and
   it follows everything that copies the context: asyncio tasks,
   :meth:`contextvars.Context.run` and :func:`otel_provlog.bind`.
2. **The cluster's published scopes.** A new thread, or a pool worker, starts with an empty
   context. It then sees the innermost scope *published* for the cluster: a small
   thread-safe registry (:data:`REGISTRY`, the only module state) lists the open scopes of
   each cluster, in opening order.

A scope is published unless it was opened by a worker that found its enclosing step in
the registry: such a nested step is current for that worker's own context (its own
events, and whatever inherits that context) and never for its siblings, which keep
reporting to the step they were started under.
"""

from __future__ import annotations

import contextlib
import threading
from contextvars import ContextVar, Token
from typing import Final, TypeVar

__all__ = [
    "REGISTRY",
    "Registry",
    "Scope",
    "anything_open",
    "current_scope",
    "find",
    "find_in_context",
    "should_publish",
]

_S = TypeVar("_S", bound="Scope")


class Scope:
    """An operation or step events can attach to, as seen by the attachment rules.

    ``attached`` is true from the moment the scope opens until it ends (or, for a step
    ended early on reaching its total, until it is replaced); detached scopes are skipped.
    """

    __slots__ = ("attached", "cluster_id", "outer", "published")

    def __init__(self, cluster_id: str | None) -> None:
        self.cluster_id = cluster_id
        self.outer: Scope | None = None
        self.attached = False
        self.published = True

    def _attach(self, *, scoped: bool) -> Token[Scope | None] | None:
        """Make this scope current in the caller's context and publish it if it should be.

        Returns the token that restores the previous scope when ``scoped``.
        """
        self.outer = current_scope()
        self.attached = True
        token = _CURRENT.set(self)
        if self.published:
            REGISTRY.publish(self)
        return token if scoped else None

    def _detach(self, token: Token[Scope | None] | None = None) -> None:
        """Stop being current: withdraw from the registry and restore the context."""
        self.attached = False
        REGISTRY.withdraw(self)
        if token is not None:
            # ValueError: ended from another context than the one that opened it.
            with contextlib.suppress(ValueError):
                _CURRENT.reset(token)


_CURRENT: Final[ContextVar[Scope | None]] = ContextVar("otel_provlog.scope", default=None)


class Registry:
    """The open published scopes of each cluster, in opening order; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, list[Scope]] = {}

    def publish(self, scope: Scope) -> None:
        """List ``scope`` as the innermost scope of its cluster."""
        if scope.cluster_id is None:
            return
        with self._lock:
            self._open.setdefault(scope.cluster_id, []).append(scope)

    def withdraw(self, scope: Scope) -> None:
        """Forget ``scope`` (no error when it was never listed)."""
        if scope.cluster_id is None:
            return
        with self._lock:
            scopes = self._open.get(scope.cluster_id)
            if scopes is None:
                return
            if scope in scopes:
                scopes.remove(scope)
            if not scopes:
                del self._open[scope.cluster_id]

    def latest(self, cluster_id: str, kind: type[_S]) -> _S | None:
        """Return the innermost open published scope of ``kind`` for the cluster."""
        with self._lock:
            for scope in reversed(self._open.get(cluster_id, ())):
                if isinstance(scope, kind) and scope.attached:
                    return scope
        return None

    def has_any(self) -> bool:
        """Tell whether any cluster has an open published scope."""
        return bool(self._open)

    def clusters(self) -> list[str]:
        """Return the ids of the clusters that have an open published scope."""
        with self._lock:
            return sorted(self._open)


REGISTRY: Final = Registry()
"""The process-wide registry of published scopes (see the module documentation)."""


def anything_open() -> bool:
    """Tell cheaply whether any scope may be found here (false when recording is off)."""
    return _CURRENT.get() is not None or REGISTRY.has_any()


def current_scope() -> Scope | None:
    """Return the innermost attached scope of the caller's context, if any."""
    scope = _CURRENT.get()
    while scope is not None and not scope.attached:
        scope = scope.outer
    return scope


def find_in_context(cluster_id: str | None, kind: type[_S]) -> _S | None:
    """Return the innermost attached scope of ``kind`` in the caller's context.

    Only scopes of ``cluster_id`` count, or any cluster when it is None.
    """
    scope = _CURRENT.get()
    while scope is not None:
        if (
            scope.attached
            and isinstance(scope, kind)
            and (cluster_id is None or scope.cluster_id == cluster_id)
        ):
            return scope
        scope = scope.outer
    return None


def find(cluster_id: str | None, kind: type[_S]) -> _S | None:
    """Return the scope of ``kind`` an event of ``cluster_id`` reported here belongs to.

    The caller's context first, then (when the cluster is known) the registry.
    """
    scope = find_in_context(cluster_id, kind)
    if scope is None and cluster_id is not None:
        scope = REGISTRY.latest(cluster_id, kind)
    return scope


def should_publish(cluster_id: str, step_kind: type[Scope]) -> bool:
    """Tell whether a step opened now for ``cluster_id`` is visible to other threads.

    A step nested in a step of the caller's own context inherits that step's visibility;
    in an operation of the caller's context, or with nothing open for the cluster, it is
    published. A step whose enclosing step was only found in the registry (a worker
    thread's nested step) stays private to the worker's context.
    """
    enclosing = find_in_context(cluster_id, Scope)
    if enclosing is not None:
        return enclosing.published if isinstance(enclosing, step_kind) else True
    return not isinstance(REGISTRY.latest(cluster_id, Scope), step_kind)
