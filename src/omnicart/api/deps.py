"""FastAPI dependencies: the database and the calling principal."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from omnicart.auth.service import Principal, authenticate, hash_secret
from omnicart.db.engine import Database
from omnicart.kernel.errors import Unauthorized

_bearer = HTTPBearer(auto_error=False, description="An Omnicart API key as a bearer token")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="An Omnicart API key")


def get_db(request: Request) -> Database:
    """The application's database."""
    db: Database = request.app.state.db
    return db


DbDep = Annotated[Database, Depends(get_db)]


def get_principal(
    db: DbDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    header_key: Annotated[str | None, Security(_header)],
) -> Principal:
    """The caller, from `Authorization: Bearer <key>` or `X-API-Key: <key>`."""
    secret = bearer.credentials if bearer is not None else header_key
    if not secret:
        raise Unauthorized("an API key is required (Authorization: Bearer <key>)")
    return db.cache.get(
        ("api-key", hash_secret(secret)),
        tables={"api_keys"},
        load=lambda: _authenticate(db, secret),
    )


def _authenticate(db: Database, secret: str) -> Principal:
    with db.reading() as session:
        return authenticate(session, secret=secret)


def require(scope: str) -> Callable[..., Principal]:
    """A dependency that authenticates and checks one scope."""

    def _dependency(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        principal.require_scope(scope)
        return principal

    return _dependency
