"""The rules of a support case: where contact happens, who writes, how a case moves.

Pure functions over plain values; the services apply them in transactions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from omnicart.kernel.errors import Conflict, ValidationFailed

CONTACT_CHANNELS: Final = ("chat", "email", "phone", "whatsapp", "in_store")
DIRECTIONS: Final = ("in", "out", "note")  # from the customer, to them, staff only
OPEN: Final = "open"
PENDING: Final = "pending"  # waiting on the customer
CLOSED: Final = "closed"
STATUSES: Final = (OPEN, PENDING, CLOSED)
# A closed case stays closed: the customer's next contact opens a new one.
TRANSITIONS: Final[Mapping[str, frozenset[str]]] = {
    OPEN: frozenset({PENDING, CLOSED}),
    PENDING: frozenset({OPEN, CLOSED}),
    CLOSED: frozenset(),
}
MAX_BODY: Final = 20_000
MAX_SUMMARY: Final = 4_000
MAX_NAME: Final = 120
MAX_SUBJECT: Final = 200


def check_channel(channel: str, *, where: str = "channel") -> str:
    """One of the contact channels."""
    if channel not in CONTACT_CHANNELS:
        raise ValidationFailed(
            f"{channel!r} is not a contact channel; use one of {', '.join(CONTACT_CHANNELS)}",
            field=where,
        )
    return channel


def check_direction(direction: str) -> str:
    """in, out or note."""
    if direction not in DIRECTIONS:
        raise ValidationFailed(
            f"{direction!r} is not a direction; use one of {', '.join(DIRECTIONS)}",
            field="direction",
        )
    return direction


def check_text(value: str, *, where: str, most: int, required: bool = True) -> str:
    """Trimmed text of at most `most` characters (not empty when required)."""
    trimmed = value.strip()
    if required and not trimmed:
        raise ValidationFailed(f"{where} must not be empty", field=where)
    if len(trimmed) > most:
        raise ValidationFailed(f"{where} must be at most {most:,} characters", field=where)
    return trimmed


def author_of(direction: str, author: str | None, *, actor: str) -> str:
    """Who wrote it: a customer's message defaults to "customer", staff's to the caller."""
    given = check_text(author or "", where="author", most=MAX_NAME, required=False)
    if given:
        return given
    return "customer" if direction == "in" else actor[:MAX_NAME]


def check_transition(current: str, target: str, *, conversation_id: int) -> None:
    """Raise Conflict unless a case in `current` may become `target`."""
    if target not in TRANSITIONS:
        raise ValidationFailed(
            f"{target!r} is not a status; use one of {', '.join(STATUSES)}", field="status"
        )
    if target not in TRANSITIONS[current]:
        may = ", ".join(sorted(TRANSITIONS[current])) or "nothing (it is closed)"
        raise Conflict(
            f"conversation {conversation_id} is {current} and cannot become {target}; "
            f"it may become {may}",
            field="status",
            status_now=current,
        )


def status_after_message(current: str, direction: str) -> str:
    """A customer's message reopens a case waiting on them; a reply leaves it waiting."""
    if current == CLOSED:
        return CLOSED
    if direction == "in":
        return OPEN
    if direction == "out":
        return PENDING
    return current


def check_writable(status: str, *, conversation_id: int) -> None:
    """Raise Conflict when the case is closed (a new contact opens a new case)."""
    if status == CLOSED:
        raise Conflict(
            f"conversation {conversation_id} is closed; the customer's next contact "
            "opens a new one (POST /v1/conversations)",
            field="conversation_id",
            status_now=status,
        )
