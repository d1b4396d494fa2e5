"""Console users: the rules for creating them, Argon2 hashes, lock-out counted in the
database (also under concurrent guesses), disabling, and `omnicart users`."""

from __future__ import annotations

import io
import re
import sys
import threading

import pytest
from sqlalchemy import select

from omnicart.db.engine import Database
from omnicart.kernel.clock import set_clock, utcnow
from omnicart.kernel.errors import Conflict, NotFound, ValidationFailed
from omnicart.users.model import FAILURE_WINDOW, MAX_FAILURES
from omnicart.users.service import (
    SignInRefused,
    create_user,
    disable_user,
    list_users,
    session_principal,
    set_locale,
    sign_in,
)
from omnicart.users.tables import StaffUser
from tests.cli_run import omnicart
from tests.support import add_location

PASSWORD = "correct horse battery"


@pytest.mark.parametrize(
    ("email", "password", "role", "store", "field"),
    [
        ("not-an-address", PASSWORD, "admin", False, "email"),
        ("ann@shop.example", "short", "admin", False, "password"),
        ("ann@shop.example", "x" * 201, "admin", False, "password"),
        ("ann@shop.example", PASSWORD, "channel", False, "role"),
        ("ann@shop.example", PASSWORD, "staff", False, "store"),
        ("ann@shop.example", PASSWORD, "analyst", True, "store"),
    ],
)
def test_bad_users_are_refused_naming_the_field(
    db: Database, email: str, password: str, role: str, store: bool, field: str
) -> None:
    with db.transaction() as session:
        location = add_location(session, "krk", kind="store") if store else None
    with pytest.raises(ValidationFailed) as refused, db.transaction() as session:
        create_user(session, email=email, password=password, role=role, location_id=location)
    assert refused.value.field == field
    with db.reading() as session:
        assert list_users(session) == []


def test_a_user_is_stored_with_an_argon2id_hash_only(db: Database) -> None:
    with db.transaction() as session:
        made = create_user(session, email=" Ann@Shop.Example ", password=PASSWORD, role="admin")
    with pytest.raises(Conflict), db.transaction() as session:
        create_user(session, email="ann@shop.example", password=PASSWORD, role="analyst")
    with db.reading() as session:
        row = session.scalars(select(StaffUser)).one()
    assert (made.email, row.email, row.role) == ("ann@shop.example",) * 2 + ("admin",)
    assert row.password_hash.startswith("$argon2id$")
    assert PASSWORD not in row.password_hash
    signed_in = sign_in(db, email="ANN@shop.example", password=PASSWORD)
    assert session_principal(db, token=signed_in.token) == signed_in.principal
    assert signed_in.principal.role == "admin"
    assert signed_in.principal.actor == f"user:{made.id}:ann@shop.example"


def test_lock_out_after_failures_within_the_window(db: Database) -> None:
    with db.transaction() as session:
        create_user(session, email="ann@shop.example", password=PASSWORD, role="analyst")
    start = utcnow()
    set_clock(lambda: start)
    try:
        for _ in range(MAX_FAILURES - 1):
            with pytest.raises(SignInRefused, match="wrong e-mail or password"):
                sign_in(db, email="ann@shop.example", password="wrong password")
        # Failures older than the window start a new count.
        set_clock(lambda: start + FAILURE_WINDOW)
        for _ in range(MAX_FAILURES - 1):
            with pytest.raises(SignInRefused, match="wrong e-mail or password"):
                sign_in(db, email="ann@shop.example", password="wrong password")
        assert sign_in(db, email="ann@shop.example", password=PASSWORD).token
        for _ in range(MAX_FAILURES):
            with pytest.raises(SignInRefused, match="wrong e-mail or password"):
                sign_in(db, email="ann@shop.example", password="wrong password")
        with pytest.raises(SignInRefused, match="locked"):
            sign_in(db, email="ann@shop.example", password=PASSWORD)
        with db.reading() as session:
            assert list_users(session)[0].locked_until == start + FAILURE_WINDOW * 2
        set_clock(lambda: start + FAILURE_WINDOW * 2)
        assert sign_in(db, email="ann@shop.example", password=PASSWORD).token
    finally:
        set_clock(None)


@pytest.mark.postgres
def test_concurrent_wrong_guesses_are_all_counted(pg_db: Database) -> None:
    with pg_db.transaction() as session:
        create_user(session, email="ann@shop.example", password=PASSWORD, role="analyst")
    guesses = MAX_FAILURES - 1
    barrier = threading.Barrier(guesses)
    refused: list[str] = []

    def guess() -> None:
        barrier.wait()
        try:
            sign_in(pg_db, email="ann@shop.example", password="wrong password")
        except SignInRefused as exc:
            refused.append(exc.detail)

    threads = [threading.Thread(target=guess) for _ in range(guesses)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(refused) == guesses
    with pg_db.reading() as session:
        assert session.scalars(select(StaffUser.failed_sign_ins)).one() == guesses


def test_a_disabled_user_cannot_sign_in_and_loses_sessions(db: Database) -> None:
    with db.transaction() as session:
        create_user(session, email="ann@shop.example", password=PASSWORD, role="admin")
    token = sign_in(db, email="ann@shop.example", password=PASSWORD).token
    with db.transaction() as session:
        assert disable_user(session, email="ann@shop.example").disabled
    assert session_principal(db, token=token) is None
    with pytest.raises(SignInRefused):
        sign_in(db, email="ann@shop.example", password=PASSWORD)


def test_the_users_commands(
    sqlite_db: Database, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = str(sqlite_db.engine.url)
    with sqlite_db.transaction() as session:
        add_location(session, "krk", kind="store")
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{PASSWORD}\n"))
    made = omnicart(
        capsys,
        "users",
        "create",
        "kasia@shop.example",
        "--role",
        "staff",
        "--store",
        "krk",
        "--password-stdin",
        "--database-url",
        url,
    )
    assert made.code == 0, made.err
    assert "created staff user 1 kasia@shop.example at krk" in made.out
    assert PASSWORD not in made.out + made.err
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    refused = omnicart(
        capsys,
        "users",
        "create",
        "ola@shop.example",
        "--role",
        "admin",
        "--password-stdin",
        "--database-url",
        url,
    )
    assert refused.code == 2
    assert refused.err.count("\n") == 1
    assert "password must be 10 to 200 characters" in refused.err
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    no_terminal = omnicart(capsys, "users", "create", "ola@shop.example", "--database-url", url)
    assert no_terminal.code == 2
    assert "--password-stdin" in no_terminal.err
    listed = omnicart(capsys, "users", "list", "--database-url", url)
    assert "kasia@shop.example" in listed.out
    assert "krk" in listed.out
    assert "active" in listed.out
    assert "$argon2" not in listed.out
    assert (
        omnicart(capsys, "users", "disable", "kasia@shop.example", "--database-url", url).code == 0
    )
    assert "disabled" in omnicart(capsys, "users", "list", "--database-url", url).out
    unknown = omnicart(capsys, "users", "disable", "nobody@shop.example", "--database-url", url)
    assert unknown.code == 2


def test_a_users_console_language(
    sqlite_db: Database, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = str(sqlite_db.engine.url)

    def language() -> str | None:
        with sqlite_db.reading() as session:
            return session.scalars(select(StaffUser.locale)).one()

    # A language that is not the console's is refused before the password is asked for.
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{PASSWORD}\n"))
    refused = omnicart(
        capsys, "users", "create", "ola@shop.example", "--role", "admin", "--locale", "de",
        "--password-stdin", "--database-url", url,
    )  # fmt: skip
    assert (refused.code, refused.err.count("\n")) == (2, 1)
    assert "locale must be one of en, pl or auto" in refused.err
    assert sys.stdin.read() == f"{PASSWORD}\n"  # never read
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{PASSWORD}\n"))
    made = omnicart(
        capsys, "users", "create", "ola@shop.example", "--role", "admin", "--locale", "PL",
        "--password-stdin", "--database-url", url,
    )  # fmt: skip
    assert made.code == 0, made.err
    assert language() == "pl"
    token = sign_in(sqlite_db, email="ola@shop.example", password=PASSWORD).token
    principal = session_principal(sqlite_db, token=token)
    assert principal is not None
    assert principal.locale == "pl"
    listed = omnicart(capsys, "users", "list", "--database-url", url)
    assert re.search(r"ola@shop\.example\s+│\s+admin\s+│\s+-\s+│\s+pl\s+│", listed.out)

    for given, stored, said in (
        ("en", "en", "the console speaks en"),
        ("auto", None, "the console speaks the browser's language"),
        (" Pl ", "pl", "the console speaks pl"),
    ):
        done = omnicart(
            capsys, "users", "set-locale", "OLA@shop.example", given, "--database-url", url
        )
        assert done.code == 0, done.err
        assert f"ola@shop.example: {said}" in done.out
        assert language() == stored
    # Sessions see the change at once.
    after = session_principal(sqlite_db, token=token)
    assert after is not None
    assert after.locale == "pl"

    for args, message in (
        (("ola@shop.example", "de"), "locale must be one of en, pl or auto"),
        (("ola@shop.example", ""), "locale must be one of en, pl or auto"),
        (("nobody@shop.example", "en"), "no user has the e-mail nobody@shop.example"),
    ):
        bad = omnicart(capsys, "users", "set-locale", *args, "--database-url", url)
        assert (bad.code, bad.out, bad.err.count("\n")) == (2, "", 1)
        assert message in bad.err
        assert language() == "pl"


def test_set_locale_refuses_what_the_console_does_not_speak(db: Database) -> None:
    with db.transaction() as session:
        create_user(session, email="ann@shop.example", password=PASSWORD, role="analyst")
    with pytest.raises(ValidationFailed) as refused, db.transaction() as session:
        set_locale(session, email="ann@shop.example", locale="fr")
    assert refused.value.field == "locale"
    with pytest.raises(NotFound), db.transaction() as session:
        set_locale(session, email="bob@shop.example", locale="pl")
    with db.transaction() as session:
        assert set_locale(session, email="ann@shop.example", locale="pl").locale == "pl"
    with db.reading() as session:
        assert [u.locale for u in list_users(session)] == ["pl"]
