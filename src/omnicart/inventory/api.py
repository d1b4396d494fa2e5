"""HTTP routes for inventory: parse, call the service, serialise."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["inventory"])
