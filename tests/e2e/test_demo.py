"""`omnicart demo` end to end (without serving): every scarce unit granted exactly once."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import func, select

from omnicart.customers.service import channels_per_customer, customer_360
from omnicart.db.engine import Database
from omnicart.demo.merchant import SCARCE, events_path_for, run_demo
from omnicart.orders.tables import Order


@pytest.mark.slow
def test_demo_grants_each_scarce_unit_once(tmp_path: Path) -> None:
    console = Console(file=(tmp_path / "out.txt").open("w"), width=120)
    result = run_demo(f"sqlite:///{tmp_path / 'demo.db'}", console)
    granted = {sku: sum(per.get(sku, 0) for per in result.granted.values()) for sku in SCARCE}
    assert granted == {sku: sum(places.values()) for sku, places in SCARCE.items()}
    assert result.discrepancies == 0
    assert result.skus >= 200
    assert len(result.channel_keys) >= 5
    out = (tmp_path / "out.txt").read_text()
    assert "nothing oversold" in out
    day = result.order_day
    # Orders from every channel, taken at once; only the order for a sold-out SKU is refused.
    assert set(day.placed) == {"web", "app", "instagram", "whatsapp", "pos-warsaw", "allegro"}
    assert day.placed["instagram"] == 4
    assert set(day.refused) == {"instagram"}
    assert sum(day.placed.values()) == 53
    assert day.redelivered_same == 12  # every marketplace order arrived twice: one order each
    assert len(day.cancelled) == 1
    assert day.shipped_orders > 0
    assert day.collected > 0
    assert [(bought, via) for _, bought, via, _ in day.returns] == [
        ("web", "pos-warsaw"), ("web", "pos-warsaw"), ("web", "pos-warsaw"), ("app", "web"),
    ]  # fmt: skip
    assert day.discrepancies == 0
    # The summary and the table are one computation, and agree with the database: every
    # order but those the customers' day added afterwards (it reports its own).
    later = list(result.customer_day.till_orders.values())
    db = Database.from_url(result.database_url)
    try:
        with db.reading() as session:
            taken, cancelled = session.execute(
                select(func.count(), func.count().filter(Order.status == "cancelled")).where(
                    Order.id.not_in(later)
                )
            ).one()
    finally:
        db.dispose()
    assert (taken, cancelled) == (53, 1)
    assert sum(row.orders for row in day.per_channel) == taken
    assert (
        f"order day reconciles: {taken} orders from 6 channels ({cancelled} cancelled, 1 refused)"
    ) in " ".join(out.split())
    assert re.search(r"│ pos-warsaw +│ +10 │", out)  # the 6 customers' till sales come later
    # Money with its minor units, and no Python lists anywhere.
    assert re.search(r"│ instagram .*│ +0\.00 PLN │", out)
    assert not re.search(r"(?<![\d.])\d+ PLN", out)
    assert not re.search(r"\[[0-9'\"]", out), out
    flat = " ".join(out.split())  # sentences as printed, whatever the console wrapped
    assert "available-to-promise of the scarce SKUs is now 0 on every channel" in flat
    assert "Fulfilment per location" in out
    people = result.customer_day
    # Each person who browsed the app, logged in and bought at the till with the card the
    # app knows is one profile; their call continued their chat case.
    assert len(set(people.journeys.values())) == len(people.journeys) == 6
    assert people.continued == 6
    assert len(people.returns) == 3
    assert len(set(people.strangers)) == 2  # the shared store tablet fused nobody
    assert people.across_channels >= 6
    assert f"{people.across_channels} of {people.profiles} customer profiles" in out


@pytest.mark.slow
def test_demo_people_are_one_profile_each_across_channels(tmp_path: Path) -> None:
    console = Console(file=(tmp_path / "out.txt").open("w"), width=120)
    result = run_demo(f"sqlite:///{tmp_path / 'demo.db'}", console)
    db = Database.from_url(result.database_url)
    try:
        with db.reading() as session:
            touched = channels_per_customer(session)
        events_path = events_path_for(result.database_url)
        for name, profile_id in result.customer_day.journeys.items():
            view = customer_360(db, customer_id=profile_id, events_path=events_path)
            kinds = {identity.kind for identity in view.identities}
            assert {"user_id", "anonymous_id", "email", "phone", "loyalty_card"} <= kinds, name
            assert {"app", "pos-warsaw"} <= touched[profile_id], name
            assert [o.channel_code for o in view.orders] == ["pos-warsaw"], name
            assert view.timeline, name  # the app events, attributed to the person
            assert [m.channel for c in view.conversations for m in c.messages] == ["chat", "phone"]
    finally:
        db.dispose()
