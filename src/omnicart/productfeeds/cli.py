"""`omnicart feeds`: export a channel's product feed, manage its feed tokens and settings."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, TextIO

import typer
from rich.markup import escape
from rich.table import Table

from omnicart.channels.policy import channel_id_for_code
from omnicart.cli_support import CliConsole, DatabaseUrl, open_database
from omnicart.productfeeds import service
from omnicart.productfeeds.model import FeedFormat

app = typer.Typer(
    no_args_is_help=True,
    help="Product feeds for Google Merchant Center and Meta, and the tokens that fetch them.",
)
ChannelCode = Annotated[str, typer.Argument(metavar="CHANNEL", help="The channel's code.")]


@contextlib.contextmanager
def _target(output: Path | None) -> Iterator[TextIO]:
    """stdout, or a file that appears whole: written beside it, then renamed over it, so
    a web server serving the file never hands out half a feed."""
    if output is None:
        yield sys.stdout
        return
    partial = output.with_name(f".{output.name}.{os.getpid()}.partial")
    try:
        with partial.open("w", encoding="utf-8", newline="") as handle:
            yield handle
        partial.replace(output)
    finally:
        partial.unlink(missing_ok=True)


@app.command("export")
def export(
    channel: ChannelCode,
    feed_format: Annotated[
        FeedFormat, typer.Option("--format", help="google-xml, google-tsv or meta-csv.")
    ],
    output: Annotated[
        Path | None, typer.Option(help="Write the feed to this file (default: stdout).")
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Write the channel's feed; the variants it leaves out are listed with the reason."""
    report = service.FeedReport()
    with open_database(database_url) as db:
        with db.reading() as session:
            channel_id = channel_id_for_code(session, code=channel)
        chunks = service.export_feed(db, channel_id=channel_id, fmt=feed_format, report=report)
        with _target(output) as handle:
            for chunk in chunks:
                handle.write(chunk)
    console = CliConsole(stderr=True)
    where = f" to {escape(str(output))}" if output else ""
    console.print(
        f"wrote {report.items} items ({feed_format.value}, channel {escape(channel)}){where}; "
        f"skipped {len(report.skipped)}",
        highlight=False,
    )
    if report.skipped:
        table = Table("sku", "reason", title="skipped", title_justify="left")
        for skipped in report.skipped:
            table.add_row(escape(skipped.sku), escape(skipped.reason))
        console.print(table)


@app.command("token")
def token(
    channel: ChannelCode,
    name: Annotated[str, typer.Option(help="What the token is for, e.g. google.")] = "feed",
    rotate: Annotated[
        bool, typer.Option(help="Revoke the channel's other live feed tokens.")
    ] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Make a feed token and print it: the only time it is shown."""
    with open_database(database_url) as db, db.transaction() as session:
        channel_id = channel_id_for_code(session, code=channel)
        issued = service.create_feed_token(session, channel_id=channel_id, name=name, rotate=rotate)
    console = CliConsole(stderr=True)
    revoked = f"; revoked {', '.join(map(str, issued.revoked))}" if issued.revoked else ""
    console.print(
        f"created feed token {issued.view.id} for channel {escape(channel)}{revoked}; "
        f"fetch /v1/feeds/{channel_id}/FORMAT?token=TOKEN. "
        "Store this token now, it is not shown again:",
        style="green",
        highlight=False,
    )
    # Plain stdout so that `$(omnicart feeds token web)` captures exactly the token.
    typer.echo(issued.token)


@app.command("tokens")
def tokens(channel: ChannelCode, database_url: DatabaseUrl = None) -> None:
    """List the channel's feed tokens (never the tokens), revoked ones marked."""
    table = Table("id", "name", "prefix", "created", "revoked")
    with open_database(database_url) as db, db.reading() as session:
        channel_id = channel_id_for_code(session, code=channel)
        after = 0
        while page := service.list_feed_tokens(
            session, channel_id=channel_id, after=after, limit=500
        ):
            for view in page:
                table.add_row(
                    str(view.id),
                    escape(view.name),
                    view.prefix,
                    view.created_at.isoformat(timespec="seconds"),
                    view.revoked_at.isoformat(timespec="seconds") if view.revoked_at else "-",
                )
            after = page[-1].id
    CliConsole().print(table)


@app.command("revoke")
def revoke(
    channel: ChannelCode,
    token_id: Annotated[int, typer.Argument(metavar="TOKEN_ID")],
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke one of the channel's feed tokens; fetching with it fails at once."""
    with open_database(database_url) as db, db.transaction() as session:
        channel_id = channel_id_for_code(session, code=channel)
        service.revoke_feed_token(session, channel_id=channel_id, token_id=token_id)
    CliConsole().print(f"revoked feed token {token_id}")


@app.command("settings")
def settings(
    channel: ChannelCode,
    storefront_url: Annotated[
        str | None,
        typer.Option(help="The shop's home page, named by the RSS feed; '' clears it."),
    ] = None,
    link_template: Annotated[
        str | None,
        typer.Option(
            help="Product page URL with {handle} and/or {sku}, e.g. "
            "https://shop.example/products/{handle}; '' clears it."
        ),
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Show the channel's feed settings, or change those given."""
    with open_database(database_url) as db, db.transaction() as session:
        channel_id = channel_id_for_code(session, code=channel)
        view = service.get_feed_settings(session, channel_id=channel_id)
        if storefront_url is not None or link_template is not None:
            view = service.set_feed_settings(
                session,
                channel_id=channel_id,
                storefront_url=view.storefront_url
                if storefront_url is None
                else storefront_url or None,
                link_template=view.link_template
                if link_template is None
                else link_template or None,
            )
    console = CliConsole()
    console.print(f"storefront URL: {escape(view.storefront_url or '-')}", highlight=False)
    console.print(f"link template:  {escape(view.link_template or '-')}", highlight=False)
