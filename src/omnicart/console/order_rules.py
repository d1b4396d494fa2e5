"""Who may act on an order in the console, and which actions its state offers.

Each action is declared with the API route's own access rule (orders.api): a store's staff
ship from their own store, make ready and hand over the pickups of orders at their store,
cancel orders at their store, and open returns through a channel their store serves. The
order's state decides which forms the page shows; the services decide what is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from omnicart.auth.access import Named, access
from omnicart.console.access import may_open
from omnicart.orders.api import ORDER as ORDER_AT_STORE
from omnicart.orders.api import SERVED_CHANNEL
from omnicart.orders.model import CONFIRMED, PARTIALLY_FULFILLED, PENDING, RETURNABLE
from omnicart.orders.views import OrderView
from omnicart.users.service import UserPrincipal

# As POST /v1/orders/{id}/shipments: from a location of the staff's own store.
SHIP = access("orders:write", "staff", store=Named("body", "location_id"))
# As POST /v1/orders/{id}/pickup/ready, …/pickup/collect and …/cancel.
AT_ORDER = access("orders:write", "staff", store=ORDER_AT_STORE)
# As POST /v1/orders/{id}/returns: through a channel the staff's store serves.
OPEN_RETURN = access("orders:write", "staff", store=SERVED_CHANNEL)

Action = Literal["ship", "ready", "collect", "cancel", "return"]
Done = Literal["shipped", "ready", "collected", "cancelled", "return"]


@dataclass(frozen=True, slots=True)
class Actions:
    """The forms the order page shows."""

    ship: bool
    ready: bool
    collect: bool
    cancel: bool
    open_return: bool

    @property
    def any(self) -> bool:
        """Whether there is anything to do."""
        return self.ship or self.ready or self.collect or self.cancel or self.open_return


def open_pickup_code(order: OrderView) -> tuple[str, datetime | None] | None:
    """The code and deadline of the order's pickup waiting in the store, if any."""
    for done in order.fulfilments:
        if done.kind == "pickup" and done.status == "ready" and done.pickup_code:
            return done.pickup_code, done.pickup_deadline
    return None


def order_actions(order: OrderView, viewer: UserPrincipal) -> Actions:
    """What the order's state offers this viewer."""
    writes = may_open(AT_ORDER, viewer)
    waiting = open_pickup_code(order) is not None
    pickup = order.fulfilment_mode == "pickup"
    returnable = order.status in RETURNABLE and any(
        line.fulfilled > line.returned for line in order.lines
    )
    return Actions(
        ship=writes
        and order.fulfilment_mode == "ship"
        and order.status in (CONFIRMED, PARTIALLY_FULFILLED),
        ready=writes and pickup and not waiting and order.status in (PENDING, CONFIRMED),
        collect=writes and pickup and waiting,
        cancel=writes and order.status in (PENDING, CONFIRMED),
        open_return=may_open(OPEN_RETURN, viewer) and returnable,
    )
