"""The store on both back-ends: SQLite (a file in the workspace) and PostgreSQL + PostGIS (a real
server, see ``postgres_fixtures.py``): migrations, inserts, transactions, ingest counts, accounts,
Idempotency-Key replies, copies both ways, backup and restore, and the GIS role's limits.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from live_server import copy_workspace
from store_rows import incident_rows

from sauti import db
from sauti.api.services import accounts
from sauti.api.services.idempotency import IdempotencyKey, save_reply, stored_reply
from sauti.ingest.alerts import ingest_alerts
from sauti.ingest.boundaries import ingest_boundaries
from sauti.ingest.incidents import ingest_incidents
from sauti.schema import migrations as _migrations
from sauti.store import Workspace, insert_new
from sauti.store_admin import backup, copy_store, create_gis_role, restore, table_counts

AWSD = "awsd_security_incidents_1997-2025.csv"
COUNTED = ("localities", "incidents", "alerts", "risk_scores", "audit_log")


@pytest.fixture
def store(tmp_path: Path, store_url: str | None) -> Workspace:
    """An empty workspace whose store is SQLite or a fresh PostgreSQL database."""
    return Workspace(tmp_path / "ws", store_url)


def _run(con) -> int:
    return con.execute(
        "INSERT INTO ingest_runs (kind, path, sha256, started_at, status) VALUES ('t', 'p', 's', 't', 'ok')"
        " RETURNING run_id"
    ).fetchone()[0]


def test_a_new_store_is_migrated_to_the_latest_revision(store: Workspace) -> None:
    assert store.schema_version() == _migrations(store.backend)[-1][0]
    assert store.status()["incidents"] == 0
    if store.backend == db.POSTGRESQL:
        assert not (store.root / "sauti.sqlite").exists()  # nothing of SQLite on PostgreSQL


def test_insert_new_counts_new_rows_and_names_the_refused_field(store: Workspace) -> None:
    rows = incident_rows(5)
    rows.loc[3, "category"] = None  # NOT NULL
    with store.session() as con, Workspace.transaction(con):
        rows["run_id"] = _run(con)
        new, failed = insert_new(con, "incidents", rows)
        again, _ = insert_new(con, "incidents", rows.drop(index=3))
    assert (new, again) == (4, 0)
    assert [(label, message) for label, message in failed] == [
        (3, "NOT NULL constraint failed: incidents.category")
    ]
    stored = store.incidents()
    assert sorted(stored["event_id"]) == ["t:0", "t:1", "t:2", "t:4"]
    assert stored["longitude"].tolist() == [20.5, 20.501, 20.502, 20.504]  # doubles, not 4-byte floats


def _store_then_fail(store: Workspace) -> None:
    with store.session() as con, Workspace.transaction(con):
        insert_new(con, "incidents", incident_rows(3).assign(run_id=_run(con)))
        raise RuntimeError("boom")


def test_a_transaction_is_all_or_nothing(store: Workspace) -> None:
    with pytest.raises(RuntimeError):
        _store_then_fail(store)
    assert store.status()["incidents"] == 0
    assert store.status()["ingest_runs"] == 0


def test_users_revocation_and_audit(store: Workspace) -> None:
    user, key = accounts.add_user(store, "gateway-1", "reporter")
    assert accounts.active_user_by_key_hash(store, accounts.hash_key(key))["name"] == "gateway-1"
    before = accounts.revocation_marker(store)
    accounts.revoke_user(store, "gateway-1", by="admin", by_role="admin", resource="cli")
    assert accounts.active_user(store, user["user_id"]) is None
    assert accounts.revocation_marker(store) != before
    assert [e["action"] for e in accounts.audit_entries(store)] == ["revoke_user"]
    second, _ = accounts.add_user(store, "gateway-2", "reporter")
    assert second["user_id"] == user["user_id"] + 1


def test_an_idempotency_reply_is_kept_with_its_key(store: Workspace) -> None:
    claim = IdempotencyKey("gw", "k1", "POST", "/api/v1/alerts", "abc")
    with store.session() as con, Workspace.transaction(con):
        assert stored_reply(con, claim) is None
        save_reply(con, claim, 201, {"alert_id": "a1", "note": "100% sure?"})
    with store.session() as con:
        assert stored_reply(con, claim) == (201, {"alert_id": "a1", "note": "100% sure?"})


def test_the_sample_ingests_with_the_same_counts_on_both(
    tmp_path: Path, postgres_url: str, sample_dir: Path, shared_data: Path
) -> None:
    """The sample (UCDP, CAR) and held-out files (AWSD, another event source; South Sudan counties)."""
    reports = {}
    for name, url in (("sqlite", None), ("postgresql", postgres_url)):
        ws = Workspace(tmp_path / name, url)
        got = [
            ingest_boundaries(ws, sample_dir / "boundaries" / "caf_adm2.gpkg", "admin2"),
            ingest_boundaries(ws, shared_data / "boundaries" / "SSD" / "ocha_codab_ssd_adm2.shp", "admin2"),
            ingest_incidents(ws, sample_dir / "events" / "ucdp_ged_v23_1_CAF.geojson"),
            ingest_incidents(ws, shared_data / "events" / AWSD, "csv", "awsd"),
            ingest_alerts(ws, sample_dir / "alerts" / "synthetic_alerts.csv"),
        ]
        reports[name] = [(r.read, r.accepted, r.rejected, r.duplicates) for r in got]
        reports[name + "-status"] = {
            k: v for k, v in ws.status().items() if k not in ("workspace", "store", "schema_version")
        }
        if url:
            assert not (ws.root / "sauti.sqlite").exists()
        reports[name + "-placed"] = _assignments(ws)  # on PostgreSQL: point-in-polygon in PostGIS
    assert reports["sqlite"] == reports["postgresql"]
    assert reports["sqlite-status"] == reports["postgresql-status"]
    assert reports["sqlite"][3][0] == 4337  # every AWSD row read
    placed = reports["sqlite-placed"]
    assert reports["postgresql-placed"] == placed  # every incident in the same locality, placed alike
    assert sum(how == "contains" for _, how in placed.values()) > 1000


@pytest.fixture(scope="module")
def postgres_sample(sample_workspace_template: Path, tmp_path_factory, postgres_server: str):
    """The sample workspace (demo: model, scores) with its store copied into a PostgreSQL database."""
    import uuid

    from postgres_fixtures import TEMPLATE, _admin

    name = f"sauti_sample_{uuid.uuid4().hex[:8]}"
    _admin(postgres_server, f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
    url = postgres_server.rsplit("/", 1)[0] + "/" + name
    root = copy_workspace(sample_workspace_template, tmp_path_factory.mktemp("pg-sample") / "ws")
    counts = copy_store(Workspace(root), Workspace(root, url))
    assert all(a == b for a, b in counts.values()), counts
    yield Workspace(root, url)
    _admin(postgres_server, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.mark.gdal
def test_the_risk_view_opens_in_ogrinfo_as_72_polygons(postgres_sample: Workspace) -> None:
    done = subprocess.run(
        ["ogrinfo", "-ro", "-so", f"PG:{db.libpq_url(postgres_sample.database_url)}", "sauti_risk_latest"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Geometry: Multi Polygon" in done.stdout
    assert "Feature Count: 72" in done.stdout
    for column in ("locality_id", "name", "level", "period", "probability", "rank", "change", "drivers"):
        assert f"\n{column}: " in done.stdout, column
    with postgres_sample.session() as con:
        top = con.execute("SELECT name, drivers, model_name FROM sauti_risk_latest WHERE rank = 1").fetchone()
        stored = con.execute("SELECT COUNT(geom) FROM incidents").fetchone()[0]
        located = con.execute("SELECT COUNT(*) FROM incidents WHERE longitude IS NOT NULL").fetchone()[0]
    assert "_" not in top["drivers"]  # plain words, not feature names
    assert "incidents" in top["drivers"]
    assert stored == located > 0


def test_a_gis_role_reads_the_risk_layer_but_no_alert_detail(postgres_sample: Workspace) -> None:
    import psycopg

    create_gis_role(postgres_sample, "qgis_reader", "not-a-secret-1")
    url = db.libpq_url(postgres_sample.database_url).replace("sauti:sauti@", "qgis_reader:not-a-secret-1@")
    with psycopg.connect(url, autocommit=True) as con:
        assert con.execute("SELECT COUNT(*) FROM sauti_risk_latest").fetchone()[0] == 72
        assert con.execute("SELECT SUM(alerts) FROM sauti_alert_counts").fetchone()[0] > 0
        assert con.execute("SELECT COUNT(*) FROM localities").fetchone()[0] > 0
        for query in (
            "SELECT text FROM alerts",
            "SELECT reporter_ref FROM alerts",
            "SELECT latitude FROM alerts",
            "SELECT * FROM api_users",
            "SELECT * FROM audit_log",
            "SELECT * FROM idempotency_keys",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                con.execute(query)


def test_copy_to_postgresql_and_back_keeps_every_row_and_the_secret(
    postgres_sample: Workspace, tmp_path: Path
) -> None:
    laptop = Workspace(tmp_path / "laptop")
    counts = copy_store(postgres_sample, laptop, secret_to=laptop.root)
    expected = table_counts(postgres_sample, list(COUNTED))
    assert {t: counts[t] for t in COUNTED} == {t: (n, n) for t, n in expected.items()}
    assert counts["incidents"][0] > 0
    assert counts["risk_scores"][0] > 0
    assert laptop.secret() == postgres_sample.secret()  # pseudonyms stay valid
    assert laptop.fingerprint() is not None
    with pytest.raises(Exception, match="already holds data"):
        copy_store(postgres_sample, laptop)


def test_backup_and_restore(store: Workspace, tmp_path: Path) -> None:
    if store.backend == db.POSTGRESQL and shutil.which("pg_dump") is None:
        pytest.fail("pg_dump is missing (postgresql-client-15)")
    with store.session() as con, Workspace.transaction(con):
        insert_new(con, "incidents", incident_rows(4).assign(run_id=_run(con)))
    path = backup(store, tmp_path / "store.backup")
    with store.session() as con, Workspace.transaction(con):
        insert_new(con, "incidents", incident_rows(9).assign(run_id=_run(con)))
    assert store.status()["incidents"] == 9
    restore(store, path)
    assert store.status()["incidents"] == 4
    assert store.status()["ingest_runs"] == 1


def test_point_in_polygon_in_the_database_agrees_with_shapely(postgres_sample: Workspace) -> None:
    from sauti.features.assign import locate_points

    localities = postgres_sample.localities("admin2")
    incidents = postgres_sample.incidents().dropna(subset=["longitude", "latitude"])
    position, _snapped = locate_points(
        incidents["longitude"].to_numpy(), incidents["latitude"].to_numpy(), localities, tolerance_km=0
    )
    inside = position >= 0
    ids = localities["locality_id"].to_numpy()[position[inside]]
    expected = dict(zip(incidents["event_id"][inside], ids, strict=True))
    located = postgres_sample.locate_incidents("admin2")
    assert len(expected) > 1000
    assert dict(zip(located["event_id"], located["locality_id"], strict=True)) == expected


def test_db_status_and_upgrade_from_the_cli(tmp_path: Path, store_url: str | None, capsys) -> None:

    from sauti.cli import main

    base = ["--workspace", str(tmp_path / "ws")] + (["--database", store_url] if store_url else [])
    assert main([*base, "db", "status", "--json"]) == 0
    before = json.loads(capsys.readouterr().out)
    assert before["backend"] == ("postgresql" if store_url else "sqlite")
    assert before["revision"] is None
    assert before["pending"][0] == "0001_store.sql"
    assert main([*base, "db", "upgrade"]) == 0
    capsys.readouterr()
    assert main([*base, "db", "status", "--json"]) == 0
    after = json.loads(capsys.readouterr().out)
    assert after["pending"] == []
    assert after["revision"] == max(n for n, _name, _sql in _migrations(after["backend"]))
    if store_url:
        assert "sauti:***@" in after["url"]  # the password never printed
        assert not (tmp_path / "ws" / "sauti.sqlite").exists()
    else:
        assert main([*base, "db", "gis-role", "qgis"]) == 2
        assert "needs the PostgreSQL store" in capsys.readouterr().err


def test_a_bulk_batch_with_one_refused_row_stores_the_rest(store: Workspace) -> None:
    """On PostgreSQL a batch this large goes by COPY; a refused row sends it to the row-finding path."""
    rows = incident_rows(1500)
    rows.loc[700, "category"] = None
    with store.session() as con, Workspace.transaction(con):
        rows["run_id"] = _run(con)
        new, failed = insert_new(con, "incidents", rows)
    assert new == 1499
    assert failed == [(700, "NOT NULL constraint failed: incidents.category")]
    assert store.status()["incidents"] == 1499


def _squares_and_points(store: Workspace) -> pd.DataFrame:
    """Three 1°×1° squares in a row (ids ``Z-2 | Z_1 | Z_3``: code-point order differs from a
    locale's) and points inside, on the shared edges and corners, and outside; stored as
    localities and incidents. Returns the stored incidents."""
    import shapely
    from shapely.geometry import box

    squares = [("Z-2", box(20, 5, 21, 6)), ("Z_1", box(21, 5, 22, 6)), ("Z_3", box(22, 5, 23, 6))]
    points = {
        "inside": (20.5, 5.5),
        "edge-12": (21.0, 5.5),  # shared by Z-2 and Z_1: the smaller id in code-point order, Z-2
        "corner-12": (21.0, 6.0),
        "edge-13": (22.0, 5.25),  # shared by Z_1 and Z_3: Z_1
        "outer-edge": (23.0, 5.5),  # on Z_3's outer edge only
        "outside": (25.0, 5.5),
    }
    localities = pd.DataFrame(
        {
            "locality_id": [i for i, _ in squares],
            "name": ["West", "Middle", "East"],
            "level": "admin2",
            "area_km2": 12_300.0,
            "geometry": [shapely.to_wkb(g) for _, g in squares],
            "minx": [g.bounds[0] for _, g in squares],
            "miny": [g.bounds[1] for _, g in squares],
            "maxx": [g.bounds[2] for _, g in squares],
            "maxy": [g.bounds[3] for _, g in squares],
        }
    )
    incidents = incident_rows(len(points)).assign(
        event_id=list(points),
        longitude=[p[0] for p in points.values()],
        latitude=[p[1] for p in points.values()],
    )
    with store.session() as con, Workspace.transaction(con):
        run = _run(con)
        insert_new(con, "localities", localities.assign(run_id=run))
        insert_new(con, "incidents", incidents.assign(run_id=run))
    return store.incidents()


def test_points_on_shared_borders_go_to_the_same_locality_on_both(store: Workspace) -> None:
    """On PostgreSQL the point-in-polygon step runs in PostGIS; edges and corners resolve as in memory."""
    from sauti.features.assign import CONTAINED_IN, assign_to_localities
    from sauti.features.compute import located_in_store

    incidents = located_in_store(store, _squares_and_points(store), "admin2")
    assert (CONTAINED_IN in incidents) == (store.backend == db.POSTGRESQL)
    out = assign_to_localities(incidents, store.localities("admin2"), tolerance_km=0)
    got = dict(zip(out["event_id"], out["locality_id"], strict=True))
    assert got == {
        "inside": "Z-2",
        "edge-12": "Z-2",
        "corner-12": "Z-2",
        "edge-13": "Z_1",
        "outer-edge": "Z_3",
        "outside": None,
    }


def _assignments(ws: Workspace) -> dict[str, tuple]:
    """Each incident's admin2 locality and how it was placed, as the feature cube places it."""
    from sauti.features.assign import assign_to_localities
    from sauti.features.compute import located_in_store

    incidents = located_in_store(ws, ws.incidents(), "admin2")
    out = assign_to_localities(incidents, ws.localities("admin2"), tolerance_km=5)
    return dict(zip(out["event_id"], zip(out["locality_id"], out["assignment"], strict=True), strict=True))


def test_copy_batches_count_duplicates_only_on_a_true_key_match(store: Workspace) -> None:
    """A batch large enough for COPY: a key repeated inside it and one stored by an earlier batch
    are duplicates (one row stored each); text needing escapes, NULLs and NaN read back as written."""
    rows = incident_rows(1500).astype({"longitude": "float64"})
    rows["text"] = None
    rows.loc[1, "text"] = "tab\there, line\nbreak, back\\slash, \\N and a CR\r"
    rows.loc[2, "text"] = "\\N"
    rows.loc[3, "longitude"] = float("nan")
    rows.loc[3, "latitude"] = float("nan")
    rows.loc[4, "actor1"] = ""
    first = rows.iloc[:1000]
    second = pd.concat([rows.iloc[900:], rows.iloc[[1000]]], ignore_index=True)  # 100 stored, 1 repeated
    with store.session() as con, Workspace.transaction(con):
        run = _run(con)
        new_first, failed_first = insert_new(con, "incidents", first.assign(run_id=run))
        new_second, failed_second = insert_new(con, "incidents", second.assign(run_id=run))
    assert (new_first, new_second) == (1000, 500)
    assert failed_first == failed_second == []
    stored = store.incidents().set_index("event_id")
    assert len(stored) == 1500
    assert stored.loc["t:1", "text"] == "tab\there, line\nbreak, back\\slash, \\N and a CR\r"
    assert stored.loc["t:2", "text"] == "\\N"
    assert stored["text"].isna().sum() == 1498
    assert pd.isna(stored.loc["t:3", "longitude"])
    assert pd.isna(stored.loc["t:3", "latitude"])
    assert stored.loc["t:4", "actor1"] == ""  # an empty string is not NULL
    assert stored.loc["t:1234", "longitude"] == 20.5 + 1234 / 1000  # doubles keep every digit


def test_copy_batches_after_stored_keys_and_after_new_ones(store: Workspace) -> None:
    """Batches on one connection alternating between new keys and stored ones (on PostgreSQL the
    first kind is copied without a look-up, the second is refused, looked up and copied again):
    every count is right and every row stored once, with its first values."""
    rows = incident_rows(4000)
    batches = [
        rows.iloc[:1000],  # new
        rows.iloc[:1000].assign(source="again"),  # all stored
        rows.iloc[1000:2000],  # new again, after a batch of stored keys
        pd.concat([rows.iloc[1500:3000], rows.iloc[[2999]]]).assign(source="half"),  # 500 stored, 1 repeated
        rows.iloc[3000:4000],  # new
    ]
    with store.session() as con, Workspace.transaction(con):
        run = _run(con)
        counts = [insert_new(con, "incidents", batch.assign(run_id=run)) for batch in batches]
    assert counts == [(1000, []), (0, []), (1000, []), (1000, []), (1000, [])]
    stored = store.incidents().set_index("event_id")
    assert len(stored) == 4000
    assert (stored.loc[[f"t:{i}" for i in range(2000)], "source"] == "test").all()
    assert (stored.loc[[f"t:{i}" for i in range(2000, 3000)], "source"] == "half").all()
    assert (stored.loc[[f"t:{i}" for i in range(3000, 4000)], "source"] == "test").all()


def test_an_incident_needs_its_ingest_run(store: Workspace) -> None:
    """The run an incident names must exist, and a run holding incidents cannot be deleted (on
    PostgreSQL a check per statement, not the foreign key's per-row trigger: migration 0013)."""
    import sqlite3

    for n in (3, 1500):  # bound rows, and a COPY batch: every row refused, the reason named
        with store.session() as con, Workspace.transaction(con):
            new, failed = insert_new(con, "incidents", incident_rows(n).assign(run_id=_run(con) + 1))
        assert new == 0
        assert len(failed) == n
        assert {message for _, message in failed} == {"FOREIGN KEY constraint failed"}
    with store.session() as con, Workspace.transaction(con):
        run = _run(con)
        assert insert_new(con, "incidents", incident_rows(3).assign(run_id=run)) == (3, [])
    with store.session() as con:
        con.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY constraint failed"):
            con.execute("DELETE FROM ingest_runs WHERE run_id = ?", (run,))
        con.execute("ROLLBACK")
    assert store.status()["incidents"] == 3


def test_the_data_stamp_changes_with_a_write_and_again_at_its_commit(store: Workspace) -> None:
    """The service's cache check: a write by another connection changes the stamp, and a view built
    while that write was not yet committed is not kept past its COMMIT."""
    before = store.fingerprint()
    with store.session() as con:
        con.execute("BEGIN IMMEDIATE")
        insert_new(con, "incidents", incident_rows(2).assign(run_id=_run(con)))
        if store.backend == db.POSTGRESQL:  # SQLite: one writer, readers see the last commit
            during = store.fingerprint()
            assert during != before
        con.execute("COMMIT")
        during = before if store.backend == db.SQLITE else during
    after = store.fingerprint()
    assert after not in (before, during)
    assert store.fingerprint() == after  # nothing written: the same stamp
    if store.backend == db.POSTGRESQL:
        with store.session() as con:
            plan = con.execute("EXPLAIN SELECT last_value FROM sauti_data_stamp").fetchall()
        assert "Seq Scan on sauti_data_stamp" in plan[0][0]  # a one-row sequence, not a table scan


def test_a_key_stored_meanwhile_by_another_writer_is_a_duplicate(postgres_url: str, tmp_path: Path) -> None:
    """PostgreSQL: a batch whose keys were new when looked up is copied straight into the table; if
    another writer stores one of them before that COPY ends, the batch is copied again through the
    staging table and that row counts as a duplicate — nothing doubled, nothing lost."""
    import threading
    import time

    store = Workspace(tmp_path / "ws", postgres_url)
    rows = incident_rows(1500)
    with store.session() as con, Workspace.transaction(con):
        run = _run(con)
    other = store.connect()
    other.execute("BEGIN")
    insert_new(other, "incidents", rows.iloc[[700]].assign(run_id=run, source="other"))  # not committed
    outcome: dict = {}

    def bulk() -> None:
        with store.session() as con, Workspace.transaction(con):
            outcome["result"] = insert_new(con, "incidents", rows.assign(run_id=run))

    worker = threading.Thread(target=bulk)
    worker.start()
    time.sleep(1.0)  # the bulk COPY is now waiting on the other writer's row t:700
    assert worker.is_alive()
    other.execute("COMMIT")
    other.close()
    worker.join(timeout=60)
    assert outcome["result"] == (1499, [])
    stored = store.incidents().set_index("event_id")
    assert len(stored) == 1500
    assert stored.loc["t:700", "source"] == "other"  # the first writer's row is kept
    assert (stored.drop(index="t:700")["source"] == "test").all()


@pytest.fixture
def icu_postgres_url(postgres_server: str) -> str:
    """A fresh database whose default collation is ICU's en-US, as a mission server's often is (it
    sorts ``_x`` before ``-y`` and ``b`` before ``B``; code-point order does neither)."""
    import uuid

    import psycopg
    from postgres_fixtures import _admin

    name = f"sauti_icu_{uuid.uuid4().hex[:12]}"
    try:
        _admin(
            postgres_server,
            f"CREATE DATABASE {name} TEMPLATE template0"
            " LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'",
        )
    except psycopg.Error as exc:  # a server built without ICU
        pytest.skip(f"no ICU collation on this server: {exc}")
    _admin(postgres_server, "CREATE EXTENSION IF NOT EXISTS postgis", database=name)
    yield postgres_server.rsplit("/", 1)[0] + "/" + name
    _admin(postgres_server, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_incidents_are_listed_in_the_same_order_whatever_the_database_locale(
    tmp_path: Path, icu_postgres_url: str
) -> None:
    """Incidents of one day come back ordered by key in code-point order on SQLite and on a
    PostgreSQL database with another default collation (migration 0014: incidents' key and date
    compare byte by byte)."""
    ids = ["a", "B", "_x", "-y", "b", "é", "A1", "a-2"]
    rows = incident_rows(len(ids)).assign(event_id=ids, occurred_on="2020-01-01")
    listed = {}
    for name, url in (("sqlite", None), ("postgresql", icu_postgres_url)):
        ws = Workspace(tmp_path / name, url)
        with ws.session() as con, Workspace.transaction(con):
            insert_new(con, "incidents", rows.assign(run_id=_run(con)))
        listed[name] = ws.incidents()["event_id"].tolist()
    assert listed["sqlite"] == listed["postgresql"] == sorted(ids)
