"""Run `omnicart` in-process exactly as its entry point does: errors are reported by
`cli_support.run`, not raised, and the exit code is what a shell would see."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from omnicart.cli import app
from omnicart.cli_support import run


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str


def omnicart(capsys: pytest.CaptureFixture[str], *args: str) -> Ran:
    """`omnicart ARGS...`: its exit code, stdout and stderr."""
    capsys.readouterr()  # only what this command prints
    with pytest.raises(SystemExit) as done:
        run(app, list(args))
    captured = capsys.readouterr()
    code = done.value.code
    return Ran(code if isinstance(code, int) else 0 if code is None else 1, *captured)
