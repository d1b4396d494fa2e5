"""Erasures finish by themselves (issue 14): an event-store step that fails is retried by
the server's sweep with growing backoff until it succeeds, what it needs waits encrypted
and is gone once it is done; the erasure report counts what went where and names no one;
a person is looked up without their e-mail in the URL, and the access log drops query
strings."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
import typer
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from omnicart.api.access_log import QueryStringFilter, log_config
from omnicart.app import create_app
from omnicart.auth.service import create_api_key
from omnicart.customers import cli as customers_cli
from omnicart.customers import service
from omnicart.customers.erasure import erase_customer
from omnicart.customers.erasure_report import erasure_report
from omnicart.customers.erasure_steps import backoff, erasure_status, finish_erasures
from omnicart.customers.lookup import observe
from omnicart.customers.tables import CustomerPendingErasure
from omnicart.db.engine import Database
from omnicart.kernel.clock import set_clock
from omnicart.settings import Settings
from omnicart.tracking.store import StoreLock
from tests.customers_support import EMAIL, NAME, PHONE, seed, sync
from tests.tracking_support import add_source, basic, stored, tracking_client

ADMIN = "oc_erasure_steps_admin"
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
# What the event-store step needs and so what the pending row would hold in clear.
PENDING_VALUES = [EMAIL, "ewa-77", "dev-ewa", "allegro-ewa", "601234567", "+48601234567"]


def _track(db: Database, events_path: Path) -> None:
    _channel_id, _source_id, key = add_source(db, "site")
    identify = {
        "userId": "ewa-77",
        "anonymousId": "dev-ewa",
        "traits": {"email": EMAIL, "name": NAME, "phone": PHONE},
        "messageId": "m1",
    }
    with tracking_client(db, events_path) as client:
        response = client.post(
            "/v1/identify",
            content=orjson.dumps(identify),
            headers={"Content-Type": "application/json", **basic(key)},
        )
        assert response.status_code == 200, response.text
    with stored(events_path):
        pass  # the spool moved into the store


def _identify_ewa(db: Database) -> int:
    """Ewa's profile, with her app's user id and device id linked to it."""
    ewa = service.find_customer(db, kind="email", value=EMAIL)
    with db.transaction() as session:
        assert (
            observe(
                session,
                identifiers=[("user_id", "ewa-77"), ("anonymous_id", "dev-ewa"), ("email", EMAIL)],
                channel_id=None,
                source="identify",
                traits={"name": NAME},
            )
            == ewa
        )
    return ewa


def _raw_hits(db: Database) -> list[str]:
    """The values found in the bytes of the SQLite file and its WAL, once freed pages
    are gone (VACUUM): what live rows hold, in whatever column or encoding."""
    path = Path(str(db.engine.url.database))
    db.dispose()
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    wal = path.with_name(path.name + "-wal")
    data = path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    lowered = data.lower()
    return [v for v in PENDING_VALUES if v.lower().encode() in lowered]


def _event_hits(events_path: Path) -> list[str]:
    with stored(events_path) as store:
        rows = store.conn.execute(
            "SELECT concat_ws(' ', user_id, anonymous_id, traits, context) FROM events"
        ).fetchall()
    text = " ".join(r[0] or "" for r in rows).lower()
    return [v for v in (EMAIL, "ewa-77", "dev-ewa") if v.lower() in text]


def _her_events(events_path: Path) -> int:
    """Events under her user ids (app, marketplace, till) or her device id."""
    with stored(events_path) as store:
        row = store.conn.execute(
            "SELECT count(*) FROM events WHERE user_id IN ('ewa-77', 'allegro-ewa', "
            "'card:LC-77') OR anonymous_id = 'dev-ewa'"
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_backoff_doubles_up_to_an_hour() -> None:
    assert [backoff(n) for n in (1, 2, 3, 4)] == [
        timedelta(seconds=30),
        timedelta(seconds=60),
        timedelta(seconds=120),
        timedelta(seconds=240),
    ]
    assert backoff(8) == timedelta(hours=1)
    assert backoff(10_000) == timedelta(hours=1)


def test_a_failed_event_store_step_finishes_by_itself_and_leaves_nothing_behind(
    db: Database, tmp_path: Path
) -> None:
    events_path = tmp_path / "events.duckdb"
    # The byte scan reads the SQLite file; on PostgreSQL the row itself is checked.
    on_sqlite = db.engine.dialect.name == "sqlite"
    seed(db)
    sync(db)
    _track(db, events_path)
    ewa = _identify_ewa(db)
    assert not on_sqlite or _raw_hits(db)  # the scan finds her before
    assert _event_hits(events_path) == [EMAIL, "ewa-77", "dev-ewa"]
    hers = _her_events(events_path)
    assert hers >= 1
    busy = StoreLock(events_path)  # another process holds the event store
    assert busy.try_acquire()
    try:
        set_clock(lambda: NOW)
        try:
            view = erase_customer(db, customer_id=ewa, actor="dpo", events_path=events_path)
        finally:
            set_clock(None)

        assert view.state == "pending"
        assert "events" not in view.counts
        first = erasure_status(db, erasure_id=view.erasure_id)
        assert (first.state, first.attempts) == ("pending", 1)
        assert (first.at, first.next_attempt_at) == (NOW, NOW + timedelta(seconds=30))
        assert first.last_error == "StoreBusy: the event store events.duckdb is busy"
        # Waiting meanwhile: in the database only sealed, nowhere in clear.
        with db.reading() as session:
            pending = session.scalars(select(CustomerPendingErasure)).one()
            assert set(pending.values) == {"sealed"}
            sealed = pending.values["sealed"].lower()
            assert not [v for v in PENDING_VALUES if v.lower() in sealed]
        assert not on_sqlite or _raw_hits(db) == []

        # Not due yet: the sweep leaves it alone.
        assert first.next_attempt_at is not None
        assert finish_erasures(db, now=first.next_attempt_at - timedelta(seconds=1)) == 0
        assert erasure_status(db, erasure_id=view.erasure_id).attempts == 1
        # Due, still busy: tried again, and the next wait is twice as long.
        assert finish_erasures(db, now=first.next_attempt_at) == 0
        second = erasure_status(db, erasure_id=view.erasure_id)
        assert (second.state, second.attempts) == ("pending", 2)
        assert second.next_attempt_at == first.next_attempt_at + timedelta(seconds=60)
    finally:
        busy.release()
    assert _event_hits(events_path) == [EMAIL, "ewa-77", "dev-ewa"]

    assert second.next_attempt_at is not None
    assert finish_erasures(db, now=second.next_attempt_at) == 1

    done = erasure_status(db, erasure_id=view.erasure_id)
    assert (done.state, done.attempts, done.last_error) == ("done", 3, None)
    assert done.finished_at == second.next_attempt_at
    assert done.next_attempt_at is None
    assert done.counts["events"] == hers
    assert _event_hits(events_path) == []
    with db.reading() as session:
        assert session.scalar(select(func.count()).select_from(CustomerPendingErasure)) == 0
    assert not on_sqlite or _raw_hits(db) == []
    # Done is done: the sweep does not come back to it.
    assert finish_erasures(db, now=second.next_attempt_at + timedelta(days=1)) == 0


def test_an_erasure_that_succeeds_at_once_is_done_with_nothing_pending(
    sqlite_db: Database, tmp_path: Path
) -> None:
    db, events_path = sqlite_db, tmp_path / "events.duckdb"
    seed(db)
    sync(db)
    _track(db, events_path)
    ewa = _identify_ewa(db)
    hers = _her_events(events_path)

    view = erase_customer(db, customer_id=ewa, actor="dpo", events_path=events_path)

    assert (view.state, view.counts["events"]) == ("done", hers)
    status = erasure_status(db, erasure_id=view.erasure_id)
    assert (status.state, status.attempts, status.last_error) == ("done", 1, None)
    with db.reading() as session:
        assert session.scalar(select(func.count()).select_from(CustomerPendingErasure)) == 0


@pytest.fixture
def api(sqlite_db: Database, tmp_path: Path) -> Iterator[TestClient]:
    with sqlite_db.transaction() as session:
        create_api_key(session, name="dpo", role="admin", secret=ADMIN)
    settings = Settings(events_path=str(tmp_path / "events.duckdb"), events_flusher="process")
    app = create_app(db=sqlite_db, settings=settings, sweep=False)
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN}"}) as client:
        yield client


def test_the_erasure_report_counts_what_went_where_and_names_no_one(
    api: TestClient, sqlite_db: Database
) -> None:
    db = sqlite_db
    shop, _orders = seed(db)
    sync(db)
    ewa = service.find_customer(db, kind="email", value=EMAIL)
    rules = {"points_per_unit": "0", "point_value": "0.01", "bonuses": {"review": 25}}
    assert api.put(f"/v1/channels/{shop.market}/loyalty-rules", json=rules).status_code == 200
    bonus = {"channel_id": shop.market, "name": "review", "reference": "r-1"}
    assert api.post(f"/v1/customers/{ewa}/loyalty/bonuses", json=bonus).status_code == 201
    erased = api.post(f"/v1/customers/{ewa}/erase")
    assert erased.status_code == 200, erased.text
    erasure_id = erased.json()["erasure_id"]
    assert erased.json()["state"] == "done"

    progress = api.get(f"/v1/customers/erasures/{erasure_id}")
    assert progress.status_code == 200, progress.text
    assert {k: progress.json()[k] for k in ("id", "customer_id", "actor", "state", "attempts")} == {
        "id": erasure_id,
        "customer_id": ewa,
        "actor": "key:1:dpo",
        "state": "done",
        "attempts": 1,
    }
    response = api.get(f"/v1/customers/erasures/{erasure_id}/report")
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["erasure_id"], report["customer_id"], report["profile_ids"]) == (
        erasure_id,
        ewa,
        [ewa],
    )
    assert (report["state"], report["complete"]) == ("done", True)
    assert report["requested_by"] == progress.json()["actor"]
    assert [(p["where"], p["what"], p["count"]) for p in report["erased"]] == [
        ("operational database", "customer_identities", 4),
        ("operational database", "customer_profiles", 1),
        ("operational database", "orders", 2),
        ("operational database", "customer_consents", 0),
        ("operational database", "conversation_messages", 0),
        ("operational database", "outbox_events", 2),
        ("operational database", "customer_suppressions", 4),
        ("event store", "events, spool and exports", 0),
    ]
    assert report["kept_orders"] == [{"currency": "EUR", "orders": 2, "total": "64.98"}]
    assert (report["kept_loyalty_accounts"], report["kept_loyalty_points"]) == (1, 25)
    text = response.text.lower()
    for value in (EMAIL, "allegro-ewa", "601234567", "601 234 567", "lc-77", NAME):
        assert value.lower() not in text
    # The same report from the service, as the CLI prints it.
    assert erasure_report(db, erasure_id=erasure_id).kept_orders[0].total == Decimal("64.98")
    assert api.get("/v1/customers/erasures/999999/report").status_code == 404


def test_search_by_post_finds_the_customer_as_the_get_does(
    api: TestClient, sqlite_db: Database
) -> None:
    seed(sqlite_db)
    sync(sqlite_db)
    ewa = service.find_customer(sqlite_db, kind="email", value=EMAIL)

    found = api.post("/v1/customers/search", json={"email": " ewa.kowalska@poczta.pl"})

    assert found.status_code == 200, found.text
    assert found.json()["id"] == ewa
    assert found.json() == api.get("/v1/customers", params={"email": EMAIL}).json()
    by_phone = api.post("/v1/customers/search", json={"phone": PHONE})
    assert by_phone.json()["id"] == ewa
    two = api.post("/v1/customers/search", json={"email": EMAIL, "phone": PHONE})
    assert two.status_code == 422
    assert two.json()["field"] == "query"
    unknown = api.post("/v1/customers/search", json={"mail": EMAIL})
    assert unknown.status_code == 422
    operation = api.app.openapi()["paths"]["/v1/customers"]["get"]  # type: ignore[attr-defined]
    assert operation["deprecated"] is True


def test_the_access_log_never_prints_a_query_string() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/v1/customers?email=ewa%40poczta.pl", "1.1", 200),
        None,
    )

    assert QueryStringFilter().filter(record) is True

    assert record.getMessage() == '127.0.0.1:5000 - "GET /v1/customers HTTP/1.1" 200'
    config = log_config()
    assert config["loggers"]["uvicorn.access"]["filters"] == ["no_query_string"]
    assert config["filters"]["no_query_string"]["()"] is QueryStringFilter


def _cli(db: Database, *args: str) -> str:
    app = typer.Typer()
    app.add_typer(customers_cli.app, name="customers")
    url = db.engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(
        app, ["customers", *args, "--database-url", url], env={"COLUMNS": "250"}
    )
    if result.exception is not None:
        raise result.exception
    assert result.exit_code == 0, result.output
    return result.stdout


def test_the_cli_lists_erasures_and_prints_the_report(sqlite_db: Database, tmp_path: Path) -> None:
    db, events_path = sqlite_db, tmp_path / "events.duckdb"
    seed(db)
    sync(db)
    _track(db, events_path)
    ewa = _identify_ewa(db)
    busy = StoreLock(events_path)
    assert busy.try_acquire()
    try:
        set_clock(lambda: NOW)
        try:
            view = erase_customer(db, customer_id=ewa, actor="dpo", events_path=events_path)
        finally:
            set_clock(None)
    finally:
        busy.release()

    listed = _cli(db, "erasures", "--pending")

    row = next(line for line in listed.splitlines() if line.strip().startswith("│ 1 "))
    cells = [cell.strip() for cell in row.strip("│ ").split("│")]
    assert cells == [
        str(view.erasure_id),
        str(ewa),
        "dpo",
        "2026-11-30T09:00:00+00:00",
        "pending",
        "1",
        "2026-11-30T09:00:30+00:00",
        "StoreBusy: the event store events.duckdb is busy",
    ]
    report = orjson.loads(_cli(db, "erasure-report", str(view.erasure_id)))
    assert (report["erasure_id"], report["state"], report["complete"]) == (
        view.erasure_id,
        "pending",
        False,
    )
    assert report["kept_orders"] == [{"currency": "EUR", "orders": 2, "total": "64.98"}]
    everything = (listed + orjson.dumps(report).decode()).lower()
    for value in PENDING_VALUES:
        assert value.lower() not in everything
