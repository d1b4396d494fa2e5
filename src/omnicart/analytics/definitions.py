"""The one place each figure is named and defined; README.md's table is this list.

Every figure the analytics API answers carries the `name` of its definition here. Common
rules, written once for every figure below:
- a range is whole UTC days, `from` and `to` both included; an order belongs to the day of
  its `ordered_at` (UTC);
- an order cancelled by the time of the refresh is no sale: it counts nowhere (nor do its
  refunds, returns or fees);
- money is summed exactly per channel, day and currency; each day's sum is converted at
  that day's ECB rate (the latest earlier rate when the day has none) and rounded half-even
  to the target currency's minor units, also when no conversion is needed; a figure is the
  sum of its days;
- percent figures are rounded half-even to 2 decimals, ratios to 4, money ratios (AOV,
  CPA) to the currency's minor units; a ratio over zero is null.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Unit = Literal["money", "percent", "count", "ratio"]


@dataclass(frozen=True, slots=True)
class Definition:
    """A figure's name (what the API calls it), its unit and what it means, in one line."""

    name: str
    unit: Unit
    text: str


DEFINITIONS: tuple[Definition, ...] = (
    # --- per-channel figures (GET /v1/analytics/channels, omnicart analytics channels)
    Definition("orders", "count", "Orders placed on the channel in the range, not cancelled."),
    Definition("units", "count", "Units in those orders."),
    Definition(
        "gross_sales",
        "money",
        "Those orders' lines at their unit prices, before discounts (no shipping).",
    ),
    Definition("discounts", "money", "Discounts given on those orders."),
    Definition("refunds", "money", "Money refunded on those orders, whenever it was refunded."),
    Definition("net_sales", "money", "gross_sales − discounts − refunds."),
    Definition("returned_units", "count", "Units of those orders returned, whenever received."),
    Definition("return_rate", "percent", "returned_units / units × 100."),
    Definition(
        "cogs",
        "money",
        "(Units sold − units returned) × the SKU's unit cost valid on the order date.",
    ),
    Definition(
        "uncosted_units",
        "count",
        "Units sold whose SKU had no unit cost on the order date (they add 0 to cogs).",
    ),
    Definition(
        "fees",
        "money",
        "Per order, with the channel's fees valid on the order date: commission % × the "
        "order's net sales + payment % × its total + the fixed payment fee.",
    ),
    Definition(
        "shipping",
        "money",
        "Shipping charged on those orders (outside net sales and net profit).",
    ),
    Definition("ad_spend", "money", "Ad spend of the channel on the days of the range."),
    Definition(
        "fixed_costs",
        "money",
        "Each month's fixed costs × the month's days in the range / the month's days.",
    ),
    Definition("total_cost", "money", "cogs + fees + ad_spend + fixed_costs."),
    Definition(
        "net_profit",
        "money",
        "net_sales − total_cost (tax and shipping are neither income nor cost).",
    ),
    Definition("roi", "percent", "net_profit / total_cost × 100."),
    Definition("roas", "ratio", "net_sales / ad_spend."),
    Definition("aov", "money", "net_sales / orders."),
    Definition(
        "customers",
        "count",
        "Known buyers of those orders (anonymous sales count no one); the total counts each once.",
    ),
    Definition(
        "new_customers",
        "count",
        "Those customers whose first order on any channel is in the range.",
    ),
    Definition(
        "returning_customers",
        "count",
        "Those customers whose first order on any channel is before the range.",
    ),
    Definition("cpa", "money", "ad_spend / new_customers."),
    Definition(
        "sessions",
        "count",
        "Runs of one visitor's tracked events on the channel with no gap over 30 minutes, "
        "counted in the range their first event is in (a visitor: the customer, else the "
        "anonymous id).",
    ),
    Definition("ordering_sessions", "count", "Sessions with an Order Completed event."),
    Definition("conversion_rate", "percent", "ordering_sessions / sessions × 100."),
    Definition(
        "cart_sessions",
        "count",
        "Sessions with a Product Added or Checkout Started event.",
    ),
    Definition("abandoned_carts", "count", "Cart sessions without an Order Completed event."),
    Definition("cart_abandonment_rate", "percent", "abandoned_carts / cart_sessions × 100."),
    Definition(
        "mer",
        "ratio",
        "Marketing efficiency ratio: net_sales of all channels / ad_spend of all channels.",
    ),
    # --- cohorts, omnichannel customers, funnels and attribution (journeys.py, …); each
    # answer's field is named after its definition
    Definition(
        "order_net_sales",
        "money",
        "An order's gross − discount − its refunds (whenever refunded), dated on its order "
        "day; cancelled orders count nowhere.",
    ),
    Definition(
        "cohort_customers",
        "count",
        "Known buyers whose first order on any channel (by time, then order id) is in the "
        "cohort's month, on the cohort's channel.",
    ),
    Definition("active_customers", "count", "Cohort customers with an order in the month since."),
    Definition(
        "repeat_customers",
        "count",
        "Cohort customers with an order other than their first in the month since.",
    ),
    Definition("repeat_rate", "ratio", "repeat_customers / cohort_customers."),
    Definition(
        "group_customers",
        "count",
        "Known buyers with orders in the range on 2 or more channels (omnichannel) or on "
        "one (single-channel).",
    ),
    Definition("group_orders", "count", "Their orders in the range."),
    Definition("orders_per_customer", "ratio", "group_orders / group_customers."),
    Definition(
        "sales_per_customer", "money", "Their order_net_sales in the range / group_customers."
    ),
    Definition(
        "mature_customers",
        "count",
        "Those of them whose first order (any channel, ever) is 12 months or more before "
        "the range's end.",
    ),
    Definition(
        "sales_12m",
        "money",
        "order_net_sales of mature customers' orders in the 12 months from their first.",
    ),
    Definition("value_12m", "money", "sales_12m / mature_customers."),
    Definition(
        "funnel_subjects",
        "count",
        "Customers (or anonymous visitors) who entered at their first step-1 event in the "
        "range and did each step up to this one in order, within the window from entering.",
    ),
    Definition(
        "drop_off", "count", "funnel_subjects of the step before − funnel_subjects of this."
    ),
    Definition("step_conversion", "ratio", "funnel_subjects / funnel_subjects of the step before."),
    Definition(
        "funnel_conversion", "ratio", "funnel_subjects / funnel_subjects of the first step."
    ),
    Definition(
        "conversions", "count", "Orders of known buyers placed in the range, not cancelled."
    ),
    Definition(
        "journeys",
        "count",
        "Touch paths: one per attributed conversion, and one per customer with touches "
        "after their last conversion (not converting).",
    ),
    Definition("converting_journeys", "count", "Journeys that end in a conversion."),
    Definition(
        "unattributed_conversions",
        "count",
        "Conversions with no touch in the lookback before them (credited to no channel).",
    ),
    Definition("unattributed_sales", "money", "order_net_sales of those conversions."),
    Definition(
        "attributed_conversions",
        "count",
        "Converting journeys credited to the touch channel by the model (a model's credits "
        "add up to converting_journeys).",
    ),
    Definition(
        "attributed_sales",
        "money",
        "Their order_net_sales credited to the touch channel by the model (adding up to "
        "the total exactly).",
    ),
    Definition(
        "attributed_roas",
        "ratio",
        "attributed_sales / ad_spend of the Omnicart channel whose code is the touch "
        "channel's name, in the same currency.",
    ),
    # --- a channel's top products and return reasons (products.py, return_reasons.py)
    Definition("product_units", "count", "Units of a SKU in the channel's orders of the range."),
    Definition("product_returned_units", "count", "Those units returned, whenever received."),
    Definition(
        "product_net_sales",
        "money",
        "The SKU's units kept (product_units − product_returned_units) at its prices in each "
        "order, less that order's discount shared out over its lines by their value.",
    ),
    Definition(
        "product_share",
        "percent",
        "product_net_sales / product_net_sales of all the channel's SKUs × 100.",
    ),
    Definition(
        "reason_returns",
        "count",
        "Returns of the channel's orders of the range, whenever received, with units sent "
        "back for the reason (trimmed; blank is none given).",
    ),
    Definition(
        "reason_units",
        "count",
        "Units of those returns sent back for the reason (all reasons add up to returned_units).",
    ),
    Definition("reason_share", "percent", "reason_units / returned_units × 100."),
    # --- predictive CLV (clv_data.py, GET /v1/analytics/clv, omnicart analytics clv)
    Definition(
        "clv_frequency",
        "count",
        "A customer's repeat transactions in the calibration range (days with orders, "
        "the first day not counted).",
    ),
    Definition(
        "clv_p_alive",
        "ratio",
        "BG/NBD probability that the customer still buys at the end of the range.",
    ),
    Definition(
        "clv_expected_purchases",
        "count",
        "BG/NBD expected transactions in the horizon after the range.",
    ),
    Definition(
        "clv_expected_spend",
        "money",
        "Gamma-Gamma expected value of one of the customer's future transactions.",
    ),
    Definition(
        "clv_expected_value",
        "money",
        "clv_expected_spend × clv_expected_purchases, each week discounted at the annual "
        "rate given.",
    ),
)

BY_NAME: dict[str, Definition] = {d.name: d for d in DEFINITIONS}


def definition(name: str) -> Definition:
    """The definition called `name` (KeyError for a name defined nowhere)."""
    return BY_NAME[name]


TABLE_HEADER = "| Figure | Unit | Definition |"


def definitions_table() -> str:
    """README.md's definitions table, one line per definition, in this module's order."""
    lines = [TABLE_HEADER, "| --- | --- | --- |"]
    lines += [f"| `{d.name}` | {d.unit} | {d.text} |" for d in DEFINITIONS]
    return "\n".join(lines)
