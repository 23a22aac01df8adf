"""The gazetteer: real CAR names, misspellings, French and English sentences, names that must not match."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from shapely.geometry import Point

from sauti.ingest.boundaries import ingest_boundaries
from sauti.ingest.errors import IngestError
from sauti.ingest.gazetteer import FUZZY_THRESHOLD, TEXT_FACTOR, Gazetteer, compact, ingest_places
from sauti.store import Workspace


@pytest.fixture(scope="module")
def car_workspace(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path) -> Workspace:
    ws = Workspace(tmp_path_factory.mktemp("car") / "ws")
    ingest_boundaries(ws, sample_dir / "boundaries" / "caf_adm2.gpkg", "admin2")
    ingest_boundaries(ws, sample_dir / "boundaries" / "caf_adm3.gpkg", "admin3")
    return ws


@pytest.fixture(scope="module")
def gaz(car_workspace: Workspace) -> Gazetteer:
    return Gazetteer.from_workspace(car_workspace)


@pytest.mark.parametrize(
    ("text", "locality_id"),
    [
        ("Des hommes armés près de Bambari hier soir", "CF4311"),
        ("Des hommes armés près de Bambar i hier soir", "CF4311"),
        ("tension signalée à Bambary", "CF4311"),
        ("tension à Kaga Bandoro ce matin", "CF4211"),
        ("Tension entre éleveurs à KAGA-BANDORO", "CF4211"),
        ("armed men seen near Ndele", "CF511"),
        ("Attaque à N'Délé, des maisons brûlées", "CF511"),
        ("families fleeing from Bossangoa towards the bush", "CF3211"),
        ("Arrivée de déplacés à Berberati", "CF211"),
        ("Mouvement de motos vers Ouanda Djalle", "CF532"),
        ("Gunshots heard in Obo last night", "CF6311"),
        ("Des coups de feu au marché de Plaadama-Ouaka", "CF4314"),
        ("All quiet in La Mbi", "CF1152"),
        ("Tension dans l'Ouham Pendé", "CF31"),
        ("Threats against traders in Ombella Mpoko", "CF11"),
    ],
    ids=[
        "fr-exact",
        "fr-split-word",
        "fr-misspelt-y",
        "fr-hyphen-as-space",
        "fr-upper-case",
        "en-no-accents",
        "fr-apostrophe-accents",
        "en-sentence",
        "fr-no-accent",
        "fr-two-words-no-accents",
        "en-short-name-capitalised",
        "fr-doubled-letter-in-compound",
        "en-name-starting-with-article",
        "fr-prefecture-not-its-commune-pende",
        "en-prefecture-apostrophe-dropped",
    ],
)
def test_resolve_finds_the_locality_in_free_text(gaz: Gazetteer, text: str, locality_id: str) -> None:
    match = gaz.resolve(text)
    assert match is not None, text
    assert match.locality_id == locality_id
    assert 0 < match.confidence <= TEXT_FACTOR


@pytest.mark.parametrize(
    "text",
    [
        "la situation est calme aujourd'hui",
        "my mom called, all is fine",
        "rappelez-moi au 72 12 34 56",
        "people displaced from the village",
        "Tension à Paris et à Yaoundé",
        "Armed men crossed from Chad and Sudan",
        "Des hommes armés vers Kwéyazi",
        "Attaque du marché, beaucoup de bétail volé",
        "urgent danger please help",
    ],
    ids=[
        "fr-calm",
        "en-lowercase-mom-is-not-Mom",
        "phone-number",
        "en-village-word",
        "foreign-cities",
        "neighbour-countries",
        "made-up-hamlet",
        "fr-market-cattle",
        "en-urgent",
    ],
)
def test_names_that_must_not_match(gaz: Gazetteer, text: str) -> None:
    assert gaz.resolve(text) is None


@pytest.mark.parametrize(
    ("name", "locality_id", "exact"),
    [
        ("Kaga-Bandoro", "CF4211", True),
        ("kaga bandoro", "CF4211", True),
        ("N'Délé", "CF511", True),
        ("Ndele", "CF511", True),
        ("Bambary", "CF4311", False),
        ("Bosangoa", "CF3211", False),
        ("marché de Bambari", "CF4311", False),
    ],
    ids=[
        "hyphen",
        "lower-space",
        "apostrophe",
        "plain",
        "misspelt",
        "missing-letter",
        "phrase-in-place-column",
    ],
)
def test_match_name_in_a_place_column(gaz: Gazetteer, name: str, locality_id: str, exact: bool) -> None:
    match = gaz.match_name(name)
    assert match is not None
    assert match.locality_id == locality_id
    if exact:
        assert match.confidence == 1.0
    else:
        assert FUZZY_THRESHOLD * TEXT_FACTOR <= match.confidence < 1.0


def test_finest_level_wins_and_shared_names_pick_the_one_inside_the_namesake(gaz: Gazetteer) -> None:
    # "Bambari" is an admin2 (CF431) and its seat commune (CF4311): the commune is finer
    bambari = gaz.match_name("Bambari")
    assert (bambari.locality_id, bambari.level) == ("CF4311", "admin3")
    # "Nola" is a commune in Lobaye (CF1216) and one in Sangha-Mbaéré (CF2311) whose sous-préfecture
    # is also "Nola" (CF231): the commune inside its namesake wins, at full confidence
    nola = gaz.match_name("Nola")
    assert nola.locality_id == "CF2311"
    assert nola.confidence == 1.0
    # Bangui: préfecture CF71 and sous-préfecture CF711 — the finer one
    assert gaz.match_name("Bangui").locality_id == "CF711"


def test_short_names_need_an_exact_capitalised_word(gaz: Gazetteer) -> None:
    assert gaz.resolve("Les gens de Fo ont fui").locality_id == "CF2235"
    assert gaz.resolve("fo") is None  # lower-case 2-letter word
    assert gaz.match_name("Obi") is None  # one letter off a 3-letter name is not a match


def test_points_go_to_the_finest_locality_that_contains_them(
    gaz: Gazetteer, car_workspace: Workspace
) -> None:
    adm3 = car_workspace.localities("admin3").set_index("locality_id")
    inside = adm3.geometry["CF4314"].representative_point()
    match = gaz.locate_point(inside.x, inside.y)
    assert (match.locality_id, match.level, match.matched, match.confidence) == (
        "CF4314",
        "admin3",
        "point",
        1.0,
    )
    assert gaz.locate_point(2.35, 48.85) is None  # Paris
    many = gaz.locate_points([inside.x, float("nan")], [inside.y, 5.0])
    assert [m.locality_id if m else None for m in many] == ["CF4314", None]


def test_by_id_accepts_lower_case_p_codes(gaz: Gazetteer) -> None:
    assert gaz.by_id("cf4311").locality_id == "CF4311"
    assert gaz.by_id("CF9999") is None


def test_compact_form() -> None:
    assert compact("N'Délé") == "ndele"
    assert compact("Kaga-Bandoro") == compact("kaga bandoro") == "kagabandoro"
    assert compact("Ombella M'Poko") == "ombellampoko"


def test_hand_built_gazetteer_with_alt_names_and_settlements(three_squares) -> None:
    localities = three_squares.assign(alt_names=[["Alfa"], [], []])
    gaz = Gazetteer(localities, [("Zorrotown", "B", "settlement"), ("Ghost", "NOPE", "settlement")])
    assert gaz.resolve("near beta river").locality_id == "B"  # accent-insensitive: Bêta
    assert gaz.resolve("à Alfa").locality_id == "A"  # alternative name
    assert gaz.resolve("Armed men in Zorotown").locality_id == "B"  # settlement, misspelt
    assert gaz.resolve("Ghost") is None  # a name pointing at an unknown locality is ignored
    assert gaz.locate_point(22.5, 5.5).locality_id == "C"


def test_fuzzy_cache_overflow_loses_no_answer(three_squares) -> None:
    """Keys cached earlier and keys scored now in one call: emptying the full cache keeps both."""
    gaz = Gazetteer(three_squares, [("Zorrotown", "B", "settlement")])
    gaz.FUZZY_CACHE_MAX = 0  # every new key overflows it
    first = gaz._best_fuzzy(["zorotown"])
    both = gaz._best_fuzzy(["zorotown", "gama"])  # one cached, one new: the cache overflows
    assert both[0] == first[0]
    assert both[1] == gaz._best_fuzzy(["gama"])[0]
    assert gaz.resolve("Armed men in Zorotown").locality_id == "B"


def _write_settlements(path: Path) -> Path:
    path.write_text(
        "nom,latitude,longitude,alt_names\n"
        "Gbakoundja,5.62,20.58,Gbakunja\n"  # inside Bambari commune area (Ouaka)
        "Nowhere,48.85,2.35,\n"  # Paris: outside every locality
        ",5.7,20.6,\n",  # no name
        encoding="utf-8",
    )
    return path


def test_settlements_file_extends_the_gazetteer(car_workspace: Workspace, tmp_path: Path) -> None:
    import shutil

    ws = Workspace(tmp_path / "ws")
    shutil.copytree(car_workspace.root, ws.root)
    path = _write_settlements(tmp_path / "villages.csv")
    expected = Gazetteer.from_workspace(ws).locate_point(20.58, 5.62)
    report = ingest_places(ws, path)
    assert (report.read, report.accepted, report.rejected, report.duplicates) == (3, 1, 2, 0)
    import pandas as pd

    reasons = pd.read_csv(report.rejects_file)
    assert sorted(reasons["reason"]) == [
        "point is outside every stored locality",
        "required value is missing",
    ]
    gaz = Gazetteer.from_workspace(ws)
    match = gaz.resolve("Des hommes armés à Gbakoundja")
    assert match.locality_id == expected.locality_id
    assert gaz.resolve("near Gbakunja").locality_id == expected.locality_id  # its alternative name
    again = ingest_places(ws, path)
    assert (again.accepted, again.duplicates, again.rejected) == (0, 1, 2)


def test_settlements_as_geojson_points(car_workspace: Workspace, tmp_path: Path) -> None:
    import shutil

    ws = Workspace(tmp_path / "ws")
    shutil.copytree(car_workspace.root, ws.root)
    point = Point(18.55, 4.37)  # Bangui
    features = [
        {"type": "Feature", "properties": {"name": "Kpetene Ndeko"}, "geometry": point.__geo_interface__}
    ]
    path = tmp_path / "villages.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    report = ingest_places(ws, path)
    assert report.accepted == 1
    match = Gazetteer.from_workspace(ws).resolve("tension à Kpetene Ndeko")
    assert match.locality_id.startswith("CF71")


def test_settlements_need_boundaries_first(tmp_path: Path) -> None:
    path = _write_settlements(tmp_path / "villages.csv")
    with pytest.raises(IngestError, match="no boundaries"):
        ingest_places(Workspace(tmp_path / "empty"), path)


def test_places_command_prints_the_json_summary(
    car_workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    import shutil

    from sauti.cli import main

    shutil.copytree(car_workspace.root, tmp_path / "ws")
    path = _write_settlements(tmp_path / "villages.csv")
    assert main(["--workspace", str(tmp_path / "ws"), "ingest", "places", str(path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["read"] == 3
    assert (summary["accepted"], summary["rejected"], summary["duplicates"]) == (1, 2, 0)


def test_the_workspace_gazetteer_is_kept_until_places_or_boundaries_change(
    car_workspace: Workspace, tmp_path: Path
) -> None:
    import shutil

    from sauti.ingest.alerts.store import workspace_gazetteer

    ws = Workspace(tmp_path / "ws")
    shutil.copytree(car_workspace.root, ws.root)
    first = workspace_gazetteer(ws)
    assert workspace_gazetteer(ws) is first  # the same stored runs: not rebuilt
    assert first.resolve("Des hommes armés à Gbakoundja") is None
    ingest_places(ws, _write_settlements(tmp_path / "villages.csv"))
    after = workspace_gazetteer(ws)
    assert after is not first  # a settlements run: rebuilt, and it knows the new village
    assert after.resolve("Des hommes armés à Gbakoundja") is not None
    other = Workspace(tmp_path / "other")
    shutil.copytree(car_workspace.root, other.root)
    assert workspace_gazetteer(other) is not after  # another workspace never gets this one's names
