"""HTML forms into the API's own input models, and errors back onto the form's fields."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from pydantic import ValidationError

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


def field_errors(exc: ValidationError, fields: Mapping[str, str]) -> dict[str, str]:
    """The model's errors by form field (`fields` maps the API's names to the form's)."""
    found: dict[str, str] = {}
    for error in exc.errors():
        name = ".".join(str(part) for part in error["loc"])
        found.setdefault(fields.get(name, name), _sentence(error["msg"]))
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
