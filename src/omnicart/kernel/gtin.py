"""GTIN (EAN-8, UPC-A, EAN-13, GTIN-14) validation by the GS1 check digit."""

from __future__ import annotations

import re

from omnicart.kernel.errors import ValidationFailed

_LENGTHS = (8, 12, 13, 14)
# ASCII only: str.isdigit() also accepts "٤" and "¹", which scanners never print.
_DIGITS = re.compile("[0-9]+")


def gtin_check_digit(body: str) -> int:
    """The GS1 mod-10 check digit for the digits before it."""
    total = 0
    for position, char in enumerate(reversed(body)):
        total += int(char) * (3 if position % 2 == 0 else 1)
    return (10 - total % 10) % 10


def validate_gtin(value: str, *, field: str = "gtin") -> str:
    """Return the GTIN unchanged if it is 8/12/13/14 digits with a right check digit."""
    code = value.strip()
    if not _DIGITS.fullmatch(code) or len(code) not in _LENGTHS:
        raise ValidationFailed(f"GTIN {value!r} must be 8, 12, 13 or 14 digits", field=field)
    expected = gtin_check_digit(code[:-1])
    if int(code[-1]) != expected:
        raise ValidationFailed(
            f"GTIN {value!r} has check digit {code[-1]}, expected {expected}", field=field
        )
    return code
