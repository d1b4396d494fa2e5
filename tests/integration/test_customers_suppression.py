"""Erased stays erased (issue 14): once a person is erased, their identifiers are on the
suppression list (keyed hashes only), and orders that arrive naming them later (redelivered
old orders and updates, a till sale with their loyalty card, a checkout with their e-mail)
are stored as anonymous orders; identity resolution makes no profile for them. Lifting a
suppression lets new data naming that identifier in again, and only new data."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import typer
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from omnicart.customers import cli as customers_cli
from omnicart.customers import service
from omnicart.customers.erasure import erase_customer
from omnicart.customers.lookup import observe
from omnicart.customers.suppression import (
    digest,
    is_suppressed,
    lift,
    suppression_key,
)
from omnicart.customers.tables import (
    CustomerIdentity,
    CustomerOrderLink,
    CustomerProfile,
    CustomerSuppression,
    CustomerSuppressionLift,
)
from omnicart.db.engine import Database
from omnicart.kernel.errors import NotFound, ValidationFailed
from omnicart.orders import checkout
from omnicart.orders import service as orders
from omnicart.orders.model import Customer, Fulfil, LineDraft, PaymentDraft
from omnicart.orders.service import ExternalOrder
from omnicart.orders.tables import Order
from tests.customers_support import (
    BUYER,
    CARD,
    EMAIL,
    NAME,
    PHONE,
    STREET,
    market,
    personal_values_left,
    revenue,
    seed,
    sync,
)
from tests.orders_support import Shop

NEW_STREET = "ul. Krótka 3"
PERSONAL = [
    EMAIL,
    "ewa.kowalska@poczta.pl",
    "601234567",
    PHONE,
    BUYER,
    "LC-77",
    "LC77",
    NAME,
    STREET,
    NEW_STREET,
]
EWA = Customer(email=EMAIL, phone=PHONE, ref=BUYER)
SHIP_TO_EWA = {"name": NAME, "street": STREET, "city": "Kraków", "country": "PL"}


@dataclasses.dataclass(frozen=True)
class Erased:
    shop: Shop
    customer_id: int
    orders: list[int]  # first (marketplace, Ewa), second (till, Ewa), other, anonymous
    deliveries: list[ExternalOrder]  # every version of Ewa's marketplace order
    revenue: list[tuple[int, str, Decimal]]


def _erased(db: Database) -> Erased:
    """Ewa's marketplace order, then an update of it (new street), a till sale with her
    card; she is then erased."""
    shop, order_ids = seed(db)
    first = market(shop, "m-1", EWA, NAME, STREET)
    update = market(shop, "m-1", EWA, NAME, NEW_STREET)
    update = dataclasses.replace(
        update,
        payload={**(update.payload or {}), "street": NEW_STREET},
        updated_at=datetime.now(UTC) - timedelta(minutes=1),
    )
    orders.ingest_order(db, update)
    sync(db)
    ewa = service.find_customer(db, kind="email", value=EMAIL)
    before = revenue(db)
    assert personal_values_left(db, PERSONAL)  # the scan finds them before
    erase_customer(db, customer_id=ewa, actor="dpo")
    assert personal_values_left(db, PERSONAL) == []
    return Erased(shop, ewa, order_ids, [first, update], before)


def _redeliver(db: Database, deliveries: list[ExternalOrder], times: int) -> None:
    """Each delivery `times` times: concurrently (threads) on PostgreSQL."""
    work = [d for d in deliveries for _ in range(times)]
    if db.engine.dialect.name != "postgresql":
        for delivery in work:
            orders.ingest_order(db, delivery)
        return
    with ThreadPoolExecutor(max_workers=10) as pool:
        list(pool.map(lambda d: orders.ingest_order(db, d), work))


def _till(db: Database, shop: Shop, customer: Customer, receipt: str) -> int:
    """One A sold at the Gdańsk till (Kraków's were sold in `seed`)."""
    sale = checkout.TillSale(
        channel_id=shop.pos,
        location_id=shop.gdansk,
        lines=(LineDraft("A", 1, Decimal("19.99")),),
        payments=(PaymentDraft("card", Decimal("19.99")),),
        customer=customer,
        receipt=receipt,
    )
    return checkout.record_sale(db, sale=sale).id


def _web_checkout(db: Database, shop: Shop, customer: Customer) -> int:
    cart = checkout.create_cart(db, channel_id=shop.web, lines=[("A", 1)])
    request = checkout.Checkout(
        fulfil=Fulfil(mode="ship", address=SHIP_TO_EWA),
        customer=customer,
        payments=(PaymentDraft("card", Decimal("19.99")),),
    )
    return checkout.checkout(db, cart_id=cart.id, request=request).id


def _customer_fields(db: Database, order_id: int) -> tuple[object, ...]:
    with db.reading() as session:
        order = session.get_one(Order, order_id)
        return (
            order.customer_email,
            order.customer_phone,
            order.customer_ref,
            order.shipping_address,
        )


def _people(db: Database) -> tuple[int, int]:
    with db.reading() as session:
        return (
            session.scalar(select(func.count()).select_from(CustomerProfile)) or 0,
            session.scalar(select(func.count()).select_from(CustomerIdentity)) or 0,
        )


ANONYMOUS_PL = (None, None, None, {"country": "PL"})


def test_nothing_arriving_after_an_erasure_brings_the_person_back(db: Database) -> None:
    erased = _erased(db)
    people = _people(db)

    _redeliver(db, erased.deliveries, times=10)
    sale = _till(db, erased.shop, Customer(ref=CARD), "r-3")
    sale_with_email = _till(db, erased.shop, Customer(email=EMAIL.upper(), ref=CARD), "r-4")
    bought = _web_checkout(db, erased.shop, Customer(email=EMAIL, phone=PHONE))
    sync(db)
    with db.transaction() as session:  # what tracking's identify would resolve
        assert observe(session, identifiers=[("email", EMAIL)], channel_id=None, source="t") is None
        again = [("phone", "+48 601 234 567"), ("anonymous_id", "new-device")]
        assert observe(session, identifiers=again, channel_id=None, source="t") is None

    assert personal_values_left(db, PERSONAL) == []
    first, second, other, anonymous = erased.orders
    new = [sale, sale_with_email, bought]
    assert revenue(db) == [
        *erased.revenue,
        (sale, "EUR", Decimal("19.99")),
        (sale_with_email, "EUR", Decimal("19.99")),
        (bought, "EUR", Decimal("19.99")),
    ]
    assert _customer_fields(db, first) == ANONYMOUS_PL
    assert _customer_fields(db, second) == (None, None, None, None)
    assert [_customer_fields(db, o) for o in new] == [(None, None, None, None)] * 2 + [ANONYMOUS_PL]
    assert _customer_fields(db, other)[0] == "jan@firma.pl"  # others are untouched
    assert _customer_fields(db, anonymous) == (None, None, None, None)
    assert _people(db) == people  # no profile, no identity made for her
    with db.reading() as session:
        linked = set(session.scalars(select(CustomerOrderLink.order_id)))
    assert linked == {first, second, other}
    with pytest.raises(NotFound):
        service.find_customer(db, kind="email", value=EMAIL)


def test_an_order_the_feed_had_not_reached_is_stripped_not_linked(db: Database) -> None:
    erased = _erased(db)
    # Ordered before the erasure, but the feed reaches it only after: it names her e-mail.
    late = orders.ingest_order(
        db, market(erased.shop, "m-9", Customer(email=EMAIL), NAME, STREET)
    ).id
    with db.transaction() as session:
        order = session.get_one(Order, late)
        order.customer_email = EMAIL.lower()  # as it was stored before the erasure
        order.shipping_address = dict(SHIP_TO_EWA)
    people = _people(db)

    sync(db)

    assert _customer_fields(db, late) == ANONYMOUS_PL
    assert personal_values_left(db, PERSONAL) == []
    assert _people(db) == people


def test_the_suppression_list_holds_no_identifier_in_clear(
    sqlite_db: Database, tmp_path: Path
) -> None:
    erased = _erased(sqlite_db)
    with sqlite_db.reading() as session:
        rows = session.execute(
            select(CustomerSuppression.kind, CustomerSuppression.digest).order_by(
                CustomerSuppression.kind
            )
        ).all()
        key = suppression_key(session.connection())
    market_buyer = f"{erased.shop.market}:{BUYER}"
    assert rows == [
        ("email", digest("email", EMAIL, key=key)),
        ("loyalty_card", digest("loyalty_card", "LC-77", key=key)),
        ("marketplace_buyer", digest("marketplace_buyer", market_buyer, key=key)),
        ("phone", digest("phone", PHONE, key=key)),
    ]
    sqlite_db.dispose()  # everything written back into the file
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("omnicart.db*"))
    assert b"CREATE TABLE customer_suppressions" in raw  # the scan reads the real file
    assert digest("email", EMAIL, key=key).encode() in raw
    for value in PERSONAL:
        assert value.encode() not in raw, value
        assert value.lower().encode() not in raw, value
    assert b"+48601234567" not in raw


def test_spellings_of_one_identifier_share_a_digest_and_keys_differ() -> None:
    key, other_key = b"k" * 32, b"o" * 32
    assert digest("email", " Ewa.Kowalska@Poczta.PL ", key=key) == digest(
        "email", "ewa.kowalska@poczta.pl", key=key
    )
    assert digest("phone", "601 234 567", key=key) == digest("phone", "+48601234567", key=key)
    assert digest("loyalty_card", "lc-77", key=key) == digest("loyalty_card", "LC77", key=key)
    assert digest("email", EMAIL, key=key) != digest("email", EMAIL, key=other_key)
    assert digest("email", EMAIL, key=key) != digest("user_id", EMAIL.lower(), key=key)
    assert len(digest("email", EMAIL, key=key)) == 64


def test_lifting_lets_new_data_in_and_only_new_data(db: Database) -> None:
    erased = _erased(db)
    first = erased.orders[0]

    with db.transaction() as session:
        view = lift(session, kind="email", value=EMAIL.upper(), actor="dpo", reason="came back")

    with db.reading() as session:
        key = suppression_key(session.connection())
        logged = session.execute(
            select(
                CustomerSuppressionLift.kind,
                CustomerSuppressionLift.digest,
                CustomerSuppressionLift.actor,
                CustomerSuppressionLift.reason,
            )
        ).all()
        assert not is_suppressed(session, [("email", EMAIL)])
        assert is_suppressed(session, [("phone", PHONE)])  # only what was lifted
    assert logged == [("email", digest("email", EMAIL, key=key), "dpo", "came back")]
    assert (view.kind, view.actor) == ("email", "dpo")

    welcomed = _web_checkout(db, erased.shop, Customer(email=EMAIL))
    with_phone = _web_checkout(db, erased.shop, Customer(email=EMAIL, phone=PHONE))
    _redeliver(db, erased.deliveries, times=1)  # still names her phone and buyer id
    sync(db)

    assert _customer_fields(db, welcomed) == (
        "ewa.kowalska@poczta.pl",
        None,
        None,
        SHIP_TO_EWA,
    )
    assert _customer_fields(db, with_phone) == ANONYMOUS_PL
    assert _customer_fields(db, first) == ANONYMOUS_PL  # nothing erased comes back
    again = service.find_customer(db, kind="email", value=EMAIL)
    assert again != erased.customer_id
    assert [o.id for o in service.customer_360(db, customer_id=again).orders] == [welcomed]


def test_a_lift_needs_a_suppression_and_a_reason(sqlite_db: Database) -> None:
    _erased(sqlite_db)
    attempts = [
        ({"kind": "email", "value": "someone@else.pl", "reason": "x"}, NotFound, "value"),
        ({"kind": "email", "value": EMAIL, "reason": "  "}, ValidationFailed, "reason"),
        ({"kind": "email", "value": "unknown", "reason": "x"}, ValidationFailed, "value"),
        ({"kind": "shoe_size", "value": "42", "reason": "x"}, ValidationFailed, "kind"),
    ]
    for given, error, field in attempts:
        with pytest.raises(error) as refused, sqlite_db.transaction() as session:
            lift(session, actor="dpo", **given)
        assert refused.value.field == field
    with sqlite_db.reading() as session:
        assert session.scalar(select(func.count()).select_from(CustomerSuppressionLift)) == 0
        assert session.scalar(select(func.count()).select_from(CustomerSuppression)) == 4


def test_the_api_lifts_with_the_value_in_the_body(client: TestClient, sqlite_db: Database) -> None:
    _erased(sqlite_db)
    body = {"kind": "phone", "value": PHONE, "reason": "consented again"}
    refused = client.post("/v1/customers/suppressions/lift", json={**body, "reason": ""})
    assert refused.status_code == 422
    assert refused.json()["field"] == "reason"
    lifted = client.post("/v1/customers/suppressions/lift", json=body)
    assert lifted.status_code == 200, lifted.text
    answer = lifted.json()
    assert (answer["kind"], answer["reason"]) == ("phone", "consented again")
    assert PHONE not in lifted.text
    assert "601234567" not in lifted.text
    again = client.post("/v1/customers/suppressions/lift", json=body)
    assert again.status_code == 404
    with sqlite_db.reading() as session:
        assert session.scalar(select(func.count()).select_from(CustomerSuppressionLift)) == 1


def test_the_cli_lifts_a_suppression(sqlite_db: Database) -> None:
    _erased(sqlite_db)
    app = typer.Typer()
    app.add_typer(customers_cli.app, name="customers")
    url = sqlite_db.engine.url.render_as_string(hide_password=False)
    args = ["customers", "unsuppress", "--kind", "loyalty_card", "--value", "lc 77"]
    result = CliRunner().invoke(app, [*args, "--reason", "new card", "--database-url", url])
    assert result.exception is None, result.output
    assert "lifted the suppression of a loyalty_card" in result.stdout
    assert "LC" not in result.stdout
    with sqlite_db.reading() as session:
        assert not is_suppressed(session, [("loyalty_card", "LC-77")])
        assert is_suppressed(session, [("email", EMAIL)])
