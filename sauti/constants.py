"""The names every layer shares: the panel key, canonical categories and vocabularies, CRSs.

Data crossing a layer boundary is checked against these with :func:`check_panel` and
:func:`check_columns`, so a renamed column fails loudly where it enters, not three steps later.
"""

from __future__ import annotations

from collections.abc import Iterable

# --- the one panel key -------------------------------------------------------------------------
LOCALITY_ID = "locality_id"
PERIOD = "period"
PANEL_KEY = (LOCALITY_ID, PERIOD)
# dimension names of the feature cube (xarray)
LOCALITY_DIM = "locality"
PERIOD_DIM = "period"

# --- coordinate reference systems ------------------------------------------------------------
STORAGE_CRS = "EPSG:4326"  # every geometry in the store and every API response

# the risk surface a workspace serves (written by `sauti heatmap`, the demo and the nowcast)
DEFAULT_SURFACE = "rasters/risk_surface.tif"

# --- vocabularies ------------------------------------------------------------------------------
INCIDENT_CATEGORIES = (
    "intercommunal",
    "armed_clash",
    "violence_against_civilians",
    "riot_protest",
    "explosive_remote",
    "other",
)
VIOLENT_CATEGORIES = (
    "intercommunal",
    "armed_clash",
    "violence_against_civilians",
    "explosive_remote",
)
TARGET_CATEGORY = "intercommunal"

DATE_PRECISIONS = ("day", "week", "month", "year")
# point: coordinates are the place; locality: somewhere in the locality that contains the
# coordinates (or the named admin unit); region: only the first-level unit is known;
# country: only the country is known.
LOCATION_PRECISIONS = ("point", "locality", "region", "country")

LEVELS = ("admin0", "admin1", "admin2", "admin3", "admin4", "grid")

ALERT_CHANNELS = ("sms", "phone", "in_person", "app")
ALERT_VERIFICATION = ("unverified", "verified", "false_alarm")
ALERT_CATEGORIES = (
    "intercommunal_tension",
    "armed_group_movement",
    "threat_to_civilians",
    "attack",
    "displacement",
    "other",
)
ALERT_SEVERITY_RANGE = (1, 5)
# how an alert's locality was found
ALERT_LOCATION_SOURCES = ("point", "locality_id", "gazetteer", "unresolved")

# --- canonical record schemas (column order is the storage order) -----------------------------
LOCALITY_COLUMNS = (
    LOCALITY_ID,
    "name",
    "level",
    "parent_id",
    "parent_name",
    "admin0_id",
    "admin0_name",
    "admin1_id",
    "admin1_name",
    "admin2_id",
    "admin2_name",
    "admin3_id",
    "admin3_name",
    "alt_names",
    "area_km2",
    "geometry",
)
INCIDENT_COLUMNS = (
    "event_id",
    "source",
    "occurred_on",
    "date_precision",
    "longitude",
    "latitude",
    "location_precision",
    "category",
    "fatalities",
    "actor1",
    "actor2",
    "admin1",
    "admin2",
    "place_name",
    "source_category",
    "text",
)
INCIDENT_REQUIRED = ("event_id", "source", "occurred_on", "date_precision", "location_precision", "category")
ALERT_COLUMNS = (
    "alert_id",
    "received_at",
    "reporter_ref",
    "channel",
    "text",
    "category",
    "longitude",
    "latitude",
    "place_name",
    LOCALITY_ID,
    "locality_confidence",
    "location_source",
    "verification",
    "severity",
)
# Columns of an alert that must never leave the store as they are (exact position, pseudonym).
ALERT_SENSITIVE_COLUMNS = ("reporter_ref", "longitude", "latitude")


def check_columns(frame_columns: Iterable[str], required: Iterable[str], what: str) -> None:
    """Raise ``ValueError`` naming ``what`` and the missing columns, if any are missing."""
    have = set(frame_columns)
    missing = [c for c in required if c not in have]
    if missing:
        raise ValueError(f"{what} is missing required column(s): {', '.join(missing)}")


def check_panel(frame_columns: Iterable[str], what: str) -> None:
    """Check that a frame crossing a layer boundary carries the panel key."""
    check_columns(frame_columns, PANEL_KEY, what)


DEFAULT_TIMEZONE = "Africa/Bangui"
"""The mission's local time zone when none is set (``SAUTI_TIMEZONE``): naive alert times are read in it."""
