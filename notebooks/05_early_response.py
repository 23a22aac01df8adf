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
# # 05 · Early warning, early response: closing the loop
#
# An alert is worth something only if the mission acts on it. Sauti records each **response**
# (a patrol, an engagement with communities, a message to authorities, another action, or a
# recorded decision not to act), linked to the alerts it answered, with its times and outcome, and
# measures the loop: how many alerts got a response, how fast, in which regions, whether the
# highest-risk places were covered, and what happened after a response.
#
# The sample's response log is **synthetic** (made up by `sauti.ingest.responses.synthetic` to
# answer the synthetic sample alerts): it shows how the measures read, not how any mission did.

# %%
# %matplotlib inline
import pandas as pd

from sauti.cli.pipeline import notebook_setup

setup = notebook_setup()  # $SAUTI_WORKSPACE or ./workspace, built from data/sample if missing
workspace = setup.workspace
pd.set_option("display.width", 140)

# %% [markdown]
# ## The response log
#
# Each response names the alerts it answered (`alert_ids`), its locality, the unit, the times it
# was decided, dispatched, arrived and completed (any may still be unknown) and its outcome. Notes
# were scrubbed of phone numbers and reporter names before they were stored.

# %%
from sauti.features import load_responses, response_summary

responses, links = load_responses(workspace)
print(f"{len(responses)} responses, {int(responses['synthetic'].sum())} of them synthetic")
responses[["response_id", "action", "alert_ids", "unit", "dispatched_at", "arrived_at", "outcome"]].head(8)

# %% [markdown]
# ## How many alerts got a response, and how fast
#
# `response_summary` is what `GET /api/v1/responses/summary` serves: alerts received in the window,
# those with a response that acted, and minutes from the alert's arrival to dispatch and arrival
# (median, 90th percentile, number of alerts measured), overall, by region and by kind of alert.

# %%
summary = response_summary(
    workspace.alerts(), responses, links, workspace.localities(), start="2022-01-01", end="2022-12-31"
)
print(
    f"2022: {summary['alerts']} alerts, {summary['alerts_with_response']} answered "
    f"({summary['share_with_response']:.0%}); minutes to dispatch {summary['minutes_alert_to_dispatch']}"
)
pd.DataFrame(summary["by_admin1"])[["admin1_name", "alerts", "alerts_with_response", "share_with_response"]]

# %% [markdown]
# ## After a response: observational, not causal
#
# Patrols go where trouble is expected, so comparing places with and without a response says
# nothing about what a patrol *does*. The report compares each response with places of the same
# forecast-risk decile in the same period that got none, and gives a bootstrap interval. Read the
# difference as an association. The model never learns "patrolled ⇒ safe" (docs/models.md).

# %%
from sauti.models import response_report, workspace_plan, write_response_report

numbers = response_report(workspace, start="2021-01-01", end="2022-12-31", plan=workspace_plan(workspace))
print(numbers["risk"]["coverage"])
pd.DataFrame(numbers["risk"]["effects"]["windows"])

# %% [markdown]
# ## Was the plan carried out?
#
# Plan adherence counts a planned target as covered only where a patrol recorded its arrival in the
# plan's period (`source`: "recorded visits"); with no arrival recorded for that period it falls back
# to the plan as drawn and says so ("plan as drawn"). The sample's plan is for the month after the
# data, so no patrol has been recorded for it yet.

# %%
plan = numbers.get("plan")
if plan:
    print(f"{plan['source']}: {plan['visited']} of {plan['targets']} targets covered")

# %% [markdown]
# ## The report a JOC chief reads
#
# `sauti responses report --out report.html` writes the same numbers as one self-contained page
# (figures embedded; it opens offline).

# %%
path = write_response_report(numbers, workspace.root / "early_response_report.html")
print(path)
