"""``provlog db`` manages the schema of any backend."""

from __future__ import annotations

from click.testing import CliRunner
from sqlalchemy import inspect

from otel_provlog.cli.commands import provlog
from otel_provlog.exporter import migrate
from otel_provlog.exporter.database import create_store_engine


def test_db_upgrade_current_and_downgrade(database_factory):
    """``db upgrade`` builds the schema, ``db current`` reports it, ``db downgrade`` drops it."""
    url = database_factory.new_url()
    runner = CliRunner()
    result = runner.invoke(provlog, ["db", "upgrade", "--database-url", url])
    assert result.exit_code == 0, result.output
    assert f"store at revision {migrate.head_revision()}" in result.output
    engine = create_store_engine(url)
    assert "provision_steps" in inspect(engine).get_table_names()
    result = runner.invoke(provlog, ["db", "current", "--database-url", url])
    assert f"current: {migrate.head_revision()}" in result.output
    result = runner.invoke(
        provlog, ["db", "downgrade", "--revision", "base", "--database-url", url]
    )
    assert result.exit_code == 0, result.output
    assert "provision_steps" not in inspect(engine).get_table_names()
    engine.dispose()


def test_db_upgrade_reads_the_url_from_the_environment(tmp_path, monkeypatch):
    """Without ``--database-url``, ``PROVLOG_DATABASE_URL`` names the store."""
    url = f"sqlite:///{tmp_path / 'env.db'}"
    monkeypatch.setenv("PROVLOG_DATABASE_URL", url)
    result = CliRunner().invoke(provlog, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert migrate.current_revision(url) == migrate.head_revision()
