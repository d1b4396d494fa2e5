"""Connector credentials encrypted at rest (Fernet).

The key is `OMNICART_CONNECTOR_KEY`, or, when that is unset, a random key made once and
kept in `connector_keys`. Credentials are opened only to talk to the vendor or to check a
delivery's signature; no answer of the API and no line of the CLI ever shows them.
"""

from __future__ import annotations

from collections.abc import Mapping
from weakref import WeakKeyDictionary

import orjson
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from omnicart.connectors.base import Connection
from omnicart.connectors.tables import Connector, ConnectorKey
from omnicart.kernel.clock import utcnow
from omnicart.settings import get_settings

_KEY_ID = 1
# The stored key never changes once made, so each process reads it once per database.
_stored: WeakKeyDictionary[Engine, Fernet] = WeakKeyDictionary()


class CredentialsUnreadable(RuntimeError):
    """The stored credentials do not open with the key in use."""


def _fernet(session: Session) -> Fernet:
    configured = get_settings().connector_key
    if configured:
        return Fernet(configured.encode())
    engine = session.get_bind().engine
    cached = _stored.get(engine)
    if cached is not None:
        return cached
    secret = session.scalar(select(ConnectorKey.secret).where(ConnectorKey.id == _KEY_ID))
    if secret is None:
        try:
            with session.begin_nested():
                session.add(
                    ConnectorKey(
                        id=_KEY_ID, secret=Fernet.generate_key().decode(), created_at=utcnow()
                    )
                )
        except IntegrityError:
            pass  # another connector was added at the same moment and made it first
        secret = session.scalar(select(ConnectorKey.secret).where(ConnectorKey.id == _KEY_ID))
    assert secret is not None
    fernet = Fernet(secret.encode())
    _stored[engine] = fernet
    return fernet


def seal(session: Session, credentials: Mapping[str, str]) -> str:
    """The credentials as stored: one Fernet token."""
    return _fernet(session).encrypt(orjson.dumps(dict(credentials))).decode()


def unseal(session: Session, token: str) -> dict[str, str]:
    """The credentials a connector holds."""
    try:
        opened: dict[str, str] = orjson.loads(_fernet(session).decrypt(token.encode()))
    except InvalidToken:
        raise CredentialsUnreadable(
            "the connector's credentials do not open with the connector key: was "
            "OMNICART_CONNECTOR_KEY changed? Put the old key back, or enter the "
            "credentials again (omnicart connectors update)"
        ) from None
    return opened


def connection_of(session: Session, connector: Connector) -> Connection:
    """What an adapter needs of a connector, its credentials opened."""
    return Connection(
        connector_id=connector.id,
        channel_id=connector.channel_id,
        vendor=connector.vendor,
        base_url=connector.base_url,
        credentials=unseal(session, connector.credentials),
        options={str(k): str(v) for k, v in (connector.options or {}).items()},
    )
