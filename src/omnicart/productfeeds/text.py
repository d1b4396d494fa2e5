"""Text written as it streams: a buffer handed on in chunks, and delimited rows.

A feed of any size never sits in memory whole: writers put text into a `ChunkBuffer`
and yield what it holds once it passes `CHUNK` characters.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from typing import Final

from omnicart.productfeeds.model import FeedItem

CHUNK: Final = 64 * 1024


class ChunkBuffer:
    """A text buffer that gives its contents away once it holds enough."""

    def __init__(self) -> None:
        self.text = io.StringIO()

    def take(self, at_least: int = CHUNK) -> str | None:
        """Everything written so far (and empties it), once it is `at_least` long."""
        if self.text.tell() < at_least or self.text.tell() == 0:
            return None
        chunk = self.text.getvalue()
        self.text.seek(0)
        self.text.truncate()
        return chunk


def write_delimited(
    items: Iterable[FeedItem],
    columns: Sequence[str],
    *,
    delimiter: str,
    lineterminator: str,
) -> Iterator[str]:
    """A header of `columns`, then one row per item (blank where it has no value).

    The csv module quotes a value holding the delimiter, a quote or a line break, and
    doubles quotes inside it, which is how both vendors read quoted values.
    """
    buffer = ChunkBuffer()
    writer = csv.writer(buffer.text, delimiter=delimiter, lineterminator=lineterminator)
    writer.writerow(columns)
    for item in items:
        values = dict(item.attributes)
        writer.writerow([values.get(name, "") for name in columns])
        if (chunk := buffer.take()) is not None:
            yield chunk
    if (chunk := buffer.take(at_least=1)) is not None:
        yield chunk
