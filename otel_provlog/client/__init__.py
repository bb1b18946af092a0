"""A Python client of the otel-provlog REST API (needs the ``client`` extra: ``requests``).

>>> from otel_provlog.client import ProvlogClient, NotFoundError
>>> client = ProvlogClient()  # PROVLOG_API_URL and PROVLOG_TOKEN  # doctest: +SKIP
>>> cluster = client.get_cluster("c-42")  # doctest: +SKIP
>>> for step in cluster.steps:  # doctest: +SKIP
...     print(step.step_name, f"{step.completed}/{step.total}", step.seconds_left)
>>> for failure in client.iterate(client.list_failures, "c-42"):  # doctest: +SKIP
...     print(failure.instance_name, failure.event_info)

- Every call has a timeout; GETs are tried again with exponential backoff after a
  connection error, a timeout or a 502/503/504.
- Results are frozen dataclasses (:class:`Cluster`, :class:`Operation`, :class:`Step`,
  :class:`Event`, :class:`FailureGroup`); lists come as a :class:`Page` with the marker
  of the next one, and :meth:`ProvlogClient.iterate` follows the markers.
- Errors raise :class:`ApiError` (with the API's ``error_name``, ``error_message`` and
  request id), :class:`NotFoundError` for a 404, :class:`UnreachableError` when the API
  cannot be reached (:class:`UnavailableError` when it answered 502/503/504 every time).
- :meth:`ProvlogClient.offline` reads a store directly, without a server, with the same
  results (needs the ``server`` extra).
"""

from __future__ import annotations

from otel_provlog.client._client import DEFAULT_TIMEOUT, EventFilters, ProvlogClient
from otel_provlog.client._errors import (
    ApiError,
    NotFoundError,
    ProvlogError,
    UnavailableError,
    UnreachableError,
)
from otel_provlog.client._models import (
    Cluster,
    Event,
    FailureExample,
    FailureGroup,
    Operation,
    Page,
    Step,
    to_json,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "ApiError",
    "Cluster",
    "Event",
    "EventFilters",
    "FailureExample",
    "FailureGroup",
    "NotFoundError",
    "Operation",
    "Page",
    "ProvlogClient",
    "ProvlogError",
    "Step",
    "UnavailableError",
    "UnreachableError",
    "to_json",
]
