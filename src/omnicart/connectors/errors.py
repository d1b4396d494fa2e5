"""Failures of talking to a vendor that the connectors core retries."""

from __future__ import annotations


class VendorUnavailable(Exception):
    """The vendor answered 429 or 5xx, or could not be reached: try again later.

    `retry_after` is the wait in seconds the vendor asked for (Retry-After, or a rate-limit
    header), None when it said nothing.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class VendorRefused(Exception):
    """The vendor refused a request for good (4xx other than 429): retrying will not help."""
