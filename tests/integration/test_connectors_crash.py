"""SIGKILL of the whole server (every worker) while a WooCommerce simulator streams order
webhooks at it: after a restart, every delivery that got a 2xx is processed exactly once
(one order each, none twice, stock matching), also when the shop redelivers them."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from omnicart.benchmarks.ingest import free_port, server_env, start_server, stop_server
from omnicart.connectors.simulators.woocommerce import WooCommerceSimulator
from omnicart.connectors.tables import InboxDelivery
from omnicart.db.engine import Database
from omnicart.db.migrate import upgrade
from omnicart.inventory.queries import channel_availability, reconcile
from omnicart.orders.tables import Order, OrderLine
from tests.connectors_support import connect, seed

STOCK = 100_000


def _stream(
    shop: WooCommerceSimulator,
    url: str,
    prefix: int,
    acked: list[tuple[str, int]],
    stop: threading.Event,
) -> None:
    """Send order after order; record (delivery id, order id) of each answered 200."""
    with httpx.Client(timeout=10) as http:
        number = 0
        while not stop.is_set():
            order_id = prefix * 1_000_000 + number
            delivery_id = f"{prefix}-{number}"
            payload = shop.order_payload(order_id, [("MUG", 1 + number % 3)])
            try:
                answer = shop.send(
                    url, "order.created", payload, delivery_id=delivery_id, http=http
                )
            except httpx.HTTPError:
                return  # the server is gone
            if answer.status_code == 200:
                acked.append((delivery_id, order_id))
            number += 1


def _processed(db: Database, deliveries: set[str]) -> bool:
    with db.reading() as session:
        done = session.scalar(
            select(func.count())
            .select_from(InboxDelivery)
            .where(InboxDelivery.delivery_id.in_(deliveries), InboxDelivery.status == "done")
        )
    return done == len(deliveries)


@pytest.mark.slow
def test_sigkill_while_webhooks_stream_in_loses_and_doubles_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    db = Database.from_url(url)
    upgrade(db.engine)
    merchant = seed(db, channels={"woo": "EUR"}, skus=("MUG",), stock=STOCK)
    with WooCommerceSimulator(currency="EUR") as shop:
        shop.add_product("MUG", stock=0)
        connector = connect(
            db,
            merchant.channels["woo"],
            "woocommerce",
            base_url=shop.url,
            credentials=shop.connector()["credentials"],
        )
        env = {
            **server_env(database_url=url, events_path=tmp_path / "events.duckdb"),
            # A killed worker's claims are taken over after 2 s instead of a minute.
            "OMNICART_CONNECTOR_LEASE_SECONDS": "2",
            "OMNICART_CONNECTOR_TIMEOUT_SECONDS": "1",
        }
        port = free_port()
        hook = f"http://127.0.0.1:{port}/v1/connectors/{connector}/webhooks"
        server = start_server(port=port, env=env, workers=2)
        acked: dict[int, list[tuple[str, int]]] = {1: [], 2: []}
        stop = threading.Event()
        senders = [
            threading.Thread(target=_stream, args=(shop, hook, p, acked[p], stop)) for p in acked
        ]
        for sender in senders:
            sender.start()
        try:
            while sum(map(len, acked.values())) < 60:
                if not any(s.is_alive() for s in senders):
                    pytest.fail("the senders stopped before the kill")
                time.sleep(0.01)
        finally:
            stop_server(server, sig=signal.SIGKILL)  # master and workers, mid-stream
            stop.set()
            for sender in senders:
                sender.join()
        delivered = [pair for pairs in acked.values() for pair in pairs]
        assert len(delivered) >= 60

        server = start_server(port=port, env=env, workers=2)
        try:
            # The shop redelivers the last ones it had sent: still once each.
            for delivery_id, order_id in delivered[-5:]:
                payload = shop.order_payload(order_id, [("MUG", 1)])
                assert shop.send(hook, "order.created", payload, delivery_id=delivery_id).json()[
                    "duplicate"
                ]
            deadline = time.monotonic() + 120
            while not _processed(db, {d for d, _ in delivered}):
                assert time.monotonic() < deadline, "acknowledged deliveries left unprocessed"
                time.sleep(0.2)
        finally:
            stop_server(server)

    with db.reading() as session:
        stored = session.scalar(select(func.count()).select_from(InboxDelivery))
        statuses = set(session.scalars(select(InboxDelivery.status)))
        by_order = dict(
            session.execute(
                select(Order.external_id, func.count()).group_by(Order.external_id)
            ).all()
        )
        units = session.scalar(select(func.sum(OrderLine.quantity))) or 0
        left = channel_availability(session, channel_id=merchant.channels["woo"], skus=["MUG"])
        discrepancies = reconcile(session)
    db.dispose()
    assert statuses == {"done"}
    assert {str(order_id) for _, order_id in delivered} <= set(by_order)
    assert set(by_order.values()) == {1}
    assert len(by_order) == stored  # every stored delivery (acked or not) is one order
    assert left == {"MUG": STOCK - units}
    assert discrepancies == []
