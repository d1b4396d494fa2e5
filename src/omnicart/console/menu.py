"""Who may open which page (declared once, here) and the menu built from it."""

from __future__ import annotations

from dataclasses import dataclass

from omnicart.auth.access import Named, Owned, access
from omnicart.console.access import may_open
from omnicart.console.i18n import N_
from omnicart.orders.owners import order_owners
from omnicart.users.service import UserPrincipal

# Every signed-in user: each role's scopes include reading the catalog.
SIGNED_IN = access("catalog:read", "analyst", "staff", note="Every signed-in user.")
# As the API's stock reports (inventory:read): admins, and store staff for their store.
STOCK = access("inventory:read", "staff", store=Named("query", "location", fill_own=True))
RECEIVE_STOCK = access("inventory:write", "staff", store=Named("body", "location_id"))
# As the API's order reads, confined to the staff's store (a list is filled with it).
ORDERS = access("orders:read", "staff", store=Named("query", "location", fill_own=True))
ORDER = access("orders:read", "staff", store=Owned("order", "order_id", order_owners))
# As the analytics API (analytics:read): admins and analysts; no store's staff.
ANALYTICS = access("analytics:read", "analyst")
# As the customers API's 360 and search (customers:read): admins and store staff.
CUSTOMER = access("customers:read", "staff")
# As the connectors API (connectors:read): admins only.
CONNECTORS = access("connectors:read")


@dataclass(frozen=True, slots=True)
class MenuItem:
    """A page in the menu; `current` marks the page being shown."""

    label: str
    path: str
    current: bool


# Labels are translated where shown (base.html, home.html).
_PAGES = (
    (N_("Overview"), "/console", SIGNED_IN),
    (N_("Stock"), "/console/stock", STOCK),
    (N_("Orders"), "/console/orders", ORDERS),
    (N_("Connectors"), "/console/connectors", CONNECTORS),
    (N_("Analytics"), "/console/analytics", ANALYTICS),
    (N_("Customers"), "/console/customers", ANALYTICS),
    (N_("Find a customer"), "/console/customer-search", CUSTOMER),
    (N_("Definitions"), "/console/definitions", ANALYTICS),
)
# The viewer's role as the header names it (users.model.ROLES), translated there.
ROLE_NAMES = (N_("admin"), N_("analyst"), N_("staff"))


def menu_for(viewer: UserPrincipal | None, path: str) -> list[MenuItem]:
    """The pages this viewer's role may open."""
    return [
        MenuItem(
            label,
            target,
            path == target or (path.startswith(f"{target}/") and target != "/console"),
        )
        for label, target, rule in _PAGES
        if may_open(rule, viewer)
    ]
