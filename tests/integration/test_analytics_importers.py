"""Cost data for analytics: ad spend (Google Ads, Meta and plain layouts), unit costs,
channel fees, fixed costs and ECB rates, imported all-or-nothing with row-level reasons,
re-imports replacing what they cover; and the `omnicart import` commands."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from omnicart.analytics.importers import ImportCounts, import_cost_file
from omnicart.analytics.importers_spend import import_spend_file
from omnicart.analytics.rates import import_rates_file, parse_ecb_day
from omnicart.analytics.tables import AdSpend, ChannelFee, ExchangeRate, FixedCost, UnitCost
from omnicart.db.engine import Database
from omnicart.importing import ImportRejected, RowError
from omnicart.kernel.errors import NotFound, ValidationFailed
from tests.cli_run import omnicart
from tests.support import add_channel, add_variant

D1, D2 = date(2025, 3, 1), date(2025, 3, 2)
# Refusals write nothing on any database; what is written is tested on both.
SQLITE_ONLY = pytest.mark.parametrize("db", ["sqlite"], indirect=True)


@pytest.fixture
def channels(db: Database) -> dict[str, int]:
    """A web shop in EUR and a marketplace in PLN; SKUs TEE-S and MUG."""
    with db.transaction() as session:
        found = {
            "web": add_channel(session, "web"),
            "allegro": add_channel(session, "allegro", kind="marketplace", currency="PLN"),
        }
        add_variant(session, "TEE-S")
        add_variant(session, "MUG")
    return found


def _file(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding=encoding)
    return path


def _rows(db: Database, table: type[Any], *columns: str) -> list[tuple[Any, ...]]:
    with db.reading() as session:
        query = select(*(getattr(table, c) for c in columns)).order_by(
            *(getattr(table, c) for c in columns)
        )
        return [tuple(r) for r in session.execute(query)]


def _spend(db: Database) -> list[tuple[Any, ...]]:
    return _rows(
        db, AdSpend, "day", "channel_id", "campaign", "spend", "currency", "layout", "source_file"
    )


def _rejected(call: Any) -> list[RowError]:
    with pytest.raises(ImportRejected) as rejected:
        call()
    return rejected.value.errors


GOOGLE = """Campaign report
"March 1, 2025 - March 2, 2025"
Day,Campaign,Campaign state,Clicks,Impr.,Currency code,Avg. CPC,Cost
2025-03-01,Brand - PL,Enabled,120,"3,400",PLN,0.52,"1,234.56"
2025-03-01,Shopping,Enabled,40,900,PLN,0.30,12.00
2025-03-02,Brand - PL,Enabled,100,"3,100",PLN,0.50,50
Total: Account,--,--,260,"7,400",PLN,0.45,"1,296.56"
"""


def test_google_ads_export_is_read_past_its_title_lines_and_totals(
    db: Database, channels: dict[str, int], tmp_path: Path
) -> None:
    path = _file(tmp_path, "google.csv", GOOGLE)
    done = import_spend_file(db, path, channel="allegro")
    assert (done.layout, done.counts) == ("google", ImportCounts(rows=3, created=3, replaced=0))
    allegro = channels["allegro"]
    assert _spend(db) == [
        (D1, allegro, "Brand - PL", Decimal("1234.56"), "PLN", "google", "google.csv"),
        (D1, allegro, "Shopping", Decimal("12"), "PLN", "google", "google.csv"),
        (D2, allegro, "Brand - PL", Decimal("50"), "PLN", "google", "google.csv"),
    ]
    # The UTF-16, tab-separated download reads the same.
    tabbed = GOOGLE.replace(",", "\t").replace('"3\t400"', "3400").replace('"1\t234.56"', "1234.56")
    path16 = _file(tmp_path, "google16.csv", tabbed.replace('"1\t296.56"', "1296.56"), "utf-16")
    again = import_spend_file(db, path16, channel="allegro", layout="google")
    assert again.counts == ImportCounts(rows=3, created=0, replaced=3)
    assert {row[3] for row in _spend(db)} == {Decimal("1234.56"), Decimal("12"), Decimal("50")}


@SQLITE_ONLY
def test_google_ads_rows_are_numbered_as_in_the_file_and_the_channel_is_required(
    db: Database, channels: dict[str, int], tmp_path: Path
) -> None:
    bad = GOOGLE.replace("0.30,12.00", "0.30,--").replace("2025-03-02,Brand", "2 Mar 2025,Brand")
    path = _file(tmp_path, "bad.csv", bad)
    assert _rejected(lambda: import_spend_file(db, path, channel="allegro")) == [
        RowError(5, "Cost", "'--' is not a number (write 1234.56, or 1,234.56 with thousands)"),
        RowError(6, "Day", "'2 Mar 2025' is not a day written YYYY-MM-DD"),
    ]
    good = _file(tmp_path, "google.csv", GOOGLE)
    with pytest.raises(ValidationFailed, match="does not say which channel") as missing:
        import_spend_file(db, good)
    assert missing.value.field == "channel"
    with pytest.raises(NotFound, match="channel 'nowhere' does not exist"):
        import_spend_file(db, good, channel="nowhere")
    with pytest.raises(ValidationFailed, match="no header of a spend layout"):
        import_spend_file(db, good, channel="allegro", layout="meta")
    assert _spend(db) == []


@SQLITE_ONLY
def test_meta_export_by_day_or_by_single_day_reporting_ranges(
    db: Database, channels: dict[str, int], tmp_path: Path
) -> None:
    ranges = _file(
        tmp_path,
        "meta.csv",
        "Reporting starts,Reporting ends,Campaign name,Amount spent (EUR),Impressions\n"
        "2025-03-01,2025-03-01,Spring sale,45.10,1200\n"
        "2025-03-02,2025-03-02,Spring sale,30,800\n",
    )
    by_day = _file(
        tmp_path,
        "meta-days.csv",
        "Campaign name,Day,Currency,Amount spent,Reach\nRetargeting,2025-03-01,eur,9.99,300\n",
    )
    assert import_spend_file(db, ranges, channel="web").layout == "meta"
    assert import_spend_file(db, by_day, channel="web").counts == ImportCounts(1, 1, 0)
    web = channels["web"]
    assert _spend(db) == [
        (D1, web, "Retargeting", Decimal("9.99"), "EUR", "meta", "meta-days.csv"),
        (D1, web, "Spring sale", Decimal("45.1"), "EUR", "meta", "meta.csv"),
        (D2, web, "Spring sale", Decimal("30"), "EUR", "meta", "meta.csv"),
    ]
    month = _file(
        tmp_path,
        "meta-month.csv",
        "Reporting starts,Reporting ends,Campaign name,Amount spent (EUR)\n"
        "2025-03-01,2025-03-31,Spring sale,75.10\n",
    )
    assert _rejected(lambda: import_spend_file(db, month, channel="web")) == [
        RowError(
            2,
            "Reporting ends",
            "the row covers 2025-03-01 to 2025-03-31; export it broken down by day",
        )
    ]


PLAIN = "date,channel,campaign,spend,currency\n"


def test_plain_layout_names_the_channel_per_row_and_a_reimport_replaces(
    db: Database, channels: dict[str, int], tmp_path: Path
) -> None:
    first = _file(
        tmp_path,
        "march.csv",
        PLAIN + "2025-03-01,web,newsletter,10.00,EUR\n2025-03-01,allegro,ads,20.00,pln\n",
    )
    assert import_spend_file(db, first).counts == ImportCounts(2, 2, 0)
    again = import_spend_file(db, first)
    assert (again.layout, again.counts) == ("plain", ImportCounts(2, 0, 2))
    fixed = _file(
        tmp_path,
        "march-fixed.csv",
        PLAIN + "2025-03-01,web,newsletter,12.50,EUR\n2025-03-02,web,newsletter,0,EUR\n",
    )
    assert import_spend_file(db, fixed).counts == ImportCounts(2, 1, 1)
    web, allegro = channels["web"], channels["allegro"]
    assert _spend(db) == [
        (D1, web, "newsletter", Decimal("12.5"), "EUR", "plain", "march-fixed.csv"),
        (D1, allegro, "ads", Decimal("20"), "PLN", "plain", "march.csv"),
        (D2, web, "newsletter", Decimal("0"), "EUR", "plain", "march-fixed.csv"),
    ]
    with pytest.raises(ValidationFailed, match="names each row's channel"):
        import_spend_file(db, first, channel="web")


@SQLITE_ONLY
def test_bad_spend_rows_are_reported_by_row_and_nothing_is_written(
    db: Database, channels: dict[str, int], tmp_path: Path
) -> None:
    import_spend_file(db, _file(tmp_path, "ok.csv", PLAIN + "2025-03-01,web,kept,1.00,EUR\n"))
    before = _spend(db)
    bad = _file(
        tmp_path,
        "bad.csv",
        PLAIN + "2025-03-01,web,ok,10.00,EUR\n"
        "2025-03-01,nowhere,x,1.00,EUR\n"
        "03/01/2025,web,x,1.00,EUR\n"
        "2025-03-02,web,x,1.00,EUX\n"
        "2025-03-02,web,y,-5.00,EUR\n"
        '2025-03-02,web,z,"1.234,56",EUR\n'
        "2025-03-02,web,w,1.234,EUR\n"
        "2025-02-30,web,v,1,EUR\n"
        "2025-03-01,web,ok,3.00,EUR\n"
        "2025-03-03,web,,3.00,EUR,extra\n",
    )
    assert _rejected(lambda: import_spend_file(db, bad)) == [
        RowError(3, "channel", "unknown channel 'nowhere'"),
        RowError(4, "date", "'03/01/2025' is not a day written YYYY-MM-DD"),
        RowError(5, "currency", "'EUX' is not the ISO 4217 code of a currency in use"),
        RowError(6, "spend", "-5.00 is negative; spend is 0 or more"),
        RowError(
            7, "spend", "'1.234,56' is not a number (write 1234.56, or 1,234.56 with thousands)"
        ),
        RowError(8, "spend", "1.234 has more than 2 decimal places, the most EUR allows"),
        RowError(9, "date", "'2025-02-30' is not a day of the calendar"),
        RowError(10, "campaign", "the same day, channel and campaign as row 2"),
        RowError(11, "(row)", "has 6 cells but the header has 5"),
    ]
    assert _spend(db) == before


COSTS = "sku,valid_from,cost,currency\nTEE-S,2025-01-01,4.2500,EUR\nMUG,2025-01-01,0.0125,PLN\n"
FEES = (
    "channel,valid_from,commission_pct,payment_pct,payment_fixed,currency\n"
    "allegro,2025-01-01,10.5,1.4%,0.25,PLN\nweb,2025-01-01,0,2.9,0.30,EUR\n"
)
FIXED = (
    "channel,month,label,amount,currency\n"
    "web,2025-03,hosting,49.00,EUR\nallegro,2025-03,staff,3000,PLN\n"
)


def test_unit_costs_fees_and_fixed_costs_are_imported_and_replaced(
    db: Database, channels: dict[str, int], tmp_path: Path
) -> None:
    web, allegro = channels["web"], channels["allegro"]
    assert import_cost_file(db, _file(tmp_path, "c.csv", COSTS), kind="costs") == ImportCounts(
        2, 2, 0
    )
    assert import_cost_file(db, _file(tmp_path, "f.csv", FEES), kind="fees") == ImportCounts(
        2, 2, 0
    )
    fixed = _file(tmp_path, "x.csv", FIXED)
    assert import_cost_file(db, fixed, kind="fixed-costs") == ImportCounts(2, 2, 0)
    later = COSTS.splitlines()[0] + "\nTEE-S,2025-06-01,4.5,EUR\nMUG,2025-01-01,0.02,PLN\n"
    assert import_cost_file(db, _file(tmp_path, "c2.csv", later), kind="costs") == ImportCounts(
        2, 1, 1
    )
    assert _rows(db, UnitCost, "sku", "valid_from", "cost", "currency") == [
        ("MUG", date(2025, 1, 1), Decimal("0.02"), "PLN"),
        ("TEE-S", date(2025, 1, 1), Decimal("4.25"), "EUR"),
        ("TEE-S", date(2025, 6, 1), Decimal("4.5"), "EUR"),
    ]
    fee_columns = ("channel_id", "valid_from", "commission_pct", "payment_pct", "payment_fixed")
    assert _rows(db, ChannelFee, *fee_columns, "currency") == sorted(
        [
            (allegro, date(2025, 1, 1), Decimal("10.5"), Decimal("1.4"), Decimal("0.25"), "PLN"),
            (web, date(2025, 1, 1), Decimal("0"), Decimal("2.9"), Decimal("0.3"), "EUR"),
        ]
    )
    assert import_cost_file(db, fixed, kind="fixed-costs") == ImportCounts(2, 0, 2)
    assert _rows(db, FixedCost, "channel_id", "month", "label", "amount", "currency") == sorted(
        [
            (web, date(2025, 3, 1), "hosting", Decimal("49"), "EUR"),
            (allegro, date(2025, 3, 1), "staff", Decimal("3000"), "PLN"),
        ]
    )


@SQLITE_ONLY
def test_bad_cost_fee_and_fixed_cost_rows_are_rejected_and_nothing_is_written(
    db: Database, channels: dict[str, int], tmp_path: Path
) -> None:
    costs = _file(
        tmp_path,
        "c.csv",
        "sku,valid_from,cost,currency\nNOPE,2025-01-01,1,EUR\nTEE-S,2025-13-01,1,EUR\n"
        "TEE-S,2025-01-01,-1,EUR\nMUG,2025-01-01,1,XXX\nMUG,2025-02-01,0.00001,EUR\n"
        "MUG,2025-03-01,1,EUR\n",
    )
    assert _rejected(lambda: import_cost_file(db, costs, kind="costs")) == [
        RowError(2, "sku", "unknown SKU 'NOPE'"),
        RowError(3, "valid_from", "'2025-13-01' is not a day of the calendar"),
        RowError(4, "cost", "-1 is negative; a cost is 0 or more"),
        RowError(5, "currency", "'XXX' is not the ISO 4217 code of a currency in use"),
        RowError(6, "cost", "0.00001 has more than 4 decimal places"),
    ]
    fees = _file(
        tmp_path,
        "f.csv",
        "channel,valid_from,commission_pct,payment_pct,payment_fixed,currency\n"
        "ebay,2025-01-01,10,1,0,EUR\nweb,2025-01-01,120,1,0,EUR\nweb,2025-02-01,1,1,0.255,EUR\n",
    )
    assert _rejected(lambda: import_cost_file(db, fees, kind="fees")) == [
        RowError(2, "channel", "unknown channel 'ebay'"),
        RowError(3, "commission_pct", "120 is not a percentage from 0 to 100"),
        RowError(4, "payment_fixed", "0.255 has more than 2 decimal places, the most EUR allows"),
    ]
    fixed = _file(
        tmp_path,
        "x.csv",
        "channel,month,label,amount,currency\nweb,2025-3,rent,1,EUR\nweb,2025-03,,1,EUR\n"
        "web,2025-04,rent,abc,EUR\nweb,2025-05,rent,1,EUR\nweb,2025-05,rent,2,EUR\n",
    )
    assert _rejected(lambda: import_cost_file(db, fixed, kind="fixed-costs")) == [
        RowError(2, "month", "'2025-3' is not a month written YYYY-MM"),
        RowError(3, "label", "a label is required (rent, staff, ...)"),
        RowError(4, "amount", "'abc' is not a number (write 1234.56, or 1,234.56 with thousands)"),
        RowError(6, "label", "the same channel, month and label as row 5"),
    ]
    header = _file(tmp_path, "h.csv", "sku,valid,cost,currency\nMUG,2025-01-01,1,EUR\n")
    assert _rejected(lambda: import_cost_file(db, header, kind="costs")) == [
        RowError(1, "valid", "unknown column"),
        RowError(1, "valid_from", "required column is missing"),
    ]
    assert _rows(db, UnitCost, "sku") == []
    assert _rows(db, ChannelFee, "channel_id") == []
    assert _rows(db, FixedCost, "channel_id") == []


ECB_HISTORY = (
    "Date,USD,JPY,CYP,GBP,\n"
    "2025-03-04,1.0621,158.89,N/A,0.83155,\n"
    "2025-03-03,1.0465,157.29,N/A,0.82753,\n"
)
ECB_DAILY = "Date, USD, JPY, GBP, \n05 March 2025, 1.0694, 159.21, 0.83575, \n"


def _rates(db: Database) -> list[tuple[Any, ...]]:
    return _rows(db, ExchangeRate, "day", "currency", "per_eur")


def test_ecb_history_and_daily_files_are_read_as_published(db: Database, tmp_path: Path) -> None:
    history = import_rates_file(db, _file(tmp_path, "eurofxref-hist.csv", ECB_HISTORY))
    assert history.counts == ImportCounts(6, 6, 0)
    assert (history.days, history.currencies, history.skipped) == (
        2,
        ("USD", "JPY", "GBP"),
        ("CYP",),
    )
    daily = import_rates_file(db, _file(tmp_path, "eurofxref.csv", ECB_DAILY))
    assert (daily.counts, daily.days) == (ImportCounts(3, 3, 0), 1)
    march = [date(2025, 3, d) for d in (3, 4, 5)]
    assert _rates(db) == [
        (march[0], "GBP", Decimal("0.82753")),
        (march[0], "JPY", Decimal("157.29")),
        (march[0], "USD", Decimal("1.0465")),
        (march[1], "GBP", Decimal("0.83155")),
        (march[1], "JPY", Decimal("158.89")),
        (march[1], "USD", Decimal("1.0621")),
        (march[2], "GBP", Decimal("0.83575")),
        (march[2], "JPY", Decimal("159.21")),
        (march[2], "USD", Decimal("1.0694")),
    ]
    corrected = ECB_DAILY.replace("1.0694", "1.0695")
    again = import_rates_file(db, _file(tmp_path, "eurofxref-2.csv", corrected))
    assert again.counts == ImportCounts(3, 0, 3)
    assert _rates(db)[-1] == (march[2], "USD", Decimal("1.0695"))


@SQLITE_ONLY
def test_ecb_parser_rejects_what_is_not_a_rate(db: Database, tmp_path: Path) -> None:
    assert parse_ecb_day("05 March 2025") == parse_ecb_day("2025-03-05") == date(2025, 3, 5)
    header = _file(tmp_path, "h.csv", "Date,USD,US$,USD,\n2025-03-04,1.06,1,1,\n")
    assert _rejected(lambda: import_rates_file(db, header)) == [
        RowError(1, "US$", "not an ISO 4217 currency code"),
        RowError(1, "USD", "the currency appears twice"),
    ]
    rows = _file(
        tmp_path,
        "r.csv",
        "Date,USD,JPY,\n2025-03-04,0,158.89,\nMarch 3,1.04,157,\n"
        "2025-03-02,1.0000001,x,\n2025-03-04,1,1,\n",
    )
    assert _rejected(lambda: import_rates_file(db, rows)) == [
        RowError(2, "USD", "0 is not a rate (more than 0)"),
        RowError(3, "Date", "'March 3' is not a day written YYYY-MM-DD"),
        RowError(4, "USD", "1.0000001 has more than 6 decimal places"),
        RowError(4, "JPY", "'x' is not a number (write 1234.56, or 1,234.56 with thousands)"),
        RowError(5, "Date", "the same day as row 2"),
    ]
    assert _rates(db) == []


# --- the command line (SQLite) ----------------------------------------------------------


@pytest.fixture
def url(sqlite_db: Database, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("COLUMNS", "200")  # keep Rich from wrapping the rejection table
    with sqlite_db.transaction() as session:
        add_channel(session, "allegro", kind="marketplace", currency="PLN")
        add_channel(session, "web")
        add_variant(session, "MUG")
    return sqlite_db.engine.url.render_as_string(hide_password=False)


def test_import_commands_print_counts(
    capsys: pytest.CaptureFixture[str], url: str, tmp_path: Path
) -> None:
    google = str(_file(tmp_path, "google.csv", GOOGLE))
    ran = omnicart(capsys, "import", "spend", google, "--channel", "allegro", "--database-url", url)
    assert (ran.code, ran.out) == (0, "imported 3 spend rows: 3 new, 0 replaced (google layout)\n")
    costs = str(_file(tmp_path, "c.csv", "sku,valid_from,cost,currency\nMUG,2025-01-01,2,PLN\n"))
    ran = omnicart(capsys, "import", "costs", costs, "--database-url", url)
    assert (ran.code, ran.out) == (0, "imported 1 unit costs: 1 new, 0 replaced\n")
    fees = FEES.splitlines()
    fee_file = str(_file(tmp_path, "f.csv", f"{fees[0]}\n{fees[1]}\n"))
    ran = omnicart(capsys, "import", "fees", fee_file, "--database-url", url)
    assert (ran.code, ran.out) == (0, "imported 1 channel fees: 1 new, 0 replaced\n")
    fixed = str(_file(tmp_path, "x.csv", FIXED.replace("web,2025-03,hosting,49.00,EUR\n", "")))
    ran = omnicart(capsys, "import", "fixed-costs", fixed, "--database-url", url)
    assert (ran.code, ran.out) == (0, "imported 1 fixed costs: 1 new, 0 replaced\n")
    rates = str(_file(tmp_path, "eurofxref-hist.csv", ECB_HISTORY))
    ran = omnicart(capsys, "import", "rates", rates, "--database-url", url)
    line = "imported 6 rates: 6 new, 0 replaced (2 days, 3 currencies); skipped CYP"
    assert (ran.code, ran.out) == (0, f"{line} (no longer in use)\n")


def test_import_commands_refuse_with_the_rows_and_exit_2(
    capsys: pytest.CaptureFixture[str], url: str, tmp_path: Path
) -> None:
    bad = _file(tmp_path, "bad.csv", PLAIN + "2025-03-01,allegro,x,-1,PLN\n2025-3-1,ebay,y,1,PLN\n")
    ran = omnicart(capsys, "import", "spend", str(bad), "--database-url", url)
    assert ran.code == 2
    assert ran.out == ""
    lines = [" ".join(line.replace("│", " ").split()) for line in ran.err.splitlines()]
    assert lines[0] == lines[-1] == "3 problems in the file; nothing was imported"
    assert [line for line in lines if line[:1].isdigit() and "problems" not in line] == [
        "2 spend -1 is negative; spend is 0 or more",
        "3 date '2025-3-1' is not a day written YYYY-MM-DD",
        "3 channel unknown channel 'ebay'",
    ]
    google = str(_file(tmp_path, "google.csv", GOOGLE))
    ran = omnicart(capsys, "import", "spend", google, "--database-url", url)
    assert ran.code == 2
    assert ran.err.startswith("error (--channel): a Google Ads export does not say which channel")
