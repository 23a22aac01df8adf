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


# --- forms a field audit found passing the detector (issue 20) ----------------------------------------
HIDDEN_FORMS = {
    "commas": "72,11,44,29",
    "colons": "72:11:44:30",
    "stars": "72*11*44*34",
    "zero-width-spaces": "72\u200b11\u200b44\u200b33",
    "zero-width-joiner": "72\u200d11\u200d44\u200d31",
    "wide-separators": "72  -  11  -  44  -  32",
    "wide-spaces": "72      11      44      36",
    "arabic-tatweel": "72\u064011\u064044\u064051",
    "curly-apostrophe": "72\u201911\u201944\u201952",
    "apostrophe": "72'11'44'53",
    "hashes": "72#11#44#54",
    "intl-commas": "+236,72,11,44,55",
    "words-and-digits": "sept deux 72 11 quarante-quatre 35",
    "digits-then-words": "72 11 quarante-quatre trente-cinq",
    "english-words": "seven two 72 11 forty-four 35",
}


@pytest.mark.parametrize("phone", list(HIDDEN_FORMS.values()), ids=list(HIDDEN_FORMS))
def test_hidden_phone_forms_are_scrubbed(phone: str) -> None:
    out = scrub_phone_numbers(f"Des hommes armés à Bria, contact {phone} demain.")
    assert out == "Des hommes armés à Bria, contact [phone] demain."


KEPT_WITH_WIDER_SEPARATORS = {
    "iso-date": "Attaque le 2023-01-15 au matin.",
    "french-date": "Attaque le 15/01/2023 au matin.",
    "count": "12 maisons brûlées, 3 morts",
    "p-code": "Localités CF4112 et CF4111",
    "time": "Attaque à 14:30.",
    "time-with-seconds": "Attaque à 14:30:05 le 2023-01-15",
    "time-range": "entre 14:30-16:45 puis 18:00 - 19:30",
    "day-and-time": "le 15/01 14:30",
    "date-then-time": "15/01/2023 14:30",
    "coordinates-no-space": "vu à 6.4833,20.6667",
    "coordinates-french": "vu à 6,4833 20,6667",
    "years-list": "en 2019,2020,2021 et 2022",
    "counts-list": "12, 15, 20, 30 morts selon les sources",
    "number-words-and-counts": "trois morts, 12 blessés et deux 4x4 brûlés",
    "number-words-and-year": "le quinze sept 2022 à 10 30",
    "words-only-count": "vingt-deux hommes armés, sept femmes",
    "ratio": "score 3:1 hier",
    "count-comma-range": "a ransom of between 40-60,000 USD",
    "count-comma-thousands": "1,500-2,000 displaced, 12,500 in the camp",
}


@pytest.mark.parametrize(
    "text", list(KEPT_WITH_WIDER_SEPARATORS.values()), ids=list(KEPT_WITH_WIDER_SEPARATORS)
)
def test_dates_times_counts_and_pcodes_survive_the_wider_separators(text: str) -> None:
    assert scrub_phone_numbers(text) == text


IDENTIFIERS = {
    "email": ("écrire à secours.bambari@gmail.com svp", "écrire à [email] svp"),
    "email-digits": ("ngaikoisset72114465@yahoo.fr", "[email]"),
    "email-at-words": ("secours (at) bambari (dot) org", "[email]"),
    "cni": ("CNI CF-1987-0045871 perdue", "CNI [id-number] perdue"),
    "cni-numero": ("sa CNI n° 1987004587 à Bria", "sa CNI n° [id-number] à Bria"),
    "passeport": ("passeport AB0457 volé", "passeport [id-number] volé"),
    "passport": ("passport number: P1234567", "passport number: [id-number]"),
    "carte-identite": ("carte d'identité 72114455", "carte d'identité [id-number]"),
    "carte-identite-curly": (
        "carte nationale d’identité : 0045871",
        "carte nationale d’identité : [id-number]",
    ),
    "id-7-digits": ("ID 7211446", "ID [id-number]"),
    "id-colon": ("ID: CF1987 0045871 signalé", "ID: [id-number] signalé"),
}


@pytest.mark.parametrize(("text", "expected"), list(IDENTIFIERS.values()), ids=list(IDENTIFIERS))
def test_emails_and_labelled_id_numbers_have_their_own_placeholders(text: str, expected: str) -> None:
    assert scrub_text(text) == expected


@pytest.mark.parametrize(
    "text",
    ["passeport malien perdu", "sa CNI a été volée", "12 hommes, ID inconnue", "passeport 12", "un @ seul"],
    ids=["label-without-number", "label-alone", "id-without-number", "too-short", "lone-at"],
)
def test_labels_without_a_number_and_lone_at_signs_survive(text: str) -> None:
    assert scrub_text(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ngaikoisset72 a vu des hommes armés", "[name]72 a vu des hommes armés"),
        ("signé jean_ngaikoisset.", "signé jean_[name]."),
        ("chezngaikoisset à Bria", "chez[name] à Bria"),
        ("la totalité des maisons", "la totalité des maisons"),
    ],
    ids=["glued-digits", "glued-underscore", "glued-letters-long-token", "short-token-inside-a-word"],
)
def test_reporter_name_glued_to_other_text_is_removed(text: str, expected: str) -> None:
    assert scrub_text(text, ["Ali Ngaikoisset"]) == expected
