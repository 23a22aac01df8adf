"""The store on both back-ends: SQLite (a file in the workspace) and PostgreSQL + PostGIS (a real
server, see ``postgres_fixtures.py``): migrations, inserts, transactions, ingest counts, accounts,
Idempotency-Key replies, copies both ways, backup and restore, and the GIS role's limits.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

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
    assert reports["sqlite"] == reports["postgresql"]
    assert reports["sqlite-status"] == reports["postgresql-status"]
    assert reports["sqlite"][3][0] == 4337  # every AWSD row read


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
    import json

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
