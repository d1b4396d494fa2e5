"""Importing ad spend per channel, campaign and day from CSV, in three layouts, all-or-nothing.

The layout is read from the header (or forced with `layout`):

- ``google``: a Google Ads campaign report segmented by day, downloaded as CSV. Its
  header may follow up to two title lines (the report's name, then its date range);
  ``Day`` (YYYY-MM-DD), ``Campaign``, ``Currency code`` and ``Cost`` are read among its
  other columns, the cost with thousands grouped (``1,234.56``); summary rows
  (``Total: …``) after the campaigns are skipped. The UTF-16, tab-separated flavour is
  read too.
- ``meta``: a Meta Ads Manager table export (CSV) broken down by day: ``Day`` — or
  ``Reporting starts`` and ``Reporting ends``, which must then be the same day —
  ``Campaign name``, and ``Amount spent (EUR)`` with the account's currency in the
  column's name (or ``Amount spent`` with a ``Currency`` column).
- ``plain``: exactly ``date,channel,campaign,spend,currency``.

The column names are the ones the vendors' English-language exports write. Sources:
Google Ads Editor's list of CSV column headers (support.google.com/google-ads/editor/
answer/57747: headers in English; `Campaign`, `Cost`); the Google Ads report options
"Include Report Header: a header row containing the report name and date range"
(github.com/data-integrations/google-ads, docs/GoogleAdsMultiReportBatchSource-
batchsource.md); published importers of UI downloads reading `Campaign`, `Day`,
`Currency code`, `Avg. CPC`, `Cost`; Meta's Ads Manager column reference
(sebotraining.com/meta-ads-topics/ads-manager-columns: `Amount spent`) and importers of
its exports reading `Reporting starts`, `Reporting ends`, `Campaign name` and
`Amount spent (USD)` / `Amount spent (BRL)`. Other columns of an export are ignored.

A Google or Meta export does not say which of the merchant's channels the ads sold
for: the caller names it (`channel`, the CLI's `--channel CODE`); the plain layout names
it on each row. Re-importing the same day, channel and campaign replaces the stored
spend (an upsert), so a corrected or overlapping export simply replaces the days it
covers; each stored row remembers the file and layout it came from. Rejected: an
unknown channel, a day that is not YYYY-MM-DD, a currency that is not one in use
(ISO 4217), a number that is not one, a negative spend, more decimals than the currency
has, and the same day and campaign twice in one file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from omnicart.analytics.import_files import (
    Problems,
    Sheet,
    parse_currency,
    parse_day,
    parse_money,
    read_sheet,
    records,
)
from omnicart.analytics.importers import (
    ImportCounts,
    channel_ids,
    check_header,
    once_each,
    upsert,
)
from omnicart.analytics.tables import AdSpend
from omnicart.channels.policy import channel_id_for_code
from omnicart.db.engine import Database
from omnicart.kernel.errors import ValidationFailed

LAYOUTS = ("google", "meta", "plain")
PLAIN_COLUMNS = ("date", "channel", "campaign", "spend", "currency")
MAX_CAMPAIGN = 255
_META_SPEND = re.compile(r"Amount spent(?: \(([A-Za-z]{3})\))?")
_VENDOR = {"google": "a Google Ads export", "meta": "a Meta Ads Manager export"}


@dataclass(frozen=True, slots=True)
class SpendImport:
    """What a spend import wrote, and the layout it read."""

    layout: str
    counts: ImportCounts


def detect_layout(header: list[str]) -> str | None:
    """The layout a header row belongs to, or None."""
    names = set(header)
    if set(PLAIN_COLUMNS) <= names:
        return "plain"
    if {"Campaign", "Cost"} <= names:
        return "google"
    if "Campaign name" in names and any(_META_SPEND.fullmatch(n) for n in names):
        return "meta"
    return None


def read_spend_sheet(path: Path, *, layout: str | None = None) -> tuple[str, Sheet]:
    """Read a spend file and tell its layout (ValidationFailed if it is none of them)."""
    if layout is not None and layout not in LAYOUTS:
        raise ValidationFailed(f"layout is one of {', '.join(LAYOUTS)}", field="layout")

    def wanted(header: list[str]) -> bool:
        found = detect_layout(header)
        return found is not None and layout in (None, found)

    try:
        sheet = read_sheet(path, is_header=wanted)
    except ValidationFailed as exc:
        if "header this import knows" not in exc.detail:
            raise
        raise ValidationFailed(
            f"{path.name}: no header of a spend layout in its first rows: Google Ads "
            "(Day, Campaign, Currency code, Cost), Meta (Day, Campaign name, Amount spent "
            f"(EUR)) or {','.join(PLAIN_COLUMNS)}",
            field="file",
        ) from None
    return layout or detect_layout(sheet.header) or "plain", sheet


@dataclass(frozen=True, slots=True)
class _Cells:
    """One spend row's cells, whatever the layout called them."""

    day: str
    campaign: str
    spend: str
    currency: str
    channel: str | None = None  # the plain layout's


def _google(sheet: Sheet, problems: Problems) -> list[tuple[int, _Cells]]:
    if not problems.require(sheet, ("Day", "Campaign", "Currency code", "Cost")):
        return []
    found = []
    for number, cell in records(sheet, problems):
        if next(iter(cell.values()), "").startswith("Total:"):
            continue  # Google's summary rows (accounts, campaign types) below the campaigns
        found.append(
            (number, _Cells(cell["Day"], cell["Campaign"], cell["Cost"], cell["Currency code"]))
        )
    return found


def _meta(sheet: Sheet, problems: Problems) -> list[tuple[int, _Cells]]:
    spend_column = next(n for n in sheet.header if _META_SPEND.fullmatch(n))
    named = _META_SPEND.fullmatch(spend_column)
    in_name = named.group(1).upper() if named and named.group(1) else None
    if in_name is None and "Currency" not in sheet.header:
        problems.add(
            sheet.header_row, spend_column, "no currency: export `Amount spent (EUR)` or `Currency`"
        )
    by_day = "Day" in sheet.header
    needed = ("Day",) if by_day else ("Reporting starts", "Reporting ends")
    if not problems.require(sheet, (*needed, "Campaign name")) or problems.errors:
        return []
    found = []
    for number, cell in records(sheet, problems):
        day = cell["Day"] if by_day else cell["Reporting starts"]
        if not by_day and cell["Reporting ends"] != day:
            problems.add(
                number,
                "Reporting ends",
                f"the row covers {day} to {cell['Reporting ends']}; export it broken down by day",
            )
            continue
        currency = cell.get("Currency") or in_name or ""
        if in_name and currency.upper() != in_name:
            problems.add(number, "Currency", f"{currency!r} but the amounts are in {in_name}")
            continue
        found.append((number, _Cells(day, cell["Campaign name"], cell[spend_column], currency)))
    return found


def _plain(sheet: Sheet, problems: Problems) -> list[tuple[int, _Cells]]:
    if not check_header(sheet, PLAIN_COLUMNS, problems):
        return []
    return [
        (n, _Cells(c["date"], c["campaign"], c["spend"], c["currency"], channel=c["channel"]))
        for n, c in records(sheet, problems)
    ]


_READERS = {"google": _google, "meta": _meta, "plain": _plain}
_COLUMN = {  # the column each layout names a field by, for row errors
    "google": {"day": "Day", "campaign": "Campaign", "spend": "Cost", "currency": "Currency code"},
    "meta": {"day": "Day", "campaign": "Campaign name", "spend": "", "currency": "Currency"},
    "plain": {"day": "date", "campaign": "campaign", "spend": "spend", "currency": "currency"},
}


def _campaign(text: str) -> str:
    if not text:
        raise ValidationFailed("a campaign name is required")
    if len(text) > MAX_CAMPAIGN:
        raise ValidationFailed(f"a campaign name is at most {MAX_CAMPAIGN} characters")
    return text


def check_spend(
    session: Session, sheet: Sheet, *, layout: str, channel_id: int | None
) -> list[dict[str, Any]]:
    """The rows of a spend file in `layout`, or ImportRejected."""
    problems = Problems()
    lines = _READERS[layout](sheet, problems)
    names = dict(_COLUMN[layout])
    if layout == "meta":
        names["spend"] = next(n for n in sheet.header if _META_SPEND.fullmatch(n))
        names["day"] = "Day" if "Day" in sheet.header else "Reporting starts"
        names["currency"] = "Currency" if "Currency" in sheet.header else names["spend"]
    channels = channel_ids(session, {c.channel for _, c in lines if c.channel is not None})
    parsed: list[tuple[int, dict[str, Any]]] = []
    for number, cell in lines:
        target = channel_id
        if cell.channel is not None:
            target = channels.get(cell.channel)
            if target is None:
                problems.add(number, "channel", f"unknown channel {cell.channel[:64]!r}")
        day: date | None = problems.cell(number, names["day"], parse_day, cell.day)
        campaign = problems.cell(number, names["campaign"], _campaign, cell.campaign)
        currency = problems.cell(number, names["currency"], parse_currency, cell.currency)
        spend = None
        if currency:
            money = partial(parse_money, currency=currency, what="spend")
            spend = problems.cell(number, names["spend"], money, cell.spend)
        if target is not None and day and campaign and currency and spend is not None:
            row = {
                "day": day,
                "channel_id": target,
                "campaign": campaign,
                "spend": spend,
                "currency": currency,
                "layout": layout,
                "source_file": sheet.name[:255],
            }
            parsed.append((number, row))
    key = ("day", "channel_id", "campaign")
    what = "day, channel and campaign"
    rows = once_each(parsed, key, what, problems, column=names["campaign"])
    problems.raise_any(sheet.header)
    return rows


def import_spend_sheet(
    db: Database, sheet: Sheet, *, layout: str, channel: str | None = None
) -> SpendImport:
    """Check and import a read spend file in one transaction: all of it, or nothing."""
    if layout == "plain" and channel is not None:
        raise ValidationFailed(
            "the plain layout names each row's channel; leave the channel out", field="channel"
        )
    if layout != "plain" and channel is None:
        raise ValidationFailed(
            f"{_VENDOR[layout]} does not say which channel the ads sold for: name it",
            field="channel",
        )
    with db.transaction() as session:
        channel_id = None if channel is None else channel_id_for_code(session, code=channel)
        rows = check_spend(session, sheet, layout=layout, channel_id=channel_id)
        counts = upsert(session, AdSpend, rows, ("day", "channel_id", "campaign"))
    return SpendImport(layout=layout, counts=counts)


def import_spend_file(
    db: Database, path: Path, *, channel: str | None = None, layout: str | None = None
) -> SpendImport:
    """Read, check and import an ad-spend file (all-or-nothing)."""
    found, sheet = read_spend_sheet(path, layout=layout)
    return import_spend_sheet(db, sheet, layout=found, channel=channel)
