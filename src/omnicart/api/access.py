"""The one place routes' access declarations are enforced.

A route is declared with `@guard(access(...))` under its `@router.<method>(...)` and takes
its caller as `principal: Caller`. `Caller` authenticates the key and checks its role and
scope before the request body is read; the guard checks, once the request is parsed, that
the channel or store it names is the caller's. The declaration is written into the route's
description, and `verify_routes` refuses to build an app with a route that declares none.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, Request
from fastapi.routing import APIRoute

from omnicart.api.deps import get_principal
from omnicart.auth.access import Access, check_caller, check_target
from omnicart.auth.service import Principal
from omnicart.db.engine import Database

F = TypeVar("F", bound=Callable[..., Any])
ACCESS_ATTR = "__omnicart_access__"


def declared_access(endpoint: Callable[..., Any]) -> Access | None:
    """The access a route's endpoint declares, or None."""
    found: Access | None = getattr(endpoint, ACCESS_ATTR, None)
    return found


def _route_access(request: Request) -> Access:
    route = request.scope.get("route")
    rule = declared_access(route.endpoint) if isinstance(route, APIRoute) else None
    if rule is None:  # verify_routes makes this unreachable in a built app
        raise RuntimeError(f"route {request.url.path} declares no access")
    return rule


async def authorize(
    request: Request, principal: Annotated[Principal, Depends(get_principal)]
) -> Principal:
    """The caller, allowed by the route's declaration to call it (403 otherwise); async,
    so checking it costs no thread-pool hop."""
    check_caller(_route_access(request), principal)
    return principal


Caller = Annotated[Principal, Depends(authorize)]


def guard(rule: Access) -> Callable[[F], F]:
    """Declare who may call the route below, and check its target when it is called."""

    def decorate(endpoint: F) -> F:
        # The router takes the route's description from the docstring when it registers
        # the function, which happens after this decorator has run.
        line = f"**Who may call:** {rule.describe()}"
        doc = inspect.cleandoc(endpoint.__doc__ or "")
        endpoint.__doc__ = f"{doc}\n\n{line}" if doc else line
        if not rule.uses_api_key or (rule.channel is None and rule.store is None):
            setattr(endpoint, ACCESS_ATTR, rule)
            return endpoint
        parameters = inspect.signature(endpoint).parameters
        if "principal" not in parameters or "db" not in parameters:
            raise TypeError(f"{endpoint.__name__}: a guarded route takes `principal` and `db`")
        if inspect.iscoroutinefunction(endpoint):
            raise TypeError(f"{endpoint.__name__}: targets are checked for sync routes only")

        @functools.wraps(endpoint)
        def checked(*args: Any, **kwargs: Any) -> Any:
            db: Database = kwargs["db"]
            check_target(rule, kwargs["principal"], kwargs, db.reading)
            return endpoint(*args, **kwargs)

        setattr(checked, ACCESS_ATTR, rule)
        return checked  # type: ignore[return-value]

    return decorate


def api_routes(app: FastAPI) -> list[APIRoute]:
    """Every API route of the app, those of included routers too."""
    try:  # FastAPI 0.165 includes routers lazily; its own walk finds their routes.
        from fastapi.routing import iter_route_contexts
    except ImportError:  # pragma: no cover - older FastAPI copies routes on include
        candidates: list[Any] = list(app.routes)
    else:
        candidates = [context.original_route for context in iter_route_contexts(app.routes)]
    return [route for route in candidates if isinstance(route, APIRoute)]


def verify_routes(app: FastAPI) -> None:
    """Refuse to build an app with a route that declares no access."""
    missing = []
    for route in api_routes(app):
        if declared_access(route.endpoint) is None:
            missing.append(f"{sorted(route.methods or ())} {route.path}")
    if missing:
        raise RuntimeError(f"routes without an access declaration: {', '.join(missing)}")
