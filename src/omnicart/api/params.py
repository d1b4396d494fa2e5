"""Path and query parameters every route types the same way."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

# Ids are 64-bit in every table; a larger number names nothing and must not reach a driver.
MAX_ID = 2**63 - 1

IdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="An id (1 to 2^63-1).")]
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID, description="An id (1 to 2^63-1).")]
IdInQuery = Annotated[int, Query(ge=1, le=MAX_ID, description="An id (1 to 2^63-1).")]
