"""Unit sets from localities already read (features/units.py): the same frames as reading the store."""

from __future__ import annotations

from pathlib import Path

import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal

from sauti.features import unit_localities
from sauti.features.units import country_outline
from sauti.store import Workspace


@pytest.fixture(scope="module")
def car(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path) -> Workspace:
    """CAR admin0, admin2 and admin3 boundaries (admin1 is made from admin2's parents), GED incidents."""
    from sauti.ingest.boundaries import ingest_boundaries
    from sauti.ingest.incidents import ingest_incidents

    ws = Workspace(tmp_path_factory.mktemp("units") / "ws")
    for level in ("admin0", "admin2", "admin3"):
        ingest_boundaries(ws, sample_dir / "boundaries" / f"caf_adm{level[-1]}.gpkg", level)
    ingest_incidents(ws, sample_dir / "events" / "ucdp_ged_v23_1_CAF.geojson")
    return ws


@pytest.mark.parametrize(
    "unit", ["admin1", "admin2", "admin3", "grid:50km"], ids=["admin1", "admin2", "admin3", "grid-50km"]
)
def test_unit_set_from_stored_localities_equals_reading_the_store(car: Workspace, unit: str) -> None:
    read = unit_localities(car, unit)
    given = unit_localities(car, unit, stored=car.localities())
    assert len(read) > 0
    assert_geodataframe_equal(given, read)


def test_country_outline_from_stored_localities_equals_reading_the_store(car: Workspace) -> None:
    outline, admin0 = country_outline(car)
    given, admin0_given = country_outline(car, car.localities())
    assert shapely.equals(outline, given)
    assert admin0_given["locality_id"] == admin0["locality_id"]


def test_a_missing_level_is_still_named(car: Workspace) -> None:
    from sauti.errors import NotReadyError

    with pytest.raises(NotReadyError, match="has no admin4 localities"):
        unit_localities(car, "admin4", stored=car.localities())


@pytest.mark.parametrize("unit", ["admin2", "grid:50km"], ids=["admin2", "grid-50km"])
def test_a_feature_build_reads_the_localities_once(car: Workspace, unit: str, monkeypatch) -> None:
    """The unit set, the capital, the country outline and the alerts' placement share one read."""
    from sauti.features import compute_features

    calls: list[str | None] = []
    read = Workspace.localities

    def counted(self, level=None):
        calls.append(level)
        return read(self, level)

    monkeypatch.setattr(Workspace, "localities", counted)
    cube = compute_features(car, freq="M", unit=unit, save=False)
    assert calls == [None]
    assert cube.sizes["locality"] > 0
