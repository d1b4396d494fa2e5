"""Console cookies: the signed session cookie, the sign-in form's pre-session cookie, and
CSRF tokens bound to either.

The session cookie holds a random token (its hash is the `console_sessions` row), signed
with the console key so that a tampered or made-up cookie is refused before any lookup.
Cookies are HttpOnly, SameSite=Strict, limited to /console, and Secure over HTTPS. A
form's CSRF token is an HMAC of the browser's session (or pre-session) token: a page on
another site can neither read it nor compute it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from omnicart.db.engine import Database
from omnicart.users.model import SESSION_LIFETIME
from omnicart.users.service import console_key

SESSION_COOKIE = "omnicart_session"
PRESESSION_COOKIE = "omnicart_presession"
COOKIE_PATH = "/console"
CSRF_FIELD = "csrf_token"
# A sign-in form stays valid for this long after it was shown.
_PRESESSION_SECONDS = 3600


def _serializer(db: Database, purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(console_key(db), salt=f"omnicart.console.{purpose}")


def _read(request: Request, db: Database, name: str, purpose: str, max_age: int) -> str | None:
    raw = request.cookies.get(name)
    if not raw:
        return None
    try:
        value = _serializer(db, purpose).loads(raw, max_age=max_age)
    except BadSignature:  # tampered, signed with another key, or too old
        return None
    return value if isinstance(value, str) else None


def session_token(request: Request, db: Database) -> str | None:
    """The session token the browser holds, if its cookie is intact."""
    return _read(request, db, SESSION_COOKIE, "session", int(SESSION_LIFETIME.total_seconds()))


def presession_token(request: Request, db: Database) -> str | None:
    """The sign-in form's token the browser holds, if its cookie is intact."""
    return _read(request, db, PRESESSION_COOKIE, "presession", _PRESESSION_SECONDS)


def _set(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def set_session(request: Request, response: Response, db: Database, token: str) -> None:
    """Hand the browser its new session; the sign-in form's cookie is no longer needed."""
    signed = _serializer(db, "session").dumps(token)
    _set(request, response, SESSION_COOKIE, signed, int(SESSION_LIFETIME.total_seconds()))
    response.delete_cookie(PRESESSION_COOKIE, path=COOKIE_PATH)


def clear_session(response: Response) -> None:
    """The browser forgets its session."""
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")


def new_presession() -> str:
    """A fresh pre-session token for a sign-in form (see `set_presession`)."""
    return secrets.token_urlsafe(32)


def set_presession(request: Request, response: Response, db: Database, token: str) -> None:
    """Hand the browser the sign-in form's pre-session, as a signed cookie."""
    signed = _serializer(db, "presession").dumps(token)
    _set(request, response, PRESESSION_COOKIE, signed, _PRESESSION_SECONDS)


def csrf_token(db: Database, bound_to: str) -> str:
    """The CSRF token of forms shown to the browser holding `bound_to`."""
    key = console_key(db).encode()
    return hmac.new(key, f"csrf|{bound_to}".encode(), hashlib.sha256).hexdigest()


def csrf_matches(db: Database, bound_to: str | None, sent: object) -> bool:
    """Whether a form's token is the one made for this browser."""
    if bound_to is None or not isinstance(sent, str) or not sent:
        return False
    return hmac.compare_digest(csrf_token(db, bound_to), sent)
