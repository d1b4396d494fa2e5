"""The console in English and Polish: every text has its Polish, with its placeholders; a
page speaks the user's own setting, else the browser's language, and writes numbers,
money and times that way; the header's language form and `omnicart users set-locale`.

After changing the console's texts, bring the Polish catalog up to date and translate
what is new (the test below lists it):

    pybabel extract -F src/omnicart/console/babel.cfg --add-location=file \\
        -o /tmp/messages.pot src/omnicart/console
    pybabel update -i /tmp/messages.pot -d src/omnicart/console/locale -l pl \\
        --no-fuzzy-matching --ignore-obsolete -w 100
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from starlette.requests import Request

from omnicart.analytics.definitions import DEFINITIONS
from omnicart.analytics.period import Period
from omnicart.console import analytics_pages, menu
from omnicart.console.analytics_data import slices
from omnicart.console.customer_pages import SEARCH_KINDS
from omnicart.console.i18n import (
    catalog_file,
    remember_viewer,
    texts_of,
    translations,
    viewer_locale,
)
from omnicart.console.numbers import Numbers
from omnicart.console.render import LANGUAGES
from omnicart.db.engine import Database
from omnicart.users.model import LOCALES, ROLES
from omnicart.users.service import UserPrincipal
from omnicart.users.tables import StaffUser
from tests.console.support import EMAILS, World, csrf_of, sign_in

CONSOLE = Path(__file__).parents[2] / "src" / "omnicart" / "console"
POLISH = {"Accept-Language": "pl-PL,pl;q=0.9"}
ENGLISH = {"Accept-Language": "en-US,en;q=0.9"}
# %(name)s (any conversion), %% and {name}: what a translation must carry over.
_PLACEHOLDER = re.compile(r"%\([a-z_]+\)[a-z]|%%|\{[a-z_]*\}")


def _extracted() -> dict[str | tuple[str, ...], list[str]]:
    """Every message Babel extracts from the console (templates and Python), by babel.cfg,
    with the files it is in."""
    with (CONSOLE / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg, str(CONSOLE / "babel.cfg"))
    found: dict[str | tuple[str, ...], list[str]] = {}
    for filename, _line, message, _comments, _context in extract_from_dir(
        str(CONSOLE), method_map, options_map
    ):
        key = message if isinstance(message, str) else tuple(message)
        found.setdefault(key, []).append(filename)
    return found


def _polish() -> Catalog:
    with catalog_file("pl").open("rb") as po:
        return read_po(po, locale="pl")


def _forms(string: str | tuple[str, ...] | None) -> tuple[str, ...]:
    if string is None:
        return ("",)
    return (string,) if isinstance(string, str) else tuple(string)


# ------------------------------------------------------------------------- the catalog


def test_every_console_text_has_its_polish() -> None:
    extracted = _extracted()
    assert len(extracted) > 250  # the extraction found the templates and the Python
    catalog = _polish()
    by_id = {m.id if isinstance(m.id, str) else tuple(m.id): m for m in catalog if m.id}
    missing = sorted(
        f"{' · '.join(files)}: {msgid!r}"
        for msgid, files in extracted.items()
        if msgid not in by_id or not all(_forms(by_id[msgid].string))
    )
    assert missing == [], "texts without Polish:\n" + "\n".join(missing)
    obsolete = sorted(repr(msgid) for msgid in by_id if msgid not in extracted)
    assert obsolete == [], "Polish for texts the console no longer has:\n" + "\n".join(obsolete)
    assert list(catalog.obsolete) == []
    assert [m.id for m in catalog if m.id and m.fuzzy] == []


def test_the_polish_catalog_is_well_formed() -> None:
    catalog = _polish()
    assert catalog.num_plurals == 3
    assert catalog.plural_expr == (
        "(n==1 ? 0 : n%10>=2 && n%10<=4 && (n%100<10 || n%100>=20) ? 1 : 2)"
    )
    # Babel's own checks: plural forms, and python-format placeholders known to the msgid.
    assert [(m.id, [str(e) for e in errors]) for m, errors in catalog.check()] == []
    plurals = [m for m in catalog if m.id and m.pluralizable]
    assert plurals  # Polish plurals are in use
    for message in plurals:
        assert len(_forms(message.string)) == 3, message.id


def test_every_translation_keeps_its_placeholders() -> None:
    wrong = []
    for message in _polish():
        if not message.id:
            continue
        ids = _forms(message.id)
        wanted = sorted(set().union(*(_PLACEHOLDER.findall(i) for i in ids)))
        for form in _forms(message.string):
            got = sorted(set(_PLACEHOLDER.findall(form)))
            # A lone % would break the %-formatting every text goes through.
            stray = "%" in _PLACEHOLDER.sub("", form)
            if got != wanted or stray:
                wrong.append(f"{message.id!r}: {form!r} has {got}, wants {wanted}")
    assert wrong == []


def test_texts_shown_from_data_are_in_the_catalog() -> None:
    polish = {m.id: m.string for m in _polish() if isinstance(m.id, str)}
    shown = {
        *analytics_pages.LABELS.values(),  # the Overview's column headers
        *(d.unit for d in DEFINITIONS),  # the definitions' badges
        *(label for label, _path, _rule in menu._PAGES),
        *ROLES,  # the header's role
        *(label for _kind, label in SEARCH_KINDS),
        *(label for value, label in LANGUAGES if value == "auto"),
        # the charts' grain: weeks, months or years
        *(
            slices(Period(date(2026, 1, 1), last))[0]
            for last in (date(2026, 2, 1), date(2027, 6, 1), date(2030, 1, 1))
        ),
    }
    assert sorted(text for text in shown if not polish.get(text)) == []


def test_the_catalog_ships_with_the_package() -> None:
    """pyproject's package data takes every catalog under console/locale (no .mo files:
    they are compiled in memory)."""
    config = tomllib.loads((CONSOLE.parents[2] / "pyproject.toml").read_text("utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["omnicart"]
    package = CONSOLE.parent
    catalogs = sorted((CONSOLE / "locale").rglob("*.po"))
    assert [p.relative_to(CONSOLE / "locale").parts[0] for p in catalogs] == [
        locale for locale in LOCALES if locale != "en"
    ]
    for path in catalogs:
        name = path.relative_to(package).as_posix()
        assert any(fnmatch.fnmatch(name, pattern) for pattern in patterns), name
    assert list((CONSOLE / "locale").rglob("*.mo")) == []


def test_texts_in_python_are_translated_and_filled() -> None:
    _ = texts_of("pl")
    assert _("Wrong e-mail or password.") == "Nieprawidłowy e-mail lub hasło."
    assert _("Delivery: %(problem)s", problem="x") == "Komunikat: x"
    forms = {
        n: _.ngettext(
            "String should have at most %(num)s character.",
            "String should have at most %(num)s characters.",
            n,
        )
        for n in (1, 2, 5, 12, 22, 25)
    }
    assert forms == {
        1: "Wpisz co najwyżej 1 znak.",
        2: "Wpisz co najwyżej 2 znaki.",
        5: "Wpisz co najwyżej 5 znaków.",
        12: "Wpisz co najwyżej 12 znaków.",
        22: "Wpisz co najwyżej 22 znaki.",
        25: "Wpisz co najwyżej 25 znaków.",
    }
    english = texts_of("en")
    assert english("Delivery: %(problem)s", problem="x") == "Delivery: x"
    assert translations("pl") is translations("pl")  # compiled once per process


# ----------------------------------------------------------------- choosing the language


def _request(header: str) -> Request:
    return Request({"type": "http", "headers": [(b"accept-language", header.encode())]})


@pytest.mark.parametrize(
    ("own", "header", "locale"),
    [
        (None, "pl-PL,pl;q=0.9", "pl"),
        (None, "PL", "pl"),
        (None, "en-US,en;q=0.9,pl;q=0.8", "en"),
        (None, "de-CH, pl-PL;q=0.4, en-GB;q=0.3", "pl"),
        (None, "*, pl;q=0.5", "pl"),
        (None, "", "en"),
        ("en", "pl-PL,pl;q=0.9", "en"),  # the user's own setting wins
        ("pl", "en-US", "pl"),
        ("pl", "", "pl"),
    ],
)
def test_the_users_setting_else_the_browsers_language(
    own: str | None, header: str, locale: str
) -> None:
    request = _request(header)
    viewer = UserPrincipal(key_id=1, name="ann@shop.example", role="admin", locale=own)
    remember_viewer(request, viewer)
    assert viewer_locale(request) == locale


def test_numbers_money_and_times_in_each_language() -> None:
    moment = datetime(2026, 4, 5, 14, 7, tzinfo=UTC)
    english, polish = Numbers("en"), Numbers("pl")
    assert (english.money(Decimal("1234.5"), "EUR"), polish.money(Decimal("1234.5"), "EUR")) == (
        "€1,234.50",
        "1\xa0234,50\xa0€",
    )
    assert (english.count(12345), polish.count(12345)) == ("12,345", "12\xa0345")
    assert (english.signed(-1200), polish.signed(-1200), polish.signed(3)) == (
        "-1,200",
        "-1\xa0200",
        "+3",
    )
    assert english.when(moment) == "Apr 5, 2026, 2:07\u202fPM UTC"
    assert polish.when(moment) == "5 kwi 2026, 14:07 UTC"
    assert [polish.span(s) for s in (0, 59, 300, 7300, 200_000)] == [
        "0 sek.",
        "59 sek.",
        "5 min",
        "2 godz.",
        "2 dni",
    ]
    assert english.span(7300) == "2 hr"


# ------------------------------------------------------------------------------ pages


@pytest.fixture
def admin(console_app: FastAPI, world_db: tuple[Database, World]) -> Iterator[TestClient]:
    """The owner signed in, with no language of their own (set back afterwards)."""
    with TestClient(console_app) as client:
        sign_in(client, EMAILS["admin"])
        yield client
    _set_own(world_db[0], EMAILS["admin"], None)


def _own(db: Database, email: str) -> str | None:
    with db.reading() as session:
        return session.scalars(select(StaffUser.locale).where(StaffUser.email == email)).one()


def _set_own(db: Database, email: str, locale: str | None) -> None:
    with db.transaction() as session:
        row = session.scalars(select(StaffUser).where(StaffUser.email == email)).one()
        row.locale = locale


def test_a_page_in_the_browsers_language(
    admin: TestClient, world_db: tuple[Database, World]
) -> None:
    _db, world = world_db
    url = f"/console/orders/{world.own_order}"
    polish = admin.get(url, headers=POLISH)
    assert polish.status_code == 200
    assert '<html lang="pl">' in polish.text
    for text in ("Historia statusów", "Zamówienie", "Pozycje", "Wyloguj się", "Przegląd"):
        assert text in polish.text, text
    assert "19,99\xa0€" in polish.text  # a decimal comma, the sign after the amount
    assert "Status history" not in polish.text
    english = admin.get(url, headers=ENGLISH)
    assert '<html lang="en">' in english.text
    assert "Status history" in english.text
    assert "€19.99" in english.text
    assert "Historia statusów" not in english.text
    # Without Accept-Language: English.
    assert '<html lang="en">' in admin.get(url).text


def test_a_refused_form_speaks_polish_at_its_field(
    admin: TestClient, world_db: tuple[Database, World]
) -> None:
    _db, world = world_db
    csrf = csrf_of(admin.get("/console/stock").text)
    sent = {"csrf_token": csrf, "location_id": str(world.shop.krakow), "sku": "A"}
    for quantity, message in (
        ("abc", "Podaj liczbę całkowitą."),
        ("1000001", "Podaj liczbę nie większą niż 1\xa0000\xa0000."),
        ("0", "Podaj liczbę nie mniejszą niż 1."),
    ):
        answer = admin.post(
            "/console/stock/receipts", data={**sent, "quantity": quantity}, headers=POLISH
        )
        assert answer.status_code == 422
        assert f'<p class="field-error" id="quantity-error">{message}</p>' in answer.text
    english = admin.post("/console/stock/receipts", data={**sent, "quantity": "1000001"})
    assert "Input should be less than or equal to 1,000,000." in english.text
    refused = admin.post(
        "/console/stock/receipts",
        data={**sent, "quantity": "1"} | {"csrf_token": "x"},
        headers=POLISH,
    )
    assert refused.status_code == 403
    assert "Ten formularz nie został wysłany z Twojej sesji konsoli." in refused.text
    missing = admin.get("/console/no-such-page", headers=POLISH)
    assert (missing.status_code, "Nie ma takiej strony." in missing.text) == (404, True)


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (1, "1 komunikat zostanie przetworzony ponownie."),
        (3, "3 komunikaty zostaną przetworzone ponownie."),
        (5, "5 komunikatów zostanie przetworzonych ponownie."),
        (12, "12 komunikatów zostanie przetworzonych ponownie."),
        (22, "22 komunikaty zostaną przetworzone ponownie."),
    ],
)
def test_polish_plurals_on_a_page(admin: TestClient, count: int, text: str) -> None:
    page = admin.get(f"/console/connectors?requeued={count}", headers=POLISH)
    assert text in page.text


def test_the_users_own_setting_overrides_the_browser(
    admin: TestClient, world_db: tuple[Database, World]
) -> None:
    db, world = world_db
    url = f"/console/orders/{world.own_order}"

    def choose(locale: str) -> None:
        csrf = csrf_of(admin.get("/console").text)
        done = admin.post(
            "/console/language",
            data={"csrf_token": csrf, "locale": locale, "next": url},
            follow_redirects=False,
        )
        assert (done.status_code, done.headers["location"]) == (303, url)

    choose("en")
    assert _own(db, EMAILS["admin"]) == "en"
    assert "Status history" in admin.get(url, headers=POLISH).text
    choose("pl")
    assert _own(db, EMAILS["admin"]) == "pl"
    page = admin.get(url, headers=ENGLISH).text
    assert '<html lang="pl">' in page
    assert "Historia statusów" in page
    assert '<option value="pl" selected lang="pl">Polski</option>' in page
    # The analytics pages' numbers follow the setting too.
    overview = admin.get("/console/analytics?currency=EUR", headers=ENGLISH).text
    assert "Sprzedaż i zysk według kanałów" in overview
    assert "0,00\xa0€" in overview
    choose("auto")
    assert _own(db, EMAILS["admin"]) is None
    assert "Status history" in admin.get(url, headers=ENGLISH).text
    assert "Historia statusów" in admin.get(url, headers=POLISH).text


def test_the_language_form_refuses_without_the_token_or_with_an_unknown_language(
    admin: TestClient, console_app: FastAPI, world_db: tuple[Database, World]
) -> None:
    db, _world = world_db
    _set_own(db, EMAILS["admin"], "pl")
    csrf = csrf_of(admin.get("/console").text)
    for data in ({"locale": "en"}, {"locale": "en", "csrf_token": "0" * 64}):
        refused = admin.post("/console/language", data=data, follow_redirects=False)
        assert refused.status_code == 403
        assert _own(db, EMAILS["admin"]) == "pl"
    # Another browser's token is not this one's.
    with TestClient(console_app) as other:
        sign_in(other, EMAILS["analyst"])
        forged = csrf_of(other.get("/console").text)
    assert forged != csrf
    refused = admin.post("/console/language", data={"locale": "en", "csrf_token": forged})
    assert refused.status_code == 403
    assert _own(db, EMAILS["admin"]) == "pl"
    for locale in ("de", "", "pl-PL"):
        answer = admin.post("/console/language", data={"locale": locale, "csrf_token": csrf})
        assert answer.status_code == 422
        assert 'aria-describedby="language-choice-error"' in answer.text
        assert (
            '<p class="field-error" id="language-choice-error">Wybierz jeden z języków z listy.</p>'
        ) in answer.text
        assert _own(db, EMAILS["admin"]) == "pl"
    # Signed out, the form leads to the sign-in page and changes nothing.
    with TestClient(console_app) as nobody:
        answer = nobody.post("/console/language", data={"locale": "en"}, follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/console/sign-in")
    assert _own(db, EMAILS["admin"]) == "pl"


def test_the_sign_in_page_speaks_the_browsers_language(console_app: FastAPI) -> None:
    with TestClient(console_app) as client:
        page = client.get("/console/sign-in", headers=POLISH).text
        assert '<html lang="pl">' in page
        assert "Zaloguj się" in page
        assert 'action="/console/language"' not in page  # nobody to keep a setting for
        csrf = csrf_of(page)
        wrong = client.post(
            "/console/sign-in",
            data={"email": EMAILS["admin"], "password": "not it at all", "csrf_token": csrf},
            headers=POLISH,
        )
        assert wrong.status_code == 401
        assert "Nieprawidłowy e-mail lub hasło." in wrong.text
