"""The connectors benchmark's baseline: a bare ASGI endpoint that stores each webhook
with one INSERT into a copy of the inbox table, and answers.

No framework, no signature check, no parsing: the least a server can do to keep a
delivery durably before its 2xx. Served by uvicorn like Omnicart (`create_app` is the
factory), over OMNICART_DATABASE_URL, into `BARE_TABLE` (made LIKE connector_inbox
INCLUDING ALL: the same columns, defaults and indexes, unique key included).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, cast

import anyio.to_thread
from sqlalchemy import MetaData, Table, create_engine
from sqlalchemy.dialects.postgresql import insert

from omnicart.connectors.tables import InboxDelivery
from omnicart.kernel.clock import utcnow
from omnicart.settings import get_settings

BARE_TABLE = "bare_inbox"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

_OK = b'{"ok":true}'


def create_app() -> App:
    """The bare endpoint: POST /v1/connectors/{id}/webhooks stores the body; GET /healthz."""
    settings = get_settings()
    engine = create_engine(settings.database_url, pool_size=settings.pool_size)
    table = cast(Table, InboxDelivery.__table__).to_metadata(MetaData(), name=BARE_TABLE)

    def store(connector_id: int, headers: dict[str, str], body: bytes) -> None:
        now = utcnow()
        with engine.begin() as conn:
            conn.execute(
                insert(table)
                .values(
                    connector_id=connector_id,
                    delivery_id=hashlib.sha256(body).hexdigest(),
                    source="webhook",
                    topic="",
                    kind="ignored",
                    headers=headers,
                    body=body,
                    received_at=now,
                    status="done",
                    attempts=0,
                    next_attempt_at=now,
                )
                .on_conflict_do_nothing()
            )

    async def answer(send: Send, status: int, body: bytes) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    engine.dispose()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        parts = scope["path"].strip("/").split("/")
        if scope["method"] == "GET" and parts == ["healthz"]:
            await answer(send, 200, _OK)
            return
        if scope["method"] != "POST" or len(parts) != 4 or not parts[2].isdigit():
            await answer(send, 404, b"{}")
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        await anyio.to_thread.run_sync(store, int(parts[2]), headers, b"".join(chunks))
        await answer(send, 200, _OK)

    return app
