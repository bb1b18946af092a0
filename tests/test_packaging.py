"""The wheel installs one package, ``otel_provlog``, with everything it needs inside."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """A wheel built from the source tree."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        cwd=out,
    )
    (path,) = out.glob("otel_provlog-*.whl")
    return path


def test_wheel_holds_only_the_otel_provlog_package(wheel):
    """No bare ``exporter`` or ``api`` module: both live inside ``otel_provlog``."""
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names}
    assert {t for t in top_level if not t.endswith(".dist-info")} == {"otel_provlog"}
    for expected in (
        "otel_provlog/py.typed",
        "otel_provlog/exporter/models.py",
        "otel_provlog/exporter/migrations/env.py",
        "otel_provlog/exporter/migrations/script.py.mako",
        "otel_provlog/exporter/migrations/versions/0001_initial.py",
        "otel_provlog/api/__init__.py",
        "otel_provlog/api/templates/pages/cluster.html",
        "otel_provlog/api/static/provlog.js",
        "otel_provlog/api/static/provlog.css",
        "otel_provlog/client/__init__.py",
    ):
        assert expected in names


def test_installed_wheel_lands_in_site_packages_as_one_package(wheel, tmp_path):
    """Installing the wheel puts ``otel_provlog`` (and its metadata) into site-packages only."""
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
    )
    landed = {p.name for p in target.iterdir() if not p.name.endswith(".dist-info")}
    landed.discard("bin")
    assert landed == {"otel_provlog"}
    assert not (target / "exporter").exists()
    assert not (target / "api").exists()
    entry_points = next(target.glob("otel_provlog-*.dist-info")) / "entry_points.txt"
    assert "provlog = otel_provlog.cli:main" in entry_points.read_text()
    metadata = (next(target.glob("otel_provlog-*.dist-info")) / "METADATA").read_text()
    required = [
        line.removeprefix("Requires-Dist: ")
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist: ") and "extra ==" not in line
    ]
    assert [r.split(">")[0].split("=")[0].strip() for r in required] == ["opentelemetry-api"]


def test_the_server_extra_brings_the_otlp_protobuf_messages(wheel):
    """``otel-provlog[server]`` requires opentelemetry-proto, which POST /v1/traces decodes with."""
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = archive.read(name).decode()
    server = [
        line.removeprefix("Requires-Dist: ").split(";")[0].replace(" ", "")
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist: ") and 'extra == "server"' in line
    ]
    assert "opentelemetry-proto>=1.27" in server


def test_the_client_extra_brings_requests_and_the_store_extra_the_client(wheel):
    """``otel-provlog[client]`` requires requests; the CLI's ``store`` extra pulls it in."""
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = archive.read(name).decode()

    def extra(label: str) -> list[str]:
        return [
            line.removeprefix("Requires-Dist: ").split(";")[0].replace(" ", "")
            for line in metadata.splitlines()
            if line.startswith("Requires-Dist: ") and f'extra == "{label}"' in line
        ]

    assert "requests>=2.31" in extra("client")
    assert "otel-provlog[client]" in extra("store")
