"""The webhook ack verifies against a connector kept in the process (one INSERT and no read
per delivery), yet a change of the connector takes effect at once in every process: the
INSERT stores nothing unless the connector still holds the sealed credentials the delivery
was verified against, and the delivery is verified again against the stored connector."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from sqlalchemy import delete

from omnicart.connectors import inbox, service
from omnicart.connectors.registry import VENDORS
from omnicart.connectors.tables import Connector
from omnicart.connectors.woocommerce import sign
from omnicart.db.engine import Database
from omnicart.kernel.errors import NotFound, Unauthorized
from tests.connectors_support import connect, counts, deliver, seed


@pytest.fixture
def other(db: Database, request: pytest.FixtureRequest) -> Iterator[Database]:
    """The same database as another process sees it (an engine, and kept copies, of its own)."""
    schema = request.getfixturevalue("pg_schema") if db.dialect == "postgresql" else None
    again = Database.from_url(db.engine.url.render_as_string(hide_password=False), schema=schema)
    yield again
    again.dispose()


def _delivery(number: int, secret: str) -> tuple[bytes, dict[str, str]]:
    body = orjson.dumps({"id": number, "status": "processing", "line_items": []})
    return body, {
        "X-WC-Webhook-Topic": "order.updated",
        "X-WC-Webhook-Signature": sign(body, secret),
        "X-WC-Webhook-Delivery-ID": f"d-{number}",
    }


def _shop(db: Database) -> int:
    merchant = seed(db, channels={"woo": "EUR"}, skus=("MUG",), stock=0)
    return connect(db, merchant.channels["woo"], "woocommerce")


def test_a_new_webhook_secret_takes_effect_at_once_in_every_process(
    db: Database, other: Database
) -> None:
    connector = _shop(db)
    assert not deliver(db, connector, *_delivery(1, "wc-secret")).duplicate
    assert not deliver(other, connector, *_delivery(2, "wc-secret")).duplicate
    service.update_connector(db, connector_id=connector, credentials={"webhook_secret": "rotated"})
    # The process that changed it refuses the old secret at once.
    with pytest.raises(Unauthorized):
        deliver(db, connector, *_delivery(3, "wc-secret"))
    # So does another, whose kept copy still holds the old one: nothing is stored.
    with pytest.raises(Unauthorized):
        deliver(other, connector, *_delivery(4, "wc-secret"))
    assert counts(db) == (2, 0)
    assert not deliver(other, connector, *_delivery(5, "rotated")).duplicate
    with pytest.raises(Unauthorized):
        deliver(other, connector, *_delivery(6, "wc-secret"))
    assert not deliver(db, connector, *_delivery(7, "rotated")).duplicate
    assert counts(db) == (4, 0)


def test_a_redelivery_after_a_change_is_verified_again(db: Database, other: Database) -> None:
    connector = _shop(db)
    first = deliver(other, connector, *_delivery(1, "wc-secret"))
    service.update_connector(db, connector_id=connector, credentials={"webhook_secret": "rotated"})
    # Stored before, but signed with the secret the connector no longer holds.
    with pytest.raises(Unauthorized):
        deliver(other, connector, *_delivery(1, "wc-secret"))
    again = deliver(other, connector, *_delivery(1, "rotated"))
    assert (again.delivery, again.duplicate) == (first.delivery, True)
    assert counts(db) == (1, 0)


def test_a_connector_removed_while_kept_is_not_found_and_stores_nothing(
    db: Database, other: Database
) -> None:
    connector = _shop(db)
    assert not deliver(other, connector, *_delivery(1, "wc-secret")).duplicate
    with db.transaction() as session:
        session.execute(delete(Connector).where(Connector.id == connector))
    with pytest.raises(NotFound):
        deliver(other, connector, *_delivery(2, "wc-secret"))
    assert counts(db) == (0, 0)


def test_a_ping_to_a_changed_connector_is_answered_from_the_stored_one(
    db: Database, other: Database
) -> None:
    connector = _shop(db)
    assert not deliver(other, connector, *_delivery(1, "wc-secret")).duplicate
    service.update_connector(db, connector_id=connector, credentials={"webhook_secret": "rotated"})
    ping = deliver(other, connector, b"webhook_id=142", {"Content-Type": "text/plain"})
    assert ping == inbox.Receipt(None, False, "ping")
    with db.transaction() as session:
        session.execute(delete(Connector).where(Connector.id == connector))
    with pytest.raises(NotFound):
        deliver(other, connector, b"webhook_id=142", {"Content-Type": "text/plain"})
    assert counts(db) == (0, 0)


def test_an_unknown_connector_is_not_found_and_stores_nothing(sqlite_db: Database) -> None:
    connector = _shop(sqlite_db)
    with pytest.raises(NotFound):
        deliver(sqlite_db, connector + 1, *_delivery(1, "wc-secret"))
    assert counts(sqlite_db) == (0, 0)


def test_the_server_loads_every_vendor_adapter_before_its_first_webhook(tmp_path: Path) -> None:
    """Imported at startup, so no delivery waits for its vendor's module to load."""
    modules = sorted(v.adapter.split(":")[0] for v in VENDORS.values())
    script = (
        "import sys\n"
        "from fastapi.testclient import TestClient\n"
        "from omnicart.app import create_app\n"
        "from omnicart.db.engine import Database\n"
        "from omnicart.db.migrate import upgrade\n"
        f"db = Database.from_url('sqlite:///{tmp_path / 'app.db'}')\n"
        "upgrade(db.engine)\n"
        "app = create_app(db=db, sweep=False)\n"
        f"wanted = {modules!r}\n"
        "print(sorted(m for m in wanted if m in sys.modules))\n"
        "with TestClient(app):\n"
        "    print(sorted(m for m in wanted if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=300
    ).stdout.splitlines()
    assert out[-2] != repr(modules)  # not all loaded by building the app alone
    assert out[-1] == repr(modules)
