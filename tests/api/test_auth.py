"""Authentication modes, roles and tenant scoping."""

from __future__ import annotations

import pytest

from otel_provlog.api.auth import Authenticator, hash_token, parse_tokens, read_tokens_file
from otel_provlog.api.errors import ApiError


def test_tokens_mode_requires_a_known_token(token_client, seed, bearer):
    """Without a token, or with a wrong one, the answer is a JSON 401."""
    seed.cluster()
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"X-Auth-Token": "wrong"}):
        response = token_client.get("/v1.1/t-1/clusters/c-1", headers=headers)
        assert response.status_code == 401
        assert response.get_json()["error_name"] == "UNAUTHORIZED"
        assert "WWW-Authenticate" in response.headers
    ok = token_client.get("/v1.1/t-1/clusters/c-1", headers=bearer("reader"))
    assert ok.status_code == 200
    openstack = token_client.get(
        "/v1.1/t-1/clusters/c-1", headers={"X-Auth-Token": "reader-secret"}
    )
    assert openstack.status_code == 200


def test_readers_see_their_tenant_only(token_client, seed, bearer):
    """A reader of t-2 gets 404 for t-1's cluster, on every path, like a missing one."""
    seed.cluster("c-1", tenant="t-1")
    headers = bearer("other")
    for path in (
        "/v1.1/t-1/clusters/c-1",
        "/v1.1/t-2/clusters/c-1",
        "/v2/clusters/c-1",
        "/v2/clusters/c-1/events",
        "/v1.1/t-1/clusters/c-1/progress",
    ):
        response = token_client.get(path, headers=headers)
        assert response.status_code == 404, path
        assert response.get_json()["error_message"] == "Object with {'id': 'c-1'} not found"
    assert token_client.get("/v2/clusters", headers=headers).get_json()["clusters"] == []
    assert token_client.get("/v1.1/t-1/clusters", headers=headers).get_json()["clusters"] == []
    narrowed = token_client.get("/v2/clusters?project_id=t-1", headers=headers)
    assert narrowed.get_json()["clusters"] == []


def test_admins_see_every_tenant(token_client, seed, bearer):
    """An admin token lists and reads every tenant's clusters."""
    seed.cluster("c-1", tenant="t-1")
    seed.cluster("c-2", tenant="t-2")
    listed = token_client.get("/v2/clusters", headers=bearer("admin")).get_json()["clusters"]
    assert sorted(c["id"] for c in listed) == ["c-1", "c-2"]
    assert token_client.get("/v2/clusters/c-2", headers=bearer("admin")).status_code == 200


def test_writers_may_not_read(token_client, seed, bearer):
    """A writer token is for the ingest endpoint only: reading is a 403."""
    seed.cluster()
    response = token_client.get("/v2/clusters", headers=bearer("writer"))
    assert response.status_code == 403


def test_tracebacks_are_for_admins_only(token_client, seed, bearer):
    """Tenants see a failure's message and error id; admins also see the traceback."""
    seed.cluster()
    step = seed.step()
    seed.events(step, 1, failed=1)
    tenant = token_client.get("/v2/clusters/c-1/failures", headers=bearer("reader")).get_json()
    admin = token_client.get("/v2/clusters/c-1/failures", headers=bearer("admin")).get_json()
    assert tenant["failures"][0]["event_info"] == "ssh refused"
    assert tenant["failures"][0]["error_id"]
    assert tenant["failures"][0]["stacktrace"] is None
    assert admin["failures"][0]["event_info"] == "ssh refused"
    assert "Traceback (most recent call last):" in admin["failures"][0]["stacktrace"]
    shown = token_client.get(
        "/v1.1/t-1/clusters/c-1?show_progress=true", headers=bearer("reader")
    ).get_json()
    [event] = shown["cluster"]["provision_progress"][0]["events"]
    assert (event["event_info"], event["stacktrace"]) == ("ssh refused", None)


def test_public_endpoints_need_no_token(token_client):
    """The OpenAPI document and the health check are open."""
    assert token_client.get("/openapi.json").status_code == 200
    assert token_client.get("/healthz").get_json() == {"status": "ok"}


def test_headers_mode_trusts_the_proxy_identity():
    """Headers mode reads the project and roles Keystone middleware sets."""
    auth = Authenticator("headers")
    member = auth.authenticate({"X-Project-Id": "t-1", "X-Roles": "member,reader"})
    assert member.tenant_scope == "t-1"
    assert member.can_read
    assert not member.can_write
    legacy = auth.authenticate({"X-Tenant-Id": "t-9", "X-Roles": "member"})
    assert legacy.tenant_id == "t-9"
    admin = auth.authenticate({"X-Roles": "admin"})
    assert admin.tenant_scope is None
    writer = auth.authenticate({"X-Project-Id": "t-1", "X-Roles": "writer"})
    assert writer.can_write
    assert not writer.can_read


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Project-Id": "t-1"},
        {"X-Roles": "member"},
        {"X-Project-Id": "t-1", "X-Roles": "member", "X-Identity-Status": "Invalid"},
    ],
)
def test_headers_mode_refuses_incomplete_identities(headers):
    """Without a project and a role, or with an invalid identity, the caller is a 401."""
    with pytest.raises(ApiError) as caught:
        Authenticator("headers").authenticate(headers)
    assert caught.value.status == 401


def test_none_mode_is_an_anonymous_admin():
    """Auth ``none`` lets everyone read everything."""
    principal = Authenticator("none").authenticate({})
    assert principal.is_admin
    assert principal.anonymous


def test_token_tables_hold_hashes_only(tmp_path):
    """Tokens are configured as SHA-256 hashes, from the environment or a TOML file."""
    digest = hash_token("s3cret")
    table = parse_tokens(f"{digest}:reader:t-1, {hash_token('root')}:admin")
    assert table[digest].tenant_id == "t-1"
    assert table[hash_token("root")].is_admin
    path = tmp_path / "tokens.toml"
    path.write_text(f'[[token]]\nsha256 = "{digest}"\nrole = "writer"\ntenant = "t-3"\n')
    assert read_tokens_file(str(path))[digest].can_write


@pytest.mark.parametrize(
    "entry",
    ["nothex:reader:t-1", f"{'a' * 64}:boss:t-1", f"{'a' * 64}:reader", f"{'a' * 64}"],
)
def test_malformed_token_entries_are_refused(entry):
    """A bad hash, an unknown role or a tenant-less reader stop the app from starting."""
    with pytest.raises(ValueError, match="PROVLOG_API_TOKENS"):
        parse_tokens(entry)


def test_unknown_auth_mode_is_refused():
    """Only none, tokens and headers exist."""
    with pytest.raises(ValueError, match="PROVLOG_AUTH"):
        Authenticator("kerberos")


def test_headers_mode_scopes_the_app_to_the_proxy_project(database_url, seed):
    """Behind an auth proxy, the project header decides what a member may read."""
    from otel_provlog.api import create_app
    from otel_provlog.config import Settings

    seed.cluster("c-1", tenant="t-1")
    seed.cluster("c-2", tenant="t-2")
    app = create_app(Settings(database_url=database_url, auth="headers"))
    client = app.test_client()
    member = {"X-Project-Id": "t-1", "X-Roles": "member"}
    listed = client.get("/v2/clusters", headers=member).get_json()["clusters"]
    assert [c["id"] for c in listed] == ["c-1"]
    assert client.get("/v2/clusters/c-2", headers=member).status_code == 404
    assert client.get("/v2/clusters/c-2", headers={"X-Roles": "admin"}).status_code == 200
    assert client.get("/v2/clusters").status_code == 401
    app.extensions["provlog"]["engine"].dispose()


def test_tokens_come_from_the_settings(database_url, seed, tmp_path, monkeypatch):
    """create_app(settings) takes its tokens from Settings (text and file), not os.environ."""
    from otel_provlog.api import create_app
    from otel_provlog.config import Settings

    monkeypatch.delenv("PROVLOG_API_TOKENS", raising=False)
    monkeypatch.delenv("PROVLOG_API_TOKENS_FILE", raising=False)
    seed.cluster("c-1", tenant="t-1")
    table = tmp_path / "tokens.toml"
    table.write_text(f'[[token]]\nsha256 = "{hash_token("from-file")}"\nrole = "admin"\n')
    settings = Settings(
        database_url=database_url,
        auth="tokens",
        api_tokens=f"{hash_token('from-text')}:reader:t-1",
        api_tokens_file=str(table),
    )
    app = create_app(settings)
    client = app.test_client()
    for token in ("from-text", "from-file"):
        headers = {"Authorization": f"Bearer {token}"}
        assert client.get("/v2/clusters/c-1", headers=headers).status_code == 200, token
    assert client.get("/v2/clusters/c-1", headers={"Authorization": "Bearer x"}).status_code == 401
    app.extensions["provlog"]["engine"].dispose()
