"""Who is calling: authentication modes, roles and the tenant every query is scoped to.

``PROVLOG_AUTH`` picks the mode:

- ``none``: no authentication; every caller is an anonymous admin and sees every tenant.
  Meant for the demo and a trusted host only.
- ``tokens``: static bearer tokens, sent as ``Authorization: Bearer <token>`` or (as
  OpenStack clients do) ``X-Auth-Token: <token>``. Only SHA-256 hashes of the tokens are
  configured, each mapped to a role and a tenant:

  - ``PROVLOG_API_TOKENS``: ``<sha256>:<role>[:<tenant>]`` entries separated by commas;
  - ``PROVLOG_API_TOKENS_FILE``: a TOML file of ``[[token]]`` tables with keys ``sha256``,
    ``role`` and ``tenant``.

  Hash a token with ``printf %s "$TOKEN" | sha256sum``.
- ``headers``: trust the identity headers an authenticating proxy in front of the API sets,
  as Keystone's auth_token middleware does: ``X-Project-Id`` (or ``X-Tenant-Id``),
  ``X-Roles`` (comma separated) and, when present, ``X-Identity-Status: Confirmed``.
  Only safe when every request passes through that proxy, which must strip these headers
  from what clients send.

Roles: ``admin`` reads every tenant (and may write); ``reader`` reads its own tenant;
``writer`` may only send spans to the ingest endpoint. In ``headers`` mode any role other
than ``admin`` and ``writer`` (Keystone's ``member``, ``reader``...) reads its own tenant.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from flask import Flask, g, request
from werkzeug.datastructures import Headers

from otel_provlog.api.errors import ApiError
from otel_provlog.config import AUTH_MODES

__all__ = [
    "ROLES",
    "Authenticator",
    "Principal",
    "current_principal",
    "hash_token",
    "install_auth",
    "parse_tokens",
    "read_tokens_file",
    "require_read",
    "require_write",
]

ADMIN: Final = "admin"
READER: Final = "reader"
WRITER: Final = "writer"
ROLES: Final = (ADMIN, READER, WRITER)
"""The roles a token may carry."""

_SHA256: Final = re.compile(r"^[0-9a-f]{64}$")
_TENANT: Final = re.compile(r"^[^\x00-\x1f\x7f]{1,255}$")
_PUBLIC_ENDPOINTS: Final = frozenset({"meta.openapi", "meta.health", "static"})


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: its tenant (None for an admin without one) and roles."""

    tenant_id: str | None
    roles: frozenset[str]
    anonymous: bool = False

    @property
    def is_admin(self) -> bool:
        """Admins see every tenant."""
        return ADMIN in self.roles

    @property
    def can_read(self) -> bool:
        """Whether the caller may read the event log (its tenant's, or all for admins)."""
        return self.is_admin or bool(self.roles - {WRITER})

    @property
    def can_write(self) -> bool:
        """Whether the caller may send spans to the ingest endpoint."""
        return self.is_admin or WRITER in self.roles

    @property
    def tenant_scope(self) -> str | None:
        """The tenant every query must be limited to; None means every tenant (admins)."""
        return None if self.is_admin else self.tenant_id


def hash_token(token: str) -> str:
    """Return the hex SHA-256 of ``token``, the form tokens are configured in."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _entry(digest: str, role: str, tenant: str | None, *, where: str) -> tuple[str, Principal]:
    digest = digest.strip().lower()
    role = role.strip().lower()
    tenant = (tenant or "").strip() or None
    if not _SHA256.match(digest):
        raise ValueError(f"{where}: expected a SHA-256 hex digest, got {digest[:12]!r}...")
    if role not in ROLES:
        raise ValueError(f"{where}: role must be one of {', '.join(ROLES)}, got {role!r}")
    if tenant is None and role != ADMIN:
        raise ValueError(f"{where}: a {role} token needs a tenant")
    if tenant is not None and not _TENANT.match(tenant):
        raise ValueError(f"{where}: unreadable tenant {tenant!r}")
    return digest, Principal(tenant_id=tenant, roles=frozenset({role}))


def parse_tokens(text: str, *, where: str = "PROVLOG_API_TOKENS") -> dict[str, Principal]:
    """Read ``<sha256>:<role>[:<tenant>]`` entries, comma separated, into a token table.

    Raises:
        ValueError: for a malformed entry, naming ``where``.
    """
    table: dict[str, Principal] = {}
    for raw in text.split(","):
        if not raw.strip():
            continue
        parts = raw.strip().split(":", 2)
        if len(parts) < 2:
            raise ValueError(f"{where}: expected <sha256>:<role>[:<tenant>], got {raw[:12]!r}...")
        digest, principal = _entry(
            parts[0], parts[1], parts[2] if len(parts) > 2 else None, where=where
        )
        table[digest] = principal
    return table


def read_tokens_file(path: str) -> dict[str, Principal]:
    """Read a TOML token file (``[[token]]`` tables: ``sha256``, ``role``, ``tenant``).

    Raises:
        ValueError: for a malformed file or entry, naming the file.
    """
    with Path(path).open("rb") as handle:
        data = tomllib.load(handle)
    entries = data.get("token", [])
    if not isinstance(entries, list):
        raise ValueError(f"{path}: expected [[token]] tables")
    table: dict[str, Principal] = {}
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            raise ValueError(f"{path}: token {number} is not a table")
        digest, principal = _entry(
            str(entry.get("sha256", "")),
            str(entry.get("role", "")),
            str(entry["tenant"]) if entry.get("tenant") is not None else None,
            where=f"{path} token {number}",
        )
        table[digest] = principal
    return table


HeaderSource = Mapping[str, str] | Headers
"""Request headers: a plain mapping or Werkzeug's case-insensitive ``Headers``."""

_ANONYMOUS: Final = Principal(tenant_id=None, roles=frozenset({ADMIN}), anonymous=True)


class Authenticator:
    """Turns a request's headers into a :class:`Principal`, in one of the three modes."""

    def __init__(self, mode: str, tokens: Mapping[str, Principal] | None = None) -> None:
        if mode not in AUTH_MODES:
            raise ValueError(f"PROVLOG_AUTH: unknown mode {mode!r}")
        self.mode = mode
        self.tokens = dict(tokens or {})

    @classmethod
    def from_tables(cls, mode: str, *, tokens: str = "", tokens_file: str = "") -> Authenticator:
        """Build the authenticator of ``mode`` from ``PROVLOG_API_TOKENS``' text and file."""
        found: dict[str, Principal] = {}
        if mode == "tokens":
            if tokens_file.strip():
                found.update(read_tokens_file(tokens_file.strip()))
            found.update(parse_tokens(tokens))
        return cls(mode, found)

    def authenticate(self, headers: HeaderSource) -> Principal:
        """Return the caller behind ``headers``.

        Raises:
            ApiError: 401 when credentials are missing or wrong.
        """
        if self.mode == "none":
            return _ANONYMOUS
        if self.mode == "tokens":
            return self._from_token(headers)
        return self._from_proxy(headers)

    def _from_token(self, headers: HeaderSource) -> Principal:
        token = headers.get("X-Auth-Token", "").strip()
        scheme, _, value = headers.get("Authorization", "").strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            token = value.strip()
        principal = self.tokens.get(hash_token(token)) if token else None
        if principal is None:
            raise _unauthorized()
        return principal

    def _from_proxy(self, headers: HeaderSource) -> Principal:
        status = headers.get("X-Identity-Status")
        if status is not None and status.strip().lower() != "confirmed":
            raise _unauthorized()
        tenant = (headers.get("X-Project-Id") or headers.get("X-Tenant-Id") or "").strip()
        roles = frozenset(
            role.strip().lower() for role in headers.get("X-Roles", "").split(",") if role.strip()
        )
        if tenant and not _TENANT.match(tenant):
            raise _unauthorized()
        if not roles or (not tenant and ADMIN not in roles):
            raise _unauthorized()
        return Principal(tenant_id=tenant or None, roles=roles)


def _unauthorized() -> ApiError:
    return ApiError(
        401,
        "Authentication required",
        name="UNAUTHORIZED",
        headers={"WWW-Authenticate": 'Bearer realm="provlog"'},
    )


def current_principal() -> Principal:
    """Return the caller of the current request (set before every view runs)."""
    principal: Principal = g.principal
    return principal


def require_read() -> Principal:
    """Return the caller if it may read, else raise a 403."""
    principal = current_principal()
    if not principal.can_read:
        raise ApiError(403, "This credential may not read the event log", name="FORBIDDEN")
    return principal


def require_write() -> Principal:
    """Return the caller if it may send spans, else raise a 403."""
    principal = current_principal()
    if not principal.can_write:
        raise ApiError(403, "This credential may not write to the event log", name="FORBIDDEN")
    return principal


def install_auth(app: Flask, authenticator: Authenticator) -> None:
    """Authenticate every request to ``app`` but the public ones (health, OpenAPI).

    The web page's blueprint (``pages``) authenticates its own requests with the same
    ``authenticator`` (kept in ``app.extensions["provlog_auth"]``), also from a sign-in.
    """
    app.extensions["provlog_auth"] = authenticator

    def _authenticate() -> None:
        if (
            request.endpoint in _PUBLIC_ENDPOINTS
            or request.endpoint is None
            or request.blueprint == "pages"
        ):
            g.principal = None
            return
        g.principal = authenticator.authenticate(request.headers)

    app.before_request(_authenticate)
