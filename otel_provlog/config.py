"""Settings: read once from ``PROVLOG_*`` variables (and an optional file), then frozen.

Precedence, highest first: explicit arguments to :func:`load_settings`, environment
variables, the TOML file named by ``PROVLOG_CONFIG`` (keys are the variable names, with or
without the ``PROVLOG_`` prefix, in any case), then the defaults below.

Nothing here is read at import time; callers ask for settings when they configure.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypedDict, Unpack

__all__ = [
    "AUTH_MODES",
    "DEFAULT_DATABASE_URL",
    "DEFAULT_EVENT_RETENTION",
    "DEFAULT_STALE_AFTER",
    "FALSE_WORDS",
    "TRACE_ID_FIELD",
    "TRUE_WORDS",
    "SettingValues",
    "Settings",
    "is_disabled",
    "load_settings",
    "parse_bool",
    "parse_duration",
    "trace_link",
]

DEFAULT_DATABASE_URL: Final = "sqlite:///provlog.db"
"""Where the store lives when ``PROVLOG_DATABASE_URL`` is unset: a SQLite file in the cwd."""
DEFAULT_EVENT_RETENTION: Final = 24 * 3600.0
"""Seconds the events of successfully completed steps are kept (``PROVLOG_EVENT_RETENTION``)."""
DEFAULT_STALE_AFTER: Final = 6 * 3600.0
"""Seconds without news after which a running step is marked interrupted."""
AUTH_MODES: Final = ("none", "tokens", "headers")
"""Values ``PROVLOG_AUTH`` accepts: no auth, static tokens, or trusted proxy headers."""

TRACE_ID_FIELD: Final = "{trace_id}"
"""What ``PROVLOG_TRACE_URL`` holds in place of a trace's id (32 hex digits)."""
TRUE_WORDS: Final = frozenset({"1", "true", "yes", "on"})
"""What a setting or query parameter says to mean true (compared in lower case)."""
FALSE_WORDS: Final = frozenset({"0", "false", "no", "off"})
"""What a setting or query parameter says to mean false (compared in lower case)."""
_UNITS: Final = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION: Final = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$", re.IGNORECASE)


def parse_bool(value: str, *, name: str = "value") -> bool:
    """Read ``true/false``, ``1/0``, ``yes/no`` or ``on/off`` (any case) as a bool.

    Raises:
        ValueError: for anything else, naming the setting.
    """
    text = value.strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise ValueError(f"{name}: expected true/false, 1/0, yes/no or on/off, got {value!r}")


def parse_duration(value: str | float, *, name: str = "value") -> float:
    """Read a duration such as ``90``, ``90s``, ``30m``, ``24h``, ``7d`` or ``2w`` as seconds.

    Raises:
        ValueError: for a negative, empty or unreadable duration, naming the setting.
    """
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(value)
        if match is None:
            raise ValueError(f"{name}: expected a duration like 90s, 30m, 24h or 7d, got {value!r}")
        seconds = float(match.group(1)) * _UNITS[match.group(2).lower()]
    if seconds < 0:
        raise ValueError(f"{name}: a duration cannot be negative, got {value!r}")
    return seconds


def _text(value: str, *, name: str) -> str:
    return value.strip()


def _optional(value: str, *, name: str) -> str | None:
    return value.strip() or None


def _trace_url(value: str, *, name: str) -> str | None:
    template = value.strip()
    if template and TRACE_ID_FIELD not in template:
        raise ValueError(f"{name}: expected a URL with {TRACE_ID_FIELD} in it, got {value!r}")
    return template or None


def _auth(value: str, *, name: str) -> str:
    mode = value.strip().lower()
    if mode not in AUTH_MODES:
        raise ValueError(f"{name}: expected one of {', '.join(AUTH_MODES)}, got {value!r}")
    return mode


@dataclass(frozen=True, slots=True)
class Settings:
    """Every setting of otel-provlog, immutable once loaded.

    Build it with :func:`load_settings`; use :func:`dataclasses.replace` to derive a copy.
    """

    enabled: bool = True
    """``PROVLOG_ENABLED``: the switch. False turns recording off (see :func:`is_disabled`)."""
    database_url: str = DEFAULT_DATABASE_URL
    """``PROVLOG_DATABASE_URL``: SQLAlchemy URL of the store."""
    otlp_endpoint: str | None = None
    """``PROVLOG_OTLP_ENDPOINT``: also forward spans over OTLP to this endpoint."""
    event_retention: float = DEFAULT_EVENT_RETENTION
    """``PROVLOG_EVENT_RETENTION``: seconds to keep events of successfully completed steps."""
    stale_after: float = DEFAULT_STALE_AFTER
    """``PROVLOG_STALE_AFTER``: seconds of silence after which a running step is interrupted."""
    spool_dir: str | None = None
    """``PROVLOG_SPOOL_DIR``: where ended spans wait for the database (derived when unset)."""
    auth: str = "none"
    """``PROVLOG_AUTH``: API authentication mode, one of :data:`AUTH_MODES`."""
    api_url: str | None = None
    """``PROVLOG_API_URL``: the API the command line talks to (the database when unset)."""
    token: str | None = None
    """``PROVLOG_TOKEN``: the bearer token the command line sends to the API."""
    trace_url: str | None = None
    """``PROVLOG_TRACE_URL``: URL of a trace in Jaeger or Tempo, ``{trace_id}`` in place of
    its id (e.g. ``http://jaeger:16686/trace/{trace_id}``); no trace links when unset."""
    secret_key: str | None = None
    """``PROVLOG_SECRET_KEY``: signs the web page's sign-in cookie (``tokens`` auth)."""
    api_tokens: str | None = None
    """``PROVLOG_API_TOKENS``: the API's tokens with ``tokens`` auth, as
    ``<sha256>:<role>[:<tenant>]`` entries separated by commas (see
    :mod:`otel_provlog.api.auth`)."""
    api_tokens_file: str | None = None
    """``PROVLOG_API_TOKENS_FILE``: a TOML file of the same tokens (``[[token]]`` tables)."""


class SettingValues(TypedDict, total=False):
    """Setting values given in code (``configure(database_url=...)``): :class:`Settings`' fields."""

    enabled: bool
    database_url: str
    otlp_endpoint: str | None
    event_retention: float
    stale_after: float
    spool_dir: str | None
    auth: str
    api_url: str | None
    token: str | None
    trace_url: str | None
    secret_key: str | None
    api_tokens: str | None
    api_tokens_file: str | None


_PARSERS: Final[Mapping[str, Callable[..., Any]]] = {
    "enabled": parse_bool,
    "database_url": _text,
    "otlp_endpoint": _optional,
    "event_retention": parse_duration,
    "stale_after": parse_duration,
    "spool_dir": _optional,
    "auth": _auth,
    "api_url": _optional,
    "token": _optional,
    "trace_url": _trace_url,
    "secret_key": _optional,
    "api_tokens": _optional,
    "api_tokens_file": _optional,
}


def trace_link(template: str | None, trace_id: str | None) -> str | None:
    """Return the URL of trace ``trace_id`` from a ``PROVLOG_TRACE_URL`` template.

    None when either is missing: no template set, or a row without a trace.
    """
    if not template or not trace_id:
        return None
    return template.replace(TRACE_ID_FIELD, trace_id)


def _env_name(field: str) -> str:
    return "PROVLOG_" + field.upper()


def _from_file(path: str) -> dict[str, str]:
    with Path(path).open("rb") as handle:
        data = tomllib.load(handle)
    found: dict[str, str] = {}
    for key, value in data.items():
        field = key.lower().removeprefix("provlog_")
        if field not in _PARSERS:
            raise ValueError(f"{path}: unknown setting {key!r}")
        found[field] = str(value).lower() if isinstance(value, bool) else str(value)
    return found


def is_disabled(environ: Mapping[str, str] | None = None) -> bool:
    """Tell whether recording is switched off: the one place the switch is decided.

    Off when ``PROVLOG_ENABLED`` is false (``false``/``0``/``no``/``off``) or when
    ``OTEL_SDK_DISABLED`` is ``true``. An unreadable ``PROVLOG_ENABLED`` raises
    :class:`ValueError`, so a typo cannot silently turn the event log off.
    """
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return True
    raw = env.get("PROVLOG_ENABLED", "")
    return bool(raw.strip()) and not parse_bool(raw, name="PROVLOG_ENABLED")


def load_settings(
    environ: Mapping[str, str] | None = None, **overrides: Unpack[SettingValues]
) -> Settings:
    """Load the settings: explicit overrides, then environment, then file, then defaults.

    Explicit ``overrides`` beat the environment, which beats the ``PROVLOG_CONFIG`` file,
    which beats the defaults.

    Args:
        environ: the variables to read (``os.environ`` when None).
        overrides: field values of :class:`Settings`, already typed.

    Raises:
        ValueError: for an unknown override or an unreadable value, naming the setting.
    """
    env = os.environ if environ is None else environ
    unknown = set(overrides) - set(_PARSERS)
    if unknown:
        raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    raw: dict[str, str] = {}
    config_file = env.get("PROVLOG_CONFIG", "").strip()
    if config_file:
        raw.update(_from_file(config_file))
    for field in _PARSERS:
        value = env.get(_env_name(field))
        if value is not None and value.strip():
            raw[field] = value
    values: dict[str, Any] = {
        field: _PARSERS[field](text, name=_env_name(field)) for field, text in raw.items()
    }
    values["enabled"] = values.get("enabled", True) and not is_disabled(
        {"OTEL_SDK_DISABLED": env.get("OTEL_SDK_DISABLED", "")}
    )
    values.update(overrides)
    return dataclasses.replace(Settings(), **values)
