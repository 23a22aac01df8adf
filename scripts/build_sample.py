"""Build ``data/sample/`` from the real data in ``../shared/data`` (plus the synthetic alerts).

Run from the project root: ``python scripts/build_sample.py [--shared ../shared/data]``. The
output is committed; this script is how anyone rebuilds or audits it.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
import pyogrio
import rasterio
from rasterio.windows import from_bounds

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
CAF_BOUNDARIES = ("adm0", "adm2", "adm3")
# CAR's bounding box plus a margin, for cropping the population raster
CAF_BOUNDS = (13.5, 1.5, 28.0, 12.0)


def copy_boundaries(shared: Path) -> None:
    out = SAMPLE / "boundaries"
    out.mkdir(parents=True, exist_ok=True)
    for level in CAF_BOUNDARIES:
        src = shared / "boundaries" / "CAF" / f"caf_admbnda_{level}_200k_sigcaf_reach_itos_v2.shp"
        frame = pyogrio.read_dataframe(src)
        pyogrio.write_dataframe(frame, out / f"caf_{level}.gpkg", layer=f"caf_{level}", driver="GPKG")


def copy_events(shared: Path) -> None:
    out = SAMPLE / "events"
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shared / "events" / "ucdp_ged_v23_1_CAF.geojson", out / "ucdp_ged_v23_1_CAF.geojson")


def crop_population(shared: Path) -> None:
    out = SAMPLE / "population"
    out.mkdir(parents=True, exist_ok=True)
    src_path = shared / "population" / "afripop2020_worldpop_20km_africa.tif"
    with rasterio.open(src_path) as src:
        window = from_bounds(*CAF_BOUNDS, transform=src.transform).round_offsets().round_lengths()
        data = src.read(1, window=window)
        profile = src.profile | {
            "height": data.shape[0],
            "width": data.shape[1],
            "transform": src.window_transform(window),
            "tiled": False,
            "compress": "lzw",
        }
        profile.pop("blockysize", None)
        profile.pop("blockxsize", None)
    with rasterio.open(out / "worldpop2020_density_caf.tif", "w", **profile) as dst:
        dst.write(data.astype(np.float32), 1)


def build_alerts() -> None:
    """SYNTHETIC Community Alert Network stream (see ``ingest/alerts/synthetic.py``).

    Seeded and deterministic; reads the boundaries and UCDP GED events just written to the
    sample, so it runs after them. Writes ``alerts/synthetic_alerts.csv`` (CLA spreadsheet,
    French headers, a ``synthetic`` column) and ``alerts/synthetic_sms_gateway.jsonl``.
    """
    from sauti.ingest.alerts.synthetic import write_sample_alerts

    for path in write_sample_alerts(SAMPLE):
        print(f"synthetic alerts written to {path.relative_to(ROOT)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    copy_boundaries(args.shared)
    copy_events(args.shared)
    crop_population(args.shared)
    build_alerts()
    print(f"sample written to {SAMPLE}")


if __name__ == "__main__":
    main()
