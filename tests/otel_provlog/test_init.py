"""The package front: re-exports, the user manual, and the lazy configure()."""

from __future__ import annotations

import doctest
import inspect
import pkgutil

import otel_provlog


def test_all_is_sorted_and_complete() -> None:
    """__all__ is sorted and every name in it exists and is documented."""
    assert otel_provlog.__all__ == sorted(otel_provlog.__all__)
    for name in otel_provlog.__all__:
        assert inspect.getdoc(getattr(otel_provlog, name)), name


def test_user_manual_snippet_runs() -> None:
    """The runnable snippet of the package docstring passes as a doctest."""
    result = doctest.testmod(otel_provlog, raise_on_error=False, verbose=False)
    assert result.attempted > 0
    assert result.failed == 0


def test_configure_passes_its_arguments_through() -> None:
    """configure() takes settings, a provider and options the pipeline knows, all typed."""
    import typing

    from otel_provlog.config import SettingValues
    from otel_provlog.exporter import pipeline

    parameters = inspect.signature(otel_provlog.configure).parameters
    assert list(parameters) == ["settings", "tracer_provider", "options"]
    assert parameters["tracer_provider"].kind is inspect.Parameter.KEYWORD_ONLY
    run_options = set(typing.get_type_hints(otel_provlog.ConfigureOptions)) - set(
        typing.get_type_hints(SettingValues)
    )
    assert run_options <= set(inspect.signature(pipeline.configure).parameters)


def test_only_the_documented_modules_are_public() -> None:
    """Plumbing modules start with an underscore; the public ones are those the docs name."""
    names = {module.name for module in pkgutil.iter_modules(otel_provlog.__path__)}
    public = {name for name in names if not name.startswith("_")} - {"api", "exporter"}
    assert public == {"attributes", "cli", "client", "config", "sahara", "testing"}
