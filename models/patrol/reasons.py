"""A patrol plan in plain words: the headline, what limited each base, and score drivers as text.

Nothing here names an internal column or feature to a person: drivers go through
:mod:`sauti.features.glossary`, counts are written with two significant digits.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from sauti.features.glossary import driver_label, driver_words, feature_label, points

TOP_DRIVERS = 3


def amount_text(value: float) -> str:
    """An expected count with two significant digits and no exponent: 12, 2.6, 0.41, 0.012."""
    if value >= 10:
        return f"{value:,.0f}"
    if value >= 1:
        return f"{value:.1f}"
    if value <= 0:
        return "0"
    return f"{value:.{max(2, 1 - math.floor(math.log10(value)))}f}"


def expected_localities_text(covered: float, total: float) -> str:
    """``Expected localities with an incident covered: 1.4 of 2.6 (55%)``."""
    share = f" ({covered / total:.0%})" if total > 0 else ""
    return (
        f"Expected localities with an incident covered: {amount_text(covered)} of {amount_text(total)}{share}"
    )


def driver_text(item: dict) -> str:
    """``label (+0.68 pp)``: the driver in plain words (:mod:`sauti.features.glossary`, so no internal
    name reaches a person) and its contribution in percentage points, like the risk in %."""
    name = driver_label(item) or str(item.get("name") or "?")
    if item.get("feature") and item.get("value") is not None:
        name = driver_words(item)  # the value (and the typical locality's) in words
    contribution = item.get("contribution")
    if isinstance(contribution, (int, float)) and not isinstance(contribution, bool):
        return f"{name} ({points(contribution)})"
    return str(name)


def driver_names(value: Any, top: int = TOP_DRIVERS) -> list[str]:
    """Normalise a score's drivers (list of names/dicts, or JSON text) to up to ``top`` strings."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return []
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            names = [s.strip() for s in text.replace(";", ",").split(",") if s.strip()][:top]
            return [feature_label(n) for n in names]
    if isinstance(value, dict):
        value = [{"feature": k, "contribution": v} for k, v in value.items()]
    if not isinstance(value, (list, tuple, np.ndarray)):
        return [feature_label(str(value))]
    out = []
    for item in list(value)[:top]:
        if isinstance(item, dict):
            out.append(driver_text(item))
        else:
            out.append(str(item))
    return out


def plan_reasons(
    *,
    names: list[str],
    ranges: np.ndarray,
    capacity: np.ndarray,
    used: np.ndarray,
    in_range: np.ndarray,
    allowed: np.ndarray,
    open_routes: np.ndarray,
    reachable: np.ndarray,
    nearest: np.ndarray,
    base_in_nogo: np.ndarray,
    unscored: int,
    n_localities: int,
    patrols_override: int | None,
    status: str,
    method: str,
    expected: tuple[float, float],
    weighted: bool,
    covered_value: tuple[float, float],
    gap: float | None,
    n_covered: int,
) -> list[str]:
    """Plain-words reasons: the headline, then what limited each base.

    Per base (arrays in base order): its range (km), patrols, patrols used, localities in range,
    those not in a no-go area, those with an open route, those with a positive value, the nearest
    locality (km) and whether the base lies in a no-go area. ``expected`` and ``covered_value`` are
    ``(covered, total)`` expected localities with an incident and (weighted) value.
    """
    notes: list[str] = []
    if int(capacity.sum()) == 0:
        notes.append(
            "patrols = 0: there are no patrols to place."
            if patrols_override == 0
            else "Every base has 0 patrols per period: there are no patrols to place."
        )
    elif n_covered:
        covered, total = covered_value
        value = (
            f" Weighted risk covered: {amount_text(covered)} of {amount_text(total)} ({covered / total:.0%})."
            if weighted and total > 0
            else ""
        )
        notes.append(
            f"{n_covered} patrol{'s' if n_covered != 1 else ''} from {int((used > 0).sum())} "
            f"base{'s' if (used > 0).sum() != 1 else ''} cover {n_covered} localit"
            f"{'ies' if n_covered != 1 else 'y'}. {expected_localities_text(*expected)}.{value} "
            f"Plan {status} ({method}), gap {gap:.2%}."
        )
    else:
        notes.append("No patrol can be placed.")
    for b, name in enumerate(names):
        if capacity[b] == 0:
            if int(capacity.sum()) > 0:
                notes.append(f"Base {name} has 0 patrols.")
            continue
        r = f"{ranges[b]:g} km"
        if in_range[b] == 0:
            far = f" (the nearest is {nearest[b]:.0f} km away)" if np.isfinite(nearest[b]) else ""
            notes.append(f"No locality within {r} of base {name}{far}.")
        elif allowed[b] == 0:
            notes.append(f"All {in_range[b]} localities within {r} of base {name} are in no-go areas.")
        elif open_routes[b] == 0:
            where = " (the base itself lies in one)" if base_in_nogo[b] else ""
            notes.append(f"Every route from base {name} crosses a no-go area{where}.")
        elif reachable[b] == 0:
            notes.append(f"No locality within {r} of base {name} has a risk score above zero.")
        elif used[b] < capacity[b]:
            spare = capacity[b] - used[b]
            why = (
                f"only {reachable[b]} localit{'ies' if reachable[b] != 1 else 'y'} with risk within {r}"
                if reachable[b] < capacity[b]
                else "other bases already cover the rest of its reach"
            )
            notes.append(f"Base {name}: {spare} of {capacity[b]} patrols unused ({why}).")
    if unscored:
        notes.append(f"{unscored} of {n_localities} localities have no risk score and were not considered.")
    return notes
