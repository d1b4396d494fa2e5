"""Routing as pure functions: filters, ranking rules, tie-breaks, the plan and its reason."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnicart.inventory.model import BufferPolicy, PlannedHold, plan_holds
from omnicart.kernel.errors import Conflict, ValidationFailed
from omnicart.orders.routing import (
    DEFAULT_RULES,
    RANKING_RULES,
    Ranked,
    Rules,
    Site,
    check_rules,
    distance_km,
    explain,
    rank,
)

# (latitude, longitude)
WARSAW = (52.2297, 21.0122)
KRAKOW = (50.0647, 19.9450)
GDANSK = (54.3520, 18.6466)
KATOWICE = (50.2649, 19.0238)  # 69.3 km from Kraków, 258.6 from Warsaw, 455.2 from Gdańsk
LODZ = (51.7592, 19.4560)  # 118.7 km from Warsaw, 191.5 from Kraków, 293.3 from Gdańsk
SOPOT = (54.4416, 18.5601)  # 11.4 km from Gdańsk, 294.9 from Warsaw, 495.7 from Kraków

WAW = Site(1, "WAW", "warehouse", True, False, False, 2, *WARSAW)
KRK = Site(2, "KRK", "warehouse", True, False, False, 1, *KRAKOW)
GDN = Site(3, "GDN", "warehouse", True, False, False, 3, *GDANSK)
# A store that ships and offers pickup, and one that only offers pickup.
KRK_STORE = Site(4, "KRK-STORE", "store", True, True, True, 5, *KRAKOW)
WAW_STORE = Site(5, "WAW-STORE", "store", True, False, True, 4, *WARSAW)
DEPOT = Site(6, "DEPOT", "warehouse", False, False, False, 0, *WARSAW)
NOWHERE = Site(7, "NOWHERE", "warehouse", True, False, False, 0)  # no coordinates

CODES = {s.id: s.code for s in (WAW, KRK, GDN, KRK_STORE, WAW_STORE, DEPOT, NOWHERE)}
SKU_OF = {10: "MUG", 11: "TEE"}
ALL_SAME_PRIORITY = [replace(s, priority=1) for s in (WAW, KRK, GDN)]


# --- distance ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "km"),
    [
        (WARSAW, WARSAW, 0.0),
        (WARSAW, KRAKOW, 252.0),
        (WARSAW, GDANSK, 283.5),
        (KRAKOW, GDANSK, 484.8),
        (KATOWICE, KRAKOW, 69.3),
        ((0.0, 0.0), (0.0, 180.0), 20015.1),  # half the equator
        ((90.0, 0.0), (-90.0, 0.0), 20015.1),  # pole to pole
    ],
    ids=["same", "waw-krk", "waw-gdn", "krk-gdn", "katowice-krk", "antipodes", "poles"],
)
def test_distance_km(a: tuple[float, float], b: tuple[float, float], km: float) -> None:
    assert round(distance_km(a, b), 1) == km
    assert distance_km(a, b) == pytest.approx(distance_km(b, a))


# --- ranking -------------------------------------------------------------------------


@dataclass(frozen=True)
class RankCase:
    sites: list[Site]
    rules: Rules
    destination: tuple[float, float] | None
    expected: tuple[int, ...]


RANK_CASES: dict[str, RankCase] = {
    "nearest-katowice": RankCase([WAW, KRK, GDN], Rules(("nearest",)), KATOWICE, (2, 1, 3)),
    "nearest-lodz": RankCase([GDN, KRK, WAW], Rules(("nearest",)), LODZ, (1, 2, 3)),
    "nearest-sopot": RankCase([WAW, KRK, GDN], Rules(("nearest",)), SOPOT, (3, 1, 2)),
    "nearest-beats-priority": RankCase([WAW, KRK, GDN], Rules(), SOPOT, (3, 1, 2)),
    # Without an address every distance is unknown: the next rule decides.
    "nearest-without-destination-falls-to-priority": RankCase(
        [WAW, KRK, GDN], Rules(("nearest", "priority")), None, (2, 1, 3)
    ),
    "nearest-without-destination-falls-to-id": RankCase(
        [GDN, WAW, KRK], Rules(("nearest",)), None, (1, 2, 3)
    ),
    # A site without coordinates goes last under `nearest`, despite priority 0 and id.
    "nearest-site-without-coordinates-last": RankCase(
        [NOWHERE, GDN, WAW], Rules(("nearest", "priority")), LODZ, (1, 3, 7)
    ),
    "cheapest": RankCase(
        [WAW, KRK, GDN],
        Rules(("cheapest",), costs={"KRK": Decimal("4.00"), "GDN": Decimal("2.50")}),
        WARSAW,
        (3, 2, 1),  # WAW has no cost: last, though it is nearest and has the lowest id
    ),
    "cheapest-all-costed": RankCase(
        [WAW, KRK, GDN],
        Rules(
            ("cheapest",),
            costs={"WAW": Decimal("9.99"), "KRK": Decimal("10"), "GDN": Decimal("0")},
        ),
        None,
        (3, 1, 2),
    ),
    "cheapest-without-costs-falls-to-priority": RankCase(
        [WAW, KRK, GDN], Rules(("cheapest", "priority")), None, (2, 1, 3)
    ),
    "priority": RankCase([WAW, KRK, GDN], Rules(("priority",)), SOPOT, (2, 1, 3)),
    "priority-before-nearest": RankCase(
        [WAW, KRK, GDN], Rules(("priority", "nearest")), SOPOT, (2, 1, 3)
    ),
    "priority-tie-broken-by-nearest": RankCase(
        ALL_SAME_PRIORITY, Rules(("priority", "nearest")), SOPOT, (3, 1, 2)
    ),
    "cheapest-tie-broken-by-priority": RankCase(
        [WAW, KRK, GDN],
        Rules(
            ("cheapest", "priority"),
            costs={"WAW": Decimal("5.00"), "KRK": Decimal("5"), "GDN": Decimal("5.0")},
        ),
        None,
        (2, 1, 3),
    ),
    "cheapest-tie-broken-by-nearest": RankCase(
        [WAW, KRK, GDN],
        Rules(("cheapest", "nearest"), costs={"WAW": Decimal(3), "GDN": Decimal(3)}),
        SOPOT,
        (3, 1, 2),
    ),
    "nearest-tie-broken-by-priority": RankCase(
        [WAW, KRK, replace(WAW_STORE, ship_from_store=True, priority=0)],
        Rules(("nearest", "priority")),
        WARSAW,
        (5, 1, 2),  # WAW (priority 2) and WAW-STORE (priority 0) are both 0.0 km away
    ),
    "nearest-tie-broken-by-id": RankCase(
        [replace(WAW_STORE, ship_from_store=True, priority=2), KRK, WAW],
        Rules(("nearest", "priority")),
        WARSAW,
        (1, 5, 2),
    ),
    "full-tie-broken-by-id": RankCase(
        list(reversed(ALL_SAME_PRIORITY)), Rules(("cheapest", "priority")), None, (1, 2, 3)
    ),
}


@pytest.mark.parametrize("case", list(RANK_CASES.values()), ids=list(RANK_CASES))
def test_rank_orders_ship_candidates(case: RankCase) -> None:
    ranked = rank(case.sites, mode="ship", rules=case.rules, destination=case.destination)
    assert ranked.location_ids == case.expected
    assert [f["location"] for f in ranked.facts] == [CODES[i] for i in case.expected]
    assert ranked.excluded == ()


def test_rank_facts_name_distance_cost_and_priority() -> None:
    rules = Rules(("nearest", "cheapest"), costs={"KRK": Decimal("4.00"), "WAW": Decimal(7)})
    ranked = rank([WAW, KRK, GDN, NOWHERE], mode="ship", rules=rules, destination=KATOWICE)
    assert ranked.location_ids == (2, 1, 3, 7)
    assert ranked.facts == (
        {"location": "KRK", "priority": 1, "distance_km": 69.3, "cost": "4.00"},
        {"location": "WAW", "priority": 2, "distance_km": 258.6, "cost": "7"},
        {"location": "GDN", "priority": 3, "distance_km": 455.2},
        {"location": "NOWHERE", "priority": 0},
    )


def test_rank_facts_without_destination_have_no_distance() -> None:
    ranked = rank([KRK], mode="ship", rules=Rules())
    assert ranked.facts == ({"location": "KRK", "priority": 1},)


# --- filters -------------------------------------------------------------------------


def test_ship_order_excludes_stores_without_ship_from_store_and_non_shipping_sites() -> None:
    ranked = rank(
        [WAW_STORE, WAW, DEPOT, KRK_STORE],
        mode="ship",
        rules=Rules(("nearest",)),
        destination=WARSAW,
    )
    # KRK-STORE ships from store: eligible; WAW-STORE does not, though it is 0 km away.
    assert ranked.location_ids == (1, 4)
    assert ranked.excluded == (
        {"location": "WAW-STORE", "reason": "is a store without ship-from-store"},
        {"location": "DEPOT", "reason": "does not ship"},
    )


def test_a_warehouse_needs_no_ship_from_store_flag() -> None:
    assert not WAW.ship_from_store
    assert rank([WAW], mode="ship", rules=Rules()).location_ids == (1,)


def test_a_store_that_does_not_ship_is_excluded_for_not_shipping() -> None:
    store = replace(KRK_STORE, ships=False)
    ranked = rank([store, KRK], mode="ship", rules=Rules())
    assert ranked.location_ids == (2,)
    assert ranked.excluded == ({"location": "KRK-STORE", "reason": "does not ship"},)


def test_pickup_order_is_served_by_the_pickup_store_alone() -> None:
    ranked = rank(
        [WAW, KRK, KRK_STORE, WAW_STORE],
        mode="pickup",
        rules=Rules(),
        pickup_location_id=5,
        destination=KRAKOW,
    )
    # WAW-STORE does not ship from store, but a pickup needs no shipping.
    assert ranked == Ranked(
        location_ids=(5,),
        facts=({"location": "WAW-STORE", "priority": 4, "distance_km": 252.0},),
        excluded=(),
    )


def test_no_eligible_location_is_a_conflict_naming_why() -> None:
    with pytest.raises(Conflict) as info:
        rank([WAW_STORE, DEPOT], mode="ship", rules=Rules(), destination=WARSAW)
    assert info.value.field == "fulfilment"
    assert info.value.detail == (
        "no location can serve this ship order: "
        "WAW-STORE is a store without ship-from-store; DEPOT does not ship"
    )


def test_no_locations_at_all_is_a_conflict() -> None:
    with pytest.raises(Conflict) as info:
        rank([], mode="ship", rules=Rules())
    assert info.value.field == "fulfilment"
    assert info.value.detail == "no location can serve this ship order: none serve it"


def test_pickup_at_a_location_without_pickup_is_a_conflict() -> None:
    with pytest.raises(Conflict) as info:
        rank([WAW, KRK_STORE], mode="pickup", rules=Rules(), pickup_location_id=1)
    assert info.value.field == "fulfilment"
    assert info.value.detail == "no location can serve this pickup order: WAW does not offer pickup"


def test_pickup_at_a_location_outside_the_channel_is_a_conflict() -> None:
    with pytest.raises(Conflict) as info:
        rank([WAW, KRK_STORE], mode="pickup", rules=Rules(), pickup_location_id=99)
    assert info.value.field == "fulfilment.pickup_location_id"
    assert info.value.detail == "location 99 is not a pickup location of this channel"


def test_pickup_without_a_location_is_invalid() -> None:
    with pytest.raises(ValidationFailed) as info:
        rank([KRK_STORE], mode="pickup", rules=Rules())
    assert info.value.field == "pickup"


# --- rank + plan_holds + explain -----------------------------------------------------


@dataclass(frozen=True)
class PlanCase:
    sites: list[Site]
    mode: str
    rules: Rules
    destination: tuple[float, float] | None
    demand: dict[int, int]
    available: dict[tuple[int, int], int]
    ranking: tuple[int, ...]
    plan: list[PlannedHold]
    reason: str
    pickup: int | None = None


EVERYTHING_EVERYWHERE = {(v, loc): 10 for v in (10, 11) for loc in CODES}

PLAN_CASES: dict[str, PlanCase] = {
    "pickup-only-the-pickup-store-though-a-warehouse-is-nearer": PlanCase(
        sites=[WAW, KRK, KRK_STORE, WAW_STORE],
        mode="pickup",
        rules=Rules(),
        destination=WARSAW,
        demand={10: 2, 11: 1},
        available=EVERYTHING_EVERYWHERE,
        ranking=(4,),
        plan=[PlannedHold(10, 4, 2), PlannedHold(11, 4, 1)],
        reason="pickup at KRK-STORE",
        pickup=4,
    ),
    "single-location-preferred-farther-one-has-everything": PlanCase(
        sites=[WAW, GDN],
        mode="ship",
        rules=Rules(),
        destination=WARSAW,
        demand={10: 1, 11: 2},
        available={(10, 1): 5, (10, 3): 1, (11, 3): 2},
        ranking=(1, 3),
        plan=[PlannedHold(10, 3, 1), PlannedHold(11, 3, 2)],
        reason=(
            "whole order from GDN (ranked #2 by nearest, priority: priority 3, distance_km 283.5)"
        ),
    ),
    "single-location-off-nearer-one-per-sku": PlanCase(
        sites=[WAW, GDN],
        mode="ship",
        rules=Rules(prefer_single_location=False),
        destination=WARSAW,
        demand={10: 1, 11: 2},
        available={(10, 1): 5, (10, 3): 1, (11, 3): 2},
        ranking=(1, 3),
        plan=[PlannedHold(10, 1, 1), PlannedHold(11, 3, 2)],
        reason="split across WAW, GDN: no single location had every line",
    ),
    "single-location-off-but-one-serves-all": PlanCase(
        sites=[WAW, GDN],
        mode="ship",
        rules=Rules(prefer_single_location=False),
        destination=WARSAW,
        demand={10: 1, 11: 2},
        available={(10, 3): 1, (11, 3): 2},
        ranking=(1, 3),
        plan=[PlannedHold(10, 3, 1), PlannedHold(11, 3, 2)],
        reason=(
            "whole order from GDN (ranked #2 by nearest, priority: priority 3, distance_km 283.5)"
        ),
    ),
    "nearest-has-everything": PlanCase(
        sites=[GDN, KRK, WAW],
        mode="ship",
        rules=Rules(),
        destination=LODZ,
        demand={11: 3, 10: 1},
        available=EVERYTHING_EVERYWHERE,
        ranking=(1, 2, 3),
        plan=[PlannedHold(10, 1, 1), PlannedHold(11, 1, 3)],
        reason=(
            "whole order from WAW (ranked #1 by nearest, priority: priority 2, distance_km 118.7)"
        ),
    ),
    "cheapest-has-everything": PlanCase(
        sites=[WAW, KRK, GDN],
        mode="ship",
        rules=Rules(("cheapest", "nearest"), costs={"GDN": Decimal("2.50"), "KRK": Decimal(4)}),
        destination=KATOWICE,
        demand={10: 4},
        available=EVERYTHING_EVERYWHERE,
        ranking=(3, 2, 1),
        plan=[PlannedHold(10, 3, 4)],
        reason=(
            "whole order from GDN (ranked #1 by cheapest, nearest: "
            "priority 3, distance_km 455.2, cost 2.50)"
        ),
    ),
    "priority-has-everything": PlanCase(
        sites=[WAW, KRK, GDN],
        mode="ship",
        rules=Rules(("priority",)),
        destination=None,
        demand={10: 4},
        available=EVERYTHING_EVERYWHERE,
        ranking=(2, 1, 3),
        plan=[PlannedHold(10, 2, 4)],
        reason="whole order from KRK (ranked #1 by priority: priority 1)",
    ),
    "split-in-ranked-order": PlanCase(
        sites=[WAW, KRK, GDN],
        mode="ship",
        rules=Rules(),
        destination=LODZ,
        demand={10: 5, 11: 1},
        available={(10, 1): 2, (10, 2): 2, (10, 3): 4, (11, 2): 1},
        ranking=(1, 2, 3),
        # MUG: nobody has 5, so 2 + 2 + 1 down the ranking; TEE: whole from KRK.
        plan=[
            PlannedHold(10, 1, 2),
            PlannedHold(10, 2, 2),
            PlannedHold(10, 3, 1),
            PlannedHold(11, 2, 1),
        ],
        reason="split across WAW, KRK, GDN: no single location had every line",
    ),
    "split-skips-an-empty-location": PlanCase(
        sites=[WAW, KRK, GDN],
        mode="ship",
        rules=Rules(),
        destination=SOPOT,
        demand={10: 3},
        available={(10, 3): 0, (10, 1): 1, (10, 2): 2},
        ranking=(3, 1, 2),
        plan=[PlannedHold(10, 1, 1), PlannedHold(10, 2, 2)],
        reason="split across WAW, KRK: no single location had every line",
    ),
    "ship-from-store-eligible-store-serves": PlanCase(
        sites=[WAW_STORE, KRK_STORE, GDN],
        mode="ship",
        rules=Rules(),
        destination=KATOWICE,
        demand={10: 1},
        available=EVERYTHING_EVERYWHERE,
        ranking=(4, 3),
        plan=[PlannedHold(10, 4, 1)],
        reason=(
            "whole order from KRK-STORE (ranked #1 by nearest, priority: "
            "priority 5, distance_km 69.3)"
        ),
    ),
}


def _holds(plan: list[PlannedHold]) -> list[tuple[str, int, int]]:
    return [(SKU_OF[h.variant_id], h.location_id, h.quantity) for h in plan]


@pytest.mark.parametrize("case", list(PLAN_CASES.values()), ids=list(PLAN_CASES))
def test_rank_plan_and_explain(case: PlanCase) -> None:
    ranked = rank(
        case.sites,
        mode=case.mode,
        rules=case.rules,
        pickup_location_id=case.pickup,
        destination=case.destination,
    )
    assert ranked.location_ids == case.ranking
    plan = plan_holds(
        demand=case.demand,
        available=case.available,
        locations=ranked.location_ids,
        policy=BufferPolicy(),
        sku_of=SKU_OF,
        prefer_single=case.rules.prefer_single_location,
    )
    assert plan == case.plan
    decision = explain(ranked, mode=case.mode, rules=case.rules, holds=_holds(plan), codes=CODES)
    assert decision["reason"] == case.reason
    assert decision["plan"] == [
        {"sku": SKU_OF[h.variant_id], "location": CODES[h.location_id], "quantity": h.quantity}
        for h in case.plan
    ]


def test_explain_records_the_whole_decision() -> None:
    rules = Rules(prefer_single_location=False)
    ranked = rank([WAW_STORE, GDN, WAW], mode="ship", rules=rules, destination=WARSAW)
    holds = [("MUG", 1, 1), ("TEE", 3, 2)]
    assert explain(ranked, mode="ship", rules=rules, holds=holds, codes=CODES) == {
        "mode": "ship",
        "rules": ["nearest", "priority"],
        "prefer_single_location": False,
        "ranking": [
            {"location": "WAW", "priority": 2, "distance_km": 0.0},
            {"location": "GDN", "priority": 3, "distance_km": 283.5},
        ],
        "excluded": [{"location": "WAW-STORE", "reason": "is a store without ship-from-store"}],
        "plan": [
            {"sku": "MUG", "location": "WAW", "quantity": 1},
            {"sku": "TEE", "location": "GDN", "quantity": 2},
        ],
        "reason": "split across WAW, GDN: no single location had every line",
    }


def test_explain_names_split_locations_in_ranked_order_not_plan_order() -> None:
    ranked = rank([WAW, KRK, GDN], mode="ship", rules=Rules(), destination=SOPOT)
    assert ranked.location_ids == (3, 1, 2)
    holds = [("MUG", 2, 1), ("TEE", 1, 1), ("TEE", 3, 1)]
    decision = explain(ranked, mode="ship", rules=Rules(), holds=holds, codes=CODES)
    assert decision["reason"] == "split across GDN, WAW, KRK: no single location had every line"
    assert [p["location"] for p in decision["plan"]] == ["KRK", "WAW", "GDN"]


# --- check_rules ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "ranking",
    [("nearest",), ("cheapest", "priority"), ("priority", "nearest", "cheapest"), DEFAULT_RULES],
    ids=["one", "two", "all-three", "default"],
)
def test_check_rules_accepts(ranking: tuple[str, ...]) -> None:
    assert check_rules(list(ranking), {"WAW": Decimal("1.50"), "KRK": Decimal(0)}) == ranking


@pytest.mark.parametrize(
    ("ranking", "costs", "field", "detail"),
    [
        ((), {}, "rules", "give at least one ranking rule"),
        (
            ("nearest", "fastest"),
            {},
            "rules",
            "unknown rule(s) fastest; rules are nearest, cheapest, priority",
        ),
        (
            ("Nearest", "random"),
            {},
            "rules",
            "unknown rule(s) Nearest, random; rules are nearest, cheapest, priority",
        ),
        (("nearest", "nearest"), {}, "rules", "each rule may appear once"),
        (("priority", "cheapest", "priority"), {}, "rules", "each rule may appear once"),
        (
            ("cheapest",),
            {"WAW": Decimal("-0.01")},
            "costs.WAW",
            "the cost of 'WAW' must be a non-negative amount",
        ),
        (
            ("cheapest",),
            {"KRK": Decimal("NaN")},
            "costs.KRK",
            "the cost of 'KRK' must be a non-negative amount",
        ),
        (
            ("cheapest",),
            {"KRK": Decimal("Infinity")},
            "costs.KRK",
            "the cost of 'KRK' must be a non-negative amount",
        ),
        (
            ("cheapest",),
            {"GDN": 2.5},
            "costs.GDN",
            "the cost of 'GDN' must be a non-negative amount",
        ),
        (
            ("cheapest",),
            {"GDN": "2.50"},
            "costs.GDN",
            "the cost of 'GDN' must be a non-negative amount",
        ),
    ],
    ids=[
        "empty",
        "unknown",
        "unknown-two-and-case-sensitive",
        "duplicate",
        "duplicate-apart",
        "negative-cost",
        "nan-cost",
        "infinite-cost",
        "float-cost",
        "string-cost",
    ],
)
def test_check_rules_refuses(
    ranking: tuple[str, ...], costs: dict[str, Any], field: str, detail: str
) -> None:
    with pytest.raises(ValidationFailed) as info:
        check_rules(ranking, costs)
    assert info.value.field == field
    assert info.value.detail == detail


# --- properties ----------------------------------------------------------------------


@st.composite
def site_lists(draw: st.DrawFn) -> list[Site]:
    ids = draw(st.lists(st.integers(1, 50), min_size=0, max_size=8, unique=True))
    sites = []
    for site_id in ids:
        located = draw(st.booleans())
        sites.append(
            Site(
                id=site_id,
                code=f"L{site_id}",
                kind=draw(st.sampled_from(["warehouse", "store"])),
                ships=draw(st.booleans()),
                ship_from_store=draw(st.booleans()),
                pickup=draw(st.booleans()),
                priority=draw(st.integers(-3, 3)),
                latitude=draw(st.floats(-90, 90)) if located else None,
                longitude=draw(st.floats(-180, 180)) if located else None,
            )
        )
    return sites


@st.composite
def rule_sets(draw: st.DrawFn) -> Rules:
    ranking = draw(st.permutations(RANKING_RULES))[: draw(st.integers(1, 3))]
    codes = draw(st.lists(st.sampled_from([f"L{i}" for i in range(1, 51)]), unique=True))
    costs = {code: draw(st.decimals(0, 20, places=2)) for code in codes}
    return Rules(tuple(ranking), draw(st.booleans()), costs or None)


destinations = st.none() | st.tuples(st.floats(-90, 90), st.floats(-180, 180))


def _eligible_for_shipping(site: Site) -> bool:
    return site.ships and (site.kind != "store" or site.ship_from_store)


@given(site_lists(), rule_sets(), destinations, st.randoms(use_true_random=False))
def test_rank_is_a_deterministic_permutation_of_the_eligible_sites(
    sites: list[Site],
    rules: Rules,
    destination: tuple[float, float] | None,
    rnd: random.Random,
) -> None:
    eligible = sorted(s.id for s in sites if _eligible_for_shipping(s))
    if not eligible:
        with pytest.raises(Conflict):
            rank(sites, mode="ship", rules=rules, destination=destination)
        return
    ranked = rank(sites, mode="ship", rules=rules, destination=destination)
    assert sorted(ranked.location_ids) == eligible
    assert len(ranked.location_ids) == len(eligible)
    assert [f["location"] for f in ranked.facts] == [f"L{i}" for i in ranked.location_ids]
    assert sorted(e["location"] for e in ranked.excluded) == sorted(
        s.code for s in sites if not _eligible_for_shipping(s)
    )
    # Same answer again, and whatever order the sites come in (ties end on the id).
    assert rank(sites, mode="ship", rules=rules, destination=destination) == ranked
    shuffled = list(sites)
    rnd.shuffle(shuffled)
    again = rank(shuffled, mode="ship", rules=rules, destination=destination)
    assert again.location_ids == ranked.location_ids
    assert again.facts == ranked.facts


@given(site_lists(), rule_sets(), destinations)
def test_rank_ranks_the_first_rule_first(
    sites: list[Site], rules: Rules, destination: tuple[float, float] | None
) -> None:
    if not any(_eligible_for_shipping(s) for s in sites):
        return
    ranked = rank(sites, mode="ship", rules=rules, destination=destination)
    by_id = {s.id: s for s in sites}
    costs = rules.costs or {}
    first = rules.ranking[0]

    def measure(site_id: int, facts: dict[str, Any]) -> Any:
        if first == "nearest":
            return facts.get("distance_km", float("inf"))
        if first == "cheapest":
            return costs.get(by_id[site_id].code, Decimal("Infinity"))
        return by_id[site_id].priority

    measures = [measure(i, f) for i, f in zip(ranked.location_ids, ranked.facts, strict=True)]
    assert measures == sorted(measures)
