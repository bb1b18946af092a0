"""The documentation site: it builds in strict mode, its references and its map are current."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
BUILD_SECONDS = 120


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_reference", DOCS / "gen_reference.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
        capture_output=True,
        text=True,
        timeout=BUILD_SECONDS,
        check=False,
    )


def test_the_site_builds_in_strict_mode(tmp_path):
    """The site builds with --strict: every link, anchor and nav entry resolves."""
    result = _build(ROOT / "mkdocs.yml", tmp_path / "site")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "site" / "reference" / "rest" / "index.html").exists()
    assert (tmp_path / "site" / "grafana" / "index.html").exists()  # from dashboards/README.md
    scaling = (tmp_path / "site" / "scaling-out" / "index.html").read_text(encoding="utf-8")
    assert "otlphttp/provlog" in scaling  # collector.yaml shown in the page


def test_a_broken_link_fails_the_build(tmp_path):
    """The strict build is a real gate: a page linking to a missing page fails it."""
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    shutil.copytree(DOCS, tmp_path / "docs", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "dashboards", tmp_path / "dashboards", dirs_exist_ok=True)
    page = tmp_path / "docs" / "concepts.md"
    page.write_text(page.read_text(encoding="utf-8") + "\n[gone](no-such-page.md)\n")
    result = _build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert result.returncode != 0
    assert "no-such-page.md" in result.stderr


def test_the_generated_references_are_current():
    """docs/reference/*.md match the OpenAPI document and the commands of this version.

    Checked in a process of its own, as a developer runs it: click keeps state on command
    objects that other tests' invocations change.
    """
    result = subprocess.run(
        [sys.executable, str(DOCS / "gen_reference.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=BUILD_SECONDS,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_the_references_name_every_endpoint_and_command():
    """Every path of /openapi.json and every provlog command has a section of its own."""
    from otel_provlog.cli.commands import provlog

    generator = _generator()
    rest = generator.rest_reference(generator.openapi_document())
    for path, item in generator.openapi_document()["paths"].items():
        for method in item:
            assert f"### `{method.upper()} {path}`" in rest
    cli = generator.cli_reference(provlog)
    for name in provlog.commands:
        assert f"## `provlog {name}`" in cli


def test_the_check_mode_reports_a_stale_file(tmp_path, monkeypatch):
    """--check exits 1 and names the file when a reference differs from the code."""
    generator = _generator()
    for name in ("rest.md", "cli.md"):
        shutil.copy(DOCS / "reference" / name, tmp_path / name)
    (tmp_path / "cli.md").write_text("# edited by hand\n")
    monkeypatch.setattr(generator, "REFERENCE", tmp_path)
    assert generator.main(["--check"]) == 1


PACKAGES = {
    "otel_provlog": ROOT / "otel_provlog",
    "otel_provlog.cli": ROOT / "otel_provlog" / "cli",
    "otel_provlog.client": ROOT / "otel_provlog" / "client",
    "otel_provlog.exporter": ROOT / "exporter",
    "otel_provlog.api": ROOT / "api",
}


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_the_architecture_page_names_every_module(package):
    """docs/architecture.md says what each module owns: a new module needs its line there."""
    page = (DOCS / "architecture.md").read_text(encoding="utf-8")
    modules = sorted(path.name for path in PACKAGES[package].glob("*.py"))
    missing = [name for name in modules if f"| `{name}` |" not in page]
    assert not missing, f"add to docs/architecture.md, under {package}: {missing}"
