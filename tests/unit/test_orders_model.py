"""The order rules as pure functions: status machine, totals, customer, fingerprint."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from decimal import Decimal
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnicart.kernel.errors import Conflict, ValidationFailed
from omnicart.orders.model import (
    CANCELLED,
    COMPLETED,
    CONFIRMED,
    FULFILLED,
    ORDER_STATUSES,
    PARTIALLY_FULFILLED,
    PARTIALLY_RETURNED,
    PENDING,
    RETURNED,
    TRANSITIONS,
    CheckedLine,
    Customer,
    LineDraft,
    OrderDraft,
    PaymentDraft,
    Totals,
    check_customer,
    check_totals,
    check_transition,
    fingerprint,
    status_after,
)

D = Decimal

# --- status machine ------------------------------------------------------------------

# Written out independently of TRANSITIONS, so a change to the machine shows up here.
EXPECTED_MOVES: dict[str, set[str]] = {
    "pending": {"confirmed", "cancelled"},
    "confirmed": {"partially_fulfilled", "fulfilled", "cancelled"},
    "partially_fulfilled": {"fulfilled", "partially_returned"},
    "fulfilled": {"completed", "partially_returned", "returned"},
    "completed": {"partially_returned", "returned"},
    "partially_returned": {"returned"},
    "returned": set(),
    "cancelled": set(),
}
MAY_BECOME = {
    "pending": "cancelled, confirmed",
    "confirmed": "cancelled, fulfilled, partially_fulfilled",
    "partially_fulfilled": "fulfilled, partially_returned",
    "fulfilled": "completed, partially_returned, returned",
    "completed": "partially_returned, returned",
    "partially_returned": "returned",
    "returned": "nothing (it is final)",
    "cancelled": "nothing (it is final)",
}
ALL_PAIRS = [(a, b) for a in ORDER_STATUSES for b in ORDER_STATUSES]
ALLOWED = [(a, b) for a, b in ALL_PAIRS if b in TRANSITIONS[a]]
REFUSED = [(a, b) for a, b in ALL_PAIRS if b not in TRANSITIONS[a]]


def test_the_machine_is_the_documented_one() -> None:
    assert set(ORDER_STATUSES) == set(EXPECTED_MOVES)
    assert {k: set(v) for k, v in TRANSITIONS.items()} == EXPECTED_MOVES
    assert len(ALLOWED) == 13
    assert len(REFUSED) == 64 - 13


@pytest.mark.parametrize(("current", "target"), ALLOWED, ids=[f"{a}->{b}" for a, b in ALLOWED])
def test_allowed_transitions_pass(current: str, target: str) -> None:
    check_transition(current, target)
    check_transition(current, target, order_id=7)


@pytest.mark.parametrize(("current", "target"), REFUSED, ids=[f"{a}->{b}" for a, b in REFUSED])
def test_refused_transitions_name_what_the_order_may_become(current: str, target: str) -> None:
    with pytest.raises(Conflict) as info:
        check_transition(current, target)
    assert info.value.field == "status"
    assert info.value.extra == {"status_now": current}
    assert info.value.detail == (
        f"the order is {current} and cannot become {target}; it may become {MAY_BECOME[current]}"
    )
    with pytest.raises(Conflict) as named:
        check_transition(current, target, order_id=42)
    assert named.value.detail.startswith(f"order 42 is {current} and cannot become {target};")


def test_an_unknown_status_may_become_nothing() -> None:
    with pytest.raises(Conflict) as info:
        check_transition("lost", PENDING)
    assert info.value.detail.endswith("it may become nothing (it is final)")


@pytest.mark.parametrize(
    ("lines", "status"),
    [
        ([(2, 2, 0)], FULFILLED),
        ([(2, 2, 0), (1, 1, 0)], FULFILLED),
        ([(2, 3, 0)], FULFILLED),
        ([(2, 1, 0)], PARTIALLY_FULFILLED),
        ([(2, 0, 0)], PARTIALLY_FULFILLED),
        ([(2, 2, 0), (1, 0, 0)], PARTIALLY_FULFILLED),
        ([(5, 4, 0), (1, 1, 0)], PARTIALLY_FULFILLED),
        ([(2, 2, 2)], RETURNED),
        ([(2, 2, 2), (1, 1, 1)], RETURNED),
        ([(1, 2, 2)], RETURNED),
        ([(2, 2, 1)], PARTIALLY_RETURNED),
        ([(2, 2, 0), (1, 1, 1)], PARTIALLY_RETURNED),
        ([(3, 3, 2), (1, 1, 1)], PARTIALLY_RETURNED),
        # Units still to leave come first, whatever came back meanwhile.
        ([(2, 1, 1)], PARTIALLY_FULFILLED),
        ([(2, 2, 2), (1, 0, 0)], PARTIALLY_FULFILLED),
    ],
    ids=[
        "one-done",
        "all-done",
        "over",
        "one-part",
        "none",
        "one-line-left",
        "short-one",
        "all-back",
        "all-lines-back",
        "over-back",
        "one-part-back",
        "one-line-back",
        "short-one-back",
        "back-while-leaving",
        "line-back-other-to-leave",
    ],
)
def test_status_after(lines: list[tuple[int, int, int]], status: str) -> None:
    assert status_after(lines) == status


def test_status_after_moves_are_allowed_from_where_they_apply() -> None:
    for status in (PARTIALLY_FULFILLED, FULFILLED):
        check_transition(CONFIRMED, status)
    for status in (PARTIALLY_RETURNED, RETURNED):
        check_transition(FULFILLED, status)
        check_transition(COMPLETED, status)
    # The last units of a partially fulfilled order that took a return leave.
    check_transition(PARTIALLY_FULFILLED, PARTIALLY_RETURNED)
    with pytest.raises(Conflict):
        check_transition(CANCELLED, FULFILLED)


# --- check_totals --------------------------------------------------------------------

# Line A: 2 x 19.99 - 2.00 discount, 3.80 tax; line B: 1 x 5.50, 1.05 tax;
# shipping 4.99 + 0.95 tax; order discount 3.00.
LINE_A = LineDraft("MUG", 2, D("19.99"), discount=D("2.00"), tax=D("3.80"), title="Mug")
LINE_B = LineDraft("TEE", 1, D("5.50"), tax=D("1.05"))
# Taxes on top: lines 41.78 + 6.55 = 48.33; + 4.99 + 0.95 - 3.00 = 51.27.
EXCLUSIVE = OrderDraft(
    currency="EUR",
    lines=(replace(LINE_A, total=D("41.78")), replace(LINE_B, total=D("6.55"))),
    shipping=D("4.99"),
    shipping_tax=D("0.95"),
    discount=D("3.00"),
    subtotal=D("45.48"),
    tax_total=D("5.80"),
    discount_total=D("5.00"),
    total=D("51.27"),
    payments=(PaymentDraft("card", D("50.00"), "ch_1"), PaymentDraft("gift_card", D("1.27"))),
)
# Taxes included: lines 37.98 + 5.50 = 43.48; + 4.99 - 3.00 = 45.47.
INCLUSIVE = replace(
    EXCLUSIVE,
    taxes_included=True,
    lines=(replace(LINE_A, total=D("37.98")), replace(LINE_B, total=D("5.50"))),
    total=D("45.47"),
    payments=(PaymentDraft("card", D("45.47")),),
)


def test_check_totals_with_taxes_on_top() -> None:
    assert check_totals(EXCLUSIVE) == Totals(
        lines=(
            CheckedLine("MUG", 2, D("19.99"), D("2.00"), D("3.80"), D("41.78"), "Mug"),
            CheckedLine("TEE", 1, D("5.50"), D("0"), D("1.05"), D("6.55"), ""),
        ),
        subtotal=D("45.48"),
        discount_total=D("5.00"),
        shipping=D("4.99"),
        shipping_tax=D("0.95"),
        order_discount=D("3.00"),
        tax_total=D("5.80"),
        total=D("51.27"),
        paid=D("51.27"),
    )


def test_check_totals_with_taxes_included() -> None:
    totals = check_totals(INCLUSIVE)
    assert [line.total for line in totals.lines] == [D("37.98"), D("5.50")]
    assert totals.subtotal == D("45.48")
    assert totals.tax_total == D("5.80")
    assert totals.discount_total == D("5.00")
    assert totals.total == D("45.47")
    assert totals.paid == D("45.47")


def test_check_totals_without_sent_figures_computes_them() -> None:
    bare = OrderDraft(currency="EUR", lines=(LINE_A, LINE_B), shipping=D("4.99"))
    totals = check_totals(bare)
    assert totals.total == D("48.33") + D("4.99")
    assert totals.paid == D(0)
    assert check_totals(replace(bare, taxes_included=True)).total == D("43.48") + D("4.99")


def test_the_same_figures_do_not_add_up_in_the_other_mode() -> None:
    with pytest.raises(ValidationFailed) as info:
        check_totals(replace(EXCLUSIVE, taxes_included=True))
    assert info.value.field == "lines.0.total"
    assert info.value.detail == (
        "lines.0.total is 41.78 but quantity x unit_price - discount gives 37.98"
    )
    with pytest.raises(ValidationFailed) as other:
        check_totals(replace(INCLUSIVE, taxes_included=False, payments=()))
    assert other.value.field == "lines.0.total"
    assert other.value.detail == (
        "lines.0.total is 37.98 but quantity x unit_price - discount + tax gives 41.78"
    )


@pytest.mark.parametrize(
    ("draft", "field", "sent", "computed"),
    [
        (
            replace(EXCLUSIVE, lines=(replace(LINE_A, total=D("41.79")), LINE_B)),
            "lines.0.total",
            "41.79",
            "41.78",
        ),
        (
            replace(EXCLUSIVE, lines=(LINE_A, replace(LINE_B, total=D("5.50")))),
            "lines.1.total",
            "5.50",
            "6.55",
        ),
        (replace(EXCLUSIVE, subtotal=D("45.47")), "subtotal", "45.47", "45.48"),
        (replace(EXCLUSIVE, tax_total=D("4.85")), "tax_total", "4.85", "5.80"),
        (replace(EXCLUSIVE, discount_total=D("2.00")), "discount_total", "2.00", "5.00"),
        (replace(EXCLUSIVE, total=D("51.28")), "total", "51.28", "51.27"),
        (replace(EXCLUSIVE, total=D("48.33")), "total", "48.33", "51.27"),
        (replace(INCLUSIVE, total=D("51.27")), "total", "51.27", "45.47"),
        (replace(EXCLUSIVE, total=D("-51.27")), "total", "-51.27", "51.27"),
    ],
    ids=[
        "line-total",
        "second-line-total",
        "subtotal",
        "tax-total-without-shipping-tax",
        "discount-total-without-order-discount",
        "total-off-by-a-cent",
        "total-without-shipping",
        "total-with-taxes-included",
        "negative-total",
    ],
)
def test_sent_figures_that_do_not_add_up(
    draft: OrderDraft, field: str, sent: str, computed: str
) -> None:
    with pytest.raises(ValidationFailed) as info:
        check_totals(draft)
    assert info.value.field == field
    assert info.value.extra == {"sent": sent, "computed": computed}
    assert info.value.detail.startswith(f"{field} is {sent} but ")
    assert info.value.detail.endswith(f" gives {computed}")


@pytest.mark.parametrize(
    "draft",
    [
        replace(EXCLUSIVE, total=D("51.270")),
        replace(EXCLUSIVE, total=D("51.2700000")),
        replace(EXCLUSIVE, subtotal=D("45.480"), discount_total=D(5)),
        replace(EXCLUSIVE, shipping=D("4.990"), total=D("51.27")),
    ],
    ids=["trailing-zero", "many-trailing-zeros", "fewer-places", "shipping-trailing-zero"],
)
def test_equal_amounts_written_differently_add_up(draft: OrderDraft) -> None:
    assert check_totals(draft).total == D("51.27")


def _one_line(currency: str, price: str, **more: Any) -> OrderDraft:
    return OrderDraft(currency=currency, lines=(LineDraft("SKU", 1, D(price)),), **more)


@pytest.mark.parametrize(
    ("draft", "field"),
    [
        (_one_line("EUR", "1.005"), "lines.0.unit_price"),
        (_one_line("JPY", "1.5"), "lines.0.unit_price"),
        (_one_line("JPY", "1.01"), "lines.0.unit_price"),
        (replace(EXCLUSIVE, lines=(replace(LINE_A, discount=D("0.001")),)), "lines.0.discount"),
        (replace(EXCLUSIVE, lines=(LINE_B, replace(LINE_B, tax=D("1.055")))), "lines.1.tax"),
        (replace(EXCLUSIVE, lines=(replace(LINE_A, total=D("41.781")),)), "lines.0.total"),
        (replace(EXCLUSIVE, shipping=D("4.999")), "shipping"),
        (replace(EXCLUSIVE, shipping_tax=D("0.951")), "shipping_tax"),
        (replace(EXCLUSIVE, discount=D("3.001")), "discount"),
        (replace(EXCLUSIVE, subtotal=D("45.481")), "subtotal"),
        (replace(EXCLUSIVE, tax_total=D("5.801")), "tax_total"),
        (replace(EXCLUSIVE, discount_total=D("5.001")), "discount_total"),
        (replace(EXCLUSIVE, total=D("51.271")), "total"),
        (replace(EXCLUSIVE, payments=(PaymentDraft("card", D("1.001")),)), "payments.0.amount"),
        (_one_line("JPY", "1500", total=D("1500.5")), "total"),
    ],
    ids=[
        "eur-three-places",
        "jpy-one-place",
        "jpy-two-places",
        "discount",
        "tax",
        "line-total",
        "shipping",
        "shipping-tax",
        "order-discount",
        "subtotal",
        "tax-total",
        "discount-total",
        "total",
        "payment",
        "jpy-total",
    ],
)
def test_too_many_decimals_for_the_currency(draft: OrderDraft, field: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        check_totals(draft)
    assert info.value.field == field
    assert "decimal places" in info.value.detail


@pytest.mark.parametrize(
    ("currency", "price", "total"),
    [("JPY", "1500", "1500"), ("JPY", "1500.0", "1500"), ("KWD", "1.005", "1.005")],
    ids=["jpy", "jpy-trailing-zero", "kwd-three-places"],
)
def test_amounts_within_the_currency_minor_units(currency: str, price: str, total: str) -> None:
    totals = check_totals(_one_line(currency, price, total=D(total)))
    assert totals.total == D(total)
    assert str(totals.total) == total


def test_an_unknown_currency_is_refused() -> None:
    with pytest.raises(ValidationFailed) as info:
        check_totals(_one_line("XXX", "1.00"))
    assert info.value.field == "currency"


@pytest.mark.parametrize(
    ("draft", "field"),
    [
        (_one_line("EUR", "-1.00"), "lines.0.unit_price"),
        (replace(EXCLUSIVE, lines=(replace(LINE_A, discount=D("-1")),)), "lines.0.discount"),
        (replace(EXCLUSIVE, lines=(LINE_A, replace(LINE_B, tax=D("-0.01")))), "lines.1.tax"),
        (replace(EXCLUSIVE, shipping=D("-4.99")), "shipping"),
        (replace(EXCLUSIVE, shipping_tax=D("-0.95")), "shipping_tax"),
        (replace(EXCLUSIVE, discount=D("-3.00")), "discount"),
        (replace(EXCLUSIVE, payments=(PaymentDraft("card", D("-1.00")),)), "payments.0.amount"),
    ],
    ids=["unit-price", "discount", "tax", "shipping", "shipping-tax", "order-discount", "payment"],
)
def test_negative_amounts_are_refused(draft: OrderDraft, field: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        check_totals(draft)
    assert info.value.field == field
    assert info.value.detail.startswith(f"{field} must not be negative")


def test_a_line_discount_may_not_exceed_the_line() -> None:
    over = replace(LINE_A, discount=D("39.99"), total=None)
    with pytest.raises(ValidationFailed) as info:
        check_totals(OrderDraft(currency="EUR", lines=(LINE_B, over)))
    assert info.value.field == "lines.1.discount"
    assert info.value.detail == "lines.1.discount 39.99 exceeds the line's 39.98"
    whole = replace(LINE_A, discount=D("39.98"), tax=D(0), total=D("0.00"))
    assert check_totals(OrderDraft(currency="EUR", lines=(whole,))).total == D(0)


def test_an_order_discount_may_not_exceed_the_order() -> None:
    with pytest.raises(ValidationFailed) as info:
        check_totals(replace(EXCLUSIVE, discount=D("54.28"), total=None, payments=()))
    assert info.value.field == "discount"
    # Exactly the order's worth is fine: 48.33 + 4.99 + 0.95 = 54.27.
    free = replace(EXCLUSIVE, discount=D("54.27"), discount_total=None, total=D(0), payments=())
    assert check_totals(free).total == D(0)


@pytest.mark.parametrize(
    ("payments", "field"),
    [
        ((PaymentDraft("card", D("51.28")),), "payments"),
        ((PaymentDraft("card", D("50.00")), PaymentDraft("cash", D("1.28"))), "payments"),
        ((PaymentDraft("card", D("0.00")),), "payments.0.amount"),
        ((PaymentDraft("card", D("1")), PaymentDraft("  ", D("1"))), "payments.1.method"),
        ((PaymentDraft("x" * 41, D("1")),), "payments.0.method"),
        ((PaymentDraft("card", D("1"), "r" * 201),), "payments.0.reference"),
    ],
    ids=["over-total", "two-over-total", "zero", "blank-method", "long-method", "long-ref"],
)
def test_payments_are_refused(payments: tuple[PaymentDraft, ...], field: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        check_totals(replace(EXCLUSIVE, payments=payments))
    assert info.value.field == field


def test_payments_exceeding_the_total_say_so() -> None:
    with pytest.raises(ValidationFailed) as info:
        check_totals(replace(INCLUSIVE, payments=(PaymentDraft("card", D("45.48")),)))
    assert info.value.detail == "payments add up to 45.48, more than the order's total 45.47"


@pytest.mark.parametrize(
    ("lines", "field"),
    [
        ((), "lines"),
        (tuple(LineDraft(f"S{i}", 1, D(1)) for i in range(201)), "lines"),
        ((replace(LINE_B, quantity=0),), "lines.0.quantity"),
        ((LINE_B, replace(LINE_B, quantity=-1)), "lines.1.quantity"),
        ((replace(LINE_B, quantity=1_000_001),), "lines.0.quantity"),
        ((replace(LINE_B, quantity=True),), "lines.0.quantity"),
        ((replace(LINE_B, quantity=cast(int, 1.0)),), "lines.0.quantity"),
    ],
    ids=["empty", "too-many", "zero", "negative", "too-big", "bool", "float"],
)
def test_lines_are_refused(lines: tuple[LineDraft, ...], field: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        check_totals(OrderDraft(currency="EUR", lines=lines))
    assert info.value.field == field


def test_two_hundred_lines_of_a_million_units_are_fine() -> None:
    lines = tuple(LineDraft(f"S{i}", 1_000_000, D("0.01")) for i in range(200))
    assert check_totals(OrderDraft(currency="EUR", lines=lines)).total == D(2_000_000)


@st.composite
def drafts(draw: st.DrawFn) -> tuple[OrderDraft, Decimal]:
    """A random consistent draft and its total, computed here from first principles."""
    taxes_included = draw(st.booleans())
    lines = []
    expected_lines = D(0)
    for index in range(draw(st.integers(1, 6))):
        quantity = draw(st.integers(1, 50))
        price = draw(st.decimals(min_value=0, max_value=1000, places=2))
        gross = price * quantity
        discount = draw(st.decimals(min_value=0, max_value=gross, places=2))
        tax = draw(st.decimals(min_value=0, max_value=300, places=2))
        expected_lines += gross - discount + (0 if taxes_included else tax)
        lines.append(LineDraft(f"S{index}", quantity, price, discount, tax))
    shipping = draw(st.decimals(min_value=0, max_value=50, places=2))
    shipping_tax = draw(st.decimals(min_value=0, max_value=10, places=2))
    before_discount = expected_lines + shipping + (0 if taxes_included else shipping_tax)
    order_discount = draw(st.decimals(min_value=0, max_value=before_discount, places=2))
    draft = OrderDraft(
        currency="EUR",
        lines=tuple(lines),
        shipping=shipping,
        shipping_tax=shipping_tax,
        discount=order_discount,
        taxes_included=taxes_included,
    )
    return draft, before_discount - order_discount


@given(drafts())
def test_random_consistent_orders_add_up_to_the_cent(case: tuple[OrderDraft, Decimal]) -> None:
    draft, expected = case
    assert check_totals(replace(draft, total=expected)).total == expected
    with pytest.raises(ValidationFailed) as info:
        check_totals(replace(draft, total=expected + D("0.01")))
    assert info.value.field == "total"
    assert info.value.extra == {"sent": str(expected + D("0.01")), "computed": str(expected)}


# --- customer ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given_", "expected"),
    [
        (
            Customer(" Ann.Smith@Example.COM ", " +48 600 100 200 ", "  crm-42 "),
            Customer("ann.smith@example.com", "+48 600 100 200", "crm-42"),
        ),
        (Customer(), Customer()),
        (Customer("", "  ", ""), Customer()),
        (Customer(phone="(022) 555-01.23"), Customer(phone="(022) 555-01.23")),
        (Customer(email="a@b.co"), Customer(email="a@b.co")),
        (Customer(ref="r" * 200), Customer(ref="r" * 200)),
    ],
    ids=["trimmed-and-lower-cased", "empty", "blank-is-none", "phone-punctuation", "short", "ref"],
)
def test_check_customer_normalises(given_: Customer, expected: Customer) -> None:
    assert check_customer(given_) == expected


@pytest.mark.parametrize(
    ("customer", "field"),
    [
        (Customer(email="ann"), "customer.email"),
        (Customer(email="ann@example"), "customer.email"),
        (Customer(email="@example.com"), "customer.email"),
        (Customer(email="ann@@example.com"), "customer.email"),
        (Customer(email="ann smith@example.com"), "customer.email"),
        (Customer(email="a@" + "b" * 250 + ".com"), "customer.email"),
        (Customer(phone="call me"), "customer.phone"),
        (Customer(phone="1234"), "customer.phone"),
        (Customer(phone="+48 600 100 200 ext 5"), "customer.phone"),
        (Customer(phone="1" * 32), "customer.phone"),
        (Customer(phone="++48600100200"), "customer.phone"),
        (Customer(phone="(--) / -- ."), "customer.phone"),
        (Customer(phone="+1 (2)-3"), "customer.phone"),
        (Customer(ref="r" * 201), "customer.ref"),
    ],
    ids=[
        "email-no-at",
        "email-no-dot",
        "email-no-local",
        "email-two-ats",
        "email-space",
        "email-too-long",
        "phone-words",
        "phone-short",
        "phone-extension",
        "phone-long",
        "phone-two-pluses",
        "phone-punctuation-only",
        "phone-few-digits",
        "ref-too-long",
    ],
)
def test_check_customer_refuses(customer: Customer, field: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        check_customer(customer)
    assert info.value.field == field


def test_a_bad_email_is_quoted_as_sent() -> None:
    with pytest.raises(ValidationFailed) as info:
        check_customer(Customer(email=" Not An Email "))
    assert info.value.detail == "' Not An Email ' is not an email address"


# --- fingerprint ---------------------------------------------------------------------


def test_fingerprint_is_stable_under_key_order() -> None:
    one = {"external_id": "A-1", "lines": [{"sku": "MUG", "qty": 2}], "meta": {"b": 1, "a": 2}}
    two = {"meta": {"a": 2, "b": 1}, "lines": [{"qty": 2, "sku": "MUG"}], "external_id": "A-1"}
    assert fingerprint(one) == fingerprint(two)
    canonical = json.dumps(one, sort_keys=True, separators=(",", ":")).encode()
    assert fingerprint(one) == hashlib.sha256(canonical).hexdigest()
    assert len(fingerprint(one)) == 64


@pytest.mark.parametrize(
    "changed",
    [
        {"external_id": "A-2", "lines": [{"sku": "MUG", "qty": 2}]},
        {"external_id": "A-1", "lines": [{"sku": "MUG", "qty": 3}]},
        {"external_id": "A-1", "lines": [{"sku": "MUG", "qty": "2"}]},
        {"external_id": "A-1", "lines": [{"sku": "MUG", "qty": 2}, {"sku": "TEE", "qty": 1}]},
        {"external_id": "A-1"},
    ],
    ids=["id", "quantity", "type", "extra-line", "missing-key"],
)
def test_fingerprint_tells_changes_apart(changed: dict[str, Any]) -> None:
    base = {"external_id": "A-1", "lines": [{"sku": "MUG", "qty": 2}]}
    assert fingerprint(changed) != fingerprint(base)


@given(
    st.dictionaries(
        st.text(max_size=5),
        st.recursive(
            st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=5),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(st.text(max_size=5), inner, max_size=3)
            ),
            max_leaves=10,
        ),
        max_size=6,
    )
)
def test_fingerprint_ignores_insertion_order(payload: dict[str, Any]) -> None:
    def reversed_keys(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: reversed_keys(value[k]) for k in reversed(list(value))}
        if isinstance(value, list):
            return [reversed_keys(v) for v in value]
        return value

    assert fingerprint(reversed_keys(payload)) == fingerprint(payload)
