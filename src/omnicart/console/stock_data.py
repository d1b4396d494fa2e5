"""What the Stock page shows, read once for the page and for its CSV downloads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from omnicart.catalog.lookup import resolve_skus
from omnicart.channels.model import ChannelView
from omnicart.channels.service import list_channels
from omnicart.inventory import queries
from omnicart.inventory.queries import recent_movements
from omnicart.locations.model import LocationView
from omnicart.locations.service import get_location, list_locations

MOST_SKUS = 100  # SKUs per page of the stock tables


@dataclass(frozen=True, slots=True)
class Level:
    """One SKU at one location."""

    sku: str
    location: str
    on_hand: int
    reserved: int
    allocated: int
    available: int
    threshold: int

    @property
    def state(self) -> str:
        """`out`, `low` or `ok`."""
        if self.available <= 0:
            return "out"
        return "low" if self.available <= self.threshold else "ok"


@dataclass(frozen=True, slots=True)
class MovementRow:
    """A ledger entry as the page lists it."""

    at: datetime
    kind: str
    sku: str
    location: str
    delta_on_hand: int
    delta_reserved: int
    reason: str
    actor: str


@dataclass(frozen=True, slots=True)
class TransitRow:
    """Units of one SKU on their way between two locations."""

    transfer_id: int
    from_location: str
    to_location: str
    sku: str
    units: int
    sent_at: datetime


@dataclass(frozen=True, slots=True)
class MismatchRow:
    """A stock figure that disagrees with what the ledger or the holds add up to."""

    sku: str
    location: str
    figure: str  # on_hand, reserved, allocated or available
    stock: int
    expected: int
    source: str  # ledger, active reservations, allocations or oversold


@dataclass(frozen=True, slots=True)
class ReconciliationView:
    """Stock rows compared with the ledger, and those that disagree."""

    checked: int
    mismatches: list[MismatchRow]


@dataclass(frozen=True, slots=True)
class StockPage:
    """Available-to-promise per channel, levels per location, and the latest movements."""

    location: LocationView | None
    locations: list[LocationView]
    channels: list[ChannelView]
    atp: list[tuple[str, list[int]]]
    levels: list[Level]
    movements: list[MovementRow]
    transit: list[TransitRow]
    # None when the viewer is not shown it (a store's staff).
    reconciliation: ReconciliationView | None

    @property
    def short(self) -> list[Level]:
        """Levels that are low or out of stock."""
        return [level for level in self.levels if level.state != "ok"]


def read_stock_page(
    session: Session,
    *,
    location_id: int | None,
    sku: str | None,
    default_threshold: int,
    reconcile: bool,
) -> StockPage:
    """The figures of the Stock page: everywhere, or at one location.

    `reconcile` compares stock with the ledger; it reads the ledger of every row shown
    (of the location's, when one is chosen), so only the pages that show it ask for it.
    """
    location = get_location(session, location_id=location_id) if location_id else None
    locations = list_locations(session, limit=500)
    codes = {view.id: view.code for view in locations}
    rows = queries.stock_rows(session, location_id=location_id, sku=sku, limit=MOST_SKUS)
    skus = list(dict.fromkeys(row.sku for row in rows))
    infos = resolve_skus(session, skus, field="sku") if skus else {}
    levels = [
        Level(
            sku=row.sku,
            location=codes.get(row.location_id, str(row.location_id)),
            on_hand=row.on_hand,
            reserved=row.reserved,
            allocated=row.allocated,
            available=row.available,
            threshold=_threshold(infos[row.sku].low_stock_threshold, default_threshold),
        )
        for row in rows
    ]
    channels = [c for c in list_channels(session, limit=200) if c.active]
    if location is not None:
        # At one location: the channels it serves, each through its own buffer.
        channels = [
            c for c in channels if location.id in (*c.ship_location_ids, *c.pickup_location_ids)
        ]
    per_channel = (
        [
            queries.location_availability(
                session, location_id=location.id, skus=skus, channel_id=channel.id
            )
            if location is not None
            else queries.channel_availability(session, channel_id=channel.id, skus=skus)
            for channel in channels
        ]
        if skus
        else []
    )
    atp = [(s, [units[s] for units in per_channel]) for s in skus]
    movements = [
        MovementRow(
            at=m.created_at,
            kind=m.kind,
            sku=name,
            location=codes.get(m.location_id, str(m.location_id)),
            delta_on_hand=m.delta_on_hand,
            delta_reserved=m.delta_reserved,
            reason=m.reason,
            actor=m.actor,
        )
        for m, name in recent_movements(session, location_id=location_id)
    ]
    transit = [
        TransitRow(
            line.transfer_id,
            codes.get(line.from_location_id, str(line.from_location_id)),
            codes.get(line.to_location_id, str(line.to_location_id)),
            line.sku,
            line.units,
            line.sent_at,
        )
        for line in queries.transit_lines(session, location_id=location_id, sku=sku)
    ]
    checked = (
        _reconciliation(session, codes, location_id=location_id, sku=sku) if reconcile else None
    )
    return StockPage(location, locations, channels, atp, levels, movements, transit, checked)


def _reconciliation(
    session: Session, codes: dict[int, str], *, location_id: int | None, sku: str | None
) -> ReconciliationView:
    found = queries.reconcile_rows(session, location_id=location_id, sku=sku)
    return ReconciliationView(
        found.checked,
        [
            MismatchRow(
                name,
                codes.get(d.location_id, str(d.location_id)),
                d.figure,
                d.stock,
                d.expected,
                d.source,
            )
            for d, name in found.discrepancies
        ],
    )


def _threshold(own: int | None, default: int) -> int:
    return own if own is not None else default
