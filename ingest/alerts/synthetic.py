"""A seeded, SYNTHETIC Community Alert Network stream over the CAR sample (2016-2022).

Nobody wrote these alerts: reporters, phone numbers and texts are made up. Some alerts precede
real non-state UCDP GED events nearby by days to weeks (the warning signal), many are noise or
false alarms. Texts are in French and English, name places from the sample boundaries with and
without accents and with misspellings, and sometimes hold a phone number or the reporter's own
name, so the pseudonymisation and scrubbing at ingest have something to do. The reporter pool is
recoverable with :func:`reporter_pool` so tests can prove none of it reaches the workspace.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

SEED = 236
START = pd.Timestamp("2016-01-01")
END = pd.Timestamp("2022-12-31 23:59")
N_REPORTERS = 50
N_NOISE = 2_400
PRECURSOR_SHARE = 0.65  # share of real non-state events preceded by alerts
CSV_NAME = "synthetic_alerts.csv"
GATEWAY_NAME = "synthetic_sms_gateway.jsonl"
SYNTHETIC_NOTE = "SYNTHETIC: made-up alerts, reporters and phone numbers (sauti.ingest.alerts.synthetic)"

_FIRST = (
    "Jean-Paul", "Marie", "Thérèse", "Abdoulaye", "Fatimé", "Ousmane", "Brigitte", "Serge", "Clarisse",
    "Hamadou", "Aïcha", "Didier", "Josiane", "Moussa", "Rosine", "Blaise", "Odette", "Gervais",
    "Mariam", "Faustin", "Nadège", "Saleh", "Léontine", "Prisca", "Ibrahim",
)  # fmt: skip
_LAST = (
    "Ngakoutou", "Yangbéla", "Mbalikondo", "Zoumaldé", "Kossingbaré", "Dembazoé", "Feïzandji",
    "Gbadorama", "Wakoussé", "Sélébanga", "Ndoyamba", "Bissakoro", "Tambéyo", "Kalagbéré",
    "Ouandjiro", "Ngabirou", "Yakossara", "Mokpéni", "Zanguéra", "Gonibala", "Pendazou", "Bomakili",
    "Sambéro", "Kotazia", "Doualéma",
)  # fmt: skip
# made-up hamlets that resolve to nothing in the gazetteer
UNRESOLVABLE_PLACES = ("Kwéyazi", "Hourtégui", "Zifwoulou", "Tchakpwé", "Gwouzakri", "Vuhéssimo")

_CATEGORY_FR = {
    "intercommunal_tension": "tension intercommunautaire",
    "armed_group_movement": "mouvement de groupe armé",
    "threat_to_civilians": "menace contre les civils",
    "attack": "attaque",
    "displacement": "déplacement",
    "other": "autre",
}
_CHANNEL_FR = {"sms": "SMS", "phone": "appel", "in_person": "en personne", "app": "application"}
_VERIFICATION_FR = {"unverified": "non vérifié", "verified": "vérifié", "false_alarm": "fausse alerte"}
_TEMPLATES = {
    "fr": {
        "intercommunal_tension": (
            "Tension entre éleveurs et agriculteurs {where}",
            "Les jeunes menacent les commerçants peuls {where}",
            "Dispute sur le bétail, la situation se dégrade {where}",
        ),
        "armed_group_movement": (
            "Des hommes armés ont été vus {where} ce matin",
            "Mouvement de motos avec des hommes en armes {where}",
            "Un groupe armé s'installe {where}",
        ),
        "threat_to_civilians": (
            "Menaces contre les déplacés {where}",
            "Les villageois ont reçu des menaces {where}",
        ),
        "attack": ("Attaque signalée {where}, des maisons brûlées", "Des coups de feu entendus {where}"),
        "displacement": ("Des familles fuient {where} vers la brousse", "Arrivée de déplacés {where}"),
        "other": (
            "Rumeur de vol de bétail {where}",
            "Situation calme {where}",
            "Marché fermé {where}, pas d'incident",
        ),
    },
    "en": {
        "intercommunal_tension": (
            "Tension between herders and farmers {where}",
            "Youths threatening traders {where}",
        ),
        "armed_group_movement": (
            "Armed men seen {where} this morning",
            "Armed group moving on motorbikes {where}",
        ),
        "threat_to_civilians": ("Threats against displaced people {where}",),
        "attack": ("Attack reported {where}, houses burned", "Gunshots heard {where}"),
        "displacement": ("Families fleeing {where}",),
        "other": ("Rumours of cattle theft {where}", "All quiet {where}"),
    },
}
_PREP = {"fr": ("à", "près de", "vers", "au marché de"), "en": ("near", "in", "at", "outside")}
_HERE = {"fr": "ici", "en": "here"}
_CALLBACK = {
    "fr": ("rappelez-moi au {phone}", "mon numéro {phone}", "appelez le {phone}"),
    "en": ("call me back on {phone}", "my number is {phone}"),
}
_SIGNED = {"fr": ("C'est {name} qui signale.", "Signé {first}."), "en": ("This is {name}.", "From {first}.")}


@dataclass(frozen=True)
class Reporter:
    """A made-up reporter: a name and a CAR-format mobile number ``+236 7X XX XX XX``."""

    name: str
    phone: str

    @property
    def local_digits(self) -> str:
        """The 8 local digits (``72123456``)."""
        return "".join(ch for ch in self.phone if ch.isdigit())[3:]

    def phone_forms(self) -> list[str]:
        """The number as people write it: with or without +236, spaced or not, 00 prefix."""
        d = self.local_digits
        spaced = " ".join(d[i : i + 2] for i in range(0, 8, 2))
        return [f"+236 {spaced}", f"+236{d}", f"00236{d}", f"236{d}", spaced, d, f"{d[:4]} {d[4:]}"]


def reporter_pool(seed: int = SEED, n: int = N_REPORTERS) -> list[Reporter]:
    """The seeded pool of made-up reporters (unique names and numbers)."""
    rng = np.random.default_rng(seed)
    pairs = [(f, last) for f in _FIRST for last in _LAST]
    chosen = rng.choice(len(pairs), size=n, replace=False)
    phones: set[str] = set()
    pool = []
    for k in chosen:
        first, last = pairs[k]
        while True:
            digits = str(rng.choice(["70", "72", "75", "77"])) + "".join(
                str(d) for d in rng.integers(0, 10, 6)
            )
            if digits not in phones:
                phones.add(digits)
                break
        spaced = " ".join(digits[i : i + 2] for i in range(0, 8, 2))
        pool.append(Reporter(f"{first} {last}", f"+236 {spaced}"))
    return pool


def _strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _misspell(name: str, rng: np.random.Generator) -> str:
    """A plausible misspelling that stays recognisable (only for names of 7+ letters)."""
    plain = _strip_accents(name)
    if len(plain.replace(" ", "").replace("-", "")) < 7:
        return plain
    options = []
    if plain.endswith("i"):
        options.append(plain[:-1] + "y")
    for a, b in (("ss", "s"), ("ou", "u"), ("-", " "), ("é", "e"), ("nd", "nnd")):
        if a in plain:
            options.append(plain.replace(a, b, 1))
    if plain[:1] in "NM" and plain[1:2].lower() not in "aeiou'":
        options.append(plain[0] + "'" + plain[1:])
    pos = int(rng.integers(2, len(plain) - 1))
    options.append(plain[:pos] + plain[pos] + plain[pos:])  # doubled letter
    return str(rng.choice(options))


def _variant(name: str, rng: np.random.Generator) -> str:
    roll = rng.random()
    if roll < 0.4:
        return name
    if roll < 0.7:
        return _strip_accents(name)
    if roll < 0.85:
        return _strip_accents(name).replace("-", " ").lower()
    return _misspell(name, rng)


def _random_point(geom, rng: np.random.Generator) -> tuple[float, float]:
    from shapely import contains_xy

    minx, miny, maxx, maxy = geom.bounds
    for _ in range(200):
        x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        if contains_xy(geom, x, y):
            return float(x), float(y)
    c = geom.representative_point()
    return float(c.x), float(c.y)


def _load_sample(sample_dir: Path):
    import geopandas as gpd

    adm3 = gpd.read_file(sample_dir / "boundaries" / "caf_adm3.gpkg")[
        ["admin2Name", "admin2Pcod", "admin3Name", "admin3Pcod", "geometry"]
    ]
    events = gpd.read_file(sample_dir / "events" / "ucdp_ged_v23_1_CAF.geojson")
    events["date"] = pd.to_datetime(events["date_start"])
    keep = (
        (events["type_of_violence"].astype(int) == 2)
        & (events["where_prec"].astype(int) <= 3)
        & (events["date"] >= START + pd.Timedelta(days=30))
        & (events["date"] <= END)
    )
    return adm3.reset_index(drop=True), events[keep].sort_values(["date", "id"]).reset_index(drop=True)


def generate_alerts(sample_dir: str | Path, seed: int = SEED) -> pd.DataFrame:
    """The synthetic alert rows (as a CLA spreadsheet has them) plus truth columns prefixed ``_``.

    Truth columns: ``_kind`` (``precursor``/``follow_up``/``noise``), ``_event_id`` (the GED event
    a precursor or follow-up belongs to), ``_locality_id`` (adm3 P-code of the true place),
    ``_named_id`` (P-code of the unit whose name is written), ``_place_mode`` (``point``,
    ``column``, ``text``, ``none``, ``unresolvable``), ``_reporter``
    (index in :func:`reporter_pool`), ``_invalid`` (the field spoilt on purpose, or ``""``).
    """
    sample_dir = Path(sample_dir)
    rng = np.random.default_rng(seed)
    pool = reporter_pool(seed)
    adm3, events = _load_sample(sample_dir)
    containing = adm3.sindex
    records: list[dict] = []

    def locality_of(x: float, y: float) -> int | None:
        hits = containing.query(__import__("shapely").points(x, y), predicate="intersects")
        return int(hits[0]) if len(hits) else None

    def add(
        kind: str, when: pd.Timestamp, x: float, y: float, category: str, verification: str, sev: int, event
    ):
        loc = locality_of(x, y)
        if loc is None:
            return
        records.append(
            {
                "_kind": kind,
                "_event_id": event,
                "_when": when,
                "_x": x,
                "_y": y,
                "_loc": loc,
                "_category": category,
                "_verification": verification,
                "_severity": sev,
            }
        )

    # warning signal: alerts days to weeks before real non-state events, a few reports after
    for ev in events.itertuples():
        if rng.random() < PRECURSOR_SHARE:
            for _ in range(int(rng.integers(1, 4))):
                lead = pd.Timedelta(days=float(rng.uniform(2, 28)))
                x, y = ev.geometry.x + rng.normal(0, 0.06), ev.geometry.y + rng.normal(0, 0.06)
                cat = str(
                    rng.choice(["intercommunal_tension", "armed_group_movement", "threat_to_civilians"])
                )
                verif = str(rng.choice(["verified", "unverified"], p=[0.6, 0.4]))
                add("precursor", ev.date - lead + pd.Timedelta(hours=float(rng.uniform(6, 20))), x, y, cat,
                    verif, int(rng.integers(3, 6)), str(ev.id))  # fmt: skip
        if rng.random() < 0.4:
            x, y = ev.geometry.x + rng.normal(0, 0.03), ev.geometry.y + rng.normal(0, 0.03)
            cat = str(rng.choice(["attack", "displacement"]))
            add("follow_up", ev.date + pd.Timedelta(days=float(rng.uniform(0.3, 3))), x, y, cat, "verified",
                int(rng.integers(3, 6)), str(ev.id))  # fmt: skip
    # noise: everywhere, any time, many false alarms
    span = (END - START).total_seconds()
    weights = np.sqrt(adm3.to_crs("EPSG:6933").area.to_numpy())
    weights /= weights.sum()
    noise_cats = ["other", "intercommunal_tension", "armed_group_movement", "threat_to_civilians", "attack",
                  "displacement"]  # fmt: skip
    for _ in range(N_NOISE):
        loc = int(rng.choice(len(adm3), p=weights))
        x, y = _random_point(adm3.geometry.iloc[loc], rng)
        when = START + pd.Timedelta(seconds=float(rng.uniform(0, span)))
        cat = str(rng.choice(noise_cats, p=[0.3, 0.2, 0.2, 0.1, 0.1, 0.1]))
        verif = str(rng.choice(["false_alarm", "unverified", "verified"], p=[0.4, 0.45, 0.15]))
        add("noise", when, x, y, cat, verif, int(rng.integers(1, 4)), None)

    rows = [_spreadsheet_row(r, adm3, pool, rng) for r in sorted(records, key=lambda r: r["_when"])]
    frame = pd.DataFrame(rows)
    _spoil(frame, rng, pool)
    return frame


def _spreadsheet_row(rec: dict, adm3, pool: list[Reporter], rng: np.random.Generator) -> dict:
    reporter_idx = int(rng.integers(0, len(pool)))
    reporter = pool[reporter_idx]
    lang = "fr" if rng.random() < 0.65 else "en"
    channel = str(rng.choice(["sms", "phone", "in_person", "app"], p=[0.45, 0.25, 0.2, 0.1]))
    loc = adm3.iloc[rec["_loc"]]
    level = "admin3" if rng.random() < 0.6 else "admin2"
    real_name, named_id = loc[f"{level}Name"], loc[f"{level}Pcod"]
    with_point = channel == "app" or (channel == "sms" and rng.random() < 0.25)
    roll = rng.random()
    mode = "point" if with_point else ("column" if roll < 0.55 else "text" if roll < 0.85 else "none")
    if not with_point and rng.random() < 0.06:
        mode = "unresolvable"
    place_written = _variant(real_name, rng)
    if mode == "unresolvable":
        place_written = str(rng.choice(UNRESOLVABLE_PLACES))
    templates = _TEMPLATES[lang][rec["_category"]]
    template = str(rng.choice(templates))
    if mode in ("text", "unresolvable") or (mode == "column" and rng.random() < 0.4):
        where = f"{rng.choice(_PREP[lang])} {place_written}"
    else:
        where = _HERE[lang]
    text = template.format(where=where)
    has_name = rng.random() < 0.85 or channel == "in_person"
    has_phone = channel != "in_person" or rng.random() < 0.3
    if rng.random() < 0.15 and has_phone:
        form = str(rng.choice(reporter.phone_forms()))
        text += ", " + str(rng.choice(_CALLBACK[lang])).format(phone=form)
    if rng.random() < 0.12 and has_name:
        first = reporter.name.split()[0]
        text += " " + str(rng.choice(_SIGNED[lang])).format(name=reporter.name, first=first)
    if not has_phone and not has_name:
        has_name = True
    when_local = rec["_when"]  # generated as Bangui local time
    if rng.random() < 0.1:
        received = (when_local - pd.Timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    else:
        received = when_local.strftime("%d/%m/%Y %H:%M")
    lat = f"{rec['_y']:.5f}" if mode == "point" else ""
    lon = f"{rec['_x']:.5f}" if mode == "point" else ""
    return {
        "date_reception": received,
        "telephone": reporter.phone if has_phone else "",
        "nom": reporter.name if has_name else "",
        "canal": _CHANNEL_FR[channel],
        "message": text,
        "categorie": _CATEGORY_FR[rec["_category"]] if rng.random() < 0.9 else "",
        "lieu": place_written if mode in ("column", "unresolvable") else "",
        "latitude": lat,
        "longitude": lon,
        "verification": _VERIFICATION_FR[rec["_verification"]],
        "gravite": str(rec["_severity"]),
        "synthetic": "true",
        "_kind": rec["_kind"],
        "_event_id": rec["_event_id"] or "",
        "_locality_id": loc["admin3Pcod"],
        "_named_id": named_id,
        "_place_mode": mode,
        "_reporter": reporter_idx,
        "_invalid": "",
    }


def _spoil(frame: pd.DataFrame, rng: np.random.Generator, pool: list[Reporter]) -> None:
    """Typing mistakes a real spreadsheet has: about 1% of rows get a field the ingest rejects."""
    spoilers = {
        "gravite": "7",
        "date_reception": "31/02/2019 10:00",
        "verification": "peut-être",
        "canal": "pigeon voyageur",
    }
    picks = rng.choice(len(frame), size=max(len(frame) // 100, 4), replace=False)
    for n, pos in enumerate(sorted(picks)):
        column = list(spoilers)[n % len(spoilers)]
        frame.loc[frame.index[pos], column] = spoilers[column]
        frame.loc[frame.index[pos], "_invalid"] = column
        # a spoilt row always carries both identifiers, so the rejects file is tested on them
        reporter = pool[int(frame.loc[frame.index[pos], "_reporter"])]
        frame.loc[frame.index[pos], "telephone"] = reporter.phone
        frame.loc[frame.index[pos], "nom"] = reporter.name


def gateway_records(seed: int = SEED, n: int = 60) -> list[dict]:
    """SMS-gateway posts (``from``/``text``/``received_at`` in UTC) from the same reporter pool."""
    rng = np.random.default_rng(seed + 1)
    pool = reporter_pool(seed)
    places = ("Bambari", "Kaga Bandoro", "Ndele", "Bria", "Bossangoa", "Paoua", "Batangafo", "Alindao")
    out = []
    for k in range(n):
        reporter = pool[int(rng.integers(0, len(pool)))]
        lang = "fr" if rng.random() < 0.6 else "en"
        category = str(rng.choice(list(_TEMPLATES[lang])))
        text = str(rng.choice(_TEMPLATES[lang][category])).format(
            where=f"{rng.choice(_PREP[lang])} {rng.choice(places)}"
        )
        if rng.random() < 0.3:
            text += ", " + str(rng.choice(_CALLBACK[lang])).format(
                phone=str(rng.choice(reporter.phone_forms()))
            )
        when = pd.Timestamp("2022-06-01") + pd.Timedelta(minutes=int(k * 2 * 24 * 60 + rng.integers(0, 1440)))
        out.append(
            {
                "from": reporter.phone.replace(" ", ""),
                "text": text,
                "received_at": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "synthetic": True,
            }  # fmt: skip
        )
    return out


def write_sample_alerts(sample_dir: str | Path, seed: int = SEED) -> list[Path]:
    """Write ``alerts/synthetic_alerts.csv`` and ``alerts/synthetic_sms_gateway.jsonl``."""
    sample_dir = Path(sample_dir)
    out = sample_dir / "alerts"
    out.mkdir(parents=True, exist_ok=True)
    frame = generate_alerts(sample_dir, seed)
    public = frame[[c for c in frame.columns if not c.startswith("_")]]
    csv_path = out / CSV_NAME
    public.to_csv(csv_path, index=False, encoding="utf-8", lineterminator="\n")
    jsonl_path = out / GATEWAY_NAME
    with open(jsonl_path, "w", encoding="utf-8", newline="\n") as fh:
        for record in gateway_records(seed):
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    return [csv_path, jsonl_path]


__all__ = [
    "Reporter",
    "SYNTHETIC_NOTE",
    "UNRESOLVABLE_PLACES",
    "gateway_records",
    "generate_alerts",
    "reporter_pool",
    "write_sample_alerts",
]
