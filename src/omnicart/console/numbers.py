"""Figures written for the viewer: the locale from Accept-Language (en or pl), and money,
percents, ratios and counts formatted by Babel in it (money with its currency's minor units)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from babel.numbers import format_currency, format_decimal, format_percent
from fastapi import Request

from omnicart.analytics.channels import Figure

LOCALES = ("en", "pl")
DEFAULT_LOCALE = "en"
NONE = "–"  # a ratio over zero, or a figure that has no value


def _weight(part: str) -> float:
    for param in part.split(";")[1:]:
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0


def viewer_locale(request: Request) -> str:
    """The first of the viewer's languages (by q-value) the console formats for, else en."""
    header = request.headers.get("accept-language", "")[:500]
    ranked = sorted(
        ((part.split(";")[0].strip().lower(), _weight(part)) for part in header.split(",")),
        key=lambda item: -item[1],  # stable: equal weights keep the header's order
    )
    for tag, weight in ranked:
        language = tag.split("-")[0]
        if weight > 0 and language in LOCALES:
            return language
    return DEFAULT_LOCALE


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
