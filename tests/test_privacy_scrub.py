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


# --- the one phone-number detector, on real numbering plans -------------------------------------
# CAR +236 and Mali +223: 8 digits; South Sudan +211 and DR Congo +243: 9 digits (after the trunk 0).
PHONE_FORMS = {
    "car-intl-spaced": "+236 75 12 34 98",
    "car-00": "00236 75123498",
    "car-local-pairs": "75 12 34 98",
    "car-local-dots": "77.66.55.44",
    "car-slashes": "72/11/44/55",
    "car-spaced-dashes": "+236 - 77 - 66 - 55 - 44",
    "car-glued-before": "tel23677665544",
    "car-glued-after": "23677665544abc",
    "car-underscore": "_23677665544",
    "car-parentheses": "(+236) 72 12 34 56",
    "car-4-4": "7512 3498",
    "mali-intl": "+223 76 12 34 56",
    "mali-landline": "20 22 33 44",
    "mali-00-dashes": "00223-66-12-34-56",
    "ssd-intl-3-3-3": "+211 912 345 678",
    "ssd-local": "0912 345 678",
    "ssd-mixed": "+211(0)92-345/6789",
    "drc-intl": "+243 812 345 678",
    "drc-local": "081 234 5678",
    "drc-e164": "+243812345678",
    "drc-dots": "0812.345.678",
    "e164-bare": "23675123498",
    "us-style": "(555) 123-4567",
    "uk-style": "+44 20 7946 0958",
    "unicode-dash": "75\u201312\u201334\u201398",
    "nbsp": "75\u00a012\u00a034\u00a098",
    "3-4-glued-word": "appelle0812345678svp",
}


@pytest.mark.parametrize("phone", list(PHONE_FORMS.values()), ids=list(PHONE_FORMS))
def test_every_phone_form_is_scrubbed_in_a_sentence(phone: str) -> None:
    text = f"Des hommes armés à Bria, contact {phone} demain."
    out = scrub_phone_numbers(text)
    assert out.startswith("Des hommes armés à Bria, contact ")
    assert out.endswith(" demain.")
    assert not any(ch.isdigit() for ch in out), out


SURVIVORS = {
    "iso-date": "Attaque le 2022-01-15 au matin.",
    "french-date": "Attaque le 15/01/2022 au matin.",
    "dotted-date": "Réunion du 15.01.2022 à 14:30.",
    "us-date": "Reported 01/15/2022.",
    "date-and-time": "2022-01-15T14:30 puis 2022-01-16 08:00",
    "years": "Depuis 2013, et encore en 2021 et 2022.",
    "year-range": "Conflit de 2019-2022 entre éleveurs.",
    "p-codes": "Localités CF4111, CF4112 et SS0101 touchées.",
    "count-thousands": "about 1 500 displaced, 12 000 people in the camp",
    "count-range": "1 500-2 000 déplacés selon les autorités",
    "count-dot": "environ 2.500 personnes",
    "small-numbers": "12 hommes armés à 3 km, 45 maisons brûlées",
    "times": "entre 14:30 et 16:45",
    "coordinates-commas": "vu à 6.4833, 20.6667",
    "sentence-numbers": "3 morts, 7 blessés, 250 fuyards",
}


@pytest.mark.parametrize("text", list(SURVIVORS.values()), ids=list(SURVIVORS))
def test_dates_years_pcodes_and_counts_survive(text: str) -> None:
    assert scrub_phone_numbers(text) == text


def test_a_phone_next_to_a_date_is_scrubbed_and_the_date_kept() -> None:
    out = scrub_phone_numbers("le 15/01/2022 75 12 34 98")
    assert out == "le 15/01/2022 [phone]"


def test_scrub_text_uses_the_same_detector() -> None:
    out = scrub_text("tel23677665544 et 72/11/44/55", ["Jean Ngaba"])
    assert out == "tel[phone] et [phone]"
