"""`omnicart worker`: run the background rounds (started by `omnicart serve` by default)."""

from __future__ import annotations

import logging
import os
import signal
import threading
from types import FrameType
from typing import Annotated

import typer

from omnicart.cli_support import CliConsole
from omnicart.db.migrate import open_current
from omnicart.settings import get_settings
from omnicart.worker.runner import run_worker

console = CliConsole(stderr=True)


def worker(
    database_url: Annotated[
        str | None, typer.Option(help="Defaults to OMNICART_DATABASE_URL.")
    ] = None,
) -> None:
    """Run expiry sweeps, customer linking, loyalty, outbox delivery and identity
    resolution; one worker leads per database at a time (a lease), others stand by."""
    settings = get_settings()
    _yield_to_requests(settings.worker_niceness)
    db = open_current(database_url or settings.database_url)
    stop = threading.Event()

    def stopping(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, stopping)
    signal.signal(signal.SIGINT, stopping)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(message)s")
    try:
        run_worker(db=db, settings=settings, stop=stop)
    finally:
        db.dispose()


def _yield_to_requests(niceness: int) -> None:
    """Run at least this nice, so that the rounds take the CPU the web workers leave."""
    if hasattr(os, "getpriority") and os.getpriority(os.PRIO_PROCESS, 0) < niceness:
        os.setpriority(os.PRIO_PROCESS, 0, niceness)
