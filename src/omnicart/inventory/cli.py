"""CLI commands for inventory."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, help="inventory commands")


def import_stock(file: str) -> None:
    """Import stock from a CSV file (placeholder until the importer lands)."""
    raise typer.Exit(1)


def bench_inventory() -> None:
    """Benchmark reservations (placeholder until the benchmark lands)."""
    raise typer.Exit(1)
