"""HTTP routes for catalog: parse, call the service, serialise."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["catalog"])
