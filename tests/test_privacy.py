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
from sauti.ingest.alerts import ingest_alerts, set_verification, submit_alerts
from sauti.ingest.alerts.synthetic import CSV_NAME, GATEWAY_NAME, Reporter, reporter_pool
from sauti.ingest.boundaries import ingest_boundaries

from sauti.cli import main
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
)


def _digit_needles(form: str) -> set[bytes]:
    """The number's digits as they could be written back: joined, and in pairs or fours with any separator."""
    digits = "".join(ch for ch in form if ch.isdigit())
    local = digits[-8:]
    pairs = [local[i : i + 2] for i in range(0, 8, 2)]
    out = {digits, local, f"{local[:4]} {local[4:]}"}
    out |= {sep.join(pairs) for sep in (" ", "-", ".", "/", " - ")}
    return {n.encode() for n in out}


def test_no_digit_of_an_unusual_phone_form_anywhere_in_the_workspace(
    tmp_path: Path, sample_dir: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture
) -> None:
    needles = set().union(*(_digit_needles(f) for f in PHONE_FORMS))
    text = "Appelez " + ", ".join(PHONE_FORMS) + " — réunion le 15/01/2022, environ 1 500 déplacés"
    ws = Workspace(tmp_path / "ws")
    ingest_boundaries(ws, sample_dir / "boundaries" / "caf_adm2.gpkg", "admin2")
    keeper = ws.connect()
    keeper.execute("SELECT COUNT(*) FROM localities").fetchone()
    caplog.set_level(logging.DEBUG)
    try:
        source = tmp_path / "forms.csv"
        source.write_text(
            "id,received_at,text,place,gravite\n"
            f'99120001,2021-03-04 10:00,"{text}","près de {PHONE_FORMS[1]}",3\n'
            f'99120002,2021-03-04 11:00,"{text}",Bria,9\n',  # rejected (severity): in the rejects file
            encoding="utf-8",
        )
        assert (
            main(["--workspace", str(ws.root), "--verbose", "ingest", "alerts", str(source), "--json"]) == 0
        )
        outcomes = submit_alerts(ws, [{"text": text, "place": PHONE_FORMS[2]}, {"text": text, "severity": 0}])
        assert [o.status for o in outcomes] == ["accepted", "rejected"]
        stored = ws.alerts()
        assert set(stored["alert_id"]) >= {"99120001"}  # the id is a key, never scrubbed
        assert stored["text"].str.contains("15/01/2022", regex=False).all()  # dates survive
        assert stored["text"].str.contains("1 500", regex=False).all()  # counts of people survive
        files = [p for p in ws.root.rglob("*") if p.is_file()]
        assert any(p.name.endswith(".rejects.csv") for p in files)
        for path in files:
            data = path.read_bytes()
            assert [n for n in needles if n in data] == [], f"phone digits found in {path.name}"
    finally:
        keeper.close()
    for path in [p for p in ws.root.rglob("*") if p.is_file()]:
        data = path.read_bytes()
        assert [n for n in needles if n in data] == [], f"phone digits found in {path.name}"
    captured = capsys.readouterr()
    for name, logged in (("log", caplog.text), ("stdout", captured.out), ("stderr", captured.err)):
        assert [n for n in needles if n in logged.encode()] == [], f"phone digits found in {name}"
