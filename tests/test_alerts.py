"""Alert ingest from files: shapes, headers, rejects, geocoding, idempotency, the CLI (submissions to the
service: tests/test_alert_submit.py; field parsing: tests/test_alert_fields.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from sauti.cli import main
from sauti.ingest.alerts import (
    ingest_alerts,
    set_verification,
    submit_alerts,
)
from sauti.ingest.errors import IngestError
from sauti.store import Workspace

PHONE = "+236 72 12 34 56"
NAME = "Jean-Paul Ngakoutou"


@pytest.fixture
def ws(car_workspace: Workspace) -> Workspace:
    """A fresh workspace holding the CAR admin2 and admin3 boundaries (files are ingested into it)."""
    return car_workspace


def _csv(path: Path, header: str, *rows: str) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


FR_HEADER = (
    "date_reception;telephone;nom;canal;message;categorie;lieu;latitude;longitude;verification;gravite"
)
EN_HEADER = (
    "received_at,reporter_phone,reporter_name,channel,text,category,place,latitude,longitude,"
    "verification,severity"
)
FR_ROWS = (
    f"04/03/2021 10:22;{PHONE};{NAME};SMS;Hommes armés près de Bambary, rappelez-moi au 72 12 34 56 - "
    "Jean-Paul;mouvement de groupe armé;;;;;3",
    "05/03/2021 08:00;;Marie Yangbéla;en personne;Tension entre éleveurs et agriculteurs;tension;"
    "Kaga-Bandoro;;;vérifié;2",
)
EN_ROWS = (
    f'2021-03-04 10:22,{PHONE},{NAME},sms,"Hommes armés près de Bambary, rappelez-moi au 72 12 34 56 - '
    'Jean-Paul",armed group movement,,,,,3',
    "2021-03-05 08:00,,Marie Yangbéla,in person,Tension entre éleveurs et agriculteurs,intercommunal,"
    "Kaga-Bandoro,,,verified,2",
)


@pytest.mark.parametrize(
    ("header", "rows"), [(FR_HEADER, FR_ROWS), (EN_HEADER, EN_ROWS)], ids=["french", "english"]
)
def test_csv_headers_in_french_or_english_give_the_same_alerts(
    ws: Workspace, tmp_path: Path, header: str, rows: tuple[str, ...]
) -> None:
    report = ingest_alerts(ws, _csv(tmp_path / "alerts.csv", header, *rows))
    assert report.summary()["accepted"] == 2
    assert report.rejected == 0
    alerts = ws.alerts().set_index("place_name")
    first, second = alerts.loc["Bambary"], alerts.loc["Kaga-Bandoro"]
    # naive local times (Africa/Bangui, UTC+1) are stored in UTC
    assert first["received_at"] == pd.Timestamp("2021-03-04T09:22:00Z")
    assert (first["channel"], first["category"], first["verification"], first["severity"]) == (
        "sms",
        "armed_group_movement",
        "unverified",
        3,
    )
    assert first["text"] == "Hommes armés près de Bambary, rappelez-moi au [phone] - [name]-[name]"
    assert (first["locality_id"], first["location_source"]) == ("CF4311", "gazetteer")
    assert 0.7 < first["locality_confidence"] < 0.9  # misspelt, found in free text
    assert (second["channel"], second["category"], second["verification"]) == (
        "in_person",
        "intercommunal_tension",
        "verified",
    )
    assert (second["locality_id"], second["locality_confidence"]) == ("CF4211", 1.0)
    assert first["reporter_ref"].startswith("rep_")
    assert first["reporter_ref"] != second["reporter_ref"]


def test_same_file_twice_adds_nothing_and_ids_are_stable(ws: Workspace, tmp_path: Path) -> None:
    path = _csv(tmp_path / "alerts.csv", FR_HEADER, *FR_ROWS)
    ingest_alerts(ws, path)
    ids = sorted(ws.alerts()["alert_id"])
    again = ingest_alerts(ws, path)
    assert (again.read, again.accepted, again.duplicates) == (2, 0, 2)
    assert sorted(ws.alerts()["alert_id"]) == ids
    # the same alert in English headers is the same alert
    english = ingest_alerts(ws, _csv(tmp_path / "en.csv", EN_HEADER, *EN_ROWS))
    assert english.duplicates == 2


@pytest.mark.parametrize(
    ("cells", "field", "reason"),
    [
        ("04/03/2021 10:22;;;SMS;texte;;;;;;7", "severity", "out of range 1-5"),
        ("04/03/2021 10:22;;;SMS;texte;;;;;;2.5", "severity", "not a whole number 1-5"),
        ("01/01/2099 10:00;;;SMS;texte;;;;;;", "received_at", "date is in the future"),
        ("31/02/2021 10:00;;;SMS;texte;;;;;;", "received_at", "not a date"),
        (";;;SMS;texte;;;;;;", "received_at", "required value is missing"),
        ("04/03/2021 10:22;;;pigeon;texte;;;;;;", "channel", "not one of sms, phone, in_person, app"),
        ("04/03/2021 10:22;;;72114462;texte;;;;;;", "channel", "holds a phone number, not a channel"),
        ("04/03/2021 10:22;;;SMS;texte;;;;;peut-être;", "verification", "not one of unverified"),
        ("04/03/2021 10:22;;;SMS;;;;;;;", "text", "neither text nor category"),
        ("04/03/2021 10:22;;;SMS;texte;;;5.5;;;", "latitude", "only one of longitude/latitude"),
        ("04/03/2021 10:22;;;SMS;texte;;;95;150;;", "latitude", "out of range"),
        ("04/03/2021 10:22;;;SMS;texte;;;120.6;5.7;;", "latitude", "look swapped"),
        ("04/03/2021 10:22;;;SMS;texte;;;abc;20;;", "latitude", "not a number"),
    ],
    ids=[
        "severity-high",
        "severity-fraction",
        "future",
        "impossible-date",
        "no-date",
        "channel",
        "channel-phone-number",
        "verification",
        "empty-alert",
        "half-point",
        "lat-out-of-range",
        "swapped",
        "lat-not-number",
    ],
)
def test_bad_rows_are_rejected_with_field_and_reason(
    ws: Workspace, tmp_path: Path, cells: str, field: str, reason: str
) -> None:
    good = "04/03/2021 10:22;;;SMS;tout est calme;autre;;;;;1"
    path = _csv(tmp_path / "alerts.csv", FR_HEADER, good, cells)
    report = ingest_alerts(ws, path)
    assert (report.read, report.accepted, report.rejected) == (2, 1, 1)
    rejects = pd.read_csv(report.rejects_file, dtype=str)
    assert rejects["row"].tolist() == ["3"]  # spreadsheet row: header is row 1
    assert rejects["field"].iloc[0] == field
    assert reason in rejects["reason"].iloc[0]


def test_a_swap_suspected_from_the_boundaries_is_kept_with_a_warning(ws: Workspace, tmp_path: Path) -> None:
    """20.6 N 5.7 E lies in Niger; swapped it lies in CAR. A guess: the alert is stored as written."""
    row = "04/03/2021 10:22;;;SMS;texte;;;20.6;5.7;;"
    report = ingest_alerts(ws, _csv(tmp_path / "alerts.csv", FR_HEADER, row))
    assert (report.read, report.accepted, report.rejected) == (1, 1, 0)
    assert report.warnings == [
        "1 alert lies outside the boundaries but would lie inside if latitude and longitude were"
        " swapped: stored as written; check the file's coordinate columns"
    ]
    with ws.session() as con:
        assert [tuple(r) for r in con.execute("SELECT latitude, longitude FROM alerts")] == [(20.6, 5.7)]


def test_rejected_rows_show_only_pseudonymised_scrubbed_values(ws: Workspace, tmp_path: Path) -> None:
    """The rejects file holds what a reply leaving the store may hold: no phone, no name, no
    pseudonym, and the point only to 0.1° (the exact one, from a reporter's phone, can find them)."""
    row = f"04/03/2021 10:22;{PHONE};{NAME};SMS;Ici {NAME}, appelez le 75 11 22 33;autre;;6,03817;23,90412;;9"
    report = ingest_alerts(ws, _csv(tmp_path / "alerts.csv", FR_HEADER, row))
    assert report.rejected == 1
    content = Path(report.rejects_file).read_text(encoding="utf-8")
    raw = json.loads(pd.read_csv(report.rejects_file)["raw"].iloc[0])
    assert "reporter_ref" not in raw
    assert "rep_" not in content
    assert (raw["latitude"], raw["longitude"]) == ("6.0", "23.9")
    for exact in ("6.03817", "6,03817", "23.90412", "23,90412", "038", "904"):
        assert exact not in content
    assert "reporter_phone" not in raw
    assert "reporter_name" not in raw
    assert raw["text"] == "Ici [name], appelez le [phone]"
    for secret in ("72 12 34 56", "72123456", "Ngakoutou", "75 11 22 33", "Jean-Paul"):
        assert secret not in content


def test_an_alert_the_store_refuses_is_shown_without_pseudonym_or_exact_point(ws: Workspace) -> None:
    """The store's own last check (a NOT NULL column) rejects with the same view as the checks
    before it: no ``reporter_ref``, the point to 0.1°."""
    from sauti.ingest.runs import ingest_run

    row = {
        "alert_id": "al_x", "received_at": "2021-03-04T10:22:00Z", "reporter_ref": "rep_0123456789abcdef",
        "channel": "sms", "text": "calme", "category": None, "longitude": 23.90412, "latitude": 6.03817,
        "place_name": None, "locality_id": None, "locality_confidence": None, "location_source": "point",
        "verification": "unverified", "severity": None, "created_at": "t", "updated_at": "t",
    }  # fmt: skip
    with ingest_run(ws, "alerts", Path("api:test"), payload=b"refused") as run:
        run.count_read(1)
        assert run.store("alerts", pd.DataFrame([row], index=[1])) == 0
    rejects = pd.read_csv(run.report.rejects_file, dtype=str)
    assert rejects["field"].tolist() == ["category"]
    content = Path(run.report.rejects_file).read_text(encoding="utf-8")
    raw = json.loads(rejects["raw"].iloc[0])
    assert (raw["longitude"], raw["latitude"]) == ("23.9", "6.0")
    assert "reporter_ref" not in raw
    for hidden in ("rep_0123456789abcdef", "23.90412", "6.03817"):
        assert hidden not in content


def test_a_row_with_surplus_fields_is_rejected_and_shows_nothing(ws: Workspace, tmp_path: Path) -> None:
    """A semicolon inside an unquoted value moves the name where the text should be, the phone under
    the name: the row is rejected, and neither its values nor any pseudonym of them is shown."""
    good = "04/03/2021 10:22;;;SMS;tout est calme;autre;;;;;1"
    shifted = f"04/03/2021 10:22;Bria; poste;{PHONE};{NAME};SMS;mouvement;;;;;2"
    path = _csv(tmp_path / "alerts.csv", FR_HEADER, good, shifted, good.replace("calme", "calme ici"))
    report = ingest_alerts(ws, path)
    assert (report.read, report.accepted, report.rejected) == (3, 2, 1)
    rejects = pd.read_csv(report.rejects_file, dtype=str, keep_default_na=False)
    assert rejects[["row", "field"]].values.tolist() == [["3", "(row)"]]
    assert "more fields than the header" in rejects["reason"].iloc[0]
    assert set(json.loads(rejects["raw"].iloc[0]).values()) == {""}
    content = Path(report.rejects_file).read_text(encoding="utf-8")
    for secret in ("72 12 34 56", "Ngakoutou", "Jean-Paul", "Bria", "poste"):
        assert secret not in content
    assert sorted(ws.alerts()["text"]) == ["tout est calme", "tout est calme ici"]


def test_unresolved_alert_is_stored_not_dropped(ws: Workspace, tmp_path: Path) -> None:
    row = "04/03/2021 10:22;;;SMS;Des hommes armés vers Kwéyazi;;Kwéyazi;;;;"
    report = ingest_alerts(ws, _csv(tmp_path / "alerts.csv", FR_HEADER, row))
    assert report.accepted == 1
    stored = ws.alerts().iloc[0]
    assert stored["location_source"] == "unresolved"
    assert stored["locality_id"] is None
    assert pd.isna(stored["locality_confidence"])
    assert stored["place_name"] == "Kwéyazi"


def test_resolution_order_pcode_then_point_then_place_then_text(ws: Workspace) -> None:
    bangui_point = {"longitude": 18.56, "latitude": 4.37}
    base = {"received_at": "2021-03-04T10:00:00Z", "text": "Attaque à Ndele"}
    records = [
        {**base, **bangui_point, "locality_id": "CF4311", "place_name": "Bria"},
        {**base, **bangui_point, "locality_id": "CF0000", "place_name": "Bria"},  # unknown P-code: next
        {**base, "place_name": "Bria"},
        {**base},
        {**base, "longitude": 2.35, "latitude": 48.85},  # outside every locality: falls through to text
    ]
    for n, record in enumerate(records):  # distinct texts, else they are one alert (same id)
        record["text"] += f" ({n})"
    outcomes = submit_alerts(ws, records, source="test")
    got = [(o.location_source, o.locality_id) for o in outcomes]
    assert got[0] == ("locality_id", "CF4311")
    assert got[1][0] == "point"
    assert got[1][1].startswith("CF71")
    assert got[2] == ("gazetteer", "CF521")
    assert got[3] == ("gazetteer", "CF511")
    assert got[4] == ("gazetteer", "CF511")
    stored = ws.alerts().set_index("alert_id")
    assert stored.loc[outcomes[4].alert_id, "longitude"] == 2.35  # the point is kept, in the store only


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("list.json", json.dumps([{"received_at": "2022-01-01T10:00:00Z", "text": "Attaque à Bria"}])),
        ("wrapped.json", json.dumps({"alerts": [{"date": "01/01/2022 11:00", "message": "Attaque à Bria"}]})),
        (
            "lines.jsonl",
            json.dumps({"received_at": "2022-01-01T10:00:00Z", "text": "Attaque à Bria"}) + "\n\n",
        ),
        (
            "sms.json",
            json.dumps(
                {"from": "+23672123456", "text": "Attaque à Bria", "received_at": "2022-01-01T10:00:00Z"}
            ),
        ),
        (
            "points.geojson",
            json.dumps(
                {
                    "type": "FeatureCollection",
                    "features": [
                        {
                            "type": "Feature",
                            "properties": {"received_at": "2022-01-01T10:00:00Z", "text": "Attaque"},
                            "geometry": {"type": "Point", "coordinates": [22.0, 6.53]},
                        }
                    ],
                }
            ),
        ),
    ],
    ids=["json-list", "json-alerts-key", "json-lines", "sms-gateway-object", "geojson-points"],
)
def test_json_shapes(ws: Workspace, tmp_path: Path, name: str, content: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    report = ingest_alerts(ws, path)
    assert (report.read, report.accepted) == (1, 1)
    stored = ws.alerts().iloc[0]
    assert stored["received_at"] == pd.Timestamp("2022-01-01T10:00:00Z")
    assert stored["locality_id"].startswith("CF52")  # Bria, by name or by point
    if name == "sms.json":
        assert stored["channel"] == "sms"
        assert stored["reporter_ref"].startswith("rep_")
    if name == "points.geojson":
        assert stored["location_source"] == "point"


def test_a_json_file_with_two_record_lists_is_refused_not_half_read(ws: Workspace, tmp_path: Path) -> None:
    """Reading the first list and skipping the second would lose its alerts without a word."""
    one = {"date": "01/01/2022 11:00", "message": "Attaque à Bria"}
    two = {"date": "02/01/2022 11:00", "message": "Tension à Ndele"}
    path = tmp_path / "two.json"
    path.write_text(json.dumps({"data": [one], "alerts": [two]}), encoding="utf-8")
    with pytest.raises(IngestError, match=r"two\.json: .*two lists of records, 'data' and 'alerts'"):
        ingest_alerts(ws, path)
    assert ws.alerts().empty


def test_missing_date_column_is_fatal_and_names_the_file(ws: Workspace, tmp_path: Path) -> None:
    path = _csv(tmp_path / "nodate.csv", "telephone,message", f"{PHONE},bonjour")
    with pytest.raises(IngestError, match=r"nodate\.csv: no received_at column"):
        ingest_alerts(ws, path)
    assert ws.alerts().empty


VERIFIED_HEADER = "received_at,text,place,verification,verified_at"


def test_verified_at_is_read_checked_and_defaults_to_received_at(ws: Workspace, tmp_path: Path) -> None:
    path = _csv(
        tmp_path / "alerts.csv",
        VERIFIED_HEADER,
        "2021-03-04T10:00:00Z,Tension à Bria,Bria,verified,",  # no date: decided when received
        "2021-03-04T11:00:00Z,Tension à Ndélé,Ndélé,verified,2021-04-02T09:00:00Z",
        "2021-03-04T12:00:00Z,Tension à Bambari,Bambari,false alarm,2021-03-01T09:00:00Z",  # before
        "2021-03-04T13:00:00Z,Tension à Kaga-Bandoro,Kaga-Bandoro,verified,bientôt",
        "2021-03-04T14:00:00Z,Tension à Bossangoa,Bossangoa,unverified,",
    )
    report = ingest_alerts(ws, path)
    assert (report.read, report.accepted, report.rejected) == (5, 3, 2)
    rejects = pd.read_csv(report.rejects_file, dtype=str)
    assert rejects[["row", "field"]].values.tolist() == [["4", "verified_at"], ["5", "verified_at"]]
    assert rejects["reason"].tolist()[0] == "before received_at"
    made = ws.alert_verifications().merge(ws.alerts()[["alert_id", "place_name"]], on="alert_id")
    decided = dict(zip(made["place_name"], made["decided_at"].dt.strftime("%Y-%m-%dT%H:%M"), strict=True))
    assert decided == {"Bria": "2021-03-04T10:00", "Ndélé": "2021-04-02T09:00"}
    assert set(made["source"]) == {"file"}
    again = ingest_alerts(ws, path)  # duplicates add no second decision
    assert again.duplicates == 3
    assert len(ws.alert_verifications()) == 2


def test_features_count_a_verification_only_from_the_period_it_was_made(
    ws: Workspace, tmp_path: Path
) -> None:
    """No look-ahead: an alert verified in April counts as unverified in March, its own period."""
    from sauti.features import compute_features

    path = _csv(
        tmp_path / "alerts.csv",
        VERIFIED_HEADER,
        "2021-03-04T10:00:00Z,Tension à Bria,Bria,verified,2021-03-20T10:00:00Z",
        "2021-03-05T10:00:00Z,Tension à Bria encore,Bria,verified,2021-04-02T09:00:00Z",
        "2021-03-06T10:00:00Z,Tension à Bria toujours,Bria,,",
        "2021-04-10T10:00:00Z,Calme à Bria,Bria,,",
    )
    ingest_alerts(ws, path)
    bria = ws.alerts()["locality_id"].iloc[0]

    def counts() -> dict[str, list[int]]:
        cube = compute_features(ws, freq="M", unit="admin2").sel(locality=bria)
        return {k: cube[f"alerts_{k}"].to_numpy().astype(int).tolist() for k in ("verified", "unverified")}

    assert counts() == {"verified": [1, 0], "unverified": [2, 1]}  # March, April
    # an analyst decides today (2026) about the third: the past periods do not change
    third = ws.alerts().sort_values("received_at")["alert_id"].iloc[2]
    set_verification(ws, third, "verified")
    assert counts() == {"verified": [1, 0], "unverified": [2, 1]}
    assert (ws.alerts()["verification"] == "verified").sum() == 3  # today's state is still stored


def test_cli_json_summary_and_fatal_error(
    ws: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    path = _csv(tmp_path / "alerts.csv", FR_HEADER, *FR_ROWS, "04/03/2021 10:22;;;SMS;x;;;;;;8")
    code = main(["--workspace", str(ws.root), "ingest", "alerts", str(path), "--json"])
    out = capsys.readouterr().out
    assert code == 0
    summary = json.loads(out)
    assert list(summary) == ["read", "accepted", "rejected", "duplicates", "rejects_file"]
    assert (summary["read"], summary["accepted"], summary["rejected"], summary["duplicates"]) == (3, 2, 1, 0)
    assert Path(summary["rejects_file"]).exists()
    code = main(["--workspace", str(ws.root), "ingest", "alerts", str(tmp_path / "missing.csv"), "--json"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().count("\n") == 0
    assert "missing.csv" in err
    assert "Traceback" not in err


def test_bad_input_files(ws: Workspace, tmp_path: Path) -> None:
    header = "date;message;lieu"
    # a gigantic field is rejected, the row beside it kept
    huge = _csv(
        tmp_path / "huge.csv", header, f"04/03/2021 10:00;{'x' * 100_001};", "04/03/2021 10:00;ok;Bria"
    )
    report = ingest_alerts(ws, huge)
    assert (report.read, report.accepted, report.rejected) == (2, 1, 1)
    rejects = pd.read_csv(report.rejects_file)
    assert rejects["reason"].iloc[0] == "longer than 100000 characters"
    assert len(rejects["raw"].iloc[0]) < 3_000  # the rejects file keeps a cut copy
    # a legacy Windows-1252 export is read with its accents
    legacy = tmp_path / "legacy.csv"
    legacy.write_bytes(f"{header}\n05/03/2021 10:00;Tension à Kaga-Bandoro;Mbrès\n".encode("cp1252"))
    report = ingest_alerts(ws, legacy)
    assert report.accepted == 1
    stored = ws.alerts().set_index("place_name")
    assert stored.loc["Mbrès", "text"] == "Tension à Kaga-Bandoro"
    # Excel's "Unicode text": UTF-16 with a BOM, tab-separated
    wide = tmp_path / "unicode_text.txt"
    wide.write_bytes("date\tmessage\tlieu\n05/03/2021 12:00\tDéplacés à Ndélé\tNdélé\n".encode("utf-16"))
    report = ingest_alerts(ws, wide)
    assert (report.accepted, report.rejected) == (1, 0)
    assert ws.alerts().set_index("place_name").loc["Ndélé", "text"] == "Déplacés à Ndélé"
    # invalid UTF-8 bytes inside a UTF-8 file: that row is rejected
    mixed = tmp_path / "mixed.csv"
    mixed.write_bytes(
        f"{header}\n06/03/2021 10:00;Déplacés à Bria;\n".encode() + b"06/03/2021 11:00;bad \xff byte;\n"
    )
    report = ingest_alerts(ws, mixed)
    assert (report.accepted, report.rejected) == (1, 1)
    assert pd.read_csv(report.rejects_file)["reason"].iloc[0] == "holds bytes that are not valid UTF-8"
    # the same row twice in one file: one accepted, one duplicate
    twice = _csv(
        tmp_path / "twice.csv", header, "07/03/2021 10:00;Attaque;Bria", "07/03/2021 10:00;Attaque;Bria"
    )
    report = ingest_alerts(ws, twice)
    assert (report.read, report.accepted, report.duplicates) == (2, 1, 1)
    # an empty file is fatal
    (tmp_path / "empty.csv").write_text("", encoding="utf-8")
    with pytest.raises(IngestError, match="empty"):
        ingest_alerts(ws, tmp_path / "empty.csv")


def test_mission_time_zone_comes_from_settings_at_the_cli(ws: Workspace, tmp_path: Path, monkeypatch) -> None:
    """The library takes the time zone as a parameter; the CLI passes the setting (SAUTI_TIMEZONE)."""
    from sauti.settings import get_settings

    juba = _csv(tmp_path / "juba.csv", "date;message", "04/03/2021 10:22;calme")
    monkeypatch.setenv("SAUTI_TIMEZONE", "Africa/Juba")  # UTC+2 (South Sudan mission)
    get_settings.cache_clear()
    try:
        assert main(["--workspace", str(ws.root), "ingest", "alerts", str(juba), "--json"]) == 0
    finally:
        get_settings.cache_clear()
    assert ws.alerts()["received_at"].iloc[0] == pd.Timestamp("2021-03-04T08:22:00Z")
    bangui = _csv(tmp_path / "bangui.csv", "date;message", "04/03/2021 10:22;toujours calme")
    ingest_alerts(ws, bangui, timezone="Africa/Bangui")  # UTC+1
    assert sorted(ws.alerts()["received_at"])[-1] == pd.Timestamp("2021-03-04T09:22:00Z")


NUMERIC_IDS = ("99120001", "99120002", "4471234567890123")


def test_numeric_alert_ids_are_keys_not_phone_numbers(ws: Workspace, tmp_path: Path) -> None:
    """An SMS gateway's or KoboToolbox's numeric id is kept as written: three distinct alerts."""
    rows = [f"{i},2021-03-0{k + 1} 10:00,{PHONE},Tension à Bria" for k, i in enumerate(NUMERIC_IDS)]
    path = _csv(tmp_path / "sms.csv", "sms_id,received_at,from,text", *rows)
    first = ingest_alerts(ws, path)
    assert first.summary() | {"rejects_file": None} == {
        "read": 3, "accepted": 3, "rejected": 0, "duplicates": 0, "rejects_file": None,
    }  # fmt: skip
    assert sorted(ws.alerts()["alert_id"]) == sorted(NUMERIC_IDS)
    second = ingest_alerts(ws, path)
    assert (second.accepted, second.duplicates) == (0, 3)  # true key matches only
    outcomes = submit_alerts(ws, [{"alert_id": "99120003", "text": "calme", "received_at": "2021-03-05"}])
    assert (outcomes[0].status, outcomes[0].alert_id) == ("accepted", "99120003")


def test_an_alert_id_holding_the_reporters_own_number_is_keyed(ws: Workspace, tmp_path: Path) -> None:
    rows = ["75123498,2021-03-01 10:00,+236 75 12 34 98,calme", "75123499,2021-03-01 10:00,,calme"]
    path = _csv(tmp_path / "own.csv", "id,received_at,telephone,text", *rows)
    assert ingest_alerts(ws, path).accepted == 2
    ids = sorted(ws.alerts()["alert_id"])
    assert ids[0] == "75123499"
    assert ids[1].startswith("id_")
    assert "75123498" not in ids[1]
    assert ingest_alerts(ws, path).duplicates == 2  # the keyed id is as stable a key
