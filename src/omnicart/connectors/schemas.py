"""Connector request and response bodies; credentials go in and never come out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field

from omnicart.api.inputs import Id, InputModel, omitted
from omnicart.api.outputs import OutputModel
from omnicart.connectors.mapping import MappingEntry

Name = Annotated[str, Field(min_length=1, max_length=64)]
Names = Annotated[dict[Name, Annotated[str, Field(max_length=4000)]], Field(max_length=30)]
VendorId = Annotated[str, Field(min_length=1, max_length=64, description="The vendor's id.")]
DeliveryStatus = Literal["pending", "done", "parked", "dismissed"]


class ConnectorIn(InputModel):
    """A vendor account to connect to a channel (one connector per channel)."""

    channel_id: Id
    vendor: str = Field(max_length=32, examples=["shopify"], description="shopify, woocommerce, …")
    base_url: str | None = Field(
        default=None,
        max_length=500,
        description="The vendor's API base URL; left out: the vendor's real one (a "
        "WooCommerce shop's own site must be given).",
    )
    credentials: Names = Field(
        description="Secrets the vendor gave (e.g. Shopify: client_secret, access_token); "
        "stored encrypted, never shown again."
    )
    options: Names = Field(default_factory=dict, description="e.g. Shopify: shop, location_id.")


class ConnectorPatch(InputModel):
    """Changes to a connector; credentials and options given replace those of the same
    names (an empty value removes one); fields left out stay as they are."""

    base_url: str = omitted(max_length=500)
    credentials: Names = omitted()
    options: Names = omitted()
    active: bool = omitted(description="false pauses processing and pushing.")


class ConnectorOut(OutputModel):
    """A connector: which credentials it holds, never their values."""

    id: int
    channel_id: int
    vendor: str
    base_url: str
    options: dict[str, str]
    credential_names: list[str]
    active: bool
    webhook_path: str | None = Field(
        description="Where the vendor sends webhooks (null: a polled vendor)."
    )
    created_at: datetime
    updated_at: datetime


class ConnectionCheckOut(OutputModel):
    """Whether Omnicart can talk to the vendor."""

    ok: bool
    detail: str
    items: int | None


class MappingEntryIn(InputModel):
    """A vendor product (and variant) that is an Omnicart SKU; sku null removes it."""

    vendor_product_id: VendorId
    vendor_variant_id: str | None = Field(default=None, max_length=64)
    sku: str | None = Field(max_length=120)
    stock_ref: str | None = Field(
        default=None,
        max_length=64,
        description="The vendor's stock record when not the variant (Shopify's inventory_item_id).",
    )

    def model(self) -> MappingEntry:
        """As the service takes it."""
        return MappingEntry(
            self.vendor_product_id, self.vendor_variant_id, self.sku, self.stock_ref
        )


class MappingIn(InputModel):
    """Entries to add, change or remove by hand."""

    items: list[MappingEntryIn] = Field(min_length=1, max_length=500)


class MappingOut(OutputModel):
    """A mapping entry."""

    id: int
    connector_id: int
    vendor_product_id: str
    vendor_variant_id: str | None
    stock_ref: str | None
    sku: str
    matched_by: Literal["sku", "gtin", "manual"]
    vendor_sku: str | None
    vendor_gtin: str | None
    title: str


class VendorItemOut(OutputModel):
    """A vendor catalog item that matched no Omnicart SKU."""

    vendor_product_id: str
    vendor_variant_id: str | None
    sku: str | None
    gtin: str | None
    title: str


class MatchOut(OutputModel):
    """What matching the vendor's catalog did."""

    items: int
    matched: int
    kept: int = Field(description="Entries made by hand, left as they were.")
    unmatched: list[VendorItemOut]


class DeliveryOut(OutputModel):
    """A delivery in the inbox and what became of it."""

    id: int
    connector_id: int
    delivery_id: str
    source: Literal["webhook", "poll"]
    topic: str
    kind: str
    external_order_id: str | None
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime
    reason_code: str | None
    reason: str | None
    order_id: int | None
    flags: list[dict[str, Any]] | None
    received_at: datetime
    processed_at: datetime | None


class RequeueIn(InputModel):
    """Deliveries to process again: every parked one of the connector when left out, or
    those named (a replay: what was applied already changes nothing)."""

    delivery_ids: list[Id] | None = Field(default=None, max_length=500)


class RequeueOut(OutputModel):
    """How many deliveries will be processed again."""

    requeued: int


class WebhookAck(OutputModel):
    """The delivery is stored (or was already): the vendor may stop sending it."""

    delivery: int | None = Field(description="The inbox row; null for a ping.")
    duplicate: bool
    status: str
    reason: str | None = None


class DriftOut(OutputModel):
    """A SKU the vendor shows otherwise than Omnicart says."""

    sku: str
    vendor: int | None
    omnicart: int
    in_flight: bool


class ReconcileOut(OutputModel):
    """What a reconciliation of the vendor's stock figures found and did."""

    connector_id: int
    checked: int
    drifted: list[DriftOut]
    queued: int
    sent: int


class PushOut(OutputModel):
    """Where one SKU's figure stands with the vendor."""

    kind: Literal["stock", "price"]
    sku: str
    wanted: str
    sent: str | None
    in_sync: bool
    attempts: int
    changed_at: datetime
    sent_at: datetime | None
    next_attempt_at: datetime
    last_error: str | None


class PushList(OutputModel):
    """Figures by SKU; pass the last SKU as `after_sku` for the next ones."""

    items: list[PushOut]
