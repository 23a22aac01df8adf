"""The patrol layer of the map: bases and patrolled localities drawn differently, named, with ranges,
a legend entry and popups in words (issue #11), and nothing fetched from another host."""

from __future__ import annotations

import re

import folium
import pandas as pd
import pytest
from patrol_helpers import bases_at, line_localities, risk_of

from sauti.api.map.patrol import add_patrol_layer, base_popup, percent, target_popup
from sauti.models.patrol import plan_patrols


@pytest.fixture
def plan():
    """Two bases on a line of 2 km squares: Alpha (2 patrols) covers two, Far (1 patrol, outside
    every square) covers one; risks 0.1 … 0.5%."""
    localities = line_localities([0, 10, 20, 30, 40], squares=True)
    localities["name"] = ["Ouango", "Kembé", "Mobaye", "Zangba", "Kouango"]
    risk = risk_of(localities, [0.001, 0.004, 0.005, 0.003, 0.0125])
    bases = bases_at([("Alpha", 20, 2, 12), ("Far", 46, 1, 10)])
    made = plan_patrols(localities, risk, bases)
    made.forecast_period = {"label": "January 2023", "start": "2023-01-01", "end": "2023-01-31"}
    return made


def _render(plan) -> str:
    fmap = folium.Map(tiles=None)
    fmap.default_js, fmap.default_css = [], []  # as api/map/view.py does: Leaflet is served by Sauti
    assert add_patrol_layer(fmap, plan) is not None
    folium.LayerControl().add_to(fmap)
    return fmap.get_root().render()


def test_bases_are_labelled_squares_and_targets_are_outlines_with_ranges(plan) -> None:
    page = _render(plan)
    assert page.count("L.divIcon(") == 2  # one labelled square per base, no image or icon font
    assert page.count("L.circle(") == 2  # the range of each base
    assert '"radius": 12000.0' in page
    assert '"radius": 10000.0' in page
    assert page.count("L.polyline(") == 3  # a route per patrol
    assert page.count('"Polygon"') == 3  # patrolled localities as outlines
    for name in ("Alpha", "Far"):
        assert f"\\u003c/span\\u003e {name}\\u003c/div\\u003e" in page  # the name as a label on the map


def test_the_layer_fetches_nothing_and_has_a_legend_entry(plan) -> None:
    page = _render(plan)
    assert re.findall(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", page) == []
    assert "$(" not in page  # folium's Popup needs jQuery, which the offline map does not load
    assert page.count(".bindPopup(") == 2 + 3  # every base and every patrolled locality
    assert "fa-" not in page
    assert "glyphicon" not in page
    assert "awesome" not in page.lower()
    assert "Patrol plan" in page
    assert "patrolled locality" in page
    assert "base, " in page  # the legend entry in the layer control: name and both symbols


def test_base_popup_lists_patrols_range_and_covered_localities(plan) -> None:
    bases = plan.bases.set_index("name", drop=False)
    rows = plan.assignments[plan.assignments["base"] == "Alpha"]
    text = base_popup(next(bases.loc[["Alpha"]].itertuples(index=False)), rows)
    assert text.startswith("<b>Base Alpha</b><br>2 patrols placed of 2 available; range 12 km")
    assert "Covers 2 localities:" in text
    assert "<li>Mobaye: risk 0.50%, 0 km</li>" in text
    assert "<li>Kembé: risk 0.40%, 10 km</li>" in text
    assert "outside" not in text.lower()
    far = base_popup(
        next(bases.loc[["Far"]].itertuples(index=False)), plan.assignments[plan.assignments["base"] == "Far"]
    )
    assert "1 patrol placed of 1 available" in far  # singular
    assert "Covers 1 locality:" in far
    assert "Outside the workspace's boundaries: check its location." in far
    assert not re.search(r"\bL\d\b", text + far)  # names, never locality ids


def test_target_popup_says_which_base_covers_it(plan) -> None:
    row = next(plan.assignments[plan.assignments["name"] == "Kouango"].itertuples(index=False))
    text = target_popup(row, "January 2023")
    assert text == (
        "<b>Kouango</b><br>Patrolled from base Far (its priority 1), 6 km away<br>"
        "Risk of at least one intercommunal incident in January 2023: 1.2%"
    )


def test_names_are_escaped_in_popups(plan) -> None:
    plan.assignments.loc[0, "name"] = "<script>alert(1)</script>"
    row = next(plan.assignments.iloc[[0]].itertuples(index=False))
    assert "<script>" not in target_popup(row, None)
    assert "&lt;script&gt;" in target_popup(row, None)


@pytest.mark.parametrize(
    ("p", "text"), [(0.0123, "1.2%"), (0.0035, "0.35%"), (0.00004, "0.0040%"), (0.5, "50%")], ids=str
)
def test_percent(p: float, text: str) -> None:
    """The patrol layer writes risks as the map, the CLI and exports do (two significant digits)."""
    assert percent(p) == text


def test_no_plan_draws_nothing() -> None:
    fmap = folium.Map(tiles=None)
    assert add_patrol_layer(fmap, None) is None
    empty = plan_patrols(
        line_localities([0]), pd.DataFrame(columns=["locality_id", "probability"]), bases_at([])
    )
    assert add_patrol_layer(fmap, empty) is None


# --- on the live map, in headless Chromium with the network cut ----------------------------------
@pytest.mark.server
@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.timeout(240)
def test_live_map_draws_named_bases_with_popups_and_fetches_nothing_else(server) -> None:
    from browser import chromium, evaluate, load_page, wait_quiet

    stored = [
        b["name"] for b in server.get("/api/v1/patrols/priorities", "planner").json()["summary"]["bases"]
    ]
    with chromium() as page:
        load_page(page, f"{server.url}/map?key={server.keys['planner']}")
        requests = [e["request"]["url"] for e in page.of("Network.requestWillBeSent")]
        assert [u for u in requests if not u.startswith(server.url + "/") and not u.startswith("data:")] == []
        assert page.of("Network.loadingFailed") == []
        labels = evaluate(
            page, "Array.from(document.querySelectorAll('.sauti-base')).map(e => e.innerText.trim())"
        )
        assert sorted(labels) == sorted(stored)
        assert evaluate(page, "typeof sautiMap.map") == "object"  # the page's script ran to its end
        evaluate(page, "document.querySelector('.sauti-base').click()")
        wait_quiet(page, 1.0)
        popup = evaluate(page, "document.querySelector('.leaflet-popup-content').innerText")
        assert popup.startswith(f"Base {labels[0]}\n")
        assert re.search(r"\d+ patrols? placed of \d+ available; range \d+ km", popup)
        contents = evaluate(
            page,
            "(() => { const out = []; sautiMap.map.eachLayer(l => { const p = l.getPopup && l.getPopup();"
            " if (p && typeof p.getContent() === 'string') out.push(p.getContent()); }); return out; })()",
        )
        targets = [c for c in contents if "Patrolled from base" in c]
        assert targets
        assert all(
            re.search(r"Risk of at least one intercommunal incident in [A-Z][a-z]+ \d{4}: ", c)
            for c in targets
        )
        legend = evaluate(
            page,
            "Array.from(document.querySelectorAll('.leaflet-control-layers-overlays label'))"
            ".map(l => l.innerText.trim()).filter(t => t.startsWith('Patrol plan'))",
        )
        assert len(legend) == 1
        assert "base" in legend[0]
        assert "patrolled locality" in legend[0]
