"""Write the researcher notebooks in ``notebooks/`` from the cells below, without outputs.

The notebooks are generated so that the committed ``.ipynb`` files are always clean (no outputs,
no execution counts, stable cell ids) and reviewable as Python. Edit the cells here, then run::

    .venv/bin/python scripts/build_notebooks.py

``tests/test_notebooks.py`` checks that the committed files equal what this script writes and
executes every notebook top to bottom.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from textwrap import dedent

import nbformat

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "notebooks"
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}

# The first code cell of every notebook: where the workspace is, and the quick switch for CI.
SETUP = """\
%matplotlib inline
import os
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from sauti.pipeline import SAMPLE, build_demo
from sauti.store import Workspace

# The workspace folder: $SAUTI_WORKSPACE (as for the CLI), else ./workspace next to the notebook.
WORKSPACE = Path(os.environ.get("SAUTI_WORKSPACE", "workspace")).resolve()
# SAUTI_NOTEBOOK_QUICK=1 (set by the CI test) shortens backtest windows; the data stay real.
QUICK = os.environ.get("SAUTI_NOTEBOOK_QUICK") == "1"
workspace = Workspace(WORKSPACE)
pd.set_option("display.width", 140)
print(f"workspace: {WORKSPACE}  quick: {QUICK}")
"""

ENSURE = """\
# Build the sample workspace if it is not there yet (what `sauti demo --no-serve` does).
if not workspace.exists:
    build_demo(workspace, SAMPLE)
workspace.status()["localities"]
"""

QUICKSTART = [
    (
        "md",
        """\
        # 01 · Quickstart: the sample workspace and its risk map

        This notebook builds a Sauti workspace from `data/sample/` with the same public function the
        command `sauti demo --no-serve` calls, then looks at what came out: the latest risk per
        sous-préfecture (admin2), the reasons behind the highest scores, an interactive map and a
        static one.

        **Data.** Incidents are the real UCDP GED v23.1 events for the Central African Republic
        (CC BY 4.0, Sundberg & Melander 2013; Davies, Pettersson & Öberg 2023); boundaries are OCHA
        COD-AB (SIGCAF, REACH, ITOS); population is WorldPop 2020. The community alerts in the sample
        are **synthetic** (a seeded generator), so anything driven by alerts here is illustrative only.

        Everything runs offline: nothing in this notebook downloads anything.
        """,
    ),
    ("code", SETUP),
    (
        "md",
        """\
        ## Build the workspace

        `build_demo` ingests the boundaries (admin2 and admin3), the UCDP incidents and the synthetic
        alerts, builds the monthly admin2 feature cube, trains the model, scores the latest month,
        draws the risk surface and plans patrols from the sample bases. It is idempotent: a second run
        adds no rows and keeps the trained model.
        """,
    ),
    ("code", "steps = build_demo(workspace, SAMPLE)\nworkspace.status()\n"),
    (
        "md",
        """\
        ## The latest risk

        `latest_scores` returns, for every locality, the probability of at least one intercommunal
        incident in the next month, its rank, the change since the previous month and the features
        that pushed the score up or down most (per-prediction contributions). These are forecasts of
        a rare event: most probabilities are small, and the ranking matters more than the level.
        """,
    ),
    (
        "code",
        """\
        from sauti.models import latest_scores

        admin2 = workspace.localities("admin2")
        scores = latest_scores(workspace).merge(admin2[["locality_id", "name", "parent_name"]], how="left")
        print(f"scored period: {scores['period'].max():%Y-%m}, model {scores['model_version'].iloc[0]}")
        scores[["rank", "locality_id", "name", "parent_name", "probability", "change"]].head(10)
        """,
    ),
    (
        "md",
        """\
        Why is the top locality at the top? Its drivers are the features with the largest
        contributions to its score (positive pushes the risk up):
        """,
    ),
    (
        "code",
        """\
        top = scores.iloc[0]
        print(top["name"], f"p = {top['probability']:.3f}")
        pd.DataFrame(top["drivers"])
        """,
    ),
    (
        "md",
        """\
        ## Interactive map (offline)

        `offline_map` draws the very map the service serves at `/map` — risk choropleth with popups
        (drivers and a sparkline of the risk history), recent incidents, alerts as counts per locality
        and the patrol plan — with Leaflet and every stylesheet written into the page, so it shows
        here with no server and no network. It is the *planner* view by default: no alert text and
        no alert points. `.save("map.html")` writes it to a file you can send.
        """,
    ),
    (
        "code",
        """\
        from sauti.api.notebook import offline_map

        risk_map = offline_map(workspace)
        risk_map
        """,
    ),
    (
        "md",
        """\
        ## Static map

        The same risk as a matplotlib choropleth with the préfecture (admin1) boundaries on top, next
        to the continuous risk surface (a recency-weighted density of recent events blended with the
        locality scores) that the heatmap tiles are cut from.
        """,
    ),
    (
        "code",
        """\
        from sauti.features import DEFAULT_SURFACE, read_surface

        surface = read_surface(WORKSPACE / DEFAULT_SURFACE)
        crs = surface.attrs["crs"]
        admin1 = workspace.localities("admin1").to_crs(crs)
        risk = admin2.merge(scores[["locality_id", "probability"]], how="left").to_crs(crs)

        fig, (left, right) = plt.subplots(1, 2, figsize=(14, 5.5))
        risk.plot(column="probability", cmap="OrRd", edgecolor="#888", linewidth=0.3, legend=True,
                  legend_kwds={"label": "P(intercommunal incident next month)", "shrink": 0.7}, ax=left)
        admin1.boundary.plot(ax=left, color="#333", linewidth=0.9)
        for row in risk.nlargest(5, "probability").itertuples():
            point = row.geometry.representative_point()
            left.annotate(row.name, (point.x, point.y), fontsize=7, ha="center")
        left.set_title(f"Risk by sous-préfecture, {scores['period'].max():%B %Y}")
        left.set_axis_off()

        x, y = surface["x"].to_numpy(), surface["y"].to_numpy()
        image = right.imshow(surface.to_numpy(), extent=(x.min(), x.max(), y.min(), y.max()),
                             origin="upper" if y[0] > y[-1] else "lower", cmap="magma_r")
        admin1.boundary.plot(ax=right, color="#333", linewidth=0.6)
        fig.colorbar(image, ax=right, shrink=0.7, label="risk surface")
        right.set_title("Risk surface")
        right.set_axis_off()
        plt.show()
        """,
    ),
    (
        "md",
        """\
        ## One locality over time

        The observed monthly incidents of the top-ranked locality since 2012 (from the feature cube)
        with the stored model probabilities (`risk_history`). Scores before the latest month are the
        current model's fitted values (those months were in its training data), so judge skill with
        the backtest (notebook 02), not with this plot.
        """,
    ),
    (
        "code",
        """\
        from sauti.features import load_cube
        from sauti.models import risk_history

        cube = load_cube(workspace, freq="M", unit="admin2")
        observed = cube[["count_intercommunal", "count_violent"]].sel(locality=top["locality_id"])
        observed = observed.to_dataframe().loc["2012":, ["count_intercommunal", "count_violent"]]
        history = risk_history(workspace, top["locality_id"]).set_index("period")

        fig, ax = plt.subplots(figsize=(11, 3.2))
        ax.bar(observed.index, observed["count_violent"], width=25, color="#bbb", label="violent incidents")
        ax.bar(observed.index, observed["count_intercommunal"], width=25, color="#555",
               label="of which intercommunal")
        ax.set_ylabel("incidents per month")
        twin = ax.twinx()
        twin.plot(history.index, history["probability"], color="#c0392b", label="model probability")
        twin.set_ylabel("probability", color="#c0392b")
        ax.set_title(f"{top['name']}: observed incidents and modelled risk")
        ax.legend(loc="upper center", fontsize=8)
        plt.show()
        """,
    ),
]

BACKTEST = [
    (
        "md",
        """\
        # 02 · Rolling-origin backtest on the real UCDP GED data

        Analysts will act on risk scores only if the scores beat the simple rules they already use.
        This notebook runs the honest test: a **rolling-origin backtest** on the real UCDP GED
        incidents for the Central African Republic, by sous-préfecture (admin2) and month.

        At every origin month the models are fitted on data strictly before it and forecast whether
        each locality will see at least one intercommunal incident in the next month. Nothing after
        the forecast date is ever shown to a model. The Sauti model is compared with the
        **baselines** — climatology, last value, historical averages, decayed counts and a
        neighbourhood rule. The bar is the baselines, not zero: in conflict forecasting a no-change
        rule beats many sophisticated models.

        Only incident-derived features are used (`use_alerts=False`): the alerts in the sample are
        synthetic, and headline skill must come from real data.
        """,
    ),
    ("code", SETUP),
    ("code", ENSURE),
    (
        "md",
        """\
        ## The feature cube and the window

        The cube holds, for every locality and month, counts by category, decayed counts, rolling
        windows, spatial lags and static covariates. Non-state (intercommunal) events in this file run
        2013–2020 and none are recorded in 2021–2022, so late origins carry few or no positives.
        The full window is origins 2017-01 to 2022-11; the quick run used in CI covers the twelve
        origins of 2017, the busiest year of the window, to fit its time budget (same data, same code,
        fewer origins — so wider intervals).
        """,
    ),
    (
        "code",
        """\
        from sauti.features import load_cube

        cube = load_cube(workspace, freq="M", unit="admin2")
        START, END = ("2017-01", "2017-12") if QUICK else ("2017-01", "2022-11")
        HORIZON = 1
        print(f"{cube.sizes['locality']} localities × {cube.sizes['period']} months; origins {START} … {END}")
        """,
    ),
    (
        "code",
        """\
        from sauti.models import backtest_cube

        result = backtest_cube(cube, start=START, end=END, horizon=HORIZON, use_alerts=False)
        detail = result.detail
        print(f"{result.metrics['n_forecasts']} forecasts over {detail['n_origins']} origins "
              f"({detail['origins_with_positives']} with at least one positive); "
              f"positive rate {result.metrics['positive_rate']:.3%}")
        """,
    ),
    (
        "md",
        """\
        Where the information comes from: the number of localities with an intercommunal incident at
        each origin. Metrics pooled over origins are dominated by the busy months.
        """,
    ),
    (
        "code",
        """\
        from sauti.models import origins_figure

        origins_figure(result)
        plt.show()
        """,
    ),
    (
        "md",
        """\
        ## Metrics with confidence intervals

        Average precision (area under the precision-recall curve) and the **hit rate in the top 10%**
        (the share of positives that fall in the 10% highest-ranked localities of their month) say
        whether a model ranks the right places first — what a planner with limited patrols needs. The
        Brier score and its skill against climatology say whether the probabilities are well sized.
        The brackets are 90% intervals from a moving-block bootstrap over origins. The best value of
        each column is in bold.
        """,
    ),
    (
        "code",
        """\
        from IPython.display import HTML
        from sauti.models import metrics_table_html

        HTML(metrics_table_html(result))
        """,
    ),
    (
        "code",
        """\
        metrics = pd.DataFrame(result.metrics["models"]).T
        metrics.index.name = "model"
        metrics.round(3)
        """,
    ),
    (
        "md",
        """\
        ## Precision-recall curves and reliability

        The precision-recall curves show the trade-off behind average precision (the dotted line is
        the positive rate, what a random ranking achieves). The reliability diagram plots the observed
        frequency against the forecast probability: a calibrated model lies on the diagonal.
        """,
    ),
    (
        "code",
        """\
        from sauti.models import pr_figure, reliability_figure

        pr_figure(result)
        reliability_figure(result)
        plt.show()
        """,
    ),
    (
        "md",
        """\
        ## Where the top-10% forecasts hit and miss

        Each sous-préfecture coloured by what happened when the Sauti model ranked it in the top 10%
        (hits, false alarms) or outside it while an incident occurred (misses), over all origins.
        """,
    ),
    (
        "code",
        """\
        from sauti.models import map_figure

        map_figure(result, workspace.localities("admin2"))
        plt.show()
        """,
    ),
    (
        "md",
        """\
        ## Does the Sauti model beat the baselines?

        The verdict, computed from the table above: the Sauti model against the best baseline on each
        ranking metric, and whether the difference is clear of the bootstrap interval.
        """,
    ),
    (
        "code",
        """\
        models = result.metrics["models"]
        intervals = result.detail["intervals"]
        baselines = [name for name in models if name != result.metrics["primary"]]
        verdict = {}
        for metric in ("average_precision", "hit_rate_top10"):
            best = max(baselines, key=lambda name: models[name][metric] or 0.0)
            ours, theirs = models["sauti"][metric], models[best][metric]
            low = intervals["sauti"][metric]["low"]
            verdict[metric] = ours > theirs
            clear = "clearly (above the baseline even at the low end of its interval)" if low > theirs else (
                "but within the uncertainty of the bootstrap interval" if ours > theirs else "")
            outcome = "beats it" if ours > theirs else "does NOT beat it"
            print(f"{metric}: Sauti {ours:.3f} vs best baseline {best} {theirs:.3f} → "
                  f"{outcome} by {ours - theirs:+.3f} {clear}".rstrip())
        print("Overall:", "the Sauti model beats every baseline on both ranking metrics."
              if all(verdict.values()) else
              "the Sauti model does not (yet) beat every baseline on both ranking metrics in this window.")
        """,
    ),
    (
        "md",
        """\
        The same backtest from the command line writes `metrics.json` (the stable contract), the
        forecasts and a self-contained HTML report:

        ```
        sauti backtest --start 2017-01 --end 2022-11 --freq M --horizon 1 --out backtest/
        ```
        """,
    ),
]

NEW_FEATURE = [
    (
        "md",
        """\
        # 03 · Try a new feature or a different model with the same harness

        A research idea is worth keeping only if it beats what is there **on the same backtest**.
        `backtest_cube` is that harness: it takes any feature cube, any set of model names, and any
        scikit-learn classifier, and runs every one of them through the same origins, the same
        no-leakage training windows and the same metrics with bootstrap intervals.

        Two experiments on the real UCDP GED data (admin2, monthly, incident features only):

        1. **Swap the model**: a plain logistic regression on the same features.
        2. **Add a feature**: a long-memory (24-month half-life) decayed count of intercommunal
           events and its average over neighbouring sous-préfectures — the idea that communal
           conflict leaves grievances that outlast the 1–12 month memories already in the cube.
        """,
    ),
    ("code", SETUP),
    ("code", ENSURE),
    (
        "code",
        """\
        from sauti.features import load_cube
        from sauti.models import BASELINES, backtest_cube

        cube = load_cube(workspace, freq="M", unit="admin2")
        START, END = ("2017-01", "2017-12") if QUICK else ("2017-01", "2022-11")
        print(f"origins {START} … {END}; baselines: {', '.join(BASELINES)}")
        """,
    ),
    (
        "md",
        """\
        ## 1 · Swap the model

        Any estimator with `fit`/`predict_proba` can enter the harness in the `models` dict. It is
        fitted at every origin on the same rows as the Sauti model (a `DataFrame` of the cube's
        features), so the comparison is like for like. Missing values (e.g. population where the raster
        has no data) must be handled by the pipeline itself.
        """,
    ),
    (
        "code",
        """\
        from sklearn.impute import SimpleImputer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        plain_logistic = make_pipeline(
            SimpleImputer(strategy="median", keep_empty_features=True),
            StandardScaler(),
            LogisticRegression(C=0.05, max_iter=2000),
        )
        models = {"sauti": "sauti", "plain_logistic": plain_logistic, **{name: name for name in BASELINES}}
        swapped = backtest_cube(cube, start=START, end=END, models=models, use_alerts=False)
        pd.DataFrame(swapped.metrics["models"]).T.round(3)
        """,
    ),
    (
        "md",
        """\
        ## 2 · Add a feature

        The new variables are computed with the same public building blocks the cube uses: the causal
        decayed sum (the value at month *t* uses months up to *t* only, so nothing leaks from the
        future) and a spatial lag through the libpysal neighbour graph of the sous-préfectures.
        """,
    ),
    (
        "code",
        """\
        from sauti.features import FeatureParams, build_graph, unit_localities
        from sauti.features import spatial_lag
        from sauti.features import decayed_sum

        units = unit_localities(workspace, "admin2").set_index("locality_id").loc[cube["locality"].to_numpy()]
        graph = build_graph(units.reset_index(), FeatureParams()).transform("r")

        long_memory = decayed_sum(cube["count_intercommunal"].transpose("locality", "period").to_numpy(), 24)
        augmented = cube.assign(
            decay_count_intercommunal_hl24=(("locality", "period"), long_memory),
            splag1_decay_count_intercommunal_hl24=(("locality", "period"), spatial_lag(graph, long_memory)),
        )
        print(f"{len(cube.data_vars)} → {len(augmented.data_vars)} variables")
        """,
    ),
    (
        "code",
        """\
        # Both learned models see the new variables; the baselines do not use features, so they are not rerun.
        with_feature = backtest_cube(
            augmented, start=START, end=END, models={"sauti": "sauti", "plain_logistic": plain_logistic},
            use_alerts=False,
        )
        pd.DataFrame(with_feature.metrics["models"]).T.round(3)
        """,
    ),
    (
        "md",
        """\
        ## Side by side

        One table and one chart for every model on the same origins: average precision and hit rate in
        the top 10% with their 90% bootstrap intervals. An idea earns its place only if it moves a
        learned model up and clears the best baseline.
        """,
    ),
    (
        "code",
        """\
        def rows(result, rename=None):
            for name, values in result.metrics["models"].items():
                ci = result.detail["intervals"][name]
                label = (rename or {}).get(name, name)
                for metric in ("average_precision", "hit_rate_top10", "brier_skill"):
                    yield {"model": label, "metric": metric, "value": values[metric],
                           "low": ci[metric]["low"], "high": ci[metric]["high"]}


        PLUS = " + long-memory feature"
        renamed = {"sauti": "sauti" + PLUS, "plain_logistic": "plain_logistic" + PLUS}
        table = pd.DataFrame([
            *rows(swapped),
            *[r for r in rows(with_feature, renamed) if r["model"] != "climatology"],
        ])
        wide = table.pivot(index="model", columns="metric", values="value")
        wide.sort_values("average_precision", ascending=False).round(3)
        """,
    ),
    (
        "code",
        """\
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
        order = wide.sort_values("average_precision").index
        for ax, metric in zip(axes, ("average_precision", "hit_rate_top10"), strict=True):
            part = table[table["metric"] == metric].set_index("model").loc[order]
            colours = ["#c0392b" if name.startswith("sauti") else "#2c7fb8" if name.startswith("plain")
                       else "#999" for name in order]
            ax.barh(order, part["value"], xerr=[part["value"] - part["low"], part["high"] - part["value"]],
                    color=colours, ecolor="#444", capsize=2)
            ax.set_title(metric.replace("_", " "))
        fig.suptitle(f"Same backtest, origins {START} … {END} (bars: 90% block-bootstrap intervals)")
        plt.tight_layout()
        plt.show()
        """,
    ),
    (
        "code",
        """\
        learned = ["sauti", "plain_logistic"]
        baselines_only = wide.drop(index=learned + [name + PLUS for name in learned])
        for metric in ("average_precision", "hit_rate_top10"):
            best = baselines_only[metric]
            print(f"{metric}: best baseline {best.idxmax()} {best.max():.3f}")
            for name in learned:
                before, after = wide.loc[name, metric], wide.loc[name + PLUS, metric]
                print(f"  {name}: {before:.3f} → with the feature {after:.3f} ({after - before:+.3f}); "
                      f"{'above' if after > best.max() else 'below'} the best baseline")
        """,
    ),
    (
        "md",
        """\
        Read the intervals before the point estimates: with a few dozen positive locality-months, a
        difference smaller than the interval width is not evidence. To keep a feature for good, add it
        to the feature cube (`sauti.features`) so training, scoring and the API all use it.
        """,
    ),
]

PATROL = [
    (
        "md",
        """\
        # 04 · Patrol what-if: bases, patrol counts and range

        A force planner has a handful of bases, a few patrols per base per period and a range each
        patrol can reach. `plan_patrols` chooses the targets that cover the most expected risk
        (probability of an intercommunal incident, summed over covered localities) within each base's
        capacity and range — an exact maximal-covering optimisation (HiGHS) — and says why.

        This notebook changes the inputs and shows how covered risk responds. The bases in
        `data/sample/bases.geojson` are **illustrative** (approximate town locations with made-up
        patrols and ranges), not a real deployment.
        """,
    ),
    ("code", SETUP),
    ("code", ENSURE),
    (
        "code",
        """\
        from sauti.models import latest_scores
        from sauti.models import plan_patrols, read_bases
        from sauti.models import plan_figure

        bases = read_bases(SAMPLE / "bases.geojson")
        scores = latest_scores(workspace)
        localities = workspace.localities("admin2")
        bases[["name", "patrols", "range_km"]]
        """,
    ),
    (
        "md",
        """\
        ## The plan with the bases as given
        """,
    ),
    (
        "code",
        """\
        plan = plan_patrols(localities, scores, bases)
        summary = plan.summary()
        print(f"{summary['status']} ({summary['method']}, gap {summary['gap']}): covered risk "
              f"{summary['covered_risk']:.3f} of {summary['total_risk']:.3f} "
              f"({summary['covered_share']:.1%})")
        print(plan.explanation)
        plan.assignments[["base", "rank", "name", "risk", "distance_km", "drivers"]].head(12)
        """,
    ),
    (
        "code",
        """\
        plan_figure(plan, title="Patrol plan, sample bases")
        """,
    ),
    (
        "md",
        """\
        ## What if every base had more patrols, or a longer range?

        The same problem solved for every combination of patrols per base (the same number for every
        base) and range. With an exact solver, covered risk can only grow with more patrols or a longer
        range; where the curves flatten, extra patrols reach nothing new and range is the constraint.
        """,
    ),
    (
        "code",
        """\
        PATROLS = [1, 2, 3, 4, 6]
        RANGES_KM = [50, 100, 150, 200]
        sweep = []
        for range_km in RANGES_KM:
            for patrols in PATROLS:
                s = plan_patrols(localities, scores, bases, patrols=patrols, range_km=range_km).summary()
                sweep.append({"range_km": range_km, "patrols": patrols, "covered_risk": s["covered_risk"],
                              "covered_share": s["covered_share"], "localities": s["localities_covered"],
                              "status": s["status"]})
        sweep = pd.DataFrame(sweep)
        sweep.pivot(index="patrols", columns="range_km", values="covered_share").round(3)
        """,
    ),
    (
        "code",
        """\
        fig, ax = plt.subplots(figsize=(7, 4))
        for range_km, part in sweep.groupby("range_km"):
            ax.plot(part["patrols"], part["covered_share"], marker="o", label=f"{range_km} km")
        ax.set(xlabel="patrols per base", ylabel="share of total risk covered", ylim=(0, 1.02),
               title="Covered risk against patrols and range")
        ax.legend(title="range")
        plt.show()
        """,
    ),
    (
        "code",
        """\
        # The exact optimum never loses covered risk when a constraint is relaxed.
        grid = sweep.pivot(index="patrols", columns="range_km", values="covered_risk")
        assert (grid.diff(axis=0).fillna(0) >= -1e-9).all().all(), "covered risk fell with more patrols"
        assert (grid.diff(axis=1).fillna(0) >= -1e-9).all().all(), "covered risk fell with a longer range"
        print("covered risk never falls with more patrols or more range:", sorted(sweep["status"].unique()))
        """,
    ),
    (
        "md",
        """\
        ## What if a base closed, or a new one opened?

        Drop each base in turn and see how much covered risk the mission would lose, then add a
        hypothetical base (illustrative coordinates) and see what it would add.
        """,
    ),
    (
        "code",
        """\
        import geopandas as gpd
        from shapely.geometry import Point

        reference = plan.summary()["covered_risk"]
        losses = []
        for name in bases["name"]:
            s = plan_patrols(localities, scores, bases[bases["name"] != name]).summary()
            losses.append({"closed base": name, "covered_risk": s["covered_risk"],
                           "lost": reference - s["covered_risk"]})
        losses = pd.DataFrame(losses).sort_values("lost", ascending=False)

        extra = gpd.GeoDataFrame({"name": ["Hypothetical: Batangafo"], "patrols": [3], "range_km": [120.0]},
                                 geometry=[Point(18.30, 7.30)], crs="EPSG:4326")
        with_extra = pd.concat([bases, extra], ignore_index=True)
        added = plan_patrols(localities, scores, with_extra).summary()["covered_risk"] - reference
        print(f"opening the hypothetical base adds {added:.3f} covered risk ({added / reference:+.1%})")
        losses.round(4)
        """,
    ),
    (
        "md",
        """\
        ## Weighting by population

        Risk alone treats an empty savanna and a market town alike. With `weight`, the value of a
        locality is probability × population, so the same patrols go where more people are exposed.
        """,
    ),
    (
        "code",
        """\
        from sauti.models import population_weight

        weight = population_weight(workspace, localities)
        weighted = plan_patrols(localities, scores, bases, weight=weight)
        moved = set(weighted.assignments["locality_id"]) ^ set(plan.assignments["locality_id"])
        print(f"{len(moved)} localities change when patrols are weighted by population")
        weighted.assignments[["base", "rank", "name", "risk", "weight", "distance_km"]].head(10)
        """,
    ),
    (
        "md",
        """\
        The same plans come from the command line (`sauti patrol --bases FILE --patrols N --range-km R
        --out plan.geojson`) and from the API (`GET /api/v1/patrols/priorities`).
        """,
    ),
]

NOTEBOOKS = {
    "01_quickstart.ipynb": QUICKSTART,
    "02_backtest.ipynb": BACKTEST,
    "03_new_feature.ipynb": NEW_FEATURE,
    "04_patrol_what_if.ipynb": PATROL,
}


def build(name: str, cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    """One clean notebook: no outputs, no execution counts, cell ids derived from the name."""
    stem = name.removesuffix(".ipynb")
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}}
    for i, (kind, source) in enumerate(cells):
        text = dedent(source).strip("\n")
        cell = nbformat.v4.new_markdown_cell(text) if kind == "md" else nbformat.v4.new_code_cell(text)
        cell.id = f"{stem.replace('_', '-')}-{i:02d}"
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def render(name: str) -> str:
    """The exact file text of notebook ``name``."""
    return nbformat.writes(build(name, NOTEBOOKS[name])) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="Exit 1 if a committed notebook differs.")
    args = parser.parse_args(argv)
    stale = []
    FOLDER.mkdir(exist_ok=True)
    for name in NOTEBOOKS:
        path = FOLDER / name
        text = render(name)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print(f"out of date (run scripts/build_notebooks.py): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
