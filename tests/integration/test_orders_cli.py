"""`omnicart orders` and `omnicart returns` against a real database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from omnicart.db.engine import Database
from omnicart.kernel.errors import OmnicartError, ValidationFailed
from omnicart.orders import checkout, service
from omnicart.orders import cli as orders_cli
from omnicart.orders.model import Fulfil, PaymentDraft
from omnicart.orders.reports import fulfilment_per_location, orders_per_channel
from tests.orders_support import all_stock, assert_reconciles, figures, seed_shop

runner = CliRunner()
app = typer.Typer()
app.add_typer(orders_cli.app, name="orders")
app.add_typer(orders_cli.returns_app, name="returns")

ORDER = {
    "currency": "EUR",
    "lines": [{"sku": "A", "quantity": 2, "unit_price": "19.99"}],
    "shipping": "5.00",
    "total": "44.98",
    "payments": [{"method": "marketplace", "amount": "44.98"}],
    "customer": {"email": "Ann@Example.com"},
    "fulfilment": {"mode": "ship", "address": {"city": "Warsaw"}},
}


def _invoke(db: Database, *args: str) -> str:
    url = db.engine.url.render_as_string(hide_password=False)
    result = runner.invoke(app, [*args, "--database-url", url], env={"COLUMNS": "200"})
    if result.exception is not None:
        raise result.exception
    assert result.exit_code == 0, result.output
    return result.stdout


def test_ingest_ship_return_refund_from_the_command_line(
    sqlite_db: Database, tmp_path: Path
) -> None:
    shop = seed_shop(sqlite_db)
    order_file = tmp_path / "order.json"
    order_file.write_text(json.dumps(ORDER))

    shown = json.loads(
        _invoke(
            sqlite_db,
            "orders",
            "ingest",
            str(order_file),
            "--channel",
            "market",
            "--external-id",
            "M-1",
            "--json",
        )
    )
    assert (shown["status"], shown["total"], shown["customer_email"]) == (
        "confirmed", "44.98", "ann@example.com",
    )  # fmt: skip
    assert shown["routing"]["plan"] == [{"sku": "A", "location": "wh", "quantity": 2}]
    again = json.loads(
        _invoke(
            sqlite_db,
            "orders",
            "ingest",
            str(order_file),
            "--channel",
            "market",
            "--external-id",
            "M-1",
            "--json",
        )
    )
    assert again["id"] == shown["id"]

    listing = _invoke(sqlite_db, "orders", "list", "--channel", "market")
    assert "M-1" in listing
    assert "44.98 EUR" in listing
    text = _invoke(sqlite_db, "orders", "show", str(shown["id"]))
    assert "whole order from wh" in text
    assert "A x2 from wh" in text

    assert "is fulfilled" in _invoke(
        sqlite_db, "orders", "ship", str(shown["id"]), "--location", "wh", "--carrier", "DHL",
        "--tracking", "JD0001",
    )  # fmt: skip
    opened = json.loads(
        _invoke(
            sqlite_db,
            "returns",
            "open",
            str(shown["id"]),
            "--channel",
            "pos",
            "--line",
            "1:2:too small",
            "--json",
        )
    )
    assert (opened["status"], opened["value"]) == ("requested", "39.98")
    received = json.loads(
        _invoke(
            sqlite_db,
            "returns",
            "receive",
            str(opened["id"]),
            "--location",
            "krk",
            "--damaged",
            "1:1",
            "--json",
        )
    )
    assert [(x["restocked"], x["written_off"]) for x in received["lines"]] == [(1, 1)]
    refunded = json.loads(
        _invoke(sqlite_db, "returns", "refund", str(opened["id"]), "--amount", "20.00", "--json")
    )
    assert refunded["refunded"] == "20.00"

    assert figures(sqlite_db, shop, "A", shop.krakow) == (5, 0, 0)  # 4 + the restocked one
    assert figures(sqlite_db, shop, "A", shop.warehouse) == (8, 0, 0)
    assert_reconciles(sqlite_db)
    with sqlite_db.reading() as session:
        [market] = orders_per_channel(session)
        places = {p.location: p for p in fulfilment_per_location(session)}
    assert (market.channel, market.orders, market.units, market.revenue, market.refunded) == (
        "market", 1, 2, Decimal("44.98"), Decimal("20.00"),
    )  # fmt: skip
    assert (places["wh"].shipped, places["wh"].shipments) == (2, 1)
    assert (places["krk"].returned_restocked, places["krk"].returned_written_off) == (1, 1)


def test_pickup_ready_and_collect(sqlite_db: Database) -> None:
    shop = seed_shop(sqlite_db)
    cart = checkout.create_cart(sqlite_db, channel_id=shop.web, lines=[("B", 1)])
    order = checkout.checkout(
        sqlite_db,
        cart_id=cart.id,
        request=checkout.Checkout(
            fulfil=Fulfil(mode="pickup", pickup_location_id=shop.gdansk),
            payments=(PaymentDraft("card", Decimal("19.99")),),
        ),
    )
    ready = _invoke(sqlite_db, "orders", "ready", str(order.id))
    code = ready.split("code ")[1].split(",")[0]
    assert len(code) == 6
    wrong = "000000" if code != "000000" else "111111"
    with pytest.raises(OmnicartError):
        _invoke(sqlite_db, "orders", "collect", str(order.id), "--code", wrong)
    assert "is fulfilled" in _invoke(sqlite_db, "orders", "collect", str(order.id), "--code", code)


def test_bad_input_is_refused_and_changes_nothing(sqlite_db: Database, tmp_path: Path) -> None:
    seed_shop(sqlite_db)
    before = all_stock(sqlite_db)
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({**ORDER, "total": "44.99"}))
    with pytest.raises(ValidationFailed, match="total"):
        _invoke(
            sqlite_db, "orders", "ingest", str(wrong), "--channel", "market", "--external-id", "X"
        )
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({**ORDER, "lines": [{"sku": "A", "quantity": "two"}]}))
    with pytest.raises(ValidationFailed, match=r"broken\.json: lines\.0\.quantity: ") as caught:
        _invoke(
            sqlite_db, "orders", "ingest", str(broken), "--channel", "market", "--external-id", "X"
        )
    assert caught.value.field == "file"  # the CLI names the FILE argument
    with pytest.raises(ValidationFailed, match="LINE:QUANTITY"):
        _invoke(sqlite_db, "returns", "open", "1", "--channel", "pos", "--line", "one")
    assert all_stock(sqlite_db) == before
    assert service.list_orders(sqlite_db) == []


def test_real_command_exits_2_with_a_precise_message(tmp_path: Path) -> None:
    env = {**os.environ, "OMNICART_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    omnicart = Path(sys.executable).with_name("omnicart")
    subprocess.run([str(omnicart), "db", "upgrade"], env=env, check=True, capture_output=True)
    done = subprocess.run(
        [str(omnicart), "orders", "show", "999"],
        env=env, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "order 999 does not exist" in done.stderr
