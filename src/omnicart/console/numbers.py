"""Figures and times written for the viewer: money, percents, ratios, counts and times
formatted by Babel in the request's language (console.i18n.viewer_locale), money with its
currency's minor units."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from babel.core import Locale
from babel.dates import format_date, format_time
from babel.numbers import format_currency, format_decimal, format_percent
from babel.units import format_unit

from omnicart.analytics.channels import Figure
from omnicart.console.i18n import viewer_locale

__all__ = ["NONE", "Numbers", "viewer_locale"]  # viewer_locale: pages import it from here

NONE = "–"  # a ratio over zero, or a figure that has no value
# A span of time in its largest whole unit (a sync lag): Babel's CLDR unit names.
_SPANS = (
    ("duration-day", 86_400),
    ("duration-hour", 3_600),
    ("duration-minute", 60),
    ("duration-second", 1),
)


@dataclass(frozen=True, slots=True)
class Numbers:
    """Formats figures in one locale (templates call `n.money(...)`, `n.figure(...)`)."""

    locale: str

    def money(self, amount: Decimal | None, currency: str | None) -> str:
        """Money with its currency's symbol and minor units."""
        if amount is None or currency is None:
            return NONE
        return str(format_currency(amount, currency, locale=self.locale))

    def percent(self, value: Decimal | None) -> str:
        """A percent figure (40.00 means 40 %), with its two decimals."""
        if value is None:
            return NONE
        return str(format_percent(value / 100, format="#,##0.00%", locale=self.locale))

    def share(self, value: Decimal | None) -> str:
        """A ratio of a whole (0.25) as a percent."""
        return NONE if value is None else self.percent(value * 100)

    def ratio(self, value: Decimal | None) -> str:
        """A ratio (ROAS 1.2345): up to four decimals."""
        if value is None:
            return NONE
        return str(format_decimal(value, format="#,##0.00##", locale=self.locale))

    def count(self, value: int | Decimal | None) -> str:
        """A whole number (or a fractional count) with the locale's grouping."""
        if value is None:
            return NONE
        return str(format_decimal(value, locale=self.locale))

    def signed(self, value: int) -> str:
        """A change in units, with its sign (+3, −2, 0)."""
        return str(format_decimal(value, format="+#,##0;-#,##0", locale=self.locale))

    def when(self, value: datetime | None) -> str:
        """A moment as the locale writes a date and a time, in UTC ("" when unknown)."""
        if value is None:
            return ""
        moment = value.astimezone(UTC)
        day = format_date(moment, "medium", locale=self.locale)
        clock = format_time(moment, "short", tzinfo=UTC, locale=self.locale)
        glue = str(Locale.parse(self.locale).datetime_formats["medium"])
        return f"{glue.replace('{1}', day).replace('{0}', clock)} UTC"

    def span(self, seconds: int) -> str:
        """A span of time in its largest whole unit: 5 min, 3 godz."""
        seconds = max(0, seconds)
        unit, size = next(((u, s) for u, s in _SPANS if seconds >= s), _SPANS[-1])
        return str(format_unit(seconds // size, unit, length="short", locale=self.locale))

    def figure(self, figure: Figure) -> str:
        """An analytics figure by its definition's unit."""
        value = figure.value
        if figure.unit == "money":
            return self.money(None if value is None else Decimal(value), figure.currency)
        if figure.unit == "percent":
            return self.percent(None if value is None else Decimal(value))
        if figure.unit == "ratio":
            return self.ratio(None if value is None else Decimal(value))
        return self.count(value)

    @property
    def separators(self) -> str:
        """Plotly's `separators`: the decimal mark, then the grouping mark."""
        formatted = str(format_decimal(Decimal("1000.5"), locale=self.locale))
        return formatted[-2] + formatted[1]
