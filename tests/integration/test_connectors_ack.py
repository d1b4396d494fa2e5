"""The webhook ack verifies against a connector kept in the process for a few seconds (one
INSERT and no read per delivery), yet a changed secret takes effect at once: in the
process that changed it, and in any other on the first delivery signed with the new one."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from omnicart.connectors import service
from omnicart.connectors.registry import VENDORS
from omnicart.connectors.woocommerce import sign
from omnicart.db.engine import Database
from omnicart.kernel.errors import NotFound, Unauthorized
from tests.connectors_support import connect, counts, deliver, seed


@pytest.fixture
def other(sqlite_db: Database) -> Iterator[Database]:
    """The same database as another process sees it (an engine, and a kept copy, of its own)."""
    again = Database.from_url(sqlite_db.engine.url.render_as_string(hide_password=False))
    yield again
    again.dispose()


def _delivery(number: int, secret: str) -> tuple[bytes, dict[str, str]]:
    body = orjson.dumps({"id": number, "status": "processing", "line_items": []})
    return body, {
        "X-WC-Webhook-Topic": "order.updated",
        "X-WC-Webhook-Signature": sign(body, secret),
        "X-WC-Webhook-Delivery-ID": f"d-{number}",
    }


def test_a_new_webhook_secret_takes_effect_at_once_in_every_process(
    sqlite_db: Database, other: Database
) -> None:
    merchant = seed(sqlite_db, channels={"woo": "EUR"}, skus=("MUG",), stock=0)
    connector = connect(sqlite_db, merchant.channels["woo"], "woocommerce")
    assert not deliver(sqlite_db, connector, *_delivery(1, "wc-secret")).duplicate
    assert not deliver(other, connector, *_delivery(2, "wc-secret")).duplicate
    service.update_connector(
        sqlite_db, connector_id=connector, credentials={"webhook_secret": "rotated"}
    )
    # The process that changed it refuses the old secret at once.
    with pytest.raises(Unauthorized):
        deliver(sqlite_db, connector, *_delivery(3, "wc-secret"))
    # Another process, still holding the old secret, takes the new one on first sight.
    assert not deliver(other, connector, *_delivery(4, "rotated")).duplicate
    with pytest.raises(Unauthorized):
        deliver(other, connector, *_delivery(5, "wc-secret"))
    assert not deliver(sqlite_db, connector, *_delivery(6, "rotated")).duplicate
    assert counts(sqlite_db) == (4, 0)


def test_an_unknown_connector_is_not_found_and_stores_nothing(sqlite_db: Database) -> None:
    merchant = seed(sqlite_db, channels={"woo": "EUR"}, skus=("MUG",), stock=0)
    connector = connect(sqlite_db, merchant.channels["woo"], "woocommerce")
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
