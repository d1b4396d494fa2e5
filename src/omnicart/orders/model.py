"""The rules of an order: its status machine, amounts that must add up, and the plan of a
new order (what will be written, decided before anything is).

Pure functions over plain values; the services apply them in transactions.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

import orjson

from omnicart.kernel.errors import Conflict, ValidationFailed
from omnicart.kernel.money import Money

PENDING: Final = "pending"
CONFIRMED: Final = "confirmed"
PARTIALLY_FULFILLED: Final = "partially_fulfilled"
FULFILLED: Final = "fulfilled"
COMPLETED: Final = "completed"
CANCELLED: Final = "cancelled"
PARTIALLY_RETURNED: Final = "partially_returned"
RETURNED: Final = "returned"

# Every move an order may make; anything else is refused with the moves it may make.
TRANSITIONS: Final[Mapping[str, frozenset[str]]] = {
    PENDING: frozenset({CONFIRMED, CANCELLED}),
    CONFIRMED: frozenset({PARTIALLY_FULFILLED, FULFILLED, CANCELLED}),
    # A partially fulfilled order may take returns of what reached the customer; it
    # stays partially fulfilled until its last units leave, then shows those returns.
    PARTIALLY_FULFILLED: frozenset({FULFILLED, PARTIALLY_RETURNED}),
    FULFILLED: frozenset({COMPLETED, PARTIALLY_RETURNED, RETURNED}),
    COMPLETED: frozenset({PARTIALLY_RETURNED, RETURNED}),
    PARTIALLY_RETURNED: frozenset({RETURNED}),
    RETURNED: frozenset(),
    CANCELLED: frozenset(),
}
ORDER_STATUSES: Final = tuple(TRANSITIONS)
# Returns are opened against units that reached the customer (shipped or collected),
# also while the rest of the order is still to leave.
RETURNABLE: Final = frozenset({PARTIALLY_FULFILLED, FULFILLED, COMPLETED, PARTIALLY_RETURNED})
FULFILMENT_MODES: Final = ("ship", "pickup", "in_store")
MAX_ORDER_LINES: Final = 200
TEXT_LIMITS: Final = {"external_id": 200, "customer_ref": 200, "method": 40, "reference": 200}
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_PHONE = re.compile(r"\+?[0-9 ()./-]{5,31}")
MIN_PHONE_DIGITS: Final = 5  # "(--) /" is punctuation, not a number


def check_transition(current: str, target: str, *, order_id: int | None = None) -> None:
    """Raise Conflict unless an order in `current` may move to `target`."""
    allowed = TRANSITIONS.get(current, frozenset())
    if target not in allowed:
        which = f"order {order_id}" if order_id is not None else "the order"
        may = ", ".join(sorted(allowed)) or "nothing (it is final)"
        raise Conflict(
            f"{which} is {current} and cannot become {target}; it may become {may}",
            field="status",
            status_now=current,
        )


def status_after(lines: Sequence[tuple[int, int, int]]) -> str:
    """The status that (ordered, fulfilled, returned) units per line give an order that
    has started leaving.

    Units still to leave come first: the order is partially fulfilled, whatever came
    back meanwhile. Once every unit has left it is returned when every unit came back,
    partially returned when some did, else fulfilled.
    """
    if any(fulfilled < quantity for quantity, fulfilled, _ in lines):
        return PARTIALLY_FULFILLED
    if all(returned >= quantity for quantity, _, returned in lines):
        return RETURNED
    if any(returned > 0 for _, _, returned in lines):
        return PARTIALLY_RETURNED
    return FULFILLED


@dataclass(frozen=True, slots=True)
class LineDraft:
    """A line as the channel sent it; `total` is checked when given."""

    sku: str
    quantity: int
    unit_price: Decimal
    discount: Decimal = Decimal(0)
    tax: Decimal = Decimal(0)
    total: Decimal | None = None
    title: str = ""


@dataclass(frozen=True, slots=True)
class PaymentDraft:
    """Money the customer paid, by what means."""

    method: str
    amount: Decimal
    reference: str = ""


@dataclass(frozen=True, slots=True)
class Customer:
    """Who the order is for, as the channel knows them (any may be empty)."""

    email: str | None = None
    phone: str | None = None
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class OrderDraft:
    """An order's lines and amounts before they are checked."""

    currency: str
    lines: tuple[LineDraft, ...]
    shipping: Decimal = Decimal(0)
    shipping_tax: Decimal = Decimal(0)
    discount: Decimal = Decimal(0)
    # Tax the checkout's tax service gave for the whole order rather than per line.
    order_tax: Decimal = Decimal(0)
    taxes_included: bool = False
    subtotal: Decimal | None = None
    tax_total: Decimal | None = None
    discount_total: Decimal | None = None
    total: Decimal | None = None
    payments: tuple[PaymentDraft, ...] = ()
    customer: Customer = field(default_factory=Customer)


@dataclass(frozen=True, slots=True)
class CheckedLine:
    """A line whose amounts are exact money in the order's currency."""

    sku: str
    quantity: int
    unit_price: Decimal
    discount: Decimal
    tax: Decimal
    total: Decimal
    title: str


@dataclass(frozen=True, slots=True)
class Totals:
    """An order's amounts once they have been found to add up."""

    lines: tuple[CheckedLine, ...]
    subtotal: Decimal
    discount_total: Decimal
    shipping: Decimal
    shipping_tax: Decimal
    order_discount: Decimal
    tax_total: Decimal
    total: Decimal
    paid: Decimal


def _amount(value: Decimal, currency: str, where: str, *, signed: bool = False) -> Decimal:
    money = Money.exact(value, currency, field=where)
    if not signed and money.amount < 0:
        raise ValidationFailed(f"{where} must not be negative (got {money.amount})", field=where)
    return money.amount


def _mismatch(where: str, sent: Decimal, computed: Decimal, how: str) -> ValidationFailed:
    return ValidationFailed(
        f"{where} is {sent} but {how} gives {computed}",
        field=where,
        sent=str(sent),
        computed=str(computed),
    )


def _check_line(index: int, line: LineDraft, currency: str) -> CheckedLine:
    where = f"lines.{index}"
    if isinstance(line.quantity, bool) or not isinstance(line.quantity, int):
        raise ValidationFailed("quantity must be a whole number", field=f"{where}.quantity")
    if not 1 <= line.quantity <= 1_000_000:
        raise ValidationFailed("quantity must be 1 to 1,000,000", field=f"{where}.quantity")
    price = _amount(line.unit_price, currency, f"{where}.unit_price")
    discount = _amount(line.discount, currency, f"{where}.discount")
    tax = _amount(line.tax, currency, f"{where}.tax")
    gross = price * line.quantity
    if discount > gross:
        raise ValidationFailed(
            f"{where}.discount {discount} exceeds the line's {gross}", field=f"{where}.discount"
        )
    return CheckedLine(
        sku=line.sku,
        quantity=line.quantity,
        unit_price=price,
        discount=discount,
        tax=tax,
        total=gross - discount,  # tax is added (or not) by check_totals
        title=line.title,
    )


def check_totals(draft: OrderDraft) -> Totals:
    """Every amount exact in the currency, and the totals the channel sent add up.

    A line's total is quantity x unit price - discount, plus its tax unless prices
    include taxes; the order's total is the lines' totals + shipping - the order-level
    discount (+ shipping tax and order-level tax unless prices include taxes). Any
    total the channel sent must equal what its parts give.
    """
    currency = draft.currency
    if not draft.lines:
        raise ValidationFailed("an order needs at least one line", field="lines")
    if len(draft.lines) > MAX_ORDER_LINES:
        raise ValidationFailed(f"an order has at most {MAX_ORDER_LINES} lines", field="lines")
    checked: list[CheckedLine] = []
    for index, line in enumerate(draft.lines):
        base = _check_line(index, line, currency)
        total = base.total if draft.taxes_included else base.total + base.tax
        if line.total is not None:
            sent = _amount(line.total, currency, f"lines.{index}.total", signed=True)
            if sent != total:
                how = "quantity x unit_price - discount" + (
                    "" if draft.taxes_included else " + tax"
                )
                raise _mismatch(f"lines.{index}.total", sent, total, how)
        checked.append(
            CheckedLine(
                base.sku,
                base.quantity,
                base.unit_price,
                base.discount,
                base.tax,
                total,
                base.title,
            )
        )
    shipping = _amount(draft.shipping, currency, "shipping")
    shipping_tax = _amount(draft.shipping_tax, currency, "shipping_tax")
    order_discount = _amount(draft.discount, currency, "discount")
    order_tax = _amount(draft.order_tax, currency, "tax")
    subtotal = sum((line.unit_price * line.quantity for line in checked), Decimal(0))
    line_discounts = sum((line.discount for line in checked), Decimal(0))
    tax_total = sum((line.tax for line in checked), Decimal(0)) + shipping_tax + order_tax
    lines_total = sum((line.total for line in checked), Decimal(0))
    total = lines_total + shipping - order_discount
    if not draft.taxes_included:
        total += shipping_tax + order_tax
    if total < 0:
        raise ValidationFailed(
            f"the discount {order_discount} exceeds what the order is worth", field="discount"
        )
    sent_figures: list[tuple[str, Decimal | None, Decimal, str]] = [
        ("subtotal", draft.subtotal, subtotal, "the sum of quantity x unit_price"),
        ("tax_total", draft.tax_total, tax_total, "the lines' tax + shipping_tax + tax"),
        (
            "discount_total",
            draft.discount_total,
            line_discounts + order_discount,
            "the lines' discounts + discount",
        ),
        ("total", draft.total, total, "lines + shipping - discount"),
    ]
    for name, sent_value, computed, how in sent_figures:
        if sent_value is not None:
            sent = _amount(sent_value, currency, name, signed=True)
            if sent != computed:
                raise _mismatch(name, sent, computed, how)
    paid = Decimal(0)
    for index, payment in enumerate(draft.payments):
        amount = _amount(payment.amount, currency, f"payments.{index}.amount")
        if amount <= 0:
            raise ValidationFailed("a payment is more than zero", field=f"payments.{index}.amount")
        check_text(payment.method, "method", where=f"payments.{index}.method", required=True)
        check_text(payment.reference, "reference", where=f"payments.{index}.reference")
        paid += amount
    if paid > total:
        raise ValidationFailed(
            f"payments add up to {paid}, more than the order's total {total}", field="payments"
        )
    return Totals(
        lines=tuple(checked),
        subtotal=subtotal,
        discount_total=line_discounts + order_discount,
        shipping=shipping,
        shipping_tax=shipping_tax,
        order_discount=order_discount,
        tax_total=tax_total,
        total=total,
        paid=paid,
    )


def with_redemption(draft: OrderDraft, value: Decimal) -> OrderDraft:
    """The draft with loyalty points worth `value` taken off as an order discount."""
    if value <= 0:
        return draft
    worth = check_totals(replace(draft, total=None, payments=())).total
    if value > worth:
        raise ValidationFailed(
            f"the points are worth {value} {draft.currency}, more than the order's {worth}",
            field="redeem_points",
        )
    return replace(draft, discount=draft.discount + value)


def check_text(value: str, kind: str, *, where: str, required: bool = False) -> str:
    """Trimmed text within its column, or ValidationFailed naming the field."""
    trimmed = value.strip()
    if required and not trimmed:
        raise ValidationFailed(f"{where} must not be empty", field=where)
    if len(trimmed) > TEXT_LIMITS[kind]:
        raise ValidationFailed(
            f"{where} must be at most {TEXT_LIMITS[kind]} characters", field=where
        )
    return trimmed


def check_customer(customer: Customer) -> Customer:
    """The customer reference normalised: email lower-cased, phone and id trimmed."""
    email = (customer.email or "").strip().lower() or None
    if email is not None and (len(email) > 254 or not _EMAIL.fullmatch(email)):
        raise ValidationFailed(
            f"{customer.email!r} is not an email address", field="customer.email"
        )
    phone = (customer.phone or "").strip() or None
    if phone is not None and (
        not _PHONE.fullmatch(phone) or sum(c.isdigit() for c in phone) < MIN_PHONE_DIGITS
    ):
        raise ValidationFailed(f"{customer.phone!r} is not a phone number", field="customer.phone")
    ref = (customer.ref or "").strip() or None
    if ref is not None:
        check_text(ref, "customer_ref", where="customer.ref")
    return Customer(email=email, phone=phone, ref=ref)


def fingerprint(payload: Mapping[str, Any]) -> str:
    """A stable hash of a request body, to tell a redelivery from an update."""
    return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()


def paid_in_full(paid: Decimal, total: Decimal) -> bool:
    """Whether the order may be confirmed on what was paid."""
    return paid >= total


@dataclass(frozen=True, slots=True)
class Fulfil:
    """How an order is fulfilled: shipped (to an address) or picked up / sold in a store."""

    mode: str = "ship"
    pickup_location_id: int | None = None
    address: dict[str, Any] | None = None

    @property
    def destination(self) -> tuple[float, float] | None:
        """The address coordinates, when the channel sent them."""
        if not self.address:
            return None
        lat, lon = self.address.get("latitude"), self.address.get("longitude")
        if isinstance(lat, int | float) and isinstance(lon, int | float):
            return (float(lat), float(lon))
        return None


@dataclass(frozen=True, slots=True)
class OrderPlan:
    """A new order as it will be written: its row (pending, no id yet), its checked
    lines, its payments (method, amount, reference) and the statuses it opens with, the
    first one from none."""

    row: dict[str, Any]
    fulfil: Fulfil
    lines: tuple[CheckedLine, ...]
    payments: tuple[tuple[str, Decimal, str], ...]
    statuses: tuple[tuple[str, str], ...]  # (status, reason)
    # An order another channel already sold: SKUs this channel does not list are
    # taken (and flagged on the order) rather than refused.
    flag_unlisted: bool
    # A till sale: paid, handed over and completed at once.
    handed_over: bool = False

    @property
    def stock(self) -> list[tuple[str, int]]:
        """The units to place: (sku, quantity) per line."""
        return [(line.sku, line.quantity) for line in self.lines]


def plan_order(
    *,
    channel_id: int,
    currency: str,
    source: str,
    draft: OrderDraft,
    totals: Totals,
    customer: Customer,
    fulfil: Fulfil,
    payload_hash: str,
    now: datetime,
    external_id: str | None = None,
    cart_id: int | None = None,
    source_updated_at: datetime | None = None,
    exchange_of_id: int | None = None,
    handed_over: bool = False,
) -> OrderPlan:
    """The plan of a new order from its checked draft (`totals`) and screened customer:
    pending until its stock is placed, confirmed at once when it is paid in full; one
    `handed_over` (a till sale) is paid in full exactly, and fulfilled and completed at
    once."""
    statuses = [(PENDING, f"received from {source}")]
    if handed_over and totals.paid != totals.total:
        raise ValidationFailed(
            f"a till sale is paid in full: payments add up to {totals.paid}, "
            f"the sale is {totals.total}",
            field="payments",
        )
    if paid_in_full(totals.paid, totals.total):
        statuses.append((CONFIRMED, "paid in full"))
    if handed_over:
        statuses += [(FULFILLED, "handed over at the till"), (COMPLETED, "till sale")]
    row = {
        "channel_id": channel_id,
        "source": source,
        "external_id": external_id,
        "cart_id": cart_id,
        "status": PENDING,
        "currency": currency,
        "taxes_included": draft.taxes_included,
        **amounts_of(totals),
        "customer_email": customer.email,
        "customer_phone": customer.phone,
        "customer_ref": customer.ref,
        "fulfilment_mode": fulfil.mode,
        "pickup_location_id": fulfil.pickup_location_id,
        "shipping_address": fulfil.address,
        "reservation_id": None,
        "routing": None,
        "flags": None,
        "payload_hash": payload_hash,
        "source_updated_at": source_updated_at,
        "exchange_of_id": exchange_of_id,
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }
    return OrderPlan(
        row=row,
        fulfil=fulfil,
        lines=totals.lines,
        payments=tuple((p.method.strip(), p.amount, p.reference.strip()) for p in draft.payments),
        statuses=tuple(statuses),
        flag_unlisted=source == "external",
        handed_over=handed_over,
    )


def amounts_of(totals: Totals) -> dict[str, Decimal]:
    """The order's amount columns."""
    return {
        "subtotal": totals.subtotal,
        "discount_total": totals.discount_total,
        "shipping_total": totals.shipping,
        "tax_total": totals.tax_total,
        "total": totals.total,
        "order_discount": totals.order_discount,
        "shipping_tax": totals.shipping_tax,
    }
