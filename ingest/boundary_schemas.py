"""Which columns of a boundary file hold each level's code and name: a registry of known schemas.

The schemas (OCHA COD-AB in its two namings, GADM 3.6/4.1, geoBoundaries, a generic fallback) are
data in ``boundary_schemas.yaml``; :func:`recognise_schema` picks the one a file follows and returns
the columns to read for the level asked for and for each parent level.

>>> choice = recognise_schema(["GID_0", "NAME_0", "GID_1", "NAME_1", "GID_2", "NAME_2"], 2)
>>> choice.schema, choice.id_field, choice.name_field, choice.parents[1]
('gadm', 'GID_2', 'NAME_2', ('GID_1', 'NAME_1'))
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

CUSTOM = "custom"
CUSTOM_TITLE = "columns given with --id-field/--name-field"


@dataclass(frozen=True)
class SchemaChoice:
    """The columns chosen for one file and level.

    ``parents`` maps each coarser level ``k`` to its ``(id column, name column)`` (either may be
    None); ``alt_fields`` are the columns of alternative names of the level itself.
    """

    schema: str
    title: str
    level: int
    id_field: str
    name_field: str
    parents: dict[int, tuple[str | None, str | None]] = field(default_factory=dict)
    alt_fields: tuple[str, ...] = ()
    alt_separator: str | None = None
    level_column: str | None = None

    def summary(self) -> dict:
        """What the ingest summary says about the schema (``--json`` key ``schema``)."""
        parent_id, parent_name = self.parents.get(self.level - 1, (None, None))
        return {
            "name": self.schema,
            "title": self.title,
            "id_field": self.id_field,
            "name_field": self.name_field,
            "parent_id_field": parent_id,
            "parent_name_field": parent_name,
        }


def describe_schema(summary: dict) -> str:
    """One line for people from :meth:`SchemaChoice.summary`: the schema and the columns read."""
    text = f"{summary['title']}: id {summary['id_field']}, name {summary['name_field']}"
    if summary.get("parent_id_field"):
        text += f", parent {summary['parent_id_field']}"
        if summary.get("parent_name_field"):
            text += f" ({summary['parent_name_field']})"
    return text


@cache
def known_schemas() -> dict[str, dict]:
    """The packaged registry, in order of preference."""
    import yaml

    text = resources.files("sauti.ingest").joinpath("boundary_schemas.yaml").read_text("utf-8")
    return yaml.safe_load(text)


def _patterns(spec: dict, kind: str, k: int, own: bool) -> list[str]:
    if own and kind in spec.get("own", {}):
        return spec["own"][kind]
    level = spec.get("levels", {}).get(k, {})
    return level[kind] if kind in level else spec.get(kind, [])


def _find(lower: dict[str, str], patterns: list[str], k: int) -> str | None:
    for pattern in patterns:
        column = lower.get(pattern.format(n=k))
        if column is not None:
            return column
    return None


def _parent_columns(spec: dict, lower: dict[str, str], k: int) -> tuple[str | None, str | None]:
    """Level ``k``'s columns by this schema, else by any schema (files mix namings)."""
    found = [_find(lower, _patterns(spec, kind, k, own=False), k) for kind in ("id", "name")]
    for other in known_schemas().values():
        for i, kind in enumerate(("id", "name")):
            found[i] = found[i] or _find(lower, _patterns(other, kind, k, own=False), k)
    return found[0], found[1]


def _alt_fields(spec: dict, columns: list[str], n: int, main: str) -> tuple[str, ...]:
    patterns = [re.compile(p.format(n=n)) for p in spec.get("alt", [])]
    return tuple(c for c in columns if c != main and any(p.fullmatch(c.lower()) for p in patterns))


def _candidate(name: str, spec: dict, lower: dict[str, str], n: int, id_field, name_field):
    own_id = _find(lower, _patterns(spec, "id", n, own=True), n)
    own_name = _find(lower, _patterns(spec, "name", n, own=True), n)
    chosen_id, chosen_name = id_field or own_id, name_field or own_name
    if chosen_id is None or chosen_name is None:
        return None
    parents = {k: _find(lower, _patterns(spec, "id", k, own=False), k) for k in range(n)}
    recognised = sum(c is not None for c in (own_id, own_name, *parents.values()))
    return recognised, name, chosen_id, chosen_name


def recognise_schema(
    columns: list[str], n: int, id_field: str | None = None, name_field: str | None = None
) -> SchemaChoice | None:
    """The schema ``columns`` follow at admin level ``n``, or None when no id/name pair is found.

    ``id_field``/``name_field`` override the level's own columns; the schema is then still used
    for the parent levels (named ``custom`` when it recognises none of the file's columns).
    """
    lower = {c.lower(): c for c in columns}
    schemas = known_schemas()
    best = None
    for order, (name, spec) in enumerate(schemas.items()):
        found = _candidate(name, spec, lower, n, id_field, name_field)
        if found is not None and (best is None or found[0] > best[0][0]):
            best = (found, order)
    if best is None:
        return None
    recognised, name, chosen_id, chosen_name = best[0]
    spec = schemas[name]
    title = spec["title"]
    if recognised == 0:
        name, title = CUSTOM, CUSTOM_TITLE
    level_column = lower.get(spec["level_column"]) if spec.get("level_column") else None
    return SchemaChoice(
        schema=name,
        title=title,
        level=n,
        id_field=chosen_id,
        name_field=chosen_name,
        parents={k: _parent_columns(spec, lower, k) for k in range(n)},
        alt_fields=_alt_fields(spec, columns, n, chosen_name),
        alt_separator=spec.get("alt_separator"),
        level_column=level_column,
    )


def has_id_column(columns: list[str], n: int) -> bool:
    """Whether any known schema finds a level-``n`` code among ``columns``."""
    lower = {c.lower(): c for c in columns}
    return any(_find(lower, _patterns(spec, "id", n, own=True), n) for spec in known_schemas().values())


def schema_titles() -> list[str]:
    """The titles of the known schemas (for error messages and help)."""
    return [spec["title"] for spec in known_schemas().values()]
