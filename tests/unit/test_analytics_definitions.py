"""The definitions are one list, and README.md's definitions table is that list."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

import pytest

from omnicart.analytics.definitions import (
    BY_NAME,
    DEFINITIONS,
    TABLE_HEADER,
    Unit,
    definition,
    definitions_table,
)

README = Path(__file__).resolve().parents[2] / "README.md"


def test_each_definition_is_one_named_line_with_a_unit() -> None:
    names = [d.name for d in DEFINITIONS]
    assert len(names) == len(set(names)) == len(BY_NAME)
    for d in DEFINITIONS:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", d.name), d.name
        assert d.unit in get_args(Unit)
        # One line of a markdown table: no pipe, no line break, a sentence.
        assert "|" not in d.text, d.name
        assert "\n" not in d.text, d.name
        assert d.text.endswith("."), d.name
    assert definition("net_sales").text == "gross_sales − discounts − refunds."
    with pytest.raises(KeyError):
        definition("revenue")


def test_the_table_has_a_row_per_definition_in_order() -> None:
    lines = definitions_table().splitlines()
    assert lines[0] == TABLE_HEADER
    assert lines[2] == f"| `orders` | count | {definition('orders').text} |"
    assert len(lines) == 2 + len(DEFINITIONS)


def test_readme_lists_exactly_these_definitions() -> None:
    text = README.read_text(encoding="utf-8")
    if TABLE_HEADER not in text:
        pytest.skip("README.md has no definitions table yet (the lead merges it)")
    start = text.index(TABLE_HEADER)
    rows = []
    for line in text[start:].splitlines():
        if not line.startswith("|"):
            break
        rows.append(line)
    assert "\n".join(rows) == definitions_table()
