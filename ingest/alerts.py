"""Community alerts (CSV, JSON, SMS-gateway posts) → canonical, pseudonymised, geocoded alerts.

Files and API submissions share one implementation (:func:`_prepare`): column aliases in French
or English, the reporter's phone number or name turned into ``reporter_ref`` (HMAC with the
workspace secret) the moment it is read, free text scrubbed of phone numbers and of the reporter's
own name and number, ``received_at`` normalised to UTC, vocabularies normalised, and the locality
resolved through the :class:`~sauti.ingest.gazetteer.Gazetteer`. Nothing raw is stored, logged or
written to a rejects file: rejected rows show their pseudonymised, scrubbed form.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sauti.ingest.errors import IngestError
from sauti.ingest.gazetteer import Gazetteer, PlaceMatch
from sauti.ingest.report import IngestReport
from sauti.ingest.runs import ProgressCallback, RunContext, ingest_run
from sauti.ingest.tabular import (
    MAX_FIELD_CHARS,
    RAGGED_REASON,
    REPLACEMENT_CHAR,
    WHOLE_ROW,
    ragged_rows,
    read_delimited,
    read_json_records,
)
from sauti.ingest.validate import RowChecker, blank, parse_dates, parse_numbers

from sauti.constants import (
    ALERT_CATEGORIES,
    ALERT_CHANNELS,
    ALERT_COLUMNS,
    ALERT_SENSITIVE_COLUMNS,
    ALERT_SEVERITY_RANGE,
    ALERT_VERIFICATION,
)
from sauti.errors import NotFoundError
from sauti.privacy import PHONE_MIN_DIGITS, fold, fold_word, may_hold_phone_number, reporter_ref, scrub_text
from sauti.store import Workspace, utc_now

log = logging.getLogger(__name__)

# --- accepted input columns ------------------------------------------------------------------------
FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "alert_id": ("alert_id", "id", "message_id", "sms_id", "identifiant", "id_alerte"),
    "received_at": (
        "received_at",
        "date",
        "date_reception",
        "date_de_reception",
        "datetime",
        "date_heure",
        "timestamp",
        "received",
        "sent_at",
        "sent_timestamp",
    ),
    "reporter_phone": (
        "reporter_phone",
        "phone",
        "telephone",
        "tel",
        "numero",
        "numero_de_telephone",
        "msisdn",
        "from",
        "sender",
        "contact",
    ),
    "reporter_name": (
        "reporter_name",
        "name",
        "nom",
        "reporter",
        "rapporteur",
        "informateur",
        "nom_rapporteur",
    ),
    "channel": ("channel", "canal", "moyen", "source_channel"),
    "text": ("text", "message", "texte", "description", "details", "body", "contenu"),
    "category": ("category", "categorie", "type", "type_alerte", "type_d_alerte"),
    "place": ("place", "place_name", "location", "lieu", "village", "localite", "site"),
    "latitude": ("latitude", "lat"),
    "longitude": ("longitude", "lon", "lng", "long"),
    "locality_id": ("locality_id", "pcode", "p_code", "admin_pcode", "code_localite"),
    "verification": ("verification", "verifie", "statut", "status", "verification_status"),
    "verified_at": ("verified_at", "verification_date", "date_verification", "date_de_verification"),
    "severity": ("severity", "gravite", "severite", "niveau_de_gravite"),
}
IDENTIFIER_FIELDS = ("reporter_phone", "reporter_name")
KEY_FIELDS = ("alert_id", "locality_id")
"""Keys, never scrubbed: an SMS gateway's numeric id is not a phone number (scrubbing it made
distinct alerts "duplicates" of each other)."""

CATEGORY_SYNONYMS: dict[str, tuple[str, ...]] = {
    "intercommunal_tension": (
        "intercommunal",
        "intercommunautaire",
        "tension",
        "tensions",
        "tension intercommunautaire",
        "tensions intercommunautaires",
        "conflit intercommunautaire",
        "communal tension",
        "intercommunal tension",
        "conflit",
        "conflict",
        "dispute",
        "litige",
    ),
    "armed_group_movement": (
        "armed group movement",
        "armed group",
        "armed men",
        "movement",
        "mouvement",
        "mouvement de groupe arme",
        "mouvement de groupes armes",
        "mouvement arme",
        "groupe arme",
        "groupes armes",
        "hommes armes",
    ),
    "threat_to_civilians": (
        "threat",
        "threats",
        "threat to civilians",
        "menace",
        "menaces",
        "menace contre les civils",
        "menaces contre les civils",
        "intimidation",
    ),
    "attack": (
        "attack",
        "attaque",
        "attacked",
        "raid",
        "killing",
        "meurtre",
        "assassinat",
        "incendie",
        "pillage",
        "looting",
        "affrontement",
        "clash",
        "violence",
    ),
    "displacement": (
        "displacement",
        "displaced",
        "deplacement",
        "deplacement de population",
        "deplaces",
        "fuite",
        "refugies",
    ),
    "other": ("other", "autre", "autres", "divers"),
}
CHANNEL_SYNONYMS: dict[str, tuple[str, ...]] = {
    "sms": ("sms", "texto", "text", "text message", "message"),
    "phone": ("phone", "telephone", "tel", "call", "appel", "appel telephonique", "hotline", "voice"),
    "in_person": (
        "in person",
        "en personne",
        "face a face",
        "face to face",
        "visite",
        "visit",
        "walk in",
        "direct",
        "reunion",
        "meeting",
    ),
    "app": ("app", "application", "mobile app", "web", "api", "formulaire", "form", "kobo"),
}
VERIFICATION_SYNONYMS: dict[str, tuple[str, ...]] = {
    "unverified": ("unverified", "non verifie", "pending", "en attente", "a verifier", "new", "nouveau"),
    "verified": ("verified", "verifie", "confirmed", "confirme", "true", "vrai", "yes", "oui"),
    "false_alarm": (
        "false alarm",
        "fausse alerte",
        "faux",
        "false",
        "non",
        "no",
        "infirme",
        "rumeur",
        "rumour",
        "rumor",
    ),
}
NAIVE_FORMATS = (
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y",
    "%d-%m-%Y %H:%M:%S",
    "%d-%m-%Y %H:%M",
    "%d-%m-%Y",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y",
)
FUTURE_TOLERANCE = timedelta(minutes=10)
"""A phone clock may run a little ahead: later than now + this is "in the future"."""
EARLIEST = pd.Timestamp("1990-01-01", tz="UTC")
REJECT_FIELD_CHARS = 2_000
"""Fields longer than this are cut in the rejects file (after scrubbing)."""
_AWARE_RE = r"\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|[+-]\d{2}:?\d{2})$"


def _key(value: Any) -> str:
    """Folded, punctuation-free form of a header or a vocabulary value."""
    return re.sub(r"[^a-z0-9]+", "_", fold(str(value)).strip()).strip("_")


def _synonym_table(table: dict[str, tuple[str, ...]]) -> dict[str, str]:
    out = {}
    for canonical, words in table.items():
        out[_key(canonical)] = canonical
        for word in words:
            out[_key(word)] = canonical
    return out


_ALIAS = {_key(a): canonical for canonical, aliases in FIELD_ALIASES.items() for a in aliases}
_CATEGORY = _synonym_table(CATEGORY_SYNONYMS)
_CHANNEL = _synonym_table(CHANNEL_SYNONYMS)
_VERIFICATION = _synonym_table(VERIFICATION_SYNONYMS)
assert set(_CATEGORY.values()) <= set(ALERT_CATEGORIES)
assert set(_CHANNEL.values()) <= set(ALERT_CHANNELS)
assert set(_VERIFICATION.values()) <= set(ALERT_VERIFICATION)


def normalize_category(value: Any) -> str:
    """Canonical alert category; anything unknown or blank is ``other`` (never rejected)."""
    return _CATEGORY.get(_key(value or ""), "other")


def normalize_verification(value: Any) -> str:
    """Canonical verification state; blank is ``unverified``; unknown raises ``ValueError``."""
    key = _key(value if value is not None else "")
    if not key:
        return "unverified"
    if key not in _VERIFICATION:
        raise ValueError(f"verification must be one of {', '.join(ALERT_VERIFICATION)}, not {value!r}")
    return _VERIFICATION[key]


# --- outcomes for the API ------------------------------------------------------------------------------
@dataclass
class AlertOutcome:
    """What happened to one submitted alert (``row`` is its 1-based position in the batch)."""

    row: int
    status: str  # "accepted" | "duplicate" | "rejected"
    alert_id: str | None = None
    locality_id: str | None = None
    locality_name: str | None = None
    locality_confidence: float | None = None
    location_source: str = "unresolved"
    errors: list[dict] = field(default_factory=list)


@dataclass
class _Prepared:
    """One chunk after validation: storable rows, their localities, rejects and per-row errors."""

    rows: pd.DataFrame  # ALERT_COLUMNS + created_at, updated_at (accepted candidates only)
    names: dict[Any, str | None]  # index → locality name
    checker: RowChecker
    errors: dict[Any, list[dict]]
    new_tokens: set[str] = field(default_factory=set)  # name-token refs first seen in this chunk
    # verification states given with the rows: alert_id, verification, decided_at (index as rows)
    decisions: pd.DataFrame | None = None


@dataclass
class _Context:
    """What every chunk of one run needs: the key, the gazetteer, the clock and defaults."""

    secret: bytes
    gazetteer: Gazetteer
    timezone: str
    now: pd.Timestamp
    extent: tuple[float, float, float, float] | None
    default_channel: str | None = None  # None: phone if a phone number is given, else in_person;
    # a row in the SMS-gateway shape (``from``) is always sms
    default_received_now: bool = False
    may_verify: bool = True  # False: a row giving a verification state is rejected (reporters)
    known_tokens: set[str] = field(default_factory=set)  # keyed refs of reporter name tokens


# --- reporter names seen before: keyed token fingerprints ---------------------------------------------
_WORD_RE = re.compile(r"[^\W\d_]{3,}")
_ANY_WORD_RE = re.compile(r"[^\W\d_]+")
_DIGIT_RE = re.compile(r"\d")


def name_tokens(name: str) -> set[str]:
    """The folded tokens of a name that scrubbing removes (3+ letters, as :func:`scrub_text`)."""
    return {t for t in re.split(r"[\s\-'’.,]+", fold(str(name))) if len(t) >= 3 and t.isalpha()}


@lru_cache(maxsize=200_000)
def token_ref(token: str, secret: bytes) -> str:
    """Keyed fingerprint of one folded name token (HMAC-SHA256 with the workspace secret)."""
    return hmac.new(secret, ("tok:" + token).encode("utf-8"), hashlib.sha256).hexdigest()[:24]


def _may_hold(value: str, ident_words: set[str]) -> bool:
    """Cheap test: could :func:`scrub_text` change ``value`` (7+ digits, or a word of the reporter)?"""
    if may_hold_phone_number(value):
        return True
    return bool(ident_words) and any(fold_word(w) in ident_words for w in _ANY_WORD_RE.findall(value))


def _own_phone_as_id(alert_id: str, phone: str, secret: bytes) -> str:
    """``alert_id`` as given, unless it holds the reporter's own phone number (last 7 digits):
    then its keyed pseudonym, which is as stable a key and reveals nothing."""
    digits = "".join(_DIGIT_RE.findall(phone))
    held = "".join(_DIGIT_RE.findall(alert_id))
    if len(digits) < PHONE_MIN_DIGITS or digits[-PHONE_MIN_DIGITS:] not in held:
        return alert_id
    return "id_" + hmac.new(secret, ("id:" + alert_id).encode("utf-8"), hashlib.sha256).hexdigest()[:24]


def _known_names_in(value: str, ctx: _Context) -> list[str]:
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


# --- the shared pipeline ----------------------------------------------------------------------------
def canonical_columns(columns: list[str]) -> dict[str, str]:
    """Map each recognised source column → its canonical field (several may alias one field)."""
    out: dict[str, str] = {}
    for column in columns:
        if column == "_row":
            continue
        canonical = _ALIAS.get(_key(column))
        if canonical:
            out[column] = canonical
    return out


def _cell(v: Any) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    if isinstance(v, dict | list):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return str(v)


def _as_text(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Every canonical field as a string ('' when missing; nested JSON values as JSON text).

    When several source columns alias one field (``from`` and ``reporter_phone``), each row takes
    the first non-blank one, in column order. Also returns which rows are in the SMS-gateway
    shape (a non-blank ``from``). Unrecognised columns are dropped here: never stored.
    """
    n = len(frame)
    values: dict[str, list[str]] = {name: [""] * n for name in FIELD_ALIASES}
    gateway = np.zeros(n, dtype=bool)
    for pos, column in enumerate(frame.columns):
        canonical = None if column == "_row" else _ALIAS.get(_key(column))
        if canonical is None:
            continue
        cells = [_cell(v) for v in frame.iloc[:, pos]]
        if _key(column) == "from":
            gateway |= np.array([bool(c.strip()) for c in cells], dtype=bool)
        values[canonical] = [
            old if old.strip() else new for old, new in zip(values[canonical], cells, strict=True)
        ]
    out = pd.DataFrame(values, index=frame.index, dtype=object)
    return out, pd.Series(gateway, index=frame.index)


def parse_received_at(values: pd.Series, timezone: str) -> pd.Series:
    """Parse alert times to UTC.

    ISO 8601 with ``Z`` or an offset is taken as written; Unix seconds as UTC; naive ISO or
    day-first (``dd/mm/yyyy HH:MM``, the French spreadsheet habit) times are local times in
    ``timezone``. Unparseable → NaT.
    """
    text = values.astype(str).str.strip()
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[us, UTC]")
    epoch = text.str.fullmatch(r"\d{9,10}(?:\.\d+)?")
    if epoch.any():
        out[epoch] = pd.to_datetime(text[epoch].astype(float), unit="s", utc=True)
    aware = text.str.contains(_AWARE_RE, regex=True) & ~epoch
    for idx in text.index[aware]:
        try:
            out[idx] = pd.Timestamp(text[idx].replace(" ", "T", 1)).tz_convert("UTC")
        except (ValueError, TypeError):
            continue
    naive = ~aware & ~epoch & (text != "")
    if naive.any():
        sub = text[naive]
        parsed = pd.to_datetime(sub, format="ISO8601", errors="coerce")
        todo = parsed.isna()
        if todo.any():
            parsed[todo] = parse_dates(sub[todo], NAIVE_FORMATS)
        local = pd.DatetimeIndex(parsed).tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
        out[naive] = pd.Series(local.tz_convert("UTC"), index=sub.index)
    return out


def _prepare(frame: pd.DataFrame, source_name: str, ctx: _Context) -> _Prepared:
    """Validate, pseudonymise, scrub and geocode one chunk (with a ``_row`` column)."""
    # a row with more fields than the header has its values under the wrong columns: an identifier
    # may sit in a column that is shown, so nothing of it is shown
    ragged = ragged_rows(frame).to_numpy()
    canon, gateway = _as_text(frame)  # rows in the SMS-gateway shape default to channel sms

    # parse time and coordinates first: the rejects file shows them parsed, or scrubbed if not
    received = parse_received_at(canon["received_at"], ctx.timezone)
    lon, lat = parse_numbers(canon["longitude"]), parse_numbers(canon["latitude"])
    decided = parse_received_at(canon["verified_at"], ctx.timezone)
    parsed_text = {
        "received_at": received.dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "verified_at": decided.dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "longitude": lon.where(lon.between(-180, 180)).map(lambda v: "" if pd.isna(v) else repr(float(v))),
        "latitude": lat.where(lat.between(-180, 180)).map(lambda v: "" if pd.isna(v) else repr(float(v))),
    }

    # 1. pseudonymise at the door: the identifiers never leave this block
    ids_phone = canon.pop("reporter_phone").tolist()
    ids_name = canon.pop("reporter_name").tolist()
    refs, phones_given = [], []
    columns = list(canon.columns)
    cells = {col: canon[col].tolist() for col in columns}
    parsed_lists = {col: values.tolist() for col, values in parsed_text.items()}
    new_tokens: set[str] = set()
    for name, misaligned in zip(ids_name, ragged, strict=True):
        if misaligned:  # whatever sits in the name column is not known to be a name
            continue
        for token in name_tokens(name):
            ref = token_ref(token, ctx.secret)
            if ref not in ctx.known_tokens:
                new_tokens.add(ref)
                ctx.known_tokens.add(ref)
    scrubbed: dict[str, list] = {c: [] for c in canon.columns}
    too_long, garbled = [], []
    for pos in range(len(canon)):
        phone, name = ids_phone[pos].strip(), ids_name[pos].strip()
        refs.append(reporter_ref(phone or name or None, ctx.secret))
        phones_given.append(bool(phone))
        idents = [phone, name]
        ident_words = {fold_word(w) for w in _ANY_WORD_RE.findall(f"{phone} {name}")}
        long_field = bad_field = None
        for col in columns:
            value = cells[col][pos]
            if col in KEY_FIELDS:  # keys are never scrubbed (one holding the phone is keyed)
                clean = _own_phone_as_id(value, phone, ctx.secret) if col == "alert_id" else value
            elif col in parsed_text:
                parsed = parsed_lists[col][pos]
                clean = parsed if isinstance(parsed, str) and parsed else scrub_text(value, idents)
            elif value:
                extra = _known_names_in(value, ctx)
                clean = scrub_text(value, idents + extra) if extra or _may_hold(value, ident_words) else value
            else:
                clean = value
            if len(clean) > MAX_FIELD_CHARS and long_field is None:
                long_field = col
            if REPLACEMENT_CHAR in clean and bad_field is None:
                bad_field = col
            scrubbed[col].append(clean)
        too_long.append(long_field)
        garbled.append(bad_field)
    del ids_phone, ids_name
    safe = pd.DataFrame(scrubbed, index=canon.index, dtype=object)
    safe.insert(0, "reporter_ref", refs)
    shown = safe.map(
        lambda v: v[:REJECT_FIELD_CHARS] + "…" if isinstance(v, str) and len(v) > REJECT_FIELD_CHARS else v
    )
    if ragged.any():
        shown.loc[ragged, :] = ""
    shown.insert(0, "_row", frame["_row"].to_numpy())
    checker = RowChecker(source_name, shown)
    errors: dict[Any, list[dict]] = {idx: [] for idx in safe.index}

    def fail(mask: pd.Series | np.ndarray, fieldname: str, reason: str) -> None:
        mask = pd.Series(np.asarray(mask, dtype=bool), index=safe.index)
        checker.fail(mask, fieldname, reason)
        for idx in safe.index[mask.to_numpy()]:
            errors[idx].append({"field": fieldname, "reason": reason})

    fail(ragged, WHOLE_ROW, f"{RAGGED_REASON}; not shown: its values may sit under the wrong columns")
    for col in canon.columns:
        fail(pd.Series(too_long, index=safe.index) == col, col, f"longer than {MAX_FIELD_CHARS} characters")
        fail(pd.Series(garbled, index=safe.index) == col, col, "holds bytes that are not valid UTF-8")

    # 2. time
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

    # 3. content and vocabularies
    fail(blank(safe["text"]) & blank(safe["category"]), "text", "alert has neither text nor category")
    category = safe["category"].map(normalize_category)
    channel_key = safe["channel"].map(_key)
    channel = channel_key.map(_CHANNEL)
    if ctx.default_channel:
        fallback = pd.Series(ctx.default_channel, index=safe.index)
    else:
        fallback = pd.Series(np.where(phones_given, "phone", "in_person"), index=safe.index)
    fallback = fallback.where(~gateway.to_numpy(), "sms")
    channel = channel.where(channel_key != "", fallback)
    fail(channel.isna(), "channel", "not one of " + ", ".join(ALERT_CHANNELS))
    verif_key = safe["verification"].map(_key)
    verification = verif_key.map(_VERIFICATION).where(verif_key != "", "unverified")
    fail(verification.isna(), "verification", "not one of " + ", ".join(ALERT_VERIFICATION))
    # when the state was decided: the file's verified_at, else (assumed) when the alert was received
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
    decided = decided.where(~decided_blank, received)
    sev_text = safe["severity"].astype(str).str.strip()
    severity = parse_numbers(sev_text)
    lo, hi = ALERT_SEVERITY_RANGE
    fail(
        (sev_text != "") & (severity.isna() | (severity % 1 != 0)),
        "severity",
        f"not a whole number {lo}-{hi}",
    )
    fail(severity.notna() & ~severity.between(lo, hi), "severity", f"out of range {lo}-{hi}")

    # 4. coordinates
    lon, lat = _coordinates(canon, lon, lat, fail, ctx.extent)

    # 5. identity: the given id, else a stable hash of what identifies the report
    text = safe["text"].where(~blank(safe["text"]), None)
    received_iso = received.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    given = safe["alert_id"].astype(str).str.strip()
    hashed = [
        "al_" + hashlib.sha256(f"{r or ''}|{t}|{x or ''}".encode()).hexdigest()[:24]
        for r, t, x in zip(safe["reporter_ref"], received_iso.fillna(""), text, strict=True)
    ]
    alert_id = given.where(given != "", pd.Series(hashed, index=safe.index))

    # 6. where: P-code > point > place column > free text
    good = checker.good.to_numpy()
    places = safe["place"].where(~blank(safe["place"]), None)
    loc_ids = safe["locality_id"].astype(str).str.strip()
    located: dict[Any, tuple[PlaceMatch | None, str]] = {}
    point_matches = ctx.gazetteer.locate_points(lon.to_numpy(dtype=float), lat.to_numpy(dtype=float))
    for pos, idx in enumerate(safe.index):
        if not good[pos]:
            continue
        match, how = None, "unresolved"
        if loc_ids.iat[pos]:
            match = ctx.gazetteer.by_id(loc_ids.iat[pos])
            how = "locality_id" if match else how
        if match is None and point_matches[pos] is not None:
            match, how = point_matches[pos], "point"
        if match is None and places.iat[pos]:
            match = ctx.gazetteer.match_name(places.iat[pos])
            how = "gazetteer" if match else how
        if match is None and text.iat[pos]:
            match = ctx.gazetteer.resolve(text.iat[pos])
            how = "gazetteer" if match else how
        located[idx] = (match, how)

    now = utc_now()
    keep = safe.index[good]
    rows = pd.DataFrame(
        {
            "alert_id": alert_id[keep],
            "received_at": received_iso[keep],
            "reporter_ref": safe.loc[keep, "reporter_ref"],
            "channel": channel[keep],
            "text": text[keep],
            "category": category[keep],
            "longitude": lon[keep],
            "latitude": lat[keep],
            "place_name": [
                places[i] if places[i] else (located[i][0].matched if located[i][1] == "gazetteer" else None)
                for i in keep
            ],
            "locality_id": [located[i][0].locality_id if located[i][0] else None for i in keep],
            "locality_confidence": [located[i][0].confidence if located[i][0] else None for i in keep],
            "location_source": [located[i][1] for i in keep],
            "verification": verification[keep],
            "severity": [None if pd.isna(v) else int(v) for v in severity[keep]],
        },
        index=keep,
    )
    rows = rows[list(ALERT_COLUMNS)].assign(created_at=now, updated_at=now)
    names = {i: (located[i][0].name if located[i][0] else None) for i in keep}
    decided_keep = decided[keep]
    decisions = pd.DataFrame(
        {
            "alert_id": alert_id[keep],
            "verification": verification[keep],
            "decided_at": decided_keep.dt.strftime("%Y-%m-%dT%H:%M:%SZ").where(decided_keep.notna(), now),
        },
        index=keep,
    )
    decisions = decisions[decisions["verification"] != "unverified"]
    return _Prepared(rows, names, checker, errors, new_tokens, decisions)


def _coordinates(
    canon: pd.DataFrame, lon: pd.Series, lat: pd.Series, fail, extent
) -> tuple[pd.Series, pd.Series]:
    lon_text, lat_text = canon["longitude"].astype(str).str.strip(), canon["latitude"].astype(str).str.strip()
    fail((lon_text != "") & lon.isna(), "longitude", "not a number")
    fail((lat_text != "") & lat.isna(), "latitude", "not a number")
    has_lon, has_lat = lon.notna(), lat.notna()
    fail(has_lon ^ has_lat, "latitude", "only one of longitude/latitude is given")
    fail(has_lat & has_lon & (lat == 0) & (lon == 0), "latitude", "coordinates are 0,0")
    swapped = has_lat & (lat.abs() > 90) & (lat.abs() <= 180) & (lon.abs() <= 90)
    if extent is not None:
        minx, miny, maxx, maxy = extent

        def inside(x: pd.Series, y: pd.Series) -> pd.Series:
            return x.between(minx - 1, maxx + 1) & y.between(miny - 1, maxy + 1)

        swapped |= has_lat & has_lon & ~inside(lon, lat) & inside(lat, lon)
    fail(swapped, "latitude", "latitude and longitude look swapped")
    fail(has_lat & ~lat.between(-90, 90), "latitude", "out of range [-90, 90]")
    fail(has_lon & ~lon.between(-180, 180), "longitude", "out of range [-180, 180]")
    both = has_lat & has_lon
    return lon.where(both), lat.where(both)


# --- running it -------------------------------------------------------------------------------------
_GAZETTEER_CACHE: dict[tuple[str, int, int], Gazetteer] = {}


def _gazetteer(workspace: Workspace) -> Gazetteer:
    """The workspace's gazetteer, rebuilt only when boundaries or settlements were ingested."""
    with workspace.session() as con:
        stamp = con.execute(
            "SELECT COALESCE(MAX(run_id), 0), COUNT(*) FROM ingest_runs"
            " WHERE kind IN ('boundaries', 'settlements') AND status = 'ok'"
        ).fetchone()
    key = (str(workspace.root), int(stamp[0]), int(stamp[1]))
    if key not in _GAZETTEER_CACHE:
        _GAZETTEER_CACHE.clear()
        _GAZETTEER_CACHE[key] = Gazetteer.from_workspace(workspace)
    return _GAZETTEER_CACHE[key]


def _context(workspace: Workspace, **kwargs: Any) -> _Context:
    from sauti.ingest.incidents import workspace_extent

    from sauti.settings import get_settings

    with workspace.session() as con:
        known = {r[0] for r in con.execute("SELECT token_ref FROM reporter_name_tokens")}
    return _Context(
        known_tokens=known,
        secret=workspace.secret(),
        gazetteer=_gazetteer(workspace),
        timezone=get_settings().timezone,
        now=pd.Timestamp(datetime.now(UTC)),
        extent=workspace_extent(workspace),
        **kwargs,
    )


_INSERT_DECISION = (
    "INSERT INTO alert_verifications (alert_id, verification, decided_at, decided_by, source) "
    "VALUES (?, ?, ?, ?, ?)"
)


def _store(run: RunContext, prepared: _Prepared, source: str = "file") -> dict[Any, str]:
    """Reject and store one prepared chunk; return the status of every row.

    ``source`` (``file`` or ``api``) is recorded with the verification states the rows came with.
    """
    run.reject(prepared.checker.rejects())
    if prepared.new_tokens:
        run.con.executemany(
            "INSERT OR IGNORE INTO reporter_name_tokens (token_ref, run_id) VALUES (?, ?)",
            [(ref, run.run_id) for ref in sorted(prepared.new_tokens)],
        )
    rows = prepared.rows
    status = {idx: "rejected" for idx in prepared.checker.raw.index[prepared.checker.bad.to_numpy()]}
    if rows.empty:
        return status
    ids = rows["alert_id"].tolist()
    known: set[str] = set()
    for start in range(0, len(ids), 500):
        part = ids[start : start + 500]
        sql = f"SELECT alert_id FROM alerts WHERE alert_id IN ({', '.join('?' for _ in part)})"
        known.update(r[0] for r in run.con.execute(sql, part))
    repeated = rows["alert_id"].duplicated().to_numpy()
    for pos, idx in enumerate(rows.index):
        status[idx] = "duplicate" if repeated[pos] or ids[pos] in known else "accepted"
    run.store("alerts", rows)
    decisions = prepared.decisions
    if decisions is not None and not decisions.empty:  # the states of the alerts stored just now
        new = decisions[[status.get(idx) == "accepted" for idx in decisions.index]]
        made = new[["alert_id", "verification", "decided_at"]].to_numpy()
        run.con.executemany(_INSERT_DECISION, [(a, v, d, None, source) for a, v, d in made])
    return status


def _detect_kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".json", ".jsonl", ".ndjson", ".geojson"):
        return "json"
    if suffix in (".csv", ".tsv", ".txt"):
        return "csv"
    with open(path, "rb") as fh:
        head = fh.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")
    return "json" if head[:1] in (b"{", b"[") else "csv"


def _flatten_features(frame: pd.DataFrame) -> pd.DataFrame:
    """GeoJSON features → properties plus longitude/latitude of a point geometry."""
    if "properties" not in frame.columns:
        return frame
    rows = []
    for props, geom in zip(frame["properties"], frame.get("geometry", [None] * len(frame)), strict=True):
        row = dict(props) if isinstance(props, dict) else {}
        if isinstance(geom, dict) and geom.get("type") == "Point" and len(geom.get("coordinates") or []) >= 2:
            row.setdefault("longitude", geom["coordinates"][0])
            row.setdefault("latitude", geom["coordinates"][1])
        rows.append(row)
    out = pd.DataFrame.from_records(rows, index=frame.index).astype(object)
    out.insert(0, "_row", frame["_row"].to_numpy())
    return out


def _check_columns(path: Path, columns: list[str]) -> None:
    have = set(canonical_columns(columns).values())
    if "received_at" not in have:
        accepted = "|".join(FIELD_ALIASES["received_at"])
        raise IngestError(path, f"no received_at column (one of {accepted})")
    if "text" not in have and "category" not in have:
        raise IngestError(path, "no text or category column (text|message|… or category|categorie)")


def ingest_alerts(
    workspace: Workspace, path: str | Path, *, progress: ProgressCallback | None = None
) -> IngestReport:
    """Read, pseudonymise, scrub, geocode and store every alert of a CSV or JSON file.

    Accepts a spreadsheet export (CSV with French or English headers), a JSON list,
    ``{"alerts": [...]}``, JSON Lines, a GeoJSON FeatureCollection of points, or SMS-gateway
    records ``{"from": ..., "text": ..., "received_at": ...}``. Rejected rows go to the rejects
    file in their pseudonymised, scrubbed form.

    Examples
    --------
    >>> report = ingest_alerts(Workspace("ws"), "data/sample/alerts/synthetic_alerts.csv")  # doctest: +SKIP
    >>> report.read == report.accepted + report.rejected + report.duplicates  # doctest: +SKIP
    True
    """
    path = Path(path)
    if not path.exists():
        raise IngestError(path, "file not found")
    kind = _detect_kind(path)
    if kind == "json":
        frame = _flatten_features(
            read_json_records(path, list_keys=("alerts", "records", "data", "features"))
        )
        chunks = iter([frame]) if not frame.empty else iter([])
        _check_columns(path, list(frame.columns)) if not frame.empty else None
    else:
        chunks = read_delimited(path, chunksize=50_000)
    ctx = _context(workspace)
    with ingest_run(workspace, "alerts", path, fmt=kind) as run:
        first = True
        for chunk in chunks:
            if first and kind == "csv":
                _check_columns(path, list(chunk.columns))
            first = False
            run.count_read(len(chunk))
            prepared = _prepare(chunk, path.name, ctx)
            _store(run, prepared)
            log.debug("alerts chunk of %d rows: %d rejected", len(chunk), int(prepared.checker.bad.sum()))
            if progress:
                progress(len(chunk))
    return run.report


def submit_alerts(
    workspace: Workspace, records: list[dict], *, source: str = "api", may_verify: bool = True
) -> list[AlertOutcome]:
    """Validate, pseudonymise, scrub, geocode and store alerts posted to the service.

    ``records`` are canonical alert dicts or SMS-gateway dicts (``from``/``text``/``received_at``);
    all of them are handled in ONE transaction recorded as an ingest run (kind ``alerts``, path
    ``api:<source>``). A record without ``received_at`` is dated now; one without ``channel`` is
    ``sms`` in the gateway shape, else ``app``. Nothing raw is persisted anywhere. With
    ``may_verify=False`` (a reporter's key) a record giving a state other than ``unverified`` or
    a ``verified_at`` is rejected: verification is an analyst's decision.

    Returns one :class:`AlertOutcome` per record, in order.
    """
    if not records:
        return []
    rows = [r if isinstance(r, dict) else {} for r in records]
    frame = (
        pd.DataFrame.from_records(rows).astype(object) if any(rows) else pd.DataFrame(index=range(len(rows)))
    )
    frame.index = pd.RangeIndex(1, len(rows) + 1)
    frame.insert(0, "_row", frame.index.to_numpy())
    ctx = _context(workspace, default_received_now=True, default_channel="app", may_verify=may_verify)
    label = f"api:{source}"
    prepared = _prepare(frame, label, ctx)
    # the run's checksum is over the pseudonymised rows, never over the raw identifiers
    digest_rows = prepared.rows.drop(columns=["created_at", "updated_at"]).astype(object)
    payload = json.dumps(
        [
            prepared.checker.raw.to_dict("records"),
            digest_rows.where(digest_rows.notna(), None).to_dict("records"),
        ],
        default=str,
        sort_keys=True,
    ).encode()
    with ingest_run(
        workspace, "alerts", Path(label), fmt="records", params={"source": source}, payload=payload
    ) as run:
        run.count_read(len(frame))
        status = _store(run, prepared, source="api")
    outcomes = []
    for idx in frame.index:
        if status.get(idx) in ("accepted", "duplicate"):
            row = prepared.rows.loc[idx]
            confidence = row["locality_confidence"]
            outcomes.append(
                AlertOutcome(
                    row=int(idx),
                    status=status[idx],
                    alert_id=row["alert_id"],
                    locality_id=row["locality_id"],
                    locality_name=prepared.names.get(idx),
                    locality_confidence=None
                    if confidence is None or pd.isna(confidence)
                    else float(confidence),
                    location_source=row["location_source"],
                )
            )
        else:
            outcomes.append(AlertOutcome(row=int(idx), status="rejected", errors=prepared.errors[idx]))
    return outcomes


_PUBLIC_ALERT_COLUMNS = [c for c in ALERT_COLUMNS if c not in ALERT_SENSITIVE_COLUMNS] + ["updated_at"]


def set_verification(
    workspace: Workspace,
    alert_id: str,
    verification: str,
    *,
    decided_by: str | None = None,
    source: str = "library",
) -> dict:
    """Set an alert's verification state (``verified``, ``false_alarm``, ``unverified``).

    The decision is kept with its time and author in ``alert_verifications``: features use the
    state known at the end of each period, never a later one. Returns the alert without its
    sensitive columns (no reporter pseudonym, no exact point). Raises
    :class:`~sauti.errors.NotFoundError` for an unknown id and ``ValueError`` for an unknown state.
    """
    state = normalize_verification(verification)
    if not str(verification or "").strip():
        raise ValueError(f"verification must be one of {', '.join(ALERT_VERIFICATION)}")
    now = utc_now()
    with workspace.session() as con:
        with Workspace.transaction(con):
            updated = con.execute(
                "UPDATE alerts SET verification = ?, updated_at = ? WHERE alert_id = ?",
                (state, now, alert_id),
            ).rowcount
            if updated:
                con.execute(_INSERT_DECISION, (alert_id, state, now, decided_by, source))
        if not updated:
            raise NotFoundError(f"alert {alert_id!r} not found")
        row = con.execute(
            f"SELECT {', '.join(_PUBLIC_ALERT_COLUMNS)} FROM alerts WHERE alert_id = ?", (alert_id,)
        ).fetchone()
    log.info("alert %s set to %s", alert_id, state)
    return dict(row)


__all__ = [
    "AlertOutcome",
    "FIELD_ALIASES",
    "canonical_columns",
    "ingest_alerts",
    "normalize_category",
    "normalize_verification",
    "parse_received_at",
    "set_verification",
    "submit_alerts",
]
