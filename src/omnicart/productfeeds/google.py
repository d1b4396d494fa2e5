"""Google Merchant Center feeds: RSS 2.0 with the `g:` namespace, and tab-separated text.

Both are written as they stream, a chunk of text at a time. XML goes through a SAX
writer (it escapes `<`, `&` and `>`); TSV through the csv module (a value holding a tab,
a line break or a quote is quoted, which Google reads as "value quoting").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Final
from xml.sax.saxutils import XMLGenerator
from xml.sax.xmlreader import AttributesNSImpl

from omnicart.productfeeds.model import GOOGLE_ATTRIBUTES, FeedItem
from omnicart.productfeeds.text import ChunkBuffer, write_delimited

G_NAMESPACE: Final = "http://base.google.com/ns/1.0"
# XML 1.0 cannot carry these characters at all, not even escaped.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_NO_ATTRIBUTES = AttributesNSImpl({}, {})


@dataclass(frozen=True, slots=True)
class RssChannel:
    """What the RSS `<channel>` says of the feed: the shop's name, home page, and a line."""

    title: str
    link: str
    description: str


def xml_text(value: str) -> str:
    """Text as XML can carry it: line ends as `\\n` (a parser turns a bare CR into one
    anyway), and the control characters XML 1.0 forbids left out."""
    return _NOT_XML.sub("", value.replace("\r\n", "\n").replace("\r", "\n"))


def _element(xml: XMLGenerator, name: str, text: str, *, namespace: str | None = None) -> None:
    qname = f"g:{name}" if namespace else name
    xml.startElementNS((namespace, name), qname, _NO_ATTRIBUTES)
    xml.characters(xml_text(text))
    xml.endElementNS((namespace, name), qname)


def write_rss(items: Iterable[FeedItem], *, channel: RssChannel) -> Iterator[str]:
    """The items as a Google RSS 2.0 feed, in chunks of text (UTF-8 declared)."""
    buffer = ChunkBuffer()
    xml = XMLGenerator(buffer.text, encoding="utf-8", short_empty_elements=True)
    xml.startDocument()
    xml.startPrefixMapping("g", G_NAMESPACE)
    xml.startElementNS((None, "rss"), "rss", AttributesNSImpl({(None, "version"): "2.0"}, {}))
    xml.ignorableWhitespace("\n")
    xml.startElementNS((None, "channel"), "channel", _NO_ATTRIBUTES)
    for name, text in (
        ("title", channel.title),
        ("link", channel.link),
        ("description", channel.description),
    ):
        xml.ignorableWhitespace("\n")
        _element(xml, name, text)
    for item in items:
        xml.ignorableWhitespace("\n")
        xml.startElementNS((None, "item"), "item", _NO_ATTRIBUTES)
        for name, value in item.attributes:
            _element(xml, name, value, namespace=G_NAMESPACE)
        xml.endElementNS((None, "item"), "item")
        if (chunk := buffer.take()) is not None:
            yield chunk
    xml.ignorableWhitespace("\n")
    xml.endElementNS((None, "channel"), "channel")
    xml.ignorableWhitespace("\n")
    xml.endElementNS((None, "rss"), "rss")
    xml.endPrefixMapping("g")
    xml.ignorableWhitespace("\n")
    xml.endDocument()
    if (chunk := buffer.take(at_least=1)) is not None:
        yield chunk


def write_tsv(items: Iterable[FeedItem]) -> Iterator[str]:
    """The items as Google's tab-separated feed: a header of attribute names, one row each."""
    return write_delimited(items, GOOGLE_ATTRIBUTES, delimiter="\t", lineterminator="\n")
