"""README.md's configuration table documents every setting, with its real default: a new
setting without a row (or a row for a setting that is gone) fails here."""

from __future__ import annotations

import re
from pathlib import Path

from omnicart.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"
ROW = re.compile(r"^\| `(OMNICART_[A-Z0-9_]+)` \| (?P<default>[^|]*) \|", re.MULTILINE)


def _configuration_rows() -> dict[str, str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    return {m[1]: m["default"].strip() for m in ROW.finditer(section)}


def _documented_default(value: object) -> str:
    return "unset" if value is None else f"`{value}`"


def test_every_setting_has_a_row_with_its_default() -> None:
    rows = _configuration_rows()
    expected = {
        f"OMNICART_{name.upper()}": _documented_default(field.default)
        for name, field in Settings.model_fields.items()
    }
    assert rows == expected
