"""Request and response bodies for lifting a suppression (the value travels in a POST
body, never in a URL, so it stays out of access logs)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from omnicart.api.inputs import InputModel
from omnicart.api.outputs import OutputModel


class SuppressionLiftIn(InputModel):
    """Which identifier to take off the suppression list, and why."""

    kind: Annotated[str, Field(max_length=24)] = Field(
        description="user_id, loyalty_card, pos_customer, marketplace_buyer (written "
        "`<channel id>:<buyer id>`), email, phone or anonymous_id."
    )
    value: Annotated[str, Field(max_length=254)] = Field(
        description="The identifier, spelt as on arrival (it is normalised)."
    )
    reason: Annotated[str, Field(max_length=300)] = Field(
        description="Why, for the log, e.g. 'customer signed up again and consented'."
    )


class SuppressionLiftOut(OutputModel):
    """The log entry of a lift: the identifier's digest, never its value."""

    id: int
    kind: str
    digest: str
    actor: str
    reason: str
    at: datetime
