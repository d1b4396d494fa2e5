"""`omnicart webhooks ...`: subscribe the merchant's own systems to events, read each
endpoint's delivery log, replay dead letters, and send once by hand."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from omnicart.cli_support import CliConsole, DatabaseUrl, open_database
from omnicart.kernel.errors import ValidationFailed
from omnicart.webhooks import service
from omnicart.webhooks.delivery import deliver_webhooks
from omnicart.webhooks.model import DEFAULT_MAX_ATTEMPTS

app = typer.Typer(
    no_args_is_help=True,
    help="Outbound webhooks: signed deliveries of order, return, stock and customer events.",
)
console = CliConsole()
errors = CliConsole(stderr=True)
ACTOR = "cli"
SubscriptionId = Annotated[int, typer.Argument(metavar="ID", help="The subscription's id.")]


def _when(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else "-"


@app.command("add")
def add(
    url: Annotated[str, typer.Argument(metavar="URL", help="http(s) URL of the endpoint.")],
    event_types: Annotated[
        str,
        typer.Option(
            "--events", help="Comma-separated: order.*, return.*, stock.*, customer.*, * or types."
        ),
    ],
    description: Annotated[str, typer.Option(help="A note for people.")] = "",
    max_attempts: Annotated[
        int, typer.Option(help="Attempts before a delivery is dead-lettered.")
    ] = DEFAULT_MAX_ATTEMPTS,
    start: Annotated[
        str, typer.Option(help="now, beginning, or a next_cursor of GET /v1/events.")
    ] = "now",
    database_url: DatabaseUrl = None,
) -> None:
    """Subscribe URL to events and print its signing secret: the only time it is shown."""
    patterns = [p.strip() for p in event_types.split(",") if p.strip()]
    with open_database(database_url) as db:
        made = service.create_subscription(
            db,
            url=url,
            event_types=patterns,
            description=description,
            max_attempts=max_attempts,
            start=start,
            actor=ACTOR,
        )
    view = made.subscription
    errors.print(
        f"created webhook subscription {view.id} for {escape(view.url)} "
        f"({', '.join(view.event_types)}); store this secret now, it is not shown again:",
        style="green",
        highlight=False,
    )
    # Plain stdout so that `$(omnicart webhooks add ...)` captures exactly the secret.
    typer.echo(made.secret)


@app.command("list")
def list_(database_url: DatabaseUrl = None) -> None:
    """Every subscription (never a secret), with its waiting and dead deliveries."""
    table = Table("id", "url", "events", "enabled", "pending", "dead", "max attempts")
    with open_database(database_url) as db:
        views = service.list_subscriptions(db, limit=10_000)
    for view in views:
        table.add_row(
            str(view.id),
            escape(view.url),
            ",".join(view.event_types),
            "yes" if view.enabled else "no",
            str(view.pending),
            str(view.dead),
            str(view.max_attempts),
        )
    console.print(table)


@app.command("deliveries")
def deliveries(
    subscription_id: SubscriptionId,
    state: Annotated[str | None, typer.Option(help="pending, delivered or dead.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many.")] = 100,
    database_url: DatabaseUrl = None,
) -> None:
    """The endpoint's delivery log, in event order: state, attempts, last answer."""
    table = Table(
        "id",
        "seq",
        "webhook-id",
        "event",
        "state",
        "attempts",
        "last status",
        "last error",
        "next attempt",
    )
    with open_database(database_url) as db:
        views = service.list_deliveries(
            db, subscription_id=subscription_id, state=state, limit=limit
        )
    for view in views:
        table.add_row(
            str(view.id),
            str(view.seq),
            view.message_id,
            view.event_type,
            view.state,
            str(view.attempts),
            str(view.last_status) if view.last_status is not None else "-",
            escape(view.last_error or "-"),
            _when(view.next_attempt_at),
        )
    console.print(table)


@app.command("replay")
def replay(
    subscription_id: SubscriptionId,
    delivery_id: Annotated[
        int | None, typer.Option("--delivery", help="Replay this delivery.")
    ] = None,
    dead: Annotated[bool, typer.Option("--dead", help="Replay every dead letter.")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Send a delivery, or every dead letter, again (same webhook-id, fresh attempts)."""
    if (delivery_id is None) == (not dead):
        raise ValidationFailed("give either --delivery N or --dead", field="delivery_id")
    with open_database(database_url) as db:
        if delivery_id is not None:
            service.replay_delivery(db, subscription_id=subscription_id, delivery_id=delivery_id)
            console.print(f"replayed delivery {delivery_id} of subscription {subscription_id}")
            return
        count = service.replay_dead(db, subscription_id=subscription_id)
    console.print(f"replayed {count} dead letters of subscription {subscription_id}")


@app.command("deliver")
def deliver(database_url: DatabaseUrl = None) -> None:
    """One round: queue new events, send what is due (the server does this by itself)."""
    with open_database(database_url) as db:
        done = deliver_webhooks(db)
    console.print(
        f"queued {done.queued}, delivered {done.delivered}, retrying {done.retrying}, "
        f"dead-lettered {done.dead}"
    )


def _enable(subscription_id: int, *, enabled: bool, database_url: str | None) -> None:
    with open_database(database_url) as db:
        service.change_subscription(db, subscription_id=subscription_id, enabled=enabled)
    console.print(f"{'enabled' if enabled else 'disabled'} subscription {subscription_id}")


@app.command("disable")
def disable(subscription_id: SubscriptionId, database_url: DatabaseUrl = None) -> None:
    """Pause a subscription: nothing is queued or sent until it is enabled."""
    _enable(subscription_id, enabled=False, database_url=database_url)


@app.command("enable")
def enable(subscription_id: SubscriptionId, database_url: DatabaseUrl = None) -> None:
    """Carry on sending from where the subscription stopped."""
    _enable(subscription_id, enabled=True, database_url=database_url)


@app.command("remove")
def remove(subscription_id: SubscriptionId, database_url: DatabaseUrl = None) -> None:
    """Delete a subscription with its queue and delivery log."""
    with open_database(database_url) as db:
        service.delete_subscription(db, subscription_id=subscription_id)
    console.print(f"removed subscription {subscription_id}")


@app.command("rotate-secret")
def rotate_secret(
    subscription_id: SubscriptionId,
    keep_previous: Annotated[
        int,
        typer.Option(
            "--keep-previous-seconds",
            min=0,
            max=7 * 86400,
            help="How long the old secret keeps signing beside the new one (0: stop it now).",
        ),
    ] = 86400,
    database_url: DatabaseUrl = None,
) -> None:
    """Make a new signing secret and print it: the only time it is shown."""
    with open_database(database_url) as db:
        rotated = service.rotate_secret(
            db, subscription_id=subscription_id, keep_previous=timedelta(seconds=keep_previous)
        )
    until = _when(rotated.previous_secret_until)
    errors.print(
        f"new secret for subscription {subscription_id} (the old one signs too until "
        f"{until}); store it now, it is not shown again:",
        style="green",
        highlight=False,
    )
    typer.echo(rotated.secret)
