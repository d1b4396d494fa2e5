"""Regenerate the initial migration from the models (only while nothing is deployed)."""

from __future__ import annotations

import pathlib
import subprocess
import tempfile

from alembic import command

from omnicart.db.migrate import alembic_config

VERSIONS = pathlib.Path(__file__).resolve().parents[1] / "src/omnicart/migrations/versions"


def main() -> None:
    """Write versions/0001_initial_schema.py afresh."""
    for old in VERSIONS.glob("0001_*.py"):
        old.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        config = alembic_config(f"sqlite:///{tmp}/empty.db")
        command.revision(config, message="initial schema", autogenerate=True, rev_id="0001")
    target = next(VERSIONS.glob("0001_*.py"))
    text = target.read_text().replace("astext_type=Text()", "astext_type=sa.Text()")
    target.write_text(text)
    subprocess.run(["ruff", "format", "-q", str(target)], check=False)


if __name__ == "__main__":
    main()
