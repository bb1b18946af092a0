"""The web page in a real browser: Debian's Chromium, driven by Playwright, on ``provlog serve``.

The spans come from ``otel_provlog`` itself and are stored by the real write path, on every
backend. Screenshots go to ``$PROVLOG_SCREENSHOTS`` when it is set (``docs/images`` for the
docs), to the test's temporary folder otherwise.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_provlog
from otel_provlog.exporter.database import create_store_engine, session_factory
from otel_provlog.exporter.records import record_from_span
from otel_provlog.exporter.writer import write_records
from tests.api.conftest import TOKEN_TABLE, TOKENS
from tests.served_api import ServedApi

playwright_api = pytest.importorskip("playwright.sync_api")
axe_api = pytest.importorskip("axe_playwright_python.sync_playwright")

expect = playwright_api.expect
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
PLAN = ["Launching instances", "Waiting for ssh", "Configuring"]
SCRIPT = "<script>alert('x')</script>"
LIVE_SECONDS = 10_000  # milliseconds Playwright waits for the page to change by itself

pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM) and not os.environ.get("CI"),
    reason="Debian's chromium is not installed (.ci/run installs it)",
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module."""
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class Provisioning:
    """A cluster provisioned by ``otel_provlog``, its ended spans stored by the write path."""

    def __init__(self, url: str, cluster_id: str = "c-1", *, name: str = "hadoop") -> None:
        self.engine = create_store_engine(url)
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.stored = 0
        self.operation = otel_provlog.start_operation(
            cluster_id,
            "creating",
            cluster_name=name,
            tenant_id="t-1",
            plan=PLAN,
            tracer_provider=self.provider,
        )
        self.cluster_id = cluster_id
        self.step: Any = None
        self.count = 0

    def start_step(self, name: str, total: int) -> None:
        """Start the next step of the plan."""
        self.step = otel_provlog.start_step(self.cluster_id, name, total=total)

    def instances(self, count: int, *, failed: int = 0, name: str | None = None) -> None:
        """Finish ``count`` instances of the step, the first ``failed`` of them failing."""
        for number in range(count):
            self.count += 1
            fields = {
                "instance_id": f"i-{self.count:04d}",
                "instance_name": name or f"worker-{self.count:04d}",
                "node_group_id": "workers" if self.count % 4 else "masters",
            }
            if number < failed:
                error = TimeoutError(
                    f"SSH to 10.0.{self.count // 250}.{self.count % 250}:22 timed out"
                )
                self.step.add_failure(exception=error, **fields)
            else:
                self.step.add_success(**fields)
        self.store()

    def end(self) -> None:
        """End the step and the operation."""
        self.step.end()
        self.operation.end()
        self.store()

    def store(self) -> None:
        """Write the spans ended since the last call through the store's write path."""
        spans = self.exporter.get_finished_spans()[self.stored :]
        self.stored += len(spans)
        records = [record for record in map(record_from_span, spans) if record is not None]
        with session_factory(self.engine).begin() as session:
            write_records(session, records)

    def close(self) -> None:
        """End what is still open (nothing stays current for later tests); release the store."""
        self.operation.end()
        self.provider.shutdown()
        self.engine.dispose()


@pytest.fixture
def provisioning(database_url: str) -> Iterator[Provisioning]:
    """A running creating operation of cluster ``c-1`` (tenant ``t-1``)."""
    found = Provisioning(database_url)
    yield found
    found.close()


def _served(database_url: str, tmp_path: Path, **env: str) -> ServedApi:
    return ServedApi(
        {"PROVLOG_DATABASE_URL": database_url, "PROVLOG_AUTH": "none", **env},
        workers=2,
        cwd=tmp_path,
    )


def _shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("PROVLOG_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _serious(page: Any) -> list[str]:
    results = axe_api.Axe().run(page)
    return [
        f"{violation['id']} ({violation['impact']}): {violation['help']}"
        for violation in results.response["violations"]
        if violation["impact"] in ("serious", "critical")
    ]


def test_pages_render_link_filter_and_pass_the_audit(browser, provisioning, database_url, tmp_path):
    """The list links to the cluster, the cluster to its instances; filters live in the URL."""
    provisioning.start_step("Launching instances", 40)
    provisioning.instances(30, failed=6)
    provisioning.instances(1, name=SCRIPT)
    dialogs: list[str] = []
    with _served(database_url, tmp_path) as api:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.goto(api.url + "/")
        assert page.get_by_role("link", name="hadoop").is_visible()
        assert "25 / 40 instances ready" in page.inner_text("table")
        assert _serious(page) == []
        page.get_by_role("link", name="hadoop").click()
        page.wait_for_url("**/clusters/c-1")
        assert page.inner_text("h1") == "hadoop"
        assert "6 failed" in page.inner_text("[data-part=groups]")
        assert page.locator(".cells a").count() == 31
        assert page.get_by_text(SCRIPT, exact=True).count() >= 1  # the name, as text
        assert _serious(page) == []
        page.select_option("select[name=state]", "failed")
        page.get_by_role("button", name="Filter").last.click()
        page.wait_for_url("**state=failed**")
        assert page.locator("table.events tbody tr").count() == 6
        page.locator("table.events tbody tr a").first.click()
        page.wait_for_url("**/clusters/c-1/instances/**")
        assert "timed out" in page.inner_text("main")
        assert "Traceback" in page.inner_text("main")  # auth none: every caller is an admin
        assert page.locator("details.traceback[open]").count() == 0  # collapsed
        assert _serious(page) == []
        page.goto(api.url + "/?status=Active")
        assert "No clusters match these filters" in page.inner_text("main")
        context.close()
    assert dialogs == []


def _set_hidden(page: Any, *, hidden: bool) -> None:
    """Make the page's tab look hidden (or visible again) to its script."""
    page.evaluate(
        """hidden => {
            Object.defineProperty(document, "hidden", {value: hidden, configurable: true});
            document.dispatchEvent(new Event("visibilitychange"));
        }""",
        hidden,
    )


def test_running_provisioning_updates_the_page_until_it_ends(
    browser, provisioning, database_url, tmp_path
):
    """New events show without a reload; hidden, the page pauses; it stops once ended."""
    provisioning.start_step("Launching instances", 20)
    provisioning.instances(5)
    with _served(database_url, tmp_path) as api:
        page = browser.new_page()
        page.goto(api.url + "/clusters/c-1")
        page.evaluate("window.sameDocument = true")
        assert "5 / 20" in page.inner_text("[data-part=plan]")
        answers: list[int] = []
        page.on("response", lambda response: answers.append(response.status))
        page.wait_for_timeout(2500)
        assert 304 in answers  # nothing changed: the refresh costs no page
        provisioning.instances(6, failed=2)
        expect(page.locator("[data-part=plan]")).to_contain_text("9 / 20", timeout=LIVE_SECONDS)
        assert page.locator(".cells a").count() == 11
        assert page.locator(".cells .f a").count() == 2
        assert page.locator("[data-part=groups]").is_visible()
        assert "updated" in page.inner_text("[data-live-age]")
        assert page.evaluate("window.sameDocument") is True  # no reload
        _set_hidden(page, hidden=True)
        expect(page.locator("[data-live-status]")).to_contain_text("Paused")
        hidden: list[str] = []
        page.on("request", lambda request: hidden.append(request.url))
        page.wait_for_timeout(3000)
        assert hidden == []
        _set_hidden(page, hidden=False)
        expect(page.locator("[data-live-status]")).to_contain_text("Connected")
        provisioning.instances(9)
        provisioning.step.end()
        provisioning.start_step(PLAN[1], 20)
        provisioning.store()
        provisioning.count = 0  # the next step works on the same 20 instances
        running = page.locator(".cells .r a")
        expect(running).to_have_count(20, timeout=LIVE_SECONDS)  # each seen in step one
        assert running.first.inner_text() == "◔"  # a glyph, not colour alone
        provisioning.instances(5)
        expect(running).to_have_count(15, timeout=LIVE_SECONDS)
        assert page.locator("[data-part=step] .slowest li").count() == 10
        provisioning.end()
        expect(page.locator("main")).to_have_attribute("data-live", "ended", timeout=LIVE_SECONDS)
        assert "no longer refreshes" in page.inner_text("[data-live-status]")
        asked: list[str] = []
        page.on("request", lambda request: asked.append(request.url))
        page.wait_for_timeout(5000)
        assert asked == []
        assert page.evaluate("window.sameDocument") is True
        page.close()


def test_sign_in_scopes_the_page_and_hides_tracebacks_from_readers(
    browser, provisioning, database_url, tmp_path
):
    """A reader signs in once; another tenant's reader gets a 404 page; no traceback."""
    provisioning.start_step("Launching instances", 4)
    provisioning.instances(4, failed=1)
    env = {"PROVLOG_AUTH": "tokens", "PROVLOG_API_TOKENS": TOKEN_TABLE}
    with _served(database_url, tmp_path, **env) as api:
        for role, found in (("reader", True), ("other", False)):
            context = browser.new_context()
            page = context.new_page()
            page.goto(api.url + "/clusters/c-1/instances/i-0001")
            page.wait_for_url("**/sign-in?next=**")
            assert _serious(page) == []
            page.fill("#token", TOKENS[role])
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_load_state()
            assert TOKENS[role] not in page.url
            cookies = context.cookies()
            assert [(c["httpOnly"], c["sameSite"]) for c in cookies] == [(True, "Lax")]
            assert all(TOKENS[role] not in c["value"] for c in cookies)
            text = page.inner_text("main")
            if found:
                assert "timed out" in text
                assert "Traceback" not in text
            else:
                assert page.inner_text("h1") == "Not found"
                assert "hadoop" not in page.content()
            context.close()


def test_screenshots_of_the_list_and_cluster_page(browser, provisioning, database_url, tmp_path):
    """The list, the cluster page (light and dark) and the phone width render readably."""
    provisioning.start_step("Launching instances", 120)
    for _ in range(2):  # a step that lasts a little, so that the timeline has bars
        provisioning.instances(60, failed=2)
        time.sleep(1)
    provisioning.step.end()
    provisioning.start_step("Waiting for ssh", 120)
    provisioning.count = 0  # the same instances: those without an event yet run in it
    provisioning.instances(40, failed=3)
    time.sleep(1)
    provisioning.instances(30)
    shots = _shots(tmp_path)
    with _served(database_url, tmp_path) as api:
        for name, path, options in (
            ("list", "/", {"viewport": {"width": 1280, "height": 720}}),
            ("cluster-light", "/clusters/c-1", {"viewport": {"width": 1280, "height": 900}}),
            (
                "cluster-dark",
                "/clusters/c-1",
                {"viewport": {"width": 1280, "height": 900}, "color_scheme": "dark"},
            ),
            ("cluster-phone", "/clusters/c-1", {"viewport": {"width": 390, "height": 844}}),
        ):
            context = browser.new_context(**options)
            page = context.new_page()
            page.goto(api.url + path)
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{name}: the page is {overflow}px wider than the window"
            assert _serious(page) == []
            page.screenshot(path=str(shots / f"page-{name}.png"), full_page=name != "list")
            context.close()
    assert {path.name for path in shots.glob("page-*.png")} >= {
        "page-cluster-dark.png",
        "page-cluster-light.png",
        "page-cluster-phone.png",
        "page-list.png",
    }
