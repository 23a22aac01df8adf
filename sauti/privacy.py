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
# A run of digits joined by up to three separator characters (spaces, dots, dashes, slashes,
# parentheses, ``+``, underscores, Unicode dashes), whatever letters are glued to either end:
# ``tel23677665544``, ``+236 - 77 - 66 - 55 - 44``, ``72/11/44/55``, ``_23677665544``.
_SEP = r"[\s.\-/()+_\u2010-\u2015\u2212\u00b7]"
_RUN_RE = re.compile(rf"[+(]*\d(?:{_SEP}{{0,3}}\d)*")
_DIGIT_RE = re.compile(r"\d")
PHONE_MIN_DIGITS = 7
"""A run with fewer digits than this is never a phone number (no numbering plan is shorter)."""
_DAY, _MONTH, _YEAR = r"(?:0?[1-9]|[12]\d|3[01])", r"(?:0?[1-9]|1[0-2])", r"(?:19|20)\d\d"
# calendar dates (same separator twice): 2022-01-15, 15/01/2022, 15.01.2022, 01/15/2022
_DATE_RE = re.compile(
    rf"(?<!\d)(?:{_YEAR}([-/.]){_MONTH}\1{_DAY}|{_DAY}([-/.]){_MONTH}\2{_YEAR}|{_MONTH}/{_DAY}/{_YEAR})(?!\d)"
)
# pieces of a range that is not a phone number: a year (2019-2022) or a count with one
# thousands group (1 500-2 000 displaced)
_RANGE_DASH_RE = re.compile(r"\s*[-\u2010-\u2015]\s*")
_RANGE_PIECE_RE = re.compile(rf"{_YEAR}|\d{{1,3}}[ \u00a0\u202f.]\d{{3}}")
_RANGE_MAX_DIGITS = 10
_EDGE_RE = re.compile(r"[+(]*\d")


def _digits(text: str) -> int:
    return len(_DIGIT_RE.findall(text))


def _is_range(segment: str) -> bool:
    """``2019-2022`` or ``1 500-2 000``: two or more years or counts joined by dashes."""
    pieces = _RANGE_DASH_RE.split(segment.strip(" \t\u00a0\u202f"))
    return (
        len(pieces) >= 2
        and _digits(segment) <= _RANGE_MAX_DIGITS
        and all(_RANGE_PIECE_RE.fullmatch(p) for p in pieces)
    )


def find_phone_numbers(text: str) -> list[tuple[int, int]]:
    """Spans (start, end) of what looks like a phone number in ``text``.

    The one detector for free text. A phone number is a run of at least
    :data:`PHONE_MIN_DIGITS` digits joined by up to three separator characters each (spaces,
    dots, dashes, slashes, parentheses, ``+``, underscores) — with or without a ``+``/``00``
    prefix, and whatever letters are glued to it (``tel23677665544``, ``23677665544abc``). Inside
    such a run, calendar dates (``2022-01-15``, ``15/01/2022``) are not numbers, and a run made
    only of years or counts joined by dashes (``2019-2022``, ``1 500-2 000``) is kept. What
    remains with 7 or more digits is a phone number. Counts of a million or more written with
    separators (``1 500 000``) are taken for phone numbers: scrubbing a figure costs less than
    leaking a number.

    >>> text = "tel23677665544, le 15/01/2022: 1 500 deplaces, appeler +236 - 75 - 12 - 34 - 98"
    >>> [text[a:b] for a, b in find_phone_numbers(text)]
    ['23677665544', '+236 - 75 - 12 - 34 - 98']
    """
    spans = []
    for run in _RUN_RE.finditer(text):
        if _digits(run.group()) < PHONE_MIN_DIGITS:
            continue
        start, cuts = run.start(), [(d.start(), d.end()) for d in _DATE_RE.finditer(run.group())]
        bounds = [0, *(x for cut in cuts for x in cut), run.end() - start]
        for a, b in zip(bounds[::2], bounds[1::2], strict=True):
            segment = run.group()[a:b]
            if _digits(segment) < PHONE_MIN_DIGITS or _is_range(segment):
                continue
            first = _EDGE_RE.search(segment)
            last = max(m.end() for m in _DIGIT_RE.finditer(segment))
            spans.append((start + a + first.start(), start + a + last))
    return spans


def may_hold_phone_number(text: str) -> bool:
    """Cheap test: could :func:`find_phone_numbers` find anything in ``text`` (7+ digits)?"""
    return _digits(text) >= PHONE_MIN_DIGITS


def scrub_phone_numbers(text: str) -> str:
    """Replace every phone number :func:`find_phone_numbers` finds with ``[phone]``."""
    if not may_hold_phone_number(text):
        return text
    pieces, last = [], 0
    for start, end in find_phone_numbers(text):
        pieces.append(text[last:start])
        pieces.append(REDACTED_PHONE)
        last = end
    pieces.append(text[last:])
    return "".join(pieces)


def scrub_text(text: str | None, identifiers: Iterable[str | None] = ()) -> str | None:
    """Remove phone numbers and the given identifiers (names, numbers) from ``text``.

    Names are matched case- and accent-insensitively, as a whole and token by token (tokens of
    three letters or more), so "Jean-Paul Ngaba" also removes "ngaba" on its own.
    """
    if text is None:
        return None
    text = unicodedata.normalize("NFC", str(text))
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
        pattern = re.compile(
            r"(?<!\w)(?:" + "|".join(re.escape(t) for t in sorted(tokens, key=len, reverse=True)) + r")(?!\w)"
        )
        folded_text = fold(text)
        pieces, last = [], 0
        for m in pattern.finditer(folded_text):
            pieces.append(text[last : m.start()])
            pieces.append(REDACTED_NAME)
            last = m.end()
        pieces.append(text[last:])
        text = "".join(pieces)
    return scrub_phone_numbers(text)
