"""Do No Harm: no reporter phone number or name from the synthetic alerts reaches the workspace or the logs.

The synthetic alerts (and rejected ones, and API submissions, and the SMS-gateway file) are
ingested into a real workspace; then EVERY file in the workspace folder (the SQLite database with
its WAL and SHM, rejects files, the secret, anything else) is read as bytes and searched for every
reporter's phone number in several written forms and every reporter's name in several spellings.
The log output of the ingest at DEBUG level and the CLI's output are searched the same way.
"""

from __future__ import annotations

import functools
import logging
import unicodedata
from pathlib import Path

import pytest
from live_server import LiveServer, sauti

from sauti.cli import main
from sauti.ingest.alerts import ingest_alerts, set_verification, submit_alerts
from sauti.ingest.alerts.synthetic import CSV_NAME, GATEWAY_NAME, Reporter, reporter_pool
from sauti.ingest.boundaries import ingest_boundaries
from sauti.store import Workspace


def _spellings(text: str) -> set[str]:
    plain = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    forms = {text, unicodedata.normalize("NFD", text), plain}
    return forms | {f.lower() for f in forms} | {f.upper() for f in forms}


def needles(reporter: Reporter) -> dict[bytes, str]:
    """Every byte string that would betray this reporter (-> a label for the failure message).

    Minimal forms only: the 8 local digits are inside ``+236…``/``00236…``/``236…``, the spaced
    digits inside ``+236 7X XX XX XX``, and the surname inside the full name.
    """
    d = reporter.local_digits
    pairs = [d[i : i + 2] for i in range(0, 8, 2)]
    phones = {d, " ".join(pairs), "-".join(pairs), ".".join(pairs), f"{d[:4]} {d[4:]}"}
    surname = reporter.name.split(" ", 1)[1]
    out = {}
    for text in phones | _spellings(surname):
        for encoding in ("utf-8", "utf-16-le"):
            # compared with an ASCII-lower-cased haystack (so "NGAKOUTOU" and "ngakoutou" are one scan)
            out[text.encode(encoding).lower()] = f"{text!r} ({encoding}) of {reporter.phone}"
    return out


@functools.cache
def _all_needles(pool: tuple[Reporter, ...]) -> dict[bytes, str]:
    out: dict[bytes, str] = {}
    for reporter in pool:
        out.update(needles(reporter))
    return out


def find(haystack: bytes, pool: list[Reporter]) -> list[str]:
    """Labels of every reporter identifier found in ``haystack`` (case-insensitive for ASCII)."""
    lowered = haystack.lower()
    return [label for needle, label in _all_needles(tuple(pool)).items() if needle in lowered]


def test_no_reporter_identifier_anywhere_in_the_workspace_or_the_logs(
    tmp_path: Path, sample_dir: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture
) -> None:
    pool = reporter_pool()
    source = sample_dir / "alerts" / CSV_NAME
    # positive control: the input really holds the identifiers, and the scanner sees them
    raw_input = source.read_bytes()
    assert len({label.split(" of ")[1] for label in find(raw_input, pool)}) == len(pool)

    ws = Workspace(tmp_path / "ws")
    ingest_boundaries(ws, sample_dir / "boundaries" / "caf_adm2.gpkg", "admin2")
    ingest_boundaries(ws, sample_dir / "boundaries" / "caf_adm3.gpkg", "admin3")
    keeper = ws.connect()  # held open so the WAL and SHM files stay on disk to be scanned
    keeper.execute("SELECT COUNT(*) FROM localities").fetchone()
    caplog.set_level(logging.DEBUG)
    try:
        # 1. the spreadsheet through the real CLI, twice (the second run is all duplicates)
        for _ in range(2):
            assert (
                main(["--workspace", str(ws.root), "--verbose", "ingest", "alerts", str(source), "--json"])
                == 0
            )
        # 2. the SMS-gateway file
        gateway = ingest_alerts(ws, sample_dir / "alerts" / GATEWAY_NAME)
        assert gateway.accepted == gateway.read > 0
        # 3. a spreadsheet where identifiers sit in the wrong columns and rows are rejected
        a, b = pool[0], pool[1]
        bad = tmp_path / "bad.csv"
        bad.write_text(
            "date_reception;telephone;nom;message;gravite;lieu;categorie;latitude;longitude\n"
            f"{a.phone};{a.phone};{a.name};Appelez {b.phone} ou {a.local_digits};3;;;;\n"
            f"01/01/2099 10:00;{a.phone};{a.name};C'est {a.name}, au {a.phone};2;{a.name};;;\n"
            f"04/03/2021 10:00;{b.phone};{b.name};rappel;{b.local_digits};chez {b.name};;;\n"
            f"04/03/2021 11:00;;{b.name};{b.name} signale;9;;{b.name};{b.local_digits};18\n"
            f"04/03/2021 12:00;{b.phone};;le {b.phone} signale une attaque à Bria;2;;;;\n",
            encoding="utf-8",
        )
        report = ingest_alerts(ws, bad)
        assert (report.read, report.rejected) == (5, 4)
        # 4. API submissions, accepted and rejected, then an analyst's verdict
        c = pool[2]
        outcomes = submit_alerts(
            ws,
            [
                {
                    "from": c.phone.replace(" ", ""),
                    "text": f"Hommes armés à Ndele, {c.name} au {c.local_digits}",
                },
                {"reporter_name": c.name, "text": f"{c.name.split()[1]} a vu une attaque", "severity": 8},
                {"reporter_phone": c.phone, "place_name": c.phone, "text": "x", "channel": c.name},
            ],
            source="privacy-test",
        )
        assert [o.status for o in outcomes] == ["accepted", "rejected", "rejected"]
        set_verification(ws, outcomes[0].alert_id, "verified")

        files = [p for p in ws.root.rglob("*") if p.is_file()]
        names = {p.name for p in files}
        assert {"sauti.sqlite", "sauti.sqlite-wal", "sauti.sqlite-shm", "secret.key"} <= names
        assert sum(n.endswith(".rejects.csv") for n in names) >= 4
        stored = ws.alerts()
        assert len(stored) > 2_500
        assert stored["text"].str.contains("[phone]", regex=False).sum() > 100
        for path in files:
            assert find(path.read_bytes(), pool) == [], f"reporter identifier found in {path.name}"
    finally:
        keeper.close()
    # after the last connection closed (WAL checkpointed into the database)
    for path in [p for p in ws.root.rglob("*") if p.is_file()]:
        assert find(path.read_bytes(), pool) == [], f"reporter identifier found in {path.name}"
    captured = capsys.readouterr()
    assert any(r.levelno == logging.DEBUG for r in caplog.records)  # DEBUG really was captured
    assert "ingested alerts" in caplog.text
    for name, text in (("log", caplog.text), ("stdout", captured.out), ("stderr", captured.err)):
        assert find(text.encode("utf-8"), pool) == [], f"reporter identifier found in {name}"


# the unusual forms the hostile run found reaching analysts, and the issue's own example
PHONE_FORMS = (
    "tel23677665544",
    "72/11/44/55",
    "+236 - 71 - 62 - 53 - 48",
    "23673665541abc",
    "_23674665542",
    "78.66.55.43",
    "75 12 34 98",
    # issue 20: forms a field audit found passing the detector
    "72,11,44,29",
    "72:11:44:30",
    "72*11*44*34",
    "72\u200b11\u200b44\u200b33",
    "72  -  11  -  44  -  32",
    "72\u064011\u064044\u064051",
    "72\u201911\u201944\u201952",
)
MIXED_FORM = "sept deux 72 11 quarante-quatre 35"
"""Digits mixed with number words: its digits alone are too few to find, the form itself is the needle."""
REPORTER = "Ali Ngaikoisset"
OTHER_IDENTIFIERS = {
    # what the text holds -> what must not come back (and the placeholder it becomes)
    "secours.bambari@gmail.com": ({b"secours.bambari", b"bambari@gmail"}, "[email]"),
    "CNI CF-1987-0045871": ({b"0045871", b"CF-1987"}, "[id-number]"),
    "passeport AB0457": ({b"AB0457"}, "[id-number]"),
    "ID 7211446": ({b"7211446", b"721 1446"}, "[id-number]"),
    "signé ngaikoisset72": ({b"ngaikoisset"}, "[name]"),
}
PHONE_IDS = ("sms-23672114465", "0023672114466", "tel:+23672114467")
"""Alert ids carrying someone's number: stored as their keyed pseudonym."""
KEPT = ("15/01/2022", "1 500", "2023-01-15", "14:30", "12 maisons brûlées", "CF4112")
"""Dates, times, counts and P-codes the wider detector must not take for numbers."""


def _digit_needles(form: str) -> set[bytes]:
    """The number's digits as they could be written back: joined, and in pairs or fours with any separator."""
    digits = "".join(ch for ch in form if ch.isdigit())
    local = digits[-8:]
    pairs = [local[i : i + 2] for i in range(0, 8, 2)]
    out = {digits, local, f"{local[:4]} {local[4:]}"}
    out |= {sep.join(pairs) for sep in (" ", "-", ".", "/", " - ")}
    return {n.encode() for n in out}


def all_needles() -> set[bytes]:
    """Every byte string of the unusual forms, identifiers and phone-bearing ids that must not come back."""
    needles = set().union(*(_digit_needles(f) for f in (*PHONE_FORMS, *PHONE_IDS)))
    needles |= {f.encode() for f in PHONE_FORMS} | {MIXED_FORM.encode(), b"quarante-quatre 35"}
    return needles.union(*(n for n, _ in OTHER_IDENTIFIERS.values()))


def found_in(data: bytes) -> list[bytes]:
    lowered = data.lower()
    return [n for n in all_needles() if n.lower() in lowered]


TEXT = (
    "Appelez "
    + ", ".join((*PHONE_FORMS, MIXED_FORM))
    + " — réunion le 15/01/2022, environ 1 500 déplacés; le 2023-01-15 à 14:30, 12 maisons brûlées à CF4112. "
    + ", ".join(OTHER_IDENTIFIERS)
)


def test_no_digit_of_an_unusual_phone_form_anywhere_in_the_workspace(
    tmp_path: Path, sample_dir: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture
) -> None:
    text = TEXT
    ws = Workspace(tmp_path / "ws")
    ingest_boundaries(ws, sample_dir / "boundaries" / "caf_adm2.gpkg", "admin2")
    keeper = ws.connect()
    keeper.execute("SELECT COUNT(*) FROM localities").fetchone()
    caplog.set_level(logging.DEBUG)
    try:
        source = tmp_path / "forms.csv"
        source.write_text(
            "id,received_at,text,place,gravite,nom\n"
            f'99120001,2021-03-04 10:00,"{text}","près de {PHONE_FORMS[1]}",3,{REPORTER}\n'
            f'{PHONE_IDS[0]},2021-03-04 10:30,"{text}",Bria,2,{REPORTER}\n'
            f'99120002,2021-03-04 11:00,"{text}",Bria,9,{REPORTER}\n'  # rejected (severity): rejects file
            f'{PHONE_IDS[1]},2021-03-04 11:30,"{text}",Bria,9,\n',  # rejected, its id shown keyed
            encoding="utf-8",
        )
        for _ in range(2):  # the second run: duplicates, found by the keyed ids too
            assert (
                main(["--workspace", str(ws.root), "--verbose", "ingest", "alerts", str(source), "--json"])
                == 0
            )
        outcomes = submit_alerts(
            ws,
            [
                {"text": text, "place": PHONE_FORMS[2], "alert_id": PHONE_IDS[2], "reporter_name": REPORTER},
                {"text": text, "severity": 0},
                {"text": text, "alert_id": PHONE_IDS[2], "reporter_name": REPORTER},  # the same alert again
            ],
        )
        assert [o.status for o in outcomes] == ["accepted", "rejected", "duplicate"]
        stored = ws.alerts()
        assert len(stored) == 3
        assert set(stored["alert_id"]) >= {"99120001"}  # the id is a key, never scrubbed
        assert sum(i.startswith("id_") for i in stored["alert_id"]) == 2  # the ids holding a number
        for kept in KEPT:  # dates, times, counts and P-codes survive
            assert stored["text"].str.contains(kept, regex=False).all(), kept
        for placeholder in ("[email]", "[id-number]", "[name]", "[phone]"):
            assert stored["text"].str.contains(placeholder, regex=False).all(), placeholder
        files = [p for p in ws.root.rglob("*") if p.is_file()]
        assert any(p.name.endswith(".rejects.csv") for p in files)
        for path in files:
            assert found_in(path.read_bytes()) == [], f"identifier found in {path.name}"
    finally:
        keeper.close()
    for path in [p for p in ws.root.rglob("*") if p.is_file()]:
        assert found_in(path.read_bytes()) == [], f"identifier found in {path.name}"
    captured = capsys.readouterr()
    for name, logged in (("log", caplog.text), ("stdout", captured.out), ("stderr", captured.err)):
        assert found_in(logged.encode()) == [], f"identifier found in {name}"


def test_positive_control_the_scan_sees_every_form_as_sent() -> None:
    for sent in (*PHONE_FORMS, MIXED_FORM, *OTHER_IDENTIFIERS, *PHONE_IDS):
        assert found_in(f"x {sent} y".encode()), sent


def test_no_unusual_form_comes_back_from_the_live_service(server: LiveServer, tmp_path: Path) -> None:
    """Issue 20 through real HTTP: the 201 reply, OGC items, the PATCH by the id as the gateway wrote
    it, a 404 for an unknown id, the audit log, an export and the server's own log hold none of the
    forms, identifiers and phone-bearing ids sent."""
    replies: list[tuple[str, bytes]] = []
    ids = []
    with server.client("reporter") as client:
        for n, alert_id in enumerate(PHONE_IDS):
            record = {
                "alert_id": alert_id,
                "text": f"{TEXT} ({n})",
                "reporter_name": REPORTER,
                "place": "Bria",
                "received_at": "2022-12-01T10:00:00Z",
            }
            first, again = (
                client.post("/api/v1/alerts", json=record),
                client.post("/api/v1/alerts", json=record),
            )
            assert first.status_code == 201, first.text
            assert again.json()["status"] == "duplicate"
            assert again.json()["alert_id"] == first.json()["alert_id"] != alert_id
            replies += [("201 reply", first.content), ("duplicate reply", again.content)]
            ids.append(first.json()["alert_id"])
    assert all(i.startswith("id_") for i in ids)
    with server.client("analyst") as client:
        # the analyst can verify by the id as the gateway wrote it: it finds the keyed one
        verified = client.patch(f"/api/v1/alerts/{PHONE_IDS[0]}", json={"verification": "verified"})
        assert verified.status_code == 200, verified.text
        assert verified.json()["alert_id"] == ids[0]
        missing = client.patch("/api/v1/alerts/+23672114495", json={"verification": "verified"})
        assert missing.status_code == 404
        assert "72114495" not in missing.text
        items = client.get("/ogc/collections/alerts/items", params={"limit": 10000})
        assert items.status_code == 200
        served = {f["properties"].get("alert_id") for f in items.json()["features"]}
        assert set(ids) <= served
        replies += [
            ("PATCH reply", verified.content),
            ("404 reply", missing.content),
            ("OGC items", items.content),
        ]
    audit = server.get("/api/v1/audit", role="admin", params={"limit": 10000})
    assert audit.status_code == 200
    assert any(e["action"] == "verify_alert" for e in audit.json())
    replies.append(("audit", audit.content))
    out = tmp_path / "alerts.csv"
    done = sauti("export", "alerts", "--role", "analyst", "--out", str(out), workspace=server.workspace)
    assert done.returncode == 0, done.stderr
    assert all(i in out.read_text(encoding="utf-8") for i in ids)  # the export holds these alerts
    replies += [("export", out.read_bytes()), ("server log", server.log.read_bytes())]
    assert b"/api/v1/alerts/" in server.log.read_bytes()  # the access log was written
    for where, data in replies:
        assert found_in(data) == [], f"identifier found in the {where}"
