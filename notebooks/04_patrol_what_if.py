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
# # 04 · Patrol what-if: bases, patrol counts and range
#
# A force planner has a handful of bases, a few patrols per base per period and a range each
# patrol can reach. `plan_patrols` chooses the targets that cover the most expected risk
# (probability of an intercommunal incident, summed over covered localities) within each base's
# capacity and range — an exact maximal-covering optimisation (HiGHS) — and says why.
#
# This notebook changes the inputs and shows how covered risk responds. The bases in
# `data/sample/bases.geojson` are **illustrative** (approximate town locations with made-up
# patrols and ranges), not a real deployment.

# %%
# %matplotlib inline
import matplotlib.pyplot as plt
import pandas as pd

from sauti.cli.pipeline import SAMPLE, notebook_setup

setup = notebook_setup()  # $SAUTI_WORKSPACE or ./workspace, built from data/sample if missing
workspace = setup.workspace
pd.set_option("display.width", 140)

# %%
from sauti.models import latest_scores, plan_figure, plan_patrols, read_bases

bases = read_bases(SAMPLE / "bases.geojson")
scores = latest_scores(workspace)
localities = workspace.localities("admin2")
bases[["name", "patrols", "range_km"]]

# %% [markdown]
# ## The plan with the bases as given

# %%
plan = plan_patrols(localities, scores, bases)
summary = plan.summary()
print(summary["headline"])  # "Expected localities with an incident covered: x of y (z%)"
print(f"plan {summary['status']} ({summary['method']}, gap {summary['gap']})")
print(plan.explanation)
plan.assignments[["base", "rank", "name", "risk", "distance_km", "drivers"]].head(12)

# %%
plan_figure(plan, title="Patrol plan, sample bases")

# %% [markdown]
# ## What if every base had more patrols, or a longer range?
#
# The same problem solved for every combination of patrols per base (the same number for every
# base) and range. With an exact solver, covered risk can only grow with more patrols or a longer
# range; where the curves flatten, extra patrols reach nothing new and range is the constraint.

# %%
PATROLS = [1, 2, 3, 4, 6]
RANGES_KM = [50, 100, 150, 200]
sweep = []
for range_km in RANGES_KM:
    for patrols in PATROLS:
        s = plan_patrols(localities, scores, bases, patrols=patrols, range_km=range_km).summary()
        sweep.append(
            {
                "range_km": range_km,
                "patrols": patrols,
                "covered_risk": s["covered_risk"],
                "covered_share": s["covered_share"],
                "localities": s["localities_covered"],
                "status": s["status"],
            }
        )
sweep = pd.DataFrame(sweep)
sweep.pivot(index="patrols", columns="range_km", values="covered_share").round(3)

# %%
fig, ax = plt.subplots(figsize=(7, 4))
for range_km, part in sweep.groupby("range_km"):
    ax.plot(part["patrols"], part["covered_share"], marker="o", label=f"{range_km} km")
ax.set(
    xlabel="patrols per base",
    ylabel="share of total risk covered",
    ylim=(0, 1.02),
    title="Covered risk against patrols and range",
)
ax.legend(title="range")
plt.show()

# %%
# The exact optimum never loses covered risk when a constraint is relaxed.
grid = sweep.pivot(index="patrols", columns="range_km", values="covered_risk")
assert (grid.diff(axis=0).fillna(0) >= -1e-9).all().all(), "covered risk fell with more patrols"
assert (grid.diff(axis=1).fillna(0) >= -1e-9).all().all(), "covered risk fell with a longer range"
print("covered risk never falls with more patrols or more range:", sorted(sweep["status"].unique()))

# %% [markdown]
# ## What if a base closed, or a new one opened?
#
# Drop each base in turn and see how much covered risk the mission would lose, then add a
# hypothetical base (illustrative coordinates) and see what it would add.

# %%
import geopandas as gpd
from shapely.geometry import Point

reference = plan.summary()["covered_risk"]
losses = []
for name in bases["name"]:
    s = plan_patrols(localities, scores, bases[bases["name"] != name]).summary()
    losses.append(
        {"closed base": name, "covered_risk": s["covered_risk"], "lost": reference - s["covered_risk"]}
    )
losses = pd.DataFrame(losses).sort_values("lost", ascending=False)

extra = gpd.GeoDataFrame(
    {"name": ["Hypothetical: Batangafo"], "patrols": [3], "range_km": [120.0]},
    geometry=[Point(18.30, 7.30)],
    crs="EPSG:4326",
)
with_extra = pd.concat([bases, extra], ignore_index=True)
added = plan_patrols(localities, scores, with_extra).summary()["covered_risk"] - reference
print(f"opening the hypothetical base adds {added:.3f} covered risk ({added / reference:+.1%})")
losses.round(4)

# %% [markdown]
# ## Weighting by population
#
# Risk alone treats an empty savanna and a market town alike. With `weight`, the value of a
# locality is probability × population, so the same patrols go where more people are exposed.

# %%
from sauti.models import population_weight

weight = population_weight(workspace, localities)
weighted = plan_patrols(localities, scores, bases, weight=weight)
moved = set(weighted.assignments["locality_id"]) ^ set(plan.assignments["locality_id"])
print(f"{len(moved)} localities change when patrols are weighted by population")
weighted.assignments[["base", "rank", "name", "risk", "weight", "distance_km"]].head(10)

# %% [markdown]
# The same plans come from the command line (`sauti patrol --bases FILE --patrols N --range-km R
# --out plan.geojson`) and from the API (`GET /api/v1/patrols/priorities`).
