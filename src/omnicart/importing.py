"""What the CSV importers share: a rejected row, and the all-or-nothing refusal."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from omnicart.kernel.errors import ValidationFailed


@dataclass(frozen=True, slots=True, order=True)
class RowError:
    """Why one cell (or row) of a file was rejected; row 1 is the header."""

    row: int
    column: str
    reason: str


class ImportRejected(ValidationFailed):
    """The file has rejected rows; nothing was written."""

    def __init__(self, errors: Sequence[RowError]) -> None:
        count = len(errors)
        super().__init__(
            f"{count} problem{'s' if count != 1 else ''} in the file; nothing was imported",
            field="file",
        )
        self.errors = list(errors)  # in the order the importer reports them
