"""The registry of published scopes and the lookup rules."""

from __future__ import annotations

import threading

from otel_provlog._attachment import (
    Registry,
    Scope,
    current_scope,
    find,
    find_in_context,
    should_publish,
)


class _Step(Scope):
    """A stand-in step kind."""


def test_registry_latest_publish_withdraw() -> None:
    """The registry answers the innermost open scope of a kind, per cluster."""
    registry = Registry()
    outer, inner, other = Scope("c-1"), _Step("c-1"), _Step("c-2")
    for scope in (outer, inner, other):
        scope.attached = True
        registry.publish(scope)
    assert registry.latest("c-1", Scope) is inner
    assert registry.latest("c-1", _Step) is inner
    registry.withdraw(inner)
    registry.withdraw(inner)
    assert registry.latest("c-1", _Step) is None
    assert registry.latest("c-1", Scope) is outer
    assert registry.clusters() == ["c-1", "c-2"]
    registry.withdraw(outer)
    registry.withdraw(other)
    assert registry.clusters() == []


def test_detached_scopes_are_skipped_in_context() -> None:
    """Ending a scope opened without a with block uncovers the one it was opened in."""
    cluster = "c-attach-1"
    outer = _Step(cluster)
    token = outer._attach(scoped=True)
    inner = _Step(cluster)
    inner._attach(scoped=False)
    assert current_scope() is inner
    inner._detach()
    assert current_scope() is outer
    assert find(cluster, _Step) is outer
    outer._detach(token)
    assert current_scope() is None
    assert find(cluster, _Step) is None


def test_context_lookup_filters_by_cluster() -> None:
    """The innermost scope of the asked cluster wins, not the innermost of all."""
    a, b = _Step("c-attach-a"), _Step("c-attach-b")
    token_a = a._attach(scoped=True)
    token_b = b._attach(scoped=True)
    assert find_in_context("c-attach-a", _Step) is a
    assert find_in_context(None, _Step) is b
    b._detach(token_b)
    a._detach(token_a)


def test_publication_rules() -> None:
    """Steps nested in a borrowed step stay private; under an operation they are published."""
    cluster = "c-attach-2"
    assert should_publish(cluster, _Step)
    operation = Scope(cluster)
    op_token = operation._attach(scoped=True)
    assert should_publish(cluster, _Step)
    step = _Step(cluster)
    step_token = step._attach(scoped=True)
    assert should_publish(cluster, _Step)
    answers: list[bool] = []
    thread = threading.Thread(target=lambda: answers.append(should_publish(cluster, _Step)))
    thread.start()
    thread.join()
    assert answers == [False]
    step._detach(step_token)
    thread = threading.Thread(target=lambda: answers.append(should_publish(cluster, _Step)))
    thread.start()
    thread.join()
    assert answers == [False, True]
    operation._detach(op_token)
