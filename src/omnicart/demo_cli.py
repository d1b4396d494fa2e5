"""The `omnicart demo` command."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.panel import Panel

from omnicart.demo import events_path_for, run_demo


def demo(
    database_url: Annotated[
        str, typer.Option(help="Where the demo merchant lives; it is recreated each run.")
    ] = "sqlite:///./var/demo.db",
    serve: Annotated[bool, typer.Option(help="Keep serving the API afterwards.")] = True,
    host: str = "127.0.0.1",
    port: int = 8000,
) -> None:
    """Create a demo merchant, race every channel for the last units, report, then serve."""
    console = Console()
    result = run_demo(database_url, console)
    base = f"http://{host}:{port}"
    console.print(
        Panel.fit(
            f"admin key:   {result.admin_key}\n"
            f"allegro key: {result.channel_keys['allegro']}\n"
            f"API docs:    {base}/docs",
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
    if result.discrepancies:
        raise typer.Exit(1)
    if not serve:
        return
    import uvicorn

    from omnicart.app import create_app
    from omnicart.db.engine import Database
    from omnicart.settings import get_settings

    console.print(f"serving {base} (Ctrl-C to stop)")
    # The served app reads and fills the demo's own event store.
    settings = get_settings().model_copy(update={"events_path": str(events_path_for(database_url))})
    app = create_app(db=Database.from_url(database_url), settings=settings)
    uvicorn.run(app, host=host, port=port, log_level="warning")
