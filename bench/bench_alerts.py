"""Alert ingest benchmark: the synthetic CLA spreadsheet, pseudonymised, scrubbed and geocoded.

Builds a workspace holding the CAR admin2 and admin3 boundaries, then times
``sauti.ingest.alerts.ingest_alerts`` on the sample's ``synthetic_alerts.csv`` repeated ``--copies``
times (each copy's texts made distinct so every row is a new alert), plus the gazetteer on its own
(``Gazetteer.resolve`` per alert text) and the share of synthetic place names resolved to the unit
written. Prints medians over ``--repeat`` runs and the peak RSS. No target is set for alerts
(thousands per day at most); the figures show the pipeline is far from a bottleneck.

    .venv/bin/python bench/bench_alerts.py            # 20 copies ≈ 54,000 rows
    .venv/bin/python bench/bench_alerts.py --quick    # 1 copy = 2,681 rows
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd

from sauti.ingest.alerts import ingest_alerts
from sauti.ingest.alerts.synthetic import CSV_NAME, generate_alerts
from sauti.ingest.boundaries import ingest_boundaries
from sauti.ingest.gazetteer import Gazetteer
from sauti.store import Workspace

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="one copy of the sample (2,681 rows)")
    parser.add_argument("--copies", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    copies = 1 if args.quick else args.copies
    tmp = Path(tempfile.mkdtemp(prefix="sauti-bench-alerts-"))
    try:
        template = Workspace(tmp / "template")
        ingest_boundaries(template, SAMPLE / "boundaries" / "caf_adm2.gpkg", "admin2")
        ingest_boundaries(template, SAMPLE / "boundaries" / "caf_adm3.gpkg", "admin3")
        sample = pd.read_csv(SAMPLE / "alerts" / CSV_NAME, dtype=str, keep_default_na=False)
        parts = [sample.assign(message=sample["message"] + (f" #{k}" if k else "")) for k in range(copies)]
        source = tmp / "alerts.csv"
        pd.concat(parts).to_csv(source, index=False)
        rows = len(sample) * copies

        times = []
        for k in range(args.repeat):
            shutil.copytree(template.root, tmp / f"run{k}")
            start = time.perf_counter()
            report = ingest_alerts(Workspace(tmp / f"run{k}"), source)
            times.append(time.perf_counter() - start)
            assert report.read == rows == report.accepted + report.rejected + report.duplicates
        wall = statistics.median(times)
        print(
            f"ingest_alerts: {rows:,} rows, median {wall:.2f} s over {args.repeat}"
            f" -> {rows / wall:,.0f} rows/s"
        )

        gazetteer = Gazetteer.from_workspace(template)
        frame = generate_alerts(SAMPLE)
        texts = frame["message"].tolist()
        start = time.perf_counter()
        for text in texts:
            gazetteer.resolve(text)
        per_text = (time.perf_counter() - start) / len(texts) * 1000
        print(f"Gazetteer.resolve: {per_text:.2f} ms per alert text ({len(texts):,} texts)")

        localities = template.localities().set_index("locality_id")
        ok = total = 0
        for mode, place, text, named in zip(
            frame["_place_mode"], frame["lieu"], frame["message"], frame["_named_id"], strict=True
        ):
            if mode not in ("column", "text"):
                continue
            match = gazetteer.match_name(place) if mode == "column" else gazetteer.resolve(text)
            total += 1
            ok += bool(match) and (
                match.locality_id == named or localities.at[match.locality_id, "admin2_id"] == named
            )
        print(f"synthetic place names resolved to the unit written: {ok:,}/{total:,} = {ok / total:.1%}")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS: {peak:,.0f} MiB")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
