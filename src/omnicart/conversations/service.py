"""Support cases across contact channels: a customer's first contact opens a case, every
later contact (chat, email, phone, WhatsApp, a note at the till) continues it, and staff
hand it over between channels and people with a summary, so nobody asks twice.

The customer is resolved by `customers.lookup.observe`; cases are stored against the
profile they were opened for and read across a person's merged profiles, so two
profiles later found to be one person show one thread.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from omnicart.conversations import model
from omnicart.conversations.tables import (
    Conversation,
    ConversationHandover,
    ConversationMessage,
)
from omnicart.customers.lookup import merged_ids, observe, survivor_of
from omnicart.db.engine import Database
from omnicart.db.retry import retrying
from omnicart.kernel.clock import utcnow
from omnicart.kernel.errors import Conflict, NotFound, ValidationFailed

T = TypeVar("T")


def in_transaction(db: Database, work: Callable[[Session], T]) -> T:
    """Run `work` in one transaction, retried on serialisation failures and deadlocks."""

    def attempt() -> T:
        with db.transaction() as session:
            return work(session)

    return retrying(attempt)


@dataclass(frozen=True, slots=True)
class MessageView:
    """A message of a case (body and author are empty once erased)."""

    id: int
    channel: str
    direction: str
    author: str
    body: str
    at: datetime
    erased: bool


@dataclass(frozen=True, slots=True)
class HandoverView:
    """A case passed on: from which channel and person to which, and what they need."""

    id: int
    from_channel: str
    to_channel: str
    from_assignee: str | None
    to_assignee: str | None
    by: str
    summary: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ConversationView:
    """A case with its whole thread; `continued` when a contact joined an open case."""

    id: int
    customer_id: int
    status: str
    subject: str
    channel: str
    assignee: str | None
    opened_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    messages: list[MessageView]
    handovers: list[HandoverView]
    continued: bool = False


@dataclass(frozen=True, slots=True)
class Contact:
    """A customer getting in touch: who they are, where, and what they said."""

    identifiers: Sequence[tuple[str, str]]
    channel: str
    body: str
    direction: str = "in"
    author: str | None = None
    subject: str = ""
    channel_id: int | None = None  # the sales channel it came through, when there is one
    traits: dict[str, str] = field(default_factory=dict)


def _view(session: Session, case: Conversation, *, continued: bool = False) -> ConversationView:
    messages = session.scalars(
        select(ConversationMessage)
        .where(ConversationMessage.conversation_id == case.id)
        .order_by(ConversationMessage.at, ConversationMessage.id)
    )
    handovers = session.scalars(
        select(ConversationHandover)
        .where(ConversationHandover.conversation_id == case.id)
        .order_by(ConversationHandover.at, ConversationHandover.id)
    )
    return ConversationView(
        id=case.id,
        customer_id=case.profile_id,
        status=case.status,
        subject=case.subject,
        channel=case.channel,
        assignee=case.assignee,
        opened_at=case.opened_at,
        updated_at=case.updated_at,
        closed_at=case.closed_at,
        messages=[
            MessageView(
                m.id, m.channel, m.direction, m.author, m.body, m.at, m.erased_at is not None
            )
            for m in messages
        ],
        handovers=[
            HandoverView(
                h.id,
                h.from_channel,
                h.to_channel,
                h.from_assignee,
                h.to_assignee,
                h.by,
                h.summary,
                h.at,
            )
            for h in handovers
        ],
        continued=continued,
    )


def _unclosed(session: Session, profile_ids: Sequence[int]) -> Conversation | None:
    """The customer's case still going (the latest touched, should merges have left two)."""
    return session.scalar(
        select(Conversation)
        .where(Conversation.profile_id.in_(list(profile_ids)), Conversation.status != model.CLOSED)
        .order_by(Conversation.updated_at.desc(), Conversation.id.desc())
        .limit(1)
        .with_for_update()
    )


def _open_case(session: Session, *, profile_id: int, contact: Contact) -> tuple[Conversation, bool]:
    """(the case to write to, whether it was already open)."""
    people = merged_ids(session, profile_id)
    found = _unclosed(session, people)
    if found is not None:
        return found, True
    now = utcnow()
    case = Conversation(
        profile_id=profile_id,
        status=model.OPEN,
        subject=contact.subject,
        channel=contact.channel,
        assignee=None,
        opened_at=now,
        updated_at=now,
    )
    try:
        # The unique index lets one case per customer be unclosed: a contact opening
        # one at the same moment makes this insert fail, and we continue theirs.
        with session.begin_nested():
            session.add(case)
            session.flush()
    except IntegrityError:
        found = _unclosed(session, people)
        if found is None:
            raise Conflict("a concurrent contact failed; retry", field="customer") from None
        return found, True
    return case, False


def _add_message(
    session: Session,
    case: Conversation,
    *,
    channel: str,
    direction: str,
    body: str,
    author: str,
) -> None:
    now = utcnow()
    session.add(
        ConversationMessage(
            conversation_id=case.id,
            channel=channel,
            direction=direction,
            author=author,
            body=body,
            at=now,
        )
    )
    case.status = model.status_after_message(case.status, direction)
    case.updated_at = now
    session.flush()


def start_conversation(
    db: Database, *, contact: Contact, actor: str = "system"
) -> ConversationView:
    """A contact from a customer: continues their open case, or opens one."""
    channel = model.check_channel(contact.channel)
    direction = model.check_direction(contact.direction)
    body = model.check_text(contact.body, where="body", most=model.MAX_BODY)
    author = model.author_of(direction, contact.author, actor=actor)
    subject = model.check_text(
        contact.subject, where="subject", most=model.MAX_SUBJECT, required=False
    )
    if not contact.identifiers:
        raise ValidationFailed("name the customer by at least one identifier", field="customer")

    def work(session: Session) -> ConversationView:
        profile_id = observe(
            session,
            identifiers=contact.identifiers,
            channel_id=contact.channel_id,
            source=f"conversation:{channel}",
            traits=contact.traits or None,
        )
        if profile_id is None:
            raise ValidationFailed(
                "none of the customer's identifiers can be used (blocked or invalid)",
                field="customer",
            )
        checked = Contact(contact.identifiers, channel, body, direction, author, subject)
        case, continued = _open_case(session, profile_id=profile_id, contact=checked)
        if continued and subject and not case.subject:
            case.subject = subject
        _add_message(session, case, channel=channel, direction=direction, body=body, author=author)
        return _view(session, case, continued=continued)

    return in_transaction(db, work)


def _locked(session: Session, conversation_id: int) -> Conversation:
    case = session.scalar(
        select(Conversation).where(Conversation.id == conversation_id).with_for_update()
    )
    if case is None:
        raise NotFound(f"conversation {conversation_id} does not exist", field="conversation_id")
    return case


def add_message(
    db: Database,
    *,
    conversation_id: int,
    channel: str,
    body: str,
    direction: str = "in",
    author: str | None = None,
    actor: str = "system",
) -> ConversationView:
    """A message on a case that is not closed, from whichever channel it came."""
    checked_channel = model.check_channel(channel)
    checked_direction = model.check_direction(direction)
    text = model.check_text(body, where="body", most=model.MAX_BODY)
    who = model.author_of(checked_direction, author, actor=actor)

    def work(session: Session) -> ConversationView:
        case = _locked(session, conversation_id)
        model.check_writable(case.status, conversation_id=case.id)
        _add_message(
            session,
            case,
            channel=checked_channel,
            direction=checked_direction,
            body=text,
            author=who,
        )
        return _view(session, case)

    return in_transaction(db, work)


def hand_over(
    db: Database,
    *,
    conversation_id: int,
    to_channel: str,
    summary: str,
    to_assignee: str | None = None,
    actor: str = "system",
) -> ConversationView:
    """Pass a case to another channel and/or person, with a summary for them."""
    channel = model.check_channel(to_channel, where="to_channel")
    text = model.check_text(summary, where="summary", most=model.MAX_SUMMARY)
    assignee = (
        model.check_text(to_assignee, where="to_assignee", most=model.MAX_NAME, required=False)
        or None
        if to_assignee is not None
        else None
    )

    def work(session: Session) -> ConversationView:
        case = _locked(session, conversation_id)
        model.check_writable(case.status, conversation_id=case.id)
        if channel == case.channel and assignee == case.assignee:
            raise ValidationFailed(
                f"conversation {case.id} is already with {assignee or 'nobody'} on {channel}",
                field="to_channel",
            )
        now = utcnow()
        session.add(
            ConversationHandover(
                conversation_id=case.id,
                from_channel=case.channel,
                to_channel=channel,
                from_assignee=case.assignee,
                to_assignee=assignee,
                by=actor[: model.MAX_NAME],
                summary=text,
                at=now,
            )
        )
        case.channel = channel
        case.assignee = assignee
        case.updated_at = now
        session.flush()
        return _view(session, case)

    return in_transaction(db, work)


def set_status(
    db: Database, *, conversation_id: int, status: str, actor: str = "system"
) -> ConversationView:
    """Mark a case pending (waiting on the customer), open again, or closed for good."""

    def work(session: Session) -> ConversationView:
        case = _locked(session, conversation_id)
        if case.status == status:
            return _view(session, case)
        model.check_transition(case.status, status, conversation_id=case.id)
        now = utcnow()
        case.status = status
        case.updated_at = now
        if status == model.CLOSED:
            case.closed_at = now
        session.flush()
        return _view(session, case)

    return in_transaction(db, work)


def get_conversation(db: Database, *, conversation_id: int) -> ConversationView:
    """One case with its whole thread."""
    with db.reading() as session:
        case = session.get(Conversation, conversation_id)
        if case is None:
            raise NotFound(
                f"conversation {conversation_id} does not exist", field="conversation_id"
            )
        return _view(session, case)


def conversations_for(session: Session, *, profile_ids: Sequence[int]) -> list[ConversationView]:
    """Every case of these profiles, newest first, each with its whole thread (pass
    `customers.lookup.merged_ids(...)` for one person)."""
    cases = session.scalars(
        select(Conversation)
        .where(Conversation.profile_id.in_(list(profile_ids)))
        .order_by(Conversation.opened_at.desc(), Conversation.id.desc())
    )
    return [_view(session, case) for case in cases]


def customer_conversations(db: Database, *, profile_id: int) -> list[ConversationView]:
    """A customer's cases across their merged profiles."""
    with db.reading() as session:
        return conversations_for(
            session, profile_ids=merged_ids(session, survivor_of(session, profile_id))
        )


def erase_for(session: Session, *, profile_ids: Sequence[int]) -> int:
    """Blank what these profiles' cases say (bodies, authors, summaries, subjects) while
    keeping how many messages there were and when; returns the messages erased now."""
    ids = list(profile_ids)
    cases = select(Conversation.id).where(Conversation.profile_id.in_(ids)).scalar_subquery()
    now = utcnow()
    erased = session.execute(
        update(ConversationMessage)
        .where(
            ConversationMessage.conversation_id.in_(cases),
            ConversationMessage.erased_at.is_(None),
        )
        .values(body="", author="", erased_at=now)
    )
    session.execute(
        update(ConversationHandover)
        .where(ConversationHandover.conversation_id.in_(cases))
        .values(summary="", by="", from_assignee=None, to_assignee=None)
    )
    session.execute(
        update(Conversation)
        .where(Conversation.profile_id.in_(ids))
        .values(subject="", assignee=None)
    )
    return int(erased.rowcount or 0)  # type: ignore[attr-defined]
