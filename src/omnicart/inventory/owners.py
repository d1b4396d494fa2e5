"""Which channel and stores a reservation or a transfer belongs to (for auth.access)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from omnicart.auth.access import Owners
from omnicart.inventory.tables import Reservation, ReservationLine, Transfer


def reservation_owners(session: Session, reservation_id: int) -> Owners | None:
    """The reservation's channel and the stores its units are held at; None if missing."""
    channel_id = session.scalar(
        select(Reservation.channel_id).where(Reservation.id == reservation_id)
    )
    if channel_id is None:
        return None
    stores = session.scalars(
        select(ReservationLine.location_id).where(ReservationLine.reservation_id == reservation_id)
    )
    return Owners(channels=frozenset({channel_id}), stores=frozenset(stores))


def transfer_destination(session: Session, transfer_id: int) -> Owners | None:
    """A transfer belongs, for receiving it, to the store it goes to; None if missing."""
    to_location = session.scalar(select(Transfer.to_location_id).where(Transfer.id == transfer_id))
    return None if to_location is None else Owners(stores=frozenset({to_location}))
