"""Funnels: how many subjects go through ordered steps of tracked events, and where they drop.

The subject is the resolved customer (`customer_key`), or `a<anonymousId>` for events that
name nobody resolved. The rules, edges included:

- a subject *enters* at its first event of step 1 in the period (`from` 00:00 ≤ t <
  the day after `to`, UTC); the channel of that event is the funnel's channel (two at the
  same instant: the lower channel id);
- it *reaches* step k+1 at its first event of that step at or after the time it reached
  step k (the same instant counts) and at most `window` after entering (exactly `window`
  after counts; a microsecond later does not). Events after the period still count while
  the window lasts. Steps are distinct event names, so one event never serves two steps;
- a till sale (an order on a `pos` channel, not cancelled) of the same customer is an
  event `Order Completed` at the sale's time, so a store purchase completes an online
  funnel whose step is `Order Completed`;
- segments split the subjects by what held when they entered: `source` is the UTM source
  (lower case) of the subject's earliest event carrying one at or before entering (`(none)`
  without); `customer` is `returning` when the subject had an order (not cancelled) before
  entering, else `new`.

Each subject counts once, in the step it reached last; `drop_off` of step k is the
subjects that reached step k-1 but not step k. Channel and segment rows add up to the total.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Final, Literal

from omnicart.analytics.engine import Engine, Param
from omnicart.analytics.journeys import ratio
from omnicart.analytics.period import Period
from omnicart.kernel.errors import ValidationFailed
from omnicart.kernel.text import text_problem

ORDER_COMPLETED: Final = "Order Completed"
STORE_KINDS: Final = ("pos",)
MAX_STEPS: Final = 10
MAX_STEP_LENGTH: Final = 200
MAX_WINDOW: Final = timedelta(days=365)
Segment = Literal["source", "customer"]
SEGMENTS: Final = ("source", "customer")
_WINDOW = re.compile(r"(?P<number>[0-9]{1,9})(?P<unit>[mhd])")
_UNITS: Final = {"m": "minutes", "h": "hours", "d": "days"}

_SUBJECT = "COALESCE({e}.customer_key, 'a' || {e}.anonymous_id)"
_SEGMENT_SQL = {
    None: "''",
    "customer": (
        "CASE WHEN r.subject IN (SELECT subject FROM prior) THEN 'returning' ELSE 'new' END"
    ),
    "source": "COALESCE(src.source, '(none)')",
}


@dataclass(frozen=True, slots=True)
class FunnelStep:
    """A step: who reached it, who dropped before it, and the conversion rates."""

    step: str
    funnel_subjects: int
    drop_off: int
    step_conversion: Decimal | None
    funnel_conversion: Decimal | None


@dataclass(frozen=True, slots=True)
class FunnelRow:
    """The funnel of one channel and segment (None: all of them together)."""

    channel: str | None
    segment: str | None
    steps: tuple[FunnelStep, ...]


@dataclass(frozen=True, slots=True)
class Funnel:
    """The funnel in total, then per channel (and segment)."""

    period: Period
    steps: tuple[str, ...]
    window: timedelta
    segment: str | None
    rows: tuple[FunnelRow, ...]


def parse_window(text: str) -> timedelta:
    """A window written `30m`, `12h` or `7d` (minutes, hours, days), at most 365 days."""
    match = _WINDOW.fullmatch(text.strip())
    if match is None:
        raise ValidationFailed(
            "the window is a whole number of minutes, hours or days: 30m, 12h, 7d", field="window"
        )
    number = int(match["number"])
    window = timedelta(**{_UNITS[match["unit"]]: number}) if number < 10**6 else MAX_WINDOW * 2
    if not timedelta(0) < window <= MAX_WINDOW:
        raise ValidationFailed("the window is more than 0 and at most 365 days", field="window")
    return window


def check_funnel(steps: Sequence[str], window: timedelta, segment: str | None) -> tuple[str, ...]:
    """The steps, or ValidationFailed naming `steps`, `window` or `segment`."""
    names = tuple(steps)
    if not 2 <= len(names) <= MAX_STEPS:
        raise ValidationFailed(f"a funnel has 2 to {MAX_STEPS} steps", field="steps")
    for name in names:
        if not name.strip() or len(name) > MAX_STEP_LENGTH:
            raise ValidationFailed(
                f"a step is an event name of 1 to {MAX_STEP_LENGTH} characters", field="steps"
            )
        if (problem := text_problem(name)) is not None:
            raise ValidationFailed(f"a step's {problem}", field="steps")
    if len(set(names)) != len(names):
        raise ValidationFailed("a funnel's steps are distinct event names", field="steps")
    if not timedelta(0) < window <= MAX_WINDOW:
        raise ValidationFailed("the window is more than 0 and at most 365 days", field="window")
    if segment is not None and segment not in SEGMENTS:
        raise ValidationFailed(f"segment is one of {', '.join(SEGMENTS)}", field="segment")
    return names


def funnel_sql(steps: int, *, store_step: int | None, segment: str | None) -> str:
    """The funnel's SQL for `steps` steps ($s0, $s1, … name them), written once for both
    engines; `store_step` is the index of `Order Completed`, which till sales complete."""
    names = ", ".join(f"$s{i}" for i in range(steps))
    cases = " ".join(f"WHEN $s{i} THEN {i}" for i in range(steps))
    store = ", ".join(f"'{kind}'" for kind in STORE_KINDS)
    parts = [
        f"""
hits AS (
    SELECT {_SUBJECT.format(e="e")} AS subject, e.occurred_at AS at, e.channel_id,
           CASE e.event {cases} END AS step
    FROM wh_events e
    WHERE e.event IN ({names}) AND e.occurred_at >= $start AND e.occurred_at <= $until
      AND (e.customer_key IS NOT NULL OR e.anonymous_id IS NOT NULL)"""  # noqa: S608 -- built of this module's constants and step numbers only
    ]
    if store_step is not None:
        parts.append(
            f"""
    UNION ALL
    SELECT o.customer_key, o.ordered_at, o.channel_id, {store_step}
    FROM wh_orders o
    JOIN wh_channels c ON c.channel_id = o.channel_id
    WHERE c.kind IN ({store}) AND o.cancelled_at IS NULL AND o.customer_key IS NOT NULL
      AND o.ordered_at >= $start AND o.ordered_at <= $until"""  # noqa: S608 -- built of this module's constants and step numbers only
        )
    parts.append(
        """
),
entered AS (
    SELECT subject, MIN(at) AS t0 FROM hits WHERE step = 0 AND at < $end GROUP BY subject
),
entry AS (
    SELECT e.subject, e.t0, MIN(h.channel_id) AS channel_id
    FROM entered e
    JOIN hits h ON h.subject = e.subject AND h.at = e.t0
    WHERE h.step = 0
    GROUP BY e.subject, e.t0
)"""
    )
    if segment == "customer":
        parts.append(
            """,
prior AS (
    SELECT DISTINCT e.subject
    FROM entry e
    JOIN wh_orders o ON o.customer_key = e.subject
    WHERE o.cancelled_at IS NULL AND o.ordered_at < e.t0
)"""
        )
    if segment == "source":
        parts.append(
            f""",
first_source AS (
    SELECT e.subject, MIN(v.occurred_at) AS at
    FROM entry e
    JOIN wh_events v ON {_SUBJECT.format(e="v")} = e.subject
    WHERE TRIM(v.campaign_source) <> '' AND v.occurred_at <= e.t0
    GROUP BY e.subject
),
src AS (
    SELECT f.subject, MIN(LOWER(TRIM(v.campaign_source))) AS source
    FROM first_source f
    JOIN wh_events v ON {_SUBJECT.format(e="v")} = f.subject AND v.occurred_at = f.at
    WHERE TRIM(v.campaign_source) <> ''
    GROUP BY f.subject
)"""  # noqa: S608 -- built of this module's constants and step numbers only
        )
    join = "LEFT JOIN src ON src.subject = r.subject" if segment == "source" else ""
    parts.append(
        f""",
level0 AS (
    SELECT r.subject, r.channel_id, {_SEGMENT_SQL[segment]} AS segment, r.t0
    FROM entry r {join}
)"""  # noqa: S608 -- built of this module's constants and step numbers only
    )
    # Each level adds the time step k was reached (NULL: not reached). One chain of CTEs,
    # each read once: ClickHouse inlines a CTE wherever it is named.
    for k in range(1, steps):
        carried = ", ".join(f"r.t{i}" for i in range(k))
        parts.append(
            f""",
level{k} AS (
    SELECT r.subject, r.channel_id, r.segment, {carried},
           MIN(CASE WHEN h.at >= r.t{k - 1} AND h.at <= r.t0 + INTERVAL ($window) MICROSECOND
                    THEN h.at END) AS t{k}
    FROM level{k - 1} r
    LEFT JOIN (SELECT subject, at FROM hits WHERE step = {k}) h ON h.subject = r.subject
    GROUP BY r.subject, r.channel_id, r.segment, {carried}
)"""  # noqa: S608 -- built of this module's constants and step numbers only
        )
    counts = ", ".join(f"CAST(COUNT(t{k}) AS BIGINT)" for k in range(steps))
    last = f"level{steps - 1}"
    return (
        "WITH "
        + "".join(parts).lstrip()
        + f"\nSELECT channel_id, segment, {counts} FROM {last} GROUP BY channel_id, segment"
    )


def funnel(
    engine: Engine,
    *,
    period: Period,
    steps: Sequence[str],
    window: timedelta,
    segment: str | None = None,
) -> Funnel:
    """The funnel of `steps` in `period`: in total, and per entry channel (and segment)."""
    names = check_funnel(steps, window, segment)
    store_step = names.index(ORDER_COMPLETED) if ORDER_COMPLETED in names else None
    params: dict[str, Param] = {f"s{i}": name for i, name in enumerate(names)}
    params |= {
        "start": period.start,
        "end": period.end,
        "until": period.end + window,
        "window": window // timedelta(microseconds=1),
    }
    sql = funnel_sql(len(names), store_step=store_step, segment=segment)
    codes: dict[int, str] = dict(engine.query("SELECT channel_id, code FROM wh_channels"))
    reached: dict[tuple[str | None, str | None], list[int]] = defaultdict(lambda: [0] * len(names))
    for channel_id, group, *counts in engine.query(sql, params):
        label = group if segment is not None else None
        for key in ((None, None), (codes[channel_id], label)):
            for k, count in enumerate(counts):
                reached[key][k] += int(count)
    reached.setdefault((None, None), [0] * len(names))
    rows = [
        FunnelRow(channel, group, _steps(names, counts))
        for (channel, group), counts in sorted(reached.items(), key=_order)
    ]
    return Funnel(period, names, window, segment, tuple(rows))


def _steps(names: tuple[str, ...], counts: list[int]) -> tuple[FunnelStep, ...]:
    steps = []
    for k, name in enumerate(names):
        previous = counts[k - 1] if k else counts[0]
        steps.append(
            FunnelStep(
                step=name,
                funnel_subjects=counts[k],
                drop_off=previous - counts[k],
                step_conversion=ratio(counts[k], previous),
                funnel_conversion=ratio(counts[k], counts[0]),
            )
        )
    return tuple(steps)


def _order(item: tuple[tuple[str | None, str | None], object]) -> tuple[str, str]:
    (channel, group), _ = item
    return ("" if channel is None else f" {channel}", group or "")
