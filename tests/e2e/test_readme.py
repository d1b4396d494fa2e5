"""README.md's walkthrough runs as written, and prints what README.md says it prints.

The ```bash blocks are run in order as one script, in an empty directory, against an empty
SQLite file and a server on a free port. Each ```text block that directly follows a
```bash block is that block's output: every line of it must appear in what the script
printed. ```console blocks (make demo, make test, benchmarks) are not run.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
VENV_BIN = Path(sys.executable).parent
FENCE = re.compile(
    r"^```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL
)


@dataclass(frozen=True)
class Block:
    lang: str
    body: str
    follows_bash: bool  # nothing but blank lines between this block and a ```bash block


def readme_blocks() -> list[Block]:
    """The fenced blocks of README.md, in order."""
    text = README.read_text(encoding="utf-8")
    blocks: list[Block] = []
    previous_end = 0
    previous_lang = ""
    for match in FENCE.finditer(text):
        gap = text[previous_end : match.start()]
        follows_bash = previous_lang == "bash" and not gap.strip()
        blocks.append(Block(match["lang"], match["body"], follows_bash))
        previous_end, previous_lang = match.end(), match["lang"]
    return blocks


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    proc.wait()


def run_walkthrough(workdir: Path, script: str, port: int) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNICART_")}
    env.pop("FORCE_COLOR", None)
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        # The README sets its own URL too, relative to the directory it works in.
        OMNICART_DATABASE_URL=f"sqlite:///{workdir / 'readme.db'}",
        OMNICART_PORT=str(port),
        COLUMNS="200",  # wide enough that rich never wraps a line the README shows
        NO_COLOR="1",
        PYTHONIOENCODING="utf-8",
    )
    proc = subprocess.Popen(
        ["bash", "-c", script],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=900)
    except subprocess.TimeoutExpired:
        _stop(proc)
        out, _ = proc.communicate()
        pytest.fail(f"the walkthrough ran past 900 s; it printed:\n{out}")
    finally:
        # The script's trap stops the server; this catches anything it left behind.
        _stop(proc)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, None)


@pytest.mark.slow
def test_readme_walkthrough_runs_and_prints_what_it_says(tmp_path: Path) -> None:
    for tool in ("bash", "curl", "jq"):
        if shutil.which(tool) is None:
            pytest.skip(f"the README walkthrough needs {tool!r} on PATH")
    assert (VENV_BIN / "omnicart").exists(), f"no omnicart next to {sys.executable}"

    blocks = readme_blocks()
    bash = [b.body for b in blocks if b.lang == "bash"]
    assert len(bash) >= 10, "README.md lost its walkthrough"
    script = "set -euo pipefail\n" + "\n".join(bash)

    result = run_walkthrough(tmp_path, script, free_port())
    assert result.returncode == 0, f"walkthrough failed ({result.returncode}):\n{result.stdout}"
    assert list(tmp_path.rglob("readme.db")), "the walkthrough's database is not in its directory"

    printed = {line.rstrip() for line in result.stdout.splitlines()}
    expected = [
        line.rstrip()
        for block in blocks
        if block.lang == "text" and block.follows_bash
        for line in block.body.splitlines()
        if line.strip()
    ]
    assert len(expected) > 50, "README.md shows too little output to check"
    missing = [line for line in expected if line not in printed]
    assert not missing, (
        "README.md shows output the walkthrough did not print:\n"
        + "\n".join(missing)
        + f"\n\n--- what it printed ---\n{result.stdout}"
    )

    # The points the README makes, stated once more explicitly.
    out = result.stdout
    assert out.index("HTTP 201") < out.index("HTTP 200"), "replay should answer 200 after 201"
    assert '{"id":1,"status":"active"}' in printed, "the replay returned another reservation"
    assert "│ TEE-RED-M │ 8                    │" in printed  # allegro: 80 %, never the last 2
    assert "│ TEE-DUO   │ 7                │" in printed  # web: bundle = 14 // 2
    assert (
        '{"channel_id":2,"items":[{"sku":"TEE-RED-M","available":5},'
        '{"sku":"TEE-DUO","available":2}]}'
    ) in printed
    assert '  "type": "https://omnicart.dev/problems/validation-failed",' in printed
    assert '  "field": "lines.0.quantity"' in printed
    assert "stock agrees with the ledger and the holds" in printed
