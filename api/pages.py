"""The web page: the cluster list, each cluster's event log and each instance's events.

- ``GET /``: clusters, filtered and paged by the query parameters of ``GET /v2/clusters``;
- ``GET /clusters/<cluster_id>``: the header, failure groups, plan, timeline, the chosen
  step's node groups, instance map and slowest instances, and its events;
- ``GET /clusters/<cluster_id>/instances/<instance_id>``: every event of one instance;
- ``GET|POST /sign-in``, ``POST /sign-out``: with ``tokens`` auth, a browser signs in once
  with its token; the page keeps only the token's SHA-256 in a signed, HttpOnly, SameSite
  cookie (the Flask session), never the token and never in a URL.

Pages are rendered on the server and complete without JavaScript; ``provlog.js`` refreshes
a running cluster's page every second by conditional requests: the page's ETag comes from
one small query (:func:`~otel_provlog.exporter.step_reads.cluster_version`), a 304 costs
nothing more, and each version is rendered once for every viewer (:mod:`.page_cache`).
The same authentication and tenant scoping as the API apply; another tenant's cluster is a
404 page.
Every recorded text is escaped by Jinja; tracebacks are shown to admins only.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from datetime import datetime
from typing import Any, Final
from urllib.parse import quote, urlencode

from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from otel_provlog.api import listing, page_cache, page_map, page_views, params
from otel_provlog.api.auth import Authenticator, Principal, hash_token
from otel_provlog.api.database import read_session
from otel_provlog.api.errors import ApiError, log_unexpected, not_found, request_id
from otel_provlog.api.progress import format_duration
from otel_provlog.api.serialize import iso
from otel_provlog.exporter import step_reads
from otel_provlog.exporter.models import utcnow

__all__ = ["AUTH_EXTENSION", "CONTENT_SECURITY_POLICY", "blueprint"]

AUTH_EXTENSION: Final = "provlog_auth"
"""Where the application keeps its :class:`Authenticator` (``app.extensions``)."""
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'self'; frame-ancestors 'none'"
)
"""Every page's policy: its own script and style files only, no inline script."""
GZIP_FROM: Final = 2048
"""Pages of at least this many bytes are sent gzipped to browsers that accept it."""
LIVE_HEADER: Final = "X-Provlog-Live"
"""Sent by the page's script with its updates: they may be answered a moment late."""
STALE_HEADER: Final = "X-Provlog-Stale"
"""Set (to 1) on a live update answered while a newer page renders: the script asks again
shortly rather than a full interval later."""
_SESSION_KEY: Final = "token_sha256"
_OPEN_ENDPOINTS: Final = frozenset({"pages.sign_in", "pages.static"})

blueprint = Blueprint(
    "pages",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)


def _with_args(**changes: str | None) -> str:
    """Return the current path with its query parameters, some replaced or removed."""
    args = request.args.to_dict(flat=False)
    for key, value in changes.items():
        if value is None:
            args.pop(key, None)
        else:
            args[key] = [value]
    return request.path + ("?" + urlencode(args, doseq=True) if args else "")


def _when(value: str | datetime | None) -> str:
    if value is None:
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


@blueprint.record_once
def _setup(state: Any) -> None:
    app = state.app
    app.extensions["provlog_pages"] = {
        "memory": page_cache.PageCache(),
        "shared": None,  # made on the first request served by gunicorn
        "versions": page_cache.VersionCache(),
        "earlier": {},  # a running step's instances seen in earlier steps, by their state
    }
    app.jinja_env.filters.update(
        q=lambda value: quote(str(value), safe=""),
        when=_when,
        duration=lambda seconds: "" if seconds is None else format_duration(seconds),
        seconds=lambda value: f"{value:.1f} s" if value < 60 else format_duration(value),
        age=lambda value: format_duration(
            (utcnow() - datetime.fromisoformat(value)).total_seconds()
        ),
        iso=lambda value: value if isinstance(value, str) or value is None else iso(value),
    )
    app.jinja_env.globals.update(
        glyph=page_views.glyph,
        with_args=_with_args,
        cells_html=page_map.cells_html,
        pending_html=page_map.pending_html,
    )


def _principal(authenticator: Authenticator) -> Principal | None:
    """Return the caller: a signed-in browser, else the request's own credentials."""
    if authenticator.mode == "tokens":
        digest = session.get(_SESSION_KEY)
        found = authenticator.tokens.get(digest) if isinstance(digest, str) else None
        if found is not None:
            return found
        try:
            return authenticator.authenticate(request.headers)
        except ApiError:
            return None
    return authenticator.authenticate(request.headers)


@blueprint.before_request
def _without_empty_filters() -> ResponseReturnValue | None:
    """Redirect a filter form's empty fields away: the URL keeps only the filters given."""
    pairs = list(request.args.items(multi=True))
    if request.method != "GET" or all(value.strip() for _, value in pairs):
        return None
    kept = [(key, value) for key, value in pairs if value.strip()]
    return redirect(request.path + ("?" + urlencode(kept) if kept else ""))


@blueprint.before_request
def _authenticate() -> ResponseReturnValue | None:
    g.principal = None
    if request.endpoint in _OPEN_ENDPOINTS:
        return None
    principal = _principal(current_app.extensions[AUTH_EXTENSION])
    if principal is None:
        return redirect(url_for("pages.sign_in", next=request.full_path.rstrip("?")))
    if not principal.can_read:
        raise ApiError(403, "This credential may not read the event log", name="FORBIDDEN")
    g.principal = principal
    return None


@blueprint.after_request
def _gzipped(response: Response) -> Response:
    """Compress a page for a browser that accepts gzip (a large instance map shrinks ~10x)."""
    if (
        response.status_code != 200
        or response.direct_passthrough
        or response.mimetype != "text/html"
        or "gzip" not in request.headers.get("Accept-Encoding", "")
        or "Content-Encoding" in response.headers
    ):
        return response
    body = response.get_data()
    if len(body) >= GZIP_FROM:
        response.set_data(gzip.compress(body, compresslevel=5))
        response.headers["Content-Encoding"] = "gzip"
    response.vary.add("Accept-Encoding")
    return response


@blueprint.after_request
def _secure(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    if request.endpoint != "pages.static":
        response.headers.setdefault("Cache-Control", "no-cache, private")
    return response


def _error_page(
    status: int, message: str, headers: dict[str, str] | None = None
) -> tuple[str, int, dict[str, str]]:
    page = render_template(
        "pages/error.html",
        status=status,
        message=message,
        request_id=request_id(),
        principal=g.get("principal"),
    )
    return page, status, headers or {}


@blueprint.errorhandler(ApiError)
def _on_error(error: ApiError) -> ResponseReturnValue:
    return _error_page(error.status, error.message, error.headers)


@blueprint.errorhandler(HTTPException)
def _on_http_error(error: HTTPException) -> ResponseReturnValue:
    return _error_page(error.code or 500, error.description or error.name)


@blueprint.errorhandler(Exception)
def _on_unexpected(error: Exception) -> ResponseReturnValue:
    error_id = log_unexpected(error)
    return _error_page(500, f"Something went wrong on the server (error id {error_id}).")


def _page(principal: Principal, template: str, **values: Any) -> str:
    authenticator: Authenticator = current_app.extensions[AUTH_EXTENSION]
    return render_template(
        template, principal=principal, signed_in=authenticator.mode == "tokens", **values
    )


@blueprint.get("/")
def cluster_list() -> ResponseReturnValue:
    """List the caller's clusters with their progress; filters and paging in the URL."""
    principal: Principal = g.principal
    body = listing.cluster_page(principal.tenant_scope, tenant_key="tenant_id")
    rows = [page_views.cluster_row(item, now=utcnow()) for item in body["clusters"]]
    return _page(
        principal,
        "pages/list.html",
        rows=rows,
        markers=body.get("markers", {}),
        args=request.args,
        statuses=page_views.CLUSTER_STATUSES,
    )


def _etag(*parts: Any) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]


def _pages() -> page_cache.PageCache:
    """Return the rendered pages: shared by this server's gunicorn workers, else per process."""
    caches: dict[str, Any] = current_app.extensions["provlog_pages"]
    if not str(request.environ.get("SERVER_SOFTWARE", "")).startswith("gunicorn"):
        return caches["memory"]  # type: ignore[no-any-return]
    if caches["shared"] is None:
        folder = page_cache.shared_folder()
        caches["shared"] = page_cache.PageCache(folder) if folder else caches["memory"]
    return caches["shared"]  # type: ignore[no-any-return]


def _render_cluster(cluster_id: str, principal: Principal, etag: str) -> str:
    view = page_views.cluster_view(
        read_session(),
        cluster_id,
        principal=principal,
        args=request.args,
        trace_url=current_app.config.get("PROVLOG_TRACE_URL"),
        now=utcnow(),
        memo=current_app.extensions["provlog_pages"]["earlier"],
    )
    return _page(principal, "pages/cluster.html", view=view, etag=etag)


def _in_background(cluster_id: str, principal: Principal, etag: str) -> Any:
    """Return a function rendering the page of this request later, on another thread."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    path = request.full_path

    def render() -> str:
        with app.test_request_context(path):
            g.principal = principal
            return _render_cluster(cluster_id, principal, etag)

    return render


def _send(page: page_cache.Page) -> Response:
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        response = make_response(page.body)
        response.headers["Content-Encoding"] = "gzip"
        response.vary.add("Accept-Encoding")
    else:
        response = make_response(page.html())
    response.mimetype = "text/html"
    response.set_etag(page.etag, weak=True)  # weak: the same page, gzipped or not
    return response


def _not_modified(etag: str) -> Response:
    response = make_response("", 304)
    response.set_etag(etag, weak=True)
    return response


@blueprint.get("/clusters/<cluster_id>")
def cluster_page(cluster_id: str) -> ResponseReturnValue:
    """Show one cluster's event log: answered with a 304 while nothing changed.

    Each version is rendered once for every viewer (and every worker of the server); the
    page's script's live updates reuse the version for a fraction of a second and are
    answered with the page already made while a newer one renders in the background.
    """
    principal: Principal = g.principal
    cluster_id = params.path_id("cluster_id", cluster_id)
    instance = request.args.get("i")
    if instance:  # a cell of the instance map: its link is short, the page is not
        target = url_for("pages.instance_page", cluster_id=cluster_id, instance_id=instance)
        return redirect(target)
    live = request.headers.get(LIVE_HEADER) == "1"
    scope = (principal.tenant_scope, principal.tenant_id, principal.is_admin)

    def read() -> Any:
        return step_reads.cluster_version(
            read_session(), cluster_id, tenant_id=principal.tenant_scope
        )

    caches = current_app.extensions["provlog_pages"]
    version = caches["versions"].get((cluster_id, scope), read) if live else read()
    if version is None:
        raise not_found(id=cluster_id)
    etag = _etag(version, request.full_path, scope)
    if request.if_none_match.contains_weak(etag):
        return _not_modified(etag)
    pages = _pages()
    key = _etag(
        os.getppid(), current_app.config.get("PROVLOG_DATABASE_URL"), request.full_path, scope
    )
    page = pages.get(key)
    if page is not None and page.etag == etag:
        return _send(page)
    if live and page is not None:
        pages.refresh(key, etag, _in_background(cluster_id, principal, etag))
        if request.if_none_match.contains_weak(page.etag):
            response = _not_modified(page.etag)
        else:
            response = _send(page)
        response.headers[STALE_HEADER] = "1"
        return response
    with pages.lock(key):  # one render per version, the other viewers wait for it
        page = pages.get(key)
        if page is None or page.etag != etag:
            page = page_cache.Page.of(etag, _render_cluster(cluster_id, principal, etag))
            pages.put(key, page)
    return _send(page)


@blueprint.get("/clusters/<cluster_id>/instances/<path:instance_id>")
def instance_page(cluster_id: str, instance_id: str) -> ResponseReturnValue:
    """Show every event of one instance, across steps and operations."""
    principal: Principal = g.principal
    cluster_id = params.path_id("cluster_id", cluster_id)
    instance_id = params.path_id("instance_id", instance_id)
    view = page_views.instance_view(read_session(), cluster_id, instance_id, principal=principal)
    return _page(principal, "pages/instance.html", view=view)


def _local(target: str | None) -> str:
    """Return ``target`` if it is a path of this site, else the cluster list."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return url_for("pages.cluster_list")


@blueprint.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> ResponseReturnValue:
    """Sign a browser in with its token (``tokens`` auth); other modes need no sign-in."""
    authenticator: Authenticator = current_app.extensions[AUTH_EXTENSION]
    target = _local(request.values.get("next"))
    if authenticator.mode != "tokens":
        return redirect(target)
    failed = False
    if request.method == "POST":
        digest = hash_token(request.form.get("token", "").strip())
        principal = authenticator.tokens.get(digest)
        if principal is not None and principal.can_read:
            session.clear()
            session[_SESSION_KEY] = digest
            session.permanent = True
            return redirect(target)
        failed = True
    page = render_template("pages/sign_in.html", next=target, failed=failed, principal=None)
    return page, 401 if failed else 200


@blueprint.post("/sign-out")
def sign_out() -> ResponseReturnValue:
    """Forget the browser's sign-in."""
    session.clear()
    return redirect(url_for("pages.sign_in"))
