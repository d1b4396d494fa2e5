"""The authorization table's world works: every operation of the OpenAPI document has a
request, each request succeeds for the admin on a fresh copy of the world (changing the
database exactly when it is a write), and the callers' keys are who they say."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from omnicart.auth.service import DEFAULT_SCOPES
from tests.api.authz_world import REQUESTS, TARGETS, Harness, Target, harness, snapshot

CASES = [(method, path, target) for (method, path) in REQUESTS for target in TARGETS]


@pytest.fixture(scope="module")
def authz(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    with harness(tmp_path_factory.mktemp("authz")) as served:
        yield served


def test_every_operation_of_the_openapi_document_has_a_request(authz: Harness) -> None:
    operations = {
        (method.upper(), path)
        for path, item in authz.app.openapi()["paths"].items()
        for method in item
    }
    assert sorted(operations - set(REQUESTS)) == []
    assert sorted(set(REQUESTS) - operations) == []


@pytest.mark.parametrize(("method", "path", "target"), CASES)
def test_the_admin_request_succeeds_on_a_fresh_copy(
    method: str, path: str, target: Target, authz: Harness, tmp_path: Path
) -> None:
    spec = REQUESTS[method, path](authz.world, target)
    with authz.fresh(tmp_path) as db:
        before = snapshot(db)
        answer = authz.send(method, spec, "admin")
        assert answer.status_code == spec.success, answer.text
        if spec.changes is not None:
            assert (snapshot(db) != before) is spec.changes


def test_the_callers_keys_are_who_they_say(authz: Harness, tmp_path: Path) -> None:
    world = authz.world
    with authz.fresh(tmp_path):
        listed = authz.send("GET", REQUESTS["GET", "/v1/api-keys"](world, "own"), "admin")
        assert authz.send("GET", REQUESTS["GET", "/healthz"](world, "own"), "wrong").is_success
    keys = {key["name"]: key for key in listed.json()["items"]}
    reads = sorted(s for s in DEFAULT_SCOPES["channel"] if s.endswith(":read"))
    assert {
        name: (key["role"], key["channel_id"], key["location_id"], sorted(key["scopes"]))
        for name, key in keys.items()
        if name != "authz-admin"
    } == {
        "spare-own": ("channel", world.own.channel_id, None, sorted(DEFAULT_SCOPES["channel"])),
        "spare-other": (
            "channel",
            world.other.channel_id,
            None,
            sorted(DEFAULT_SCOPES["channel"]),
        ),
        "own-channel": ("channel", world.own.channel_id, None, sorted(DEFAULT_SCOPES["channel"])),
        "other-channel": (
            "channel",
            world.other.channel_id,
            None,
            sorted(DEFAULT_SCOPES["channel"]),
        ),
        "own-staff": ("staff", None, world.own.store_id, sorted(DEFAULT_SCOPES["staff"])),
        "other-staff": ("staff", None, world.other.store_id, sorted(DEFAULT_SCOPES["staff"])),
        "read-only": ("channel", world.own.channel_id, None, reads),
        "analyst": ("analyst", None, None, sorted(DEFAULT_SCOPES["analyst"])),
    }
    assert keys["authz-admin"]["role"] == "admin"
    with authz.fresh(tmp_path):
        refused = authz.send("GET", REQUESTS["GET", "/v1/channels"](world, "own"), "wrong")
    assert refused.status_code == 401
