"""Channel rules without a database."""

from __future__ import annotations

import pytest

from omnicart.channels.model import ChannelDraft, check_channel, check_currency_kept
from omnicart.kernel.errors import Conflict, ValidationFailed


def _draft(**changes: object) -> ChannelDraft:
    values: dict[str, object] = {
        "code": "allegro",
        "name": "Allegro",
        "kind": "marketplace",
        "currency": "PLN",
    }
    values.update(changes)
    return ChannelDraft(**values)  # type: ignore[arg-type]


def test_check_channel_normalises_name_and_currency() -> None:
    draft = check_channel(
        _draft(name=" Allegro ", currency="pln", buffer_percent_shown=80, buffer_units=2)
    )
    assert draft == ChannelDraft(
        code="allegro",
        name="Allegro",
        kind="marketplace",
        currency="PLN",
        buffer_percent_shown=80,
        buffer_units=2,
        active=True,
    )


@pytest.mark.parametrize("percent", [0, 100])
def test_percent_bounds_are_inclusive(percent: int) -> None:
    assert check_channel(_draft(buffer_percent_shown=percent)).buffer_percent_shown == percent


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"code": "Allegro PL"}, "code"),
        ({"kind": "shop"}, "kind"),
        ({"currency": "XYZ"}, "currency"),
        ({"currency": "EURO"}, "currency"),
        ({"buffer_percent_shown": -1}, "buffer_percent_shown"),
        ({"buffer_percent_shown": 101}, "buffer_percent_shown"),
        ({"buffer_units": -1}, "buffer_units"),
        ({"name": ""}, "name"),
        ({"name": "n" * 201}, "name"),
    ],
)
def test_broken_rules_name_the_field(changes: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        check_channel(_draft(**changes))
    assert caught.value.field == field


def test_currency_may_be_repeated_but_not_changed() -> None:
    check_currency_kept("PLN", "pln")
    with pytest.raises(Conflict) as caught:
        check_currency_kept("PLN", "EUR")
    assert caught.value.field == "currency"
