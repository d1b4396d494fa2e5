"""`omnicart import history` (UCI Online Retail and CDNOW layouts) into the order book and
the event store, and predictive CLV over the result (`GET /v1/analytics/clv`,
`omnicart analytics clv`).

THE acceptance test is `test_cdnow_sample_reproduces_the_published_estimates`: Omnicart
loads the raw CDNOW 1/10 sample, builds the calibration summary from its analytic model
and fits BG/NBD and Gamma-Gamma to it; the estimates equal the published ones.
"""

from __future__ import annotations

import csv
import json
import shutil
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from omnicart.analytics import clv
from omnicart.analytics.clv_data import calibration_summary
from omnicart.analytics.history import import_history
from omnicart.analytics.history_cdnow import read_cdnow, spread
from omnicart.analytics.history_model import (
    PastCancellation,
    PastLine,
    PastOrder,
    match_cancellations,
    sold_lines,
)
from omnicart.analytics.history_uci import read_uci
from omnicart.analytics.warehouse import open_model
from omnicart.app import create_app
from omnicart.auth.service import create_api_key
from omnicart.customers.service import sync_customers
from omnicart.db.engine import Database
from omnicart.db.outbox import OutboxEvent
from omnicart.importing import ImportRejected, RowError
from omnicart.loyalty.feed import sync_loyalty
from omnicart.loyalty.model import DEFAULT_PROGRAM, Program
from omnicart.loyalty.service import set_program
from omnicart.loyalty.tables import LoyaltyEntry
from omnicart.orders.tables import Order, OrderLine, Payment, Return, ReturnLine
from omnicart.orders.views import segment_order
from omnicart.settings import Settings
from omnicart.tracking.store import open_store
from omnicart.webhooks.service import create_subscription, fan_out
from omnicart.webhooks.tables import WebhookDelivery
from tests.cli_run import omnicart
from tests.support import add_channel

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "datasets"
CDNOW_SAMPLE = DATA / "cdnow" / "CDNOW_sample.txt"
CDNOW_SUMMARY = DATA / "cdnow" / "cdnow_customers_summary.csv"
UCI = DATA / "online-retail-uci" / "online_retail.csv"
ADMIN = "oc_history_admin_secret"
ANALYST = "oc_history_analyst_secret"

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
# A small shop in the UCI layout (local times in Europe/London). Row numbers (the header
# is row 1) are what rejections name.
SALES = [
    "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom",  # noqa: E501
    "536365,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,17850.0,United Kingdom",
    "536366,22633,HAND WARMER UNION JACK,6,2010-12-01 08:28:00,1.85,17850.0,United Kingdom",
    "536367,84879,ASSORTED COLOUR BIRD ORNAMENT,32,2010-12-01 08:34:00,1.69,13047.0,United Kingdom",
    "536367,22745,POPPY'S PLAYHOUSE BEDROOM,6,2010-12-01 08:34:00,2.10,13047.0,United Kingdom",
    "536368,22960,JAM MAKING SET WITH JARS,6,2010-12-01 08:34:00,4.25,,United Kingdom",
    # Summer time: 08:35 in London is 07:35 UTC.
    "536369,21756,BATH BUILDING BLOCK WORD,3,2011-06-01 08:35:00,5.95,13047.0,United Kingdom",
    # A price finer than a penny: rounded to 0.00.
    "536370,PADS,PADS TO MATCH ALL CUSHIONS,1,2011-06-02 09:00:00,0.001,17850.0,United Kingdom",
    "536371,85123A,WHITE HANGING HEART T-LIGHT HOLDER,2,2011-06-03 10:00:00,2.55,17850.0,United Kingdom",  # noqa: E501
]
LATER = [
    # 5 hearts back: the 2 of 536371 (latest first), then 3 of the 6 of 536365.
    "C536379,85123A,WHITE HANGING HEART T-LIGHT HOLDER,-5,2011-06-04 09:41:00,2.55,17850.0,United Kingdom",  # noqa: E501
    # A discount: never sold, so an adjustment.
    "C536379,D,Discount,-1,2011-06-04 09:41:00,27.50,17850.0,United Kingdom",
    # No customer: nothing to match, an adjustment.
    "C536380,22960,JAM MAKING SET WITH JARS,-1,2011-06-05 10:00:00,4.25,,United Kingdom",
    # A stock note and an accounting entry: left out.
    "536381,22139,RETROSPOT TEA SET CERAMIC 11 PC,-10,2011-06-06 10:00:00,0.0,,United Kingdom",
    "A563185,B,Adjust bad debt,1,2011-08-12 14:50:00,11062.06,,United Kingdom",
    # The whole of 536366 back.
    "C536382,22633,HAND WARMER UNION JACK,-6,2011-06-07 10:00:00,1.85,17850.0,United Kingdom",
]


def _csv(tmp_path: Path, rows: list[str], name: str = "uci.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def _url(db: Database) -> str:
    return db.engine.url.render_as_string(hide_password=False)


def _utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def _book(db: Database) -> dict[str, object]:
    """The order book as the import leaves it, by the file's numbers."""
    with db.reading() as session:
        orders = {
            o.external_id: (o.status, o.subtotal, o.total, o.customer_ref, o.created_at, o.source)
            for o in session.scalars(select(Order))
        }
        numbers = {o.id: o.external_id for o in session.scalars(select(Order))}
        lines = sorted(
            (numbers[line.order_id], line.line_no, line.sku, line.quantity, line.unit_price,
             line.total, line.fulfilled, line.returned)
            for line in session.scalars(select(OrderLine))
        )  # fmt: skip
        returns = sorted(
            (numbers[r.order_id], r.actor, r.status, r.value, r.received_at)
            for r in session.scalars(select(Return))
        )
        returned = sorted(
            (numbers[r.order_id], line.quantity, line.reason)
            for line, r in session.execute(
                select(ReturnLine, Return).join(Return, Return.id == ReturnLine.return_id)
            ).all()
        )
        payments = sorted(
            (numbers[p.order_id], p.kind, p.amount, p.reference)
            for p in session.scalars(select(Payment))
        )
        events = [
            (e.event_type, numbers[int(e.aggregate_id)], e.occurred_at)
            for e in session.scalars(select(OutboxEvent).order_by(OutboxEvent.id))
        ]
    return {
        "orders": orders,
        "lines": lines,
        "returns": returns,
        "returned": returned,
        "payments": payments,
        "events": events,
    }


D = Decimal
WINTER = _utc(2010, 12, 1, 8, 26)
EXPECTED_ORDERS = {
    "536365": ("partially_returned", D("35.64"), D("35.64"), "17850", WINTER, "history"),
    "536366": ("returned", D("11.1"), D("11.1"), "17850", _utc(2010, 12, 1, 8, 28), "history"),
    "536367": ("completed", D("66.68"), D("66.68"), "13047", _utc(2010, 12, 1, 8, 34), "history"),
    "536368": ("completed", D("25.5"), D("25.5"), None, _utc(2010, 12, 1, 8, 34), "history"),
    "536369": ("completed", D("17.85"), D("17.85"), "13047", _utc(2011, 6, 1, 7, 35), "history"),
    "536370": ("completed", D("0"), D("0"), "17850", _utc(2011, 6, 2, 8), "history"),
    "536371": ("returned", D("5.1"), D("5.1"), "17850", _utc(2011, 6, 3, 9), "history"),
    # Adjustments: what no sale in the file explains, at minus its price.
    "C536379": ("completed", D("-27.5"), D("-27.5"), "17850", _utc(2011, 6, 4, 8, 41), "history"),
    "C536380": ("completed", D("-4.25"), D("-4.25"), None, _utc(2011, 6, 5, 9), "history"),
}
EXPECTED_RETURNS = [
    ("536365", "history:C536379", "refunded", D("7.65"), _utc(2011, 6, 4, 8, 41)),
    ("536366", "history:C536382", "refunded", D("11.1"), _utc(2011, 6, 7, 9)),
    ("536371", "history:C536379", "refunded", D("5.1"), _utc(2011, 6, 4, 8, 41)),
]
EXPECTED_RETURNED = [
    ("536365", 3, "cancelled (C536379)"),
    ("536366", 6, "cancelled (C536382)"),
    ("536371", 2, "cancelled (C536379)"),
]
EXPECTED_PAYMENTS = sorted(
    [
        ("536365", "payment", D("35.64"), "536365"),
        ("536366", "payment", D("11.1"), "536366"),
        ("536367", "payment", D("66.68"), "536367"),
        ("536368", "payment", D("25.5"), "536368"),
        ("536369", "payment", D("17.85"), "536369"),
        ("536371", "payment", D("5.1"), "536371"),
        ("536365", "refund", D("7.65"), "C536379"),
        ("536366", "refund", D("11.1"), "C536382"),
        ("536371", "refund", D("5.1"), "C536379"),
    ]
)


def _uk(db: Database) -> int:
    with db.transaction() as session:
        return add_channel(session, "uk-web", currency="GBP")


def _check_book(book: dict[str, object]) -> None:
    assert book["orders"] == EXPECTED_ORDERS
    assert book["returns"] == EXPECTED_RETURNS
    assert book["returned"] == EXPECTED_RETURNED
    assert book["payments"] == EXPECTED_PAYMENTS
    lines = book["lines"]
    assert isinstance(lines, list)
    assert len(lines) == 11  # 9 sold lines, 2 adjustment lines
    assert ("536365", 1, "85123A", 6, D("2.55"), D("15.3"), 6, 3) in lines
    assert ("536365", 2, "71053", 6, D("3.39"), D("20.34"), 6, 0) in lines
    assert ("536370", 1, "PADS", 1, D("0"), D("0"), 1, 0) in lines
    assert ("C536379", 1, "D", 1, D("-27.5"), D("-27.5"), 1, 0) in lines
    # Each order's Order Completed at its time; then returns and refunds in time order.
    events = book["events"]
    assert isinstance(events, list)
    assert [e for e in events if e[0] == "Order Completed"] == [
        ("Order Completed", number, EXPECTED_ORDERS[number][4]) for number in EXPECTED_ORDERS
    ]
    assert [e for e in events if e[0] != "Order Completed"] == [
        ("Return Received", "536365", _utc(2011, 6, 4, 8, 41)),
        ("Order Refunded", "536365", _utc(2011, 6, 4, 8, 41)),
        ("Return Received", "536371", _utc(2011, 6, 4, 8, 41)),
        ("Order Refunded", "536371", _utc(2011, 6, 4, 8, 41)),
        ("Return Received", "536366", _utc(2011, 6, 7, 9)),
        ("Order Refunded", "536366", _utc(2011, 6, 7, 9)),
    ]


# --- UCI: the order book -----------------------------------------------------------------------


def test_uci_history_becomes_orders_returns_and_adjustments(db: Database, tmp_path: Path) -> None:
    _uk(db)
    history = read_uci(_csv(tmp_path, SALES + LATER), timezone="Europe/London")
    summary = import_history(db, history, channel_code="uk-web", source_name="uci.csv")
    assert (summary.rows, summary.orders_created, summary.lines, summary.customers) == (
        15,
        7,
        9,
        2,
    )
    assert (summary.returns_created, summary.adjustments_created) == (3, 2)
    assert summary.left_out == {
        "stock notes (negative Quantity outside a cancellation)": 1,
        "accounting entries (invoice A...)": 1,
    }
    assert summary.prices_rounded == 1
    assert (summary.first_order_at, summary.last_order_at) == (WINTER, _utc(2011, 6, 3, 9))
    book = _book(db)
    _check_book(book)
    # Sales less refunds and adjustments equal the file's sum of Quantity × UnitPrice
    # (stock notes and accounting entries aside, the sub-penny price rounded).
    sales = sum(o[1] for o in EXPECTED_ORDERS.values())
    refunds = sum(r[3] for r in EXPECTED_RETURNS)
    assert sales - refunds == D("106.27")

    again = import_history(db, history, channel_code="uk-web", source_name="uci.csv")
    assert (again.orders_created, again.orders_already_there, again.lines) == (0, 7, 0)
    assert (again.returns_created, again.adjustments_created) == (0, 0)
    assert again.cancellations_already_there == 3
    assert _book(db) == book


def test_a_later_file_returns_units_of_orders_imported_before(
    sqlite_db: Database, tmp_path: Path
) -> None:
    _uk(sqlite_db)
    first = read_uci(_csv(tmp_path, SALES, "sales.csv"), timezone="Europe/London")
    import_history(sqlite_db, first, channel_code="uk-web", source_name="sales.csv")
    whole = read_uci(_csv(tmp_path, SALES + LATER), timezone="Europe/London")
    summary = import_history(sqlite_db, whole, channel_code="uk-web", source_name="uci.csv")
    assert (summary.orders_created, summary.orders_already_there) == (0, 7)
    assert (summary.returns_created, summary.adjustments_created) == (3, 2)
    book = _book(sqlite_db)
    assert book["orders"] == EXPECTED_ORDERS
    assert book["returns"] == EXPECTED_RETURNS
    assert book["returned"] == EXPECTED_RETURNED
    assert book["payments"] == EXPECTED_PAYMENTS


def test_events_carry_the_order_as_segment_order_describes_it(
    sqlite_db: Database, tmp_path: Path
) -> None:
    _uk(sqlite_db)
    history = read_uci(_csv(tmp_path, SALES + LATER), timezone="Europe/London")
    import_history(sqlite_db, history, channel_code="uk-web", source_name="uci.csv")
    with sqlite_db.reading() as session:
        for number in ("536365", "536367", "536370", "C536379"):
            order = session.scalars(select(Order).where(Order.external_id == number)).one()
            completed, *later = session.scalars(
                select(OutboxEvent)
                .where(OutboxEvent.aggregate_id == str(order.id))
                .order_by(OutboxEvent.id)
            )
            # Placed as completed (the payload is the order as it was then), and history.
            assert completed.payload == {
                **segment_order(session, order),
                "status": "completed",
                "historic": True,
            }
            if number == "536365":
                received, refunded = later
                assert received.payload["products"] == [
                    {
                        "sku": "85123A",
                        "quantity": 3,
                        "restocked": 0,
                        "written_off": 0,
                        "reason": "cancelled (C536379)",
                    }
                ]
                assert refunded.payload == {
                    **segment_order(session, order),
                    "total": "7.65",
                    "return_id": received.payload["return_id"],
                    "method": "history",
                    "actor": "history import",
                    "historic": True,
                }


# --- UCI: the command, the event store and the analytic model ----------------------------------


def test_import_history_command_fills_the_event_store_and_the_model(
    sqlite_db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _uk(sqlite_db)
    events = tmp_path / "events.duckdb"
    args = ["import", "history", str(_csv(tmp_path, SALES + LATER)), "--format", "uci"]
    where = ["--timezone", "Europe/London", "--database-url", _url(sqlite_db)]
    ran = omnicart(capsys, *args, *where, "--events-path", str(events))
    assert ran.code == 0, ran.err
    assert ran.out.strip() == (
        "imported 7 orders (9 lines, 2 customers) from 2010-12-01 to 2011-06-03 into channel "
        "uk-web (GBP); 0 were there already; cancellations: 3 returns of earlier orders, 2 "
        "adjustments; left out: 1 accounting entries (invoice A...), 1 stock notes (negative "
        "Quantity outside a cancellation); 1 unit prices rounded to the currency's minor unit"
    )
    with open_store(events) as store:
        assert store.count(source_id=0) == 15
        assert store.count(event="Order Completed") == 9
        (stored,) = [
            e
            for e in store.find(source_id=0)
            if (e.properties or {}).get("external_id") == "536369"
        ]
        assert (stored.timestamp, stored.user_id) == (_utc(2011, 6, 1, 7, 35), "13047")
    again = omnicart(capsys, *args, *where, "--events-path", str(events))
    assert again.code == 0, again.err
    assert again.out.startswith("imported 0 orders (0 lines, 0 customers) into channel uk-web")
    assert "3 cancellations were there already" in again.out
    # The model, refreshed with identity resolution: each customer one key; the anonymous
    # orders none; sales, refunds and returned units as the order book has them.
    with open_model(db=sqlite_db, events_path=events) as model:
        rows = model.query(
            "SELECT customer_key, count(*), sum(gross) FROM wh_orders "
            "GROUP BY customer_key ORDER BY count(*) DESC"
        )
        refunds = model.query("SELECT count(*), sum(amount) FROM wh_refunds")
        returned = model.query("SELECT sum(quantity) FROM wh_returns")
    keys = {key for key, _, _ in rows}
    assert None in keys
    assert all(key is None or key.startswith("c") for key in keys)
    by_count = sorted((n, total) for _, n, total in rows)
    assert by_count == [(2, D("21.25")), (2, D("84.53")), (5, D("24.34"))]
    assert refunds == [(3, D("23.85"))]
    assert returned == [(11,)]


def test_bad_rows_are_listed_and_nothing_is_imported(
    sqlite_db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _uk(sqlite_db)
    rows = [
        SALES[0],
        "536400,22633,HAND WARMER,6,2010-13-01 08:28:00,1.85,17850.0,United Kingdom",
        "536401,22633,HAND WARMER,six,2010-12-01 08:28:00,1.85,17850.0,United Kingdom",
        ",22633,HAND WARMER,6,2010-12-01 08:28:00,1.85,17850.0,United Kingdom",
        "536402,22633,HAND WARMER,6,2010-12-01 08:28:00,-1.85,17850.0,United Kingdom",
        "C536403,22633,HAND WARMER,6,2010-12-01 08:28:00,1.85,17850.0,United Kingdom",
        "536404,22633,HAND WARMER,6,2010-12-01 08:28:00,1.85,17850.0",
        "536405,22633,HAND WARMER,6,2010-12-01 08:28:00,1.85,A17850,United Kingdom",
        "536365,22633,HAND WARMER,6,2010-12-01 08:28:00,1.85,12345.0,United Kingdom",
    ]
    path = _csv(tmp_path, rows)
    with pytest.raises(ImportRejected) as rejected:
        read_uci(path)
    assert rejected.value.errors == [
        RowError(3, "InvoiceDate", "'2010-13-01 08:28:00' is not a date and time YYYY-MM-DD HH:MM"),
        RowError(4, "Quantity", "'six' is not a whole number other than 0"),
        RowError(5, "InvoiceNo", "is blank"),
        RowError(6, "UnitPrice", "-1.85 is negative"),
        RowError(
            7,
            "Quantity",
            "a cancellation (invoice C...) gives units back: its Quantity is negative, not 6",
        ),
        RowError(8, "(row)", "has 7 cells; the header has 8"),
        RowError(9, "CustomerID", "'A17850' is not a customer number"),
        RowError(10, "CustomerID", "invoice 536365 is for customer 17850 on row 2, not 12345"),
    ]
    ran = omnicart(
        capsys, "import", "history", str(path), "--format", "uci",
        "--database-url", _url(sqlite_db), "--events-path", str(tmp_path / "events.duckdb"),
    )  # fmt: skip
    assert ran.code == 2
    assert "8 problems in the file; nothing was imported" in ran.err
    assert "is not a date and time" in ran.err
    with sqlite_db.reading() as session:
        assert session.scalar(select(func.count()).select_from(Order)) == 0
        assert session.scalar(select(func.count()).select_from(OutboxEvent)) == 0


def test_the_channel_must_sell_in_the_files_currency(
    sqlite_db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with sqlite_db.transaction() as session:
        add_channel(session, "eu-web", currency="EUR")
        add_channel(session, "uk-web", currency="GBP")
        add_channel(session, "uk-app", kind="app", currency="GBP")
    base = ["import", "history", str(_csv(tmp_path, SALES)), "--format", "uci"]
    where = ["--database-url", _url(sqlite_db), "--events-path", str(tmp_path / "e.duckdb")]
    wrong = omnicart(capsys, *base, "--channel", "eu-web", *where)
    assert wrong.code == 2
    assert wrong.err.strip() == (
        "error (--channel): the file's orders are in GBP, but channel 'eu-web' sells in EUR; "
        "import them into a channel that sells in GBP"
    )
    unnamed = omnicart(capsys, *base, *where)
    assert unnamed.code == 2
    assert unnamed.err.strip() == (
        "error (--channel): name the channel these GBP orders were sold on (active channels "
        "selling in GBP: uk-app, uk-web)"
    )
    with sqlite_db.reading() as session:
        assert session.scalar(select(func.count()).select_from(Order)) == 0


# --- matching cancellations (pure) --------------------------------------------------------------


def test_cancellations_take_units_from_the_latest_earlier_sale_first() -> None:
    day = _utc(2011, 1, 1)
    orders = [
        PastOrder("1", day, "7", (PastLine("X", "", 4, D("2.00")),)),
        PastOrder("2", day + timedelta(days=2), "7", (PastLine("X", "", 1, D("2.50")),)),
        # After the cancellation: not what it undoes.
        PastOrder("3", day + timedelta(days=9), "7", (PastLine("X", "", 5, D("2.00")),)),
    ]
    cancel = PastCancellation("C9", day + timedelta(days=5), "7", "X", "", 7, D("2.10"))
    sold = sold_lines(orders, wanted={("7", "X")})
    returns, adjustments = match_cancellations([cancel], sold, currency="GBP")
    assert [(r.order_key, r.lines, r.amount) for r in returns] == [
        ("1", ((1, 4),), D("8.40")),
        ("2", ((1, 1),), D("2.10")),
    ]
    assert adjustments == [
        PastOrder("C9", cancel.at, "7", (PastLine("X", "", 2, D("-2.10")),), adjustment=True)
    ]


# --- CDNOW ---------------------------------------------------------------------------------------


def test_cdnow_purchases_spread_their_value_over_their_cds(tmp_path: Path) -> None:
    assert spread(D("29.33"), 2) == (
        PastLine("CD", "CD", 1, D("14.67")),
        PastLine("CD", "CD", 1, D("14.66")),
    )
    assert spread(D("30.00"), 3) == (PastLine("CD", "CD", 3, D("10.00")),)
    assert spread(D("0.00"), 2) == (PastLine("CD", "CD", 2, D("0.00")),)
    path = tmp_path / "cdnow.txt"
    path.write_text(
        " 00004 0001 19970101  2   29.33\n 00004 0001 19970101  1   12.00\n"
        " 00021 0002 19970102  3   30.00\n"
    )
    history = read_cdnow(path)
    assert history.currency == "USD"
    assert [(o.external_id, o.customer_ref, o.ordered_at) for o in history.orders] == [
        ("4-19970101-1", "4", _utc(1997, 1, 1)),
        ("4-19970101-2", "4", _utc(1997, 1, 1)),
        ("21-19970102-1", "21", _utc(1997, 1, 2)),
    ]
    bad = tmp_path / "bad.txt"
    bad.write_text(
        "00004 0001 19970101 2 29.33\n00005 0002 19971301 2 29.33\n"
        "00006 0003 19970101 0 1.00\n00007 0004 19970101 1 1.005\n00008 19970101 1 1.00\n"
    )
    with pytest.raises(ImportRejected) as rejected:
        read_cdnow(bad)
    assert [(e.row, e.column) for e in rejected.value.errors] == [
        (2, "date"),
        (3, "CDs"),
        (4, "dollars"),
        (5, "(row)"),
    ]


def _need(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared data sets are not on this machine")


@pytest.mark.slow
def test_cdnow_sample_reproduces_the_published_estimates(
    sqlite_db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """THE acceptance test. The raw CDNOW 1/10 sample (2,357 customers who first bought
    in the first quarter of 1997), loaded by `omnicart import history`, summarised by the
    analytic model over the 39-week calibration period 1997-01-01..1997-09-30 (several
    purchases on one day are one transaction; the first purchase counts neither in x nor
    in the average spend, as the papers prepare it), reproduces:

    - BG/NBD: Fader, Hardie & Lee (2005), "'Counting Your Customers' the Easy Way: An
      Alternative to the Pareto/NBD Model", Marketing Science 24(2), 275-284, section 4:
      r = 0.243, α = 4.414, a = 0.793, b = 2.426, log-likelihood = −9582.4;
    - Gamma-Gamma: Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value"
      (brucehardie.com/notes/025), on the 946 customers who bought again in the
      calibration period: p = 6.25, q = 3.74, γ = 15.44.

    (The same figures are the reference values of the CLVTools R package's correctness
    tests.) Identity resolution is not run before the refresh: it links each order to a
    profile one by one (minutes for 6,919 orders) and is not what is under test; without
    it every order is keyed by its customer reference, one key per customer all the same.
    """
    _need(CDNOW_SAMPLE)
    with sqlite_db.transaction() as session:
        add_channel(session, "cdnow", currency="USD")
    events = tmp_path / "events.duckdb"
    ran = omnicart(
        capsys, "import", "history", str(CDNOW_SAMPLE), "--format", "cdnow",
        "--database-url", _url(sqlite_db), "--events-path", str(events),
    )  # fmt: skip
    assert ran.code == 0, ran.err
    assert ran.out.startswith(
        "imported 6919 orders (8727 lines, 2357 customers) from 1997-01-01 to 1998-06-30 into "
        "channel cdnow (USD)"
    )
    with open_model(db=sqlite_db, events_path=events, catch_up_first=False) as model:
        summary = calibration_summary(model, first=date(1997, 1, 1), last=date(1997, 9, 30))
    assert len(summary.keys) == 2357
    assert int(np.sum(summary.x > 0)) == 946
    assert summary.currency == "USD"
    _same_as_published_summary(summary.keys, summary.x, summary.t_x, summary.age)

    bgnbd = clv.fit_bgnbd(summary.x, summary.t_x, summary.age)
    assert (round(bgnbd.r, 3), round(bgnbd.alpha, 3)) == (0.243, 4.414)
    assert (round(bgnbd.a, 3), round(bgnbd.b, 3)) == (0.793, 2.426)
    assert round(bgnbd.log_likelihood, 1) == -9582.4

    repeat = summary.x > 0
    spend = np.array(
        [float(s) for s, r in zip(summary.spend, repeat, strict=True) if r and s is not None]
    )
    gamma_gamma = clv.fit_gamma_gamma(summary.x[repeat], spend)
    assert len(spend) == 946
    assert (round(gamma_gamma.p, 2), round(gamma_gamma.q, 2)) == (6.25, 3.74)
    assert round(gamma_gamma.gamma, 2) == 15.44


def _same_as_published_summary(
    keys: list[str], x: np.ndarray, t_x: np.ndarray, age: np.ndarray
) -> None:
    """Each customer's (x, t_x, T) equals the calibration summary distributed with the data
    (cdnow_customers_summary.csv, by sample id; times to two decimals)."""
    if not CDNOW_SUMMARY.exists():
        return
    sample_of = {}
    for line in CDNOW_SAMPLE.read_text().splitlines():
        master, sample, *_ = line.split()
        sample_of[f"u{int(master)}"] = int(sample)
    with CDNOW_SUMMARY.open(newline="") as handle:
        published = {
            int(row["ID"]): (int(row["frequency"]), float(row["recency"]), float(row["T"]))
            for row in csv.DictReader(handle)
        }
    ours = {
        sample_of[key]: (int(x[i]), round(float(t_x[i]), 2), round(float(age[i]), 2))
        for i, key in enumerate(keys)
    }
    assert ours == published


# --- CLV: the API and the command -----------------------------------------------------------


@dataclass(frozen=True)
class ClvShop:
    client: TestClient
    url: str
    events: Path
    purchases: dict[str, list[tuple[date, Decimal]]]  # customer ref -> (day, value)


FIRST, LAST, HOLDOUT = date(1997, 1, 1), date(1997, 6, 30), date(1997, 12, 31)


def _purchases() -> dict[str, list[tuple[date, Decimal]]]:
    """30 customers with purchase patterns of their own (some several on one day)."""
    made: dict[str, list[tuple[date, Decimal]]] = {}
    for i in range(1, 31):
        day = FIRST + timedelta(days=(i * 7) % 60)
        stop = FIRST + timedelta(days=40 + 11 * i)
        gap = timedelta(days=5 + (i * 13) % 40)
        rows = []
        while day <= HOLDOUT and day <= stop:
            rows.append((day, D(f"{10 + i}.{i % 100:02d}")))
            if i % 4 == 0:
                rows.append((day, D("5.00")))  # a second order the same day
            day += gap
        made[str(i)] = rows
    return made


@pytest.fixture(scope="module")
def clv_shop(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClvShop]:
    """A shop whose history (CDNOW layout) is imported once; reading CLV changes nothing."""
    tmp = tmp_path_factory.mktemp("clv")
    shutil.copy(sqlite_template, tmp / "omnicart.db")
    db = Database.from_url(f"sqlite:///{tmp / 'omnicart.db'}")
    with db.transaction() as session:
        add_channel(session, "us-web", currency="USD")
        create_api_key(session, name="admin", role="admin", secret=ADMIN)
        create_api_key(session, name="analyst", role="analyst", secret=ANALYST)
    purchases = _purchases()
    path = tmp / "history.txt"
    path.write_text(
        "".join(
            f"{ref} {day:%Y%m%d} 1 {value}\n"
            for ref, rows in purchases.items()
            for day, value in rows
        )
    )
    events = tmp / "events.duckdb"
    history = read_cdnow(path)
    import_history(db, history, channel_code="us-web", source_name=path.name)
    settings = Settings(events_path=str(events), events_flusher="process", admin_key=None)
    app = create_app(db=db, settings=settings, sweep=False)
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN}"}) as client:
        yield ClvShop(client, _url(db), events, purchases)
    db.dispose()


def _by_hand(
    purchases: dict[str, list[tuple[date, Decimal]]],
) -> dict[str, tuple[int, float, float, Decimal | None, int]]:
    """(x, t_x, T, m, holdout transactions) of each cohort customer, from the purchases."""
    out = {}
    for ref, rows in purchases.items():
        days: dict[date, Decimal] = defaultdict(Decimal)
        for day, value in rows:
            days[day] += value
        born = min(days)
        if not FIRST <= born <= LAST:
            continue
        calibration = sorted(d for d in days if d <= LAST)
        repeat = calibration[1:]
        m = sum((days[d] for d in repeat), D(0)) / len(repeat) if repeat else None
        out[ref] = (
            len(repeat),
            (calibration[-1] - born).days / 7,
            (LAST - born).days / 7,
            m,
            sum(1 for d in days if LAST < d <= HOLDOUT),
        )
    return out


def test_clv_api_fits_and_values_every_customer(clv_shop: ClvShop) -> None:
    hand = _by_hand(clv_shop.purchases)
    params = {"from": "1997-01-01", "to": "1997-06-30", "holdout_to": "1997-12-31",
              "horizon_weeks": 26, "discount_rate": "0.1", "limit": 1000}  # fmt: skip
    response = clv_shop.client.get("/v1/analytics/clv", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["from"], body["to"], body["currency"]) == ("1997-01-01", "1997-06-30", "USD")
    assert (body["customers"], body["horizon_weeks"], body["discount_rate"]) == (
        len(hand),
        26,
        "0.1",
    )
    assert body["repeat_customers"] == sum(1 for v in hand.values() if v[0] > 0)
    assert [d["name"] for d in body["definitions"]] == [
        "clv_frequency", "clv_p_alive", "clv_expected_purchases", "clv_expected_spend",
        "clv_expected_value",
    ]  # fmt: skip
    # The fits equal fits of the summary worked out from the purchases themselves.
    refs = sorted(hand)
    x = np.array([hand[r][0] for r in refs], dtype=float)
    t_x = np.array([hand[r][1] for r in refs])
    age = np.array([hand[r][2] for r in refs])
    bgnbd = clv.fit_bgnbd(x, t_x, age)
    assert body["bgnbd"]["r"] == pytest.approx(bgnbd.r, rel=1e-6)
    assert body["bgnbd"]["log_likelihood"] == pytest.approx(bgnbd.log_likelihood, rel=1e-9)
    buyers = [r for r in refs if hand[r][0] > 0]
    spend = clv.fit_gamma_gamma(
        [hand[r][0] for r in buyers], [float(hand[r][3] or 0) for r in buyers]
    )
    assert body["gamma_gamma"]["customers"] == len(buyers)
    assert body["gamma_gamma"]["q"] == pytest.approx(spend.q, rel=1e-5)
    rows = {v["customer_key"]: v for v in body["values"]}
    assert len(rows) == len(hand)
    assert all(key.startswith("c") for key in rows)  # resolved to customer profiles
    values = [float(v["clv_expected_value"]) for v in body["values"]]
    assert values == sorted(values, reverse=True)
    by_ref = {_ref_of(v, hand): v for v in body["values"]}
    for ref, (freq, recency, weeks, m, holdout) in hand.items():
        row = by_ref[ref]
        assert row["clv_frequency"] == freq
        assert D(row["recency_weeks"]) == round(D(repr(recency)), 4)
        assert D(row["age_weeks"]) == round(D(repr(weeks)), 4)
        assert row["average_spend"] == (None if m is None else str(round(m, 2)))
        assert row["holdout_purchases"] == holdout
        assert len(row["clv_expected_value"].split(".")[1]) == 2  # USD minor units
    holdout = body["holdout"]
    assert (holdout["from"], holdout["to"]) == ("1997-07-01", "1997-12-31")
    assert holdout["actual"] == sum(v[4] for v in hand.values())
    assert sum(g["customers"] for g in holdout["groups"]) == len(hand)


def _ref_of(
    row: dict[str, object], hand: dict[str, tuple[int, float, float, Decimal | None, int]]
) -> str:
    """The customer ref behind a profile key: the one whose summary the row shows (the
    test's purchases give each customer a pattern of their own)."""
    matches = [
        ref
        for ref, (freq, recency, weeks, _, holdout) in hand.items()
        if (freq, round(D(repr(recency)), 4), round(D(repr(weeks)), 4), holdout)
        == (row["clv_frequency"], D(str(row["recency_weeks"])), D(str(row["age_weeks"])),
            row["holdout_purchases"])
    ]  # fmt: skip
    assert len(matches) == 1, (row, matches)
    return matches[0]


def test_clv_api_refuses_bad_input_naming_the_parameter(clv_shop: ClvShop) -> None:
    base = {"from": "1997-01-01", "to": "1997-06-30"}
    for extra, field in (
        ({"horizon_weeks": 0}, "horizon_weeks"),
        ({"horizon_weeks": 521}, "horizon_weeks"),
        ({"discount_rate": "abc"}, "discount_rate"),
        ({"discount_rate": "1"}, "discount_rate"),
        ({"holdout_to": "1997-06-30"}, "holdout_to"),
        ({"holdout_to": "2020-01-01"}, "holdout_to"),
        ({"currency": "XYZ"}, "currency"),
        ({"limit": 0}, "limit"),
        ({"to": "1996-12-31"}, "to"),
    ):
        response = clv_shop.client.get("/v1/analytics/clv", params={**base, **extra})
        assert response.status_code == 422, (extra, response.text)
        problem = response.json()
        assert field in json.dumps(problem), (extra, problem)
    # Customers who first bought in one week of July: too few to fit.
    few = clv_shop.client.get(
        "/v1/analytics/clv", params={"from": "1997-07-01", "to": "1997-07-07"}
    )
    assert few.status_code == 409
    assert "too few customers to fit" in few.json()["detail"]
    analyst = clv_shop.client.get(
        "/v1/analytics/clv", params=base, headers={"Authorization": f"Bearer {ANALYST}"}
    )
    assert analyst.status_code == 200


def test_clv_command_prints_what_the_api_answers(
    clv_shop: ClvShop, capsys: pytest.CaptureFixture[str]
) -> None:
    where = ["--database-url", clv_shop.url, "--events-path", str(clv_shop.events)]
    days = ["--from", "1997-01-01", "--to", "1997-06-30", "--holdout-to", "1997-12-31"]
    ran = omnicart(capsys, "analytics", "clv", *days, "--limit", "5", "--json", *where)
    assert ran.code == 0, ran.err
    api = clv_shop.client.get(
        "/v1/analytics/clv",
        params={"from": "1997-01-01", "to": "1997-06-30", "holdout_to": "1997-12-31", "limit": 5},
    ).json()
    assert json.loads(ran.out) == api
    shown = omnicart(capsys, "analytics", "clv", *days, "--limit", "3", *where)
    assert shown.code == 0, shown.err
    lines = shown.out.splitlines()
    head = f"{api['customers']} customers first bought from 1997-01-01 to 1997-06-30; "
    assert lines[0] == f"{head}{api['repeat_customers']} bought again"
    assert lines[1].startswith(f"BG/NBD: r = {api['bgnbd']['r']:.3f}, alpha = ")
    assert lines[3] == "value of the next 52 weeks in USD:"
    assert "holdout 1997-07-01 to 1997-12-31" in shown.out
    bad = omnicart(capsys, "analytics", "clv", *days, "--discount-rate", "x", *where)
    assert bad.code == 2
    assert "--discount-rate" in bad.err


# --- the whole UCI file --------------------------------------------------------------------------


@pytest.mark.slow
def test_the_whole_uci_file_loads(
    sqlite_db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """541,909 lines of a real retailer (Chen, Sain & Guo 2012). Not timed here; see
    the README for how long it takes."""
    _need(UCI)
    _uk(sqlite_db)
    ran = omnicart(
        capsys, "import", "history", str(UCI), "--format", "uci", "--timezone", "Europe/London",
        "--database-url", _url(sqlite_db), "--events-path", str(tmp_path / "events.duckdb"),
    )  # fmt: skip
    assert ran.code == 0, ran.err
    assert ran.out.strip() == (
        "imported 20725 orders (531282 lines, 4339 customers) from 2010-12-01 to 2011-12-09 "
        "into channel uk-web (GBP); 0 were there already; cancellations: 3849 returns of "
        "earlier orders, 950 adjustments; left out: 3 accounting entries (invoice A...), 1336 "
        "stock notes (negative Quantity outside a cancellation); 4 unit prices rounded to the "
        "currency's minor unit"
    )
    # 531,282 sold + 9,288 cancellation rows + 1,336 stock notes + 3 accounting entries.
    with sqlite_db.reading() as session:
        orders = session.scalar(select(func.count()).select_from(Order))
        events = session.scalar(select(func.count()).select_from(OutboxEvent))
    assert orders == 20725 + 950
    with open_store(tmp_path / "events.duckdb") as store:
        assert store.count(source_id=0) == events


def test_imported_history_earns_no_points_and_sends_no_webhooks(
    sqlite_db: Database, tmp_path: Path
) -> None:
    """Past orders, their returns and refunds are no news: a webhook subscriber from the
    beginning of the outbox is sent none of them, and nobody earns or loses points."""
    _uk(sqlite_db)
    set_program(
        sqlite_db, program=Program(currency="GBP", window_days=365, tiers=DEFAULT_PROGRAM.tiers)
    )
    create_subscription(
        sqlite_db, url="http://127.0.0.1:9/hook", event_types=["*"], actor="t", start="beginning"
    )
    history = read_uci(_csv(tmp_path, SALES + LATER), timezone="Europe/London")
    import_history(sqlite_db, history, channel_code="uk-web", source_name="uci.csv")
    with sqlite_db.reading() as session:
        kinds = set(session.scalars(select(OutboxEvent.event_type)))
        assert all(e.payload["historic"] is True for e in session.scalars(select(OutboxEvent)))
    assert {"Order Completed", "Return Received", "Order Refunded"} <= kinds

    assert sync_customers(sqlite_db) > 0  # the file's customers are customers now
    sync_loyalty(sqlite_db)
    fan_out(sqlite_db)
    with sqlite_db.reading() as session:
        assert session.scalar(select(func.count()).select_from(LoyaltyEntry)) == 0
        assert session.scalar(select(func.count()).select_from(WebhookDelivery)) == 0
