"""`omnicart bench console`: the console's pages on the demo history, against the JSON API
answering the same figures, in the same run.

The demo merchant (`omnicart demo --no-serve`: a year of orders on ten channels, its
customers linked as the demo does before serving) is built in a scratch folder, or an
existing demo database is used. A real server (`uvicorn omnicart.app:create_app` in its
own process) serves it; httpx signs in as a console user and times, for each page, the
time to first byte (response headers in) of `requests` requests, alternating with the
API requests that fetch the page's figures (the baseline), after a warm-up:

- **overview** (/console/analytics; the home page /console until that exists): against
  GET /v1/analytics/channels for the same 30 days and currency;
- **customers** (/console/customers): against GET /v1/analytics/cohorts and
  /v1/analytics/customers/omnichannel (their first bytes added up);
- **stock** (/console/stock): against GET /v1/stock?limit=100.

A page that answers 404 is left out and named under `missing`. Where /usr/bin/chromium
exists, Playwright opens each page `visits` times and times the navigation until every
chart on it is drawn (each `[data-chart]` box holds Plotly's SVG; a page without charts:
its load event). One JSON line, with the load average before and after.
"""

from __future__ import annotations

import io
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from omnicart.auth.service import create_api_key
from omnicart.benchmarks.common import percentile
from omnicart.db.engine import Database
from omnicart.demo.history import resolve_past_year
from omnicart.demo.merchant import events_path_for, run_demo
from omnicart.kernel.clock import utcnow
from omnicart.users.service import create_user

CHROMIUM = Path("/usr/bin/chromium")
DAYS = 30  # the analytics pages' default range: the last 30 days (UTC)
CURRENCY = "EUR"
WARM_UP = 3
# Every chart box drawn (Plotly puts an <svg class="main-svg"> in it).
CHARTS_DRAWN = (
    "() => Array.from(document.querySelectorAll('[data-chart]'))"
    ".every((box) => box.querySelector('svg.main-svg') !== null)"
)
_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


@dataclass(frozen=True, slots=True)
class BenchConfig:
    """How much to time, and on which database."""

    requests: int = 200  # per page, and as many for its baseline
    visits: int = 20  # browser navigations per page
    database_url: str | None = None  # an existing demo database; None: build one
    browser: bool = True  # time charts in Chromium where /usr/bin/chromium exists


@dataclass(frozen=True, slots=True)
class Page:
    """A page timed, and the API requests that answer its figures."""

    name: str
    paths: tuple[str, ...]  # the first that answers is timed
    baseline: tuple[str, ...]


def _pages(first: str, last: str) -> list[Page]:
    period = f"from={first}&to={last}&currency={CURRENCY}"
    return [
        Page(
            "overview",
            ("/console/analytics", "/console"),
            (f"/v1/analytics/channels?{period}",),
        ),
        Page(
            "customers",
            ("/console/customers",),
            (f"/v1/analytics/cohorts?{period}", f"/v1/analytics/customers/omnichannel?{period}"),
        ),
        Page("stock", ("/console/stock",), ("/v1/stock?limit=100",)),
    ]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def _server(database_url: str, events_path: Path) -> Iterator[str]:
    """The app in a uvicorn process of its own; its base URL while the block runs."""
    port = _free_port()
    env = {
        **os.environ,
        "OMNICART_DATABASE_URL": database_url,
        "OMNICART_EVENTS_PATH": str(events_path),
        # No background rounds compete with the requests (nor a worker process).
        "OMNICART_BACKGROUND": "worker",
    }
    command = [sys.executable, "-m", "uvicorn", "omnicart.app:create_app", "--factory"]
    process = subprocess.Popen(  # noqa: S603 -- our own interpreter and arguments
        [*command, "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited with {process.returncode}")
            try:
                if httpx.get(f"{base}/console/sign-in", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not start within 120 s")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _sign_in(client: httpx.Client, email: str, password: str) -> None:
    form = client.get("/console/sign-in")
    found = _CSRF.search(form.text)
    if found is None:
        raise RuntimeError("the sign-in page has no CSRF token")
    done = client.post(
        "/console/sign-in",
        data={"email": email, "password": password, "csrf_token": found[1]},
    )
    if done.status_code != 303:
        raise RuntimeError(f"signing in answered {done.status_code}")


def _first_byte_ms(client: httpx.Client, path: str, **headers: str) -> float:
    """Milliseconds until the answer's headers are in (the body is read, then checked)."""
    started = time.perf_counter()
    with client.stream("GET", path, headers=headers) as answer:
        first = (time.perf_counter() - started) * 1000
        answer.read()
    if answer.status_code != 200:
        raise RuntimeError(f"GET {path} answered {answer.status_code}")
    return first


def _summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(percentile(ordered, 0.50), 2),
        "p99_ms": round(percentile(ordered, 0.99), 2),
    }


def _time_page(
    console: httpx.Client, api: httpx.Client, page: Page, path: str, requests: int
) -> dict[str, Any]:
    def baseline() -> float:
        return sum(_first_byte_ms(api, url) for url in page.baseline)

    for _ in range(WARM_UP):
        _first_byte_ms(console, path)
        baseline()
    # Alternating, so that a change in the machine's load falls on both sides alike.
    pages, apis = [], []
    for _ in range(requests):
        pages.append(_first_byte_ms(console, path))
        apis.append(baseline())
    mine, theirs = _summary(pages), _summary(apis)
    return {
        "path": path,
        "ttfb": mine,
        "baseline": {"requests": list(page.baseline), **theirs},
        "ratio_p50": round(mine["p50_ms"] / theirs["p50_ms"], 3),
        "ratio_p99": round(mine["p99_ms"] / theirs["p99_ms"], 3),
    }


def _browser_times(
    base: str, email: str, password: str, paths: dict[str, str], visits: int
) -> dict[str, Any]:
    """Per page: navigation until every chart is drawn, p50/p99 over `visits`."""
    from playwright.sync_api import sync_playwright

    out: dict[str, Any] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
        try:
            context = browser.new_context(base_url=base)
            tab = context.new_page()
            tab.goto("/console/sign-in")
            tab.get_by_label("E-mail").fill(email)
            tab.get_by_label("Password").fill(password)
            tab.get_by_role("button", name="Sign in").click()
            tab.wait_for_url(re.compile(r".*/console$"))
            for name, path in paths.items():
                samples = []
                for visit in range(WARM_UP + visits):
                    started = time.perf_counter()
                    tab.goto(path, wait_until="load")
                    tab.wait_for_function(CHARTS_DRAWN, timeout=30_000)
                    if visit >= WARM_UP:
                        samples.append((time.perf_counter() - started) * 1000)
                charts = tab.locator("[data-chart]").count()
                out[name] = {"charts": charts, **_summary(samples)}
        finally:
            browser.close()
    return out


def _prepare(config: BenchConfig, folder: Path) -> tuple[str, Path]:
    """The demo database to time (built here unless given) and its event store."""
    if config.database_url is not None:
        return config.database_url, events_path_for(config.database_url)
    url = f"sqlite:///{folder / 'demo.db'}"
    run_demo(url, Console(file=io.StringIO(), width=120))
    events = events_path_for(url)
    db = Database.from_url(url)
    try:
        # As the demo does before it serves: the year's orders linked to profiles.
        resolve_past_year(db, events_path=events)
    finally:
        db.dispose()
    return url, events


def _credentials(database_url: str) -> tuple[str, str, str]:
    """A console owner and an admin API key made for this run."""
    email = f"bench-{secrets.token_hex(4)}@console.example"
    password = secrets.token_urlsafe(16)
    db = Database.from_url(database_url)
    try:
        with db.transaction() as session:
            create_user(session, email=email, password=password, role="admin")
            key = create_api_key(
                session, name=f"bench-console-{secrets.token_hex(4)}", role="admin"
            )
    finally:
        db.dispose()
    return email, password, key.secret


def run(config: BenchConfig, *, progress: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Build or open the demo, serve it, time the pages and their baselines."""
    load_before = os.getloadavg()
    folder = Path(tempfile.mkdtemp(prefix="omnicart-bench-console-"))
    try:
        progress("building the demo merchant and its year of history")
        url, events = _prepare(config, folder)
        email, password, key = _credentials(url)
        today = utcnow().date()
        pages = _pages((today - timedelta(days=DAYS - 1)).isoformat(), today.isoformat())
        result: dict[str, Any] = {
            "database": "demo" if config.database_url is None else "given",
            "requests": config.requests,
            "period_days": DAYS,
            "currency": CURRENCY,
            "pages": {},
            "missing": [],
        }
        with _server(url, events) as base:
            progress("timing the pages and the API")
            with (
                httpx.Client(base_url=base, timeout=60) as console,
                httpx.Client(
                    base_url=base, timeout=60, headers={"Authorization": f"Bearer {key}"}
                ) as api,
            ):
                _sign_in(console, email, password)
                timed: dict[str, str] = {}
                for page in pages:
                    path = next((p for p in page.paths if console.get(p).status_code == 200), None)
                    if path is None:
                        result["missing"].append(page.name)
                        continue
                    timed[page.name] = path
                    result["pages"][page.name] = _time_page(
                        console, api, page, path, config.requests
                    )
            if not config.browser:
                result["browser"] = {"skipped": "not asked for (--no-browser)"}
            elif not CHROMIUM.exists():
                result["browser"] = {"skipped": f"Chromium is missing at {CHROMIUM}"}
            else:
                progress("timing the charts in Chromium")
                result["browser"] = _browser_times(base, email, password, timed, config.visits)
        result["load_average"] = {
            "before": [round(x, 2) for x in load_before],
            "after": [round(x, 2) for x in os.getloadavg()],
        }
        return result
    finally:
        shutil.rmtree(folder, ignore_errors=True)
