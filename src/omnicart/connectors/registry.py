"""Vendor name -> its adapter, real API URL and what a connector of it must hold.

An adapter is loaded the first time it is needed (`module:Class`, no arguments). A vendor
that receives webhooks implements `base.Adapter`; one that is polled implements
`base.Poller` (and the push side of `Adapter` when it takes stock and prices).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache
from typing import cast

from omnicart.connectors.base import Adapter, Poller
from omnicart.kernel.errors import ValidationFailed
from omnicart.settings import get_settings


@dataclass(frozen=True, slots=True)
class Vendor:
    """A vendor Omnicart can connect to."""

    name: str
    title: str
    adapter: str  # "module:Class"
    # The real API base URL, with {option} placeholders filled from the connector's
    # options; None when every merchant's URL is their own (a self-hosted shop).
    url: str | None
    credentials: tuple[str, ...]  # names a connector must hold
    options: tuple[str, ...] = ()  # names a connector must have
    # Channel kinds a connector of this vendor may sell for.
    kinds: tuple[str, ...] = ("web", "app", "marketplace", "social", "messaging")


VENDORS: dict[str, Vendor] = {
    v.name: v
    for v in (
        Vendor(
            "shopify",
            "Shopify",
            "omnicart.connectors.shopify:ShopifyAdapter",
            url="https://{shop}.myshopify.com",
            credentials=("client_secret", "access_token"),
            options=("shop", "location_id"),
        ),
        Vendor(
            "woocommerce",
            "WooCommerce",
            "omnicart.connectors.woocommerce:WooCommerceAdapter",
            url=None,
            credentials=("webhook_secret", "consumer_key", "consumer_secret"),
        ),
        Vendor(
            "bigcommerce",
            "BigCommerce",
            "omnicart.connectors.bigcommerce:BigCommerceAdapter",
            url="https://api.bigcommerce.com/stores/{store_hash}",
            credentials=("client_secret", "access_token"),
            options=("store_hash",),
        ),
        Vendor(
            "square",
            "Square POS",
            "omnicart.connectors.square:SquareAdapter",
            url="https://connect.squareup.com",
            credentials=("signature_key", "access_token"),
            # location_id: the Square location; store: the Omnicart store it sells from.
            options=("location_id", "store"),
            kinds=("pos",),  # till sales in a store
        ),
        Vendor(
            "amazon",
            "Amazon SP-API",
            "omnicart.connectors.amazon:AmazonAdapter",
            url="https://sellingpartnerapi-{region}.amazon.com",  # region: na, eu or fe
            credentials=("client_id", "client_secret", "refresh_token"),
            options=("region", "seller_id", "marketplace_ids"),
            kinds=("marketplace",),
        ),
    )
}


def vendor(name: str, *, field: str = "vendor") -> Vendor:
    """The vendor called `name`, or ValidationFailed naming the ones there are."""
    found = VENDORS.get(name)
    if found is None:
        raise ValidationFailed(
            f"unknown vendor {name!r}; one of: {', '.join(sorted(VENDORS))}", field=field
        )
    return found


@cache
def _load(path: str) -> object:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)()


def adapter(name: str) -> Adapter:
    """The vendor's adapter (its push side, for a polled vendor)."""
    return cast(Adapter, _load(vendor(name).adapter))


def load_adapters() -> None:
    """Import every vendor's adapter now (a server does at startup), so that no webhook
    waits for its vendor's module to load."""
    for name in VENDORS:
        adapter(name)


def poller(name: str) -> Poller | None:
    """The vendor's poller, or None when it sends webhooks."""
    found = _load(vendor(name).adapter)
    return cast(Poller, found) if callable(getattr(found, "poll", None)) else None


def receives_webhooks(name: str) -> bool:
    """Whether the vendor's adapter verifies webhook deliveries."""
    return callable(getattr(_load(vendor(name).adapter), "verify", None))


def default_url(name: str, options: dict[str, str]) -> str | None:
    """The vendor's API base URL for these options: `OMNICART_CONNECTOR_URLS`, else its
    real one; None when the vendor has none (give the connector's own)."""
    configured = get_settings().connector_urls.get(name)
    template = configured or vendor(name).url
    if template is None:
        return None
    try:
        return template.format(**options)
    except (KeyError, IndexError, ValueError):
        return None
