"""The offline client: the API application answering in this process, on the store itself.

Like ARA's offline client, requests never leave the process: a ``requests`` transport
adapter hands them to the Flask application of :mod:`otel_provlog.api`, which reads the
store through its read-only engine with the same queries and documents it serves over
HTTP. The caller is an admin (``PROVLOG_AUTH=none``): it reads every tenant.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from otel_provlog.client._errors import UnreachableError

__all__ = ["OFFLINE_URL", "WsgiAdapter", "offline_session"]

OFFLINE_URL: Final = "http://provlog.offline"
"""The base URL the offline client's requests carry; they never reach a network."""


class WsgiAdapter(BaseAdapter):
    """A ``requests`` transport that answers with a WSGI application run in this process."""

    def __init__(self, app: Any, on_close: Any = None) -> None:
        super().__init__()
        self._client = app.test_client()
        self._on_close = on_close

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """Answer ``request`` with the application's response."""
        answer = self._client.open(
            request.path_url,
            method=request.method or "GET",
            headers=dict(request.headers),
            data=request.body,
        )
        response = requests.Response()
        response.status_code = answer.status_code
        response.reason = answer.status.partition(" ")[2]
        response.headers = CaseInsensitiveDict(dict(answer.headers))
        response._content = answer.get_data()
        response.url = request.url or ""
        response.request = request
        response.encoding = "utf-8"
        return response

    def close(self) -> None:
        """Release the application's resources."""
        if self._on_close is not None:
            self._on_close()
            self._on_close = None


def _check_store(engine: Any) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    database = engine.url.database
    on_disk = engine.dialect.name == "sqlite" and database not in (None, "", ":memory:")
    if on_disk and not Path(database).is_file():
        raise UnreachableError(f"no store at {database}")
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        reason = str(getattr(error, "orig", None) or error).splitlines()[0]
        raise UnreachableError(f"the store does not answer: {reason}") from None


def offline_session(database_url: str) -> requests.Session:
    """Return a session whose requests to :data:`OFFLINE_URL` the in-process API answers.

    Raises:
        UnreachableError: the store does not exist or does not answer.
        ValueError: ``database_url`` is not a usable SQLAlchemy URL.
    """
    from sqlalchemy.exc import ArgumentError

    from otel_provlog.api import create_app
    from otel_provlog.api.database import create_reader_engine
    from otel_provlog.config import Settings

    try:
        engine = create_reader_engine(database_url)
    except (ArgumentError, ImportError, ValueError) as error:
        raise ValueError(f"unusable database URL {database_url!r}: {error}") from None
    try:
        _check_store(engine)
    except BaseException:
        engine.dispose()
        raise
    app = create_app(Settings(database_url=database_url, auth="none"), engine=engine)
    session = requests.Session()
    session.mount(OFFLINE_URL + "/", WsgiAdapter(app, on_close=engine.dispose))
    return session
