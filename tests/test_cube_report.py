"""The feature cube's HTML report (features/cube_report.py), rendered from a packaged jinja2 template."""

from __future__ import annotations

import base64
import html
import json
import re
from importlib.resources import files

import pandas as pd

from sauti.features import build_cube
from sauti.features.cube_report import write_cube_report


def _cube(three_squares, three_points):
    incidents = pd.DataFrame(
        {
            "occurred_on": pd.to_datetime(["2020-01-05", "2020-02-10", "2020-03-31"]),
            "longitude": three_points.geometry.x,
            "latitude": three_points.geometry.y,
            "location_precision": "point",
            "category": ["intercommunal", "armed_clash", "intercommunal"],
            "fatalities": [1, 0, 2],
        }
    )
    return build_cube(incidents, None, three_squares, freq="M", capital=(20.5, 5.5))


def test_the_template_ships_with_the_package() -> None:
    assert files("sauti.features").joinpath("templates", "cube_report.html.j2").is_file()


def test_cube_report_is_one_self_contained_escaped_page(three_squares, three_points, tmp_path) -> None:
    cube = _cube(three_squares, three_points)
    cube.attrs["snapshot"] = "<b>abc</b>"  # anything shown is escaped, never markup
    path = write_cube_report(cube, three_squares, tmp_path / "deep" / "report.html")
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>")
    assert "<title>Sauti feature cube — admin2 × M</title>" in page
    assert f"3 localities × 3 periods, {len(cube.data_vars)} variables" in page
    assert "snapshot &lt;b&gt;abc&lt;/b&gt;." in page
    assert "<b>abc</b>" not in page
    image = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page).group(1)
    assert base64.b64decode(image)[:8] == b"\x89PNG\r\n\x1a\n"
    shown = html.unescape(re.search(r"<pre>(.*)</pre>", page, re.S).group(1))
    assert json.loads(shown) == json.loads(cube.attrs["provenance"])
    assert not re.search(r"https?://", page)  # offline: nothing to fetch


def test_the_figure_leaves_pyplot_alone(three_squares, three_points) -> None:
    """A library figure is a plain ``Figure``: pyplot (a notebook's figure list and backend) never
    sees it, so drawing a report in a notebook opens no stray window or inline copy."""
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    from sauti.features.cube_report import cube_figure

    before = set(plt.get_fignums())
    figure = cube_figure(_cube(three_squares, three_points), three_squares)
    assert isinstance(figure, Figure)
    assert [ax.get_title() for ax in figure.axes][0].startswith("Located incidents per period (M)")
    assert set(plt.get_fignums()) == before
