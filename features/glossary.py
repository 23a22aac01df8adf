"""Plain words for every feature name the cube can produce: one glossary for the API, map, CLI and docs.

Labels are generated from the name grammar of :mod:`sauti.features.cube` (``count_<cat>``,
``alerts_<cat>``, ``region_count_<x>``, ``decay_<var>_hl<h>``, ``roll<w>_<var>``, ``since_<cat>``,
``trend_<var>``, ``splag1_``/``splag2_`` + any of those, static and season covariates), not listed
per name, so a new half-life or window is labelled without touching this file::

    >>> feature_label("splag1_decay_count_intercommunal_hl6")
    'intercommunal incidents in neighbouring localities, last 6 months (weighted)'
    >>> feature_label("area_km2")
    'area of the locality in km² (static)'

Decay half-lives become plain windows ("last 6 months (weighted)": the weight of an event halves
every 6 months), spatial lag order 1/2 becomes "neighbouring"/"second-ring" localities.
"""

from __future__ import annotations

import functools
import math
import re
from typing import Any

#: what each incident category (and the ``violent`` total) counts, as a plural noun phrase
INCIDENT_WORDS = {
    "intercommunal": "intercommunal incidents",
    "armed_clash": "armed clashes",
    "violence_against_civilians": "incidents of violence against civilians",
    "riot_protest": "riots and protests",
    "explosive_remote": "explosions and remote violence",
    "other": "other incidents",
    "violent": "violent incidents",
}
#: one incident of each category ("months since the last ...")
INCIDENT_ONE = {
    "intercommunal": "intercommunal incident",
    "armed_clash": "armed clash",
    "violence_against_civilians": "incident of violence against civilians",
    "riot_protest": "riot or protest",
    "explosive_remote": "explosion or remote attack",
    "other": "other incident",
}
#: what each alert category or verification state counts
ALERT_WORDS = {
    "intercommunal_tension": "community alerts of intercommunal tension",
    "armed_group_movement": "community alerts of armed group movements",
    "threat_to_civilians": "community alerts of threats to civilians",
    "attack": "community alerts of attacks",
    "displacement": "community alerts of displacement",
    "other": "other community alerts",
    "total": "community alerts (all kinds)",
    "unverified": "unverified community alerts",
    "verified": "verified community alerts",
    "false_alarm": "community alerts found to be false alarms",
}
STATIC_WORDS = {
    "area_km2": "area of the locality in km² (static)",
    "population": "population of the locality (static)",
    "pop_density": "population density, people per km² (static)",
    "dist_capital_km": "distance to the capital in km (static)",
    "dist_border_km": "distance to the national border in km (static)",
    "centroid_lon": "longitude of the locality's centre (static)",
    "centroid_lat": "latitude of the locality's centre (static)",
}
SEASON_WORDS = {
    "season_sin": "time of year (seasonal cycle, first part)",
    "season_cos": "time of year (seasonal cycle, second part)",
    "rainy_season": "rainy season month",
}
PLACES = {
    "splag1": "in neighbouring localities",
    "splag2": "in second-ring localities (neighbours of neighbours)",
}
PERIOD_WORDS = {"M": ("month", "months"), "W": ("week", "weeks")}
#: what the mission did about an alert (a response's ``action``), as the map popup and the report say it
ACTION_WORDS = {
    "patrol": "patrol",
    "engagement": "engagement with the community",
    "message": "warning passed on",
    "other": "other action",
    "none": "decided not to act",
}
#: what the patrol found (a response's ``outcome``)
OUTCOME_WORDS = {
    "calm": "calm",
    "tension": "tension",
    "violence": "violence",
    "unreachable": "could not reach the place",
    "unknown": "outcome not reported yet",
}
#: where a patrol plan's coverage came from (:func:`sauti.models.patrol.evaluate_plan_visits`)
VISIT_SOURCE_WORDS = {
    "recorded visits": "recorded visits: counted from the arrival times patrols recorded",
    "plan as drawn": "plan as drawn: no patrol arrival is recorded for the period, so every target counts as "
    "covered as if the plan was carried out exactly",
}
DEFAULT_TREND = (3, 12)


def _periods(n: float, freq: str) -> str:
    one, many = PERIOD_WORDS.get(freq, PERIOD_WORDS["M"])
    return one if n == 1 else f"{n:g} {many}"


def _subject(variable: str) -> str | None:
    """The noun phrase a base variable counts (``count_violent`` → "violent incidents")."""
    if variable == "fatalities":
        return "deaths in recorded incidents"
    if variable.startswith("count_") and variable[6:] in INCIDENT_WORDS:
        return INCIDENT_WORDS[variable[6:]]
    if variable.startswith("alerts_") and variable[7:] in ALERT_WORDS:
        return ALERT_WORDS[variable[7:]]
    if variable.startswith("region_count_") and variable[13:] in INCIDENT_WORDS:
        return f"{INCIDENT_WORDS[variable[13:]]} in the whole region"
    return None


def _parts(name: str, freq: str, trend: tuple[int, int]) -> tuple[str, str] | None:
    """``(subject, window)`` of a dynamic feature name, or None when the name is not in the grammar."""
    if (subject := _subject(name)) is not None:
        return subject, f"latest {_periods(1, freq)}"
    if m := re.fullmatch(r"decay_(.+)_hl(\d+(?:\.\d+)?)", name):
        subject = _subject(m[1])
        return None if subject is None else (subject, f"last {_periods(float(m[2]), freq)} (weighted)")
    if m := re.fullmatch(r"roll(\d+)_(.+)", name):
        subject = _subject(m[2])
        return None if subject is None else (subject, f"last {_periods(int(m[1]), freq)}")
    if m := re.fullmatch(r"trend_(.+)", name):
        subject = _subject(m[1])
        short, long = trend
        window = f"trend: last {_periods(short, freq)} against last {_periods(long, freq)}"
        return None if subject is None else (subject, window)
    return None


def feature_label(name: str, *, freq: str = "M", trend: tuple[int, int] = DEFAULT_TREND) -> str:
    """The plain-words label of a feature name (never an internal name).

    Parameters
    ----------
    name : str
        A cube variable name.
    freq : {"M", "W"}
        The cube's period: windows read as months or weeks.
    trend : (int, int)
        The ``FeatureParams.trend`` windows behind ``trend_<var>``.
    """
    if name in STATIC_WORDS:
        return STATIC_WORDS[name]
    if name in SEASON_WORDS:
        return SEASON_WORDS[name]
    if (m := re.fullmatch(r"since_(.+)", name)) and m[1] in INCIDENT_ONE:
        many = PERIOD_WORDS.get(freq, PERIOD_WORDS["M"])[1]
        return f"{many} since the last {INCIDENT_ONE[m[1]]}"
    place = ""
    if m := re.fullmatch(r"(splag[12])_(.+)", name):
        place, name = PLACES[m[1]], m[2]
    parts = _parts(name, freq, trend)
    if parts is None:
        words = " ".join(w for w in re.split(r"[_\W]+", name) if w)
        return f"other model input ({words})"
    subject, window = parts
    return f"{subject} {place}, {window}" if place else f"{subject}, {window}"


#: what a driver's contribution means, for people (map popups, docs, the API's description)
CONTRIBUTION_MEANING = (
    "how much this value raises (+) or lowers (−) the risk compared with a typical locality, "
    "where the same measure has its usual value in the training data, in percentage points"
)
SINCE_CAP = 120  # FeatureParams.since_cap: "periods since" never counts past it


def _number(value: float) -> str:
    """A count or measure for people: whole numbers as such, else two significant digits (10.4 → "10",
    0.029 → "0.029", 2.5 → "2.5")."""
    if abs(value - round(value)) < 1e-9:
        return f"{round(value):,}"
    decimals = significant_decimals(value)
    return f"{value:,.{decimals}f}"


STATIC_NAMES = {
    "area_km2": "area",
    "population": "population",
    "pop_density": "population density",
    "dist_capital_km": "distance to the capital",
    "dist_border_km": "distance to the national border",
    "centroid_lon": "longitude of the locality's centre",
    "centroid_lat": "latitude of the locality's centre",
    "rainy_season": "rainy season month",
}
_ONE = (
    ("riots and protests", "riot or protest"),
    ("explosions and remote violence", "explosion or remote attack"),
    ("incidents", "incident"),
    ("clashes", "clash"),
    ("alerts", "alert"),
    ("deaths", "death"),
)


def _one(subject: str) -> str:
    """The singular of a subject ("violent incidents" → "violent incident")."""
    for many, one in _ONE:
        if many in subject:
            return subject.replace(many, one, 1)
    return subject


def _static_value(name: str, value: float) -> str | None:
    if name == "area_km2":
        return f"{value:,.0f} km²"
    if name == "population":
        return f"{value:,.0f} people"
    if name == "pop_density":
        return f"{_number(value)} people per km²"
    if name in ("dist_capital_km", "dist_border_km"):
        return f"{value:,.0f} km"
    if name in ("centroid_lon", "centroid_lat"):
        return f"{value:.2f}°"
    if name == "rainy_season":
        return "yes" if value >= 0.5 else "no"
    if name in SEASON_WORDS:
        return f"{value:+.2f}"
    return None


def value_words(
    name: str,
    value: float | None,
    *,
    freq: str = "M",
    trend: tuple[int, int] = DEFAULT_TREND,
    since_cap: int = SINCE_CAP,
    short: bool = False,
) -> str:
    """A feature's value in plain words, with what it counts: "3 intercommunal incidents in the last
    3 months", "38 months since the last intercommunal incident", "12 km".

    With ``short`` only the amount and its unit ("38 months", "0.029", "12 km"): for a typical value
    beside a driver. Values the glossary does not know are shown as numbers.
    """
    if value is None or value != value:
        return "no value"
    value = float(value)
    many = PERIOD_WORDS.get(freq, PERIOD_WORDS["M"])[1]
    if (static := _static_value(name, value)) is not None:
        what = STATIC_NAMES.get(name) or SEASON_WORDS[name].split(" (")[0]
        return static if short else f"{what}: {static}"
    if (m := re.fullmatch(r"since_(.+)", name)) and m[1] in INCIDENT_ONE:
        if value >= since_cap:
            return (
                f"{since_cap:g} {many} or more"
                if short
                else f"no {INCIDENT_ONE[m[1]]} in the last {since_cap:g} {many}"
            )
        amount = _periods(value, freq) if value != 1 else f"1 {PERIOD_WORDS.get(freq, PERIOD_WORDS['M'])[0]}"
        return amount if short else f"{amount} since the last {INCIDENT_ONE[m[1]]}"
    place = ""
    base = name
    if m := re.fullmatch(r"(splag[12])_(.+)", name):
        place, base = PLACES[m[1]], m[2]
    parts = _parts(base, freq, trend)
    amount = _number(value)
    if parts is None:
        return amount
    if short:  # a typical count of a few hundredths is "none" to a person
        return "none" if 0 <= value < 0.05 and not base.startswith("trend_") else amount
    subject, window = parts
    if amount == "1":
        subject = _one(subject)
    elif not window.startswith("trend") and 0 <= value < 0.05:  # a weighted trace is "almost no"
        amount = "no" if value == 0 else "almost no"
    if place:
        where = "neighbouring" if place == PLACES["splag1"] else "second-ring"
        return f"{amount} {subject} per {where} locality on average, {window}"
    if window.startswith("trend"):
        return f"{subject}, {window}: {value:+.2g} per {PERIOD_WORDS.get(freq, PERIOD_WORDS['M'])[0]}"
    return f"{amount} {subject} in the {window}"


def driver_words(driver: dict[str, Any], *, freq: str = "M") -> str:
    """One driver's value and the typical locality's in words (no contribution): "38 months since the
    last intercommunal incident (typical locality: 120 months or more)"."""
    feature = str(driver.get("feature") or "")
    if driver.get("value") is None:
        return driver_label(driver, freq=freq)
    text = value_words(feature, driver.get("value"), freq=freq)
    if driver.get("typical") is not None:
        typical = f"typical locality: {value_words(feature, driver['typical'], freq=freq, short=True)}"
        text = f"{text[:-1]}; {typical})" if text.endswith(")") else f"{text} ({typical})"
    return text


def label_drivers(drivers: list[dict[str, Any]] | None, *, freq: str = "M") -> list[dict[str, Any]]:
    """Drivers as ``{"feature", "label", "contribution", "value", "typical", "text"}``: the plain-words
    label of the feature, and ``text``, the value (and the typical locality's) in words.

    Labels are worded once per feature and frequency (a scored period of 10,000 localities names
    the same few dozen features 50,000 times).
    """
    out = []
    for driver in drivers or []:
        feature = str(driver.get("feature", ""))
        item = {
            "feature": feature,
            "label": _cached_label(feature, freq),
            "contribution": driver.get("contribution"),
            "value": driver.get("value"),
            "typical": driver.get("typical"),
        }
        item["text"] = driver_words(item, freq=freq)
        out.append(item)
    return out


@functools.lru_cache(maxsize=4096)
def _cached_label(feature: str, freq: str) -> str:
    return feature_label(feature, freq=freq)


def significant_decimals(value: float | None, digits: int = 2) -> int:
    """Decimals that show ``value`` with ``digits`` significant digits (0.035 → 3, 1.1 → 1, 25 → 0)."""
    if value is None or value != value or value == 0:
        return 0
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    rounded = round(abs(value), decimals)  # 0.998 rounds to 1.00: one decimal fewer
    return decimals if rounded == 0 else max(0, digits - 1 - math.floor(math.log10(rounded)))


def percent(probability: float | None, digits: int | None = None) -> str:
    """A probability as a percentage for people, the same on the map, in the CLI and in exports.

    Two significant digits unless ``digits`` (decimals) is given, so a small risk never reads as
    nought: ``0.0112`` → ``"1.1%"``, ``0.00035`` → ``"0.035%"``, ``0.25`` → ``"25%"`` (``"–"`` for none).
    """
    if probability is None or probability != probability:
        return "–"
    value = 100 * float(probability)
    return f"{value:.{significant_decimals(value) if digits is None else digits}f}%"


def points(contribution: float | None, digits: int | None = None) -> str:
    """A change or contribution in percentage points, signed, two significant digits unless ``digits``
    (decimals) is given: ``0.0051`` → ``"+0.51 pp"``, ``-0.00018`` → ``"-0.018 pp"``."""
    if contribution is None or contribution != contribution:
        return "–"
    value = 100 * float(contribution)
    decimals = significant_decimals(value) if digits is None else digits
    return f"{value:+.{decimals}f} pp"


def driver_label(driver: dict[str, Any], *, freq: str = "M") -> str:
    """A driver's plain-words label: the one it carries, else the glossary's for its feature ("" for none)."""
    if driver.get("label"):
        return str(driver["label"])
    return feature_label(str(driver["feature"]), freq=freq) if driver.get("feature") else ""


def driver_text(driver: dict[str, Any], *, freq: str = "M") -> str:
    """One driver for a person: "<label> (+0.50 pp)"."""
    label = driver_label(driver, freq=freq) or feature_label("", freq=freq)
    return f"{label} ({points(driver.get('contribution'))})"


def last_events_text(last_events: dict[str, str]) -> str:
    """The latest incident of each category in words (the map's and ``sauti status``'s line).

    >>> last_events_text({"intercommunal": "2020-11-21", "armed_clash": "2022-12-30"})
    'Latest incident of each kind: intercommunal incident 21 Nov 2020 · armed clash 30 Dec 2022'
    """
    from datetime import date

    if not last_events:
        return "No incidents in the store."
    parts = [
        f"{INCIDENT_ONE.get(category, category.replace('_', ' '))} "
        f"{date.fromisoformat(day).strftime('%d %b %Y').lstrip('0')}"
        for category, day in last_events.items()
    ]
    return "Latest incident of each kind: " + " · ".join(parts)


def action_words(action: str | None) -> str:
    """A response's action in plain words (``"none"`` → "decided not to act"); unknown codes as given."""
    return ACTION_WORDS.get(action or "", action or "")


def outcome_words(outcome: str | None) -> str:
    """A response's outcome in plain words (``"unreachable"`` → "could not reach the place")."""
    return OUTCOME_WORDS.get(outcome or "", outcome or "")
