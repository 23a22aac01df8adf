"""The workspace store: migrations, WAL, the per-workspace secret, idempotent inserts, transactions."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import threading
from pathlib import Path

import pandas as pd
import pytest
from store_rows import incident_rows

from sauti.errors import SautiError
from sauti.schema import migrations as _migrations
from sauti.store import Workspace, insert_ignore


def test_migrations_are_numbered_without_gaps() -> None:
    """Numbers are shared by both back-ends: a PostgreSQL-only file (``NNNN_x.postgresql.sql``) takes one."""
    numbers = sorted(
        {number for backend in ("sqlite", "postgresql") for number, _n, _s in _migrations(backend)}
    )
    assert numbers == list(range(1, max(numbers) + 1))


def test_new_store_is_migrated_to_the_latest_version_in_wal_mode(workspace: Workspace) -> None:
    latest = _migrations()[-1][0]
    with workspace.session() as con:
        assert con.execute("PRAGMA user_version").fetchone()[0] == latest
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"ingest_runs", "localities", "incidents", "alerts", "place_names"} <= tables


def test_reopening_does_not_reapply_migrations(workspace: Workspace) -> None:
    with workspace.session() as con:
        con.execute(
            "INSERT INTO ingest_runs (kind, path, sha256, started_at, status) VALUES ('x','p','s','t','ok')"
        )
    with workspace.session() as con:
        assert con.execute("SELECT COUNT(*) FROM ingest_runs").fetchone()[0] == 1


def test_secret_is_created_once_and_private(workspace: Workspace) -> None:
    first = workspace.secret()
    assert len(first) == 32
    assert workspace.secret() == first
    mode = stat.S_IMODE(os.stat(workspace.root / "secret.key").st_mode)
    assert mode == 0o600
    assert Workspace(workspace.root.parent / "other").secret() != first


def test_secret_created_by_racing_threads_is_one_whole_key(tmp_path: Path) -> None:
    """Twenty alert posts on a new workspace all ask for the secret at once: every caller must get
    the same 32 bytes (a reader once saw the empty file another thread had just created, and keyed
    pseudonyms with b"", and a third failed with FileExistsError: a 500)."""
    for trial in range(30):
        root = tmp_path / f"ws{trial}"
        barrier = threading.Barrier(8)
        got: list[bytes | BaseException] = []

        def ask(root: Path = root, barrier: threading.Barrier = barrier, got: list = got) -> None:
            barrier.wait()
            try:
                got.append(Workspace(root).secret())
            except BaseException as exc:
                got.append(exc)

        threads = [threading.Thread(target=ask) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert all(isinstance(k, bytes) for k in got), got
        assert {len(k) for k in got} == {32}
        assert len(set(got)) == 1
        assert [p.name for p in root.iterdir()] == ["secret.key"]  # no temporary file left behind


def test_a_damaged_secret_is_refused_not_used(workspace: Workspace) -> None:
    workspace.root.mkdir(parents=True, exist_ok=True)
    (workspace.root / "secret.key").write_bytes(b"")
    with pytest.raises(SautiError, match=r"secret\.key: the workspace secret is damaged \(0 bytes"):
        workspace.secret()


def test_insert_ignore_counts_only_new_rows(workspace: Workspace) -> None:
    rows = pd.DataFrame(
        {"name": ["Bria", "Bria", "Ndele"], "locality_id": ["CF52", "CF52", "CF51"], "kind": "admin"}
    )
    with workspace.session() as con:
        assert insert_ignore(con, "place_names", rows) == 2
        assert insert_ignore(con, "place_names", rows) == 0
        assert insert_ignore(con, "place_names", rows.iloc[:0]) == 0


@pytest.mark.parametrize(
    ("longitude", "kind"),
    [
        pytest.param(
            pd.Series([14.5, None, 18.0], dtype="Float64"), ["admin", "alt", "admin"], id="nullable-float"
        ),
        pytest.param(pd.Series([14, None, 18], dtype="Int64"), ["admin", "alt", "admin"], id="nullable-int"),
        pytest.param(
            pd.Series([14.5, pd.NA, 18.0], dtype="object"),
            pd.Series(["admin", "alt", "admin"], dtype="string"),
            id="pd-NA-in-object-column-and-string-dtype",
        ),
    ],
)
def test_insert_ignore_stores_pandas_missing_values_as_null(
    workspace: Workspace, longitude: pd.Series, kind: object
) -> None:
    rows = pd.DataFrame(
        {
            "name": ["Bria", "Ndele", "Obo"],
            "locality_id": ["CF52", "CF51", "CF73"],
            "kind": kind,
            "longitude": longitude,
            "latitude": pd.Series([6.5, 8.4, pd.NA], dtype="Float64"),
        }
    )
    with workspace.session() as con:
        assert insert_ignore(con, "place_names", rows) == 3
        assert insert_ignore(con, "place_names", rows) == 0  # still idempotent after the retry path
        stored = con.execute(
            "SELECT name, longitude, latitude, typeof(longitude) FROM place_names ORDER BY name"
        ).fetchall()
    first, last = float(longitude.iloc[0]), float(longitude.iloc[2])
    assert [tuple(r) for r in stored] == [
        ("Bria", first, 6.5, "real"),  # REAL affinity: a nullable int is stored as a real
        ("Ndele", None, 8.4, "null"),
        ("Obo", last, None, "real"),
    ]


def test_insert_ignore_writes_a_constant_column_as_it_would_bind_it(workspace: Workspace) -> None:
    rows = pd.DataFrame(
        {"name": ["Bria", "Ndélé"], "locality_id": "CF'52", "kind": "admin", "longitude": [1.5, 2.5]}
    )
    with workspace.session() as con:
        assert insert_ignore(con, "place_names", rows) == 2
        assert insert_ignore(con, "place_names", rows.assign(name="Bria")) == 0
        stored = con.execute(
            "SELECT name, locality_id, typeof(locality_id), kind FROM place_names ORDER BY name"
        ).fetchall()
    assert [tuple(r) for r in stored] == [
        ("Bria", "CF'52", "text", "admin"),
        ("Ndélé", "CF'52", "text", "admin"),
    ]


def test_transaction_rolls_back_everything_on_error(workspace: Workspace) -> None:
    rows = pd.DataFrame({"name": ["Bria"], "locality_id": ["CF52"], "kind": ["admin"]})

    def insert_then_fail(con: sqlite3.Connection) -> None:
        with Workspace.transaction(con):
            insert_ignore(con, "place_names", rows)
            con.execute("INSERT INTO place_names (name, locality_id, kind) VALUES (NULL, 'x', 'admin')")

    with workspace.session() as con:
        with pytest.raises(sqlite3.IntegrityError):
            insert_then_fail(con)
        assert con.execute("SELECT COUNT(*) FROM place_names").fetchone()[0] == 0


def test_status_of_an_empty_workspace(workspace: Workspace) -> None:
    info = workspace.status()
    assert info["incidents"] == 0
    assert info["alerts"] == 0
    assert info["localities"] == {}
    assert info["workspace"] == str(workspace.root.resolve())


def test_a_migration_missing_below_the_current_version_is_still_applied(workspace: Workspace) -> None:
    """A lower-numbered migration merged after higher ones must reach stores that have the higher ones."""
    number, name, _sql = next(m for m in _migrations() if m[1] == "0004_patrol.sql")
    with workspace.session() as con:
        latest = con.execute("PRAGMA user_version").fetchone()[0]
        assert latest > number
        con.execute("DELETE FROM schema_migrations WHERE number = ?", (number,))
        con.execute("DROP TABLE patrol_bases")
    with workspace.session() as con:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        applied = {r[0] for r in con.execute("SELECT number FROM schema_migrations")}
        assert con.execute("PRAGMA user_version").fetchone()[0] == latest
    assert "patrol_bases" in tables
    assert number in applied


def _incident_indexes(workspace: Workspace) -> list[str]:
    with workspace.session() as con:
        rows = con.execute(
            "SELECT name FROM sqlite_master"
            " WHERE type = 'index' AND tbl_name = 'incidents' AND sql IS NOT NULL"
        ).fetchall()
    return [r[0] for r in rows]


@pytest.mark.parametrize("fail", [False, True], ids=["committed", "rolled-back"])
def test_bulk_ingest_rebuilds_the_date_index_or_rolls_its_drop_back(
    workspace: Workspace, tmp_path, fail: bool
) -> None:
    from sauti.ingest.runs import BULK_INDEX_ROWS, ingest_run

    source = tmp_path / "bulk.csv"
    source.write_text("made-up\n", encoding="utf-8")
    rows = incident_rows(BULK_INDEX_ROWS)
    expect_crash = pytest.raises(RuntimeError) if fail else contextlib.nullcontext()
    with expect_crash, ingest_run(workspace, "incidents", source) as run:
        run.count_read(len(rows))
        run.store("incidents", rows)
        assert run.deferred_indexes == {
            "incidents_occurred_on": "CREATE INDEX incidents_occurred_on ON incidents(occurred_on)"
        }
        if fail:
            raise RuntimeError("crash mid-file")
    assert _incident_indexes(workspace) == ["incidents_occurred_on"]
    with workspace.session() as con:
        stored = con.execute("SELECT COUNT(*) FROM incidents").fetchone()[0]
        plan = " ".join(
            str(r[-1])
            for r in con.execute(
                "EXPLAIN QUERY PLAN SELECT * FROM incidents WHERE occurred_on = '2020-01-02'"
            )
        )
    assert stored == (0 if fail else BULK_INDEX_ROWS)
    assert "incidents_occurred_on" in plan


def test_small_ingest_keeps_the_indexes(workspace: Workspace, tmp_path) -> None:
    from sauti.ingest.runs import ingest_run

    source = tmp_path / "small.csv"
    source.write_text("made-up\n", encoding="utf-8")
    with ingest_run(workspace, "incidents", source) as run:
        run.count_read(10)
        run.store("incidents", incident_rows(10))
        assert run.deferred_indexes == {}
    assert _incident_indexes(workspace) == ["incidents_occurred_on"]


def test_an_ingest_on_a_kept_connection_leaves_its_page_cache_as_it_was(
    workspace: Workspace, tmp_path
) -> None:
    """The service reuses one connection per thread: an alert post must not leave it a 256 MiB cache."""
    from sauti.ingest.runs import INGEST_CACHE_KIB, ingest_run

    workspace.keep_connections()
    with workspace.session() as con:
        before = con.execute("PRAGMA cache_size").fetchone()[0]
    source = tmp_path / "small.csv"
    source.write_text("made-up\n", encoding="utf-8")
    with ingest_run(workspace, "incidents", source) as run:
        assert run.con.execute("PRAGMA cache_size").fetchone()[0] == -INGEST_CACHE_KIB
        run.count_read(3)
        run.store("incidents", incident_rows(3))
    with workspace.session() as con:
        assert con.execute("PRAGMA cache_size").fetchone()[0] == before != -INGEST_CACHE_KIB


def test_sha256_file_matches_hashlib_over_several_blocks(tmp_path) -> None:
    import hashlib

    from sauti.checksum import sha256_file

    data = bytes(range(256)) * 9000  # > 2 MiB: several 1 MiB blocks, a partial last one
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()
    assert sha256_file(path, chunk=7) == hashlib.sha256(data).hexdigest()


def test_an_unchanged_file_is_hashed_once_and_a_replaced_one_again(tmp_path, monkeypatch) -> None:
    """A population raster is stamped into every cube rebuild (each nowcast): read once while it is
    unchanged, read again when replaced in place."""
    import hashlib

    from sauti import checksum

    path = tmp_path / "pop.tif"
    path.write_bytes(b"first")
    reads = []
    real = checksum.sha256_file
    monkeypatch.setattr(checksum, "sha256_file", lambda p, *a, **k: reads.append(p) or real(p, *a, **k))
    assert checksum.sha256_file_unchanged(path) == hashlib.sha256(b"first").hexdigest()
    assert checksum.sha256_file_unchanged(path) == hashlib.sha256(b"first").hexdigest()
    assert len(reads) == 1
    path.write_bytes(b"second, longer")
    assert checksum.sha256_file_unchanged(path) == hashlib.sha256(b"second, longer").hexdigest()
    assert len(reads) == 2


def test_verification_history_migration_backfills_existing_states(workspace: Workspace) -> None:
    """Stores that held verified alerts before the history table get one dated decision each."""
    number, _name, _sql = next(m for m in _migrations() if m[1] == "0006_alert_verifications.sql")
    with workspace.session() as con:
        con.execute("DELETE FROM schema_migrations WHERE number = ?", (number,))
        con.execute("DROP TABLE alert_verifications")
        rows = [
            ("al_file", "2021-03-04T10:00:00Z", "verified", "2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z"),
            ("al_api", "2021-03-05T10:00:00Z", "false_alarm", "2024-01-01T00:00:00Z", "2024-02-03T08:00:00Z"),
            ("al_none", "2021-03-06T10:00:00Z", "unverified", "2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z"),
        ]
        con.executemany(
            "INSERT INTO alerts (alert_id, received_at, channel, category, verification, location_source, "
            "created_at, updated_at) VALUES (?, ?, 'sms', 'other', ?, 'unresolved', ?, ?)",
            rows,
        )
    made = workspace.alert_verifications().set_index("alert_id")
    assert sorted(made.index) == ["al_api", "al_file"]
    assert made.loc["al_file", "decided_at"] == pd.Timestamp("2021-03-04T10:00:00Z")  # when received
    assert made.loc["al_api", "decided_at"] == pd.Timestamp("2024-02-03T08:00:00Z")  # when changed
    assert made.loc["al_api", "source"] == "api"


def test_a_store_from_before_migration_tracking_is_adopted(workspace: Workspace) -> None:
    """Early stores recorded only ``PRAGMA user_version``: what it covers is not run again, the rest is."""
    number, _name, _sql = next(m for m in _migrations() if m[1] == "0006_alert_verifications.sql")
    with workspace.session() as con:
        con.execute("DROP TABLE schema_migrations")
        con.execute("DROP TABLE alert_verifications")
        con.execute(f"PRAGMA user_version = {number - 1}")
    with workspace.session() as con:
        applied = dict(con.execute("SELECT number, applied_at FROM schema_migrations").fetchall())
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert set(applied) == {m[0] for m in _migrations()}
    assert {applied[n] for n in range(1, number)} == {"before-tracking"}
    assert applied[number] != "before-tracking"
    assert "alert_verifications" in tables


def test_a_row_breaking_a_constraint_is_refused_not_a_duplicate(workspace: Workspace) -> None:
    """``ON CONFLICT DO NOTHING`` skips key matches only: a NOT NULL failure comes back with its row."""
    from sauti.store import insert_new

    rows = pd.DataFrame(
        {"name": ["Bria", None, "Ndele", "Bria", None], "locality_id": ["CF52", "CF99", "CF51", "CF52", "x"]},
        index=[10, 11, 12, 13, 14],
    ).assign(kind="admin")
    with workspace.session() as con:
        new, failed = insert_new(con, "place_names", rows)
        assert new == 2
        assert [label for label, _ in failed] == [11, 14]
        assert all("NOT NULL constraint failed: place_names.name" in message for _, message in failed)
        assert con.execute("SELECT COUNT(*) FROM place_names").fetchone()[0] == 2
        with pytest.raises(sqlite3.IntegrityError, match="NOT NULL"):
            insert_ignore(con, "place_names", rows)


def test_the_data_stamp_moves_with_every_write_and_scans_no_table(workspace: Workspace) -> None:
    """``fingerprint`` (read by the service once a second) changes on an insert, an update and a
    re-scoring, and every part of it is an index look-up (a whole-table count took 0.29 s at a
    million alerts: bench/bench_store_stamp.py)."""
    from sauti.store import _FINGERPRINT_SQL

    insert_alert = (
        "INSERT INTO alerts (alert_id, received_at, channel, category, location_source, created_at,"
        " updated_at) VALUES (?, '2021-01-01', 'sms', 'other', 'unresolved', 't', ?)"
    )
    stamps = [workspace.fingerprint()]
    with workspace.session() as con:
        con.execute(insert_alert, ("a1", "2021-01-01T00:00:00Z"))
        stamps.append(workspace.fingerprint())
        con.execute("UPDATE alerts SET verification = 'verified', updated_at = '2021-02-01T00:00:00Z'")
        stamps.append(workspace.fingerprint())
        con.execute("PRAGMA foreign_keys=OFF")
        score = (
            "INSERT INTO risk_scores (locality_id, period, freq, unit, probability, rank, model_version,"
            " data_snapshot, scored_at) VALUES ('L1', '2022-12-01', 'M', 'admin2', ?, 1, 'm', 's', ?)"
            " ON CONFLICT(locality_id, period, freq, unit) DO UPDATE SET probability = excluded.probability,"
            " scored_at = excluded.scored_at"
        )
        con.execute(score, (0.1, "2023-01-01T00:00:00Z"))
        stamps.append(workspace.fingerprint())
        con.execute(score, (0.2, "2023-01-02T00:00:00Z"))  # rescored in place
        stamps.append(workspace.fingerprint())
        plan = [row[3] for row in con.execute("EXPLAIN QUERY PLAN " + _FINGERPRINT_SQL)]
    assert len(set(stamps)) == len(stamps), stamps
    assert [p for p in plan if p.startswith("SCAN") and p != "SCAN CONSTANT ROW"] == [], plan


def test_opening_the_store_recreates_an_index_whose_bulk_load_died_and_leaves_a_live_one(
    workspace: Workspace,
) -> None:
    """``deferred_indexes`` names an index a bulk load took away: put back when its process is gone."""
    import os
    import subprocess
    import sys

    from sauti.bulk_indexes import defer_secondary_indexes

    pid_of = [sys.executable, "-c", "import os; print(os.getpid())"]
    gone = subprocess.run(pid_of, capture_output=True, text=True, check=True)
    with workspace.session() as con, Workspace.transaction(con):
        defer_secondary_indexes(con, "incidents")  # by this (living) process
    assert _incident_indexes(workspace) == []  # a session of this process leaves its own load alone
    with workspace.session() as con:
        assert con.execute("SELECT pid FROM deferred_indexes").fetchall()[0][0] == os.getpid()
        con.execute("UPDATE deferred_indexes SET pid = ?", (int(gone.stdout),))
    assert _incident_indexes(workspace) == ["incidents_occurred_on"]  # that session's open put it back
    with workspace.session() as con:
        assert con.execute("SELECT COUNT(*) FROM deferred_indexes").fetchone()[0] == 0
