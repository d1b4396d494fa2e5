"""Alembic migrations, shipped inside the package so `omnicart db upgrade` finds them."""
