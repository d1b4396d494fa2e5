"""The FastAPI application: routers, problem handlers, and (inline) the background rounds."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI

from omnicart import __version__
from omnicart.analytics import api as analytics_api
from omnicart.analytics import clv_api, journeys_api
from omnicart.api.access import guard, verify_routes
from omnicart.api.params import check_url
from omnicart.api.problems import PROBLEM_RESPONSES, install_problem_handlers, problem_media_type
from omnicart.auth import api as auth_api
from omnicart.auth.access import PUBLIC
from omnicart.auth.service import ensure_admin_key
from omnicart.catalog import api as catalog_api
from omnicart.channels import api as channels_api
from omnicart.connectors import api as connectors_api
from omnicart.connectors import registry as connector_registry
from omnicart.connectors.service import BackgroundLoop as ConnectorLoop
from omnicart.console import install_console
from omnicart.conversations import api as conversations_api
from omnicart.customers import api as customers_api
from omnicart.db.engine import Database
from omnicart.inventory import api as inventory_api
from omnicart.locations import api as locations_api
from omnicart.loyalty import api as loyalty_api
from omnicart.orders import api as orders_api
from omnicart.productfeeds import api as productfeeds_api
from omnicart.settings import Settings, get_settings
from omnicart.tracking import api as tracking_api
from omnicart.webhooks import api as webhooks_api
from omnicart.webhooks.delivery import WebhookSender
from omnicart.worker.rounds import run_round

log = logging.getLogger(__name__)


async def _sweep_expired(db: Database, every: float) -> None:
    # The worker's rounds, run in this process (OMNICART_BACKGROUND=inline).
    while True:
        await asyncio.to_thread(run_round, db)
        await asyncio.sleep(every)


def create_app(
    *, db: Database | None = None, settings: Settings | None = None, sweep: bool = True
) -> FastAPI:
    """Build the API over `db` (default: the configured database).

    `sweep` runs the background rounds in this process (omnicart.worker.rounds, and the
    event store's flusher) when `OMNICART_BACKGROUND` is `inline`; with `worker`, an
    `omnicart worker` process runs them and this app only answers requests. Tests turn
    it off.
    """
    config = settings or get_settings()
    sweep = sweep and config.background == "inline"
    database = db or Database.from_url(config.database_url, pool_size=config.pool_size)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        connector_registry.load_adapters()
        database.cache.start()
        if config.admin_key:
            with database.transaction() as session:
                ensure_admin_key(session, secret=config.admin_key)
        task = (
            asyncio.create_task(_sweep_expired(database, config.expiry_sweep_seconds))
            if sweep
            else None
        )
        # Outbound webhooks are polled more often than the rounds run.
        sender = WebhookSender(database, every=config.webhooks_poll_seconds) if sweep else None
        if sender is not None:
            sender.start()
        # Vendor deliveries and stock pushes: two threads, so pushes never wait behind ingests.
        connectors = ConnectorLoop(database) if sweep else None
        if connectors is not None:
            connectors.start()
        try:
            yield
        finally:
            if connectors is not None:
                await asyncio.to_thread(connectors.stop)
            if sender is not None:
                await asyncio.to_thread(sender.stop)
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            database.cache.stop()

    app = FastAPI(
        title="Omnicart",
        version=__version__,
        summary="One catalog, one stock and one order book for every sales channel.",
        lifespan=lifespan,
        responses=PROBLEM_RESPONSES,
        dependencies=[Depends(check_url)],
        # Served by the console with their assets from a package, never from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.db = database
    app.state.settings = config
    app.state.background = sweep
    install_problem_handlers(app)
    # Routes are tried in order: the most frequent calls first. Tracking, then the order
    # path (orders, carts, till sales, reservations), then the rest.
    routers = (
        orders_api,
        inventory_api,
        channels_api,
        locations_api,
        catalog_api,
        customers_api,
        loyalty_api,
        conversations_api,
        connectors_api,
        productfeeds_api,
        auth_api,
        webhooks_api,
        journeys_api,
        analytics_api,
        clv_api,
    )
    for module in (tracking_api, *routers):
        app.include_router(module.router, prefix="/v1")

    @app.get("/healthz", tags=["ops"])
    @guard(PUBLIC)
    def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    build_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        # Built once and cached by FastAPI in app.openapi_schema.
        if app.openapi_schema is None:
            app.openapi_schema = problem_media_type(build_openapi())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    # The web console's pages (left out of the schema) and the offline /docs and /redoc;
    # its pages declare who may open them as routes do, so verify_routes checks them too.
    install_console(app)
    verify_routes(app)
    return app
