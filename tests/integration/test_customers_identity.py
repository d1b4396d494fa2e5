"""Identity resolution on a real database (SQLite and PostgreSQL): profiles are created,
attached and merged as the rules say; merges are recorded with their reason; later
observations of merged identifiers land on the survivor; shared devices and blocked
values fuse nobody."""

from __future__ import annotations

from sqlalchemy import func, select

from omnicart.customers.lookup import merged_ids, observe, survivor_of
from omnicart.customers.tables import CustomerIdentity, CustomerMerge, CustomerProfile
from omnicart.db.engine import Database
from tests.support import add_channel


def _channels(db: Database) -> tuple[int, int]:
    with db.transaction() as session:
        return add_channel(session, "web"), add_channel(session, "till", kind="pos")


def _observe(db: Database, channel_id: int | None, *identifiers: tuple[str, str]) -> int | None:
    with db.transaction() as session:
        return observe(session, identifiers=identifiers, channel_id=channel_id, source="test")


def _profiles(db: Database) -> int:
    with db.reading() as session:
        return session.scalar(select(func.count()).select_from(CustomerProfile)) or 0


def _identities(db: Database, profile_id: int) -> set[tuple[str, str]]:
    with db.reading() as session:
        rows = session.execute(
            select(CustomerIdentity.kind, CustomerIdentity.value).where(
                CustomerIdentity.profile_id == profile_id
            )
        )
        return {(kind, value) for kind, value in rows}


def test_a_new_person_and_the_same_again(db: Database) -> None:
    web, _till = _channels(db)
    first = _observe(db, web, ("email", " Ola@Shop.PL "), ("phone", "601 234 567"))
    again = _observe(db, web, ("phone", "+48601234567"), ("email", "ola@shop.pl"))
    assert first is not None
    assert again == first
    assert _profiles(db) == 1
    assert _identities(db, first) == {("email", "ola@shop.pl"), ("phone", "+48601234567")}


def test_login_after_anonymous_browsing_merges_and_later_events_follow(db: Database) -> None:
    web, _till = _channels(db)
    browsing = _observe(db, web, ("anonymous_id", "dev-1"))
    member = _observe(db, web, ("user_id", "u-1"), ("email", "ola@shop.pl"))
    assert browsing is not None
    assert member is not None
    assert browsing != member
    merged = _observe(db, web, ("user_id", "u-1"), ("anonymous_id", "dev-1"))
    assert merged == browsing  # the oldest profile survives
    with db.reading() as session:
        assert survivor_of(session, member) == browsing
        assert merged_ids(session, member) == [browsing, member]
        merge = session.scalars(select(CustomerMerge)).one()
        assert (merge.survivor_id, merge.merged_id, merge.source) == (browsing, member, "test")
        assert merge.reason == (
            f"seen together: anonymous_id of profile {browsing} and user_id of profile {member}"
        )
    assert _identities(db, browsing) == {
        ("anonymous_id", "dev-1"),
        ("user_id", "u-1"),
        ("email", "ola@shop.pl"),
    }
    # The merged profile's email now resolves to the survivor.
    assert _observe(db, web, ("email", "OLA@shop.pl")) == browsing
    assert _profiles(db) == 2


def test_alias_attaches_the_user_id_to_the_anonymous_profile(db: Database) -> None:
    web, _till = _channels(db)
    anonymous = _observe(db, web, ("anonymous_id", "dev-9"))
    assert _observe(db, web, ("anonymous_id", "dev-9"), ("user_id", "u-9")) == anonymous
    assert anonymous is not None
    assert _identities(db, anonymous) == {("anonymous_id", "dev-9"), ("user_id", "u-9")}


def test_a_shared_web_tablet_does_not_fuse_two_users(db: Database) -> None:
    web, _till = _channels(db)
    anna = _observe(db, web, ("user_id", "anna"), ("anonymous_id", "tablet"))
    bob = _observe(db, web, ("user_id", "bob"), ("anonymous_id", "tablet"))
    assert anna is not None
    assert bob is not None
    assert anna != bob
    assert _identities(db, bob) == {("user_id", "bob")}
    assert _identities(db, anna) == {("user_id", "anna"), ("anonymous_id", "tablet")}
    with db.reading() as session:
        assert session.scalar(select(func.count()).select_from(CustomerMerge)) == 0


def test_device_ids_at_a_till_are_ignored(db: Database) -> None:
    _web, till = _channels(db)
    anna = _observe(db, till, ("email", "anna@shop.pl"), ("anonymous_id", "till-tablet"))
    bob = _observe(db, till, ("email", "bob@shop.pl"), ("anonymous_id", "till-tablet"))
    assert anna != bob
    assert _observe(db, till, ("anonymous_id", "till-tablet")) is None


def test_blocked_values_create_nothing(db: Database) -> None:
    web, _till = _channels(db)
    for identifiers in (
        (("user_id", "anonymous"),),
        (("user_id", "null"), ("email", "test@shop.pl")),
        (("anonymous_id", "0"), ("phone", "-1")),
        (("email", "someone@example.com"),),
    ):
        assert _observe(db, web, *identifiers) is None
    assert _profiles(db) == 0
    # Two strangers sending the same placeholder stay two people.
    one = _observe(db, web, ("user_id", "null"), ("email", "one@shop.pl"))
    two = _observe(db, web, ("user_id", "null"), ("email", "two@shop.pl"))
    assert one != two


def test_a_fourth_email_is_dropped_not_merged(db: Database) -> None:
    web, _till = _channels(db)
    person = _observe(db, web, ("user_id", "u-1"), ("email", "a@shop.pl"))
    for email in ("b@shop.pl", "c@shop.pl", "d@shop.pl"):
        assert _observe(db, web, ("user_id", "u-1"), ("email", email)) == person
    assert person is not None
    emails = {v for k, v in _identities(db, person) if k == "email"}
    assert emails == {"a@shop.pl", "b@shop.pl", "c@shop.pl"}


def test_loyalty_card_at_a_till_joins_the_web_customer(db: Database) -> None:
    web, till = _channels(db)
    online = _observe(db, web, ("user_id", "u-5"), ("email", "ewa@shop.pl"))
    in_store = _observe(db, till, ("loyalty_card", "LC-0005"))
    assert online != in_store
    # At the till the card is scanned and she gives her email for the receipt.
    joined = _observe(db, till, ("loyalty_card", "lc 0005"), ("email", "ewa@shop.pl"))
    assert joined == online
    with db.reading() as session:
        assert in_store is not None
        assert survivor_of(session, in_store) == online


def test_two_cards_are_two_people_even_with_one_email(db: Database) -> None:
    _web, till = _channels(db)
    first = _observe(db, till, ("loyalty_card", "C1"), ("email", "family@shop.pl"))
    second = _observe(db, till, ("loyalty_card", "C2"), ("email", "family@shop.pl"))
    assert first != second
    assert second is not None
    assert _identities(db, second) == {("loyalty_card", "C2")}
