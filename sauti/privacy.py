"""Do No Harm: keyed pseudonyms for reporters and scrubbing of identifiers from free text.

A reporter's phone number or name is turned into ``reporter_ref`` with an HMAC keyed by a
per-workspace secret the moment it is read; the raw identifier is never stored, logged or
written to a rejects file. Free text is scrubbed of phone numbers and of the reporter's own
identifiers before it is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

REDACTED_PHONE = "[phone]"
REDACTED_NAME = "[name]"
REDACTED_EMAIL = "[email]"
REDACTED_ID = "[id-number]"


def fold(text: str) -> str:
    """Case- and accent-insensitive form of ``text`` with the same length (one char per char)."""
    text = unicodedata.normalize("NFC", text)
    if text.isascii():
        return text.lower()
    return "".join(_FOLDED.get(ch) or _fold_char(ch) for ch in text)


_FOLDED: dict[str, str] = {}


def _fold_char(ch: str) -> str:
    base = unicodedata.normalize("NFKD", ch)[:1] or ch
    _FOLDED[ch] = out = base.casefold()[:1] or base
    return out


fold_word = lru_cache(maxsize=200_000)(fold)
""":func:`fold` of one word, cached (words repeat over a file: names, places)."""


def normalize_identifier(identifier: str) -> str:
    """Canonical form of a phone number or a name before it is keyed.

    Phone numbers keep their digits only (``00`` prefix read as ``+``); names are folded to
    lower case without accents and with single spaces.

    >>> normalize_identifier("+236 72-12 34 56") == normalize_identifier("0023672123456")
    True
    """
    raw = str(identifier).strip()
    digits = re.sub(r"\D", "", raw)
    if digits and len(digits) >= 6 and not re.search(r"[^\d\s+().\-]", raw):
        return "tel:" + (digits[2:] if digits.startswith("00") else digits)
    return "name:" + " ".join(fold(raw).split())


def reporter_ref(identifier: str | None, secret: bytes) -> str | None:
    """Keyed pseudonym (HMAC-SHA256, truncated) of a reporter's phone number or name."""
    if identifier is None or str(identifier).strip() in ("", "nan", "None"):
        return None
    digest = hmac.new(secret, normalize_identifier(identifier).encode("utf-8"), hashlib.sha256)
    return "rep_" + digest.hexdigest()[:20]


# --- phone numbers in free text ------------------------------------------------------------------
# A run of digits joined by separators — up to 12 characters between two digits: spaces (any
# width, zero-width ones too), dots, dashes, slashes, parentheses, ``+``, underscores, colons,
# stars, hashes, bars, apostrophes, the Arabic tatweel, Unicode dashes; a comma only right before
# a digit (``72,11,44,29``; a list ``12, 15, 20`` is counts) — whatever letters are glued to either
# end: ``tel23677665544``, ``+236 - 77 - 66 - 55 - 44``, ``72/11/44/55``, ``_23677665544``.
_SEP = (
    r"[\s.\-/()+_*#:|~'`\u00b4\u02bc\u2018\u2019\u2010-\u2015\u2212\u00b7\u0640"
    r"\u00ad\u180e\u200b-\u200f\u2060-\u2064\ufeff]"
)
_COMMA = r"[,\u060c\uff0c]"
MAX_SEPARATOR_CHARS = 12
"""Widest gap of separators between two digits of one phone number (``72  -  11`` is five)."""
_GAP = rf"(?:{_SEP}|{_COMMA}(?=\d)){{0,{MAX_SEPARATOR_CHARS}}}"
_RUN_RE = re.compile(rf"[+(]*\d(?:{_GAP}\d)*")
_DIGIT_RE = re.compile(r"\d")
PHONE_MIN_DIGITS = 7
"""A run with fewer digits than this is never a phone number (no numbering plan is shorter)."""
_DAY, _MONTH, _YEAR = r"(?:0?[1-9]|[12]\d|3[01])", r"(?:0?[1-9]|1[0-2])", r"(?:19|20)\d\d"
# what a run may hold that is not a phone number, cut out before counting digits: calendar dates
# (same separator twice: 2022-01-15, 15/01/2022, 15.01.2022, 01/15/2022), clock times not part of
# a longer colon chain (14:30, 14:30:05; 72:11:44:30 is not a time), a pair of decimal
# coordinates with 3+ decimals (6.4833,20.6667 or 6,4833 20,6667) and a count below a million
# with a comma (60,000 in "40-60,000"; 1,500,000 is taken for a number, as 1 500 000 is)
_NOT_PHONE_RE = re.compile(
    rf"(?<!\d)(?:{_YEAR}([-/.]){_MONTH}\1{_DAY}|{_DAY}([-/.]){_MONTH}\2{_YEAR}|{_MONTH}/{_DAY}/{_YEAR})(?!\d)"
    r"|(?<![\d:])(?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d)?(?!:?\d)"
    r"|(?<![\d.,])-?\d{1,3}([.,])\d{3,}(?:[,;/]\s*|\s+)-?\d{1,3}\3\d{3,}(?![.,]?\d)"
    r"|(?<![\d,])\d{1,3},\d{3}(?![,\d])"
)
# pieces of a range or list that is not a phone number: a year (2019-2022, 2019,2020,2021) or a
# count with one thousands group (1 500-2 000 displaced)
_RANGE_DASH_RE = re.compile(r"\s*[-\u2010-\u2015]\s*")
_RANGE_PIECE_RE = re.compile(rf"{_YEAR}|\d{{1,3}}[ \u00a0\u202f.]\d{{3}}")
_YEARS_LIST_RE = re.compile(rf"{_YEAR}(?:{_COMMA}{_YEAR})+")
_RANGE_MAX_DIGITS = 10
_EDGE_RE = re.compile(r"[+(]*\d")

# --- digits mixed with number words (``sept deux 72 11 quarante-quatre 35``) -----------------------
_NUMBER_WORDS = frozenset(
    {"zero", "zéro", "un", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf"}
    | {"dix", "onze", "douze", "treize", "quatorze", "quinze", "seize"}
    | {"vingt", "vingts", "trente", "quarante", "cinquante", "soixante"}
    | {"septante", "huitante", "octante", "nonante"}
    | {"one", "two", "three", "four", "five", "seven", "eight", "nine", "ten", "eleven", "twelve"}
    | {"thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"}
    | {"twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"}
)
_LETTER_BEFORE, _LETTER_AFTER = r"(?<![^\W\d_])", r"(?![^\W\d_])"
_NUMBER_WORD = (
    _LETTER_BEFORE + "(?:" + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True)) + ")" + _LETTER_AFTER
)
_WORDS_RE = re.compile(r"[^\W\d_]+")
_MIXED_TOKEN = rf"(?:\d+|{_NUMBER_WORD})"
_MIXED_RE = re.compile(rf"{_MIXED_TOKEN}(?:{_GAP}{_MIXED_TOKEN})*", re.IGNORECASE)
_MIXED_PART_RE = re.compile(rf"\d+|{_NUMBER_WORD}", re.IGNORECASE)
_YEAR_TOKEN_RE = re.compile(_YEAR)


def _digits(text: str) -> int:
    return len(_DIGIT_RE.findall(text))


def _is_range(segment: str) -> bool:
    """``2019-2022``, ``2019,2020,2021`` or ``1 500-2 000``: years or counts joined by dashes."""
    stripped = segment.strip(" \t\u00a0\u202f")
    if _YEARS_LIST_RE.fullmatch(stripped):
        return True
    pieces = _RANGE_DASH_RE.split(stripped)
    return (
        len(pieces) >= 2
        and _digits(segment) <= _RANGE_MAX_DIGITS
        and all(_RANGE_PIECE_RE.fullmatch(p) for p in pieces)
    )


def find_phone_numbers(text: str) -> list[tuple[int, int]]:
    """Spans (start, end) of what looks like a phone number in ``text``.

    The one detector for free text. A phone number is a run of at least
    :data:`PHONE_MIN_DIGITS` digits joined by separators (up to :data:`MAX_SEPARATOR_CHARS`
    between two digits: spaces of any width including zero-width ones, dots, dashes, slashes,
    parentheses, ``+``, underscores, colons, stars, hashes, apostrophes, the Arabic tatweel, and
    a comma right before a digit) — with or without a ``+``/``00`` prefix, and whatever letters are
    glued to it (``tel23677665544``, ``23677665544abc``). Inside such a run, calendar dates
    (``2022-01-15``, ``15/01/2022``), clock times (``14:30``) and a pair of decimal coordinates are
    not numbers, and a run made only of years or counts joined by dashes (``2019-2022``,
    ``1 500-2 000``) or of years joined by commas is kept. What remains with 7 or more digits is a
    phone number. Digits mixed with number words (``sept deux 72 11 quarante-quatre 35``) are one
    too when they hold a digit group and a number word, no year, and 7 or more digits counting
    each word as one. Counts of a million or more written with separators (``1 500 000``) are
    taken for phone numbers: scrubbing a figure costs less than leaking a number.

    >>> text = "tel23677665544, le 15/01/2022: 1 500 deplaces, appeler +236 - 75 - 12 - 34 - 98"
    >>> [text[a:b] for a, b in find_phone_numbers(text)]
    ['23677665544', '+236 - 75 - 12 - 34 - 98']
    """
    spans = []
    for run in _RUN_RE.finditer(text):
        if _digits(run.group()) < PHONE_MIN_DIGITS:
            continue
        start, cuts = run.start(), [(d.start(), d.end()) for d in _NOT_PHONE_RE.finditer(run.group())]
        bounds = [0, *(x for cut in cuts for x in cut), run.end() - start]
        for a, b in zip(bounds[::2], bounds[1::2], strict=True):
            segment = run.group()[a:b]
            if _digits(segment) < PHONE_MIN_DIGITS or _is_range(segment):
                continue
            first = _EDGE_RE.search(segment)
            last = max(m.end() for m in _DIGIT_RE.finditer(segment))
            spans.append((start + a + first.start(), start + a + last))
    if _has_word(text, _NUMBER_WORDS):
        spans = _merge(spans + _mixed_numbers(text))
    return spans


def _mixed_numbers(text: str) -> list[tuple[int, int]]:
    """Spans of digits mixed with number words that make a phone number (see :func:`find_phone_numbers`).

    A year (``2022``) ends a group, so ``sept 2022`` or ``le 15 sept 2022 10 30`` stays.
    """
    spans = []
    for run in _MIXED_RE.finditer(text):
        group: list[re.Match] = []
        for part in [*_MIXED_PART_RE.finditer(run.group()), None]:
            if part is not None and not _YEAR_TOKEN_RE.fullmatch(part.group()):
                group.append(part)
                continue
            digits = [p for p in group if p.group()[0].isdigit()]
            weight = sum(len(p.group()) for p in digits) + len(group) - len(digits)
            if digits and len(digits) < len(group) and weight >= PHONE_MIN_DIGITS:
                spans.append((run.start() + group[0].start(), run.start() + group[-1].end()))
            group = []
    return spans


def _has_word(text: str, words: frozenset[str]) -> bool:
    """Is any word of ``text`` (lower case) one of ``words``? A quick look before a slower regex."""
    return not words.isdisjoint(_WORDS_RE.findall(text.lower()))


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def may_hold_phone_number(text: str) -> bool:
    """Cheap test: could :func:`find_phone_numbers` find anything in ``text``?

    7+ digits, or a digit and a number word (``sept deux 72 11 quarante-quatre 35``).
    """
    count = _digits(text)
    return count >= PHONE_MIN_DIGITS or (count > 0 and _has_word(text, _NUMBER_WORDS))


def _replace(text: str, spans: list[tuple[int, int]], placeholder: str) -> str:
    pieces, last = [], 0
    for start, end in spans:
        pieces.append(text[last:start])
        pieces.append(placeholder)
        last = end
    pieces.append(text[last:])
    return "".join(pieces)


def scrub_phone_numbers(text: str) -> str:
    """Replace every phone number :func:`find_phone_numbers` finds with ``[phone]``."""
    if not may_hold_phone_number(text):
        return text
    return _replace(text, find_phone_numbers(text), REDACTED_PHONE)


# --- e-mail addresses and labelled identity-document numbers --------------------------------------
_AT = r"(?:@|\uff20|\s*[(\[{]\s*at\s*[)\]}]\s*)"
_DOT = r"(?:\.|\s*[(\[{]\s*dot\s*[)\]}]\s*)"
_EMAIL_RE = re.compile(
    rf"(?<![\w.+%'-])[\w.+%'-]+{_AT}[\w-]+(?:{_DOT}[\w-]+)*{_DOT}[^\W\d_]{{2,}}(?![\w-])", re.IGNORECASE
)
_EMAIL_HINT_RE = re.compile(r"@|\uff20|[(\[{]\s*at\s*[)\]}]", re.IGNORECASE)
_APOS = r"(?:['’\u02bc`]\s*|\s+)"
_ID_LABEL = (
    r"c\.?\s?n\.?\s?i\b\.?"
    rf"|(?:carte|pi[eè]ce)(?:\s+nationale)?\s+d{_APOS}identit[eé]"
    rf"|carte\s+d{_APOS}[eé]lecteur|num[eé]ro\s+d{_APOS}identification"
    r"|passe?ports?|identity\s+card|id\s+card|national\s+id|n\.?i\.?n\b\.?|nni|id"
    r"|permis\s+de\s+conduire|driv(?:er'?s|ing)\s+licen[cs]e|titre\s+de\s+s[eé]jour"
)
_ID_PUNCT = r"[\s:#=°º\-\u2010-\u2015]*"
_ID_FILLER = rf"{_ID_PUNCT}(?:(?:n[°º]|(?:number|num[eé]ro|num|no|nr)(?![^\W_]))\.?{_ID_PUNCT})?"
_ID_VALUE = r"[^\W_](?:[^\W_]|[-/.](?=[^\W_]))*(?:[ \u00a0]\d+)*"
_ID_RE = re.compile(rf"(?<![^\W_])(?:{_ID_LABEL})(?![^\W_]){_ID_FILLER}({_ID_VALUE})", re.IGNORECASE)
_ID_LABEL_WORDS = frozenset(
    {"cni", "id", "passeport", "passeports", "passport", "passports", "identite", "identité"}
    | {"identity", "identification", "nin", "nni", "conduire", "licence", "license"}
    | {"sejour", "séjour", "electeur", "électeur"}
)
"""A word of every label :data:`_ID_LABEL` reads (C.N.I. aside): the cheap test looks for one."""
ID_MIN_CHARS = 4
"""A labelled value shorter than this (letters and digits) is not an identity-document number."""


def find_emails(text: str) -> list[tuple[int, int]]:
    """Spans of e-mail addresses (``secours.bambari@gmail.com``, ``x (at) y (dot) org``)."""
    if not _may_hold_email(text):
        return []
    return [m.span() for m in _EMAIL_RE.finditer(text)]


def _may_hold_email(text: str) -> bool:
    if "@" in text or "\uff20" in text:
        return True
    return ("(" in text or "[" in text or "{" in text) and _EMAIL_HINT_RE.search(text) is not None


def find_id_numbers(text: str) -> list[tuple[int, int]]:
    """Spans of identity-document numbers given after their label (the label itself is kept).

    Labels: CNI, carte (nationale) d'identité, pièce d'identité, carte d'électeur, passeport,
    passport, identity card, national ID, NIN, NNI, ID, permis de conduire, driving licence, titre
    de séjour — then an optional ``n°``/``numéro``/``number`` and a value of letters and digits
    (dashes, slashes and dots inside, further digit groups after a space) with at least one digit
    and :data:`ID_MIN_CHARS` letters and digits: ``CNI CF-1987-0045871``, ``passeport AB0457``.

    >>> text = "CNI n° CF-1987-0045871, passeport AB0457, passeport malien"
    >>> [text[a:b] for a, b in find_id_numbers(text)]
    ['CF-1987-0045871', 'AB0457']
    """
    if not _may_hold_id_number(text):
        return []
    spans = []
    for m in _ID_RE.finditer(text):
        value = m.group(1)
        alnum = [ch for ch in value if ch.isalnum()]
        if len(alnum) >= ID_MIN_CHARS and any(ch.isdigit() for ch in alnum):
            spans.append(m.span(1))
    return spans


def _may_hold_id_number(text: str) -> bool:
    if _digits(text) == 0:
        return False
    lowered = text.lower()
    return _has_word(lowered, _ID_LABEL_WORDS) or "c.n.i" in lowered or "c n i" in lowered


def may_hold_identifier(text: str) -> bool:
    """Cheap test: could :func:`scrub_text` find a phone number, an e-mail or an ID number in ``text``?"""
    count = _digits(text)
    if count >= PHONE_MIN_DIGITS or _may_hold_email(text):
        return True
    if count == 0:
        return False
    lowered = text.lower()
    words = _WORDS_RE.findall(lowered)
    return (
        not _NUMBER_WORDS.isdisjoint(words)
        or not _ID_LABEL_WORDS.isdisjoint(words)
        or "c.n.i" in lowered
        or "c n i" in lowered
    )


def scrub_identifiers(text: str) -> str:
    """Replace e-mails with ``[email]``, labelled ID numbers with ``[id-number]``, then phone numbers.

    In that order, so an ID of seven digits or more is an ``[id-number]``, not a ``[phone]``, and a
    number inside an address goes with the address.
    """
    text = _replace(text, find_emails(text), REDACTED_EMAIL)
    text = _replace(text, find_id_numbers(text), REDACTED_ID)
    return scrub_phone_numbers(text)


GLUED_NAME_MIN_CHARS = 6
"""A reporter name token this long is removed even inside a longer word (shorter ones, such as
"Ali", only where no letter touches them: "totalité" keeps its letters)."""


def scrub_text(text: str | None, identifiers: Iterable[str | None] = ()) -> str | None:
    """Remove e-mails, ID numbers, phone numbers and the given identifiers (names, numbers) from ``text``.

    Names are matched case- and accent-insensitively, as a whole and token by token (tokens of
    three letters or more), so "Jean-Paul Ngaba" also removes "ngaba" on its own; a name glued to
    digits or punctuation (``ngaikoisset72``) goes too, and a token of :data:`GLUED_NAME_MIN_CHARS`
    letters or more even inside a longer word (``chezngaikoisset``).
    """
    if text is None:
        return None
    text = unicodedata.normalize("NFC", str(text))
    text = _replace(text, find_emails(text), REDACTED_EMAIL)
    tokens: set[str] = set()
    for ident in identifiers:
        if ident is None:
            continue
        ident = str(ident).strip()
        if not ident or ident.lower() == "nan":
            continue
        folded = fold(ident)
        if re.search(r"[A-Za-z]", folded):
            tokens.add(folded)
            tokens.update(t for t in re.split(r"[\s\-'’.,]+", folded) if len(t) >= 3)
    if tokens:
        ordered = sorted(tokens, key=len, reverse=True)
        long = [re.escape(t) for t in ordered if len(t) >= GLUED_NAME_MIN_CHARS]
        short = [re.escape(t) for t in ordered if len(t) < GLUED_NAME_MIN_CHARS]
        alternatives = ([("(?:" + "|".join(long) + ")")] if long else []) + (
            [_LETTER_BEFORE + "(?:" + "|".join(short) + ")" + _LETTER_AFTER] if short else []
        )
        pattern = re.compile("|".join(alternatives))
        text = _replace(text, [m.span() for m in pattern.finditer(fold(text))], REDACTED_NAME)
    return scrub_identifiers(text)


SHOWN_CHARS = 40
"""Longest piece of an input (a header cell, a layer name) a message quotes."""


def shown(value: object, limit: int = SHOWN_CHARS) -> str:
    """``value`` as a message may quote it: identifiers scrubbed, what does not print shown as ``?``, cut.

    For header cells and other names read from a file: a message never repeats raw input (a phone
    number in a header, binary garbage).

    >>> shown("+236 72 11 44 95\\x00\\ufffd")
    '[phone]??'
    """
    text = scrub_identifiers(unicodedata.normalize("NFC", str(value)))
    text = "".join(ch if ch.isprintable() and ch != "\ufffd" else "?" for ch in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"
