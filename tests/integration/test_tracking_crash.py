"""SIGKILL of the whole server (every worker) in a stream of batches: every acknowledged
event is in the store, none twice, also after a restart and a client's retries."""

from __future__ import annotations

import base64
import http.client
import signal
import threading
from pathlib import Path

import pytest

from omnicart.benchmarks.ingest import (
    batch_body,
    free_port,
    merchant,
    server_env,
    start_server,
    stop_server,
)
from omnicart.tracking.store import open_store

SIZE = 50


def _stream(
    port: int, write_key: str, prefix: str, acked: list[int], stop: threading.Event
) -> None:
    """Post batch after batch; record the number of each one answered 200."""
    auth = "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    number = 0
    while not stop.is_set():
        try:
            conn.request(
                "POST",
                "/v1/batch",
                body=batch_body(prefix, number * SIZE, SIZE),
                headers={"Content-Type": "application/json", "Authorization": auth},
            )
            response = conn.getresponse()
            response.read()
            if response.status == 200:
                acked.append(number)
        except (OSError, http.client.HTTPException):
            return  # the server is gone
        number += 1


def _ids(prefix: str, numbers: list[int]) -> set[str]:
    return {f"{prefix}-{n * SIZE + j}" for n in numbers for j in range(SIZE)}


@pytest.mark.slow
@pytest.mark.parametrize("acks_before_kill", [5, 40])
def test_sigkill_during_a_stream_loses_and_doubles_nothing(
    tmp_path: Path, acks_before_kill: int
) -> None:
    events_path = tmp_path / "events.duckdb"
    with merchant(tmp_path) as (url, write_key):
        env = server_env(database_url=url, events_path=events_path)
        port = free_port()
        server = start_server(port=port, env=env, workers=2)
        acked: dict[str, list[int]] = {"a": [], "b": []}
        stop = threading.Event()
        clients = [
            threading.Thread(target=_stream, args=(port, write_key, p, acked[p], stop))
            for p in acked
        ]
        for client in clients:
            client.start()
        try:
            while sum(map(len, acked.values())) < acks_before_kill:
                if not any(c.is_alive() for c in clients):
                    pytest.fail("the clients stopped before the kill")
                stop.wait(0.005)
        finally:
            stop_server(server, sig=signal.SIGKILL)  # master and workers, mid-stream
            stop.set()
            for client in clients:
                client.join()
        acked_ids = _ids("a", acked["a"]) | _ids("b", acked["b"])
        assert len(acked_ids) >= acks_before_kill * SIZE

        with open_store(events_path) as store:
            stored = dict(
                store.conn.execute("SELECT message_id, count(*) FROM events GROUP BY 1").fetchall()
            )
        assert acked_ids <= set(stored)
        assert set(stored.values()) == {1}

        # A restart, and the client retries its last acknowledged batches: still once each.
        server = start_server(port=port, env=env, workers=2)
        try:
            auth = "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            for number in acked["a"][-3:]:
                conn.request(
                    "POST",
                    "/v1/batch",
                    body=batch_body("a", number * SIZE, SIZE),
                    headers={"Content-Type": "application/json", "Authorization": auth},
                )
                response = conn.getresponse()
                assert response.status == 200, response.read()
                response.read()
            conn.close()
        finally:
            stop_server(server)
        with open_store(events_path) as store:
            rows = store.conn.execute(
                "SELECT count(*), count(DISTINCT message_id) FROM events"
            ).fetchone()
        assert rows == (len(stored), len(stored))
