"""The web page, served by the API's application: content, escaping, scoping and sign-in."""

from __future__ import annotations

import gzip
import re
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import event

from otel_provlog.api.pages import CONTENT_SECURITY_POLICY
from otel_provlog.exporter import store
from otel_provlog.exporter.models import span_row_id

SCRIPT = "<script>alert(1)</script>"


def _text(response, status=200):
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    return response.get_data(as_text=True)


def _instance(n):
    """The id of the seeder's n-th span's instance."""
    return "i-" + f"{n:016x}"


def _again(seed, step_id, spans, *, at, cluster_id="c-1", node_group="workers"):
    """Store a successful event in the step for each instance (named by its first span)."""
    rows = []
    for k, first_span in enumerate(spans):
        ids = seed._span_row(cluster_id)
        when = at + timedelta(seconds=k + 1)
        rows.append(
            {
                **ids,
                "id": span_row_id(seed.trace, ids["span_id"]),
                "provision_step_id": step_id,
                "node_group_id": node_group,
                "instance_id": _instance(first_span),
                "instance_name": f"worker-{first_span:016x}",
                "successful": True,
                "started_at": when - timedelta(milliseconds=500),
                "created_at": when,
                "updated_at": when,
            }
        )
    with seed.sessions.begin() as session:
        store.add_events(session, rows)


def _provisioning(seed, *, cluster_id="c-1", tenant="t-1", name="hadoop"):
    """A running creating operation: one failed step, one running; returns the step ids.

    The second step has events of 5 of the first step's 12 instances (spans 3 to 14): the
    other 7 are running in it.
    """
    seed.cluster(cluster_id, tenant=tenant, name=name)
    operation = seed.operation(cluster_id, plan=["Launching instances", "Waiting for ssh", "Done"])
    first = seed.step(cluster_id, "Launching instances", total=12, operation_id=operation)
    seed.events(
        first,
        12,
        cluster_id=cluster_id,
        failed=3,
        message=lambda n: f"SSH to 10.0.0.{n} timed out after 300s",
        node_group="workers",
    )
    seed.end_step(first, seconds=30, successful=False)
    later = seed.t0 + timedelta(seconds=40)
    second = seed.step(cluster_id, "Waiting for ssh", total=12, operation_id=operation, at=later)
    _again(seed, second, range(6, 11), at=later, cluster_id=cluster_id)
    return first, second


def test_cluster_list_shows_status_progress_and_filters(client, seed):
    """The list shows each cluster's status in words and glyph, its progress and failures."""
    _provisioning(seed)
    seed.cluster("c-2", name="spark", status="Active")
    page = _text(client.get("/"))
    assert "hadoop" in page
    assert "spark" in page
    assert "5 / 12 instances ready" in page
    assert re.search(
        r'<span class="status s-creating"><span aria-hidden="true">◔</span> Creating', page
    )
    filtered = _text(client.get("/?status=Active"))
    assert "spark" in filtered
    assert "hadoop" not in filtered
    first = _text(client.get("/?limit=1&sort_by=name"))
    marker = re.search(r'href="/\?limit=1&amp;sort_by=name&amp;marker=([^"]+)"', first)
    assert marker is not None
    second = _text(client.get(f"/?limit=1&sort_by=name&marker={marker.group(1)}"))
    assert "spark" in second
    assert "hadoop" not in second
    assert client.get("/?status=Active&bogus=1").status_code == 200
    assert client.get("/?limit=zero").status_code == 400


def test_cluster_page_shows_groups_plan_node_groups_map_and_events(client, seed):
    """The cluster page has failure groups first, the plan with 'done / total', and the step."""
    first, second = _provisioning(seed)
    page = _text(client.get("/clusters/c-1"))
    assert page.index("Failures by cause") < page.index("Plan")
    assert "3 failed" in page
    assert "SSH to &lt;ip&gt; timed out after &lt;n&gt;s" in page
    assert "12 / 12" not in page
    assert "9 / 12" in page
    assert "5 / 12" in page
    assert "Step: Waiting for ssh" in page
    assert len(re.findall(r'<a href="\?i=i-[0-9a-f]+">✓</a>', page)) == 5
    running = re.search(r'<span class="r">(.*?)</span>', page).group(1)
    assert len(re.findall(r'<a href="\?i=i-[0-9a-f]+">◔</a>', running)) == 7
    breakdown = re.search(r'<table class="breakdown">.*?</table>', page, re.S).group(0)
    cells = re.findall(r"<td>(.*?)</td>", breakdown.split("workers</a></td>")[1])[:4]
    assert [re.sub(r"<[^>]+>", "", cell).strip() for cell in cells] == ["✓ 5", "0", "◔ 7", "—"]
    assert "not known yet" not in breakdown
    slowest = page.split("Slowest still-running instances")[1].split("</ol>")[0]
    assert slowest.count("<li>") == 7
    assert f"/clusters/c-1/instances/{_instance(3)}" in slowest
    assert f"/clusters/c-1/instances/{_instance(6)}" not in slowest
    assert "| 3 | `SSH to 10.0.0.0 timed out after 300s` | workers: 3 |" in page
    listed = re.search(
        r'href="(/clusters/c-1\?fp=[0-9a-f]{16}[^"]*)#events">List these failures', page
    )
    assert listed is not None
    failures = _text(client.get(listed.group(1).replace("&amp;", "&")))
    assert failures.count('<tr class="failed">') == 3
    assert "Step: Launching instances" in failures
    chosen = _text(client.get(f"/clusters/c-1?step={first}&state=failed"))
    assert "Step: Launching instances" in chosen
    assert len(re.findall(r'title="worker-[0-9a-f]+ failed">✗</a>', chosen)) == 3
    assert chosen.count('<tr class="failed">') == 3
    assert "The step ended: nothing runs in it." in chosen
    assert "◔</a>" not in chosen
    by_group = _text(client.get(f"/clusters/c-1?step={second}&ng=masters"))
    assert "No events match these filters" in by_group
    assert client.get("/clusters/c-1?state=broken").status_code == 400
    assert client.get("/clusters/c-1?sort=sideways").status_code == 400
    assert client.get("/clusters/c-1?groups_marker=0000000000000000").status_code == 404
    assert client.get("/clusters/c-1?marker=nope").status_code == 404


def test_a_first_steps_unseen_instances_are_pending_at_the_step_level(client, seed):
    """Instances never seen have no node group yet: pending, counted for the whole step."""
    seed.cluster("c-1")
    operation = seed.operation("c-1")
    step = seed.step("c-1", "Launching instances", total=10, operation_id=operation)
    seed.events(step, 4, failed=1, node_group="workers")
    page = _text(client.get("/clusters/c-1"))
    breakdown = re.search(r'<table class="breakdown">.*?</table>', page, re.S).group(0)
    assert re.search(r"\(not known yet\)</td>.*?·</span> 6</td>", breakdown)
    assert "Pending, node group not known yet <small>6</small>" in page
    assert page.count("<i>·</i>") == 6
    assert "Slowest still-running" not in page
    assert "Pending: the step's 10 instances less those done, failed and running" in page


def test_recorded_text_is_escaped_everywhere(client, seed):
    """A name or message holding <script> is shown as text, never as markup."""
    seed.cluster("c-1", name=SCRIPT)
    step = seed.step(total=2)
    seed.events(step, 2, failed=1, message=SCRIPT, names=lambda span: SCRIPT)
    instance = "i-" + f"{2:016x}"
    for path in ("/", "/clusters/c-1", f"/clusters/c-1/instances/{instance}"):
        page = _text(client.get(path))
        assert SCRIPT not in page, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page, path


def test_pages_send_a_strict_content_security_policy(client, seed):
    """No inline script is allowed; the page's own script and styles are files."""
    seed.cluster()
    response = client.get("/clusters/c-1")
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY
    page = _text(response)
    assert re.findall(r"<script[^>]*>", page) == ['<script src="/static/provlog.js" defer>']
    assert " style=" not in page
    for name in ("provlog.js", "provlog.css"):
        with client.get(f"/static/{name}") as asset:
            assert asset.status_code == 200


def test_cluster_page_answers_304_until_something_changes(client, seed):
    """The ETag holds while nothing changes; a new event changes it."""
    _first, second = _provisioning(seed)
    response = client.get("/clusters/c-1")
    etag = response.headers["ETag"]
    assert client.get("/clusters/c-1", headers={"If-None-Match": etag}).status_code == 304
    seed.events(second, 1, at=seed.t0 + timedelta(minutes=5))
    fresh = client.get("/clusters/c-1", headers={"If-None-Match": etag})
    assert fresh.status_code == 200
    assert fresh.headers["ETag"] != etag
    assert "6 / 12" in fresh.get_data(as_text=True)


def test_many_live_viewers_cost_one_render_per_change(app, seed):
    """Live updates of a changed page are answered at once and render it once for all."""
    _first, second = _provisioning(seed)
    etag = app.test_client().get("/clusters/c-1").headers["ETag"]
    _again(seed, second, [11], at=seed.t0 + timedelta(minutes=5))
    statements: list[str] = []
    engine = app.extensions["provlog"]["engine"]

    def count(*args):
        statements.append(args[2])

    live = {"X-Provlog-Live": "1", "If-None-Match": etag, "Accept-Encoding": "gzip"}
    event.listen(engine, "before_cursor_execute", count)
    try:
        with ThreadPoolExecutor(8) as pool:
            answers = list(
                pool.map(lambda _: app.test_client().get("/clusters/c-1", headers=live), range(40))
            )
        deadline = time.monotonic() + 10
        fresh = answers[0]
        while fresh.status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.1)
            fresh = app.test_client().get("/clusters/c-1", headers=live)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert {answer.status_code for answer in answers} <= {200, 304}
    assert fresh.status_code == 200
    assert fresh.headers["Content-Encoding"] == "gzip"
    assert "6 / 12" in gzip.decompress(fresh.get_data()).decode()
    cells = "SELECT cluster_events.node_group_id, cluster_events.instance_id, "
    renders = [s for s in statements if s.startswith(cells)]
    versions = [s for s in statements if "count(provision_steps.id)" in s]
    assert len(renders) == 1
    assert 1 <= len(versions) < 41 / 4


def test_a_late_event_of_an_earlier_step_changes_the_running_instances(client, seed):
    """An instance first seen late in an earlier step runs in the current one at once."""
    first, _second = _provisioning(seed)
    page = _text(client.get("/clusters/c-1"))
    assert page.count("◔</a>") == 7
    seed.events(first, 1, at=seed.t0 + timedelta(seconds=35), node_group="masters")
    page = _text(client.get("/clusters/c-1"))
    assert page.count("◔</a>") == 8
    breakdown = re.search(r'<table class="breakdown">.*?</table>', page, re.S).group(0)
    assert "masters</a>" in breakdown


def test_missing_cluster_and_instance_are_404_pages(client, seed):
    """A missing cluster or instance is an HTML 404 page."""
    seed.cluster()
    for path in ("/clusters/nope", "/clusters/c-1/instances/nope"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.mimetype == "text/html"
        assert "Not found" in response.get_data(as_text=True)


def test_instance_map_cells_lead_to_the_instance_page(client, seed):
    """A map cell's short link redirects to the instance's page, which lists its events."""
    _provisioning(seed)
    instance = "i-" + f"{4:016x}"
    response = client.get(f"/clusters/c-1?i={instance}")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/clusters/c-1/instances/{instance}"
    page = _text(client.get(response.headers["Location"]))
    assert "Launching instances" in page
    assert "SSH to 10.0.0.1 timed out after 300s" in page


def _sign_in(client, role):
    from tests.api.conftest import TOKENS

    return client.post("/sign-in", data={"token": TOKENS[role], "next": "/clusters/c-1"})


def test_tokens_auth_signs_a_browser_in_with_a_cookie(token_client, seed):
    """Without a sign-in the page redirects to the form; a good token sets a safe cookie."""
    _provisioning(seed)
    response = token_client.get("/clusters/c-1")
    assert response.status_code == 302
    assert response.headers["Location"] == "/sign-in?next=/clusters/c-1"
    form = _text(token_client.get("/sign-in?next=/clusters/c-1"))
    assert 'type="password"' in form
    wrong = token_client.post("/sign-in", data={"token": "wrong", "next": "/"})
    assert wrong.status_code == 401
    signed = _sign_in(token_client, "reader")
    assert signed.status_code == 302
    assert signed.headers["Location"] == "/clusters/c-1"
    cookie = signed.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "reader-secret" not in cookie
    assert "hadoop" in _text(token_client.get("/clusters/c-1"))
    assert token_client.post("/sign-out").status_code == 302
    assert token_client.get("/clusters/c-1").status_code == 302


def test_sign_in_never_redirects_off_site(token_client, seed):
    """The 'next' of the sign-in form is a path of this site, or the cluster list."""
    seed.cluster()
    from tests.api.conftest import TOKENS

    response = token_client.post(
        "/sign-in", data={"token": TOKENS["reader"], "next": "//evil.example/x"}
    )
    assert response.headers["Location"] == "/"


def test_another_tenants_cluster_is_a_404_page(token_client, seed):
    """A reader of another tenant sees a 404 page for the cluster and its instances."""
    _provisioning(seed)
    _sign_in(token_client, "other")
    instance = "i-" + f"{4:016x}"
    for path in ("/clusters/c-1", f"/clusters/c-1/instances/{instance}", "/clusters/c-1?step=x"):
        response = token_client.get(path)
        assert response.status_code in (404, 400), path
        assert "hadoop" not in response.get_data(as_text=True)
    assert "hadoop" not in _text(token_client.get("/"))


def test_tracebacks_are_shown_to_admins_only(token_client, seed):
    """The instance page shows a failure's traceback to admins, collapsed, and to no one else."""
    _provisioning(seed)
    instance = "i-" + f"{4:016x}"
    path = f"/clusters/c-1/instances/{instance}"
    _sign_in(token_client, "reader")
    reader = _text(token_client.get(path))
    assert "SSH to 10.0.0.1 timed out" in reader
    assert "Traceback" not in reader
    _sign_in(token_client, "admin")
    admin = _text(token_client.get(path))
    assert '<details class="traceback"><summary>Traceback (admins only)</summary>' in admin
    assert "Traceback (most recent call last):" in admin


def test_headers_auth_scopes_the_page_to_the_proxy_project(database_url, seed):
    """Behind an auth proxy, the page reads the same identity headers as the API."""
    from tests.api.conftest import make_app

    _provisioning(seed)
    app = make_app(database_url, "headers")
    client = app.test_client()
    own = {"X-Project-Id": "t-1", "X-Roles": "member"}
    other = {"X-Project-Id": "t-2", "X-Roles": "member"}
    assert "hadoop" in _text(client.get("/clusters/c-1", headers=own))
    assert client.get("/clusters/c-1", headers=other).status_code == 404
    assert client.get("/clusters/c-1").status_code == 401
    app.extensions["provlog"]["engine"].dispose()


def test_empty_filter_fields_are_dropped_from_the_url(client, seed):
    """A filter form sent with empty fields lands on the URL of the filters given."""
    seed.cluster()
    response = client.get("/?name=&status=Active&created_after=")
    assert response.status_code == 302
    assert response.headers["Location"] == "/?status=Active"
    assert client.get("/clusters/c-1?ng=&state=failed").headers["Location"] == (
        "/clusters/c-1?state=failed"
    )


def test_an_unexpected_error_is_an_html_page_without_traceback(app, seed, monkeypatch, caplog):
    """A failure inside a page is a 500 page with an error id; the traceback goes to the log."""
    from otel_provlog.api import page_views

    seed.cluster()

    def broken(*_args, **_kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(page_views, "cluster_view", broken)
    response = app.test_client().get("/clusters/c-1")
    page = _text(response, 500)
    assert response.mimetype == "text/html"
    assert "error id" in page
    assert "secret internals" not in page
    assert "Traceback" not in page
    assert "secret internals" in caplog.text


def test_trace_link_follows_the_trace_url_template(database_url, seed, client):
    """With PROVLOG_TRACE_URL the page links the operation's trace, saying when it is whole."""
    from otel_provlog.api import create_app
    from otel_provlog.config import Settings

    _provisioning(seed)
    settings = Settings(database_url=database_url, trace_url="http://jaeger:16686/trace/{trace_id}")
    app = create_app(settings, test_config={"TESTING": True})
    page = _text(app.test_client().get("/clusters/c-1"))
    assert f'<a href="http://jaeger:16686/trace/{seed.trace}">trace</a>' in page
    assert "incomplete until the operation ended" in page
    app.extensions["provlog"]["engine"].dispose()
    assert ">trace</a>" not in _text(client.get("/clusters/c-1"))


def test_large_pages_are_gzipped_for_browsers_that_accept_it(client, seed):
    """A page is sent gzipped when asked for (the same page), and plain otherwise."""
    import gzip

    _provisioning(seed)
    plain = client.get("/clusters/c-1")
    packed = client.get("/clusters/c-1", headers={"Accept-Encoding": "gzip, deflate"})
    assert "Content-Encoding" not in plain.headers
    assert packed.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in packed.headers["Vary"]
    assert gzip.decompress(packed.data) == plain.data
    assert len(packed.data) < len(plain.data) / 3
    again = client.get(
        "/clusters/c-1",
        headers={"Accept-Encoding": "gzip", "If-None-Match": packed.headers["ETag"]},
    )
    assert again.status_code == 304
