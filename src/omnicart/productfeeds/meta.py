"""Meta catalog feed: CSV with a header row, as Meta's reference and sample feed write it
(fields holding commas, quotes or line breaks double-quoted; CRLF line ends)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from omnicart.productfeeds.model import META_COLUMNS, FeedItem
from omnicart.productfeeds.text import write_delimited


def write_csv(items: Iterable[FeedItem]) -> Iterator[str]:
    """The items as a Meta catalog CSV, in chunks of text."""
    return write_delimited(items, META_COLUMNS, delimiter=",", lineterminator="\r\n")
