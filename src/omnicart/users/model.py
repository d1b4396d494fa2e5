"""The rules of staff users: roles, passwords, lock-out. No framework, no database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from omnicart.kernel.errors import ValidationFailed

# The same roles as API keys (auth.access), less `channel`: a channel is a system, not a
# person. `admin` is the owner: everything. `analyst` reads figures and customers and
# changes nothing. `staff` works at one store and sees and acts only there.
ROLES: Final = ("admin", "analyst", "staff")
MIN_PASSWORD: Final = 10
# Argon2 hashes whatever it is given; a megabyte "password" would only cost us time.
MAX_PASSWORD: Final = 200
MAX_EMAIL: Final = 254
# After this many failed sign-ins within the window, the account is locked until the
# window that began with the first of them has passed.
MAX_FAILURES: Final = 5
FAILURE_WINDOW: Final = timedelta(minutes=15)
SESSION_LIFETIME: Final = timedelta(hours=12)
# The console's languages: English (its texts as written) and Polish (console.i18n's
# catalog). A user's own setting is one of them; none ("auto") follows the browser.
LOCALES: Final = ("en", "pl")
AUTO: Final = "auto"


def check_email(email: str) -> str:
    """The e-mail as stored (trimmed, lower case), or ValidationFailed naming `email`."""
    cleaned = email.strip().lower()
    local, _, domain = cleaned.partition("@")
    if (
        not local
        or "." not in domain
        or len(cleaned) > MAX_EMAIL
        or any(c.isspace() for c in cleaned)
    ):
        raise ValidationFailed(
            "email must be an e-mail address such as ann@example.com", field="email"
        )
    return cleaned


def check_password(password: str) -> str:
    """The password, if long enough and not too long, else ValidationFailed."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise ValidationFailed(
            f"password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters", field="password"
        )
    return password


def check_role(role: str, *, location_id: int | None) -> str:
    """A known role; store staff need a store, the others name none."""
    if role not in ROLES:
        raise ValidationFailed(f"role must be one of {', '.join(ROLES)}", field="role")
    if role == "staff" and location_id is None:
        raise ValidationFailed("store staff need a store (--store CODE)", field="store")
    if role != "staff" and location_id is not None:
        raise ValidationFailed(f"an {role} works at no single store", field="store")
    return role


def check_locale(locale: str | None) -> str | None:
    """A user's language as stored: one of LOCALES, or None for "auto" (the browser's)."""
    if locale is None:
        return None
    cleaned = locale.strip().lower()
    if cleaned == AUTO:
        return None
    if cleaned not in LOCALES:
        raise ValidationFailed(
            f"locale must be one of {', '.join(LOCALES)} or {AUTO} (the browser's language)",
            field="locale",
        )
    return cleaned


@dataclass(frozen=True, slots=True)
class Failures:
    """Failed sign-ins counted in the current window."""

    count: int
    window_start: datetime | None

    def locked_until(self) -> datetime | None:
        """When the lock-out ends, or None when the account is not locked."""
        if self.window_start is None or self.count < MAX_FAILURES:
            return None
        return self.window_start + FAILURE_WINDOW

    def is_locked(self, now: datetime) -> bool:
        """Whether sign-ins are refused at `now`, whatever the password."""
        until = self.locked_until()
        return until is not None and now < until
