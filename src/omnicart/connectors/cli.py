"""`omnicart connectors ...`: connect vendor accounts, map their catalogs, watch the inbox,
keep their stock figures right. Never prints a credential.

A CONNECTOR is named by its id or by its channel's code.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.table import Table

from omnicart.channels.policy import channel_id_for_code
from omnicart.channels.service import list_channels
from omnicart.cli_support import CliConsole, DatabaseUrl, open_database
from omnicart.connectors import inbox, push, service
from omnicart.connectors.calls import vendor_http
from omnicart.connectors.errors import VendorRefused, VendorUnavailable
from omnicart.connectors.mapping import MappingEntry, list_entries
from omnicart.connectors.reconcile import reconcile_stock
from omnicart.db.engine import Database
from omnicart.kernel.errors import NotFound, ValidationFailed

app = typer.Typer(
    no_args_is_help=True,
    help="Vendor connectors (Shopify, WooCommerce, …): orders in, stock and prices out.",
)
console = CliConsole()
Ref = Annotated[str, typer.Argument(help="The connector's id, or its channel's code.")]
Pairs = Annotated[list[str] | None, typer.Option(help="NAME=VALUE; repeat for more.")]


def _pairs(values: list[str] | None, field: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for value in values or []:
        name, sep, given = value.partition("=")
        if not sep or not name.strip():
            raise ValidationFailed(f"{value!r} is not NAME=VALUE", field=field)
        found[name.strip()] = given
    return found


def _secrets(values: list[str] | None, file: Path | None) -> dict[str, str]:
    found: dict[str, str] = {}
    if file is not None:
        try:
            loaded = orjson.loads(file.read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            raise ValidationFailed(f"{file}: {exc}", field="credentials_file") from None
        if not isinstance(loaded, dict) or not all(isinstance(v, str) for v in loaded.values()):
            raise ValidationFailed(
                f"{file} is not a JSON object of text values", field="credentials_file"
            )
        found.update(loaded)
    found.update(_pairs(values, "credential"))
    return found


def _connector(db: Database, ref: str) -> int:
    try:
        if ref.isdigit():
            service.get_connector(db, connector_id=int(ref))
            return int(ref)
        return service.connector_of_channel(db, channel_code=ref)
    except NotFound as exc:
        raise NotFound(exc.detail, field="connector") from None


def _describe(view: service.ConnectorView, channel: str) -> str:
    hooks = f", webhooks at {view.webhook_path}" if view.webhook_path else ", polled"
    state = "" if view.active else " [paused]"
    return (
        f"connector {view.id}: {view.vendor} for channel {channel} at {view.base_url}{hooks}; "
        f"credentials {', '.join(view.credential_names) or 'none'} (stored encrypted){state}"
    )


@app.command("add")
def add(
    channel: Annotated[str, typer.Argument(help="The channel it sells for (code).")],
    vendor: Annotated[str, typer.Option(help="shopify, woocommerce, …")],
    base_url: Annotated[
        str | None, typer.Option(help="The vendor's API URL (default: its real one).")
    ] = None,
    credential: Pairs = None,
    credentials_file: Annotated[
        Path | None,
        typer.Option(help="A JSON object of credentials (keeps them out of shell history)."),
    ] = None,
    option: Pairs = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Connect a vendor account to a channel; credentials are stored encrypted."""
    with open_database(database_url) as db:
        with db.reading() as session:
            channel_id = channel_id_for_code(session, code=channel)
        view = service.add_connector(
            db,
            draft=service.ConnectorDraft(
                channel_id=channel_id,
                vendor=vendor,
                credentials=_secrets(credential, credentials_file),
                options=_pairs(option, "option"),
                base_url=base_url,
            ),
        )
    console.print(_describe(view, channel))


@app.command("update")
def update(
    connector: Ref,
    base_url: Annotated[str | None, typer.Option()] = None,
    credential: Pairs = None,
    credentials_file: Annotated[Path | None, typer.Option()] = None,
    option: Pairs = None,
    pause: Annotated[bool, typer.Option("--pause", help="Stop processing and pushing.")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Start again.")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Change a connector: credentials and options of the names given (empty removes)."""
    with open_database(database_url) as db:
        connector_id = _connector(db, connector)
        secrets = _secrets(credential, credentials_file)
        view = service.update_connector(
            db,
            connector_id=connector_id,
            base_url=base_url,
            credentials=secrets or None,
            options=_pairs(option, "option") or None,
            active=False if pause else True if resume else None,
        )
    console.print(_describe(view, connector))


@app.command("list")
def list_all(database_url: DatabaseUrl = None) -> None:
    """Every connector, with what waits in its inbox and its stock push."""
    with open_database(database_url) as db:
        views = service.list_connectors(db, limit=10_000)
        attention = inbox.list_deliveries(db, attention=True, limit=100_000)
        table = Table(
            "id", "channel", "vendor", "base url", "active", "credentials", "attention",
            "figures pending",
        )  # fmt: skip
        with db.reading() as session:
            codes = {c.id: c.code for c in list_channels(session, limit=10_000)}
        for view in views:
            table.add_row(
                str(view.id), codes.get(view.channel_id, str(view.channel_id)), view.vendor,
                view.base_url, "yes" if view.active else "paused",
                ", ".join(view.credential_names),
                str(sum(1 for d in attention if d.connector_id == view.id)),
                str(push.pending(db, connector_id=view.id)),
            )  # fmt: skip
    console.print(table)


@app.command("test")
def check(connector: Ref, database_url: DatabaseUrl = None) -> None:
    """Ask the vendor for its catalog with the connector's credentials (exit 1 if it fails)."""
    with open_database(database_url) as db:
        found = service.check_connector(
            db, connector_id=_connector(db, connector), http=vendor_http()
        )
    console.print(("[green]ok[/green]: " if found.ok else "[red]failed[/red]: ") + found.detail)
    if not found.ok:
        sys.exit(1)


@app.command("mapping")
def mapping(
    connector: Ref,
    match: Annotated[
        bool, typer.Option("--match", help="Map the vendor's catalog by SKU and GTIN first.")
    ] = False,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="PRODUCT[:VARIANT]=SKU by hand (SKU empty: remove)."),
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Show (and change) which vendor product is which SKU."""
    with open_database(database_url) as db:
        connector_id = _connector(db, connector)
        if match:
            try:
                report = service.match_mapping(db, connector_id=connector_id, http=vendor_http())
            except (VendorUnavailable, VendorRefused) as exc:
                raise service.vendor_refusal(exc) from exc
            console.print(
                f"{report.items} vendor item(s): {report.matched} matched, {report.kept} kept "
                f"as set by hand, {len(report.unmatched)} unmatched"
            )
            for item in report.unmatched:
                ids = f"{item.vendor_product_id}:{item.vendor_variant_id or ''}".rstrip(":")
                console.print(
                    f"  unmatched {ids} sku={item.sku or '-'} gtin={item.gtin or '-'} {item.title}"
                )
        if set_:
            entries = []
            for value in set_:
                ids, sep, sku = value.partition("=")
                product, _, variant = ids.partition(":")
                if not sep or not product:
                    raise ValidationFailed(f"{value!r} is not PRODUCT[:VARIANT]=SKU", field="set_")
                entries.append(MappingEntry(product, variant or None, sku.strip() or None))
            service.set_mapping(db, connector_id=connector_id, entries=entries)
        rows = list_entries(db, connector_id=connector_id, limit=100_000)
    table = Table("product", "variant", "stock ref", "sku", "matched by", "vendor sku", "title")
    for row in rows:
        table.add_row(
            row.vendor_product_id, row.vendor_variant_id or "", row.stock_ref or "", row.sku,
            row.matched_by, row.vendor_sku or "", row.title,
        )  # fmt: skip
    console.print(table)


def _deliveries_table(views: list[inbox.DeliveryView], title: str) -> Table:
    table = Table(
        "id", "connector", "topic", "order", "status", "tries", "reason", title=title,
        title_justify="left",
    )  # fmt: skip
    for d in views:
        table.add_row(
            str(d.id), str(d.connector_id), d.topic, d.external_order_id or "", d.status,
            str(d.attempts), f"{d.reason_code or ''}: {d.reason or ''}".strip(": "),
        )  # fmt: skip
    return table


@app.command("attention")
def attention(
    connector: Annotated[str | None, typer.Option(help="Only this connector.")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Deliveries a person should look at: parked (with the reason), failing, flagged."""
    with open_database(database_url) as db:
        connector_id = _connector(db, connector) if connector else None
        views = inbox.list_deliveries(db, connector_id=connector_id, attention=True, limit=100_000)
    console.print(_deliveries_table(views, f"{len(views)} delivery(ies) need attention"))


@app.command("deliveries")
def deliveries(
    connector: Ref,
    status: Annotated[str | None, typer.Option(help="pending, done, parked or dismissed.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
    database_url: DatabaseUrl = None,
) -> None:
    """The connector's inbox, oldest first."""
    with open_database(database_url) as db:
        connector_id = _connector(db, connector)
        views = inbox.list_deliveries(db, connector_id=connector_id, status=status, limit=limit)
    console.print(_deliveries_table(views, f"connector {connector_id}'s inbox"))


@app.command("retry")
def retry(
    connector: Ref,
    delivery: Annotated[
        list[int] | None,
        typer.Option(help="Replay these deliveries (default: every parked one)."),
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Process parked deliveries again (after the mapping was fixed), then process now."""
    with open_database(database_url) as db:
        connector_id = _connector(db, connector)
        count = inbox.requeue(db, connector_id=connector_id, deliveries=delivery)
        service.process_until_idle(db)
        left = inbox.list_deliveries(db, connector_id=connector_id, attention=True, limit=100_000)
    console.print(f"{count} delivery(ies) processed again; {len(left)} still need attention")


@app.command("dismiss")
def dismiss(connector: Ref, delivery: int, database_url: DatabaseUrl = None) -> None:
    """A person dealt with a delivery: close it (parked) or take it off the list (flagged)."""
    with open_database(database_url) as db:
        view = inbox.dismiss(db, connector_id=_connector(db, connector), delivery=delivery)
    console.print(f"delivery {view.id} is {view.status}")


@app.command("process")
def process(database_url: DatabaseUrl = None) -> None:
    """Process what is due now (deliveries, polls, stock and price pushes) until idle."""
    with open_database(database_url) as db:
        done = service.process_until_idle(db)
    console.print(f"{done} item(s) of work done")


@app.command("reconcile")
def reconcile(
    connector: Ref,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only report (exit 1 when anything drifted).")
    ] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Compare the vendor's stock figures with what Omnicart says the channel may sell,
    and send the right figure wherever they differ."""
    with open_database(database_url) as db:
        connector_id = _connector(db, connector)
        try:
            report = reconcile_stock(
                db, connector_id=connector_id, http=vendor_http(), fix=not dry_run
            )
        except (VendorUnavailable, VendorRefused) as exc:
            raise service.vendor_refusal(exc) from exc
    table = Table("sku", "vendor shows", "omnicart says", "push in flight")
    for drift in report.drifted:
        table.add_row(
            drift.sku, "?" if drift.vendor is None else str(drift.vendor), str(drift.omnicart),
            "yes" if drift.in_flight else "",
        )  # fmt: skip
    if report.drifted:
        console.print(table)
    fixed = "" if dry_run else f"; {report.queued} queued, {report.sent} sent"
    console.print(f"{report.checked} SKU(s) checked, {len(report.drifted)} drifted{fixed}")
    if dry_run and report.drifted:
        sys.exit(1)


@app.command("stock")
def stock(
    connector: Ref,
    prices: Annotated[bool, typer.Option("--prices", help="Prices instead of stock.")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Where each SKU's figure stands with the vendor."""
    with open_database(database_url) as db:
        connector_id = _connector(db, connector)
        views = push.sync_state(
            db, connector_id=connector_id, kind=push.PRICE if prices else push.STOCK, limit=100_000
        )
    table = Table("sku", "omnicart says", "vendor has", "in sync", "tries", "last error")
    for v in views:
        table.add_row(
            v.sku, v.wanted, v.sent or "", "yes" if v.in_sync else "no", str(v.attempts),
            v.last_error or "",
        )  # fmt: skip
    console.print(table)
