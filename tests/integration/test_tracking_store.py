"""The spool and the DuckDB store: exactly once across restarts, torn tails, Parquet export,
and the `omnicart tracking` / `omnicart events` commands."""

from __future__ import annotations

from pathlib import Path

import duckdb
import orjson
import pytest
import typer
from typer.testing import CliRunner

from omnicart.db.engine import Database
from omnicart.tracking import cli as tracking_cli
from omnicart.tracking.ingest import Ingestor
from omnicart.tracking.spool import SpoolWriter, is_finished, read_records, segments
from omnicart.tracking.store import EventStore, StoreBusy, StoreLock, open_store, spool_dir
from tests.tracking_support import add_source

runner = CliRunner()
app = typer.Typer()
app.add_typer(tracking_cli.app, name="tracking")
app.add_typer(tracking_cli.events_app, name="events")


def _url(db: Database) -> str:
    return db.engine.url.render_as_string(hide_password=False)


def _batch(*messages: tuple[str, str, str]) -> bytes:
    """(messageId, userId, timestamp) each."""
    return orjson.dumps(
        {
            "batch": [
                {"type": "track", "event": "E", "messageId": m, "userId": u, "timestamp": t}
                for m, u, t in messages
            ]
        }
    )


def test_spool_records_survive_and_a_torn_tail_is_ignored(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path)
    writer.start()
    writer.append(b"first")
    writer.append(b"second")
    [segment] = segments(tmp_path)
    assert not is_finished(segment)  # its writer still holds it
    with segment.open("ab") as handle:  # a record cut short by a crash mid-write
        handle.write(b"\x40\x00\x00\x00\x00\x00")
    with segment.open("rb") as handle:
        chunk = read_records(handle, 0)
    assert chunk.records == [b"first", b"second"]
    assert chunk.torn
    writer.close()
    assert is_finished(segment)


def test_each_event_is_stored_once_across_restarts_and_resends(
    sqlite_db: Database, tmp_path: Path
) -> None:
    _, source_id, key = add_source(sqlite_db)
    events = tmp_path / "events.duckdb"
    ingestor = Ingestor(db=sqlite_db, events_path=events)
    body = _batch(("m1", "u1", "2026-11-20T10:00:00Z"), ("m2", "u1", "2026-11-21T10:00:00Z"))
    ingestor.accept_sync(body=body, kind="batch", write_key=key)
    ingestor.stop()
    # A new process life: the same batch again (a client retry) and a new event.
    ingestor = Ingestor(db=sqlite_db, events_path=events)
    ingestor.accept_sync(body=body, kind="batch", write_key=key)
    ingestor.accept_sync(
        body=_batch(("m3", "u2", "2026-11-21T11:00:00Z")), kind="batch", write_key=key
    )
    ingestor.stop()
    with open_store(events) as store:
        assert [e.message_id for e in store.find(source_id=source_id)] == ["m1", "m2", "m3"]
        assert [e.message_id for e in store.find(user_id="u2")] == ["m3"]
        assert segments(spool_dir(events)) == []  # finished segments are removed


def test_a_flush_that_crashed_before_commit_is_redone_exactly_once(
    sqlite_db: Database, tmp_path: Path
) -> None:
    _, _, key = add_source(sqlite_db)
    events = tmp_path / "events.duckdb"
    ingestor = Ingestor(db=sqlite_db, events_path=events)
    writer = SpoolWriter(spool_dir(events))  # the spool only: no flusher runs
    writer.start()
    for n in range(5):
        record, _ = ingestor.prepare(
            body=_batch((f"m{n}", "u", "2026-11-20T10:00:00Z")), kind="batch", write_key=key
        )
        writer.append(record)
    writer.close()
    lock = StoreLock(events)
    assert lock.try_acquire()
    store = EventStore(events)
    real_commit = store.conn

    class Crash(Exception):
        pass

    class Failing:
        """A connection that dies on COMMIT, as a killed process would."""

        def __getattr__(self, name: str) -> object:
            return getattr(real_commit, name)

        def execute(self, sql: str, *args: object) -> object:
            if sql == "COMMIT":
                raise Crash
            return real_commit.execute(sql, *args)

    store.conn = Failing()  # type: ignore[assignment]
    with pytest.raises(Crash):
        store.drain_once()
    store.conn = real_commit
    store.close()
    lock.release()
    with open_store(events) as reopened:
        assert reopened.count() == 5
        counts = reopened.conn.execute(
            "SELECT count(*), count(DISTINCT message_id) FROM events"
        ).fetchone()
        assert counts == (5, 5)
        assert reopened.conn.execute("SELECT count(*) FROM spool_progress").fetchone() == (0,)


def test_parquet_export_is_partitioned_by_utc_day(sqlite_db: Database, tmp_path: Path) -> None:
    _, _, key = add_source(sqlite_db)
    events = tmp_path / "events.duckdb"
    ingestor = Ingestor(db=sqlite_db, events_path=events)
    ingestor.accept_sync(
        body=_batch(
            ("a", "u1", "2026-11-20T23:59:59+00:00"),
            ("b", "u1", "2026-11-21T00:30:00+01:00"),  # 2026-11-20 23:30 UTC
            ("c", "u2", "2026-11-21T00:00:00Z"),
        ),
        kind="batch",
        write_key=key,
    )
    ingestor.stop()
    out = tmp_path / "export"
    where = ["--events-path", str(events), "--database-url", _url(sqlite_db)]
    result = runner.invoke(app, ["events", "export", "--to", str(out), *where])
    assert result.exit_code == 0, result.output
    assert "exported 3 events in 2 daily partitions" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == ["day=2026-11-20", "day=2026-11-21"]
    rows = duckdb.execute(
        f"SELECT day::VARCHAR, message_id FROM read_parquet('{out}/*/*.parquet', "
        "hive_partitioning = true) ORDER BY message_id"
    ).fetchall()
    assert rows == [("2026-11-20", "a"), ("2026-11-20", "b"), ("2026-11-21", "c")]
    again = runner.invoke(app, ["events", "export", "--to", str(out), *where])
    assert again.exit_code != 0  # never writes into a folder that has files
    count = runner.invoke(app, ["events", "count", *where])
    assert count.stdout.strip() == "3"
    of_source = runner.invoke(app, ["events", "count", "--source", "0", *where])
    assert of_source.stdout.strip() == "0"  # no orders, so nothing from the outbox


def test_the_store_lock_is_exclusive(tmp_path: Path) -> None:
    events = tmp_path / "events.duckdb"
    holder = StoreLock(events)
    assert holder.try_acquire()
    try:
        with pytest.raises(StoreBusy), open_store(events, timeout=0.1):
            pass
    finally:
        holder.release()
    with open_store(events, timeout=0.1) as store:
        assert store.count() == 0


def test_sources_from_the_command_line(sqlite_db: Database) -> None:
    add_source(sqlite_db, "pos")
    url = _url(sqlite_db)
    env = {"COLUMNS": "200"}
    created = runner.invoke(
        app,
        [
            "tracking",
            "sources",
            "create",
            "--channel",
            "pos",
            "--name",
            "tills",
            "--database-url",
            url,
        ],
        env=env,
    )
    assert created.exit_code == 0, created.output
    write_key = created.stdout.strip()
    assert write_key.startswith("wk_")
    listed = runner.invoke(app, ["tracking", "sources", "list", "--database-url", url], env=env)
    assert "tills" in listed.stdout
    assert write_key[:10] in listed.stdout
    assert write_key not in listed.stdout
    unknown = runner.invoke(
        app, ["tracking", "sources", "create", "--channel", "nope", "--database-url", url], env=env
    )
    assert unknown.exit_code != 0
