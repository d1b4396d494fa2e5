"""Who may call what: every operation of the OpenAPI document × every kind of caller.

Each request aims at channel A and store S1's objects (the "own" side of the world in
tests/api/authz_world.py). The callers: no key, a wrong key, an admin key, A's channel key,
B's channel key, S1's staff key, S2's staff key, a read-only key of channel A and an
analyst's key. For each, the exact status is written below, by hand, from what a merchant
expects — not derived from the routes' declarations — and a refusal must leave every table
as it was.

A route added without a row here fails `test_every_operation_has_a_row`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.authz_world import REQUESTS, Harness, harness, snapshot

OK = "ok"  # the admin's success status for this request
Row = tuple[object, object, object, object, object, object]
# Columns: admin, own channel, other channel, own store staff, other store staff, read-only.
ADMIN_ONLY: Row = (OK, 403, 403, 403, 403, 403)
EVERY_KEY: Row = (OK, OK, OK, OK, OK, OK)
STAFF_READS: Row = (OK, 403, 403, OK, OK, 403)
STAFF_WRITES: Row = (OK, 403, 403, OK, OK, 403)
OWN_STORE_ONLY: Row = (OK, 403, 403, OK, 403, 403)  # staff name their store in the body
OWN_STORE_OBJECT: Row = (OK, 403, 403, OK, 404, 403)  # another store's object is unknown
OWN_CHANNEL_READ: Row = (OK, OK, 403, OK, OK, OK)  # channel keys read only their own
OWN_CHANNEL_OBJECT_READ: Row = (OK, OK, 404, OK, OK, OK)
STOCK_FIGURES: Row = (OK, 403, 403, OK, OK, 403)  # raw stock, ledger, events: not channels
CHANNEL_WRITES_OWN: Row = (OK, OK, 403, 403, 403, 403)
CHANNEL_OBJECT_WRITES: Row = (OK, OK, 404, 403, 403, 403)
ORDER_WRITES: Row = (OK, OK, 404, OK, 404, 403)  # the order's channel, or its store's staff

# Routes that do not take an API key: the caller's key plays no part.
NO_API_KEY = {
    ("GET", "/healthz"),
    *(("POST", f"/v1/{kind}") for kind in ("identify", "track", "page", "screen", "group")),
    ("POST", "/v1/alias"),
    ("POST", "/v1/batch"),
    # A vendor's webhook: its signature over the body authenticates it, not an API key.
    ("POST", "/v1/connectors/{connector_id}/webhooks"),
    # A product feed: Google or Meta fetch it with the channel's feed token.
    ("GET", "/v1/feeds/{channel_id}/{format}"),
}

TABLE: dict[tuple[str, str], Row] = {
    # --- tracking sources: admins only
    ("POST", "/v1/tracking/sources"): ADMIN_ONLY,
    ("GET", "/v1/tracking/sources"): ADMIN_ONLY,
    # --- channels
    ("POST", "/v1/channels"): ADMIN_ONLY,
    ("GET", "/v1/channels"): (OK, OK, OK, 403, 403, OK),  # a channel's key lists its own
    ("GET", "/v1/channels/{channel_id}"): (OK, OK, 403, 403, 403, OK),
    ("PATCH", "/v1/channels/{channel_id}"): ADMIN_ONLY,
    ("PUT", "/v1/channels/{channel_id}/locations"): ADMIN_ONLY,
    # --- locations
    ("POST", "/v1/locations"): ADMIN_ONLY,
    ("GET", "/v1/locations"): STAFF_READS,
    ("GET", "/v1/locations/{location_id}"): STAFF_READS,
    ("PATCH", "/v1/locations/{location_id}"): ADMIN_ONLY,
    # --- catalog: everyone reads it; only admins change it
    ("GET", "/v1/categories"): EVERY_KEY,
    ("POST", "/v1/categories"): ADMIN_ONLY,
    ("POST", "/v1/products"): ADMIN_ONLY,
    ("GET", "/v1/products"): EVERY_KEY,
    ("GET", "/v1/products/{product_id}"): EVERY_KEY,
    ("PATCH", "/v1/products/{product_id}"): ADMIN_ONLY,
    ("POST", "/v1/products/{product_id}/variants"): ADMIN_ONLY,
    ("GET", "/v1/variants/{sku}"): EVERY_KEY,
    ("PATCH", "/v1/variants/{sku}"): ADMIN_ONLY,
    ("PUT", "/v1/variants/{sku}/bundle"): ADMIN_ONLY,
    ("PUT", "/v1/channels/{channel_id}/listings/{product_id}"): ADMIN_ONLY,
    ("GET", "/v1/channels/{channel_id}/listings/{product_id}"): OWN_CHANNEL_READ,
    ("PUT", "/v1/channels/{channel_id}/prices/{sku}"): ADMIN_ONLY,
    ("GET", "/v1/channels/{channel_id}/prices/{sku}"): OWN_CHANNEL_READ,
    ("GET", "/v1/channels/{channel_id}/catalog"): OWN_CHANNEL_READ,
    ("GET", "/v1/channels/{channel_id}/catalog/{product_id}"): OWN_CHANNEL_READ,
    # --- reservations: a channel holds stock for itself
    ("POST", "/v1/reservations"): CHANNEL_WRITES_OWN,
    ("GET", "/v1/reservations"): OWN_CHANNEL_READ,
    ("GET", "/v1/reservations/{reservation_id}"): OWN_CHANNEL_OBJECT_READ,
    ("POST", "/v1/reservations/{reservation_id}/release"): CHANNEL_OBJECT_WRITES,
    ("POST", "/v1/reservations/{reservation_id}/allocate"): CHANNEL_OBJECT_WRITES,
    ("POST", "/v1/reservations/{reservation_id}/deallocate"): CHANNEL_OBJECT_WRITES,
    ("POST", "/v1/reservations/{reservation_id}/ship"): OWN_STORE_OBJECT,
    ("GET", "/v1/availability"): OWN_CHANNEL_READ,
    # Without a channel, a channel's key sees the store through its own buffer: a store
    # that does not serve channel B has nothing to promise it (409, not an access matter).
    ("GET", "/v1/locations/{location_id}/availability"): (OK, OK, 409, OK, OK, OK),
    # --- stock: a store's staff at their store
    ("POST", "/v1/stock/receipts"): OWN_STORE_ONLY,
    ("POST", "/v1/stock/write-offs"): OWN_STORE_ONLY,
    ("POST", "/v1/stock/adjustments"): OWN_STORE_ONLY,
    ("POST", "/v1/stock/counts"): OWN_STORE_ONLY,
    ("POST", "/v1/transfers"): OWN_STORE_ONLY,
    ("POST", "/v1/transfers/{transfer_id}/receive"): OWN_STORE_OBJECT,
    ("GET", "/v1/stock"): STOCK_FIGURES,
    ("GET", "/v1/stock/in-transit"): STOCK_FIGURES,
    ("GET", "/v1/movements"): STOCK_FIGURES,
    ("GET", "/v1/inventory/reconciliation"): STOCK_FIGURES,
    ("GET", "/v1/events"): STOCK_FIGURES,
    # --- orders
    ("PUT", "/v1/channels/{channel_id}/orders/{external_id}"): CHANNEL_WRITES_OWN,
    ("GET", "/v1/orders"): OWN_CHANNEL_READ,
    ("GET", "/v1/orders/{order_id}"): OWN_CHANNEL_OBJECT_READ,
    ("POST", "/v1/orders/{order_id}/payments"): ORDER_WRITES,
    ("POST", "/v1/orders/{order_id}/cancel"): ORDER_WRITES,
    ("POST", "/v1/orders/{order_id}/complete"): ORDER_WRITES,
    # Staff ship from the store they name; the order must be the channel key's.
    ("POST", "/v1/orders/{order_id}/shipments"): (OK, OK, 404, OK, 403, 403),
    ("POST", "/v1/orders/{order_id}/pickup/ready"): OWN_STORE_OBJECT,
    ("POST", "/v1/orders/{order_id}/pickup/collect"): OWN_STORE_OBJECT,
    # Carts are a channel's own checkout: no store's staff touch them.
    ("POST", "/v1/carts"): CHANNEL_WRITES_OWN,
    ("GET", "/v1/carts/{cart_id}"): (OK, OK, 404, 403, 403, OK),
    ("PUT", "/v1/carts/{cart_id}/lines"): CHANNEL_OBJECT_WRITES,
    ("POST", "/v1/carts/{cart_id}/checkout"): CHANNEL_OBJECT_WRITES,
    ("POST", "/v1/pos/sales"): OWN_STORE_ONLY,
    # A return is opened through the caller's channel (staff: one its store serves).
    ("POST", "/v1/orders/{order_id}/returns"): (OK, OK, 403, OK, 403, 403),
    ("GET", "/v1/returns/{return_id}"): OWN_CHANNEL_OBJECT_READ,
    ("POST", "/v1/returns/{return_id}/receive"): OWN_STORE_ONLY,
    ("POST", "/v1/returns/{return_id}/refund"): ORDER_WRITES,
    ("GET", "/v1/channels/{channel_id}/order-rules"): OWN_CHANNEL_READ,
    ("PUT", "/v1/channels/{channel_id}/order-rules"): ADMIN_ONLY,
    # --- customers: the merchant's staff, never a channel's key
    ("GET", "/v1/customers"): STAFF_READS,
    ("GET", "/v1/customers/{customer_id}"): STAFF_READS,
    ("GET", "/v1/customers/{customer_id}/consents"): STAFF_READS,
    ("PUT", "/v1/customers/{customer_id}/consents"): STAFF_WRITES,
    ("GET", "/v1/customers/{customer_id}/export"): STAFF_READS,
    ("POST", "/v1/customers/{customer_id}/erase"): ADMIN_ONLY,
    ("POST", "/v1/customers/search"): STAFF_READS,
    ("GET", "/v1/customers/erasures/{erasure_id}"): ADMIN_ONLY,
    ("GET", "/v1/customers/erasures/{erasure_id}/report"): ADMIN_ONLY,
    ("POST", "/v1/customers/suppressions/lift"): ADMIN_ONLY,
    ("GET", "/v1/customers/{customer_id}/loyalty"): STAFF_READS,
    ("POST", "/v1/customers/{customer_id}/loyalty/bonuses"): STAFF_WRITES,
    ("POST", "/v1/customers/{customer_id}/loyalty/redemptions"): STAFF_WRITES,
    ("POST", "/v1/loyalty/sync"): STAFF_WRITES,
    ("GET", "/v1/loyalty/program"): STAFF_READS,
    ("PUT", "/v1/loyalty/program"): ADMIN_ONLY,
    ("GET", "/v1/channels/{channel_id}/loyalty-rules"): STAFF_READS,
    ("PUT", "/v1/channels/{channel_id}/loyalty-rules"): ADMIN_ONLY,
    ("POST", "/v1/conversations"): STAFF_WRITES,
    ("GET", "/v1/conversations/{conversation_id}"): STAFF_READS,
    ("POST", "/v1/conversations/{conversation_id}/messages"): STAFF_WRITES,
    ("POST", "/v1/conversations/{conversation_id}/handover"): STAFF_WRITES,
    ("POST", "/v1/conversations/{conversation_id}/status"): STAFF_WRITES,
    ("GET", "/v1/customers/{customer_id}/conversations"): STAFF_READS,
    # --- product feeds: the merchant's own people check a channel's feed (a channel's key
    # its own); only admins make feed tokens and set where the shop lives
    ("GET", "/v1/channels/{channel_id}/feeds/{format}/check"): OWN_CHANNEL_READ,
    ("POST", "/v1/channels/{channel_id}/feed-tokens"): ADMIN_ONLY,
    ("GET", "/v1/channels/{channel_id}/feed-tokens"): ADMIN_ONLY,
    ("DELETE", "/v1/channels/{channel_id}/feed-tokens/{token_id}"): ADMIN_ONLY,
    ("GET", "/v1/channels/{channel_id}/feed-settings"): (OK, OK, 403, 403, 403, OK),
    ("PUT", "/v1/channels/{channel_id}/feed-settings"): ADMIN_ONLY,
    # --- analytics: the merchant's figures, for admins and analysts only
    ("GET", "/v1/analytics/channels"): ADMIN_ONLY,
    ("GET", "/v1/analytics/cohorts"): ADMIN_ONLY,
    ("GET", "/v1/analytics/customers/omnichannel"): ADMIN_ONLY,
    ("GET", "/v1/analytics/funnels"): ADMIN_ONLY,
    ("GET", "/v1/analytics/attribution"): ADMIN_ONLY,
    ("GET", "/v1/analytics/clv"): ADMIN_ONLY,
    # --- outbound webhooks: they send the merchant's data where they point, admins only
    ("GET", "/v1/webhooks/event-types"): ADMIN_ONLY,
    ("POST", "/v1/webhooks/subscriptions"): ADMIN_ONLY,
    ("GET", "/v1/webhooks/subscriptions"): ADMIN_ONLY,
    ("GET", "/v1/webhooks/subscriptions/{subscription_id}"): ADMIN_ONLY,
    ("PATCH", "/v1/webhooks/subscriptions/{subscription_id}"): ADMIN_ONLY,
    ("DELETE", "/v1/webhooks/subscriptions/{subscription_id}"): ADMIN_ONLY,
    ("POST", "/v1/webhooks/subscriptions/{subscription_id}/rotate-secret"): ADMIN_ONLY,
    ("GET", "/v1/webhooks/subscriptions/{subscription_id}/deliveries"): ADMIN_ONLY,
    ("GET", "/v1/webhooks/subscriptions/{subscription_id}/deliveries/{delivery_id}"): ADMIN_ONLY,
    ("POST", "/v1/webhooks/subscriptions/{subscription_id}/deliveries/{delivery_id}/replay"): (
        ADMIN_ONLY
    ),
    ("POST", "/v1/webhooks/subscriptions/{subscription_id}/replay-dead"): ADMIN_ONLY,
    # --- connectors: vendor accounts and their secrets, the merchant's admins only
    ("POST", "/v1/connectors"): ADMIN_ONLY,
    ("GET", "/v1/connectors"): ADMIN_ONLY,
    ("GET", "/v1/connectors/attention"): ADMIN_ONLY,
    ("GET", "/v1/connectors/{connector_id}"): ADMIN_ONLY,
    ("PATCH", "/v1/connectors/{connector_id}"): ADMIN_ONLY,
    ("POST", "/v1/connectors/{connector_id}/test"): ADMIN_ONLY,
    ("GET", "/v1/connectors/{connector_id}/mapping"): ADMIN_ONLY,
    ("PUT", "/v1/connectors/{connector_id}/mapping"): ADMIN_ONLY,
    ("POST", "/v1/connectors/{connector_id}/mapping/match"): ADMIN_ONLY,
    ("GET", "/v1/connectors/{connector_id}/deliveries"): ADMIN_ONLY,
    ("POST", "/v1/connectors/{connector_id}/deliveries/retry"): ADMIN_ONLY,
    ("POST", "/v1/connectors/{connector_id}/deliveries/{delivery_id}/dismiss"): ADMIN_ONLY,
    ("POST", "/v1/connectors/{connector_id}/reconcile"): ADMIN_ONLY,
    ("GET", "/v1/connectors/{connector_id}/stock"): ADMIN_ONLY,
    # --- keys
    ("POST", "/v1/api-keys"): ADMIN_ONLY,
    ("GET", "/v1/api-keys"): ADMIN_ONLY,
    ("DELETE", "/v1/api-keys/{key_id}"): ADMIN_ONLY,
}
# An analyst's key (marketing, finance) reads figures and changes nothing: every route
# answers it 403 but those listed here, with the status written by hand.
ANALYST: dict[tuple[str, str], object] = {
    ("GET", "/v1/analytics/channels"): OK,
    ("GET", "/v1/analytics/cohorts"): OK,
    ("GET", "/v1/analytics/customers/omnichannel"): OK,
    ("GET", "/v1/analytics/funnels"): OK,
    ("GET", "/v1/analytics/attribution"): OK,
    ("GET", "/v1/analytics/clv"): OK,
}
KEYED = ("admin", "own_channel", "other_channel", "own_staff", "other_staff", "read_only")
CALLERS_WITH_KEYS = (*KEYED, "analyst")
CASES = [
    (method, path, caller)
    for (method, path) in sorted(REQUESTS)
    for caller in ("none", "wrong", *CALLERS_WITH_KEYS)
]


@pytest.fixture(scope="module")
def authz(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    with harness(tmp_path_factory.mktemp("authz-table")) as served:
        yield served


def test_every_operation_has_a_row(authz: Harness) -> None:
    operations = {
        (method.upper(), path)
        for path, item in authz.app.openapi()["paths"].items()
        for method in item
    }
    assert sorted(operations - set(TABLE) - NO_API_KEY) == []
    assert sorted((set(TABLE) | NO_API_KEY) - operations) == []


def _expected(method: str, path: str, caller: str, success: int) -> int:
    if (method, path) in NO_API_KEY:
        return success
    if caller in {"none", "wrong"}:
        return 401
    if caller == "analyst":
        status = ANALYST.get((method, path), 403)
    else:
        status = TABLE[method, path][KEYED.index(caller)]
    return success if status == OK else int(str(status))


@pytest.mark.parametrize(("method", "path", "caller"), CASES)
def test_who_may_call_what(
    method: str, path: str, caller: str, authz: Harness, tmp_path: Path
) -> None:
    spec = REQUESTS[method, path](authz.world, "own")
    expected = _expected(method, path, caller, spec.success)
    with authz.fresh(tmp_path) as db:
        before = snapshot(db)
        answer = authz.send(method, spec, caller)  # type: ignore[arg-type]
        assert answer.status_code == expected, answer.text
        if expected >= 400:
            assert answer.headers["content-type"] == "application/problem+json"
            assert snapshot(db) == before
        elif method != "GET" and spec.changes:
            assert snapshot(db) != before
