"""HTTP routes for outbound webhooks: parse, call the service, serialise. Admin keys only:
a subscription sends the merchant's orders, stock and customers to a URL of its choosing."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from omnicart.api.access import Caller, guard
from omnicart.api.deps import DbDep
from omnicart.api.pagination import Cursor, Limit, Page, decode_cursor, next_cursor
from omnicart.api.params import IdPath
from omnicart.auth.access import access
from omnicart.webhooks import service
from omnicart.webhooks.model import EVENT_TYPES
from omnicart.webhooks.schemas import (
    DeliveryOut,
    EventTypeOut,
    ReplayedOut,
    RotateIn,
    SecretOut,
    State,
    SubscriptionChange,
    SubscriptionCreated,
    SubscriptionIn,
    SubscriptionOut,
)

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
READ = access("webhooks:read")
WRITE = access("webhooks:write")


@router.get("/event-types")
@guard(READ)
def list_event_types(db: DbDep, principal: Caller) -> list[EventTypeOut]:
    """Every event type a subscription can name, with what it means."""
    return [EventTypeOut(type=name, description=text) for name, text in EVENT_TYPES.items()]


@router.post("/subscriptions", status_code=status.HTTP_201_CREATED)
@guard(WRITE)
def create_subscription(body: SubscriptionIn, db: DbDep, principal: Caller) -> SubscriptionCreated:
    """Subscribe a URL to events; the answer carries the signing secret, the only time it
    is shown. Deliveries are signed as Standard Webhooks says (`webhook-id`,
    `webhook-timestamp`, `webhook-signature`)."""
    made = service.create_subscription(
        db,
        url=body.url,
        event_types=body.event_types,
        description=body.description,
        max_attempts=body.max_attempts,
        start=body.start,
        actor=principal.actor,
    )
    return SubscriptionCreated(**asdict(made.subscription), secret=made.secret)


@router.get("/subscriptions")
@guard(READ)
def list_subscriptions(
    db: DbDep, principal: Caller, cursor: Cursor = None, limit: Limit = 50
) -> Page[SubscriptionOut]:
    """Subscriptions by ascending id; never their secrets."""
    views = service.list_subscriptions(db, after_id=decode_cursor(cursor), limit=limit)
    items = [SubscriptionOut.model_validate(view) for view in views]
    return Page[SubscriptionOut](
        items=items, next_cursor=next_cursor([item.id for item in items], limit)
    )


@router.get("/subscriptions/{subscription_id}")
@guard(READ)
def get_subscription(subscription_id: IdPath, db: DbDep, principal: Caller) -> SubscriptionOut:
    """One subscription, with how many deliveries wait and how many are dead letters."""
    view = service.get_subscription(db, subscription_id=subscription_id)
    return SubscriptionOut.model_validate(view)


@router.patch("/subscriptions/{subscription_id}")
@guard(WRITE)
def change_subscription(
    subscription_id: IdPath, body: SubscriptionChange, db: DbDep, principal: Caller
) -> SubscriptionOut:
    """Change the URL, event types, description or attempts; `enabled: false` pauses it
    (nothing is queued or sent) and `true` carries on where it stopped."""
    given = body.model_fields_set
    view = service.change_subscription(
        db,
        subscription_id=subscription_id,
        url=body.url if "url" in given else None,
        event_types=body.event_types if "event_types" in given else None,
        description=body.description if "description" in given else None,
        max_attempts=body.max_attempts if "max_attempts" in given else None,
        enabled=body.enabled if "enabled" in given else None,
    )
    return SubscriptionOut.model_validate(view)


@router.delete("/subscriptions/{subscription_id}", status_code=status.HTTP_204_NO_CONTENT)
@guard(WRITE)
def delete_subscription(subscription_id: IdPath, db: DbDep, principal: Caller) -> Response:
    """Delete a subscription, its queue and its delivery log."""
    service.delete_subscription(db, subscription_id=subscription_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/subscriptions/{subscription_id}/rotate-secret")
@guard(WRITE)
def rotate_secret(
    subscription_id: IdPath, db: DbDep, principal: Caller, body: RotateIn | None = None
) -> SecretOut:
    """A new signing secret, shown this once. The old one keeps signing beside it (two
    signatures in `webhook-signature`) for `previous_secret_valid_seconds` (a day unless
    told), so the subscriber can switch over without refusing a delivery."""
    keep = (body or RotateIn()).previous_secret_valid_seconds
    rotated = service.rotate_secret(
        db, subscription_id=subscription_id, keep_previous=timedelta(seconds=keep)
    )
    return SecretOut.model_validate(rotated)


@router.get("/subscriptions/{subscription_id}/deliveries")
@guard(READ)
def list_deliveries(
    *,
    subscription_id: IdPath,
    db: DbDep,
    principal: Caller,
    state: Annotated[State | None, Query(description="Only deliveries in this state.")] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[DeliveryOut]:
    """The endpoint's delivery log: its deliveries in queue (event) order, each with every
    attempt (status code, error, duration). `state=dead` lists the dead letters."""
    views = service.list_deliveries(
        db,
        subscription_id=subscription_id,
        state=state,
        after_seq=decode_cursor(cursor),
        limit=limit,
    )
    items = [DeliveryOut.model_validate(view) for view in views]
    return Page[DeliveryOut](
        items=items, next_cursor=next_cursor([item.seq for item in items], limit)
    )


@router.get("/subscriptions/{subscription_id}/deliveries/{delivery_id}")
@guard(READ)
def get_delivery(
    subscription_id: IdPath, delivery_id: IdPath, db: DbDep, principal: Caller
) -> DeliveryOut:
    """One delivery with its attempts."""
    view = service.get_delivery(db, subscription_id=subscription_id, delivery_id=delivery_id)
    return DeliveryOut.model_validate(view)


@router.post("/subscriptions/{subscription_id}/deliveries/{delivery_id}/replay")
@guard(WRITE)
def replay_delivery(
    subscription_id: IdPath, delivery_id: IdPath, db: DbDep, principal: Caller
) -> DeliveryOut:
    """Send a dead-lettered (or delivered) delivery again, same `webhook-id`, with a fresh
    set of attempts, from its own place in the queue; `409` while it is still pending."""
    view = service.replay_delivery(db, subscription_id=subscription_id, delivery_id=delivery_id)
    return DeliveryOut.model_validate(view)


@router.post("/subscriptions/{subscription_id}/replay-dead")
@guard(WRITE)
def replay_dead(subscription_id: IdPath, db: DbDep, principal: Caller) -> ReplayedOut:
    """Send every dead letter of the subscription again, in queue order."""
    return ReplayedOut(replayed=service.replay_dead(db, subscription_id=subscription_id))
