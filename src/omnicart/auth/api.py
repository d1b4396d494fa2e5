"""HTTP routes for auth: parse, call the service, serialise."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["auth"])
