"""Catalog request and response bodies; the rules themselves live in `catalog.model`."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import Field

from omnicart.api.inputs import InputModel, Int64, Quantity, omitted
from omnicart.api.outputs import MoneyAmount, OutputModel
from omnicart.catalog.model import KEEP, BundlePart, VariantDraft


class _In(InputModel):
    pass


class _Out(OutputModel):
    pass


class CategoryIn(_In):
    """A new category."""

    slug: str = Field(examples=["shoes"])
    name: str = Field(examples=["Shoes"])
    parent: str | None = Field(default=None, description="Slug of the parent category.")


class CategoryOut(_Out):
    """A category."""

    id: int
    slug: str
    name: str
    parent: str | None


class VariantIn(_In):
    """A new variant (SKU)."""

    sku: str = Field(examples=["TEE-RED-M"])
    title: str = ""
    gtin: str | None = Field(default=None, description="EAN-8, UPC-A, EAN-13 or GTIN-14.")
    attributes: dict[str, str] = Field(default_factory=dict, examples=[{"size": "M"}])
    low_stock_threshold: Int64 | None = Field(default=None, description="0 to 1,000,000.")

    def to_draft(self) -> VariantDraft:
        """The service's form of this variant."""
        return VariantDraft(
            sku=self.sku,
            title=self.title,
            gtin=self.gtin,
            attributes=self.attributes,
            low_stock_threshold=self.low_stock_threshold,
        )


class ProductIn(_In):
    """A new product with its variants."""

    handle: str = Field(examples=["classic-tee"])
    title: str = Field(examples=["Classic tee"])
    description: str = ""
    category: str | None = Field(default=None, description="Slug of an existing category.")
    attributes: dict[str, str] = Field(default_factory=dict)
    variants: list[VariantIn] = Field(min_length=1)


class ProductPatchIn(_In):
    """Fields to change on a product; fields left out stay as they are."""

    title: str = omitted()
    description: str = omitted()
    category: str | None = Field(default=None, description="null removes the category.")
    attributes: dict[str, str] = omitted()

    def changes(self) -> dict[str, Any]:
        """Keyword arguments for `update_product`: KEEP for every field left out."""
        return {
            name: getattr(self, name) if name in self.model_fields_set else KEEP
            for name in ("title", "description", "category", "attributes")
        }


class VariantPatchIn(_In):
    """Fields to change on a variant; fields left out stay as they are."""

    title: str = omitted()
    gtin: str | None = Field(default=None, description="null removes the GTIN.")
    attributes: dict[str, str] = omitted()
    low_stock_threshold: Int64 | None = Field(
        default=None, description="0 to 1,000,000; null falls back to the shop's default."
    )

    def changes(self) -> dict[str, Any]:
        """Keyword arguments for `update_variant`: KEEP for every field left out."""
        fields = ("title", "gtin", "attributes", "low_stock_threshold")
        return {
            name: getattr(self, name) if name in self.model_fields_set else KEEP for name in fields
        }


class BundlePartIn(_In):
    """`units` of `sku` per bundle."""

    sku: str
    units: Quantity = Field(examples=[2])


class BundleIn(_In):
    """The complete component list of a bundle (replaces any previous one)."""

    components: list[BundlePartIn]

    def parts(self) -> list[BundlePart]:
        """The service's form of the components."""
        return [BundlePart(sku=c.sku, units=c.units) for c in self.components]


class BundlePartOut(_Out):
    """One component of a bundle."""

    sku: str
    units: int


class VariantOut(_Out):
    """A variant; `components` lists a bundle's parts."""

    id: int
    product_id: int
    sku: str
    gtin: str | None
    title: str
    attributes: dict[str, str]
    is_bundle: bool
    low_stock_threshold: int | None
    components: list[BundlePartOut]


class ProductOut(_Out):
    """A product with its variants."""

    id: int
    handle: str
    title: str
    description: str
    category: str | None
    attributes: dict[str, str]
    created_at: datetime
    variants: list[VariantOut]


class ListingIn(_In):
    """Whether the product is listed on the channel, with optional channel-specific text."""

    listed: bool
    title: str | None = Field(default=None, description="Overrides the title on this channel.")
    description: str | None = Field(
        default=None, description="Overrides the description on this channel."
    )


class ListingOut(_Out):
    """A product's listing on a channel."""

    channel_id: int
    product_id: int
    listed: bool
    title: str | None
    description: str | None


class PriceIn(_In):
    """A price in the channel's currency; send the amount as a string to keep it exact."""

    amount: Decimal = Field(examples=["19.99"])
    currency: str = Field(examples=["EUR"], description="Must be the channel's currency.")


class MoneyOut(_Out):
    """An amount (a decimal string with the currency's decimals) in an ISO 4217 currency."""

    amount: MoneyAmount
    currency: str


class PriceOut(_Out):
    """A variant's price on a channel."""

    channel_id: int
    sku: str
    price: MoneyOut


class ChannelVariantOut(_Out):
    """A variant as the channel shows it; `price` is null when it has none there."""

    sku: str
    gtin: str | None
    title: str
    attributes: dict[str, str]
    is_bundle: bool
    price: MoneyOut | None


class ChannelProductOut(_Out):
    """A listed product as the channel shows it."""

    channel_id: int
    product_id: int
    handle: str
    title: str
    description: str
    category: str | None
    attributes: dict[str, str]
    variants: list[ChannelVariantOut]
