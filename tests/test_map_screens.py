"""The demo map as a person sees it, in headless Chromium with the network cut.

Screenshots are saved to ``build/screenshots/`` (``SAUTI_SCREENSHOTS`` overrides): the overview, a
locality's popup, the patrol layer and the rising panel. Each is taken after asserting what it
must show: distinct colour classes, the period title, the stale-data warning, the legends (the
heatmap's in the raster's own units), the priority list and the rising panel, checked against the
API's numbers; and zero failed requests.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from browser import chromium, evaluate, load_page, screenshot, wait_quiet

pytestmark = [pytest.mark.server, pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
SHOTS = Path(os.environ.get("SAUTI_SCREENSHOTS", ROOT / "build" / "screenshots"))
PALETTE = ("#bd0026", "#f03b20", "#fd8d3c", "#feb24c", "#fed976", "#ffffb2")
TITLE = re.compile(r"^Forecast for [A-Z][a-z]+ \d{4} — data through \d{1,2} [A-Z][a-z]+ \d{4}$")


@pytest.fixture(scope="module")
def page(server):
    """The analyst's map, loaded once; each test leaves the page as it found it."""
    with chromium() as devtools:
        load_page(devtools, f"{server.url}/map?key={server.keys['analyst']}")
        yield devtools


@pytest.fixture(scope="module")
def localities(server):
    body = server.get("/api/v1/localities", "analyst").json()
    return {f["id"]: f["properties"] for f in body["features"]}


def _no_failures(devtools, base: str) -> None:
    requests = [e["request"]["url"] for e in devtools.of("Network.requestWillBeSent")]
    assert [u for u in requests if not u.startswith(base + "/") and not u.startswith("data:")] == []
    assert devtools.of("Network.loadingFailed") == []


def _click(devtools, selector: str) -> None:
    evaluate(devtools, f"document.querySelector({selector!r}).click()")
    wait_quiet(devtools, 1.0)


def _close_popup(devtools) -> None:
    evaluate(devtools, "document.querySelectorAll('.leaflet-popup-close-button').forEach(b => b.click())")


@pytest.mark.timeout(240)
def test_overview_separates_localities_and_names_the_period(server, page, localities):
    _no_failures(page, server.url)
    fills = evaluate(
        page,
        "Array.from(document.querySelectorAll('path.leaflet-interactive')).map(p => p.getAttribute('fill'))",
    )
    classes = {f for f in fills if f in PALETTE}
    assert len(classes) >= 5, f"only {len(classes)} colour classes drawn: {sorted(set(fills))}"
    title = evaluate(page, "document.querySelector('.sauti-title h1').textContent.trim()")
    assert TITLE.match(title), title
    period = server.get("/api/v1/version", "analyst").json()["period"][:7]  # latest scored, YYYY-MM
    selected = evaluate(page, "document.querySelector('#sauti-period').value")
    assert selected.startswith(period)
    # the control names the forecast it shows, in the title's words (not the scored data month)
    option = evaluate(page, "document.querySelector('#sauti-period').selectedOptions[0].textContent.trim()")
    assert option in title, (option, title)
    warning = evaluate(page, "(document.querySelector('.sauti-warning') || {}).textContent || ''")
    assert "Incident data is old" in warning  # the sample's incident log ends in 2022
    legend = evaluate(page, "document.querySelector('.sauti-legend').innerText")
    assert "risk rank" in legend
    assert "top 5%" in legend
    assert "lowest 25%" in legend
    assert all(c in evaluate(page, "document.querySelector('.sauti-legend').innerHTML") for c in classes)
    import rasterio

    with rasterio.open(server.workspace / "rasters" / "risk_surface.tif") as raster:
        units = raster.tags().get("units")
    assert "Risk heatmap" in legend
    assert units
    assert units in legend
    top = evaluate(
        page, "Array.from(document.querySelectorAll('.sauti-priorities li a')).map(a => a.textContent)"
    )
    best = sorted(localities.values(), key=lambda p: p["rank"])[:10]
    assert top == [p["name"] for p in best]
    words = evaluate(page, "document.body.innerText")
    popups = evaluate(
        page,
        "sautiMap.layer.getLayers().map(l => { const d = document.createElement('div');"
        " d.innerHTML = l.feature.properties.popup; return d.innerText; })",
    )
    assert len(popups) == len(localities)
    for text in [words, *popups]:  # no internal name (feature, column, category) reaches a person
        assert not re.search(r"\w_\w", text), re.search(r".{40}\w_\w.{40}", text, re.S)
    screenshot(page, SHOTS / "map-overview.png")


@pytest.mark.timeout(120)
def test_a_popup_gives_risk_rank_chart_and_alerts_in_words(server, page, localities):
    first = sorted(localities.values(), key=lambda p: p["rank"])[0]
    _click(page, ".sauti-priorities li a")
    text = evaluate(page, "document.querySelector('.leaflet-popup-content').innerText")
    assert first["name"] in text
    assert f"Rank 1 of {len(localities)}" in text
    assert re.search(r"Risk \d+(\.\d+)?% of at least one intercommunal incident in [A-Z][a-z]+ \d{4}", text)
    assert "_" not in text, text  # no internal name
    # the latest period counts from 30 days before the data's date on (newer alerts too): "since <day>"
    alerts = re.search(r"Alerts: (\d+) (alerts?) since \d{1,2} [A-Z][a-z]{2} \d{4}, ", text)
    assert alerts, text
    assert (alerts[2] == "alert") == (alerts[1] == "1"), text
    assert int(alerts[1]) == first["alerts_30d"]  # counted as the API counts them
    assert f", {first['alerts_total']} in all" in text
    labels = evaluate(
        page,
        "Array.from(document.querySelectorAll('.leaflet-popup-content svg text')).map(t => t.textContent)",
    )
    dates = [t for t in labels if re.fullmatch(r"[A-Z][a-z]{2} \d{4}", t)]
    percents = [t for t in labels if t.endswith("%")]
    assert len(dates) == 3, labels
    assert len(percents) == 3, labels
    assert "24 periods" in labels
    screenshot(page, SHOTS / "map-popup.png")
    _close_popup(page)


@pytest.mark.timeout(120)
def test_the_rising_panel_lists_the_largest_increases(server, page, localities):
    names = evaluate(
        page, "Array.from(document.querySelectorAll('.sauti-rising ol li a')).map(a => a.textContent)"
    )
    rising = sorted(
        (p for p in localities.values() if (p.get("change") or 0) > 0), key=lambda p: -p["change"]
    )[:5]
    assert names == [p["name"] for p in rising]
    heading = evaluate(page, "document.querySelector('.sauti-rising').innerText")
    assert re.search(r"Largest increases since the forecast for [A-Z][a-z]+ \d{4}", heading)
    assert "Newly in the top 10%" in heading
    _click(page, ".sauti-rising ol li a")
    popup = evaluate(page, "document.querySelector('.leaflet-popup-content').innerText")
    assert rising[0]["name"] in popup
    assert re.search(r"Change since the forecast for [A-Z][a-z]+ \d{4}: \+", popup)
    screenshot(page, SHOTS / "map-rising.png")
    _close_popup(page)


@pytest.mark.timeout(120)
def test_the_patrol_layer_is_drawn_and_listed(server, page):
    overlays = evaluate(
        page,
        "Array.from(document.querySelectorAll('.leaflet-control-layers-overlays label'))"
        ".map(l => l.innerText.trim())",
    )
    patrol = [name for name in overlays if name.lower().startswith("patrol")]
    assert patrol, overlays
    for name in overlays:  # only the patrol plan over the localities' colours
        on = name in patrol or name.startswith(("Risk rank", "Boundaries"))
        evaluate(
            page,
            "(() => { for (const l of document.querySelectorAll('.leaflet-control-layers-overlays label')) {"
            f" if (l.innerText.trim() === {name!r}) {{ const box = l.querySelector('input');"
            f" if (box.checked !== {str(on).lower()}) box.click(); }} }} }})()",
        )
    evaluate(
        page,
        "void sautiMap.map.fitBounds(sautiMap.layer.getBounds(),"
        " {animate: false, paddingTopLeft: [200, 90], paddingBottomRight: [300, 10]})",
    )
    wait_quiet(page, 1.0)
    green = evaluate(
        page,
        "Array.from(document.querySelectorAll('path.leaflet-interactive'))"
        ".filter(p => (p.getAttribute('stroke') || '').startsWith('#00')).length",
    )
    assert green > 0
    screenshot(page, SHOTS / "map-patrol.png")
    _no_failures(page, server.url)


@pytest.mark.timeout(120)
def test_an_earlier_period_is_shown_on_request(server, page):
    options = evaluate(
        page, "Array.from(document.querySelectorAll('#sauti-period option')).map(o => o.value)"
    )
    assert len(options) == 24
    assert options == sorted(options, reverse=True)
    load_page(page, f"{server.url}/map?period={options[-1]}")  # the session cookie rides along
    _no_failures(page, server.url)
    assert evaluate(page, "document.querySelector('#sauti-period').value") == options[-1]
    note = evaluate(page, "document.querySelector('.sauti-note').innerText")
    assert "fitted values" in note
    overlays = evaluate(
        page,
        "Array.from(document.querySelectorAll('.leaflet-control-layers-overlays label'))"
        ".map(l => l.innerText)",
    )
    assert not [o for o in overlays if o.strip().lower().startswith("patrol")]  # the plan is for the latest
    title = evaluate(page, "document.querySelector('.sauti-title h1').textContent.trim()")
    assert TITLE.match(title)
