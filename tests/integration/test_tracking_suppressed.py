"""Events of an erased person, arriving after the erasure: every call type naming one of
their identifiers (userId, anonymousId, an alias's previousId, an e-mail, phone or loyalty
card in traits or context.traits) is dropped, or stored stripped, and counted; events of
anyone else are stored as sent; identity resolution never links the person again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from rudderstack.analytics import Client as RudderClient
from segment.analytics.client import Client as SegmentClient
from typer.testing import CliRunner

from omnicart.customers.erasure import erase_customer
from omnicart.customers.lookup import observe
from omnicart.customers.tables import CustomerIdentity
from omnicart.db.engine import Database
from omnicart.tracking.cli import events_app as cli
from omnicart.tracking.identities import resolve_identities_once
from omnicart.tracking.ingest import Ingestor
from omnicart.tracking.store import open_store
from omnicart.tracking.suppressed import SuppressedMode
from tests.tracking_support import add_source, served_merchant

EWA = [
    ("user_id", "ewa-5511"),
    ("anonymous_id", "dev-ewa-5511"),
    ("email", "ewa.nowak@poczta.pl"),
    ("phone", "+48 601 234 567"),
    ("loyalty_card", "LC-5511-2233"),
]
# Every spelling of her values a scan of the store's bytes must not find.
EWA_VALUES = (
    "ewa-5511",
    "dev-ewa-5511",
    "ewa.nowak@poczta.pl",
    "601 234 567",
    "601234567",
    "LC-5511-2233",
    "LC55112233",
    "Ewa Nowak",
    "Lipowa 5",
)


def _erase_ewa(db: Database) -> int:
    """A profile holding Ewa's identifiers, erased (so they are suppressed)."""
    with db.transaction() as session:
        profile = observe(session, identifiers=EWA, channel_id=None, source="identify")
    assert profile is not None
    erase_customer(db, customer_id=profile, actor="dpo")
    return profile


def ewa_messages() -> list[dict[str, Any]]:
    """Ewa's app, offline through the erasure, sends what it queued: one of each call
    type, each naming her by a different identifier; and Bob's event."""
    return [
        {
            "type": "identify",
            "userId": "ewa-new-login",  # a new login, but her e-mail
            "messageId": "e-identify",
            "traits": {"email": "Ewa.Nowak@poczta.pl", "name": "Ewa Nowak", "plan": "gold"},
        },
        {  # RudderStack's shape: the traits in context.traits, her card in any spelling
            "type": "identify",
            "anonymousId": "dev-new",
            "messageId": "e-identify-rs",
            "context": {"traits": {"loyaltyCard": "lc 5511 2233"}, "ip": "10.1.2.3"},
        },
        {
            "type": "track",
            "userId": "ewa-5511",
            "event": "Order Completed",
            "messageId": "e-track",
            "properties": {
                "order_id": "W-9",
                "revenue": 25.5,
                "currency": "EUR",
                "address": "Lipowa 5",
            },
        },
        {"type": "page", "anonymousId": "dev-ewa-5511", "name": "Cart", "messageId": "e-page"},
        {
            "type": "screen",
            "anonymousId": "dev-other",
            "name": "Home",
            "messageId": "e-screen",
            "context": {"traits": {"phone": "601-234-567"}},
        },
        {
            "type": "group",
            "userId": "ewa-5511",
            "groupId": "acme",
            "messageId": "e-group",
            "traits": {"seats": 3},
        },
        {
            "type": "alias",
            "userId": "ewa-new-login-2",
            "previousId": "dev-ewa-5511",
            "messageId": "e-alias",
        },
        {
            "type": "identify",
            "userId": "bob-1",
            "messageId": "bob-identify",
            "traits": {"email": "bob.kos@poczta.pl"},
        },
    ]


EWA_EVENTS = 7


def _files_hold(root: Path, value: str) -> list[str]:
    needle = value.lower().encode()
    return [str(p) for p in root.rglob("*") if p.is_file() and needle in p.read_bytes().lower()]


def _send(db: Database, events: Path, *, mode: SuppressedMode, split: bool) -> None:
    _, _, key = add_source(db, "app")
    ingestor = Ingestor(db=db, events_path=events, flush=False, suppressed_events=mode)
    try:
        if split:  # one call per message, as /v1/identify, /v1/track …
            for message in ewa_messages():
                kind = str(message.pop("type"))
                ingestor.accept_sync(body=orjson.dumps(message), kind=kind, write_key=key)
        else:
            body = orjson.dumps({"batch": ewa_messages()})
            ingestor.accept_sync(body=body, kind="batch", write_key=key)
    finally:
        ingestor.stop()


@pytest.mark.parametrize("split", [False, True])
def test_an_erased_persons_events_are_dropped_and_counted(
    sqlite_db: Database, tmp_path: Path, split: bool
) -> None:
    _erase_ewa(sqlite_db)
    root = tmp_path / "store"
    events = root / "events.duckdb"

    _send(sqlite_db, events, mode="drop", split=split)

    with open_store(events) as store:
        stored = {e.message_id: e for e in store.find()}
        counts = store.suppressed_counts()
    assert sorted(stored) == ["bob-identify"]
    assert stored["bob-identify"].traits == {"email": "bob.kos@poczta.pl"}  # others as sent
    assert [(c.dropped, c.stripped) for c in counts] == [(EWA_EVENTS, 0)]
    for value in EWA_VALUES:
        assert _files_hold(root, value) == [], value
    url = sqlite_db.engine.url.render_as_string(hide_password=False)
    shown = CliRunner().invoke(
        cli,
        ["count", "--suppressed", "--events-path", str(events), "--database-url", url],
        env={"COLUMNS": "120"},
    )
    assert shown.exit_code == 0, shown.output
    [line] = [x for x in shown.stdout.splitlines() if str(counts[0].day) in x]
    assert [cell.strip() for cell in line.split("│")[1:5]] == [
        str(counts[0].day),
        str(counts[0].source_id),
        str(EWA_EVENTS),
        "0",
    ]


def test_an_erased_persons_events_can_be_kept_stripped(sqlite_db: Database, tmp_path: Path) -> None:
    _erase_ewa(sqlite_db)
    root = tmp_path / "store"
    events = root / "events.duckdb"

    _send(sqlite_db, events, mode="strip", split=False)

    with open_store(events) as store:
        stored = {e.message_id: e for e in store.find()}
        counts = store.suppressed_counts()
    assert len(stored) == EWA_EVENTS + 1
    assert [(c.dropped, c.stripped) for c in counts] == [(0, EWA_EVENTS)]
    for value in (*EWA_VALUES, "ewa-new-login", "dev-new", "dev-other", "10.1.2.3"):
        assert _files_hold(root, value) == [], value
    track = stored["e-track"]
    pseudonym = track.user_id
    assert pseudonym is not None
    assert pseudonym.startswith("suppressed-")
    # What the figures need stays: the event, its amount and currency, its time.
    assert track.event == "Order Completed"
    assert track.properties == {"order_id": "W-9", "revenue": 25.5, "currency": "EUR"}
    assert stored["e-identify"].traits == {"plan": "gold"}
    assert stored["e-identify-rs"].context == {"traits": {}}
    assert stored["e-alias"].previous_id == stored["e-alias"].user_id
    assert stored["e-alias"].user_id is not None
    assert stored["e-alias"].user_id.startswith("suppressed-")
    # Named by the same identifier (her userId), her events share a pseudonym.
    assert stored["e-group"].user_id == pseudonym
    assert stored["bob-identify"].user_id == "bob-1"


def test_identity_resolution_does_not_link_an_erased_persons_stored_events(
    sqlite_db: Database, tmp_path: Path
) -> None:
    """Events stored before the erasure, resolved after it (resolution lags behind the
    store): none of them brings an identity of the person back."""
    events = tmp_path / "events.duckdb"
    _, _, key = add_source(sqlite_db, "app")
    ingestor = Ingestor(db=sqlite_db, events_path=events, flush=False)
    try:
        ingestor.accept_sync(
            body=orjson.dumps({"batch": ewa_messages()}), kind="batch", write_key=key
        )
    finally:
        ingestor.stop()
    _erase_ewa(sqlite_db)

    with open_store(events) as store:
        assert store.count() == EWA_EVENTS + 1  # stored before the erasure
        resolve_identities_once(store, db=sqlite_db)

    with sqlite_db.reading() as session:
        values = sorted(session.query(CustomerIdentity.kind, CustomerIdentity.value).all())
    assert values == [("email", "bob.kos@poczta.pl"), ("user_id", "bob-1")]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["drop", "strip"])
def test_queued_events_sent_with_segment_and_rudderstack_clients_after_an_erasure(
    tmp_path: Path, mode: str
) -> None:
    """The person's app was offline through the erasure; it now sends what it queued,
    with Segment's and RudderStack's own libraries, to a running server."""
    events_path = tmp_path / "store" / "events.duckdb"
    errors: list[Exception] = []
    with served_merchant(
        tmp_path,
        events_path=events_path,
        env={"OMNICART_SUPPRESSED_EVENTS": mode},
        prepare=_erase_ewa,
    ) as served:
        segment = SegmentClient(
            served.write_key,
            host=served.host,
            sync_mode=True,
            on_error=lambda error, _batch: errors.append(error),
        )
        segment.identify("ewa-5511", {"email": "ewa.nowak@poczta.pl"}, message_id="s-1")
        segment.track(
            "ewa-5511",
            "Order Completed",
            {"order_id": "W-9", "revenue": 25.5, "currency": "EUR"},
            message_id="s-2",
        )
        segment.page(anonymous_id="dev-ewa-5511", name="Cart", message_id="s-3")
        segment.screen(
            user_id="ewa-new",
            name="Home",
            context={"traits": {"phone": "601 234 567", "name": "Ewa Nowak"}},
            message_id="s-4",
        )
        segment.group("ewa-5511", "acme", {"seats": 3}, message_id="s-5")
        segment.alias("dev-ewa-5511", "ewa-new-2", message_id="s-6")
        segment.track("bob-1", "Signed Up", {"via": "web"}, message_id="s-7")
        rudder = RudderClient(
            served.write_key, host=served.host, on_error=lambda error, _batch: errors.append(error)
        )
        rudder.identify(
            "ewa-new-3",
            {"loyaltyCard": "LC-5511-2233", "plan": "gold"},
            anonymous_id="dev-new",
            message_id="r-1",
        )
        rudder.track("ewa-5511", "Signed Up", {"via": "app"}, message_id="r-2")
        rudder.flush()
        rudder.join()
    assert errors == []
    with open_store(events_path) as store:
        stored = {e.message_id: e for e in store.find()}
        counts = [(c.dropped, c.stripped) for c in store.suppressed_counts()]
    ewas = ["r-1", "r-2", "s-1", "s-2", "s-3", "s-4", "s-5", "s-6"]
    if mode == "drop":
        assert sorted(stored) == ["s-7"]
        assert counts == [(len(ewas), 0)]
    else:
        assert sorted(stored) == sorted([*ewas, "s-7"])
        assert counts == [(0, len(ewas))]
        assert stored["s-2"].properties == {"order_id": "W-9", "revenue": 25.5, "currency": "EUR"}
        assert stored["r-1"].context is not None
        assert stored["r-1"].context["traits"] == {"plan": "gold"}
        for message_id in ewas:
            ids = {stored[message_id].user_id, stored[message_id].anonymous_id} - {None}
            assert all(i.startswith("suppressed-") for i in ids if i), message_id
    assert stored["s-7"].user_id == "bob-1"
    for value in (*EWA_VALUES, "ewa-new", "dev-new"):
        assert _files_hold(events_path.parent, value) == [], value
