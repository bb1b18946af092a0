"""Every command opens the store one way: one line and the contract's exit code on failure."""

from __future__ import annotations

from click.testing import CliRunner

from otel_provlog.cli.commands import provlog


def test_a_store_that_does_not_answer_is_exit_code_5(unreachable_url, monkeypatch):
    """`provlog db current`, stats, expire and prune say so in one line, no traceback."""
    monkeypatch.delenv("PROVLOG_API_URL", raising=False)
    runner = CliRunner()
    for command in (["db", "current"], ["stats"], ["expire"], ["prune"]):
        result = runner.invoke(provlog, [*command, "--database-url", unreachable_url])
        assert result.exit_code == 5, (command, result.output)
        assert "the store does not answer" in result.output
        assert "Traceback" not in result.output


def test_an_unreadable_setting_is_bad_usage(tmp_path, monkeypatch):
    """A malformed PROVLOG_* value is exit code 2, naming the setting."""
    monkeypatch.setenv("PROVLOG_EVENT_RETENTION", "soon")
    result = CliRunner().invoke(
        provlog, ["prune", "--database-url", f"sqlite:///{tmp_path / 'p.db'}"]
    )
    assert result.exit_code == 2
    assert "PROVLOG_EVENT_RETENTION" in result.output


def test_a_store_without_tables_fails_the_command_with_exit_code_1(tmp_path):
    """The store answered but could not do it: exit code 1 and the database's reason."""
    result = CliRunner().invoke(
        provlog, ["stats", "--database-url", f"sqlite:///{tmp_path / 'e.db'}"]
    )
    assert result.exit_code == 1
    assert "the store failed" in result.output
