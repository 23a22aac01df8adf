"""Patrol priorities for the API: the planning layer's plan, from stored or posted bases."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sauti.api.errors import InvalidInput
from sauti.api.services.source import DataSource

if TYPE_CHECKING:  # pragma: no cover
    from sauti.api.deps import PatrolQuery

TIME_LIMIT_S = 10.0


def read_posted_bases(body: dict) -> Any:
    """Bases posted as a GeoJSON FeatureCollection, read and checked by the planning layer's reader."""
    from sauti.models.patrol import read_bases

    if not isinstance(body, dict) or body.get("type") != "FeatureCollection" or not body.get("features"):
        raise InvalidInput(
            "post the bases as a GeoJSON FeatureCollection of Points with name, patrols, range_km",
            [{"field": "body", "reason": "not a FeatureCollection with features"}],
        )
    return read_bases(body, label="posted bases")


def plan(source: DataSource, query: PatrolQuery, bases_body: dict | None = None) -> dict:
    """The plan as JSON: summary, ranked priorities per base, and GeoJSON of targets and routes."""
    from sauti.models.patrol import plan_from_workspace

    source.require_store()
    bases = read_posted_bases(bases_body) if bases_body is not None else None

    def build():
        result = plan_from_workspace(
            source.workspace,
            patrols=query.patrols,
            range_km=query.range_km,
            bases=bases,
            method=query.method,
            time_limit_s=TIME_LIMIT_S,
        )
        return {
            "summary": result.summary(),
            "priorities": result.to_records(),
            "geojson": result.to_geojson(),
        }

    if bases is not None:
        answer = build()
    else:
        answer = source.cached(("patrols", query.patrols, query.range_km, query.method), build)
    return _with_currency_warning(answer, source.data_warnings())


def _with_currency_warning(answer: dict, warnings: list[str]) -> dict:
    """The plan with the data warnings (stale incidents, silent target) first among its warnings (a
    copy: answers are cached)."""
    if not warnings:
        return answer
    summary = answer["summary"]
    return {**answer, "summary": {**summary, "warnings": [*warnings, *summary.get("warnings", [])]}}
