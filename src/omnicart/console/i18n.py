"""The console's languages and which one answers a request.

English is the texts as written; Polish is the catalog `locale/pl/LC_MESSAGES/messages.po`
(Babel's format, extracted with `babel.cfg`), compiled in memory once per process. A
request is answered in the signed-in user's own setting, else the first of the browser's
Accept-Language the console speaks, else English: `viewer_locale`, the one place that
decides, for the texts and for how numbers, money and times are written.

Python marks a text where it is written: `_ = texts_for(request)` then `_("…")` (or
`_.ngettext(…)`) when the request is known, `N_("…")` for a constant translated where it
is shown (a template's `_()`).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from functools import cache
from gettext import NullTranslations
from importlib.resources import files
from importlib.resources.abc import Traversable

from babel.core import negotiate_locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from fastapi import Request

from omnicart.users.model import LOCALES
from omnicart.users.service import UserPrincipal

DEFAULT_LOCALE = LOCALES[0]  # English: the texts as written
DOMAIN = "messages"
MAX_HEADER = 500  # of Accept-Language read; browsers send a few dozen characters
_OWN_LOCALE = "console_locale"  # request.state: the signed-in viewer's own setting
_RANGE = re.compile(r"[a-z]{1,8}(?:-[a-z0-9]{1,8})*")


def N_(message: str) -> str:  # noqa: N802 (gettext's own name for "mark, do not translate")
    """Mark a text for the catalog; a template's `_()` translates it where it is shown."""
    return message


def catalog_file(locale: str) -> Traversable:
    """The message catalog (.po) of a language that is not English."""
    return files("omnicart.console") / "locale" / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def translations(locale: str) -> NullTranslations:
    """The texts in `locale`: English as written, others from their catalog (compiled here,
    in memory: no .mo file is built or shipped)."""
    if locale == DEFAULT_LOCALE:
        return NullTranslations()
    with catalog_file(locale).open("rb") as po:
        catalog = read_po(po, locale=locale, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    found: NullTranslations = Translations(compiled, domain=DOMAIN)
    return found


def _weight(params: list[str]) -> float:
    for param in params:
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0


def browser_locale(header: str) -> str | None:
    """The first of the Accept-Language's languages (by q-value, then as listed) that the
    console speaks, matched by Babel's negotiation (pl-PL is pl)."""
    ranked: list[tuple[str, float]] = []
    for part in header[:MAX_HEADER].split(","):
        tag, *params = part.split(";")
        tag = tag.strip().lower()
        weight = _weight(params)
        if weight > 0 and _RANGE.fullmatch(tag):
            ranked.append((tag, weight))
    ranked.sort(key=lambda item: -item[1])  # stable: equal weights keep the header's order
    found: str | None = negotiate_locale([tag for tag, _ in ranked], LOCALES, sep="-")
    return found


def remember_viewer(request: Request, viewer: UserPrincipal | None) -> None:
    """Note the request's signed-in viewer's own language (access.current_viewer calls this
    for every console request it resolves)."""
    setattr(request.state, _OWN_LOCALE, viewer.locale if viewer is not None else None)


def viewer_locale(request: Request) -> str:
    """The language this request is answered in: the signed-in user's own setting, else
    the browser's (Accept-Language), else English."""
    own = getattr(request.state, _OWN_LOCALE, None)
    if own in LOCALES:
        return str(own)
    return browser_locale(request.headers.get("accept-language", "")) or DEFAULT_LOCALE


@dataclass(frozen=True, slots=True)
class Texts:
    """Python's texts in one language: `_("…", name=value)` and `_.ngettext(…)`; values
    fill the %(name)s placeholders after translation."""

    locale: str
    catalog: NullTranslations

    def __call__(self, message: str, /, **values: object) -> str:
        """The text translated, its placeholders filled."""
        translated = self.catalog.gettext(message)
        return translated % values if values else translated

    def ngettext(self, singular: str, plural: str, n: int, /, **values: object) -> str:
        """The form for `n` (Polish has three), its placeholders filled (`num` is n)."""
        return self.catalog.ngettext(singular, plural, n) % {"num": n, **values}


def texts_of(locale: str) -> Texts:
    """Python's texts in `locale`."""
    return Texts(locale, translations(locale))


def texts_for(request: Request) -> Texts:
    """Python's texts in the request's language (`viewer_locale`)."""
    return texts_of(viewer_locale(request))


# Texts that reach a template's `_()` as data from modules that do not mark them: the
# Overview's figure labels and chart titles (analytics_pages.LABELS, chart(...)), the
# channel page's chart, a series' grain (analytics_data.slices) and a definition's unit
# (analytics.definitions). test_console_i18n checks that each such value is here.
DATA_TEXTS = (
    N_("Orders"), N_("Net sales"), N_("Costs"), N_("Net profit"), N_("ROI"), N_("ROAS"),
    N_("AOV"), N_("Conversion rate"), N_("Return rate"), N_("Ad spend"),
    N_("Ad spend and net sales"),
    N_("week"), N_("month"), N_("year"),
    N_("count"), N_("money"), N_("percent"), N_("ratio"),
)  # fmt: skip
