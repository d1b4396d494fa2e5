"""Attribution models against answers worked out by hand (in the comments)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest

from omnicart.analytics.attribution import (
    MODELS,
    Journey,
    Touch,
    apportion,
    attribute,
    credit_by_rule,
    credit_markov,
    credit_shapley,
    first_touch,
    last_touch,
    linear,
    position_based,
    removal_effects,
    shapley_values,
    time_decay,
    transitions,
)

T0 = datetime(2025, 3, 1, 12, 0)
DAY = timedelta(days=1)


def journey(
    *steps: tuple[str, int], converts_on: int | None = None, value: str = "0", currency: str = "EUR"
) -> Journey:
    """Touches as (channel, day); `converts_on` is the conversion's day (None: no conversion)."""
    return Journey(
        touches=tuple(Touch(channel, T0 + day * DAY) for channel, day in steps),
        converted=converts_on is not None,
        at=None if converts_on is None else T0 + converts_on * DAY,
        value=Decimal(value),
        currency=currency,
    )


F = Fraction
HALF_LIFE = 2 * DAY
# A table of journeys and, by hand, each rule-based model's shares (half-life 2 days).
RULE_TABLE = [
    # One touch: every model gives it everything (time decay: 2^0 / 2^0).
    (
        journey(("email", 0), converts_on=0),
        {
            "first_touch": {"email": F(1)},
            "last_touch": {"email": F(1)},
            "linear": {"email": F(1)},
            "position_based": {"email": F(1)},
            "time_decay": {"email": F(1)},
        },
    ),
    # Two touches, 2 days apart, converting at the second: position-based is 50/50;
    # time decay weighs 2^-1 and 2^0, so 1/2 / (3/2) = 1/3 and 2/3.
    (
        journey(("google", 1), ("email", 3), converts_on=3),
        {
            "first_touch": {"google": F(1)},
            "last_touch": {"email": F(1)},
            "linear": {"google": F(1, 2), "email": F(1, 2)},
            "position_based": {"google": F(1, 2), "email": F(1, 2)},
            "time_decay": {"google": F(1, 3), "email": F(2, 3)},
        },
    ),
    # Four touches on days 0, 2, 4, 6 (A B C A), converting on day 6:
    # linear 1/4 each, A twice → A 1/2; position-based: A 2/5 + 2/5, B and C 1/5 / 2 each;
    # time decay: 2^-3, 2^-2, 2^-1, 2^0 = 1/8, 2/8, 4/8, 8/8 (sum 15/8) → 1/15, 2/15,
    # 4/15, 8/15, so A 9/15 = 3/5.
    (
        journey(("A", 0), ("B", 2), ("C", 4), ("A", 6), converts_on=6),
        {
            "first_touch": {"A": F(1)},
            "last_touch": {"A": F(1)},
            "linear": {"A": F(1, 2), "B": F(1, 4), "C": F(1, 4)},
            "position_based": {"A": F(4, 5), "B": F(1, 10), "C": F(1, 10)},
            "time_decay": {"A": F(3, 5), "B": F(2, 15), "C": F(4, 15)},
        },
    ),
    # Five touches, the conversion a day after the last: position-based gives the three in
    # the middle 1/5 / 3 = 1/15 each (B twice: 2/15). Time decay: ages 8, 6, 4, 2, 1 days
    # → 2^-4, 2^-3, 2^-2, 2^-1, 2^-1/2; not rational, so only the other models here.
    (
        journey(("A", 0), ("B", 2), ("C", 4), ("B", 6), ("D", 7), converts_on=8),
        {
            "first_touch": {"A": F(1)},
            "last_touch": {"D": F(1)},
            "linear": {"A": F(1, 5), "B": F(2, 5), "C": F(1, 5), "D": F(1, 5)},
            "position_based": {"A": F(2, 5), "B": F(2, 15), "C": F(1, 15), "D": F(2, 5)},
        },
    ),
]
RULES = {
    "first_touch": first_touch,
    "last_touch": last_touch,
    "linear": linear,
    "position_based": position_based,
    "time_decay": time_decay(HALF_LIFE),
}


@pytest.mark.parametrize(("case", "expected"), RULE_TABLE)
def test_rule_based_models_on_a_table_of_journeys(
    case: Journey, expected: dict[str, dict[str, Fraction]]
) -> None:
    for model, shares in expected.items():
        got = RULES[model](case)
        if model == "time_decay":
            # Decimal powers of one half to 28 digits: equal to the fraction within 1e-26.
            assert set(got) == set(shares)
            assert all(abs(got[c] - shares[c]) < F(1, 10**26) for c in shares), got
            assert sum(got.values()) == 1
        else:
            assert got == shares, model


def test_time_decay_of_an_irrational_weight() -> None:
    # Ages 1 and 0 days, half-life 2: weights 2^-1/2 and 1 → 1/(1 + √2) and √2/(1 + √2).
    got = time_decay(HALF_LIFE)(journey(("A", 0), ("B", 1), converts_on=1))
    assert float(got["A"]) == pytest.approx(1 / (1 + 2**0.5), rel=1e-15)
    assert got["A"] + got["B"] == 1


def test_time_decay_over_many_half_lives_keeps_the_latest_touch() -> None:
    # Half-life 1 µs: a touch a day older weighs 2^-86,400,000,000, nothing in 28 digits;
    # two touches of the same age share equally however old they are.
    decay = time_decay(timedelta(microseconds=1))
    assert decay(journey(("A", 0), ("B", 1), converts_on=2)) == {"A": F(0), "B": F(1)}
    assert decay(journey(("A", 0), ("B", 0), converts_on=9)) == {"A": F(1, 2), "B": F(1, 2)}


def test_time_decay_refuses_a_half_life_of_zero() -> None:
    with pytest.raises(ValueError, match="half-life"):
        time_decay(timedelta(0))


def test_rule_credit_adds_conversions_and_value_per_currency() -> None:
    journeys = [
        journey(("google", 1), ("email", 3), converts_on=3, value="90.00"),
        journey(("email", 0), converts_on=0, value="10.00", currency="PLN"),
        # Never converted: no credit under any rule-based model.
        journey(("google", 0), ("tiktok", 1)),
    ]
    credit = credit_by_rule(journeys, linear)
    assert set(credit) == {"google", "email"}
    assert credit["google"].conversions == F(1, 2)
    assert credit["google"].value == {"EUR": F(45)}
    assert credit["email"].conversions == F(3, 2)
    assert credit["email"].value == {"EUR": F(45), "PLN": F(10)}


# The Markov and Shapley set: four journeys over two channels, A and B.
#   j1: A → B → conversion (100 EUR)     j2: A → null
#   j3: B → conversion (50 EUR)          j4: B → A → conversion (30 EUR)
MARKOV_SET = [
    journey(("A", 0), ("B", 1), converts_on=2, value="100"),
    journey(("A", 0)),
    journey(("B", 0), converts_on=1, value="50"),
    journey(("B", 0), ("A", 1), converts_on=2, value="30"),
]


def test_markov_transitions_are_counted_with_start_conversion_and_null() -> None:
    # start→A twice (j1, j2), start→B twice (j3, j4); A→B (j1), A→null (j2), A→conv (j4);
    # B→conv (j1, j3), B→A (j4).
    assert transitions(MARKOV_SET) == {
        "(start)": {"A": 2, "B": 2},
        "A": {"B": 1, "(null)": 1, "(conversion)": 1},
        "B": {"(conversion)": 2, "A": 1},
    }


def test_markov_removal_effects_by_hand() -> None:
    # P(start→A) = P(start→B) = 1/2; P(A→B) = P(A→null) = P(A→conv) = 1/3;
    # P(B→conv) = 2/3, P(B→A) = 1/3.
    # Conversion from A: xA = 1/3 + 1/3 xB; from B: xB = 2/3 + 1/3 xA
    #   → xA = 1/3 + 2/9 + xA/9 → xA = 5/8, xB = 2/3 + 5/24 = 7/8.
    # P(conversion) = 1/2 (5/8 + 7/8) = 3/4.
    # Without A (xA = 0): xB = 2/3, P = 1/2 · 2/3 = 1/3 → removal effect 1 - (1/3)/(3/4) = 5/9.
    # Without B (xB = 0): xA = 1/3, P = 1/2 · 1/3 = 1/6 → removal effect 1 - (1/6)/(3/4) = 7/9.
    effects = removal_effects(MARKOV_SET)
    assert effects["A"] == pytest.approx(5 / 9, abs=1e-12)
    assert effects["B"] == pytest.approx(7 / 9, abs=1e-12)


def test_markov_credit_is_proportional_to_removal_effects() -> None:
    # Shares 5/9 : 7/9 = 5/12 : 7/12 of 3 conversions and 180 EUR:
    # A 5/4 conversions and 75 EUR, B 7/4 and 105 EUR.
    credit = credit_markov(MARKOV_SET)
    assert float(credit["A"].conversions) == pytest.approx(1.25, abs=1e-12)
    assert float(credit["B"].conversions) == pytest.approx(1.75, abs=1e-12)
    assert float(credit["A"].value["EUR"]) == pytest.approx(75, abs=1e-10)
    assert float(credit["B"].value["EUR"]) == pytest.approx(105, abs=1e-10)
    assert credit["A"].conversions + credit["B"].conversions == 3


def test_markov_of_a_chain_that_never_converts_credits_nothing() -> None:
    assert credit_markov([journey(("A", 0)), journey(("B", 0), ("A", 1))]) == {}


def test_markov_channel_only_on_losing_paths_has_no_effect() -> None:
    # A → conversion, C → null: without C nothing changes (P stays 1/2), without A P = 0.
    effects = removal_effects([journey(("A", 0), converts_on=0), journey(("C", 0))])
    assert effects == {"A": pytest.approx(1.0), "C": pytest.approx(0.0)}


def test_shapley_by_hand_on_the_markov_set() -> None:
    # Converting journeys' channel sets: {A, B} (j1, 100), {B} (j3, 50), {A, B} (j4, 30).
    # Conversions: v(∅) = 0, v({A}) = 0, v({B}) = 1, v({A, B}) = 3.
    #   φA = 1/2 (v(A) - v(∅)) + 1/2 (v(AB) - v(B)) = 0 + 1/2 · 2 = 1
    #   φB = 1/2 (v(B) - v(∅)) + 1/2 (v(AB) - v(A)) = 1/2 + 3/2 = 2
    # Value: v(B) = 50, v(AB) = 180 → φA = 1/2 · 130 = 65, φB = 1/2 · 50 + 1/2 · 180 = 115.
    credit = credit_shapley(MARKOV_SET)
    assert credit["A"].conversions == 1
    assert credit["B"].conversions == 2
    assert credit["A"].value == {"EUR": 65}
    assert credit["B"].value == {"EUR": 115}


def test_shapley_values_of_three_channels_by_hand() -> None:
    # Journeys converting with sets {A}, {A, B}, {A, B, C}, {C}, one conversion each:
    # v(A)=1, v(B)=0, v(C)=1, v(AB)=2, v(AC)=2, v(BC)=1, v(ABC)=4.
    # φA = 1/3 (v(A) - 0) + 1/6 (v(AB) - v(B)) + 1/6 (v(AC) - v(C)) + 1/3 (v(ABC) - v(BC))
    #    = 1/3 + 2/6 + 1/6 + 3/3 = 11/6
    # φB = 1/3 · 0 + 1/6 (v(AB) - v(A)) + 1/6 (v(BC) - v(C)) + 1/3 (v(ABC) - v(AC))
    #    = 0 + 1/6 + 0 + 2/3 = 5/6
    # φC = 1/3 · 1 + 1/6 (v(AC) - v(A)) + 1/6 (v(BC) - v(B)) + 1/3 (v(ABC) - v(AB))
    #    = 1/3 + 1/6 + 1/6 + 2/3 = 4/3        (11/6 + 5/6 + 8/6 = 4 = v(ABC))
    worth = {
        frozenset("A"): 1,
        frozenset("AB"): 1,
        frozenset("ABC"): 1,
        frozenset("C"): 1,
    }
    assert shapley_values(["A", "B", "C"], worth) == {"A": F(11, 6), "B": F(5, 6), "C": F(4, 3)}


def test_shapley_enumeration_equals_the_equal_split_of_each_journey() -> None:
    # The game is a sum of unanimity games, one per journey's channel set, so enumeration
    # over coalitions and an equal split per journey must agree (the fallback beyond 15).
    rng = random.Random(11)
    players = [f"c{i}" for i in range(8)]
    worth: dict[frozenset[str], int] = {}
    for _ in range(30):
        coalition = frozenset(rng.sample(players, rng.randint(1, 5)))
        worth[coalition] = worth.get(coalition, 0) + rng.randint(1, 9)
    split: dict[str, Fraction] = dict.fromkeys(players, F(0))
    for coalition, amount in worth.items():
        for player in coalition:
            split[player] += F(amount, len(coalition))
    assert shapley_values(players, worth) == split


def test_shapley_beyond_the_exact_limit_uses_the_split() -> None:
    # 16 channels, each converting alone once, plus one journey over all of them.
    channels = [f"c{i:02d}" for i in range(16)]
    journeys = [journey((c, 0), converts_on=0, value="1") for c in channels]
    journeys.append(journey(*((c, 0) for c in channels), converts_on=0, value="16"))
    credit = credit_shapley(journeys)
    assert {c: credit[c].conversions for c in channels} == dict.fromkeys(channels, F(17, 16))
    assert credit["c00"].value == {"EUR": F(2)}


def test_attribute_gives_every_model_side_by_side() -> None:
    result = attribute(MARKOV_SET, half_life=HALF_LIFE)
    assert list(result) == list(MODELS)
    for model, credit in result.items():
        assert sum(c.conversions for c in credit.values()) == pytest.approx(3), model
        assert float(sum(c.value["EUR"] for c in credit.values())) == pytest.approx(180), model
    # First touch: j1 → A, j3 → B, j4 → B.
    assert result["first_touch"]["A"].conversions == 1
    assert result["first_touch"]["B"].value == {"EUR": 80}


def test_journeys_need_a_touch_and_a_conversion_time() -> None:
    with pytest.raises(ValueError, match="touch"):
        Journey(touches=())
    with pytest.raises(ValueError, match="conversion time"):
        Journey(touches=(Touch("A", T0),), converted=True)


@pytest.mark.parametrize(
    ("total", "weights", "places", "expected"),
    [
        # Thirds of 10.00: 3.333… each; the one cent left goes to the first name.
        ("10.00", {"b": F(1), "a": F(1), "c": F(1)}, 2, {"a": "3.34", "b": "3.33", "c": "3.33"}),
        # 1/6 and 5/6 of 1 conversion to 4 places: 0.1666… and 0.8333… → 0.1667 and 0.8333.
        ("1", {"x": F(1, 6), "y": F(5, 6)}, 4, {"x": "0.1667", "y": "0.8333"}),
        # JPY has no decimals: 7 split 1:1 → 4 and 3.
        ("7", {"a": F(1), "b": F(1)}, 0, {"a": "4", "b": "3"}),
        ("5.00", {"a": F(0)}, 2, {"a": "0.00"}),
    ],
)
def test_apportion_adds_up_exactly(
    total: str, weights: dict[str, Fraction], places: int, expected: dict[str, str]
) -> None:
    parts = apportion(Decimal(total), weights, places)
    assert parts == {k: Decimal(v) for k, v in expected.items()}
    if any(weights.values()):
        assert sum(parts.values()) == Decimal(total)


def test_apportion_refuses_a_total_finer_than_its_places() -> None:
    with pytest.raises(ValueError, match="decimals"):
        apportion(Decimal("1.005"), {"a": F(1)}, 2)


def test_every_model_credits_the_only_channel_of_a_one_channel_world() -> None:
    journeys = [journey(("web", d), converts_on=d, value="2") for d in range(3)]
    journeys.append(journey(("web", 5)))
    for model, credit in attribute(journeys, half_life=HALF_LIFE).items():
        assert list(credit) == ["web"], model
        assert float(credit["web"].conversions) == pytest.approx(3), model
        assert float(credit["web"].value["EUR"]) == pytest.approx(6), model


def test_markov_ignores_self_loops() -> None:
    # A repeated touch adds a self-loop, which changes no absorption probability.
    plain = removal_effects([journey(("A", 0), ("B", 1), converts_on=1), journey(("B", 0))])
    looped = removal_effects(
        [journey(("A", 0), ("A", 1), ("B", 1), converts_on=1), journey(("B", 0), ("B", 1))]
    )
    for channel, effect in plain.items():
        assert looped[channel] == pytest.approx(effect, abs=1e-12)
    assert set(plain) == {"A", "B"}
