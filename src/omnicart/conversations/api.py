"""HTTP routes for support conversations: parse, call the service, serialise."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from omnicart.api.access import Caller, guard
from omnicart.api.deps import DbDep
from omnicart.api.params import IdPath
from omnicart.auth.access import access
from omnicart.conversations import service
from omnicart.conversations.schemas import (
    ContactIn,
    ConversationOut,
    HandoverIn,
    MessageIn,
    StatusIn,
)

router = APIRouter(tags=["conversations"])


@router.post(
    "/conversations",
    status_code=status.HTTP_201_CREATED,
    responses={200: {"model": ConversationOut, "description": "The open case, continued"}},
)
@guard(access("customers:write", "staff"))
def start_conversation(
    body: ContactIn, db: DbDep, principal: Caller, response: Response
) -> ConversationOut:
    """A contact from a customer: continues their open case (200) or opens one (201)."""
    view = service.start_conversation(
        db,
        contact=service.Contact(
            identifiers=body.customer.pairs(),
            channel=body.channel,
            body=body.body,
            direction=body.direction,
            author=body.author,
            subject=body.subject,
            channel_id=body.channel_id,
            traits={"name": body.name} if body.name else {},
        ),
        actor=principal.actor,
    )
    if view.continued:
        response.status_code = status.HTTP_200_OK
    return ConversationOut.model_validate(view)


@router.get("/conversations/{conversation_id}")
@guard(access("customers:read", "staff"))
def get_conversation(conversation_id: IdPath, db: DbDep, principal: Caller) -> ConversationOut:
    """A case with every message and handover, whichever channel they came through."""
    return ConversationOut.model_validate(
        service.get_conversation(db, conversation_id=conversation_id)
    )


@router.post("/conversations/{conversation_id}/messages", status_code=status.HTTP_201_CREATED)
@guard(access("customers:write", "staff"))
def add_message(
    conversation_id: IdPath, body: MessageIn, db: DbDep, principal: Caller
) -> ConversationOut:
    """A message on a case that is not closed."""
    view = service.add_message(
        db,
        conversation_id=conversation_id,
        channel=body.channel,
        body=body.body,
        direction=body.direction,
        author=body.author,
        actor=principal.actor,
    )
    return ConversationOut.model_validate(view)


@router.post("/conversations/{conversation_id}/handover")
@guard(access("customers:write", "staff"))
def hand_over(
    conversation_id: IdPath, body: HandoverIn, db: DbDep, principal: Caller
) -> ConversationOut:
    """Pass the case to another channel and/or person, with a summary for them."""
    view = service.hand_over(
        db,
        conversation_id=conversation_id,
        to_channel=body.to_channel,
        to_assignee=body.to_assignee,
        summary=body.summary,
        actor=principal.actor,
    )
    return ConversationOut.model_validate(view)


@router.post("/conversations/{conversation_id}/status")
@guard(access("customers:write", "staff"))
def set_status(
    conversation_id: IdPath, body: StatusIn, db: DbDep, principal: Caller
) -> ConversationOut:
    """Mark the case pending, open again, or closed (a closed case stays closed)."""
    view = service.set_status(
        db, conversation_id=conversation_id, status=body.status, actor=principal.actor
    )
    return ConversationOut.model_validate(view)


@router.get("/customers/{customer_id}/conversations")
@guard(access("customers:read", "staff"))
def customer_conversations(
    customer_id: IdPath, db: DbDep, principal: Caller
) -> list[ConversationOut]:
    """Every case of the customer and of the profiles merged into theirs, newest first."""
    views = service.customer_conversations(db, profile_id=customer_id)
    return [ConversationOut.model_validate(view) for view in views]
