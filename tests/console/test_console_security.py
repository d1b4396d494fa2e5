"""Sessions and forms: signed HttpOnly SameSite=Strict cookies, CSRF, lock-out, sign-out,
and passwords that never appear in an answer or a log line."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from omnicart.console import sessions
from omnicart.db.engine import Database
from omnicart.inventory.tables import Movement
from omnicart.kernel.clock import set_clock, utcnow
from omnicart.users.model import FAILURE_WINDOW, MAX_FAILURES
from omnicart.users.service import create_user, disable_user
from tests.console.support import EMAILS, PASSWORD, World, csrf_of, sign_in


def _movements(db: Database) -> int:
    with db.reading() as session:
        return session.scalar(select(func.count()).select_from(Movement)) or 0


def _attempt(client: TestClient, email: str, password: str) -> tuple[int, str]:
    form = client.get("/console/sign-in")
    done = client.post(
        "/console/sign-in",
        data={"email": email, "password": password, "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )
    return done.status_code, done.text


def test_the_session_cookie_is_signed_httponly_strict_and_for_the_console(
    console_app: FastAPI,
) -> None:
    with TestClient(console_app) as client:
        form = client.get("/console/sign-in")
        done = client.post(
            "/console/sign-in",
            data={"email": EMAILS["admin"], "password": PASSWORD, "csrf_token": csrf_of(form.text)},
            follow_redirects=False,
        )
    cookie = next(
        c for c in done.headers.get_list("set-cookie") if c.startswith(sessions.SESSION_COOKIE)
    )
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "path", "samesite", "max-age"} <= attributes
    assert "samesite=strict" in cookie.lower()
    assert "path=/console" in cookie.lower()
    assert "secure" not in attributes  # plain HTTP in tests; set over HTTPS


def test_a_tampered_or_made_up_cookie_is_nobody(console_app: FastAPI) -> None:
    with TestClient(console_app) as client:
        sign_in(client, EMAILS["admin"])
        good = client.cookies[sessions.SESSION_COOKIE]
        assert client.get("/console", follow_redirects=False).status_code == 200
        # A changed signature: its first character (the last one's low bits are base64
        # padding, which a decoder may ignore, so changing it may change nothing).
        head, signature = good.rsplit(".", 1)
        flipped = f"{head}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
        for forged in (flipped, "x" + good, "made-up", good.split(".")[0]):
            client.cookies.set(sessions.SESSION_COOKIE, forged, path="/console")
            answer = client.get("/console/stock", follow_redirects=False)
            assert answer.status_code == 303
            assert answer.headers["location"].startswith("/console/sign-in")


@pytest.mark.parametrize("token", ["missing", "forged", "another session's"])
def test_a_form_without_this_sessions_token_is_refused_and_changes_nothing(
    token: str, console_app: FastAPI, world_db: tuple[Database, World]
) -> None:
    db, world = world_db
    with TestClient(console_app) as client, TestClient(console_app) as other:
        sign_in(client, EMAILS["admin"])
        sign_in(other, EMAILS["admin"])
        data = {"location_id": str(world.shop.krakow), "sku": "A", "quantity": "3"}
        if token == "forged":
            data["csrf_token"] = "0" * 64
        elif token == "another session's":
            data["csrf_token"] = csrf_of(other.get("/console").text)
        before = _movements(db)
        answer = client.post("/console/stock/receipts", data=data, follow_redirects=False)
        assert answer.status_code == 403
        assert "not sent from your console session" in answer.text
        assert _movements(db) == before
        # The same form with its own token goes through.
        data["csrf_token"] = csrf_of(client.get("/console").text)
        assert (
            client.post("/console/stock/receipts", data=data, follow_redirects=False).status_code
            == 303
        )
        assert _movements(db) == before + 1


def test_repeated_failures_lock_the_account_for_the_window(
    console_app: FastAPI, world_db: tuple[Database, World]
) -> None:
    db, _ = world_db
    with db.transaction() as session:
        create_user(session, email="locked@shop.example", password=PASSWORD, role="analyst")
    start = utcnow()
    set_clock(lambda: start)
    try:
        with TestClient(console_app) as client:
            for _ in range(MAX_FAILURES):
                status, page = _attempt(client, "locked@shop.example", "not the password")
                assert (status, "Wrong e-mail or password." in page) == (401, True)
            status, page = _attempt(client, "locked@shop.example", PASSWORD)
            assert status == 401
            assert "locked" in page
            assert client.get("/console", follow_redirects=False).status_code == 303
            set_clock(lambda: start + FAILURE_WINDOW + timedelta(seconds=1))
            assert _attempt(client, "locked@shop.example", PASSWORD)[0] == 303
            assert client.get("/console", follow_redirects=False).status_code == 200
    finally:
        set_clock(None)


def test_an_unknown_address_reads_as_a_wrong_password(console_app: FastAPI) -> None:
    with TestClient(console_app) as client:
        assert _attempt(client, "nobody@shop.example", PASSWORD)[0] == 401
        assert "Wrong e-mail or password." in _attempt(client, "nobody@shop.example", "x")[1]


def test_disabling_a_user_ends_their_session_at_once(
    console_app: FastAPI, world_db: tuple[Database, World]
) -> None:
    db, _ = world_db
    with db.transaction() as session:
        create_user(session, email="leaver@shop.example", password=PASSWORD, role="analyst")
    with TestClient(console_app) as client:
        sign_in(client, "leaver@shop.example")
        assert client.get("/console", follow_redirects=False).status_code == 200
        with db.transaction() as session:
            disable_user(session, email="leaver@shop.example")
        assert client.get("/console", follow_redirects=False).status_code == 303
        assert _attempt(client, "leaver@shop.example", PASSWORD)[0] == 401


def test_a_signed_out_cookie_does_not_come_back(console_app: FastAPI) -> None:
    with TestClient(console_app) as client:
        sign_in(client, EMAILS["admin"])
        kept = client.cookies[sessions.SESSION_COOKIE]
        csrf = csrf_of(client.get("/console").text)
        client.post("/console/sign-out", data={"csrf_token": csrf}, follow_redirects=False)
        client.cookies.set(sessions.SESSION_COOKIE, kept, path="/console")
        assert client.get("/console", follow_redirects=False).status_code == 303


def test_sign_in_goes_back_only_into_the_console(console_app: FastAPI) -> None:
    with TestClient(console_app) as client:
        for asked, landed in (
            ("/console/orders?status=completed", "/console/orders?status=completed"),
            ("https://elsewhere.example/", "/console"),
            ("//elsewhere.example/console", "/console"),
        ):
            client.cookies.clear()
            form = client.get("/console/sign-in", params={"next": asked})
            done = client.post(
                "/console/sign-in",
                data={
                    "email": EMAILS["admin"],
                    "password": PASSWORD,
                    "csrf_token": csrf_of(form.text),
                    "next": asked,
                },
                follow_redirects=False,
            )
            assert done.headers["location"] == landed


def test_passwords_are_never_logged_or_echoed(
    console_app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "my-secret-guess-123"
    with caplog.at_level(logging.DEBUG), TestClient(console_app) as client:
        _, page = _attempt(client, EMAILS["analyst"], wrong)
        status, _ = _attempt(client, EMAILS["analyst"], PASSWORD)
    assert status == 303
    assert wrong not in page
    assert PASSWORD not in page
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert wrong not in logged
    assert PASSWORD not in logged
