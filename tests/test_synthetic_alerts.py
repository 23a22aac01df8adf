"""The synthetic Community Alert Network stream: deterministic, labelled, with a real warning signal."""

from __future__ import annotations

import json
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from sauti.ingest.alerts import parse_received_at
from sauti.ingest.alerts.synthetic import (
    CSV_NAME,
    GATEWAY_NAME,
    UNRESOLVABLE_PLACES,
    gateway_records,
    generate_alerts,
    reporter_pool,
)
from sauti.ingest.boundaries import ingest_boundaries
from sauti.ingest.gazetteer import Gazetteer
from sauti.store import Workspace


@pytest.fixture(scope="module")
def frame(sample_dir: Path) -> pd.DataFrame:
    return generate_alerts(sample_dir)


@pytest.fixture(scope="module")
def gaz(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path) -> tuple[Gazetteer, pd.DataFrame]:
    ws = Workspace(tmp_path_factory.mktemp("car") / "ws")
    ingest_boundaries(ws, sample_dir / "boundaries" / "caf_adm2.gpkg", "admin2")
    ingest_boundaries(ws, sample_dir / "boundaries" / "caf_adm3.gpkg", "admin3")
    return Gazetteer.from_workspace(ws), ws.localities().set_index("locality_id")


def test_reporter_pool_is_seeded_unique_and_car_formatted() -> None:
    pool = reporter_pool()
    assert pool == reporter_pool()
    assert pool != reporter_pool(seed=1)
    assert len(pool) == 50
    assert len({r.name for r in pool}) == 50
    assert len({r.phone for r in pool}) == 50
    assert all(re.fullmatch(r"\+236 7[0257]( \d\d){3}", r.phone) for r in pool)
    forms = pool[0].phone_forms()
    assert forms[0] == pool[0].phone
    assert pool[0].local_digits in forms


def test_generator_is_deterministic_and_the_committed_sample_is_its_output(
    frame: pd.DataFrame, sample_dir: Path
) -> None:
    pd.testing.assert_frame_equal(frame, generate_alerts(sample_dir))
    public = frame[[c for c in frame.columns if not c.startswith("_")]].astype(str)
    committed = pd.read_csv(sample_dir / "alerts" / CSV_NAME, dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(committed, public.reset_index(drop=True))
    lines = (sample_dir / "alerts" / GATEWAY_NAME).read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == gateway_records()


def test_sample_is_labelled_synthetic(frame: pd.DataFrame, sample_dir: Path) -> None:
    assert (frame["synthetic"] == "true").all()
    assert all(r["synthetic"] is True for r in gateway_records())
    readme = (sample_dir / "README.md").read_text(encoding="utf-8")
    assert CSV_NAME in readme
    assert "synthetic" in readme.lower()


def test_modest_size_span_and_mix(frame: pd.DataFrame) -> None:
    assert 2_000 <= len(frame) <= 5_000
    when = parse_received_at(frame["date_reception"], "Africa/Bangui")
    assert when.isna().sum() == (frame["_invalid"] == "date_reception").sum()
    assert when.min() >= pd.Timestamp("2015-12-31", tz="UTC")
    assert when.max() <= pd.Timestamp("2023-01-01", tz="UTC")
    assert set(frame["canal"]) >= {"SMS", "appel", "en personne", "application"}
    noise = frame[frame["_kind"] == "noise"]
    assert (noise["verification"] == "fausse alerte").mean() > 0.3  # many false alarms
    assert (frame["_kind"] == "precursor").sum() >= 100
    modes = frame["_place_mode"].value_counts()
    assert {"point", "column", "text", "none", "unresolvable"} <= set(modes.index)
    assert (frame.loc[frame["_place_mode"] == "point", "latitude"] != "").all()
    assert (frame.loc[frame["_place_mode"] != "point", "latitude"] == "").all()
    assert 0 < (frame["_invalid"] != "").sum() < len(frame) * 0.02


def test_texts_are_french_and_english_with_phones_and_own_names(frame: pd.DataFrame) -> None:
    text = frame["message"]
    assert text.str.contains(r"\b(?:près de|vers|hommes armés)\b").sum() > 300
    assert text.str.contains(r"\b(?:near|Armed|Families)\b").sum() > 300
    pool = reporter_pool()
    with_phone = [
        any(f in t for f in pool[r].phone_forms()) for t, r in zip(text, frame["_reporter"], strict=True)
    ]
    assert 100 < sum(with_phone) < len(frame) / 3
    own_first = [pool[r].name.split()[0] in t for t, r in zip(text, frame["_reporter"], strict=True)]
    assert sum(own_first) > 50
    assert text.str.contains(r"\b(?:Ndele|Kaga Bandoro|Berberati|Mbaiki|Yaloke|Dekoa)\b").sum() > 5


def test_place_names_are_written_with_variants_and_misspellings(
    frame: pd.DataFrame, sample_dir: Path
) -> None:
    official = set()
    for level in ("adm2", "adm3"):
        names = gpd.read_file(sample_dir / "boundaries" / f"caf_{level}.gpkg")[f"admin{level[-1]}Name"]
        official |= set(names)
    written = frame.loc[frame["_place_mode"] == "column", "lieu"]
    assert written.isin(official).mean() > 0.3  # many as officially spelt
    assert (~written.isin(official)).sum() > 200  # many without accents, in lower case or misspelt


def test_precursors_precede_real_non_state_events_nearby(frame: pd.DataFrame, sample_dir: Path) -> None:
    events = gpd.read_file(sample_dir / "events" / "ucdp_ged_v23_1_CAF.geojson").set_index("id")
    events.index = events.index.astype(str)
    pre = frame[(frame["_kind"] == "precursor") & (frame["_invalid"] != "date_reception")]
    event = events.loc[pre["_event_id"]]
    assert (event["type_of_violence"].astype(int) == 2).all()
    sent = parse_received_at(pre["date_reception"], "Africa/Bangui").to_numpy()
    lead = (pd.to_datetime(event["date_start"], utc=True).to_numpy() - sent) / np.timedelta64(1, "D")
    assert (lead > 0.5).all()
    assert (lead < 29.5).all()
    # place of the alert's locality vs the event: within ~60 km for nearly all precursors
    adm3 = (
        gpd.read_file(sample_dir / "boundaries" / "caf_adm3.gpkg").set_index("admin3Pcod").to_crs("EPSG:6933")
    )
    ev_pts = event.geometry.to_crs("EPSG:6933").to_numpy()
    dist_km = adm3.geometry.loc[pre["_locality_id"]].distance(
        gpd.GeoSeries(ev_pts, crs="EPSG:6933"), align=False
    )
    assert (dist_km.to_numpy() / 1000 < 60).mean() > 0.95


def test_place_names_resolve_to_what_was_written(frame: pd.DataFrame, gaz) -> None:
    gazetteer, localities = gaz
    ok = total = 0
    rows = frame[frame["_place_mode"].isin(["column", "text"])]
    for mode, place, text, named in zip(
        rows["_place_mode"], rows["lieu"], rows["message"], rows["_named_id"], strict=True
    ):
        match = gazetteer.match_name(place) if mode == "column" else gazetteer.resolve(text)
        total += 1
        ok += bool(match) and (
            match.locality_id == named or localities.at[match.locality_id, "admin2_id"] == named
        )
    assert ok / total > 0.97
    for place in UNRESOLVABLE_PLACES:
        assert gazetteer.match_name(place) is None
