"""HTTP routes for locations: parse, call the service, serialise."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["locations"])
