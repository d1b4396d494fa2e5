"""Segment's e-commerce v2 events: the property types the spec gives, as Pydantic models.

Only the semantic properties the spec names are checked; any other property passes as
sent (the spec allows custom properties on every event), and so does every event whose
name the spec does not define. Strings must be JSON strings and numbers JSON numbers
(never `true`, never `"12.5"`): a wrong type is a client bug that would corrupt revenue
figures later. One leniency, from the spec's own example: `Product Reviewed`'s `rating`
is a Number in the property table but `'5'` in the example, so a numeric string passes.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
)

# JSON numbers, int or float.
Number = StrictFloat  # strict: ints pass, bools and numeric strings do not
Quantity = Annotated[StrictInt, Field(ge=0)]


class _Props(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)


class Product(_Props):
    """One product in a list, a cart or an order."""

    product_id: StrictStr | None = None
    sku: StrictStr | None = None
    category: StrictStr | None = None
    name: StrictStr | None = None
    brand: StrictStr | None = None
    variant: StrictStr | None = None
    price: Number | None = None
    quantity: Quantity | None = None
    coupon: StrictStr | None = None
    position: StrictInt | None = None
    url: StrictStr | None = None
    image_url: StrictStr | None = None


class _Filter(_Props):
    type: StrictStr | None = None
    value: StrictStr | None = None


class ProductsSearched(_Props):
    """Products Searched."""

    query: StrictStr | dict[str, Any] | None = None


class ProductList(_Props):
    """Product List Viewed."""

    list_id: StrictStr | None = None
    category: StrictStr | None = None
    products: list[Product] | None = None


class ProductListFiltered(ProductList):
    """Product List Filtered."""

    filters: list[_Filter] | None = None
    sorts: list[_Filter] | None = None


class Promotion(_Props):
    """Promotion Viewed, Promotion Clicked."""

    promotion_id: StrictStr | None = None
    creative: StrictStr | None = None
    name: StrictStr | None = None
    position: StrictStr | None = None


class CartProduct(Product):
    """Product Clicked, Viewed, Added, Removed; the wishlist and sharing events."""

    cart_id: StrictStr | None = None
    currency: StrictStr | None = None
    value: Number | None = None
    wishlist_id: StrictStr | None = None
    wishlist_name: StrictStr | None = None
    share_via: StrictStr | None = None
    share_message: StrictStr | None = None
    recipient: StrictStr | None = None


class Cart(_Props):
    """Cart Viewed, Cart Shared."""

    cart_id: StrictStr | None = None
    products: list[Product] | None = None
    share_via: StrictStr | None = None
    share_message: StrictStr | None = None
    recipient: StrictStr | None = None


class Order(_Props):
    """Checkout Started and the Order events: money as numbers, products as objects."""

    order_id: StrictStr | None = None
    checkout_id: StrictStr | None = None
    affiliation: StrictStr | None = None
    value: Number | None = None
    total: Number | None = None
    subtotal: Number | None = None
    revenue: Number | None = None
    shipping: Number | None = None
    tax: Number | None = None
    discount: Number | None = None
    coupon: StrictStr | None = None
    currency: StrictStr | None = None
    products: list[Product] | None = None


class CheckoutStep(_Props):
    """Checkout Step Viewed, Checkout Step Completed, Payment Info Entered."""

    checkout_id: StrictStr | None = None
    order_id: StrictStr | None = None
    step: StrictInt | None = None
    shipping_method: StrictStr | None = None
    payment_method: StrictStr | None = None


class Coupon(_Props):
    """Coupon Entered, Applied, Denied, Removed."""

    order_id: StrictStr | None = None
    cart_id: StrictStr | None = None
    coupon_id: StrictStr | None = None
    coupon_name: StrictStr | None = None
    coupon: StrictStr | None = None
    discount: Number | None = None
    reason: StrictStr | None = None


class ProductReviewed(_Props):
    """Product Reviewed."""

    product_id: StrictStr | None = None
    review_id: StrictStr | None = None
    review_body: StrictStr | None = None
    rating: Number | StrictStr | None = None

    @field_validator("rating")
    @classmethod
    def _numeric(cls, value: float | str | None) -> float | str | None:
        if isinstance(value, str):
            try:
                float(value)
            except ValueError:
                raise ValueError("rating must be a number") from None
        return value


SPEC_EVENTS: dict[str, type[_Props]] = {
    "Products Searched": ProductsSearched,
    "Product List Viewed": ProductList,
    "Product List Filtered": ProductListFiltered,
    "Promotion Viewed": Promotion,
    "Promotion Clicked": Promotion,
    "Product Clicked": CartProduct,
    "Product Viewed": CartProduct,
    "Product Added": CartProduct,
    "Product Removed": CartProduct,
    "Cart Viewed": Cart,
    "Checkout Started": Order,
    "Checkout Step Viewed": CheckoutStep,
    "Checkout Step Completed": CheckoutStep,
    "Payment Info Entered": CheckoutStep,
    "Order Completed": Order,
    "Order Updated": Order,
    "Order Refunded": Order,
    "Order Cancelled": Order,
    "Coupon Entered": Coupon,
    "Coupon Applied": Coupon,
    "Coupon Denied": Coupon,
    "Coupon Removed": Coupon,
    "Product Added to Wishlist": CartProduct,
    "Product Removed from Wishlist": CartProduct,
    "Wishlist Product Added to Cart": CartProduct,
    "Product Shared": CartProduct,
    "Cart Shared": Cart,
    "Product Reviewed": ProductReviewed,
}


def spec_errors(event: str, properties: dict[str, Any]) -> list[tuple[str, str]]:
    """(property path, reason) for each spec property of the wrong type; [] if none."""
    model = SPEC_EVENTS.get(event)
    if model is None:
        return []
    try:
        model.model_validate(properties)
    except ValidationError as exc:
        found: dict[str, str] = {}
        for err in exc.errors(include_url=False):
            # A union adds its members' names ("str", "dict[str,any]") to the location.
            path = ".".join(str(p) for p in err["loc"] if not _is_union_tag(p))
            found.setdefault(path, str(err["msg"]))
        return list(found.items())
    return []


def _is_union_tag(part: object) -> bool:
    return isinstance(part, str) and (part in _TYPE_TAGS or "[" in part)


_TYPE_TAGS = frozenset({"str", "int", "float", "bool", "dict", "list", "none"})
