"""Errors a user can cause, as data: each maps once to an RFC 9457 problem."""

from __future__ import annotations

from typing import Any, ClassVar


class OmnicartError(Exception):
    """Base of every error a caller can cause; carries what the problem document needs."""

    status: ClassVar[int] = 400
    type_slug: ClassVar[str] = "bad-request"
    title: ClassVar[str] = "Bad request"

    def __init__(self, detail: str, *, field: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.extra = extra


class ValidationFailed(OmnicartError):
    """Input is well-formed JSON but breaks a rule (bad GTIN, too many decimals, ...)."""

    status = 422
    type_slug = "validation-failed"
    title = "Validation failed"


class NotFound(OmnicartError):
    """A referenced thing (SKU, channel, location, reservation) does not exist."""

    status = 404
    type_slug = "not-found"
    title = "Not found"


class Conflict(OmnicartError):
    """The request clashes with the current state (duplicate SKU, reused key, wrong status)."""

    status = 409
    type_slug = "conflict"
    title = "Conflict"


class InsufficientStock(Conflict):
    """Not enough sellable units for the request after the channel's buffer."""

    type_slug = "insufficient-stock"
    title = "Insufficient stock"


class Forbidden(OmnicartError):
    """The caller's key may not do this (wrong scope or another channel)."""

    status = 403
    type_slug = "forbidden"
    title = "Forbidden"


class Unauthorized(OmnicartError):
    """No key, or a key that is unknown or revoked."""

    status = 401
    type_slug = "unauthorized"
    title = "Unauthorized"
