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

REDACTED_PHONE = "[phone]"
REDACTED_NAME = "[name]"

# A phone number: optional +/00, then at least 7 digits possibly split by spaces, dots or dashes.
_PHONE_RE = re.compile(r"(?<![\w])(?:\+|00)?\d(?:[ .\-()]{0,2}\d){6,14}(?![\w])")


def fold(text: str) -> str:
    """Case- and accent-insensitive form of ``text`` with the same length (one char per char)."""
    out = []
    for ch in unicodedata.normalize("NFC", text):
        base = unicodedata.normalize("NFKD", ch)[:1] or ch
        out.append(base.casefold()[:1] or base)
    return "".join(out)


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


def scrub_phone_numbers(text: str) -> str:
    """Replace anything that looks like a phone number with ``[phone]``."""
    return _PHONE_RE.sub(REDACTED_PHONE, text)


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
