"""Support cases on SQLite and PostgreSQL: one case continued from chat to phone to the
store with handovers, one thread for merged profiles, refusals that change nothing, and
erasure that keeps the counts."""

from __future__ import annotations

import pytest

from omnicart.conversations import service
from omnicart.conversations.service import Contact
from omnicart.customers.lookup import merged_ids, observe
from omnicart.db.engine import Database
from omnicart.kernel.errors import Conflict, NotFound, ValidationFailed

ANN = "ann.kowalska@poczta.pl"
PHONE = "+48 601 234 567"


def _contact(channel: str, body: str, *ids: tuple[str, str], **kw: str) -> Contact:
    return Contact(identifiers=list(ids), channel=channel, body=body, **kw)


def test_a_case_continues_from_chat_to_phone_to_the_store(db: Database) -> None:
    chat = service.start_conversation(
        db,
        contact=_contact("chat", "My parcel has not arrived", ("email", ANN), subject="Parcel"),
    )
    assert (chat.status, chat.continued, chat.channel, chat.subject) == (
        "open",
        False,
        "chat",
        "Parcel",
    )
    reply = service.add_message(
        db,
        conversation_id=chat.id,
        channel="chat",
        direction="out",
        body="It left the warehouse yesterday, tracking 1Z",
        author="agent:eva",
    )
    assert reply.status == "pending"  # waiting on the customer
    handed = service.hand_over(
        db,
        conversation_id=chat.id,
        to_channel="phone",
        to_assignee="agent:bob",
        summary="Parcel 1Z late; customer wants a call back",
        actor="agent:eva",
    )
    assert (handed.channel, handed.assignee) == ("phone", "agent:bob")

    # She calls: the phone system knows her number and her email; the case continues.
    call = service.start_conversation(
        db,
        contact=_contact(
            "phone", "Called: still nothing arrived", ("phone", PHONE), ("email", ANN)
        ),
    )
    assert (call.id, call.continued, call.status) == (chat.id, True, "open")
    service.hand_over(
        db,
        conversation_id=chat.id,
        to_channel="in_store",
        to_assignee="store:krk",
        summary="Give her a replacement from the store's stock",
        actor="agent:bob",
    )
    visit = service.add_message(
        db,
        conversation_id=chat.id,
        channel="in_store",
        direction="note",
        body="Replacement handed over at the till",
        actor="store:krk",
    )
    assert [(m.channel, m.direction, m.author) for m in visit.messages] == [
        ("chat", "in", "customer"),
        ("chat", "out", "agent:eva"),
        ("phone", "in", "customer"),
        ("in_store", "note", "store:krk"),
    ]
    assert [
        (h.from_channel, h.to_channel, h.from_assignee, h.to_assignee, h.by)
        for h in visit.handovers
    ] == [
        ("chat", "phone", None, "agent:bob", "agent:eva"),
        ("phone", "in_store", "agent:bob", "store:krk", "agent:bob"),
    ]
    assert visit.handovers[1].summary == "Give her a replacement from the store's stock"

    closed = service.set_status(db, conversation_id=chat.id, status="closed")
    assert closed.closed_at is not None
    with pytest.raises(Conflict, match="is closed"):
        service.add_message(db, conversation_id=chat.id, channel="email", body="thanks")
    with pytest.raises(Conflict, match="cannot become open"):
        service.set_status(db, conversation_id=chat.id, status="open")
    after = service.get_conversation(db, conversation_id=chat.id)
    assert (len(after.messages), after.status) == (4, "closed")

    # A later contact opens a new case; the customer's thread holds both.
    later = service.start_conversation(db, contact=_contact("email", "Thank you!", ("email", ANN)))
    assert (later.continued, later.id != chat.id) == (False, True)
    thread = service.customer_conversations(db, profile_id=later.customer_id)
    assert [c.id for c in thread] == [later.id, chat.id]


def test_refused_contacts_change_nothing(db: Database) -> None:
    case = service.start_conversation(db, contact=_contact("chat", "Hello", ("email", ANN)))
    bad = [
        (_contact("fax", "x", ("email", ANN)), ValidationFailed, "channel"),
        (_contact("chat", "   ", ("email", ANN)), ValidationFailed, "body"),
        (_contact("chat", "x", ("email", "nobody@example.com")), ValidationFailed, "customer"),
        (_contact("chat", "x"), ValidationFailed, "customer"),
        (
            _contact("chat", "x", ("email", ANN), direction="sideways"),
            ValidationFailed,
            "direction",
        ),
    ]
    for contact, error, field in bad:
        with pytest.raises(error) as info:
            service.start_conversation(db, contact=contact)
        assert info.value.field == field
    with pytest.raises(ValidationFailed) as same:
        service.hand_over(db, conversation_id=case.id, to_channel="chat", summary="x")
    assert same.value.field == "to_channel"
    with pytest.raises(ValidationFailed) as empty:
        service.hand_over(db, conversation_id=case.id, to_channel="phone", summary=" ")
    assert empty.value.field == "summary"
    with pytest.raises(NotFound):
        service.add_message(db, conversation_id=case.id + 99, channel="chat", body="x")
    after = service.get_conversation(db, conversation_id=case.id)
    assert (len(after.messages), after.handovers, after.channel) == (1, [], "chat")


def test_merged_profiles_show_one_thread_and_erasure_keeps_counts(db: Database) -> None:
    whatsapp = service.start_conversation(
        db, contact=_contact("whatsapp", "Is the red tee back?", ("phone", PHONE))
    )
    email = service.start_conversation(
        db, contact=_contact("email", "Order 7 question", ("email", ANN))
    )
    assert whatsapp.customer_id != email.customer_id
    with db.transaction() as session:  # a login shows both are one person
        survivor = observe(
            session,
            identifiers=[("user_id", "ann-1"), ("email", ANN), ("phone", PHONE)],
            channel_id=None,
            source="login",
        )
        assert survivor is not None
        people = merged_ids(session, survivor)
    assert sorted(people) == sorted({whatsapp.customer_id, email.customer_id})
    for profile_id in people:
        thread = service.customer_conversations(db, profile_id=profile_id)
        assert sorted(c.id for c in thread) == sorted([whatsapp.id, email.id])
    # The next contact continues the case touched last, not a third one.
    chat = service.start_conversation(
        db, contact=_contact("chat", "Any news?", ("user_id", "ann-1"))
    )
    assert (chat.id, chat.continued) == (email.id, True)

    with db.transaction() as session:
        assert service.erase_for(session, profile_ids=people) == 3
        assert service.erase_for(session, profile_ids=people) == 0
    erased = service.customer_conversations(db, profile_id=survivor)
    messages = [m for case in erased for m in case.messages]
    assert len(messages) == 3
    assert {(m.body, m.author, m.erased) for m in messages} == {("", "", True)}
    assert {case.subject for case in erased} == {""}
