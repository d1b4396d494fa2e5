"""A bounded schemathesis run over the whole OpenAPI document, as admin.

Every operation gets a few generated requests, then the stateful phase chains them along
the links schemathesis infers (create, then read, change or delete what was created).
A 5xx, or a response that breaks the documented status codes, media types or schemas,
fails the test. Derandomized, so a failure reproduces on the next run.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from omnicart.app import create_app
from omnicart.auth.service import create_api_key
from omnicart.db.engine import Database
from omnicart.db.registry import metadata
from tests.conftest import ADMIN_SECRET
from tests.orders_support import seed_shop

AUTH = {"Authorization": f"Bearer {ADMIN_SECRET}"}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Bounded for `make test` on two cores: about a minute for all three tests together.
FUZZ = settings(
    max_examples=5,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
STATEFUL = settings(
    max_examples=40,
    stateful_step_count=6,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.generate],
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def fuzz_db(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[Database]:
    """One migrated SQLite database for the whole run, with a small shop in it (ids 1 to 3
    exist, so generated ids reach real rows), and where later requests find earlier data."""
    path = tmp_path_factory.mktemp("fuzz") / "omnicart.db"
    shutil.copy(sqlite_template, path)
    db = Database.from_url(f"sqlite:///{path}")
    _seed(db)
    yield db
    db.dispose()


def _seed(db: Database) -> None:
    with db.transaction() as session:
        create_api_key(session, name="fuzz-admin", role="admin", secret=ADMIN_SECRET)
    seed_shop(db)


def _start_again(db: Database) -> None:
    """Every row gone and the shop seeded again: the state a chain of calls starts from."""
    with db.transaction() as session:
        for table in reversed(metadata.sorted_tables):
            session.execute(table.delete())
    _seed(db)


@pytest.fixture(scope="module")
def api_schema(fuzz_db: Database) -> Iterator[Any]:
    """The app's own OpenAPI document, served by the app under test."""
    app = create_app(db=fuzz_db, sweep=False)
    yield schemathesis.openapi.from_asgi("/openapi.json", app, headers=AUTH)
    asgi.shutdown_lifespans()  # the tracking ingestor's threads end with the run


def _failure(case: schemathesis.Case, exc: BaseException) -> str:
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"{case.operation.label}: {first_line}\n    {case.as_curl_command(headers=AUTH)}"


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_operation(api_schema: Any, mode: GenerationMode) -> None:
    failures: list[str] = []
    answered: list[int] = []
    for result in api_schema.get_all_operations():
        operation = result.ok()

        @FUZZ
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case: schemathesis.Case) -> None:
            try:
                answered.append(case.call_and_validate(headers=AUTH, checks=CHECKS).status_code)
            except Exception as exc:  # every failure is listed, not only the first
                failures.append(_failure(case, exc))

        try:
            run()
        except Unsatisfiable:  # nothing to make invalid (no parameters, no body)
            assert mode is GenerationMode.NEGATIVE, operation.label
    assert not failures, "\n".join(dict.fromkeys(failures))
    # The run reached the API's logic, not only its doors (auth, validation).
    succeeded = sum(200 <= status < 300 for status in answered)
    assert succeeded > (30 if mode is GenerationMode.POSITIVE else 0), answered


def test_stateful(api_schema: Any, fuzz_db: Database) -> None:
    machine = api_schema.as_state_machine()

    class Chained(machine):  # type: ignore[misc,valid-type]
        def setup(self) -> None:
            # Each chain starts from the same rows: what earlier chains created (a code
            # now taken, a SKU sold out) would make the same choices take another path,
            # which Hypothesis refuses as inconsistent data generation.
            _start_again(fuzz_db)

        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"headers": AUTH}

        def validate_response(self, response: Any, case: schemathesis.Case, **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS)

    Chained.run(settings=STATEFUL)
