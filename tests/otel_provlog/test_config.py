"""Settings come from arguments, then PROVLOG_* variables, then a file, then defaults."""

from __future__ import annotations

import dataclasses

import pytest

from otel_provlog.config import (
    DEFAULT_DATABASE_URL,
    Settings,
    is_disabled,
    load_settings,
    parse_bool,
    parse_duration,
    trace_link,
)


def test_defaults_without_any_setting():
    """With nothing set, recording is on and the store is the local SQLite file."""
    settings = load_settings({})
    assert settings == Settings()
    assert settings.enabled is True
    assert settings.database_url == DEFAULT_DATABASE_URL == "sqlite:///provlog.db"
    assert settings.event_retention == 24 * 3600
    assert settings.auth == "none"


@pytest.mark.parametrize("value", ["false", "0", "no", "off", "FALSE", " Off "])
def test_provlog_enabled_false_turns_recording_off(value):
    """Every spelling of false in PROVLOG_ENABLED switches recording off."""
    assert is_disabled({"PROVLOG_ENABLED": value})
    assert load_settings({"PROVLOG_ENABLED": value}).enabled is False


@pytest.mark.parametrize("value", ["true", "1", "yes", "on", ""])
def test_provlog_enabled_true_or_empty_keeps_recording_on(value):
    """True values, or an empty variable, keep recording on."""
    assert not is_disabled({"PROVLOG_ENABLED": value})


def test_otel_sdk_disabled_also_turns_recording_off():
    """OTEL_SDK_DISABLED=true wins over PROVLOG_ENABLED=true."""
    env = {"OTEL_SDK_DISABLED": "true", "PROVLOG_ENABLED": "true"}
    assert is_disabled(env)
    assert load_settings(env).enabled is False


def test_unreadable_switch_is_an_error_not_a_silent_off():
    """A typo in PROVLOG_ENABLED raises a clear ValueError naming the variable."""
    with pytest.raises(ValueError, match="PROVLOG_ENABLED"):
        is_disabled({"PROVLOG_ENABLED": "nope"})


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90.0),
        ("90s", 90.0),
        ("30m", 1800.0),
        ("24h", 86400.0),
        ("7d", 604800.0),
        ("2w", 1209600.0),
        ("1.5h", 5400.0),
        (" 10 M ", 600.0),
    ],
)
def test_parse_duration(text, seconds):
    """Durations take an optional unit: s, m, h, d or w."""
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "-5m", "10y", "1h30m"])
def test_parse_duration_rejects_garbage(text):
    """An unreadable duration raises ValueError naming the setting."""
    with pytest.raises(ValueError, match="PROVLOG_EVENT_RETENTION"):
        parse_duration(text, name="PROVLOG_EVENT_RETENTION")


def test_parse_bool_rejects_garbage():
    """Only the documented spellings are booleans."""
    with pytest.raises(ValueError, match="maybe"):
        parse_bool("maybe")


def test_environment_is_read_and_typed():
    """PROVLOG_* variables are parsed into typed fields."""
    settings = load_settings(
        {
            "PROVLOG_DATABASE_URL": "postgresql+psycopg://db/provlog",
            "PROVLOG_EVENT_RETENTION": "30m",
            "PROVLOG_OTLP_ENDPOINT": "http://127.0.0.1:4317",
            "PROVLOG_AUTH": "Tokens",
        }
    )
    assert settings.database_url == "postgresql+psycopg://db/provlog"
    assert settings.event_retention == 1800.0
    assert settings.otlp_endpoint == "http://127.0.0.1:4317"
    assert settings.auth == "tokens"


def test_bad_auth_mode_is_rejected():
    """PROVLOG_AUTH accepts only the documented modes."""
    with pytest.raises(ValueError, match="PROVLOG_AUTH"):
        load_settings({"PROVLOG_AUTH": "keystone"})


def test_file_then_environment_then_arguments(tmp_path):
    """The config file fills in, the environment beats it, explicit arguments beat both."""
    path = tmp_path / "provlog.toml"
    path.write_text(
        'PROVLOG_DATABASE_URL = "sqlite:///from-file.db"\n'
        'event_retention = "2h"\n'
        "enabled = true\n"
        'auth = "headers"\n'
    )
    env = {"PROVLOG_CONFIG": str(path), "PROVLOG_EVENT_RETENTION": "3h"}
    settings = load_settings(env, auth="tokens")
    assert settings.database_url == "sqlite:///from-file.db"
    assert settings.event_retention == 3 * 3600
    assert settings.auth == "tokens"


def test_unknown_keys_are_errors(tmp_path):
    """An unknown key in the file, or an unknown override, is refused by name."""
    path = tmp_path / "provlog.toml"
    path.write_text('PROVLOG_DATABSE_URL = "x"\n')
    with pytest.raises(ValueError, match="PROVLOG_DATABSE_URL"):
        load_settings({"PROVLOG_CONFIG": str(path)})
    with pytest.raises(ValueError, match="colour"):
        load_settings({}, colour="blue")


def test_settings_are_frozen():
    """Loaded settings cannot be changed in place."""
    with pytest.raises(dataclasses.FrozenInstanceError):
        load_settings({}).enabled = False  # type: ignore[misc]


def test_trace_url_is_a_template_with_the_trace_id():
    """PROVLOG_TRACE_URL must hold {trace_id}; trace_link fills it in, or gives None."""
    template = "http://tempo:3200/trace/{trace_id}?x={y}"
    settings = load_settings({"PROVLOG_TRACE_URL": f" {template} "})
    assert settings.trace_url == template
    assert (
        trace_link(settings.trace_url, "ab" * 16) == f"http://tempo:3200/trace/{'ab' * 16}?x={{y}}"
    )
    assert trace_link(settings.trace_url, None) is None
    assert trace_link(None, "ab" * 16) is None
    assert load_settings({}).trace_url is None
    with pytest.raises(ValueError, match="PROVLOG_TRACE_URL"):
        load_settings({"PROVLOG_TRACE_URL": "http://jaeger:16686/trace/"})


def test_the_typed_setting_values_name_every_setting():
    """configure(**values) is typed by SettingValues: it must name every Settings field."""
    import dataclasses
    import typing

    from otel_provlog.config import Settings, SettingValues

    fields = {field.name: field.type for field in dataclasses.fields(Settings)}
    assert set(typing.get_type_hints(SettingValues)) == set(fields)
