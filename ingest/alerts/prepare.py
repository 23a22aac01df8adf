"""One chunk of alerts → storable rows: pseudonymised, scrubbed, checked, identified and located.

Files and API submissions share :func:`prepare_alerts`, a short sequence of named stages (as
geopandas' ``sjoin`` → ``_basic_checks`` …): parse what has a type, pseudonymise and scrub at the
door (the raw identifiers never leave :func:`_pseudonymise`), check fields, times, vocabularies,
severity and coordinates, give each alert its key, and locate it with the gazetteer. Rejected rows
show only their pseudonymised, scrubbed form.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from sauti.constants import (
    ALERT_CHANNELS,
    ALERT_COLUMNS,
    ALERT_SEVERITY_RANGE,
    ALERT_VERIFICATION,
    LOCALITY_ID,
)
from sauti.ingest.alerts.fields import (
    EARLIEST,
    FUTURE_TOLERANCE,
    as_text,
    field_key,
    iso_utc,
    lookup,
    normalize_category,
    parse_received_at,
)
from sauti.ingest.alerts.ids import stored_alert_id
from sauti.ingest.bookkeeping import alert_reject_view
from sauti.ingest.gazetteer import Gazetteer, PlaceMatch
from sauti.ingest.tabular import (
    MAX_FIELD_CHARS,
    RAGGED_REASON,
    RECORD_PROBLEM,
    REPLACEMENT_CHAR,
    WHOLE_ROW,
    ragged_rows,
)
from sauti.ingest.validate import NOT_FINITE, RowChecker, blank, impossible_swaps, parse_numbers
from sauti.privacy import (
    GLUED_NAME_MIN_CHARS,
    REDACTED_PHONE,
    fold,
    fold_word,
    may_hold_identifier,
    reporter_ref,
    scrub_text,
)
from sauti.store import utc_now

KEY_FIELDS = ("alert_id", LOCALITY_ID)
"""Keys, never scrubbed: an SMS gateway's numeric id is not a phone number (scrubbing it made
distinct alerts "duplicates" of each other)."""
REJECT_FIELD_CHARS = 2_000
"""Fields longer than this are cut in the rejects file (after scrubbing)."""
GEOMETRY_PROBLEM = "_geometry_problem"
"""Column a reader sets when an alert's geometry cannot give a point (the row is rejected)."""


@dataclass
class AlertContext:
    """What every chunk of one run needs: the key, the gazetteer, the clock and defaults."""

    secret: bytes
    gazetteer: Gazetteer
    timezone: str
    now: pd.Timestamp
    extent: tuple[float, float, float, float] | None  # the boundaries' (warnings, never rejects)
    default_channel: str | None = None  # None: phone if a phone number is given, else in_person;
    # a row in the SMS-gateway shape (``from``) is always sms
    default_received_now: bool = False
    may_verify: bool = True  # False: a row giving a verification state is rejected (reporters)
    known_tokens: set[str] = field(default_factory=set)  # keyed refs of reporter name tokens


@dataclass
class PreparedAlerts:
    """One chunk after validation: storable rows, their localities, rejects and per-row errors."""

    rows: pd.DataFrame  # ALERT_COLUMNS + created_at, updated_at (accepted candidates only)
    names: dict[Any, str | None]  # index → locality name
    checker: RowChecker
    errors: dict[Any, list[dict]]
    new_tokens: set[str] = field(default_factory=set)  # name-token refs first seen in this chunk
    # verification states given with the rows: alert_id, verification, decided_at (index as rows)
    decisions: pd.DataFrame | None = None


# --- reporter names seen before: keyed token fingerprints ---------------------------------------------
_WORD_RE = re.compile(r"[^\W\d_]{3,}")
_ANY_WORD_RE = re.compile(r"[^\W\d_]+")


def name_tokens(name: str) -> set[str]:
    """The folded tokens of a name that scrubbing removes (3+ letters, as :func:`scrub_text`)."""
    return {t for t in re.split(r"[\s\-'’.,]+", fold(str(name))) if len(t) >= 3 and t.isalpha()}


@lru_cache(maxsize=200_000)
def token_ref(token: str, secret: bytes) -> str:
    """Keyed fingerprint of one folded name token (HMAC-SHA256 with the workspace secret)."""
    return hmac.new(secret, ("tok:" + token).encode("utf-8"), hashlib.sha256).hexdigest()[:24]


def _may_hold(value: str, ident_words: set[str]) -> bool:
    """Cheap test: could :func:`scrub_text` change ``value`` (a phone number, an e-mail, an ID number,
    or a word of the reporter, alone or glued to other text)?"""
    if may_hold_identifier(value):
        return True
    if not ident_words:
        return False
    words = [fold_word(w) for w in _ANY_WORD_RE.findall(value)]
    if any(w in ident_words for w in words):
        return True
    long_tokens = [t for t in ident_words if len(t) >= GLUED_NAME_MIN_CHARS]
    return any(t in w for t in long_tokens for w in words if len(w) > len(t))


def _known_names_in(value: str, ctx: AlertContext) -> list[str]:
    """Words of ``value`` that are tokens of a reporter name given with any alert so far.

    Place names of the gazetteer are left alone (a reporter called "Bria" must not erase the town).
    """
    if not ctx.known_tokens or not value:
        return []
    found = []
    for match in _WORD_RE.finditer(value):
        word = fold_word(match.group(0))
        if token_ref(word, ctx.secret) in ctx.known_tokens and not ctx.gazetteer.is_place_name(word):
            found.append(word)
    return found


# --- the stages ----------------------------------------------------------------------------------------
@dataclass
class _Parsed:
    """Values with a type, parsed before scrubbing: the rejects file shows them parsed."""

    received: pd.Series
    decided: pd.Series
    lon: pd.Series
    lat: pd.Series
    text: dict[str, list]  # canonical field → its parsed text ('' where it did not parse)


@dataclass
class _Scrubbed:
    """The chunk after :func:`_pseudonymise`: nothing raw left in it."""

    safe: pd.DataFrame  # reporter_ref + every canonical field but the identifiers, scrubbed
    phones_given: list[bool]
    too_long: list[str | None]  # first field longer than MAX_FIELD_CHARS, per row
    garbled: list[str | None]  # first field holding undecodable bytes, per row
    new_tokens: set[str]


class _Failures:
    """A :class:`RowChecker` plus every error of each row (the API reports all of them)."""

    def __init__(self, checker: RowChecker) -> None:
        self.checker = checker
        self.index = checker.raw.index
        self.errors: dict[Any, list[dict]] = {idx: [] for idx in self.index}

    def __call__(self, mask: pd.Series | np.ndarray, fieldname: str, reason: str) -> None:
        mask = pd.Series(np.asarray(mask, dtype=bool), index=self.index)
        self.checker.fail(mask, fieldname, reason)
        for idx in self.index[mask.to_numpy()]:
            self.errors[idx].append({"field": fieldname, "reason": reason})


def prepare_alerts(frame: pd.DataFrame, source_name: str, ctx: AlertContext) -> PreparedAlerts:
    """Validate, pseudonymise, scrub, identify and locate one chunk (with a ``_row`` column)."""
    # a row with more fields than the header has its values under the wrong columns: an identifier
    # may sit in a column that is shown, so nothing of it is shown
    ragged = ragged_rows(frame).to_numpy()
    canon, gateway = as_text(frame)  # rows in the SMS-gateway shape default to channel sms
    parsed = _parse(canon, ctx.timezone)
    scrubbed = _pseudonymise(canon, parsed, ragged, ctx)
    fail = _Failures(_checker(frame, scrubbed.safe, ragged, source_name))
    _check_fields(fail, frame, canon, scrubbed, ragged)
    received = _check_received(fail, canon, parsed.received, ctx)
    safe = scrubbed.safe
    fail(blank(safe["text"]) & blank(safe["category"]), "text", "alert has neither text nor category")
    channel = _check_channel(fail, safe, gateway, scrubbed.phones_given, ctx)
    verification, decided = _check_verification(fail, canon, safe, received, parsed.decided, ctx)
    severity = _check_severity(fail, safe)
    lon, lat = _check_coordinates(fail, canon, parsed.lon, parsed.lat)
    text = safe["text"].where(~blank(safe["text"]), None)
    category = safe["category"].map(normalize_category)
    received_at = iso_utc(received)
    alert_id = _identify(safe, received_at, text, category, channel, lon, lat)
    keep = safe.index[fail.checker.good.to_numpy()]
    located = _locate(safe.loc[keep], lon[keep], lat[keep], text[keep], ctx.gazetteer)
    columns = {
        "alert_id": alert_id,
        "received_at": received_at,
        "reporter_ref": safe["reporter_ref"],
        "channel": channel,
        "text": text,
        "category": category,
        "longitude": lon,
        "latitude": lat,
        "verification": verification,
        "severity": severity,
    }
    rows, names = _assemble(columns, located, safe["place"], keep)
    decisions = _decisions(alert_id[keep], verification[keep], decided[keep], rows["created_at"])
    return PreparedAlerts(rows, names, fail.checker, fail.errors, scrubbed.new_tokens, decisions)


def _parse(canon: pd.DataFrame, timezone: str) -> _Parsed:
    received = parse_received_at(canon["received_at"], timezone)
    decided = parse_received_at(canon["verified_at"], timezone)
    lon, lat = parse_numbers(canon["longitude"]), parse_numbers(canon["latitude"])

    def number_text(values: pd.Series) -> list:
        return (
            values.where(values.between(-180, 180))
            .map(lambda v: "" if pd.isna(v) else repr(float(v)))
            .tolist()
        )

    text = {
        "received_at": iso_utc(received).tolist(),
        "verified_at": iso_utc(decided).tolist(),
        "longitude": number_text(lon),
        "latitude": number_text(lat),
    }
    return _Parsed(received, decided, lon, lat, text)


def _learn_name_tokens(names: list[str], ragged: np.ndarray, ctx: AlertContext) -> set[str]:
    """Keyed refs of the reporter name tokens not seen before (added to ``ctx.known_tokens``)."""
    new: set[str] = set()
    for name, misaligned in zip(names, ragged, strict=True):
        if misaligned:  # whatever sits in the name column is not known to be a name
            continue
        for token in name_tokens(name):
            ref = token_ref(token, ctx.secret)
            if ref not in ctx.known_tokens:
                new.add(ref)
                ctx.known_tokens.add(ref)
    return new


def _pseudonymise(canon: pd.DataFrame, parsed: _Parsed, ragged: np.ndarray, ctx: AlertContext) -> _Scrubbed:
    """Reporter identifiers → ``reporter_ref``; free text scrubbed of them and of phone numbers.

    The identifiers never leave this function. Keys (:data:`KEY_FIELDS`) are kept as written,
    except an id that holds a phone number (keyed). Parsed values replace their text.
    """
    ids_phone = canon["reporter_phone"].tolist()
    ids_name = canon["reporter_name"].tolist()
    columns = [c for c in canon.columns if c not in ("reporter_phone", "reporter_name")]
    cells = {col: canon[col].tolist() for col in columns}
    new_tokens = _learn_name_tokens(ids_name, ragged, ctx)
    out: dict[str, list] = {c: [] for c in columns}
    refs, phones_given, too_long, garbled = [], [], [], []
    for pos in range(len(canon)):
        phone, name = ids_phone[pos].strip(), ids_name[pos].strip()
        refs.append(reporter_ref(phone or name or None, ctx.secret))
        phones_given.append(bool(phone))
        idents = [phone, name]
        ident_words = {fold_word(w) for w in _ANY_WORD_RE.findall(f"{phone} {name}")}
        long_field = bad_field = None
        for col in columns:
            value = cells[col][pos]
            if len(value) > MAX_FIELD_CHARS:  # rejected: only its (scrubbed) start is ever shown
                long_field = long_field or col
                value = value[:REJECT_FIELD_CHARS]
            clean = _clean(col, value, parsed.text, pos, phone, idents, ident_words, ctx)
            if bad_field is None and REPLACEMENT_CHAR in clean:
                bad_field = col
            out[col].append(clean)
        too_long.append(long_field)
        garbled.append(bad_field)
    safe = pd.DataFrame(out, index=canon.index, dtype=object)
    safe.insert(0, "reporter_ref", refs)
    return _Scrubbed(safe, phones_given, too_long, garbled, new_tokens)


def _clean(
    col: str,
    value: str,
    parsed: dict[str, list],
    pos: int,
    phone: str,
    idents: list[str],
    ident_words: set[str],
    ctx: AlertContext,
) -> str:
    """One field of one row as it may be kept: keys as written, parsed values, scrubbed text."""
    if col in KEY_FIELDS:  # keys are never scrubbed (one holding the reporter's number is keyed)
        return stored_alert_id(value, ctx.secret, phone) if col == "alert_id" else value
    if not value:
        return value
    if col in parsed:
        done = parsed[col][pos]
        return done if isinstance(done, str) and done else scrub_text(value, idents)
    extra = _known_names_in(value, ctx)
    return scrub_text(value, idents + extra) if extra or _may_hold(value, ident_words) else value


def _checker(frame: pd.DataFrame, safe: pd.DataFrame, ragged: np.ndarray, source_name: str) -> RowChecker:
    """The rejects file's view of the chunk: scrubbed values, long ones cut, ragged rows blank.

    Like every reply that leaves the store, it holds neither the reporter's pseudonym nor the exact
    point (:data:`ALERT_SENSITIVE_COLUMNS`): coordinates are shown to 0.1° (about 11 km), enough to
    see a swapped or out-of-range pair, and a coordinate that is not a number is not shown at all.
    """
    shown = alert_reject_view(safe).map(
        lambda v: v[:REJECT_FIELD_CHARS] + "…" if isinstance(v, str) and len(v) > REJECT_FIELD_CHARS else v
    )
    if ragged.any():
        shown.loc[ragged, :] = ""
    shown.insert(0, "_row", frame["_row"].to_numpy())
    return RowChecker(source_name, shown)


def _check_fields(
    fail: _Failures, frame: pd.DataFrame, canon: pd.DataFrame, scrubbed: _Scrubbed, ragged: np.ndarray
) -> None:
    """Whole-row and per-field problems: ragged rows, geometry, oversized or undecodable values."""
    fail(ragged, WHOLE_ROW, f"{RAGGED_REASON}; not shown: its values may sit under the wrong columns")
    for column, fieldname in ((RECORD_PROBLEM, WHOLE_ROW), (GEOMETRY_PROBLEM, "geometry")):
        if column in frame.columns:
            problem = frame[column]
            for reason in pd.unique(problem.dropna()):
                fail(problem == reason, fieldname, str(reason))
    index = scrubbed.safe.index
    too_long, garbled = pd.Series(scrubbed.too_long, index=index), pd.Series(scrubbed.garbled, index=index)
    for col in canon.columns:
        fail(too_long == col, col, f"longer than {MAX_FIELD_CHARS} characters")
        fail(garbled == col, col, "holds bytes that are not valid UTF-8")


def _check_received(
    fail: _Failures, canon: pd.DataFrame, received: pd.Series, ctx: AlertContext
) -> pd.Series:
    received_blank = blank(canon["received_at"])
    if ctx.default_received_now:
        received[received_blank] = ctx.now
    else:
        fail(received_blank, "received_at", "required value is missing")
    fail(
        ~received_blank & received.isna(),
        "received_at",
        "not a date (write ISO 8601 like 2021-03-04T10:22:00Z, or dd/mm/yyyy HH:MM in local time)",
    )
    fail(received > ctx.now + FUTURE_TOLERANCE, "received_at", "date is in the future")
    fail(received < EARLIEST, "received_at", "date is before 1990")
    return received


def _check_channel(
    fail: _Failures, safe: pd.DataFrame, gateway: pd.Series, phones_given: list[bool], ctx: AlertContext
) -> pd.Series:
    channel_key = safe["channel"].map(field_key)
    channel = channel_key.map(lookup("channels"))
    if ctx.default_channel:
        fallback = pd.Series(ctx.default_channel, index=safe.index)
    else:
        fallback = pd.Series(np.where(phones_given, "phone", "in_person"), index=safe.index)
    fallback = fallback.where(~gateway.to_numpy(), "sms")
    channel = channel.where(channel_key != "", fallback)
    # a phone number given as the channel is scrubbed to "[phone]", which must not read as "phone"
    held_phone = safe["channel"].astype(str).str.contains(REDACTED_PHONE, regex=False)
    fail(held_phone, "channel", "holds a phone number, not a channel (" + ", ".join(ALERT_CHANNELS) + ")")
    fail(channel.isna(), "channel", "not one of " + ", ".join(ALERT_CHANNELS))
    return channel


def _check_verification(
    fail: _Failures,
    canon: pd.DataFrame,
    safe: pd.DataFrame,
    received: pd.Series,
    decided: pd.Series,
    ctx: AlertContext,
) -> tuple[pd.Series, pd.Series]:
    """The state given with each alert and when it was decided (``verified_at``, else received)."""
    verif_key = safe["verification"].map(field_key)
    verification = verif_key.map(lookup("verification")).where(verif_key != "", "unverified")
    fail(verification.isna(), "verification", "not one of " + ", ".join(ALERT_VERIFICATION))
    decided_blank = blank(canon["verified_at"])
    if not ctx.may_verify:
        fail(
            (verification.notna() & (verification != "unverified")) | ~decided_blank,
            "verification",
            "set by analysts (PATCH /api/v1/alerts/{id}), not by whoever sends the alert",
        )
    fail(
        ~decided_blank & decided.isna(),
        "verified_at",
        "not a date (write ISO 8601 like 2021-03-06T09:00:00Z)",
    )
    fail(~decided_blank & (decided < received), "verified_at", "before received_at")
    fail(decided > ctx.now + FUTURE_TOLERANCE, "verified_at", "date is in the future")
    return verification, decided.where(~decided_blank, received)


def _check_severity(fail: _Failures, safe: pd.DataFrame) -> pd.Series:
    sev_text = safe["severity"].astype(str).str.strip()
    severity = parse_numbers(sev_text)
    lo, hi = ALERT_SEVERITY_RANGE
    fail(
        (sev_text != "") & (severity.isna() | (severity % 1 != 0)),
        "severity",
        f"not a whole number {lo}-{hi}",
    )
    fail(severity.notna() & ~severity.between(lo, hi), "severity", f"out of range {lo}-{hi}")
    kept = severity.where(severity.between(lo, hi))  # whole numbers in range (others are rejected)
    return pd.Series([None if pd.isna(v) else int(v) for v in kept], index=safe.index, dtype=object)


def _check_coordinates(
    fail: _Failures, canon: pd.DataFrame, lon: pd.Series, lat: pd.Series
) -> tuple[pd.Series, pd.Series]:
    lon_text, lat_text = canon["longitude"].astype(str).str.strip(), canon["latitude"].astype(str).str.strip()
    fail((lon_text.str.lower() == "nan") & lon.isna(), "longitude", NOT_FINITE)  # as the API refuses it
    fail((lat_text.str.lower() == "nan") & lat.isna(), "latitude", NOT_FINITE)
    fail((lon_text != "") & lon.isna(), "longitude", "not a number")
    fail((lat_text != "") & lat.isna(), "latitude", "not a number")
    has_lon, has_lat = lon.notna(), lat.notna()
    fail(has_lon ^ has_lat, "latitude", "only one of longitude/latitude is given")
    fail(has_lat & has_lon & (lat == 0) & (lon == 0), "latitude", "coordinates are 0,0")
    fail(has_lat & ~np.isfinite(lat.fillna(0)), "latitude", NOT_FINITE)
    fail(has_lon & ~np.isfinite(lon.fillna(0)), "longitude", NOT_FINITE)
    # beyond ±90 is impossible: rejected with why; a swap suspected only from the boundaries' extent
    # is a guess and the alert is kept (the file run counts it in a warning)
    fail(impossible_swaps(lon, lat), "latitude", "latitude and longitude look swapped")
    fail(has_lat & ~lat.between(-90, 90), "latitude", "out of range [-90, 90]")
    fail(has_lon & ~lon.between(-180, 180), "longitude", "out of range [-180, 180]")
    both = has_lat & has_lon
    return lon.where(both), lat.where(both)


def _identify(
    safe: pd.DataFrame,
    received_iso: pd.Series,
    text: pd.Series,
    category: pd.Series,
    channel: pd.Series,
    lon: pd.Series,
    lat: pd.Series,
) -> pd.Series:
    """The given id, else a stable hash of everything that tells two reports apart.

    Who (reporter), when, what (text, category), where (locality id, place, point) and how
    (channel): two reports that differ in any of these are two alerts, never "duplicates" (the
    same text sent for two localities in one batch is two reports); a true retry matches on all.
    """
    given = safe["alert_id"].astype(str).str.strip()
    fields = (safe["reporter_ref"], received_iso, text, category, channel)
    where = (safe[LOCALITY_ID], safe["place"], lon.round(6), lat.round(6))
    hashed = [
        "al_" + hashlib.sha256("|".join(_key_part(v) for v in parts).encode()).hexdigest()[:24]
        for parts in zip(*fields, *where, strict=True)
    ]
    return given.where(given != "", pd.Series(hashed, index=safe.index))


def _key_part(value: Any) -> str:
    """One field of an alert's identity as text ('' for missing)."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return ""
    return str(value).strip()


def _locate(
    safe: pd.DataFrame, lon: pd.Series, lat: pd.Series, text: pd.Series, gazetteer: Gazetteer
) -> dict[Any, tuple[PlaceMatch | None, str]]:
    """Where each alert is: P-code > point > place column > free text (or ``unresolved``)."""
    places = safe["place"].where(~blank(safe["place"]), None).tolist()
    loc_ids = safe[LOCALITY_ID].astype(str).str.strip().tolist()
    texts = text.tolist()
    point_matches = gazetteer.locate_points(lon.to_numpy(dtype=float), lat.to_numpy(dtype=float))
    located: dict[Any, tuple[PlaceMatch | None, str]] = {}
    for pos, idx in enumerate(safe.index):
        match, how = None, "unresolved"
        if loc_ids[pos]:
            match = gazetteer.by_id(loc_ids[pos])
            how = "locality_id" if match else how
        if match is None and point_matches[pos] is not None:
            match, how = point_matches[pos], "point"
        if match is None and places[pos]:
            match = gazetteer.match_name(places[pos])
            how = "gazetteer" if match else how
        if match is None and texts[pos]:
            match = gazetteer.resolve(texts[pos])
            how = "gazetteer" if match else how
        located[idx] = (match, how)
    return located


def _assemble(
    columns: dict[str, pd.Series],
    located: dict[Any, tuple[PlaceMatch | None, str]],
    place: pd.Series,
    keep: pd.Index,
) -> tuple[pd.DataFrame, dict[Any, str | None]]:
    """The storable rows (kept rows only, store column order) and each row's locality name."""
    now = utc_now()
    places = place.where(~blank(place), None)
    rows = pd.DataFrame({name: values[keep] for name, values in columns.items()}, index=keep)
    rows["place_name"] = [
        places[i] if places[i] else (located[i][0].matched if located[i][1] == "gazetteer" else None)
        for i in keep
    ]
    rows[LOCALITY_ID] = [located[i][0].locality_id if located[i][0] else None for i in keep]
    rows["locality_confidence"] = [located[i][0].confidence if located[i][0] else None for i in keep]
    rows["location_source"] = [located[i][1] for i in keep]
    rows = rows[list(ALERT_COLUMNS)].assign(created_at=now, updated_at=now)
    names = {i: (located[i][0].name if located[i][0] else None) for i in keep}
    return rows, names


def _decisions(
    alert_id: pd.Series, verification: pd.Series, decided: pd.Series, now: pd.Series
) -> pd.DataFrame:
    """The verification states given with the kept rows (``unverified`` is no decision)."""
    decisions = pd.DataFrame(
        {
            "alert_id": alert_id,
            "verification": verification,
            "decided_at": iso_utc(decided).where(decided.notna(), now),
        },
        index=alert_id.index,
    )
    return decisions[decisions["verification"] != "unverified"]


def scrub_free_text(value: str | None, ctx: AlertContext) -> str | None:
    """Other free text that may hold what alert text may (response notes, a unit's name): scrubbed
    of phone numbers and of any word that is a token of a reporter name seen with an alert (the
    keyed token fingerprints of ``ctx``; gazetteer place names are kept), as alert text is."""
    if value is None:
        return None
    return scrub_text(value, _known_names_in(value, ctx))
