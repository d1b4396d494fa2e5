"""FastAPI dependencies: the database and the calling principal."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from omnicart.auth.service import Principal, authenticate, hash_secret
from omnicart.db.engine import Database
from omnicart.kernel.errors import Unauthorized

_bearer = HTTPBearer(auto_error=False, description="An Omnicart API key as a bearer token")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="An Omnicart API key")


async def get_db(request: Request) -> Database:
    """The application's database (async: no thread-pool hop for an attribute)."""
    db: Database = request.app.state.db
    return db


DbDep = Annotated[Database, Depends(get_db)]


async def get_principal(
    db: DbDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    header_key: Annotated[str | None, Security(_header)],
) -> Principal:
    """The caller, from `Authorization: Bearer <key>` or `X-API-Key: <key>`.

    A key the process keeps (`db.cache`) is answered on the event loop; any other is looked
    up in a worker thread, as a sync dependency would be.
    """
    secret = bearer.credentials if bearer is not None else header_key
    if not secret:
        raise Unauthorized("an API key is required (Authorization: Bearer <key>)")
    key = ("api-key", hash_secret(secret))
    kept = db.cache.peek(key)
    if isinstance(kept, Principal):
        return kept
    return await run_in_threadpool(
        db.cache.get, key, tables={"api_keys"}, load=lambda: _authenticate(db, secret)
    )


def _authenticate(db: Database, secret: str) -> Principal:
    with db.reading() as session:
        return authenticate(session, secret=secret)
