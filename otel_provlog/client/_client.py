"""``ProvlogClient``: the REST API over ``requests``, with timeouts, retries and typed results."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, Final, TypedDict, TypeVar, Unpack
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from otel_provlog.client._errors import (
    ProvlogError,
    UnreachableError,
    error_from_response,
)
from otel_provlog.client._models import Cluster, Event, FailureGroup, Page, Step

__all__ = ["DEFAULT_TIMEOUT", "EventFilters", "ProvlogClient"]

DEFAULT_TIMEOUT: Final = 10.0
"""Seconds to wait for the API to connect and to answer, per try."""
DEFAULT_RETRIES: Final = 3
"""Tries after the first for a GET that met a connection error, a timeout or 502/503/504."""
DEFAULT_BACKOFF: Final = 0.5
"""Backoff factor: the pauses between tries grow as 0, 2x, 4x... this many seconds."""
MAX_BACKOFF: Final = 10.0

_POOL_PREFIX: Final = re.compile(r"^HTTPS?Connection(Pool)?\(host=.*?, port=\d+\): ")

T = TypeVar("T")
Params = Mapping[str, Any]


def _value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_value(v) for v in value]
    return value


def _query(params: Params) -> dict[str, Any]:
    return {key: _value(value) for key, value in params.items() if value not in (None, (), [])}


class EventFilters(TypedDict, total=False):
    """The filters :meth:`ProvlogClient.list_events` and ``list_failures`` share."""

    step_id: str | None
    """The step's events only (the API's ``provision_step``)."""
    node_group_ids: Iterable[str]
    """Events of these node groups only."""
    instance_ids: Iterable[str]
    """Events of these instances only."""
    created_after: datetime | None
    """Events created after this time only."""
    created_before: datetime | None
    """Events created before this time only."""
    sort_by: str | None
    """The order, as the API's ``sort_by`` takes it (``-`` first for descending)."""
    limit: int | None
    """The page's size at most."""
    marker: str | None
    """The page after this marker (a :class:`Page`'s ``marker``)."""


def _retry(retries: int, backoff_factor: float) -> Retry:
    return Retry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        other=0,
        allowed_methods=frozenset({"GET", "HEAD"}),
        status_forcelist=(502, 503, 504),
        backoff_factor=backoff_factor,
        backoff_max=MAX_BACKOFF,
        raise_on_status=False,
        respect_retry_after_header=True,
    )


class ProvlogClient:
    """A client of the otel-provlog REST API (read endpoints).

    >>> client = ProvlogClient("http://127.0.0.1:8080", token="s3cret")  # doctest: +SKIP
    >>> cluster = client.get_cluster("c-42")  # doctest: +SKIP
    >>> [step.progress for step in cluster.steps]  # doctest: +SKIP
    ['Launching instances completed 1000 out of 1000 in 10 minutes', ...]

    Args:
        base_url: the API's root URL; ``PROVLOG_API_URL`` when None.
        token: the token sent as ``Authorization: Bearer``; ``PROVLOG_TOKEN`` when None.
        timeout: seconds to wait to connect and for an answer, on every try.
        retries: tries after the first for a GET that met a connection error, a timeout or
            a 502/503/504, with exponential backoff (honouring ``Retry-After``).
        backoff_factor: seconds the backoff grows from.
        session: the ``requests`` session to use (one is made when None).

    Raises:
        ValueError: no base URL given nor set in ``PROVLOG_API_URL``.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        token: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        backoff_factor: float = DEFAULT_BACKOFF,
        session: requests.Session | None = None,
    ) -> None:
        if base_url is None or token is None:
            from otel_provlog.config import load_settings

            settings = load_settings()
            base_url = base_url or settings.api_url
            token = token if token is not None else settings.token
        if not base_url:
            raise ValueError("no API URL: pass base_url or set PROVLOG_API_URL")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._session = session or requests.Session()
        adapter = HTTPAdapter(max_retries=_retry(retries, backoff_factor))
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._session.headers["Accept"] = "application/json"
        if token:
            self._session.headers["Authorization"] = f"Bearer {token}"

    @classmethod
    def offline(cls, database_url: str) -> ProvlogClient:
        """Return a client that reads the store at ``database_url`` without a server.

        The API application runs in this process (an admin read: every tenant) and
        answers exactly as the served API does. Needs the ``server`` extra.

        Raises:
            UnreachableError: the store does not exist or does not answer.
            ValueError: ``database_url`` is not a usable SQLAlchemy URL.
        """
        from otel_provlog.client._offline import OFFLINE_URL, offline_session

        return cls(OFFLINE_URL, token="", retries=0, session=offline_session(database_url))

    def close(self) -> None:
        """Close the connections (and, offline, the store's engine)."""
        self._session.close()

    def __enter__(self) -> ProvlogClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def get_json(self, path: str, params: Params | None = None) -> dict[str, Any]:
        """GET ``path`` (below the base URL) and return its JSON body.

        Raises:
            NotFoundError: a 404.
            UnavailableError: a 502, 503 or 504 on every try.
            ApiError: any other error status.
            UnreachableError: no connection, or no answer within the timeout, on every try.
        """
        url = self.base_url + path
        try:
            response = self._session.get(url, params=_query(params or {}), timeout=self.timeout)
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.RetryError) as e:
            raise UnreachableError(f"{self.base_url} does not answer: {_cause(e)}") from e
        except requests.RequestException as error:
            raise ProvlogError(f"request to {url} failed: {error}") from error
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code >= 400:
            raise error_from_response(
                response.status_code, body, response.headers, response.reason or ""
            )
        if not isinstance(body, dict):
            raise ProvlogError(f"{url} answered {response.status_code} without a JSON object")
        return body

    def list_clusters(
        self,
        *,
        name: str | None = None,
        status: Iterable[str] = (),
        tenant_id: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        sort_by: str | None = None,
        limit: int | None = None,
        marker: str | None = None,
    ) -> Page[Cluster]:
        """Return one page of the clusters the caller may see (every tenant for an admin)."""
        params = {
            "name": name,
            "status": list(status),
            "project_id": tenant_id,
            "created_after": created_after,
            "created_before": created_before,
            "sort_by": sort_by,
            "limit": limit,
            "marker": marker,
        }
        body = self.get_json("/v2/clusters", params)
        return Page.from_json(body, "clusters", Cluster.from_json)

    def get_cluster(self, cluster_id: str) -> Cluster:
        """Return one cluster with its latest operation and its steps (with estimates)."""
        body = self.get_json(f"/v2/clusters/{_segment(cluster_id)}")
        return Cluster.from_json(body["cluster"])

    def list_steps(
        self,
        cluster_id: str,
        *,
        status: Iterable[str] = (),
        step_name: str | None = None,
        operation_id: str | None = None,
        sort_by: str | None = None,
        limit: int | None = None,
        marker: str | None = None,
    ) -> Page[Step]:
        """Return one page of the cluster's steps, oldest first unless ``sort_by`` says."""
        params = {
            "status": list(status),
            "step_name": step_name,
            "operation_id": operation_id,
            "sort_by": sort_by,
            "limit": limit,
            "marker": marker,
        }
        body = self.get_json(f"/v2/clusters/{_segment(cluster_id)}/steps", params)
        return Page.from_json(body, "steps", Step.from_json)

    def list_events(
        self,
        cluster_id: str,
        *,
        successful: bool | None = None,
        **filters: Unpack[EventFilters],
    ) -> Page[Event]:
        """Return one page of the cluster's events, filtered (see :class:`EventFilters`)."""
        return self._events_page(cluster_id, "events", filters, successful=successful)

    def list_failures(
        self,
        cluster_id: str,
        *,
        error_id: str | None = None,
        **filters: Unpack[EventFilters],
    ) -> Page[Event]:
        """Return one page of the cluster's failed events, filtered (see :class:`EventFilters`)."""
        return self._events_page(cluster_id, "failures", filters, error_id=error_id)

    def _events_page(
        self, cluster_id: str, key: str, filters: EventFilters, **more: str | bool | None
    ) -> Page[Event]:
        """Return one page of events from the cluster's ``key`` list (``events``, ``failures``)."""
        params = {
            "provision_step": filters.get("step_id"),
            "node_group_id": list(filters.get("node_group_ids", ())),
            "instance_id": list(filters.get("instance_ids", ())),
            "created_after": filters.get("created_after"),
            "created_before": filters.get("created_before"),
            "sort_by": filters.get("sort_by"),
            "limit": filters.get("limit"),
            "marker": filters.get("marker"),
            **more,
        }
        body = self.get_json(f"/v2/clusters/{_segment(cluster_id)}/{key}", params)
        return Page.from_json(body, key, Event.from_json)

    def list_failure_groups(
        self,
        cluster_id: str,
        *,
        step_id: str | None = None,
        node_group_ids: Iterable[str] = (),
        limit: int | None = None,
        marker: str | None = None,
    ) -> Page[FailureGroup]:
        """Return one page of the cluster's failures grouped by cause, largest group first."""
        params = {
            "provision_step": step_id,
            "node_group_id": list(node_group_ids),
            "limit": limit,
            "marker": marker,
        }
        body = self.get_json(f"/v2/clusters/{_segment(cluster_id)}/failure-groups", params)
        return Page.from_json(body, "failure_groups", FailureGroup.from_json)

    def iterate(self, fetch: Callable[..., Page[T]], *args: Any, **kwargs: Any) -> Iterator[T]:
        """Yield every item of a list, page after page, following the ``marker``.

        >>> for event in client.iterate(client.list_failures, "c-42"):  # doctest: +SKIP
        ...     print(event.instance_name, event.event_info)
        """
        marker = kwargs.pop("marker", None)
        while True:
            page = fetch(*args, marker=marker, **kwargs)
            yield from page.items
            if page.next_marker is None or page.next_marker == marker:
                return
            marker = page.next_marker


def _segment(value: str) -> str:
    return quote(value, safe="")


def _cause(error: BaseException) -> str:
    """Return the reason of a connection error without urllib3's wrapping."""
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return _POOL_PREFIX.sub("", str(reason or error))
