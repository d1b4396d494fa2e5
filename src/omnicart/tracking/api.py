"""HTTP routes: tracking sources (admins) and the Segment-compatible Tracking API.

The tracking calls read the raw body themselves instead of declaring a Pydantic body:
the size limits apply to the body as sent (and after gzip), the write key may sit in
the body, and a batch with some bad messages is not an all-or-nothing 422.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
from fastapi import APIRouter, FastAPI, Request, Response, status

from omnicart.api.access import Caller, guard
from omnicart.api.deps import DbDep
from omnicart.api.pagination import Cursor, Limit, Page, decode_cursor, next_cursor
from omnicart.auth.access import WRITE_KEY, access
from omnicart.settings import Settings, get_settings
from omnicart.tracking import service
from omnicart.tracking.ingest import Ingestor, body_limit
from omnicart.tracking.model import MESSAGE_TYPES, MalformedBody, PayloadTooLarge
from omnicart.tracking.schemas import Accepted, SourceCreated, SourceIn, SourceOut


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Tests may install their own Ingestor (another events path) before the app starts.
    ingestor: Ingestor | None = getattr(app.state, "tracking", None)
    if ingestor is None:
        settings: Settings = getattr(app.state, "settings", None) or get_settings()
        ingestor = Ingestor(
            db=app.state.db,
            events_path=Path(settings.events_path),
            # With a worker process (OMNICART_BACKGROUND=worker) web workers only spool.
            flush=settings.events_flusher == "thread" and settings.background == "inline",
            suppressed_events=settings.suppressed_events,
        )
        app.state.tracking = ingestor
    if getattr(app.state, "background", False):
        ingestor.start_flusher()  # delivers the order book's outbox as it fills
    ingestor.start_if_pending()
    try:
        yield
    finally:
        await asyncio.to_thread(ingestor.stop)


router = APIRouter(lifespan=_lifespan)

# --- sources ---------------------------------------------------------------------------


@router.post("/tracking/sources", status_code=status.HTTP_201_CREATED, tags=["tracking"])
@guard(access("channels:write"))
def create_tracking_source(body: SourceIn, db: DbDep, principal: Caller) -> SourceCreated:
    """Create a source for a channel (admins only); the response shows its write key once."""
    with db.transaction() as session:
        issued = service.create_tracking_source(
            session, channel_id=body.channel_id, name=body.name, principal=principal
        )
    return SourceCreated(
        **SourceOut.model_validate(issued.source).model_dump(), write_key=issued.write_key
    )


@router.get("/tracking/sources", tags=["tracking"])
@guard(access("channels:write"))
def list_tracking_sources(
    db: DbDep,
    principal: Caller,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[SourceOut]:
    """Sources by ascending id (admins only); never their write keys."""
    after_id = decode_cursor(cursor)
    with db.transaction() as session:
        views = service.list_tracking_sources(
            session, after_id=after_id, limit=limit, principal=principal
        )
    return Page[SourceOut](
        items=[SourceOut.model_validate(v) for v in views],
        next_cursor=next_cursor([v.id for v in views], limit),
    )


# --- the Tracking API ------------------------------------------------------------------

_OK = orjson.dumps({"success": True})
# What analytics.js and some mobile libraries call the same endpoints.
_SHORT = {"identify": "i", "track": "t", "page": "p", "screen": "s", "group": "g", "alias": "a"}


def _basic_user(request: Request) -> str | None:
    """The user name of HTTP Basic credentials: Segment's write key (password empty)."""
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise MalformedBody(
            "the Authorization header is not valid HTTP Basic credentials", field="authorization"
        ) from None
    return decoded.partition(":")[0] or None


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, un-gzipped, refused as soon as it is over `limit` bytes."""
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip"):
        raise MalformedBody(
            f"Content-Encoding {encoding!r} is not supported; send gzip or nothing",
            field="content-encoding",
        )
    # gzip of incompressible JSON can be a little longer than the JSON itself
    cap = limit if encoding == "identity" else limit + limit // 100 + 1024
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise PayloadTooLarge(
            f"the body is {declared} bytes; at most {limit} are accepted", field="body"
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise PayloadTooLarge(f"the body is over {limit} bytes", field="body")
        chunks.append(chunk)
    body = b"".join(chunks)
    if encoding == "identity":
        return body
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        inflated = inflater.decompress(body, limit + 1)
    except zlib.error:
        raise MalformedBody("the body is not valid gzip", field="body") from None
    if len(inflated) > limit:
        raise PayloadTooLarge(f"the body is over {limit} bytes once un-gzipped", field="body")
    if not inflater.eof:
        raise MalformedBody("the gzip body is truncated", field="body")
    return inflated


def _tracking_call(kind: str) -> Any:
    async def call(request: Request) -> Response:
        ingestor: Ingestor = request.app.state.tracking
        body = await _read_body(request, body_limit(kind))
        parsed = await ingestor.accept(body=body, kind=kind, write_key=_basic_user(request))
        if not parsed.rejected:
            return Response(_OK, media_type="application/json")
        rejected = [
            {"index": r.index, "field": r.field, "detail": r.detail} for r in parsed.rejected
        ]
        return Response(
            orjson.dumps({"success": True, "rejected": rejected}), media_type="application/json"
        )

    call.__name__ = f"tracking_{kind}"
    call.__doc__ = (
        f"Segment-compatible `{kind}`: write key as HTTP Basic user name (or `writeKey`)."
    )
    guard(WRITE_KEY)(call)
    return call


_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "description": 'A Segment message (or `{"batch": [...]}`); gzip allowed.',
                }
            }
        },
    }
}

for _kind in (*MESSAGE_TYPES, "batch"):
    _handler = _tracking_call(_kind)
    router.add_api_route(
        f"/{_kind}",
        _handler,
        methods=["POST"],
        response_model=Accepted,
        tags=["tracking API"],
        openapi_extra=_BODY_DOC,
    )
    if _kind in _SHORT:
        router.add_api_route(
            f"/{_SHORT[_kind]}", _handler, methods=["POST"], include_in_schema=False
        )
