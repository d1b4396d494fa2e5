"""CLI commands for catalog."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, help="catalog commands")


def import_catalog(file: str) -> None:
    """Import products and variants from a CSV file (placeholder until the importer lands)."""
    raise typer.Exit(1)
