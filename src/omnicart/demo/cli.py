"""The `omnicart demo` command."""

from __future__ import annotations

import os
import socket
from typing import Annotated

import typer
from rich.console import Console
from rich.panel import Panel

from omnicart.cli_support import CliConsole
from omnicart.demo.history import resolve_past_year
from omnicart.demo.merchant import DemoResult, events_path_for, run_demo
from omnicart.kernel.errors import Conflict
from omnicart.settings import get_settings


def claim_port(host: str, port: int) -> socket.socket:
    """A socket listening on host:port, taken before the demo builds anything, so that a
    port in use fails at once instead of after printing keys that would not work."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    # As uvicorn does: a port left in TIME_WAIT by an earlier run is free to take.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise Conflict(
            f"cannot serve on {host}:{port} ({exc.strerror or exc}); stop what uses it, or "
            "choose another port with --port or OMNICART_PORT",
            field="port",
        ) from None
    return sock


def demo(
    database_url: Annotated[
        str, typer.Option(help="Where the demo merchant lives; it is recreated each run.")
    ] = "sqlite:///./var/demo.db",
    serve: Annotated[bool, typer.Option(help="Keep serving the API afterwards.")] = True,
    host: Annotated[str | None, typer.Option(help="Defaults to OMNICART_HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Defaults to OMNICART_PORT.")] = None,
) -> None:
    """Create a demo merchant, race every channel for the last units, report, then serve."""
    settings = get_settings()
    host = host or settings.host
    port = port or settings.port
    listening = claim_port(host, port) if serve else None
    try:
        _run(database_url, host=host, port=port, listening=listening)
    finally:
        if listening is not None:
            listening.close()


def _run(database_url: str, *, host: str, port: int, listening: socket.socket | None) -> None:
    console = CliConsole()
    result = run_demo(database_url, console, keep_shops=listening is not None)
    try:
        _serve(database_url, result, console, host=host, port=port, listening=listening)
    finally:
        if result.shops is not None:
            result.shops.stop()


def print_access(console: Console, result: DemoResult, *, base: str) -> None:
    """The keys, the console's address and the owner's sign-in (its password only here)."""
    console.print(
        Panel.fit(
            f"admin key:   {result.admin_key}\n"
            f"allegro key: {result.channel_keys['allegro']}\n"
            f"API docs:    {base}/docs\n"
            f"console:     {base}/console\n"
            f"sign in as:  {result.console_email}\n"
            f"password:    {result.console_password}",
            title="Omnicart demo",
            border_style="green",
        )
    )
    # Printed unwrapped so it can be copied into a shell as it is.
    console.print(
        f"try: curl -H 'Authorization: Bearer {result.admin_key}' "
        f"'{base}/v1/availability?channel_id=1&sku=TEE-BLACK-M&sku=KIT-1'",
        soft_wrap=True,
    )


def _serve(
    database_url: str,
    result: DemoResult,
    console: CliConsole,
    *,
    host: str,
    port: int,
    listening: socket.socket | None,
) -> None:
    base = f"http://{host}:{port}"
    print_access(console, result, base=base)
    if result.discrepancies:
        raise typer.Exit(1)
    if listening is None:
        return
    import uvicorn

    from omnicart.app import create_app
    from omnicart.db.engine import Database
    from omnicart.worker.supervise import Supervisor

    db = Database.from_url(database_url)
    # Done now rather than by the worker while the API answers: its long transactions
    # would hold up the first requests and the pushes to the vendors' shops.
    with console.status("linking the past year's orders to customer profiles"):
        resolve_past_year(db, events_path=events_path_for(database_url))
    console.print(f"serving {base} (Ctrl-C to stop); the vendors' shops keep serving too")
    # The served app reads and fills the demo's own event store; as under `omnicart serve`,
    # one worker process beside it runs the background rounds.
    events = str(events_path_for(database_url))
    settings = get_settings().model_copy(update={"events_path": events, "background": "worker"})
    app = create_app(db=db, settings=settings)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    supervisor = Supervisor(
        {
            **os.environ,
            "OMNICART_DATABASE_URL": database_url,
            "OMNICART_EVENTS_PATH": events,
            "OMNICART_BACKGROUND": "worker",
        }
    )
    supervisor.start()
    try:
        server.run(sockets=[listening])
    finally:
        supervisor.stop()
