"""Routing: which locations serve an order, in which order, and why.

A channel configures an ordered list of ranking rules; filters always apply first:

- pickup orders are served by the pickup store alone;
- a store ships only if it allows ship-from-store (and every location only if it ships);

then candidates are ranked by the channel's rules in turn (`nearest` to the shipping
address, `cheapest` by the channel's cost per location, `priority` of the location),
ties broken by the next rule and finally by location id. The stock planner then takes
one location for the whole order when one has everything (unless the channel turned
that preference off), else each SKU from the first-ranked location that has it all,
else splits it in ranked order. Pure functions: the order service reads the facts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from omnicart.kernel.errors import Conflict, ValidationFailed

RANKING_RULES: Final = ("nearest", "cheapest", "priority")
DEFAULT_RULES: Final = ("nearest", "priority")
EARTH_RADIUS_KM: Final = 6371.0088


@dataclass(frozen=True, slots=True)
class Site:
    """What routing needs to know of one location."""

    id: int
    code: str
    kind: str
    ships: bool
    ship_from_store: bool
    pickup: bool
    priority: int
    latitude: float | None = None
    longitude: float | None = None


@dataclass(frozen=True, slots=True)
class Rules:
    """A channel's routing rules."""

    ranking: tuple[str, ...] = DEFAULT_RULES
    prefer_single_location: bool = True
    costs: Mapping[str, Decimal] | None = None  # by location code


@dataclass(frozen=True, slots=True)
class Ranked:
    """The locations an order may draw on, best first, with what ranked them."""

    location_ids: tuple[int, ...]
    facts: tuple[dict[str, Any], ...]
    excluded: tuple[dict[str, str], ...]


def check_rules(ranking: Sequence[str], costs: Mapping[str, Any]) -> tuple[str, ...]:
    """Rules a merchant may set: known names, each once; costs that are money."""
    if not ranking:
        raise ValidationFailed("give at least one ranking rule", field="rules")
    unknown = [rule for rule in ranking if rule not in RANKING_RULES]
    if unknown:
        raise ValidationFailed(
            f"unknown rule(s) {', '.join(unknown)}; rules are {', '.join(RANKING_RULES)}",
            field="rules",
        )
    if len(set(ranking)) != len(ranking):
        raise ValidationFailed("each rule may appear once", field="rules")
    for code, cost in costs.items():
        if not isinstance(cost, Decimal) or not cost.is_finite() or cost < 0:
            raise ValidationFailed(
                f"the cost of {code!r} must be a non-negative amount", field=f"costs.{code}"
            )
    return tuple(ranking)


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance between two (latitude, longitude) points (haversine)."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def _why_not(site: Site, mode: str) -> str | None:
    if mode == "pickup":
        return None if site.pickup else "does not offer pickup"
    if not site.ships:
        return "does not ship"
    if site.kind == "store" and not site.ship_from_store:
        return "is a store without ship-from-store"
    return None


def rank(
    sites: Sequence[Site],
    *,
    mode: str,
    rules: Rules,
    pickup_location_id: int | None = None,
    destination: tuple[float, float] | None = None,
) -> Ranked:
    """Filter the channel's locations for this order and rank them by its rules."""
    if mode == "pickup":
        if pickup_location_id is None:
            raise ValidationFailed("a pickup order names its pickup location", field="pickup")
        chosen = [s for s in sites if s.id == pickup_location_id]
        if not chosen:
            raise Conflict(
                f"location {pickup_location_id} is not a pickup location of this channel",
                field="fulfilment.pickup_location_id",
            )
        sites = chosen
    eligible: list[Site] = []
    excluded: list[dict[str, str]] = []
    for site in sites:
        reason = _why_not(site, mode)
        if reason is None:
            eligible.append(site)
        else:
            excluded.append({"location": site.code, "reason": reason})
    if not eligible:
        detail = "; ".join(f"{e['location']} {e['reason']}" for e in excluded) or "none serve it"
        raise Conflict(f"no location can serve this {mode} order: {detail}", field="fulfilment")
    costs = rules.costs or {}

    def facts(site: Site) -> dict[str, Any]:
        known: dict[str, Any] = {"location": site.code, "priority": site.priority}
        if destination is not None and site.latitude is not None and site.longitude is not None:
            known["distance_km"] = round(
                distance_km(destination, (site.latitude, site.longitude)), 1
            )
        if site.code in costs:
            known["cost"] = str(costs[site.code])
        return known

    described = {site.id: facts(site) for site in eligible}

    def key(site: Site) -> tuple[Any, ...]:
        parts: list[Any] = []
        for rule in rules.ranking:
            known = described[site.id]
            if rule == "nearest":
                # Unknown distances (no address coordinates, or none for the site) go last.
                parts.append(known.get("distance_km", math.inf))
            elif rule == "cheapest":
                parts.append(costs.get(site.code, Decimal("Infinity")))
            else:
                parts.append(site.priority)
        parts.append(site.id)
        return tuple(parts)

    ordered = sorted(eligible, key=key)
    return Ranked(
        location_ids=tuple(site.id for site in ordered),
        facts=tuple(described[site.id] for site in ordered),
        excluded=tuple(excluded),
    )


def explain(
    ranked: Ranked,
    *,
    mode: str,
    rules: Rules,
    holds: Sequence[tuple[str, int, int]],
    codes: Mapping[int, str],
) -> dict[str, Any]:
    """The stored routing decision: rules, ranking, the plan and a one-line reason."""
    used = sorted({loc for _, loc, _ in holds}, key=ranked.location_ids.index)
    names = [codes[loc] for loc in used]
    if mode == "pickup":
        reason = f"pickup at {names[0]}"
    elif len(used) == 1:
        position = ranked.location_ids.index(used[0])
        first = ranked.facts[position]
        why = ", ".join(f"{k} {v}" for k, v in first.items() if k != "location")
        reason = (
            f"whole order from {names[0]} (ranked #{position + 1} by "
            f"{', '.join(rules.ranking)}: {why})"
        )
    else:
        reason = f"split across {', '.join(names)}: no single location had every line"
    return {
        "mode": mode,
        "rules": list(rules.ranking),
        "prefer_single_location": rules.prefer_single_location,
        "ranking": list(ranked.facts),
        "excluded": list(ranked.excluded),
        "plan": [{"sku": sku, "location": codes[loc], "quantity": q} for sku, loc, q in holds],
        "reason": reason,
    }
