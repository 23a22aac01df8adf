"""Response state on the map (issue 19): what was done about each alert and in each locality, and the
small form an analyst or planner records a response with, from the popup.

:func:`response_layer` gathers the state once per page; :class:`MapResponses` renders the lines and
the form appended to alert and locality popups. The form posts to ``/api/v1/responses`` from
``sauti-map.js`` (the map's session cookie plus the ``X-Sauti-Map`` header: same origin only), so it
works offline against the local server. Nothing here carries alert text.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

from sauti.constants import LOCALITY_ID
from sauti.features.glossary import ACTION_WORDS, OUTCOME_WORDS, action_words, outcome_words

if TYPE_CHECKING:  # pragma: no cover
    from sauti.api.security import Principal
    from sauti.api.services.source import DataSource


def _when(value) -> str:
    if value is None or pd.isna(value):
        return ""
    return f"{pd.Timestamp(value):%d %b %Y %H:%M} UTC"


def _describe(row: pd.Series) -> str:
    words = action_words(row["action"])
    if row["action"] == "none":
        return words
    parts = [words]
    if row.get("dispatched_at") is not None and not pd.isna(row.get("dispatched_at")):
        parts.append(f"sent {_when(row['dispatched_at'])}")
    if row.get("arrived_at") is not None and not pd.isna(row.get("arrived_at")):
        parts.append(f"arrived {_when(row['arrived_at'])}")
    parts.append(outcome_words(row["outcome"]))
    return ", ".join(parts)


@dataclass
class MapResponses:
    """Response lines per alert and per unit, and whether the viewer may record a response."""

    by_alert: dict[str, str] = field(default_factory=dict)
    by_unit: dict[str, tuple[int, int, str | None]] = field(default_factory=dict)  # unanswered, alerts, last
    may_record: bool = False

    def alert_html(self, alert_id: str, locality_id: str | None) -> str:
        """The alert's response state and, for those who may, the form answering it."""
        state = self.by_alert.get(alert_id)
        line = f"<br><b>Response:</b> {html.escape(state)}" if state else "<br><b>Response:</b> none yet"
        return line + self.form(alert_id=alert_id, locality_id=locality_id)

    def unit_html(self, unit_id: str) -> str:
        """The locality's alerts without a response and its last response, and the form."""
        unanswered, total, last = self.by_unit.get(unit_id, (0, 0, None))
        line = "<br><b>Responses:</b> "
        line += f"{unanswered} of {total} alerts here without a response" if total else "no alerts here"
        if last:
            line += f"; last: {html.escape(last)}"
        return line + self.form(locality_id=unit_id)

    def form(self, *, alert_id: str | None = None, locality_id: str | None = None) -> str:
        if not self.may_record:
            return ""
        hidden = "".join(
            f'<input type="hidden" name="{name}" value="{html.escape(str(value))}">'
            for name, value in (("alert_ids", alert_id), (LOCALITY_ID, locality_id))
            if value
        )
        actions = "".join(f'<option value="{k}">{html.escape(v)}</option>' for k, v in ACTION_WORDS.items())
        outcomes = "".join(
            f'<option value="{k}"{" selected" if k == "unknown" else ""}>{html.escape(v)}</option>'
            for k, v in OUTCOME_WORDS.items()
        )
        return (
            '<details class="sauti-respond-box"><summary>Record a response</summary>'
            f'<form class="sauti-respond">{hidden}'
            f'<label>What was done <select name="action">{actions}</select></label>'
            '<label>Unit <input name="unit" maxlength="200"></label>'
            '<label>Sent (local time) <input type="datetime-local" name="dispatched_at"></label>'
            '<label>Arrived (local time) <input type="datetime-local" name="arrived_at"></label>'
            f'<label>Outcome <select name="outcome">{outcomes}</select></label>'
            '<label>Notes <textarea name="notes" rows="2" maxlength="2000"></textarea></label>'
            '<button type="submit">Save</button> <span class="sauti-respond-status" role="status"></span>'
            "</form></details>"
        )


def response_layer(
    source: DataSource, principal: Principal, units: pd.DataFrame, level: str
) -> MapResponses | None:
    """The response state the viewer may see (``None`` for roles without ``responses:read``)."""
    from sauti.ingest.responses import response_frames

    if not principal.can("responses:read"):
        return None
    responses, links = response_frames(source.workspace)
    out = MapResponses(may_record=principal.can("responses:write"))
    if not responses.empty:
        responses["time"] = responses["dispatched_at"].fillna(responses["decided_at"])
        latest = responses.sort_values("time", na_position="first").merge(links, on="response_id")
        out.by_alert = {
            a: _describe(r) for a, r in latest.groupby("alert_id").tail(1).set_index("alert_id").iterrows()
        }
    localities = source.localities()
    column = f"{level}_id"
    to_unit = localities.set_index(LOCALITY_ID)[column] if column in localities else pd.Series(dtype=object)
    unit_ids = set(units[LOCALITY_ID])

    def unit_of(ids: pd.Series) -> pd.Series:
        return ids.where(ids.isin(unit_ids), ids.map(to_unit))

    alerts = source.alerts()[["alert_id", LOCALITY_ID]].dropna()
    alerts["unit"] = unit_of(alerts[LOCALITY_ID])
    acted = set(
        links.merge(responses[responses["action"] != "none"][["response_id"]], on="response_id")["alert_id"]
    )
    alerts["answered"] = alerts["alert_id"].isin(acted)
    counts = alerts.groupby("unit")["answered"].agg(["size", "sum"])
    last: dict[str, str] = {}
    if not responses.empty:
        responses["unit"] = unit_of(responses[LOCALITY_ID])
        for unit, row in (
            responses.sort_values("time", na_position="first")
            .groupby("unit")
            .tail(1)
            .set_index("unit")
            .iterrows()
        ):
            last[unit] = _describe(row)
    for unit in unit_ids:
        total, answered = (
            (int(counts.at[unit, "size"]), int(counts.at[unit, "sum"])) if unit in counts.index else (0, 0)
        )
        out.by_unit[unit] = (total - answered, total, last.get(unit))
    return out
