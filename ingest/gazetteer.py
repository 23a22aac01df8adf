"""The gazetteer: resolve a point, a P-code or a place name (French or English text) to a locality.

Names come from every stored boundary level (``localities`` and the ``place_names`` table: admin
names, alternative names, settlements). Matching is accent-, case- and punctuation-insensitive
and fuzzy (rapidfuzz), so "Bambary", "Kaga Bandoro" and "N'Délé" all find their locality.

Rules (documented in ``docs/alerts.md``):

* names are compared in a *compact* form: folded (no accents, lower case), apostrophes dropped,
  every other non-alphanumeric character removed ("N'Délé" → ``ndele``, "Kaga-Bandoro" →
  ``kagabandoro``);
* a name of :data:`MIN_FUZZY_CHARS` characters or more matches when the similarity
  (``rapidfuzz.fuzz.ratio``) is at least :data:`FUZZY_THRESHOLD`; shorter names must match
  exactly, and names of :data:`MIN_BARE_CHARS` characters or fewer only match in free text when
  written with a capital letter ("Obo", not "mom");
* confidence = similarity × 1.0 for a place column, × :data:`TEXT_FACTOR` for a name found in
  free text; a name shared by several localities of one level keeps the one inside the coarser
  locality of the same name ("Nola" → the commune of Nola in the sous-préfecture of Nola),
  otherwise its confidence is divided by the number of candidates;
* among matches the highest confidence wins, then the finest level, then the longest name.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sauti.constants import LEVELS, LOCALITY_ID
from sauti.privacy import fold, fold_word, shown

if TYPE_CHECKING:  # pragma: no cover
    import geopandas as gpd

    from sauti.ingest.bookkeeping import IngestReport
    from sauti.ingest.runs import ProgressCallback
    from sauti.store import Workspace

FUZZY_THRESHOLD = 0.85
"""Least similarity (0-1, ``fuzz.ratio`` on compact names) for a fuzzy match."""
MIN_FUZZY_CHARS = 5
"""Compact names shorter than this only match exactly."""
MIN_BARE_CHARS = 3
"""Compact names this short match in free text only when capitalised there."""
TEXT_FACTOR = 0.9
"""Confidence factor for a name found in free text rather than in a place column."""
MAX_WINDOW_TOKENS = 4
"""Longest run of words tried as one place name in free text."""

# Level rank: higher is finer. A settlement is finer than any admin unit.
_LEVEL_RANK = {level: rank for rank, level in enumerate(LEVELS) if level != "grid"}
_SETTLEMENT_RANK = len(_LEVEL_RANK)
_TOKEN_RE = re.compile(r"[^\W_]+", re.UNICODE)
# words that are never a place on their own (articles, prepositions, alert vocabulary)
STOPWORDS = frozenset(
    (
        "a",
        "à",
        "au",
        "aux",
        "de",
        "des",
        "du",
        "d",
        "l",
        "la",
        "le",
        "les",
        "en",
        "et",
        "ou",
        "un",
        "une",
        "sur",
        "sous",
        "vers",
        "pres",
        "près",
        "dans",
        "chez",
        "par",
        "pour",
        "avec",
        "sans",
        "entre",
        "the",
        "of",
        "in",
        "at",
        "on",
        "near",
        "to",
        "from",
        "by",
        "and",
        "or",
        "an",
        "is",
        "are",
        "was",
        "were",
        "village",
        "quartier",
        "route",
        "axe",
        "ville",
        "town",
        "commune",
        "camp",
        "site",
    )
)


@lru_cache(maxsize=200_000)
def compact(name: str) -> str:
    """The comparison form of a name: folded, apostrophes dropped, only letters and digits.

    >>> compact("N'Délé"), compact("Kaga-Bandoro"), compact("Ombella M'Poko")
    ('ndele', 'kagabandoro', 'ombellampoko')
    """
    folded = fold(unicodedata.normalize("NFC", str(name)))
    return "".join(ch for ch in folded if ch.isalnum())


@dataclass(frozen=True)
class PlaceMatch:
    """A resolved locality.

    ``level`` is the locality's level; ``matched`` the text that matched (a name as written in the
    input, ``"point"`` or ``"locality_id"``); ``confidence`` is 0-1.
    """

    locality_id: str
    name: str
    level: str
    matched: str
    confidence: float


@dataclass(frozen=True)
class _Entry:
    key: str  # compact name
    locality_id: str
    rank: int  # level rank (settlements finest)


@dataclass(frozen=True)
class _Candidate:
    start: int  # token span in the text
    stop: int
    matched: str
    key: str
    score: float  # 0-1


class Gazetteer:
    """Place names and locality geometries of a workspace, for resolving alerts.

    Parameters
    ----------
    localities : GeoDataFrame
        ``locality_id``, ``name``, ``level`` (and optionally ``alt_names``, ``admin*_id``) with
        geometry in EPSG:4326.
    names : list of (name, locality_id, kind)
        Extra names (``kind`` ``admin``, ``alt`` or ``settlement``).
    """

    FUZZY_CACHE_MAX = 500_000
    """Window keys whose best fuzzy match is remembered (the cache is emptied past this)."""

    def __init__(self, localities: gpd.GeoDataFrame, names: list[tuple[str, str, str]] = ()) -> None:
        self.localities = localities.reset_index(drop=True)
        self._info = {
            row.locality_id: (row.name, row.level)
            for row in self.localities[[LOCALITY_ID, "name", "level"]].itertuples(index=False)
        }
        self._ancestors = self._ancestor_map(self.localities)
        entries: set[_Entry] = set()
        for loc_id, (name, level) in self._info.items():
            entries.add(_Entry(compact(name), loc_id, _LEVEL_RANK.get(level, 0)))
        if "alt_names" in self.localities:
            for loc_id, alts, level in zip(
                self.localities[LOCALITY_ID],
                self.localities["alt_names"],
                self.localities["level"],
                strict=True,
            ):
                for alt in alts if isinstance(alts, list) else json.loads(alts or "[]"):
                    entries.add(_Entry(compact(alt), loc_id, _LEVEL_RANK.get(level, 0)))
        for name, loc_id, kind in names:
            if loc_id not in self._info:
                continue
            rank = _SETTLEMENT_RANK if kind == "settlement" else _LEVEL_RANK.get(self._info[loc_id][1], 0)
            entries.add(_Entry(compact(name), loc_id, rank))
        self._by_key: dict[str, list[_Entry]] = {}
        for entry in sorted(entries, key=lambda e: (e.key, -e.rank, e.locality_id)):
            if entry.key:
                self._by_key.setdefault(entry.key, []).append(entry)
        self._keys = sorted(self._by_key)
        self._max_len = max((len(k) for k in self._keys), default=0)
        # best fuzzy key (index into _keys, score 0-100; 0: none) of each text window seen so far:
        # alert texts repeat their words, so most windows are scored once per process
        self._fuzzy: dict[str, tuple[int, int]] = {}
        self._tree = None
        self._finest_first: list[str] = sorted(
            {lvl for lvl in self.localities["level"]}, key=lambda lv: -_LEVEL_RANK.get(lv, 0)
        )

    # --- construction ----------------------------------------------------------------------------
    @classmethod
    def from_workspace(cls, workspace: Workspace) -> Gazetteer:
        """The gazetteer of every stored boundary level and place name."""
        localities = workspace.localities()
        with workspace.session() as con:
            names = [tuple(r) for r in con.execute("SELECT name, locality_id, kind FROM place_names")]
        return cls(localities, names)

    @staticmethod
    def _ancestor_map(localities: gpd.GeoDataFrame) -> dict[str, set[str]]:
        cols = [
            c for c in ("admin0_id", "admin1_id", "admin2_id", "admin3_id", "parent_id") if c in localities
        ]
        out: dict[str, set[str]] = {}
        for row in localities[[LOCALITY_ID, *cols]].itertuples(index=False, name=None):
            out[row[0]] = {v for v in row[1:] if isinstance(v, str) and v and v != row[0]}
        return out

    # --- lookups ---------------------------------------------------------------------------------
    def is_place_name(self, word: str) -> bool:
        """Whether ``word`` is exactly a stored place name (accent-, case-, punctuation-insensitive)."""
        return compact(word) in self._by_key

    def by_id(self, locality_id: str) -> PlaceMatch | None:
        """The stored locality with this id (a P-code), or ``None``."""
        key = str(locality_id).strip()
        if key not in self._info:
            upper = key.upper()
            if upper not in self._info:
                return None
            key = upper
        name, level = self._info[key]
        return PlaceMatch(key, name, level, "locality_id", 1.0)

    def locate_points(self, lon: np.ndarray, lat: np.ndarray) -> list[PlaceMatch | None]:
        """The finest stored locality containing each point (``None`` outside them all or NaN)."""
        import shapely

        lon = np.asarray(lon, dtype=float)
        lat = np.asarray(lat, dtype=float)
        out: list[PlaceMatch | None] = [None] * len(lon)
        ok = ~(np.isnan(lon) | np.isnan(lat))
        if not ok.any() or self.localities.empty:
            return out
        if self._tree is None:
            self._tree = shapely.STRtree(self.localities.geometry.to_numpy())
        idx = np.flatnonzero(ok)
        points = shapely.points(lon[idx], lat[idx])
        pt_pos, geom_pos = self._tree.query(points, predicate="intersects")
        best: dict[int, tuple[int, str]] = {}
        ids = self.localities[LOCALITY_ID].to_numpy()
        levels = self.localities["level"].to_numpy()
        for p, g in zip(pt_pos, geom_pos, strict=True):
            rank = _LEVEL_RANK.get(levels[g], 0)
            current = best.get(p)
            if current is None or rank > current[0] or (rank == current[0] and ids[g] < current[1]):
                best[p] = (rank, ids[g])
        for p, (_rank, loc_id) in best.items():
            name, level = self._info[loc_id]
            out[idx[p]] = PlaceMatch(loc_id, name, level, "point", 1.0)
        return out

    def locate_point(self, lon: float, lat: float) -> PlaceMatch | None:
        """The finest stored locality containing the point ``(lon, lat)``."""
        return self.locate_points(np.array([lon]), np.array([lat]))[0]

    def match_name(self, name: str) -> PlaceMatch | None:
        """Resolve a place column value (the whole value is one name)."""
        if name is None or not str(name).strip():
            return None
        key = compact(name)
        if not key:
            return None
        score = self._score(key)
        if score is None:
            # a place column may still hold a phrase ("marché de Bambari"): search it as text
            return self.resolve(name)
        best_key, similarity = score
        return self._pick(best_key, str(name).strip(), similarity)

    def resolve(self, text: str) -> PlaceMatch | None:
        """Find the best place name in free text (French or English) and its locality.

        Examples
        --------
        >>> gaz.resolve("Des hommes armés près de Bambary")  # doctest: +SKIP
        PlaceMatch(locality_id='CF4311', name='Bambari', level='admin3', matched='Bambary', ...)
        """
        if text is None or not str(text).strip():
            return None
        text = unicodedata.normalize("NFC", str(text))
        tokens = [(m.group(0), m.start(), m.end()) for m in _TOKEN_RE.finditer(text)]
        tokens = _join_apostrophes(text, tokens)
        candidates = _drop_contained(self._candidates(text, tokens))
        best: tuple[tuple[float, int, int], PlaceMatch] | None = None
        for cand in candidates:
            match = self._pick(cand.key, cand.matched, cand.score * TEXT_FACTOR)
            if match is None:
                continue
            rank = _LEVEL_RANK.get(match.level, 0)
            order = (round(match.confidence, 6), rank, len(cand.key))
            if best is None or order > best[0]:
                best = (order, match)
        return best[1] if best else None

    # --- internals -------------------------------------------------------------------------------
    def _score(self, key: str) -> tuple[str, float] | None:
        """Best gazetteer key for ``key`` and its similarity, if above the thresholds."""
        if key in self._by_key:
            return key, 1.0
        if len(key) < MIN_FUZZY_CHARS:
            return None
        from rapidfuzz import fuzz, process

        found = process.extractOne(
            key,
            self._keys,
            scorer=fuzz.ratio,
            score_cutoff=FUZZY_THRESHOLD * 100,
            processor=None,
        )
        if found is None or len(found[0]) < MIN_FUZZY_CHARS:
            return None
        return found[0], found[1] / 100.0

    def _candidates(self, text: str, tokens: list[tuple[str, int, int]]) -> list[_Candidate]:
        out: list[_Candidate] = []
        fuzzy_rows = []
        for i, j, matched, key in self._windows(text, tokens):
            if key in self._by_key:
                if len(key) <= MIN_BARE_CHARS and not matched[:1].isupper():
                    continue
                out.append(_Candidate(i, j, matched, key, 1.0))
            elif len(key) >= MIN_FUZZY_CHARS:
                fuzzy_rows.append((i, j, matched, key))
        if fuzzy_rows and self._keys:
            best = self._best_fuzzy([r[3] for r in fuzzy_rows])
            for (i, j, matched, _key), (col, score) in zip(fuzzy_rows, best, strict=True):
                if score == 0 or len(self._keys[col]) < MIN_FUZZY_CHARS:
                    continue
                out.append(_Candidate(i, j, matched, self._keys[col], score / 100.0))
        return out

    def _windows(self, text: str, tokens: list[tuple[str, int, int]]) -> list[tuple[int, int, str, str]]:
        """Runs of 1…MAX_WINDOW_TOKENS tokens that could be a place name: (i, j, as written, key)."""
        folded = [fold_word(t[0]) for t in tokens]
        compacted = [compact(t[0]) for t in tokens]
        windows = []
        for i in range(len(tokens)):
            first = folded[i]
            for j in range(i + 1, min(i + MAX_WINDOW_TOKENS, len(tokens)) + 1):
                last = folded[j - 1]
                if last in STOPWORDS or (first in STOPWORDS and j - i == 1):
                    continue
                key = "".join(compacted[i:j])
                if first in STOPWORDS and key not in self._by_key:
                    continue  # "La Mbi" is a name; "la Mbii" is not tried fuzzily
                if not key or len(key) > self._max_len + 3 or key.isdigit():
                    continue
                windows.append((i, j, text[tokens[i][1] : tokens[j - 1][2]], key))
        return windows

    def _best_fuzzy(self, keys: list[str]) -> list[tuple[int, int]]:
        """Best gazetteer key (index, score 0-100) of each window key, from the cache or scored now.

        The answer is built from this call's own look-ups, so a cache emptied meanwhile (when it
        outgrows :attr:`FUZZY_CACHE_MAX`, here or in another thread) cannot lose one of them.
        """
        found = {k: v for k in set(keys) if (v := self._fuzzy.get(k)) is not None}
        todo = sorted(set(keys) - found.keys())
        if todo:
            from rapidfuzz import fuzz, process

            scores = process.cdist(
                todo, self._keys, scorer=fuzz.ratio, score_cutoff=FUZZY_THRESHOLD * 100, dtype=np.uint8
            )
            cols = scores.argmax(axis=1)
            fresh = {
                key: (int(col), int(score))
                for key, col, score in zip(todo, cols, scores[np.arange(len(todo)), cols], strict=True)
            }
            if len(self._fuzzy) + len(fresh) > self.FUZZY_CACHE_MAX:
                self._fuzzy.clear()
            self._fuzzy.update(fresh)
            found.update(fresh)
        return [found[k] for k in keys]

    def _pick(self, key: str, matched: str, similarity: float) -> PlaceMatch | None:
        """The locality a gazetteer key stands for: finest level, ambiguity resolved or penalised."""
        entries = self._by_key.get(key)
        if not entries:
            return None
        top = max(e.rank for e in entries)
        finest = sorted({e.locality_id for e in entries if e.rank == top})
        confidence = similarity
        if len(finest) > 1:
            coarser = {e.locality_id for e in entries if e.rank < top}
            inside = [f for f in finest if self._ancestors.get(f, set()) & coarser]
            if len(inside) == 1:
                finest = inside
            else:
                confidence = similarity / len(finest)
        loc_id = finest[0]
        name, level = self._info[loc_id]
        return PlaceMatch(loc_id, name, level, matched, round(float(confidence), 4))


def _drop_contained(candidates: list[_Candidate]) -> list[_Candidate]:
    """Drop a match lying inside a longer match ("Pendé" in "Ouham Pendé", "Kotto" in "Kotto-Oubangi")."""
    return [
        c
        for c in candidates
        if not any(
            d.start <= c.start and d.stop >= c.stop and d.stop - d.start > c.stop - c.start
            for d in candidates
        )
    ]


def _join_apostrophes(text: str, tokens: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """Glue ``N'Délé`` / ``M'Poko`` (one letter, apostrophe, word) into one token."""
    out: list[tuple[str, int, int]] = []
    for tok in tokens:
        if out:
            prev = out[-1]
            gap = text[prev[2] : tok[1]]
            if len(prev[0]) == 1 and prev[0].upper() in "NM" and gap in ("'", "’", "`"):
                out[-1] = (prev[0] + gap + tok[0], prev[1], tok[2])
                continue
        out.append(tok)
    return out


# --- settlements -------------------------------------------------------------------------------------
NAME_ALIASES = ("name", "nom", "settlement", "village", "place", "lieu", "localite", "featurename")
ALT_ALIASES = ("alt_names", "alt_name", "altname", "autres_noms", "alias")


def ingest_places(
    workspace: Workspace, path: str | Path, *, progress: ProgressCallback | None = None
) -> IngestReport:
    """Load a settlements file (named points) into the gazetteer.

    CSV/JSON with ``name`` (or ``nom``/``village``/``lieu``), ``latitude``, ``longitude`` and an
    optional ``alt_names`` (``;``-separated), or any point file pyogrio reads with a name column.
    Each point goes to the finest stored locality containing it; points outside every stored
    locality are rejected.
    """
    import pandas as pd

    from sauti.ingest.errors import IngestError
    from sauti.ingest.runs import ingest_run
    from sauti.ingest.tabular import require_regular_file
    from sauti.ingest.validate import RowChecker, blank, parse_numbers

    path = Path(path)
    require_regular_file(path)
    raw = _read_places(path)
    columns = {_norm_col(c): c for c in raw.columns if c != "_row"}
    name_col = next((columns[a] for a in NAME_ALIASES if a in columns), None)
    if name_col is None:
        among = ", ".join(map(shown, columns))
        raise IngestError(path, f"no name column ({'|'.join(NAME_ALIASES)}) among {among}")
    lon_col = next((columns[a] for a in ("longitude", "lon", "lng", "x") if a in columns), None)
    lat_col = next((columns[a] for a in ("latitude", "lat", "y") if a in columns), None)
    if lon_col is None or lat_col is None:
        raise IngestError(path, "no longitude/latitude columns (or point geometry)")
    alt_col = next((columns[a] for a in ALT_ALIASES if a in columns), None)
    lon = parse_numbers(raw[lon_col].astype(str))
    lat = parse_numbers(raw[lat_col].astype(str))
    checker = RowChecker(path.name, raw)
    checker.check_raw()
    checker.fail(blank(raw[name_col]), "name", "required value is missing")
    checker.fail(lon.isna() | lat.isna(), "latitude", "coordinates missing or not numbers")
    checker.fail(~lat.between(-90, 90) | ~lon.between(-180, 180), "latitude", "coordinates out of range")
    gazetteer = Gazetteer.from_workspace(workspace)
    if gazetteer.localities.empty:
        raise IngestError(path, "the workspace has no boundaries yet; run `sauti ingest boundaries` first")
    matches = gazetteer.locate_points(lon.fillna(np.nan).to_numpy(), lat.fillna(np.nan).to_numpy())
    outside = pd.Series([m is None for m in matches], index=raw.index)
    checker.fail(outside, "longitude", "point is outside every stored locality")
    rows = []
    for idx in raw.index[checker.good.to_numpy()]:
        pos = raw.index.get_loc(idx)
        loc_id = matches[pos].locality_id
        names = [str(raw.at[idx, name_col]).strip()]
        if alt_col is not None and not blank(pd.Series([raw.at[idx, alt_col]])).iloc[0]:
            names += [a.strip() for a in re.split(r"[;|]", str(raw.at[idx, alt_col])) if a.strip()]
        for name in names:
            rows.append((name, loc_id, "settlement", float(lon[idx]), float(lat[idx])))
    frame = pd.DataFrame(rows, columns=["name", LOCALITY_ID, "kind", "longitude", "latitude"])
    with ingest_run(workspace, "settlements", path, fmt=path.suffix.lstrip(".") or None) as run:
        run.count_read(len(raw))
        run.reject(checker.rejects())
        good = checker.good.to_numpy()
        new = 0
        if not frame.empty:
            from sauti.store import insert_ignore

            new = insert_ignore(run.con, "place_names", frame.assign(run_id=run.run_id))
        # a row counts as accepted when its main name is new (alt names ride along)
        main_new = min(new, int(good.sum()))
        run.report.accepted += main_new
        run.report.duplicates += int(good.sum()) - main_new
        if progress:
            progress(len(raw))
    return run.report


def _norm_col(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", fold(str(name)).strip()).strip("_")


def _read_places(path: Path):
    import pandas as pd

    from sauti.ingest.tabular import read_delimited, read_json_records

    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv", ".txt"):
        return pd.concat(list(read_delimited(path)))
    if suffix in (".json", ".jsonl", ".ndjson") and not _looks_geojson(path):
        return read_json_records(path)
    from sauti.ingest.boundaries import read_boundary_file

    frame, _notes = read_boundary_file(path)
    geoms = frame.geometry
    if not (geoms.geom_type == "Point").all():
        from sauti.ingest.errors import IngestError

        raise IngestError(path, "settlements must be points")
    raw = pd.DataFrame(frame.drop(columns=frame.geometry.name)).astype("object")
    raw["longitude"] = geoms.x.to_numpy()
    raw["latitude"] = geoms.y.to_numpy()
    raw.index = pd.RangeIndex(1, len(raw) + 1)
    raw.insert(0, "_row", raw.index.to_numpy())
    return raw


def _looks_geojson(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(4096)
    return b'"FeatureCollection"' in head or b'"Feature"' in head
