"""A client that reserves stock in a tight loop until it is killed (see the crash test)."""

from __future__ import annotations

import contextlib
import sys

from omnicart.db.engine import Database
from omnicart.inventory import service
from omnicart.kernel.errors import InsufficientStock


def main() -> None:
    """argv: database URL, schema ('-' for none), channel id, SKU."""
    url, schema, channel_id, sku = sys.argv[1:5]
    db = Database.from_url(url, schema=None if schema == "-" else schema)
    n = 0
    while True:
        n += 1
        with contextlib.suppress(InsufficientStock):
            service.reserve_stock(
                db,
                channel_id=int(channel_id),
                lines=[(sku, 1)],
                idempotency_key=f"crash-{n}",
                ttl_seconds=30,
            )
        if n == 1:
            print("ready", flush=True)


if __name__ == "__main__":
    main()
