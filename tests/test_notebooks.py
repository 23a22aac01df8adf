"""The researcher notebooks: committed clean, generated from scripts/build_notebooks.py, and run
top to bottom (offline, with this venv's Python) on the sample workspace.

The run tests share one workspace, built by the first notebook, in a temporary folder; they set
``SAUTI_NOTEBOOK_QUICK=1`` so the real-data backtests use a shorter window of origins.
"""

from __future__ import annotations

import html
import importlib.util
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from browser import CHROMIUM, OFFLINE_FLAGS

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "notebooks"
NAMES = ["01_quickstart.ipynb", "02_backtest.ipynb", "03_new_feature.ipynb", "04_patrol_what_if.ipynb"]
RUN_TIMEOUT_S = 600  # per cell


def _generator():
    spec = importlib.util.spec_from_file_location("build_notebooks", ROOT / "scripts" / "build_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _read(name: str) -> nbformat.NotebookNode:
    return nbformat.read(FOLDER / name, as_version=4)


@pytest.mark.parametrize("name", NAMES, ids=[n.removesuffix(".ipynb") for n in NAMES])
def test_notebook_is_committed_without_outputs(name: str) -> None:
    nb = _read(name)
    nbformat.validate(nb)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code, f"{name} has no code cell"
    for cell in code:
        assert cell.outputs == [], f"{name} cell {cell.id} has outputs"
        assert cell.execution_count is None, f"{name} cell {cell.id} has an execution count"
    assert nb.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("name", NAMES, ids=[n.removesuffix(".ipynb") for n in NAMES])
def test_notebook_matches_its_generator(name: str) -> None:
    """Edits go into scripts/build_notebooks.py; the committed file is exactly its output."""
    assert (FOLDER / name).read_text(encoding="utf-8") == _generator().render(name)


def test_generator_check_mode_spots_a_stale_notebook(tmp_path, monkeypatch) -> None:
    module = _generator()
    monkeypatch.setattr(module, "FOLDER", tmp_path)
    monkeypatch.setattr(module, "ROOT", tmp_path)
    assert module.main(["--check"]) == 1  # nothing written yet
    assert module.main([]) == 0
    assert module.main(["--check"]) == 0
    (tmp_path / NAMES[0]).write_text("{}", encoding="utf-8")
    assert module.main(["--check"]) == 1


PUBLIC_MODULES = {"sauti.store", "sauti.pipeline", "sauti.features", "sauti.models", "sauti.api.notebook"}


@pytest.mark.parametrize("name", NAMES, ids=[n.removesuffix(".ipynb") for n in NAMES])
def test_notebook_uses_only_the_package_api(name: str) -> None:
    """Imports come from the package's public modules only (no submodule such as
    ``sauti.models.report``, no private ``_name``), and nothing is fetched from a URL."""
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

    client = NotebookClient(
        nb,
        km=_venv_kernel_manager(),
        timeout=RUN_TIMEOUT_S,
        resources={"metadata": {"path": str(cwd)}},
    )
    client.execute()
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
def notebook_env(tmp_path_factory):
    """One working folder and workspace for the four notebooks, quick mode on, timings recorded."""
    folder = tmp_path_factory.mktemp("notebooks")
    patch = pytest.MonkeyPatch()
    patch.setenv("SAUTI_WORKSPACE", str(folder / "workspace"))
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
    """Run each notebook once, in order (01 builds the workspace the others reuse)."""
    folder, timings = notebook_env
    done: dict[str, nbformat.NotebookNode] = {}

    def run(name: str) -> nbformat.NotebookNode:
        if name not in done:
            for earlier in NAMES[: NAMES.index(name)]:
                run(earlier)
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
def test_quickstart_builds_the_workspace_and_draws_offline_maps(executed, notebook_env) -> None:
    nb = executed("01_quickstart.ipynb")
    folder, _ = notebook_env
    from sauti.store import Workspace

    status = Workspace(folder / "workspace").status()
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
    nb = executed("02_backtest.ipynb")
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
    nb = executed("03_new_feature.ipynb")
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
    nb = executed("04_patrol_what_if.ipynb")
    text = "\n".join(_text(c) for c in nb.cells if c.cell_type == "code")
    assert "covered risk never falls with more patrols or more range" in text
    assert re.search(r"optimal \(exact, gap", text)
    assert "opening the hypothetical base adds" in text
    assert _pngs(nb) >= 2  # plan map, covered risk vs patrols/range


# --- the offline map helper the quickstart uses ----------------------------------------------------


@pytest.fixture
def boundaries_only(workspace, sample_dir):
    from sauti.ingest.boundaries import ingest_boundaries

    ingest_boundaries(workspace, sample_dir / "boundaries" / "caf_adm2.gpkg", "admin2")
    return workspace


def test_offline_map_loads_nothing_from_a_server(boundaries_only) -> None:
    from sauti.api.notebook import offline_map

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
    from sauti.api.notebook import offline_map

    path = offline_map(boundaries_only).save(tmp_path / "map.html")
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


@pytest.mark.parametrize("role", ["visitor", ""], ids=["unknown-role", "empty-role"])
def test_offline_map_rejects_an_unknown_role(boundaries_only, role) -> None:
    from sauti.api.notebook import offline_map

    with pytest.raises(ValueError, match="role must be one of"):
        offline_map(boundaries_only, role=role)


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian chromium (scripts/system-deps.sh)")
def test_offline_map_draws_in_a_browser_with_the_network_cut(boundaries_only, tmp_path) -> None:
    """Headless Chromium, every host unresolvable and a dead proxy: Leaflet still builds the map."""
    from sauti.api.notebook import offline_map

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
