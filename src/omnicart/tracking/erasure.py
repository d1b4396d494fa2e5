"""Erasure (GDPR/RODO) in the event store: a person's events stay, anonymous.

`erase_people` finds every event of a person: their userId or anonymousId (also as an
alias's previousId), or one of their e-mail addresses, phone numbers or other
identifiers (loyalty card, POS customer number, marketplace buyer id) anywhere in the
event's properties, traits, context or integrations (a phone matches however it is
spaced or punctuated, with or without its country code: on its last nine digits; a card
however it is cased and punctuated). In each such event:

- `user_id`, `anonymous_id` and `previous_id` become the pseudonym, so the person's
  events still count as one (unknown) person's: funnels and retention stay right. In the
  order book's events only the person's own ids do: their anonymousId names the order;
- personal fields are removed from traits, context, properties and integrations, at any
  depth: e-mail, phone, names, address, birthday, IP address, user agent, device and
  advertising ids, the identifying traits (loyalty card, POS customer, marketplace
  buyer), `context.location`, and every object of traits (`traits`, `context.traits`,
  `properties.customer`) loses its `name`, `city` and `location` too; any other
  `location` (a warehouse or store code in an order's routing plan) is the shop's, kept;
- any string equal to one of the person's ids becomes the pseudonym; any string that
  contains one of their e-mail addresses or phone numbers, or is one of their other
  identifiers, is removed;
- amounts, currencies, products, order ids and the event's name and time are kept, so
  revenue and every other aggregate is unchanged.

Copies are erased too. The spool is drained first (under the store lock, so no flusher
runs meanwhile); what live spool segments still hold of stored events is overwritten
with zeros; every Parquet export this store wrote (recorded in its `exports` table) is
rewritten in place; and the DuckDB file is rebuilt, because DuckDB leaves the old
version of an updated row in the file's free blocks. Exports copied elsewhere by hand
are out of reach: regenerate them (`omnicart events export`) after an erasure.

Events that reach the store after the erasure are checked on arrival against the
suppressed identifiers (suppressed.py): dropped, or stored as `strip_row` leaves them.
The caller erases the operational database (the outbox included) first, so the order
book's events that are still to be delivered no longer carry the person's data.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from omnicart.kernel.errors import ValidationFailed
from omnicart.tracking.model import COLUMNS
from omnicart.tracking.outbox import OUTBOX_SOURCE_ID
from omnicart.tracking.store import EventStore, open_store

_DROP = object()
# Field names (lower case, without `_` and `-`) that hold personal data wherever they are.
PERSONAL_KEYS = frozenset(
    {
        "email",
        "emails",
        "phone",
        "phones",
        "mobile",
        "phonenumber",
        "firstname",
        "lastname",
        "fullname",
        "username",
        "birthday",
        "dateofbirth",
        "address",
        "shippingaddress",
        "billingaddress",
        "street",
        "postalcode",
        "zip",
        "zipcode",
        "ip",
        "ipaddress",
        "useragent",
        "advertisingid",
        # Identifiers that identity resolution reads from traits (customers/events.py).
        "loyaltycard",
        "poscustomer",
        "marketplacebuyer",
    }
)
# `location` is the person's where Segment puts it (`context.location`: city, coordinates)
# and in an object about the person; elsewhere it is the shop's: a warehouse or store code
# in an `Order Routed` plan, which erasure must keep.
# Objects that describe a person as a whole: here `name` and `city` are theirs too.
_PERSON_OBJECTS = frozenset({"traits", "customer", "user", "contact", "person"})
_PERSON_KEYS = PERSONAL_KEYS | {"name", "city", "title", "avatar", "gender", "age", "location"}
_CONTEXT_KEYS = PERSONAL_KEYS | {"location"}
_DEVICE_IDS = frozenset({"id", "token", "advertisingid"})
_PHONE_SEPARATORS = r"[\s().+\-/]*"
_CARD_NOISE = re.compile(r"[^0-9a-z]")
_MIN_PHONE_DIGITS = 6
_MIN_CARD = 4
_NATIONAL_DIGITS = 9
_TEXT_COLUMNS = ("properties", "traits", "context", "integrations")
_ID_COLUMNS = ("user_id", "anonymous_id", "previous_id")


def _norm_key(key: str) -> str:
    return key.lower().replace("_", "").replace("-", "")


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def _compact(text: str) -> str:
    """A card or account number without case, spaces and punctuation (`LC-77` = `lc77`)."""
    return _CARD_NOISE.sub("", text.lower())


@dataclass(frozen=True)
class _Person:
    """What identifies the people to erase, prepared for matching."""

    ids: frozenset[str]
    texts: tuple[str, ...]  # e-mails and phones as given, lower case
    phone_digits: tuple[str, ...]
    pseudonym: str
    cards: frozenset[str] = frozenset()  # loyalty cards, POS and buyer numbers, compacted

    def personal_text(self, value: str) -> bool:
        """Whether a string holds one of the e-mails or phone numbers."""
        lowered = value.lower()
        if self.cards and _compact(value) in self.cards:
            return True
        if any(text in lowered for text in self.texts):
            return True
        if self.phone_digits and sum(ch.isdigit() for ch in value) >= _MIN_PHONE_DIGITS:
            digits = _digits(value)
            return any(phone in digits for phone in self.phone_digits)
        return False

    def scrub(
        self, value: Any, *, person: bool = False, device: bool = False, context: bool = False
    ) -> Any:
        """`value` without personal data (`_DROP` where all of it goes); `context`: value
        is an event's `context`, `person`: an object describing the person."""
        if isinstance(value, str):
            if value in self.ids:
                return self.pseudonym
            return _DROP if self.personal_text(value) else value
        if isinstance(value, list):
            return [kept for item in value if (kept := self.scrub(item)) is not _DROP]
        if not isinstance(value, dict):
            return value
        personal = _PERSON_KEYS if person else _CONTEXT_KEYS if context else PERSONAL_KEYS
        cleaned: dict[str, Any] = {}
        for key, item in value.items():
            norm = _norm_key(key)
            if norm in personal or (device and norm in _DEVICE_IDS):
                continue
            kept = self.scrub(item, person=norm in _PERSON_OBJECTS, device=norm == "device")
            if kept is not _DROP:
                cleaned[key] = kept
        return cleaned


def _person(
    *,
    user_ids: Sequence[str],
    anonymous_ids: Sequence[str],
    emails: Sequence[str],
    phones: Sequence[str],
    pseudonym: str,
    identifiers: Sequence[str] = (),
) -> _Person:
    if not pseudonym.strip():
        raise ValidationFailed("a pseudonym is required", field="pseudonym")
    ids = frozenset(v for v in (*user_ids, *anonymous_ids) if v)
    if pseudonym in ids:
        raise ValidationFailed("the pseudonym must not be one of the ids", field="pseudonym")
    texts = tuple(sorted({v.strip().lower() for v in (*emails, *phones) if v.strip()}))
    # The last nine digits: the number without its country code, however it is written.
    digits = tuple(
        sorted({d[-_NATIONAL_DIGITS:] for v in phones if len(d := _digits(v)) >= _MIN_PHONE_DIGITS})
    )
    cards = {_compact(v) for v in identifiers}
    # A marketplace buyer is kept scoped by its channel (`12:buyer-42`); events carry it bare.
    cards |= {_compact(v.split(":", 1)[1]) for v in identifiers if ":" in v}
    return _Person(
        ids=ids,
        texts=texts,
        phone_digits=digits,
        pseudonym=pseudonym,
        # Shorter numbers would match unrelated values; they go by their field names.
        cards=frozenset(c for c in cards if len(c) >= _MIN_CARD),
    )


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _candidates(store: EventStore, person: _Person) -> list[tuple[Any, ...]]:
    """Events that may be the person's: a superset, checked one by one afterwards."""
    clauses: list[str] = []
    params: list[Any] = []
    if person.ids:
        ids = sorted(person.ids)
        for column in _ID_COLUMNS:
            clauses.append(f"{column} IN (SELECT unnest(?::VARCHAR[]))")
            params.append(ids)
    text = " || ' ' || ".join(f"coalesce({c}, '')" for c in _TEXT_COLUMNS)
    for needle in (*person.texts, *(i.lower() for i in person.ids)):
        clauses.append(f"contains(lower({text}), ?)")
        params.append(needle)
    for digits in person.phone_digits:
        pattern = _PHONE_SEPARATORS.join(re.escape(d) for d in digits)
        clauses.append(f"regexp_matches({text}, {_sql_text(pattern)})")
    for card in sorted(person.cards):
        pattern = r"[^0-9a-z]*".join(re.escape(ch) for ch in card)
        clauses.append(f"regexp_matches({text}, {_sql_text(pattern)}, 'i')")
    if not clauses:
        return []
    columns = ("source_id", "message_id", *_ID_COLUMNS, *_TEXT_COLUMNS)
    return store.conn.execute(
        f"SELECT {', '.join(columns)} FROM events WHERE {' OR '.join(clauses)}",  # noqa: S608
        params,
    ).fetchall()


def _rewrite(person: _Person, row: tuple[Any, ...]) -> list[Any] | None:
    """The erased columns of one candidate row, or None when it is not the person's."""
    source_id, message_id, *ids = row[:5]
    texts = row[5:]
    loaded = [orjson.loads(t) if t is not None else None for t in texts]
    matched = any(i is not None and i in person.ids for i in ids)
    if not matched:
        matched = any(v is not None and _mentions(person, v) for v in loaded)
    if not matched:
        return None
    if source_id == OUTBOX_SOURCE_ID:
        # The order book's events: their anonymousId names the order, not the person.
        new_ids = [person.pseudonym if i in person.ids else i for i in ids]
    else:
        new_ids = [person.pseudonym if i is not None else None for i in ids]
    return [source_id, message_id, *new_ids, *_scrubbed_texts(person, loaded)]


def _scrubbed_texts(person: _Person, loaded: Sequence[Any]) -> list[str | None]:
    """The JSON columns (`_TEXT_COLUMNS`, decoded) without the person's data."""
    new_texts: list[str | None] = []
    for column, value in zip(_TEXT_COLUMNS, loaded, strict=True):
        if value is None:
            new_texts.append(None)
            continue
        kept = person.scrub(value, person=column == "traits", context=column == "context")
        new_texts.append(None if kept is _DROP else orjson.dumps(kept).decode())
    return new_texts


def strip_row(
    row: Sequence[Any],
    *,
    identifiers: Sequence[tuple[str, str]],
    pseudonym: str,
) -> list[Any]:
    """A spool row (model.COLUMNS order) of an erased person's event, as erasure would
    leave it: its ids the pseudonym, its personal fields and identifiers gone; names,
    amounts and times kept. `identifiers` are the (kind, value) pairs it names."""
    values = [v for _, v in identifiers]
    person = _person(
        user_ids=values,
        anonymous_ids=[],
        emails=[v for k, v in identifiers if k == "email"],
        phones=[v for k, v in identifiers if k == "phone"],
        pseudonym=pseudonym,
        identifiers=[v for k, v in identifiers if k not in {"email", "phone"}],
    )
    stripped = list(row)
    for column in _ID_COLUMNS:
        at = COLUMNS.index(column)
        if stripped[at] is not None:
            stripped[at] = pseudonym
    texts = [COLUMNS.index(c) for c in _TEXT_COLUMNS]
    loaded = [orjson.loads(row[i]) if row[i] is not None else None for i in texts]
    for at, text in zip(texts, _scrubbed_texts(person, loaded), strict=True):
        stripped[at] = text
    return stripped


def _mentions(person: _Person, value: Any) -> bool:
    if isinstance(value, str):
        return value in person.ids or person.personal_text(value)
    if isinstance(value, list):
        return any(_mentions(person, v) for v in value)
    if isinstance(value, dict):
        return any(_mentions(person, v) for v in value.values())
    return False


_REWRITE_SCHEMA = pa.schema(
    [
        ("source_id", pa.int64()),
        ("message_id", pa.string()),
        *((c, pa.string()) for c in (*_ID_COLUMNS, *_TEXT_COLUMNS)),
    ]
)
_CHANGED = (*_ID_COLUMNS, *_TEXT_COLUMNS)


def _apply(conn: duckdb.DuckDBPyConnection, rewritten: pa.Table) -> None:
    conn.register("erased", rewritten)
    try:
        conn.execute("BEGIN")
        try:
            sets = ", ".join(f"{c} = erased.{c}" for c in _CHANGED)
            conn.execute(
                f"UPDATE events SET {sets} FROM erased "  # noqa: S608
                "WHERE events.source_id = erased.source_id "
                "AND events.message_id = erased.message_id"
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    finally:
        conn.unregister("erased")


def _parquet_files(directories: Iterable[Path]) -> list[Path]:
    return sorted(f for d in directories if d.is_dir() for f in d.rglob("*.parquet"))


def _rewrite_exports(conn: duckdb.DuckDBPyConnection, rewritten: pa.Table) -> int:
    """Rewrite the Parquet files of this store's exports that hold erased events."""
    directories = [Path(d) for (d,) in conn.execute("SELECT directory FROM exports").fetchall()]
    conn.register("erased", rewritten)
    changed = 0
    try:
        replaced = ", ".join(
            f"CASE WHEN e.message_id IS NULL THEN p.{c} ELSE e.{c} END AS {c}" for c in _CHANGED
        )
        for file in _parquet_files(directories):
            source = _sql_text(str(file))
            row = conn.execute(
                f"SELECT count(*) FROM read_parquet({source}, hive_partitioning = false) p "  # noqa: S608
                "JOIN erased e ON p.source_id = e.source_id AND p.message_id = e.message_id"
            ).fetchone()
            if not row or not row[0]:
                continue
            temp = file.with_name(f".{file.name}.erasing")
            conn.execute(
                f"COPY (SELECT p.* EXCLUDE (file_row_number) REPLACE ({replaced}) "  # noqa: S608
                f"FROM read_parquet({source}, hive_partitioning = false, "
                "file_row_number = true) p "
                "LEFT JOIN erased e ON p.source_id = e.source_id AND p.message_id = e.message_id "
                f"ORDER BY p.file_row_number) TO {_sql_text(str(temp))} (FORMAT parquet)"
            )
            temp.replace(file)
            changed += 1
    finally:
        conn.unregister("erased")
    return changed


def erase_people(
    events_path: Path,
    *,
    user_ids: Sequence[str],
    anonymous_ids: Sequence[str],
    emails: Sequence[str],
    phones: Sequence[str],
    pseudonym: str,
    identifiers: Sequence[str] = (),
) -> int:
    """Pseudonymise the events of the people these ids, e-mails and phones identify, and
    remove their personal data from the store, its spool and its Parquet exports; the
    number of events rewritten. Safe to run again (it then rewrites none)."""
    person = _person(
        user_ids=user_ids,
        anonymous_ids=anonymous_ids,
        emails=emails,
        phones=phones,
        pseudonym=pseudonym,
        identifiers=identifiers,
    )
    with open_store(events_path) as store:
        rows = [r for row in _candidates(store, person) if (r := _rewrite(person, row))]
        rewritten = pa.Table.from_pylist(
            [dict(zip(_REWRITE_SCHEMA.names, r, strict=True)) for r in rows],
            schema=_REWRITE_SCHEMA,
        )
        if rows:
            # Exports first: should they fail, the store still holds the rows, so the
            # erasure's retry finds them again and rewrites both (each step repeats safely).
            _rewrite_exports(store.conn, rewritten)
            _apply(store.conn, rewritten)
        # Also when nothing matched now: an earlier erasure may have died before these.
        store.compact()
        store.scrub_spool()
    return len(rows)
