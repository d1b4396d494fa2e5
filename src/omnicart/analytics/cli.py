"""`omnicart analytics ...`: figures read from the analytic model.

One Typer app; each capability registers its commands below with one line.
"""

from __future__ import annotations

import typer

from omnicart.analytics import channels_cli, history_cli, journeys_cli

app = typer.Typer(
    no_args_is_help=True,
    help="Figures from every channel: earnings, customers, funnels, attribution, CLV.",
)
app.command("channels")(channels_cli.channels)
app.command("definitions")(channels_cli.definitions)
app.command("cohorts")(journeys_cli.cohorts)
app.command("omnichannel")(journeys_cli.omnichannel)
app.command("funnel")(journeys_cli.funnel_command)
app.command("attribution")(journeys_cli.attribution)
app.command("clv")(history_cli.clv)
