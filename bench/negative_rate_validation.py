"""How much skill negative sampling costs: the Sauti model's backtest on the sample's validation
origins (2013-07 … 2016-12, the development protocol of docs/models.md; never the test period) with
a share of the negative training rows kept and weighted, for a few rates and seeds.

The rate used over the row budget (:data:`sauti.models.panel.NEGATIVE_RATE`) was chosen from this
table (docs/models.md, "Training rows read block by block").

    .venv/bin/python bench/negative_rate_validation.py --workspace WS   # a workspace after `sauti demo`
"""

from __future__ import annotations

import argparse
import json
import time

RUNS = [(1.0, 0), (0.5, 0), (0.5, 1), (0.25, 0), (0.25, 1), (0.1, 0), (0.1, 1), (0.05, 0)]
METRICS = ("average_precision", "roc_auc", "brier", "brier_skill", "log_loss", "hit_rate_top10")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", required=True)
    options = parser.parse_args()
    from sauti.features import load_cube
    from sauti.models.backtest import backtest_cube
    from sauti.store import Workspace

    cube = load_cube(Workspace(options.workspace), freq="M", unit="admin2")
    for rate, seed in RUNS:
        started = time.perf_counter()
        result = backtest_cube(
            cube,
            start="2013-07",
            end="2016-12",
            models=["sauti"],
            use_alerts=False,
            n_boot=20,
            random_state=seed,
            negative_rate=rate,
        )
        skill = result.metrics["models"]["sauti"]
        row = {"rate": rate, "seed": seed, **{k: round(skill[k], 4) for k in METRICS}}
        row["rows_kept"] = result.detail["negative_sampling"]["rows_kept"]
        row["seconds"] = round(time.perf_counter() - started, 1)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
