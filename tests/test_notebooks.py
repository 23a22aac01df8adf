"""The researcher notebooks: jupytext percent files (``notebooks/*.py``, the source of truth, linted
by ruff) whose ``.ipynb`` pair is produced for users and never committed, run top to bottom
(offline, with this venv's Python) on a copy of the session's sample workspace.

The run tests set ``SAUTI_NOTEBOOK_QUICK=1`` so the real-data backtests use a shorter window of origins.
"""

from __future__ import annotations

import html
import re
import subprocess
import sys
import time
from pathlib import Path

import jupytext
import nbformat
import pytest
from browser import CHROMIUM, OFFLINE_FLAGS

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "notebooks"
NAMES = [
    "01_quickstart.py",
    "02_backtest.py",
    "03_new_feature.py",
    "04_patrol_what_if.py",
    "05_early_response.py",
]
IDS = [n.removesuffix(".py") for n in NAMES]
RUN_TIMEOUT_S = 600  # per cell


def _read(name: str) -> nbformat.NotebookNode:
    return jupytext.read(FOLDER / name)


def test_the_notebooks_are_the_percent_files() -> None:
    assert sorted(p.name for p in FOLDER.glob("*.py")) == NAMES


@pytest.mark.parametrize("name", NAMES, ids=IDS)
def test_notebook_is_a_clean_percent_file_paired_with_ipynb(name: str) -> None:
    """The file is a valid notebook with no outputs, in jupytext's own percent form (so saving from
    Jupyter rewrites nothing), paired with an ``.ipynb`` for users."""
    text = (FOLDER / name).read_text(encoding="utf-8")
    nb = jupytext.reads(text, fmt="py:percent")
    nbformat.validate(nb)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code, f"{name} has no code cell"
    assert all(cell.outputs == [] for cell in code)
    assert [cell.cell_type for cell in nb.cells].count("markdown") >= 2
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert nb.metadata["jupytext"]["formats"] == "ipynb,py:percent"
    assert jupytext.writes(nb, fmt="py:percent") == text  # the canonical form: a round trip changes nothing


def test_ipynb_files_are_produced_without_outputs_and_never_committed(tmp_path) -> None:
    """``jupytext --sync notebooks/*.py`` writes the paired notebooks users open; git ignores them."""
    for name in NAMES:
        (tmp_path / name).write_bytes((FOLDER / name).read_bytes())
    done = subprocess.run(
        [sys.executable, "-m", "jupytext", "--sync", *sorted(str(p) for p in tmp_path.glob("*.py"))],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for name in NAMES:
        paired = nbformat.read(tmp_path / name.replace(".py", ".ipynb"), as_version=4)
        nbformat.validate(paired)
        source = _read(name)
        assert [c.source for c in paired.cells] == [c.source for c in source.cells]
        code = [c for c in paired.cells if c.cell_type == "code"]
        assert all(c.outputs == [] and c.execution_count is None for c in code)
        assert (tmp_path / name).read_bytes() == (FOLDER / name).read_bytes()  # the .py was left as it is
    tracked = subprocess.run(
        ["git", "ls-files", "notebooks"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert tracked, "notebooks/ is not tracked by git"
    assert not [path for path in tracked if path.endswith(".ipynb")]
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", *(f"notebooks/{n.replace('.py', '.ipynb')}" for n in NAMES)],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert ignored.stdout.split() == [f"notebooks/{n.replace('.py', '.ipynb')}" for n in NAMES]


def test_notebook_setup_takes_the_workspace_and_the_quick_switch_from_the_environment(
    tmp_path, monkeypatch
) -> None:
    import pandas as pd

    from sauti.cli.pipeline import notebook_setup

    lines: list[str] = []
    monkeypatch.setenv("SAUTI_WORKSPACE", str(tmp_path / "ws"))
    monkeypatch.delenv("SAUTI_NOTEBOOK_QUICK", raising=False)
    full = notebook_setup(build=False, echo=lines.append)
    assert full.workspace.root == (tmp_path / "ws").resolve()
    assert not full.quick
    assert len(pd.period_range(*full.window, freq="M")) == 71  # every origin of the test period
    monkeypatch.setenv("SAUTI_NOTEBOOK_QUICK", "1")
    quick = notebook_setup(build=False, echo=lines.append)
    assert quick.quick
    assert quick.window == ("2017-01", "2017-12")
    assert not (tmp_path / "ws").exists()  # build=False builds nothing
    assert lines == [f"workspace: {(tmp_path / 'ws').resolve()}  quick: {flag}" for flag in (False, True)]


PUBLIC_MODULES = {
    "sauti.store",
    "sauti.cli.pipeline",
    "sauti.features",
    "sauti.models",
    "sauti.api.map.notebook",
}


@pytest.mark.parametrize("name", NAMES, ids=IDS)
def test_notebook_uses_only_the_package_api(name: str) -> None:
    """Imports come from the package's public modules only (no submodule such as
    ``sauti.models.backtest_report``, no private ``_name``), and nothing is fetched from a URL."""
    source = "\n".join(cell.source for cell in _read(name).cells if cell.cell_type == "code")
    for line in source.splitlines():
        match = re.match(r"\s*from (sauti[\w.]*) import (.+)", line)
        if match:
            assert match.group(1) in PUBLIC_MODULES, line
            assert not any(n.strip().startswith("_") for n in match.group(2).split(",")), line
    assert not re.search(r"https?://", source), f"{name} code refers to a URL"


# --- running them ---------------------------------------------------------------------------------


def _venv_kernel_manager():
    """A kernel manager that starts ipykernel with *this* interpreter (the project venv)."""
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from jupyter_client.manager import KernelManager

    class ThisPython(KernelSpecManager):
        def get_kernel_spec(self, kernel_name):
            return KernelSpec(
                argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                display_name="sauti venv",
                language="python",
                resource_dir="",
            )

    return KernelManager(kernel_name="python3", kernel_spec_manager=ThisPython())


def _execute(nb: nbformat.NotebookNode, cwd: Path) -> nbformat.NotebookNode:
    from nbclient import NotebookClient

    km = _venv_kernel_manager()
    client = NotebookClient(nb, km=km, timeout=RUN_TIMEOUT_S, resources={"metadata": {"path": str(cwd)}})
    try:
        client.execute()
    finally:  # a kernel manager passed in is not shut down by nbclient: stop the kernel here
        if km.has_kernel:
            km.shutdown_kernel(now=True)
    return nb


def _text(cell) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type in ("execute_result", "display_data"):
            parts.append(output.data.get("text/plain", ""))
            parts.append(output.data.get("text/html", ""))
    return "\n".join(parts)


def _outputs(nb) -> list:
    return [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]


def _pngs(nb) -> int:
    return sum("image/png" in o.get("data", {}) for o in _outputs(nb))


@pytest.fixture(scope="module")
def notebook_env(sample_workspace, tmp_path_factory):
    """One working folder for the four notebooks, on a copy of the sample workspace (built once per
    session, so the quickstart's ``build_demo`` is a re-run); quick mode on, timings recorded."""
    folder = tmp_path_factory.mktemp("notebooks")
    patch = pytest.MonkeyPatch()
    patch.setenv("SAUTI_WORKSPACE", str(sample_workspace.root))
    patch.setenv("SAUTI_NOTEBOOK_QUICK", "1")
    patch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    patch.delenv("SAUTI_POPULATION", raising=False)
    timings: dict[str, float] = {}
    yield folder, timings
    patch.undo()
    if timings:
        print("\nnotebook run times: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()))
        print(f"total {sum(timings.values()):.0f} s")


@pytest.fixture(scope="module")
def executed(notebook_env):
    """Run a notebook once (from its percent file) and keep the executed copy."""
    folder, timings = notebook_env
    done: dict[str, nbformat.NotebookNode] = {}

    def run(name: str) -> nbformat.NotebookNode:
        if name not in done:
            start = time.perf_counter()
            done[name] = _execute(_read(name), folder)
            timings[name] = time.perf_counter() - start
        return done[name]

    return run


@pytest.mark.slow
def test_kernel_is_the_project_venv(notebook_env) -> None:
    folder, _ = notebook_env
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import sys, os\nprint(sys.executable)\nprint(os.getcwd())")]
    out = _text(_execute(nb, folder).cells[0]).split()
    assert Path(out[0]).resolve() == Path(sys.executable).resolve()
    assert Path(out[1]).resolve() == folder.resolve()


@pytest.mark.slow
def test_quickstart_builds_the_workspace_and_draws_offline_maps(executed, sample_workspace) -> None:
    nb = executed("01_quickstart.py")
    status = sample_workspace.status()
    assert status["incidents"] == 1848
    assert status["localities"]["admin2"] == 72
    html_maps = [o.data["text/html"] for o in _outputs(nb) if "text/html" in o.get("data", {})]
    iframe = next(h for h in html_maps if h.startswith("<iframe srcdoc="))
    page = html.unescape(iframe.removeprefix('<iframe srcdoc="').split('" style=')[0])
    assert page.startswith("<!DOCTYPE html>")
    # the page loads nothing: no external script, stylesheet, image or tile URL (links <a> are not loads)
    assert not re.search(r"<script[^>]+src=", page)
    assert not re.search(r"<link[^>]+href=", page)
    assert not re.search(r"<img[^>]+src=\"(?!data:)", page)
    assert not re.search(r"url\((?!data:|#default#VML)", page)
    assert not re.search(r"tileLayer\(", page)
    assert "/static/" not in page
    assert "L.map(" in page
    assert "geo_json" in page  # the risk choropleth layer
    assert _pngs(nb) >= 2  # static choropleth + surface, risk history


@pytest.mark.slow
def test_backtest_notebook_draws_curves_and_states_a_verdict(executed) -> None:
    nb = executed("02_backtest.py")
    text = "\n".join(_text(c) for c in nb.cells if c.cell_type == "code")
    assert re.search(r"864 forecasts over 12 origins", text)  # quick: 72 localities × 2017, real data
    assert "average_precision: Sauti" in text
    assert "hit_rate_top10: Sauti" in text
    assert "Overall: the Sauti model" in text
    assert "climatology" in text
    assert "neighbourhood" in text
    assert _pngs(nb) >= 4  # positives per origin, PR curves, reliability, hit/miss map


@pytest.mark.slow
def test_new_feature_notebook_compares_on_the_same_harness(executed) -> None:
    nb = executed("03_new_feature.py")
    text = "\n".join(_text(c) for c in nb.cells if c.cell_type == "code")
    added = re.search(r"(\d+) → (\d+) variables", text)
    assert int(added.group(2)) == int(added.group(1)) + 2
    assert "sauti + long-memory feature" in text
    assert "plain_logistic + long-memory feature" in text
    assert re.search(r"hit_rate_top10: best baseline \w+ 0\.\d{3}", text)
    assert len(re.findall(r"with the feature 0\.\d{3}", text)) == 4  # 2 models × 2 metrics
    assert _pngs(nb) >= 1


@pytest.mark.slow
def test_patrol_notebook_shows_covered_risk_growing(executed) -> None:
    nb = executed("04_patrol_what_if.py")
    text = "\n".join(_text(c) for c in nb.cells if c.cell_type == "code")
    assert "covered risk never falls with more patrols or more range" in text
    assert re.search(r"optimal \(exact, gap", text)
    assert re.search(r"Expected localities with an incident covered: [\d.]+ of [\d.]+ \(\d+%\)", text)
    assert "opening the hypothetical base adds" in text
    assert _pngs(nb) >= 2  # plan map, covered risk vs patrols/range


# --- the offline map helper the quickstart uses ----------------------------------------------------


@pytest.mark.slow
def test_early_response_notebook_measures_the_loop(executed, sample_workspace) -> None:
    nb = executed("05_early_response.py")
    text = "\n".join(_text(cell) for cell in nb.cells if cell.cell_type == "code")
    assert re.search(r"\d+ responses, \d+ of them synthetic", text)
    assert re.search(r"2022: \d+ alerts, \d+ answered", text)
    assert (sample_workspace.root / "early_response_report.html").exists()


@pytest.fixture
def boundaries_only(workspace, sample_dir):
    from sauti.ingest.boundaries import ingest_boundaries

    ingest_boundaries(workspace, sample_dir / "boundaries" / "caf_adm2.gpkg", "admin2")
    return workspace


def test_offline_map_loads_nothing_from_a_server(boundaries_only) -> None:
    from sauti.api.map.notebook import offline_map

    risk_map = offline_map(boundaries_only)
    page = risk_map.html
    assert not re.search(r"<script[^>]+src=", page)
    assert not re.search(r"<link[^>]+href=", page)
    assert not re.search(r"url\((?!data:|#default#VML)", page)
    assert "/static/" not in page
    assert "L.map(" in page
    assert page.count("CF111") >= 1  # Bimbo, an admin2 locality, is drawn
    frame = risk_map._repr_html_()
    assert frame.startswith("<iframe srcdoc=")
    assert html.unescape(frame.split('srcdoc="')[1].split('" style=')[0]) == page


def test_offline_map_save_writes_the_page(boundaries_only, tmp_path) -> None:
    from sauti.api.map.notebook import offline_map

    path = offline_map(boundaries_only).save(tmp_path / "map.html")
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


@pytest.mark.parametrize("role", ["visitor", ""], ids=["unknown-role", "empty-role"])
def test_offline_map_rejects_an_unknown_role(boundaries_only, role) -> None:
    from sauti.api.map.notebook import offline_map

    with pytest.raises(ValueError, match="role must be one of"):
        offline_map(boundaries_only, role=role)


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian chromium (scripts/system-deps.sh)")
def test_offline_map_draws_in_a_browser_with_the_network_cut(boundaries_only, tmp_path) -> None:
    """Headless Chromium, every host unresolvable and a dead proxy: Leaflet still builds the map."""
    from sauti.api.map.notebook import offline_map

    page = offline_map(boundaries_only).save(tmp_path / "map.html")
    command = [
        CHROMIUM,
        *OFFLINE_FLAGS,
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1000,700",
        "--virtual-time-budget=5000",
        "--dump-dom",
        page.as_uri(),
    ]
    dom = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout
    assert 'class="leaflet-container' in dom or "leaflet-container " in dom
    assert re.search(r"<svg[^>]*leaflet-zoom-animated", dom)  # polygons drawn (SVG renderer)
    assert len(re.findall(r"<path[^>]*leaflet-interactive", dom)) >= 72  # every admin2 locality
    assert "leaflet-control-layers-expanded" in dom
