"""Keyed pseudonyms and scrubbing of identifiers from free text (sauti.privacy)."""

from __future__ import annotations

import pytest

from sauti.privacy import fold, normalize_identifier, reporter_ref, scrub_phone_numbers, scrub_text

SECRET = b"k" * 32


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("+236 72 12 34 56", "0023672123456"),
        ("72-12-34-56", "72 12 34 56"),
        ("Jean-Paul  NGABA", "jean-paul ngaba"),
        ("Amélie Kossi", "AMELIE KOSSI"),
    ],
    ids=["plus-vs-00", "dashes-vs-spaces", "case-and-spaces", "accents"],
)
def test_same_person_same_pseudonym(a: str, b: str) -> None:
    assert normalize_identifier(a) == normalize_identifier(b)
    assert reporter_ref(a, SECRET) == reporter_ref(b, SECRET)


def test_pseudonym_depends_on_the_secret_and_hides_the_identifier() -> None:
    ref = reporter_ref("+236 72 12 34 56", SECRET)
    assert ref.startswith("rep_")
    assert "72123456" not in ref
    assert reporter_ref("+236 72 12 34 56", b"other-secret") != ref
    assert reporter_ref("", SECRET) is None
    assert reporter_ref(None, SECRET) is None


@pytest.mark.parametrize(
    "text",
    ["appelez le +236 72 12 34 56 svp", "call 0023675001122 now", "tel: 72.12.34.56", "numero 75-00-11-22."],
    ids=["plus-spaced", "00-prefix", "dots", "dashes"],
)
def test_phone_numbers_are_scrubbed(text: str) -> None:
    out = scrub_phone_numbers(text)
    assert "[phone]" in out
    assert not any(ch.isdigit() for ch in out.replace("[phone]", ""))


def test_short_numbers_and_words_survive() -> None:
    text = "12 hommes armés à 3 km de Bria"
    assert scrub_phone_numbers(text) == text


def test_reporter_name_removed_case_and_accent_insensitively() -> None:
    text = "Ici Élodie Ngaïkoumon, les gens de NGAIKOUMON disent que Elodie a vu des hommes armés."
    out = scrub_text(text, ["Élodie Ngaïkoumon", "+236 72 12 34 56"])
    assert "lodie" not in out.lower()
    assert "ngaikoumon" not in fold(out)
    assert "hommes armés" in out


def test_fold_keeps_length() -> None:
    s = "N'Délé, Kaga-Bandoro, Bambari — Ouham-Pendé"
    assert len(fold(s)) == len(s)
    assert fold(s) == "n'dele, kaga-bandoro, bambari — ouham-pende"
