"""Costed lines kept in the model (`wh_line_costs`): each line and returned line carries its
order's channel, day and cancellation and the unit cost holding on that day; kept current
window by window and cost import by cost import (back-dated ones too), they are the lines
costed at once, and the units and costs of the per-channel figures (`UNIT_DAYS`) are
theirs, added up by channel, day and currency."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from omnicart.analytics import channels_sql, line_costs
from omnicart.analytics.engine import DuckDBEngine
from omnicart.analytics.line_costs import build_line_costs, keep_unit_costs, recost_changed_skus

D = Decimal
WEB, MARKET = 1, 2


def order(
    order_id: int, channel_id: int, at: datetime, cancelled: datetime | None = None
) -> tuple[Any, ...]:
    """A wh_orders row (its money plays no part in line costs)."""
    return (order_id, channel_id, at, "PLN", None, "web", D(10), D(0), D(0), D(0), D(10), 1,
            cancelled)  # fmt: skip


def rows(engine: DuckDBEngine) -> list[tuple[Any, ...]]:
    return engine.query("SELECT * FROM wh_line_costs ORDER BY ALL")


def costed_at_once(engine: DuckDBEngine) -> list[tuple[Any, ...]]:
    """The line costs of `engine`'s orders, lines, returns and unit costs, costed in one
    go (as `build_line_costs` fills a model loaded row by row)."""
    return engine.query(f"{line_costs.ALL_LINE_COSTS} ORDER BY ALL")


def window(engine: DuckDBEngine, order_ids: set[int]) -> None:
    """Cost again the lines of the orders a refresh's window concerns (their rows written)."""
    engine.connection.execute(
        "CREATE OR REPLACE TEMP TABLE wh_b_order_events AS SELECT unnest(?::BIGINT[]) AS order_id",
        [sorted(order_ids)],
    )
    for statement in line_costs.WINDOW_SQL:
        engine.connection.execute(statement)


def import_costs(engine: DuckDBEngine, costs: list[tuple[Any, ...]]) -> int:
    """Replace the unit costs, as a copy from the operational database does, and cost the
    lines of the SKUs whose rows changed again; the SKUs changed."""
    keep_unit_costs(engine.connection)
    engine.connection.execute("DELETE FROM wh_unit_costs")
    engine.insert("wh_unit_costs", costs)
    return recost_changed_skus(engine.connection)


def t(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_each_line_takes_the_cost_holding_on_its_orders_day() -> None:
    engine = DuckDBEngine()
    engine.insert(
        "wh_unit_costs",
        [
            ("A", date(2026, 1, 1), D("30"), "PLN"),
            ("A", date(2026, 3, 18), D("35"), "PLN"),
            ("B", date(2026, 2, 1), D("4.5"), "EUR"),
        ],
    )
    engine.insert(
        "wh_orders",
        [
            order(1, WEB, t("2026-03-17 23:59:59.999999")),  # the last instant of A at 30
            order(2, MARKET, t("2026-03-18 00:00")),  # the first of A at 35
            order(3, WEB, t("2026-01-31 12:00")),  # B before its first row
            order(4, WEB, t("2026-03-20 09:00"), cancelled=t("2026-03-21 10:00")),
        ],
    )
    engine.insert(
        "wh_order_lines",
        [
            (1, 1, "A", 2, D("100")),
            (1, 2, "B", 1, D("9")),
            (2, 1, "A", 3, D("100")),
            (3, 1, "B", 4, D("9")),
            (4, 1, "C", 1, D("50")),  # no cost row at all
        ],
    )
    engine.insert(
        "wh_returns",
        [
            # Received once the cost changed: still costed at its order's day.
            (1, 7, t("2026-04-02 10:00"), "A", 1, "size"),
            # Of no order the model knows: no line of any channel.
            (99, 8, t("2026-04-02 10:00"), "A", 1, "size"),
        ],
    )
    build_line_costs(engine)
    day = date.fromisoformat
    assert rows(engine) == [
        (1, "A", WEB, day("2026-03-17"), None, 0, 1, D("30"), "PLN"),
        (1, "A", WEB, day("2026-03-17"), None, 2, 0, D("30"), "PLN"),
        (1, "B", WEB, day("2026-03-17"), None, 1, 0, D("4.5"), "EUR"),
        (2, "A", MARKET, day("2026-03-18"), None, 3, 0, D("35"), "PLN"),
        (3, "B", WEB, day("2026-01-31"), None, 4, 0, None, None),
        (4, "C", WEB, day("2026-03-20"), t("2026-03-21 10:00"), 1, 0, None, None),
    ]


def _params(first: date, last: date) -> dict[str, Any]:
    start = datetime.combine(first, datetime.min.time())
    return {
        "start": start,
        "end": datetime.combine(last + timedelta(days=1), datetime.min.time()),
        "first": first,
        "last": last,
        "first_month": first.replace(day=1),
    }


def unit_days(engine: DuckDBEngine, first: date, last: date) -> list[tuple[Any, ...]]:
    return sorted(engine.query(channels_sql.UNIT_DAYS, _params(first, last)), key=repr)


def added_up(
    engine: DuckDBEngine, first: date, last: date
) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    """UNIT_DAYS' rows by (channel, day, currency), added up here from the costed lines of
    the orders of `first` to `last` not cancelled."""
    sums: dict[tuple[Any, ...], list[Any]] = {}
    for _, _, channel_id, day, cancelled, units, returned, cost, currency in rows(engine):
        if first <= day <= last and cancelled is None:
            tally = sums.setdefault((channel_id, day, currency), [None, 0, 0, 0])
            if cost is not None:
                tally[0] = (tally[0] or D(0)) + (units - returned) * cost
                tally[2] += units
            tally[1] += units
            tally[3] += returned
    return {key: tuple(tally) for key, tally in sums.items()}


def test_units_and_costs_are_read_from_the_costed_lines() -> None:
    engine = DuckDBEngine()
    engine.insert(
        "wh_unit_costs",
        [("A", date(2026, 1, 1), D("30"), "PLN"), ("A", date(2026, 3, 18), D("35.25"), "EUR")],
    )
    engine.insert(
        "wh_orders",
        [
            order(1, WEB, t("2026-03-17 10:00")),
            order(2, WEB, t("2026-03-18 10:00")),
            order(3, WEB, t("2026-03-18 11:00"), cancelled=t("2026-03-18 12:00")),
            order(4, MARKET, t("2026-03-19 10:00")),
        ],
    )
    engine.insert(
        "wh_order_lines",
        [(1, 1, "A", 2, D(1)), (2, 1, "A", 1, D(1)), (2, 2, "Z", 5, D(1)), (3, 1, "A", 9, D(1)),
         (4, 1, "A", 4, D(1))],
    )  # fmt: skip
    engine.insert("wh_returns", [(2, 1, t("2026-03-30 10:00"), "A", 1, "size")])
    first, last = date(2026, 3, 17), date(2026, 3, 18)
    build_line_costs(engine)
    # By hand: 17 Mar two A at 30 PLN; 18 Mar one A sold and one returned at 35.25 EUR, and
    # five Z without a cost; the cancelled order and the day after the range count nowhere.
    assert unit_days(engine, first, last) == sorted(
        [
            (WEB, first, "PLN", D("60.0000"), 2, 2, 0),
            (WEB, last, "EUR", D("0.0000"), 1, 1, 1),
            (WEB, last, None, None, 5, 0, 0),
        ],
        key=repr,
    )


def test_a_window_costs_its_orders_lines_again_as_it_left_them() -> None:
    engine = DuckDBEngine()
    engine.insert("wh_unit_costs", [("A", date(2026, 1, 1), D("3"), "EUR")])
    # A return received before its order reached the model: no line yet.
    engine.insert("wh_returns", [(1, 5, t("2026-03-20 10:00"), "A", 1, "size")])
    window(engine, {1})
    assert rows(engine) == []
    engine.insert("wh_orders", [order(1, WEB, t("2026-03-16 10:00"))])
    engine.insert("wh_order_lines", [(1, 1, "A", 2, D(1))])
    window(engine, {1})
    march16 = date(2026, 3, 16)
    assert rows(engine) == [
        (1, "A", WEB, march16, None, 0, 1, D(3), "EUR"),
        (1, "A", WEB, march16, None, 2, 0, D(3), "EUR"),
    ]
    # Updated: moved to the marketplace with other lines; then cancelled.
    engine.connection.execute("UPDATE wh_orders SET channel_id = 2")
    engine.connection.execute("DELETE FROM wh_order_lines")
    engine.insert("wh_order_lines", [(1, 1, "A", 1, D(1)), (1, 2, "B", 1, D(1))])
    engine.connection.execute("UPDATE wh_orders SET cancelled_at = TIMESTAMP '2026-03-17 08:00'")
    window(engine, {1})
    cancelled = t("2026-03-17 08:00")
    assert rows(engine) == [
        (1, "A", MARKET, march16, cancelled, 0, 1, D(3), "EUR"),
        (1, "A", MARKET, march16, cancelled, 1, 0, D(3), "EUR"),
        (1, "B", MARKET, march16, cancelled, 1, 0, None, None),
    ]
    assert rows(engine) == costed_at_once(engine)


def test_an_import_costs_again_exactly_the_lines_of_the_skus_it_changed() -> None:
    engine = DuckDBEngine()
    engine.insert("wh_orders", [order(1, WEB, t("2026-03-10 10:00")),
                                order(2, WEB, t("2026-03-20 10:00"))])  # fmt: skip
    engine.insert("wh_order_lines", [(1, 1, "A", 1, D(1)), (1, 2, "B", 1, D(1)),
                                     (2, 1, "A", 1, D(1)), (2, 2, "B", 1, D(1))])  # fmt: skip
    a = ("A", date(2026, 1, 1), D("3"), "EUR")
    b = ("B", date(2026, 1, 1), D("7"), "EUR")
    assert import_costs(engine, [a, b]) == 2
    # Back-dated: a row for A from 15 March, imported later, costs order 2's A only.
    assert import_costs(engine, [a, b, ("A", date(2026, 3, 15), D("4"), "EUR")]) == 1
    assert engine.query("SELECT order_id, sku, cost FROM wh_line_costs ORDER BY ALL") == [
        (1, "A", D(3)),
        (1, "B", D(7)),
        (2, "A", D(4)),
        (2, "B", D(7)),
    ]
    # The same rows again change nothing; B's first row dropped leaves B without a cost.
    assert import_costs(engine, [a, b, ("A", date(2026, 3, 15), D("4"), "EUR")]) == 0
    assert import_costs(engine, [a, ("A", date(2026, 3, 15), D("4"), "EUR")]) == 1
    assert engine.query("SELECT order_id, sku, cost FROM wh_line_costs ORDER BY ALL") == [
        (1, "A", D(3)),
        (1, "B", None),
        (2, "A", D(4)),
        (2, "B", None),
    ]
    assert rows(engine) == costed_at_once(engine)


SKUS = ("A", "B", "C", "D", "E")
START = date(2026, 1, 1)


def _day(rng: random.Random) -> date:
    return START + timedelta(days=rng.randrange(120))


def _changed_costs(
    rng: random.Random, costs: dict[tuple[str, date], tuple[Decimal, str]]
) -> dict[tuple[str, date], tuple[Decimal, str]]:
    """The unit costs after an import: rows added (often before a SKU's others), replaced
    at the same day, or gone (the table copied again holds them no more)."""
    changed = dict(costs)
    for _ in range(rng.randint(1, 3)):
        what = rng.random()
        if what < 0.5 or not changed:
            key = (rng.choice(SKUS), _day(rng))
        else:
            key = rng.choice(sorted(changed))
            if what > 0.85:
                del changed[key]
                continue
        changed[key] = (D(rng.randint(100, 9000)) / 100, rng.choice(["EUR", "PLN"]))
    return changed


def _changed_orders(rng: random.Random, engine: DuckDBEngine, next_id: int) -> tuple[set[int], int]:
    """A window's worth of order events written into the model, as the window's SQL
    writes them: new orders, updated ones (lines replaced, maybe another channel),
    cancellations and returns (some of orders not in the model yet); the orders concerned
    and the next free order id."""
    known = [r[0] for r in engine.query("SELECT order_id FROM wh_orders ORDER BY order_id")]
    touched: set[int] = set()
    conn = engine.connection
    for _ in range(rng.randint(1, 6)):
        what = rng.random()
        if what < 0.4 or not known:
            order_id, next_id = next_id, next_id + 1
            at = datetime.combine(_day(rng), datetime.min.time()) + timedelta(
                seconds=rng.randrange(86400)
            )
            engine.insert("wh_orders", [order(order_id, rng.choice([WEB, MARKET]), at)])
            lines = [(order_id, n, rng.choice(SKUS), rng.randint(1, 4), D(1))
                     for n in range(1, rng.randint(1, 3) + 1)]  # fmt: skip
            engine.insert("wh_order_lines", lines)
        elif what < 0.6:
            order_id = rng.choice(known)
            conn.execute("DELETE FROM wh_order_lines WHERE order_id = ?", [order_id])
            lines = [(order_id, n, rng.choice(SKUS), rng.randint(1, 4), D(1))
                     for n in range(1, rng.randint(1, 3) + 1)]  # fmt: skip
            engine.insert("wh_order_lines", lines)
            conn.execute(
                "UPDATE wh_orders SET channel_id = ? WHERE order_id = ?",
                [rng.choice([WEB, MARKET]), order_id],
            )
        elif what < 0.75:
            order_id = rng.choice(known)
            conn.execute(
                "UPDATE wh_orders SET cancelled_at = ordered_at + INTERVAL 1 HOUR "
                "WHERE order_id = ? AND cancelled_at IS NULL",
                [order_id],
            )
        else:
            # Mostly of an order the model holds; now and then of one not in it yet.
            order_id = rng.choice(known) if rng.random() < 0.85 else next_id + rng.randint(0, 2)
            received = datetime.combine(_day(rng), datetime.min.time())
            engine.insert(
                "wh_returns", [(order_id, rng.randint(1, 99), received, rng.choice(SKUS), 1, None)]
            )
        touched.add(order_id)
    return touched, next_id


def test_kept_current_through_random_windows_and_imports_they_are_costed_at_once() -> None:
    rng = random.Random(20261130)
    engine = DuckDBEngine()
    costs: dict[tuple[str, date], tuple[Decimal, str]] = {}
    next_id = 1
    recosted = 0
    for _ in range(40):
        if rng.random() < 0.35:
            changed = _changed_costs(rng, costs)
            skus = {sku for (sku, _), _ in set(changed.items()) ^ set(costs.items())}
            costs = changed
            written = [(sku, valid_from, *value) for (sku, valid_from), value in costs.items()]
            assert import_costs(engine, written) == len(skus)
            recosted += len(skus)
        else:
            touched, next_id = _changed_orders(rng, engine, next_id)
            window(engine, touched)
        assert rows(engine) == costed_at_once(engine)
    # Not vacuous: lines of every kind, costed and not, after many re-costed SKUs.
    kinds = engine.query(
        "SELECT count(*) FILTER (WHERE cost IS NOT NULL), count(*) FILTER (WHERE cost IS NULL), "
        "count(*) FILTER (WHERE returned > 0), count(*) FILTER (WHERE cancelled_at IS NOT NULL) "
        "FROM wh_line_costs"
    )[0]
    assert min(kinds) > 0, kinds
    assert recosted > 10
    first, last = START + timedelta(days=10), START + timedelta(days=99)
    read = {tuple(row[:3]): tuple(row[3:]) for row in unit_days(engine, first, last)}
    assert read == added_up(engine, first, last)
    assert len(read) > 20
