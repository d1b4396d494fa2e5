"""A client killed (SIGKILL) while reserving leaves nothing half-written, and expiry frees
every hold it left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from omnicart.db.engine import Database
from omnicart.inventory import queries, service
from omnicart.inventory.tables import Movement, Reservation, ReservationLine
from omnicart.kernel.clock import utcnow
from tests.support import add_channel, add_location, add_variant

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.parametrize("kill_after", [0.05, 0.3, 0.7])
def test_sigkill_mid_reservation_leaves_no_phantom_hold(db: Database, kill_after: float) -> None:
    with db.transaction() as s:
        wh = add_location(s, "wh")
        add_variant(s, "SKU-1")
        web = add_channel(s, "web", ship=(wh,))
    service.receive_stock(db, location_id=wh, lines=[("SKU-1", 100_000)])
    schema = "-"
    if db.dialect == "postgresql":
        with db.reading() as s:
            schema = s.execute(text("SHOW search_path")).scalar_one()
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.integration.crash_worker",
            db.engine.url.render_as_string(hide_password=False),
            schema,
            str(web),
            "SKU-1",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == b"ready"
    time.sleep(kill_after)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL

    with db.reading() as s:
        made = s.scalar(select(func.count()).select_from(Reservation)) or 0
        # Nothing half-written: every reservation has its lines and its ledger entries.
        lines = dict(
            s.execute(
                select(ReservationLine.reservation_id, func.sum(ReservationLine.quantity)).group_by(
                    ReservationLine.reservation_id
                )
            ).all()
        )
        ledger = dict(
            s.execute(
                select(Movement.reservation_id, func.sum(Movement.delta_reserved))
                .where(Movement.reservation_id.is_not(None))
                .group_by(Movement.reservation_id)
            ).all()
        )
        assert made >= 1
        assert set(lines) == set(ledger)
        assert len(lines) == made
        assert all(lines[r] == ledger[r] == 1 for r in lines)
        assert queries.reconcile(s) == []
        held = sum(r.reserved for r in queries.stock_rows(s))
        assert held == made

    # The holds are not permanent: expiry frees them all.
    assert (
        service.expire_reservations(db, now=utcnow() + timedelta(seconds=31), limit=100_000) == made
    )
    with db.reading() as s:
        assert sum(r.reserved for r in queries.stock_rows(s)) == 0
        assert queries.channel_availability(s, channel_id=web, skus=["SKU-1"]) == {"SKU-1": 100_000}
        assert queries.reconcile(s) == []
