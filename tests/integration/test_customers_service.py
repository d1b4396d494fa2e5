"""Orders of every channel attach to one customer through the outbox feed (exactly once),
the Customer 360 and GDPR export show them, consents keep their history, and erasure
leaves no personal value anywhere in the database while revenue stays the same."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from omnicart.customers import service
from omnicart.customers.erasure import erase_customer
from omnicart.customers.linking import profile_for_order
from omnicart.customers.lookup import observe
from omnicart.customers.suppression import lift
from omnicart.customers.tables import CustomerErasure, CustomerOrderLink
from omnicart.db.engine import Database
from omnicart.kernel.errors import Conflict, NotFound, ValidationFailed
from omnicart.orders.tables import Order
from tests.customers_support import (
    BUYER,
    EMAIL,
    NAME,
    STREET,
    personal_values_left,
    revenue,
    seed,
    sync,
)


def test_orders_of_every_channel_attach_to_one_customer_exactly_once(db: Database) -> None:
    _shop, (first, second, other, anonymous) = seed(db)
    read = sync(db)
    assert read > 0
    assert service.sync_customers(db) == 0  # the cursor moved with the links
    with db.reading() as session:
        rows = session.execute(select(CustomerOrderLink.order_id, CustomerOrderLink.profile_id))
        links = dict(rows.all())
    assert set(links) == {first, second, other}
    assert links[first] == links[second] != links[other]
    ewa = links[first]
    with db.transaction() as session:
        assert profile_for_order(session, order_id=second) == ewa
        assert profile_for_order(session, order_id=anonymous) is None
    view = service.customer_360(db, customer_id=ewa)
    assert [o.id for o in view.orders] == [second, first]
    assert [o.channel_id for o in view.orders] == [_shop.pos, _shop.market]
    assert view.revenue == {"EUR": Decimal("64.98")}
    assert {(i.kind, i.value) for i in view.identities} == {
        ("email", "ewa.kowalska@poczta.pl"),
        ("phone", "+48601234567"),
        ("marketplace_buyer", f"{_shop.market}:{BUYER}"),
        ("loyalty_card", "LC77"),
    }
    assert [(t.kind, t.ref) for t in view.timeline or []] == [
        ("order", str(second)),
        ("order", str(first)),
    ]
    assert view.loyalty.balance == 0


def test_an_order_linked_before_the_feed_is_not_linked_twice(db: Database) -> None:
    _shop, (first, *_rest) = seed(db)
    with db.transaction() as session:
        ewa = profile_for_order(session, order_id=first)
    sync(db)
    with db.reading() as session:
        assert (
            session.scalar(
                select(CustomerOrderLink.profile_id).where(CustomerOrderLink.order_id == first)
            )
            == ewa
        )


def test_lookup_by_identifier(db: Database) -> None:
    seed(db)
    sync(db)
    ewa = service.find_customer(db, kind="phone", value="+48 601 234 567")
    assert service.find_customer(db, kind="email", value=" EWA.kowalska@poczta.pl") == ewa
    with pytest.raises(NotFound) as missing:
        service.find_customer(db, kind="email", value="nobody@shop.pl")
    assert missing.value.field == "email"
    with pytest.raises(ValidationFailed) as bad:
        service.find_customer(db, kind="phone", value="12")
    assert bad.value.field == "phone"


def test_a_merged_id_answers_with_the_survivor(db: Database) -> None:
    with db.transaction() as session:
        first = observe(session, identifiers=[("anonymous_id", "d1")], channel_id=None, source="t")
        second = observe(session, identifiers=[("user_id", "u1")], channel_id=None, source="t")
        observe(
            session,
            identifiers=[("user_id", "u1"), ("anonymous_id", "d1")],
            channel_id=None,
            source="t",
        )
    assert first is not None
    assert second is not None
    view = service.customer_360(db, customer_id=second)
    assert (view.id, view.requested_id, view.merged_ids) == (first, second, [first, second])
    with pytest.raises(NotFound):
        service.customer_360(db, customer_id=999_999)


def test_consents_keep_their_history(db: Database) -> None:
    with db.transaction() as session:
        ewa = observe(session, identifiers=[("email", "e@shop.pl")], channel_id=None, source="t")
    assert ewa is not None
    service.set_consents(db, customer_id=ewa, consents={"email": True, "sms": True}, source="form")
    service.set_consents(db, customer_id=ewa, consents={"email": True}, source="form")  # no-op
    view = service.set_consents(db, customer_id=ewa, consents={"sms": False}, source="reply STOP")
    assert [(c.channel, c.granted, c.source) for c in view.current] == [
        ("email", True, "form"),
        ("sms", False, "reply STOP"),
    ]
    assert [(c.channel, c.granted) for c in view.history] == [
        ("email", True),
        ("sms", True),
        ("sms", False),
    ]
    before = service.list_consents(db, customer_id=ewa)
    for consents, source, field in (
        ({"fax": True}, "form", "channel"),
        ({}, "form", "consents"),
        ({"email": False}, " ", "source"),
    ):
        with pytest.raises(ValidationFailed) as caught:
            service.set_consents(db, customer_id=ewa, consents=consents, source=source)
        assert caught.value.field == field
    assert service.list_consents(db, customer_id=ewa) == before


def test_export_holds_everything_about_the_person(db: Database) -> None:
    _shop, (first, second, _other, _anonymous) = seed(db)
    sync(db)
    ewa = service.find_customer(db, kind="email", value=EMAIL)
    service.set_consents(db, customer_id=ewa, consents={"push": True}, source="app")
    data = service.export_customer(db, customer_id=ewa)
    assert data["customer_id"] == ewa
    assert [o["id"] for o in data["orders"]] == [first, second]
    assert data["orders"][0]["shipping_address"]["street"] == STREET
    assert Decimal(data["orders"][0]["total"]) == Decimal("25.00")
    assert [c["channel"] for c in data["consents"]] == ["push"]
    assert {i["kind"] for i in data["identities"]} == {
        "email",
        "phone",
        "marketplace_buyer",
        "loyalty_card",
    }
    assert "jan@firma.pl" not in str(data)


def test_erasure_leaves_no_personal_value_and_revenue_unchanged(db: Database) -> None:
    _shop, (first, second, other, _anonymous) = seed(db)
    sync(db)
    ewa = service.find_customer(db, kind="email", value=EMAIL)
    with db.transaction() as session:
        observe(
            session,
            identifiers=[("email", EMAIL), ("user_id", "ewa-77"), ("anonymous_id", "dev-ewa")],
            channel_id=None,
            source="identify",
            traits={"name": NAME, "city": "Kraków"},
        )
    service.set_consents(db, customer_id=ewa, consents={"email": True}, source="newsletter")
    personal = [
        EMAIL,
        "ewa.kowalska@poczta.pl",
        "601234567",
        BUYER,
        "LC-77",
        "LC77",
        "ewa-77",
        "dev-ewa",
        NAME,
        STREET,
    ]
    assert personal_values_left(db, personal)  # the scan does find them before
    totals = revenue(db)

    erased = erase_customer(db, customer_id=ewa, actor="dpo")

    assert personal_values_left(db, personal) == []
    assert revenue(db) == totals
    assert erased.counts["orders"] == 2
    assert erased.counts["identities"] == 6
    view = service.customer_360(db, customer_id=ewa)
    assert view.erased_at is not None
    assert (view.traits, view.identities) == ({}, [])
    assert [o.id for o in view.orders] == [second, first]  # still this customer's orders
    assert view.revenue == {"EUR": Decimal("64.98")}
    with db.reading() as session:
        log = session.scalars(select(CustomerErasure)).one()
        assert (log.profile_id, log.actor) == (ewa, "dpo")
        assert set(log.counts) >= {"orders", "identities", "consents", "outbox_events", "events"}
        kept = session.get(Order, other)
        assert kept is not None
        assert kept.customer_email == "jan@firma.pl"
        gone = session.get(Order, first)
        assert gone is not None
        assert gone.shipping_address == {"country": "PL"}
    # Running it again changes nothing; consent can no longer be recorded.
    erase_customer(db, customer_id=ewa, actor="dpo")
    assert revenue(db) == totals
    with pytest.raises(Conflict):
        service.set_consents(db, customer_id=ewa, consents={"sms": True}, source="form")
    # The same email later is suppressed (erased stays erased, issue 14); once the
    # suppression is lifted it is a new person.
    with db.transaction() as session:
        again = observe(session, identifiers=[("email", EMAIL)], channel_id=None, source="t")
    assert again is None
    with db.transaction() as session:
        lift(session, kind="email", value=EMAIL, actor="dpo", reason="consented again")
    with db.transaction() as session:
        again = observe(session, identifiers=[("email", EMAIL)], channel_id=None, source="t")
    assert again not in (None, ewa)
