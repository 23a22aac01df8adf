"""Alert fields: times normalised to UTC from the shapes people write, and category words in French
or English mapped to the canonical vocabulary (``ingest/alerts/vocabulary.yaml``)."""

from __future__ import annotations

import pandas as pd
import pytest

from sauti.ingest.alerts import normalize_category, parse_received_at


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("04/03/2021 10:22", "2021-03-04T09:22:00Z"),
        ("2021-03-04 10:22:00", "2021-03-04T09:22:00Z"),
        ("2021-03-04T10:22:00", "2021-03-04T09:22:00Z"),
        ("2021-03-04T09:22:00Z", "2021-03-04T09:22:00Z"),
        ("2021-03-04T12:22:00+03:00", "2021-03-04T09:22:00Z"),
        ("1614849720", "2021-03-04T09:22:00Z"),
        ("04/03/2021", "2021-03-03T23:00:00Z"),
        ("31/02/2021 10:00", None),
        ("hier soir", None),
    ],
    ids=[
        "fr-day-first",
        "iso-naive-space",
        "iso-naive-T",
        "iso-utc",
        "iso-offset",
        "unix-seconds",
        "date-only",
        "impossible-date",
        "words",
    ],
)
def test_received_at_is_normalised_to_utc(value: str, expected: str | None) -> None:
    parsed = parse_received_at(pd.Series([value]), "Africa/Bangui").iloc[0]
    if expected is None:
        assert pd.isna(parsed)
    else:
        assert parsed.strftime("%Y-%m-%dT%H:%M:%SZ") == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("tension intercommunautaire", "intercommunal_tension"),
        ("Mouvement de groupe armé", "armed_group_movement"),
        ("MENACE", "threat_to_civilians"),
        ("Attaque", "attack"),
        ("déplacement", "displacement"),
        ("autre", "other"),
        ("something new", "other"),
        ("", "other"),
    ],
    ids=[
        "fr-tension",
        "fr-movement-accents",
        "fr-upper",
        "fr-attack",
        "fr-displacement",
        "fr-other",
        "unknown",
        "blank",
    ],
)
def test_category_synonyms(value: str, expected: str) -> None:
    assert normalize_category(value) == expected
