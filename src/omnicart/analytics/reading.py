"""The analytic model to read figures from: refreshed, on the configured engine."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from omnicart.analytics.engine import Engine, engine_for
from omnicart.analytics.warehouse import open_model
from omnicart.db.engine import Database
from omnicart.settings import Settings


@contextmanager
def open_analytics(*, db: Database, settings: Settings, timeout: float = 30.0) -> Iterator[Engine]:
    """The model refreshed from the event store and `db`, on `OMNICART_ANALYTICS_ENGINE`
    (DuckDB by default); usable inside the block only (it holds the event store's lock)."""
    with (
        open_model(db=db, events_path=Path(settings.events_path), timeout=timeout) as model,
        engine_for(settings.analytics_engine, model) as engine,
    ):
        yield engine
