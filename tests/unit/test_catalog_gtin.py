"""GTIN check digits, property-based: valid codes pass, any one-digit change fails."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnicart.catalog.model import optional_gtin
from omnicart.kernel.errors import ValidationFailed
from omnicart.kernel.gtin import gtin_check_digit


@st.composite
def valid_gtins(draw: st.DrawFn) -> str:
    length = draw(st.sampled_from([8, 12, 13, 14]))
    body = draw(st.text(alphabet="0123456789", min_size=length - 1, max_size=length - 1))
    return body + str(gtin_check_digit(body))


def _expected_check_digit(body: str) -> int:
    # Independent restatement of GS1: weights 3,1,3,… from the right of the body.
    weights = [3 if i % 2 == 0 else 1 for i in range(len(body))]
    total = sum(int(d) * w for d, w in zip(reversed(body), weights, strict=True))
    return -total % 10


@given(valid_gtins())
def test_valid_gtins_pass(gtin: str) -> None:
    assert int(gtin[-1]) == _expected_check_digit(gtin[:-1])
    assert optional_gtin(gtin) == gtin


@given(valid_gtins(), st.data())
def test_any_single_digit_change_fails(gtin: str, data: st.DataObject) -> None:
    position = data.draw(st.integers(min_value=0, max_value=len(gtin) - 1))
    digit = data.draw(st.sampled_from([d for d in "0123456789" if d != gtin[position]]))
    changed = gtin[:position] + digit + gtin[position + 1 :]
    with pytest.raises(ValidationFailed) as caught:
        optional_gtin(changed)
    assert caught.value.field == "gtin"


@pytest.mark.parametrize("bad", ["40063813339", "40063813339311x", "abcdefgh", "1234567"])
def test_wrong_lengths_and_letters_fail(bad: str) -> None:
    with pytest.raises(ValidationFailed, match="must be 8, 12, 13 or 14 digits"):
        optional_gtin(bad)


@pytest.mark.parametrize("bad", ["٤٠٠٦٣٨١٣٣٣٩٣١", "¹2345670", "４００６３８１３３３９３１"])
def test_only_ascii_digits_pass(bad: str) -> None:
    with pytest.raises(ValidationFailed, match="must be 8, 12, 13 or 14 digits") as caught:
        optional_gtin(bad)
    assert caught.value.field == "gtin"


@given(valid_gtins(), st.data())
def test_any_non_ascii_digit_fails(gtin: str, data: st.DataObject) -> None:
    # Unicode has many digit characters (Arabic-Indic, superscripts, full-width) that
    # str.isdigit() accepts; none belongs in a GTIN.
    position = data.draw(st.integers(min_value=0, max_value=len(gtin) - 1))
    digit = data.draw(
        st.characters(categories=["Nd", "No"]).filter(
            lambda c: c.isdigit() and c not in "0123456789"
        )
    )
    changed = gtin[:position] + digit + gtin[position + 1 :]
    with pytest.raises(ValidationFailed, match="must be 8, 12, 13 or 14 digits"):
        optional_gtin(changed)
