"""The FastAPI application: routers, problem handlers, and the expiry sweeper."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI

from omnicart import __version__
from omnicart.api.access import guard, verify_routes
from omnicart.api.params import check_url
from omnicart.api.problems import PROBLEM_RESPONSES, install_problem_handlers, problem_media_type
from omnicart.auth import api as auth_api
from omnicart.auth.access import PUBLIC
from omnicart.auth.service import ensure_admin_key
from omnicart.catalog import api as catalog_api
from omnicart.channels import api as channels_api
from omnicart.conversations import api as conversations_api
from omnicart.customers import api as customers_api
from omnicart.customers.erasure_steps import finish_erasures
from omnicart.customers.service import sync_customers
from omnicart.db.engine import Database
from omnicart.inventory import api as inventory_api
from omnicart.inventory.service import expire_reservations
from omnicart.locations import api as locations_api
from omnicart.loyalty import api as loyalty_api
from omnicart.loyalty.expiry import expire_points
from omnicart.loyalty.feed import sync_loyalty
from omnicart.orders import api as orders_api
from omnicart.orders.fulfilment import expire_pickups
from omnicart.settings import Settings, get_settings
from omnicart.tracking import api as tracking_api

log = logging.getLogger(__name__)


# Background work, in this order each round; each step is safe in several processes at once.
_SWEEPS: tuple[tuple[str, Callable[[Database], int]], ...] = (
    # Expiry is what frees holds left behind by crashed or abandoned clients.
    ("expiring reservations", expire_reservations),
    # Pickup orders nobody collected in their window go back on sale too.
    ("expiring pickups", expire_pickups),
    # Orders of every channel attach to their customer, then earn (or lose) points.
    ("attaching orders to customers", sync_customers),
    ("loyalty from orders", sync_loyalty),
    # Points past the program's validity lapse (only when the setting turns expiry on).
    ("expiring loyalty points", expire_points),
    # Erasures whose event-store step failed are retried, with backoff, until done.
    ("finishing erasures", finish_erasures),
)


async def _sweep_expired(db: Database, every: float) -> None:
    while True:
        for what, step in _SWEEPS:
            try:
                await asyncio.to_thread(step, db)
            except Exception:
                log.exception("%s failed; retrying", what)
        await asyncio.sleep(every)


def create_app(
    *, db: Database | None = None, settings: Settings | None = None, sweep: bool = True
) -> FastAPI:
    """Build the API over `db` (default: the configured database).

    `sweep` runs the background work: freeing expired holds, and delivering the order
    book's outbox into the event store (tests turn it off).
    """
    config = settings or get_settings()
    database = db or Database.from_url(config.database_url, pool_size=config.pool_size)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if config.admin_key:
            with database.transaction() as session:
                ensure_admin_key(session, secret=config.admin_key)
        task = (
            asyncio.create_task(_sweep_expired(database, config.expiry_sweep_seconds))
            if sweep
            else None
        )
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    app = FastAPI(
        title="Omnicart",
        version=__version__,
        summary="One catalog, one stock and one order book for every sales channel.",
        lifespan=lifespan,
        responses=PROBLEM_RESPONSES,
        dependencies=[Depends(check_url)],
    )
    app.state.db = database
    app.state.settings = config
    app.state.background = sweep
    install_problem_handlers(app)
    routers = (
        channels_api,
        locations_api,
        catalog_api,
        inventory_api,
        orders_api,
        customers_api,
        loyalty_api,
        conversations_api,
        auth_api,
    )
    # The tracking API first: routes are tried in order, and its calls are the most frequent.
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
    verify_routes(app)
    return app
