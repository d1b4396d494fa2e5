"""Calling a vendor's HTTP API: one client per process, and one reading of its answers.

429 and 5xx answers and transport failures become `VendorUnavailable` (with the wait the
vendor asked for, from Retry-After), other 4xx answers `VendorRefused`.
"""

from __future__ import annotations

import math
import threading
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from omnicart.connectors.errors import VendorRefused, VendorUnavailable
from omnicart.settings import get_settings

_lock = threading.Lock()
_client: httpx.Client | None = None
_TOO_MANY = 429
_SERVER_ERROR = 500
_CLIENT_ERROR = 400
_MAX_WAIT = 3600.0


def vendor_http() -> httpx.Client:
    """The process's client for vendors' APIs (pooled connections, the configured timeout).

    Shared by every caller in the process: use it, never close it (a closed one is replaced).
    """
    global _client  # noqa: PLW0603
    with _lock:
        if _client is None or _client.is_closed:
            timeout = get_settings().connector_timeout_seconds
            _client = httpx.Client(
                timeout=httpx.Timeout(timeout),
                limits=httpx.Limits(max_connections=50, max_keepalive_connections=20),
                headers={"User-Agent": "Omnicart connectors"},
            )
        return _client


def retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After value (seconds, or an HTTP date); None if unreadable."""
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), _MAX_WAIT)


def call(http: httpx.Client, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One request to a vendor; its answer when 2xx/3xx, else the failure it means."""
    try:
        response = http.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        raise VendorUnavailable(f"{method} {url}: {type(exc).__name__}: {exc}") from exc
    status = response.status_code
    if status == _TOO_MANY or status >= _SERVER_ERROR:
        raise VendorUnavailable(
            f"{method} {url} answered {status}",
            retry_after=retry_after(response.headers.get("retry-after")),
        )
    if status >= _CLIENT_ERROR:
        raise VendorRefused(f"{method} {url} answered {status}: {response.text[:300]}")
    return response


def json_of(response: httpx.Response) -> Any:
    """The answer's JSON body; an answer that is not JSON is the vendor failing."""
    try:
        return response.json()
    except ValueError as exc:
        raise VendorUnavailable(
            f"{response.request.method} {response.request.url} answered non-JSON"
        ) from exc
