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
    host: str = "127.0.0.1"
    port: int = 8000


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings read once per process."""
    return Settings()
