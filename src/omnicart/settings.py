"""The one place that reads the environment: every setting is `OMNICART_<NAME>`."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Omnicart's settings; defaults give the embedded setup under `./var/`."""

    model_config = SettingsConfigDict(env_prefix="OMNICART_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./var/omnicart.db",
        description="SQLAlchemy URL of the operational database (SQLite or PostgreSQL).",
    )
    reservation_ttl_seconds: int = Field(default=900, ge=1, le=7 * 24 * 3600)
    low_stock_threshold: int = Field(default=5, ge=0)
    expiry_sweep_seconds: float = Field(
        default=5.0, gt=0, description="How often the server frees expired reservations."
    )
    admin_key: str | None = Field(
        default=None, description="If set, an admin API key with this secret exists at start."
    )
    pool_size: int = Field(default=20, ge=1)
    bench_database_url: str = Field(
        default="postgresql+psycopg://postgres@127.0.0.1:5432/test",
        description="PostgreSQL the benchmarks run on (they make and drop their own schemas).",
    )
    events_path: str = Field(
        default="./var/events.duckdb",
        description="DuckDB file of tracking events; its spool and lock file sit beside it.",
    )
    events_flusher: Literal["thread", "process"] = Field(
        default="thread",
        description=(
            "Who moves spooled events (and the order book's outbox) into DuckDB: a thread in "
            "each server worker, or a process of its own (`omnicart events flusher`)."
        ),
    )
    phone_region: str = Field(
        default="PL",
        pattern=r"^[A-Z]{2}$",
        description="Region (ISO 3166-1) of customer phone numbers written without +country.",
    )
    loyalty_points_expire_days: int | None = Field(
        default=None,
        ge=1,
        le=3660,
        description=(
            "Days after which loyalty points expire, oldest first (redemptions spend the "
            "oldest points first); unset: points never expire."
        ),
    )
    suppressed_events: Literal["drop", "strip"] = Field(
        default="drop",
        description=(
            "What the tracking API does with an event naming an erased (suppressed) "
            "customer's identifier: `drop` it, or `strip` it (stored without its personal "
            "fields and identifiers, so it still counts); either way it is counted."
        ),
    )
    suppression_key: str | None = Field(
        default=None,
        min_length=16,
        description=(
            "Secret keying the hashes of erased customers' identifiers (the suppression "
            "list); unset: a random key made once and kept in the database. Set it before "
            "the first erasure: a new key forgets every suppression made under the old one."
        ),
    )
    erasure_key: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]{43}=$",
        description=(
            "Fernet key (`Fernet.generate_key()`) sealing what an unfinished erasure still "
            "needs; unset: a random key made once and kept in the database."
        ),
    )
    background: Literal["inline", "worker"] = Field(
        default="inline",
        description=(
            "Who runs the background rounds (expiry sweeps, customer linking, loyalty, "
            "outbox delivery, identity resolution): `inline`, each server process itself, "
            "or `worker`, one `omnicart worker` process per database (`omnicart serve` and "
            "`make demo` start one and set this)."
        ),
    )
    worker_lease_seconds: float = Field(
        default=15.0,
        ge=1,
        le=3600,
        description=(
            "How long the worker's lease lasts unrenewed (at least three rounds): a killed "
            "worker's rounds are taken over by another within this time."
        ),
    )
    worker_niceness: int = Field(
        default=10,
        ge=0,
        le=19,
        description=(
            "The niceness `omnicart worker` runs at (0 = as the web workers, 19 = lowest): "
            "on a busy machine its background rounds yield the CPU to requests."
        ),
    )
    connector_key: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]{43}=$",
        description=(
            "Fernet key (`Fernet.generate_key()`) encrypting connectors' credentials at "
            "rest; unset: a random key made once and kept in the database."
        ),
    )
    connector_urls: dict[str, str] = Field(
        default={},
        description=(
            'Vendors\' API base URLs replacing their real ones, as JSON: {"shopify": '
            '"http://127.0.0.1:9001"}; a connector\'s own base_url wins over both.'
        ),
    )
    connector_timeout_seconds: float = Field(
        default=10.0, gt=0, le=120, description="How long a call to a vendor's API may take."
    )
    connector_lease_seconds: float = Field(
        default=60.0,
        ge=1,
        le=3600,
        description=(
            "How long a worker holds a delivery or a figure it is processing (at least twice "
            "the timeout); one that died is taken over after this."
        ),
    )
    connector_poll_seconds: float = Field(
        default=60.0, ge=1, le=86400, description="How often polling vendors (Amazon) are asked."
    )
    webhook_secrets_key: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]{43}=$",
        description=(
            "Fernet key (`Fernet.generate_key()`) sealing outbound webhook subscriptions' "
            "signing secrets; unset: a random key made once and kept in the database."
        ),
    )
    webhooks_poll_seconds: float = Field(
        default=0.5,
        gt=0,
        le=60,
        description="How often the background sender looks for webhook deliveries due.",
    )
    analytics_engine: str = Field(
        default="duckdb",
        pattern=r"^(duckdb|chdb|clickhouses?://\S+)$",
        description=(
            "Where analytics figures are computed: `duckdb` (the event store's file), "
            "`chdb` (in-process ClickHouse, a copy per request) or a ClickHouse server "
            "`clickhouse://user:password@host:8123/database` (`clickhouses://` for HTTPS)."
        ),
    )
    console_key: str | None = Field(
        default=None,
        min_length=32,
        description=(
            "Secret signing the web console's session and CSRF cookies; unset: a random key "
            "made once and kept in the database. Changing it signs everybody out."
        ),
    )
    host: str = "127.0.0.1"
    port: int = 8000


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings read once per process."""
    return Settings()
