# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     notebook_metadata_filter: -jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 03 · Try a new feature or a different model with the same harness
#
# A research idea is worth keeping only if it beats what is there **on the same backtest**.
# `backtest_cube` is that harness: it takes any feature cube, any set of model names, and any
# scikit-learn classifier, and runs every one of them through the same origins, the same
# no-leakage training windows and the same metrics with bootstrap intervals.
#
# Two experiments on the real UCDP GED data (admin2, monthly, incident features only):
#
# 1. **Swap the model**: a plain logistic regression on the same features.
# 2. **Add a feature**: a long-memory (24-month half-life) decayed count of intercommunal
#    events and its average over neighbouring sous-préfectures — the idea that communal
#    conflict leaves grievances that outlast the 1–12 month memories already in the cube.

# %%
# %matplotlib inline
import matplotlib.pyplot as plt
import pandas as pd

from sauti.cli.pipeline import notebook_setup

setup = notebook_setup()  # $SAUTI_WORKSPACE or ./workspace, built from data/sample if missing
workspace = setup.workspace
pd.set_option("display.width", 140)

# %%
from sauti.features import load_cube
from sauti.models import BASELINES, backtest_cube

cube = load_cube(workspace, freq="M", unit="admin2")
START, END = setup.window
print(f"origins {START} … {END}; baselines: {', '.join(BASELINES)}")

# %% [markdown]
# ## 1 · Swap the model
#
# Any estimator with `fit`/`predict_proba` can enter the harness in the `models` dict. It is
# fitted at every origin on the same rows as the Sauti model (a `DataFrame` of the cube's
# features), so the comparison is like for like. Missing values (e.g. population where the raster
# has no data) must be handled by the pipeline itself.

# %%
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

# %% [markdown]
# ## 2 · Add a feature
#
# The new variables are computed with the same public building blocks the cube uses: the causal
# decayed sum (the value at month *t* uses months up to *t* only, so nothing leaks from the
# future) and a spatial lag through the libpysal neighbour graph of the sous-préfectures.

# %%
from sauti.features import FeatureParams, build_graph, decayed_sum, spatial_lag, unit_localities

units = unit_localities(workspace, "admin2").set_index("locality_id").loc[cube["locality"].to_numpy()]
graph = build_graph(units.reset_index(), FeatureParams()).transform("r")

long_memory = decayed_sum(cube["count_intercommunal"].transpose("locality", "period").to_numpy(), 24)
augmented = cube.assign(
    decay_count_intercommunal_hl24=(("locality", "period"), long_memory),
    splag1_decay_count_intercommunal_hl24=(("locality", "period"), spatial_lag(graph, long_memory)),
)
print(f"{len(cube.data_vars)} → {len(augmented.data_vars)} variables")

# %%
# plain_logistic sees every variable of the cube, so the new ones too. The Sauti model's learned
# member reads a short, fixed list (LEARNED_FEATURES); a new variable reaches it when it is added to
# that list. The baselines do not use features, so they are not rerun.
from sauti.models import LEARNED_FEATURES

NEW = ("decay_count_intercommunal_hl24", "splag1_decay_count_intercommunal_hl24")
with_feature = backtest_cube(
    augmented,
    start=START,
    end=END,
    models={"sauti": "sauti", "plain_logistic": plain_logistic},
    use_alerts=False,
    sauti_params={"features": (*LEARNED_FEATURES, *NEW)},
)
pd.DataFrame(with_feature.metrics["models"]).T.round(3)


# %% [markdown]
# ## Side by side
#
# One table and one chart for every model on the same origins: average precision and hit rate in
# the top 10% with their 90% bootstrap intervals. An idea earns its place only if it moves a
# learned model up and clears the best baseline.


# %%
def rows(result, rename=None):
    for name, values in result.metrics["models"].items():
        ci = result.detail["intervals"][name]
        label = (rename or {}).get(name, name)
        for metric in ("average_precision", "hit_rate_top10", "brier_skill"):
            yield {
                "model": label,
                "metric": metric,
                "value": values[metric],
                "low": ci[metric]["low"],
                "high": ci[metric]["high"],
            }


PLUS = " + long-memory feature"
renamed = {"sauti": "sauti" + PLUS, "plain_logistic": "plain_logistic" + PLUS}
table = pd.DataFrame(
    [
        *rows(swapped),
        *[r for r in rows(with_feature, renamed) if r["model"] != "climatology"],
    ]
)
wide = table.pivot(index="model", columns="metric", values="value")
wide.sort_values("average_precision", ascending=False).round(3)

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
order = wide.sort_values("average_precision").index
for ax, metric in zip(axes, ("average_precision", "hit_rate_top10"), strict=True):
    part = table[table["metric"] == metric].set_index("model").loc[order]
    colours = [
        "#c0392b" if name.startswith("sauti") else "#2c7fb8" if name.startswith("plain") else "#999"
        for name in order
    ]
    ax.barh(
        order,
        part["value"],
        xerr=[part["value"] - part["low"], part["high"] - part["value"]],
        color=colours,
        ecolor="#444",
        capsize=2,
    )
    ax.set_title(metric.replace("_", " "))
fig.suptitle(f"Same backtest, origins {START} … {END} (bars: 90% block-bootstrap intervals)")
plt.tight_layout()
plt.show()

# %%
learned = ["sauti", "plain_logistic"]
baselines_only = wide.drop(index=learned + [name + PLUS for name in learned])
for metric in ("average_precision", "hit_rate_top10"):
    best = baselines_only[metric]
    print(f"{metric}: best baseline {best.idxmax()} {best.max():.3f}")
    for name in learned:
        before, after = wide.loc[name, metric], wide.loc[name + PLUS, metric]
        print(
            f"  {name}: {before:.3f} → with the feature {after:.3f} ({after - before:+.3f}); "
            f"{'above' if after > best.max() else 'below'} the best baseline"
        )

# %% [markdown]
# Read the intervals before the point estimates: with a few dozen positive locality-months, a
# difference smaller than the interval width is not evidence. To keep a feature for good, add it
# to the feature cube (`sauti.features`) so training, scoring and the API all use it.
