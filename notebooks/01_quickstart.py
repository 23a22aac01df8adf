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
# # 01 · Quickstart: the sample workspace and its risk map
#
# This notebook builds a Sauti workspace from `data/sample/` with the same public function the
# command `sauti demo --no-serve` calls, then looks at what came out: the latest risk per
# sous-préfecture (admin2), the reasons behind the highest scores, an interactive map and a
# static one.
#
# **Data.** Incidents are the real UCDP GED v23.1 events for the Central African Republic
# (CC BY 4.0, Sundberg & Melander 2013; Davies, Pettersson & Öberg 2023); boundaries are OCHA
# COD-AB (SIGCAF, REACH, ITOS); population is WorldPop 2020. The community alerts in the sample
# are **synthetic** (a seeded generator), so anything driven by alerts here is illustrative only.
#
# Everything runs offline: nothing in this notebook downloads anything.

# %%
# %matplotlib inline
import matplotlib.pyplot as plt
import pandas as pd

from sauti.cli.pipeline import SAMPLE, build_demo, notebook_setup

setup = notebook_setup(build=False)  # $SAUTI_WORKSPACE or ./workspace; built below
workspace = setup.workspace
pd.set_option("display.width", 140)

# %% [markdown]
# ## Build the workspace
#
# `build_demo` ingests the boundaries (admin2 and admin3), the UCDP incidents and the synthetic
# alerts, builds the monthly admin2 feature cube, trains the model, scores the latest month,
# draws the risk surface and plans patrols from the sample bases. It is idempotent: a second run
# adds no rows and keeps the trained model.

# %%
steps = build_demo(workspace, SAMPLE)
workspace.status()

# %% [markdown]
# ## The latest risk
#
# `latest_scores` returns, for every locality, the probability of at least one intercommunal
# incident in the next month, its rank, the change since the previous month and the features
# that pushed the score up or down most (per-prediction contributions). These are forecasts of
# a rare event: most probabilities are small, and the ranking matters more than the level.

# %%
from sauti.models import latest_scores

admin2 = workspace.localities("admin2")
scores = latest_scores(workspace).merge(admin2[["locality_id", "name", "parent_name"]], how="left")
print(f"scored period: {scores['period'].max():%Y-%m}, model {scores['model_version'].iloc[0]}")
scores[["rank", "locality_id", "name", "parent_name", "probability", "change"]].head(10)

# %% [markdown]
# Why is the top locality at the top? Its drivers are the features with the largest
# contributions to its score (positive pushes the risk up):

# %%
top = scores.iloc[0]
print(top["name"], f"p = {top['probability']:.3f}")
pd.DataFrame(top["drivers"])

# %% [markdown]
# ## Interactive map (offline)
#
# `offline_map` draws the very map the service serves at `/map` — risk choropleth with popups
# (drivers and a sparkline of the risk history), recent incidents, alerts as counts per locality
# and the patrol plan — with Leaflet and every stylesheet written into the page, so it shows
# here with no server and no network. It is the *planner* view by default: no alert text and
# no alert points. `.save("map.html")` writes it to a file you can send.

# %%
from sauti.api.map.notebook import offline_map

risk_map = offline_map(workspace)
risk_map

# %% [markdown]
# ## Static map
#
# The same risk as a matplotlib choropleth with the préfecture (admin1) boundaries on top, next
# to the continuous risk surface (a recency-weighted density of recent events blended with the
# locality scores) that the heatmap tiles are cut from.

# %%
from sauti.features import DEFAULT_SURFACE, read_surface

surface = read_surface(workspace.root / DEFAULT_SURFACE)
crs = surface.attrs["crs"]
admin1 = workspace.localities("admin1").to_crs(crs)
risk = admin2.merge(scores[["locality_id", "probability"]], how="left").to_crs(crs)

fig, (left, right) = plt.subplots(1, 2, figsize=(14, 5.5))
risk.plot(
    column="probability",
    cmap="OrRd",
    edgecolor="#888",
    linewidth=0.3,
    legend=True,
    legend_kwds={"label": "P(intercommunal incident next month)", "shrink": 0.7},
    ax=left,
)
admin1.boundary.plot(ax=left, color="#333", linewidth=0.9)
for row in risk.nlargest(5, "probability").itertuples():
    point = row.geometry.representative_point()
    left.annotate(row.name, (point.x, point.y), fontsize=7, ha="center")
left.set_title(f"Risk by sous-préfecture, {scores['period'].max():%B %Y}")
left.set_axis_off()

x, y = surface["x"].to_numpy(), surface["y"].to_numpy()
image = right.imshow(
    surface.to_numpy(),
    extent=(x.min(), x.max(), y.min(), y.max()),
    origin="upper" if y[0] > y[-1] else "lower",
    cmap="magma_r",
)
admin1.boundary.plot(ax=right, color="#333", linewidth=0.6)
# the raster says what its values are (a relative index unless drawn as probabilities)
fig.colorbar(image, ax=right, shrink=0.7, label=surface.attrs["label"])
right.set_title("Risk surface")
right.set_axis_off()
plt.show()

# %% [markdown]
# ## One locality over time
#
# The observed monthly incidents of the top-ranked locality since 2012 (from the feature cube)
# with the stored model probabilities (`risk_history`). Scores before the latest month are the
# current model's fitted values (those months were in its training data), so judge skill with
# the backtest (notebook 02), not with this plot.

# %%
from sauti.features import load_cube
from sauti.models import risk_history

cube = load_cube(workspace, freq="M", unit="admin2")
observed = cube[["count_intercommunal", "count_violent"]].sel(locality=top["locality_id"])
observed = observed.to_dataframe().loc["2012":, ["count_intercommunal", "count_violent"]]
history = risk_history(workspace, top["locality_id"]).set_index("period")

fig, ax = plt.subplots(figsize=(11, 3.2))
ax.bar(observed.index, observed["count_violent"], width=25, color="#bbb", label="violent incidents")
ax.bar(
    observed.index, observed["count_intercommunal"], width=25, color="#555", label="of which intercommunal"
)
ax.set_ylabel("incidents per month")
twin = ax.twinx()
twin.plot(history.index, history["probability"], color="#c0392b", label="model probability")
twin.set_ylabel("probability", color="#c0392b")
ax.set_title(f"{top['name']}: observed incidents and modelled risk")
ax.legend(loc="upper center", fontsize=8)
plt.show()
