"""Identity resolution rules, in the manner of Segment Unify: which identifiers count,
how they are normalised, which values are blocked, and whether an observation creates a
profile, attaches to one, merges several or is refused a merge."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

import phonenumbers

from omnicart.kernel.errors import ValidationFailed

# Highest priority first: when two identifiers disagree about who someone is, the higher
# one wins. A login or a loyalty card is stronger evidence than a shared inbox or phone.
KINDS: Final = (
    "user_id",
    "loyalty_card",
    "pos_customer",
    "marketplace_buyer",
    "email",
    "phone",
    "anonymous_id",
)
PRIORITY: Final = {kind: rank for rank, kind in enumerate(KINDS)}

# How many values of a kind one profile may hold. A kind limited to one names a person:
# a second value means a second person. The others are channels a person may have several of.
LIMITS: Final[Mapping[str, int]] = {
    "user_id": 1,
    "loyalty_card": 1,
    "pos_customer": 1,
    "marketplace_buyer": 5,
    "email": 3,
    "phone": 2,
    "anonymous_id": 25,
}

CONSENT_CHANNELS: Final = ("email", "sms", "whatsapp", "push")

# Placeholders that systems send instead of "unknown"; they would fuse every stranger.
BLOCKED_VALUES: Final = frozenset(
    {"", "anonymous", "null", "none", "nil", "undefined", "unknown", "0", "-1", "n/a", "na"}
    | {"guest", "test", "nan", "false", "true", "[object object]"}
)
BLOCKED_EMAIL_DOMAINS: Final = frozenset(
    {"example.com", "example.org", "example.net", "test.com", "localhost", "invalid"}
)
BLOCKED_EMAIL_SUFFIXES: Final = (".test", ".example", ".invalid", ".localhost")
BLOCKED_EMAIL_LOCALS: Final = frozenset(
    {"test", "noreply", "no-reply", "donotreply", "do-not-reply", "null", "none", "anonymous"}
)
# Channels whose devices many strangers use (a till, an in-store tablet): their device ids
# identify the device, not a person.
SHARED_DEVICE_CHANNEL_KINDS: Final = frozenset({"pos"})

_EMAIL: Final = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
_CARD_NOISE: Final = re.compile(r"[\s\-]")
MAX_VALUE: Final = 200


@dataclass(frozen=True, slots=True, order=True)
class Identifier:
    """One normalised identifier of a person."""

    kind: str
    value: str

    @property
    def rank(self) -> int:
        """Its priority: 0 is the strongest."""
        return PRIORITY[self.kind]


@dataclass(frozen=True, slots=True)
class Skipped:
    """An identifier left out before resolution, and why (never its value)."""

    kind: str
    reason: str


@dataclass(frozen=True, slots=True)
class Screened:
    """An observation's identifiers: the usable ones in priority order, and the rest."""

    accepted: tuple[Identifier, ...]
    skipped: tuple[Skipped, ...]


def check_kind(kind: str) -> str:
    """`kind` if it is an identifier kind."""
    if kind not in PRIORITY:
        raise ValidationFailed(f"identifier kind must be one of {', '.join(KINDS)}", field="kind")
    return kind


def normalise_email(raw: str) -> str | None:
    """The address lower-cased and trimmed, or None if it is no (real) address."""
    email = raw.strip().lower()
    if len(email) > 254 or not _EMAIL.fullmatch(email):
        return None
    local, _, domain = email.rpartition("@")
    if (
        local.split("+", 1)[0] in BLOCKED_EMAIL_LOCALS
        or domain in BLOCKED_EMAIL_DOMAINS
        or domain.endswith(BLOCKED_EMAIL_SUFFIXES)
    ):
        return None
    return email


def normalise_phone(raw: str, *, region: str) -> str | None:
    """The number in E.164 (`+48601234567`), or None if it is not a valid number."""
    try:
        number = phonenumbers.parse(raw.strip(), region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise(kind: str, raw: str, *, region: str, channel_id: int | None = None) -> str | None:
    """The canonical value of an identifier, or None when it is blocked or invalid.

    Marketplace buyer ids are only unique within one marketplace, so they are scoped by
    the channel they came from (`12:buyer-42`).
    """
    check_kind(kind)
    if raw.strip().lower() in BLOCKED_VALUES:
        return None
    value: str | None
    if kind == "email":
        value = normalise_email(raw)
    elif kind == "phone":
        value = normalise_phone(raw, region=region)
    elif kind == "loyalty_card":
        value = _CARD_NOISE.sub("", raw).upper()
    elif kind == "marketplace_buyer":
        value = raw.strip() if channel_id is None else f"{channel_id}:{raw.strip()}"
    else:
        value = raw.strip()
    if not value or len(value) > MAX_VALUE or not value.isprintable():
        return None
    return value


def screen(
    identifiers: Iterable[tuple[str, str]],
    *,
    region: str,
    channel_id: int | None = None,
    channel_kind: str | None = None,
) -> Screened:
    """Normalise an observation's identifiers, dropping blocked, invalid and repeated ones."""
    accepted: list[Identifier] = []
    skipped: list[Skipped] = []
    for kind, raw in identifiers:
        if kind == "anonymous_id" and channel_kind in SHARED_DEVICE_CHANNEL_KINDS:
            skipped.append(Skipped(kind, f"device ids of {channel_kind} channels are shared"))
            continue
        value = normalise(kind, raw, region=region, channel_id=channel_id)
        if value is None:
            skipped.append(Skipped(kind, "blocked or invalid value"))
            continue
        identifier = Identifier(kind, value)
        if identifier not in accepted:
            accepted.append(identifier)
    accepted.sort(key=lambda i: i.rank)  # stable: the first given wins among equals
    return Screened(tuple(accepted), tuple(skipped))


@dataclass(frozen=True, slots=True)
class Merge:
    """A profile folded into the survivor, and why."""

    merged: int
    reason: str


@dataclass(frozen=True, slots=True)
class Dropped:
    """An identifier of the observation that was not applied, and why."""

    identifier: Identifier
    reason: str
    refused_merge: bool = False  # it pointed at a profile the survivor may not absorb


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with an observation.

    `ignore`: nothing usable; `create`: a new profile with `add`; `attach`: `add` goes to
    `profile_id`; `merge`: every `merges` profile folds into `profile_id`, then `add`.
    """

    action: Literal["ignore", "create", "attach", "merge"]
    profile_id: int | None = None
    add: tuple[Identifier, ...] = ()
    merges: tuple[Merge, ...] = ()
    dropped: tuple[Dropped, ...] = field(default=())

    @property
    def refusals(self) -> tuple[Dropped, ...]:
        """The merges that did not happen, each with its reason."""
        return tuple(d for d in self.dropped if d.refused_merge)


def _count(identities: Iterable[Identifier]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for identity in identities:
        counts[identity.kind] = counts.get(identity.kind, 0) + 1
    return counts


def _over(counts: Mapping[str, int], floor: Mapping[str, int]) -> list[str]:
    """Kinds over their limit (a profile already past a lowered limit is not made worse)."""
    return [k for k in KINDS if counts.get(k, 0) > max(LIMITS[k], floor.get(k, 0))]


def decide(
    identifiers: Sequence[Identifier],
    *,
    owners: Mapping[Identifier, int],
    profiles: Mapping[int, frozenset[Identifier]],
) -> Decision:
    """Resolve an observation against the profiles its identifiers point at.

    `identifiers` are screened (see `screen`); `owners` maps those already known to their
    profile; `profiles` holds every identity of those profiles. Rules, in order:
    1. Merging the profiles must keep every limit; if not, the lowest-priority identifier
       that brings in an offending profile is dropped (the merge is refused) and we retry.
    2. A new identifier of a kind limited to one that clashes with another value means
       another person: the lowest-priority identifier on either side is dropped.
    3. A new identifier of a kind with room for several is dropped once the kind is full.
    The oldest profile (lowest id) survives a merge.
    """
    kept = list(identifiers)
    dropped: list[Dropped] = []
    while True:
        involved = sorted({owners[i] for i in kept if i in owners})
        floor: dict[str, int] = {}
        for profile_id in involved:
            for kind, count in _count(profiles[profile_id]).items():
                floor[kind] = max(floor.get(kind, 0), count)
        existing = [i for p in involved for i in profiles[p]]
        new = [i for i in kept if i not in owners]
        over = _over(_count(existing), floor) if len(involved) > 1 else []
        if over:
            victim = max(
                (i for i in kept if i in owners and _count(profiles[owners[i]]).get(over[0])),
                key=lambda i: (i.rank, kept.index(i)),
            )
            dropped.append(
                Dropped(
                    victim,
                    f"merge refused: profiles {', '.join(map(str, involved))} together would "
                    f"hold more than {LIMITS[over[0]]} {over[0]}",
                    refused_merge=True,
                )
            )
            kept.remove(victim)
            continue
        over = _over(_count(existing + new), floor)
        if not over:
            break
        kind = over[0]
        if LIMITS[kind] == 1:
            candidates = [i for i in new if i.kind == kind] + [
                i for i in kept if i in owners and _count(profiles[owners[i]]).get(kind)
            ]
            victim = max(candidates, key=lambda i: (i.rank, kept.index(i)))
            refused = victim in owners
            reason = (
                f"merge refused: another {kind} of higher priority names someone else"
                if refused
                else f"a profile holds one {kind}; this one names someone else"
            )
        else:
            victim = [i for i in new if i.kind == kind][-1]
            refused = False
            reason = f"profile already holds {LIMITS[kind]} {kind} (the limit)"
        dropped.append(Dropped(victim, reason, refused_merge=refused))
        kept.remove(victim)

    if not kept:
        return Decision("ignore", dropped=tuple(dropped))
    involved = sorted({owners[i] for i in kept if i in owners})
    fresh = tuple(i for i in kept if i not in owners)
    if not involved:
        return Decision("create", add=fresh, dropped=tuple(dropped))
    survivor = involved[0]
    if len(involved) == 1:
        return Decision("attach", profile_id=survivor, add=fresh, dropped=tuple(dropped))
    links = {owners[i]: i for i in reversed(kept) if i in owners}  # strongest link each
    merges = tuple(
        Merge(
            merged,
            f"seen together: {links[survivor].kind} of profile {survivor} and "
            f"{links[merged].kind} of profile {merged}",
        )
        for merged in involved[1:]
    )
    return Decision("merge", profile_id=survivor, add=fresh, merges=merges, dropped=tuple(dropped))


def check_consent_channel(channel: str) -> str:
    """`channel` if consent can be given for it."""
    if channel not in CONSENT_CHANNELS:
        raise ValidationFailed(
            f"channel must be one of {', '.join(CONSENT_CHANNELS)}", field="channel"
        )
    return channel


def customer_ref_identifier(channel_kind: str, ref: str) -> tuple[str, str]:
    """What an order's `customer_ref` names, by the kind of channel it came from.

    Marketplace orders carry the buyer's account id. At a till (`pos`) a ref written
    `card:NUMBER` is a loyalty card and `pos:NUMBER` (or a bare number) the POS system's
    customer number. Own channels (web, app, social, messaging) send their login id.
    """
    if channel_kind == "marketplace":
        return "marketplace_buyer", ref
    if channel_kind == "pos":
        prefix, sep, rest = ref.partition(":")
        if sep and prefix.lower() == "card":
            return "loyalty_card", rest
        if sep and prefix.lower() == "pos":
            return "pos_customer", rest
        return "pos_customer", ref
    return "user_id", ref
