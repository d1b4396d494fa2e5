"""Who may call a route: one declaration per route, checked by one mechanism.

Every route declares an `Access`: the scope it needs, which roles besides admin may call
it, and which channel or store its target must belong to. `check_caller` answers "may this
key call this route at all?" (before the request is parsed); `check_target` answers "is
what the request names this key's?" (once the request is parsed and typed).

How a refusal reads:
- a role that may not call the route, or a key without the scope: 403;
- a channel or store the caller names itself (a path id, a body or query field) that is
  not the caller's: 403 naming the field;
- an object named by its id (an order, a cart, a return…) that is not the caller's: 404,
  exactly as if it did not exist, so a key cannot probe another channel's ids.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy.orm import Session

from omnicart.auth.service import ADMIN_ONLY_SCOPES, Principal
from omnicart.kernel.errors import Forbidden, NotFound

Role = Literal["channel", "staff", "analyst"]


@dataclass(frozen=True, slots=True)
class Owners:
    """The channels and stores an object belongs to."""

    channels: frozenset[int] = frozenset()
    stores: frozenset[int] = frozenset()


# Looks an object up by id: its owners, or None when it does not exist.
Resolver = Callable[[Session, int], Owners | None]


@dataclass(frozen=True, slots=True)
class Named:
    """A channel or store the caller names itself: a path id, a body field or a query field.

    `source` is "path", "body" or "query"; `attr` the parameter (or body field) name. A query
    field left out is filled with the caller's own channel or store (`fill_own`), so a list
    reads only the caller's rows; left out with `fill_own=False`, nothing is checked.
    """

    source: Literal["path", "body", "query"]
    attr: str
    fill_own: bool = False


@dataclass(frozen=True, slots=True)
class Owned:
    """An object named by its id, looked up by `resolve`.

    The id is the path parameter `param` (refused as 404: to another key the object does
    not exist), or with `source="body"` the body field `param` (refused as 403 naming it).
    """

    kind: str
    param: str
    resolve: Resolver
    source: Literal["path", "body"] = "path"


Target = Named | Owned


@dataclass(frozen=True, slots=True)
class Access:
    """Who may call a route.

    `scope` is the scope a key needs ("public" routes take none; "write_key" routes
    authenticate a tracking source's write key instead of an API key). `roles` are the
    roles besides admin that may call it. `channel` is what a channel key's channel must
    own; `store` what a staff key's store must own. Admin keys may call every route.
    """

    scope: str
    roles: frozenset[str] = field(default_factory=frozenset)
    channel: Target | None = None
    store: Target | None = None
    note: str = ""

    @property
    def uses_api_key(self) -> bool:
        return self.scope not in {"public", "write_key"}

    def describe(self) -> str:
        """One line for the route's documentation."""
        if self.scope == "public":
            return "Anyone may call this route; it needs no key."
        if self.scope == "write_key":
            return (
                "Called with a tracking source's write key (HTTP Basic, as Segment's clients do)."
            )
        who = ["admin keys"]
        if "analyst" in self.roles:
            who.append("an analyst's key")
        for role in ("channel", "staff"):
            if role not in self.roles:
                continue
            target = self.channel if role == "channel" else self.store
            noun = "a channel's key" if role == "channel" else "a store's staff key"
            where = "its own channel" if role == "channel" else "its own store"
            who.append(f"{noun} (for {where}'s {_what(target)})" if target else noun)
        text = f"Needs the scope `{self.scope}`. May call: {', '.join(who)}."
        return f"{text} {self.note}".strip()


def _what(target: Target) -> str:
    if isinstance(target, Owned):
        return f"{target.kind}s"
    return f"`{target.attr}`"


def access(
    scope: str,
    *roles: Role,
    channel: Target | None = None,
    store: Target | None = None,
    note: str = "",
) -> Access:
    """Declare who may call a route: `access("orders:write", "channel", channel=...)`."""
    return Access(scope=scope, roles=frozenset(roles), channel=channel, store=store, note=note)


def _only_own(principal: Principal) -> str:
    if principal.role == "channel":
        return f"{principal.ITSELF} may only act for {principal.WHOSE} own channel"
    return f"{principal.ITSELF} may only act at {principal.WHOSE} own location"


PUBLIC = Access(scope="public")
WRITE_KEY = Access(scope="write_key")


def check_caller(rule: Access, principal: Principal) -> None:
    """May this key call the route at all? Forbidden unless its role and scope allow."""
    if principal.role == "admin":
        return
    if not rule.roles:
        raise Forbidden(f"only an admin {principal.KIND} may call this route")
    if principal.role not in rule.roles:
        raise Forbidden(f"a {principal.role} {principal.KIND} may not call this route")
    if rule.scope in ADMIN_ONLY_SCOPES:
        raise Forbidden(f"only an admin {principal.KIND} may use the scope {rule.scope!r}")
    if rule.scope not in principal.scopes:
        raise Forbidden(f"{principal.ITSELF} lacks the scope {rule.scope!r}")


def check_target(
    rule: Access,
    principal: Principal,
    arguments: dict[str, Any],
    session_factory: Callable[[], Any],
) -> None:
    """Is what the request names the caller's? Fills a left-out own channel or store.

    `arguments` are the route's parsed arguments (path and query parameters by name, the
    body as "body"); they are changed in place when a query field is filled with the
    caller's own channel or store. `session_factory` opens a read-only session for looking
    objects up (only called when an object must be looked up).
    """
    if principal.role == "channel":
        target, own = rule.channel, principal.channel_id
    elif principal.role == "staff":
        target, own = rule.store, principal.location_id
    else:
        return
    if target is None:
        return
    if isinstance(target, Named):
        _check_named(target, own, arguments, principal=principal)
        return
    if target.source == "body":
        object_id = getattr(arguments.get("body"), target.param, None)
    else:
        object_id = arguments.get(target.param)
    if not isinstance(object_id, int):
        return
    with session_factory() as session:
        owners = target.resolve(session, object_id)
    mine = owners is not None and own in (
        owners.channels if principal.role == "channel" else owners.stores
    )
    if mine:
        return
    if target.source == "body":
        raise Forbidden(_only_own(principal), field=target.param)
    raise NotFound(f"{target.kind} {object_id} does not exist", field=target.param)


def _check_named(
    target: Named, own: int | None, arguments: dict[str, Any], *, principal: Principal
) -> None:
    value = _read(target, arguments)
    if value is None:
        if target.fill_own and target.source == "query":
            arguments[target.attr] = own
        return
    if value != own:
        raise Forbidden(_only_own(principal), field=target.attr)


def _read(target: Named, arguments: Mapping[str, Any]) -> Any:
    if target.source == "body":
        body = arguments.get("body")
        return getattr(body, target.attr, None) if body is not None else None
    return arguments.get(target.attr)
