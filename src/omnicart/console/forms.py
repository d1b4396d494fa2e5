"""HTML forms into the API's own input models, and errors back onto the form's fields.

The input models' common refusals (a missing field, not a whole number, out of bounds,
too long) are written by the console in the viewer's language; a model's own rule (a
value error) and a service's refusal are the API's English detail.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from babel.numbers import format_decimal
from pydantic import ValidationError

from omnicart.console.i18n import N_, Texts
from omnicart.kernel.errors import OmnicartError

_WHOLE = re.compile(r"-?[0-9]{1,19}")


def whole_number(raw: object) -> object:
    """A form's text as an int when it is a whole number, else as it came (so the model's
    strict integer rule refuses it and names the field)."""
    if isinstance(raw, str) and _WHOLE.fullmatch(raw.strip()):
        return int(raw.strip())
    return raw


def text(raw: object) -> str:
    """A form's text field ("" when missing or a file)."""
    return raw if isinstance(raw, str) else ""


# pydantic's error types whose message the console writes (as pydantic does, in English).
_REFUSALS = {
    "missing": N_("Field required."),
    "string_type": N_("Input should be a valid string."),
    "int_type": N_("Input should be a valid integer."),
    "int_parsing": N_("Input should be a valid integer, unable to parse string as an integer."),
    "int_from_float": N_("Input should be a valid integer, got a number with a fractional part."),
    "greater_than_equal": N_("Input should be greater than or equal to %(ge)s."),
    "greater_than": N_("Input should be greater than %(gt)s."),
    "less_than_equal": N_("Input should be less than or equal to %(le)s."),
    "less_than": N_("Input should be less than %(lt)s."),
}


def _bound(value: object, locale: str) -> object:
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return format_decimal(value, locale=locale)
    return value


def validation_message(error: Mapping[str, Any], _: Texts) -> str:
    """One of an input model's errors as a sentence in the viewer's language."""
    kind = str(error.get("type", ""))
    context = {k: _bound(v, _.locale) for k, v in (error.get("ctx") or {}).items()}
    if kind in _REFUSALS:
        return _(_REFUSALS[kind], **context)
    if kind == "string_too_short":
        return _.ngettext(
            "String should have at least %(num)s character.",
            "String should have at least %(num)s characters.",
            int(error["ctx"]["min_length"]),
        )
    if kind == "string_too_long":
        return _.ngettext(
            "String should have at most %(num)s character.",
            "String should have at most %(num)s characters.",
            int(error["ctx"]["max_length"]),
        )
    return _sentence(str(error.get("msg", kind or "invalid")))


def field_errors(exc: ValidationError, fields: Mapping[str, str], texts: Texts) -> dict[str, str]:
    """The model's errors by form field (`fields` maps the API's names to the form's), in
    the viewer's language (`texts`)."""
    found: dict[str, str] = {}
    for error in exc.errors():
        name = ".".join(str(part) for part in error["loc"])
        found.setdefault(fields.get(name, name), validation_message(error, texts))
    return found


def _sentence(message: str) -> str:
    message = message.removeprefix("Value error, ")
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")


def sentence(message: str) -> str:
    """A service's message as a sentence for the page."""
    return _sentence(message)


def service_error(exc: OmnicartError, fields: Mapping[str, str], *, form: str) -> dict[str, str]:
    """A service's refusal at the form field it names (`fields` maps the API's names to the
    form's); one about the object as a whole (its status, the order) is the form's."""
    return {fields.get(exc.field or "", form): sentence(exc.detail)}


def shown(form: Mapping[str, object], names: Iterable[str]) -> dict[str, str]:
    """The form's fields as they were sent, to show them again."""
    return {name: text(form.get(name)) for name in names}
