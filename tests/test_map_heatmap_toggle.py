"""Turning the risk heatmap on visibly changes the map: the localities' colours give way to outlines.

Both states are screenshotted (``build/screenshots/map-heatmap-off.png`` and ``-on.png``).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from browser import chromium, evaluate, load_page, screenshot, wait_quiet

pytestmark = [pytest.mark.server, pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
SHOTS = Path(os.environ.get("SAUTI_SCREENSHOTS", ROOT / "build" / "screenshots"))
TOGGLE = (
    "(() => { for (const l of document.querySelectorAll('.leaflet-control-layers-overlays label')) {"
    " if (l.innerText.trim() === 'Risk heatmap') { const box = l.querySelector('input');"
    " if (box.checked !== %s) box.click(); } } })()"
)
FILLS = (
    "Array.from(document.querySelectorAll('path.sauti-locality'))"
    ".map(p => parseFloat(getComputedStyle(p).fillOpacity))"
)


def _pixels(path: Path) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(path.read_bytes())).convert("RGB"), dtype=np.int16)


@pytest.mark.timeout(180)
def test_the_heatmap_layer_clears_the_locality_fills(server):
    with chromium() as page:
        load_page(page, f"{server.url}/map?key={server.keys['planner']}")
        off = FILLS
        before = evaluate(page, off)
        assert before
        assert min(before) > 0.5  # colours drawn
        off_png = screenshot(page, SHOTS / "map-heatmap-off.png")
        evaluate(page, TOGGLE % "true")
        wait_quiet(page, 1.5)
        during = evaluate(page, FILLS)
        assert max(during) == 0.0  # outlines only while the heatmap is on
        on_png = screenshot(page, SHOTS / "map-heatmap-on.png")
        evaluate(page, TOGGLE % "false")
        wait_quiet(page, 0.5)
        assert evaluate(page, FILLS) == before  # and the colours come back
        legend = evaluate(page, "document.querySelector('.sauti-heat').innerText")
        assert "outlines only" in legend
    a, b = _pixels(off_png), _pixels(on_png)
    changed = (np.abs(a - b).max(axis=2) > 40).mean()
    assert changed > 0.05, f"only {changed:.1%} of the screen changed"
