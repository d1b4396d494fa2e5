"""Cursors: only ids this API could have issued decode."""

from __future__ import annotations

import base64

import orjson
import pytest

from omnicart.api.pagination import decode_cursor, encode_cursor
from omnicart.kernel.errors import ValidationFailed


def _cursor(after: object) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"after": after})).decode().rstrip("=")


def test_round_trip_up_to_the_largest_bigint() -> None:
    assert decode_cursor(encode_cursor(42)) == 42
    assert decode_cursor(encode_cursor(2**63 - 1)) == 2**63 - 1
    assert decode_cursor(None) == 0


@pytest.mark.parametrize("after", [True, False, 2**63, -1, 1.5, "7"])
def test_booleans_and_out_of_range_values_are_refused(after: object) -> None:
    with pytest.raises(ValidationFailed) as caught:
        decode_cursor(_cursor(after))
    assert caught.value.field == "cursor"
    assert caught.value.detail == "cursor is not one this API issued"
