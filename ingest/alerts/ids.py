"""Which alert ids are stored as given and which as their keyed pseudonym.

An id is a key and is never scrubbed; one that carries a phone number (the reporter's or anyone's)
or an e-mail address is stored as ``id_`` + HMAC(secret, id) instead, which is as stable a key (a
duplicate still matches) and reveals nothing. Used where alerts are prepared and where an analyst
names an alert by the id the gateway wrote.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from functools import lru_cache

from sauti.privacy import PHONE_MIN_DIGITS, find_emails, find_phone_numbers

_DIGIT_RE = re.compile(r"\d")
_PHONE_SHAPED_RE = re.compile(r"[\d\s.\-/()+_\u00a0\u2010-\u2015]+")


def stored_alert_id(alert_id: str, secret: bytes, reporter_phone: str = "") -> str:
    """``alert_id`` as given, unless it holds a phone number or an e-mail: then its keyed pseudonym,
    which is as stable a key and reveals nothing.

    An id holds a phone number when it contains the reporter's own number (its last 7 digits), or
    anyone's (:func:`_holds_contact`): ``+236 75 12 34 98``, ``sms-23672114465``,
    ``0023672114466``, ``tel:+23672114467``. A gateway's counter ``99120001``, a dated
    ``2021-03-04-0001``, a 16-digit KoboToolbox id and a uuid stay as written.
    """
    digits = "".join(_DIGIT_RE.findall(reporter_phone))
    held = "".join(_DIGIT_RE.findall(alert_id))
    own = len(digits) >= PHONE_MIN_DIGITS and digits[-PHONE_MIN_DIGITS:] in held
    if not own and not _holds_contact(alert_id):
        return alert_id
    return "id_" + hmac.new(secret, ("id:" + alert_id).encode("utf-8"), hashlib.sha256).hexdigest()[:24]


_ID_PHONE_LABEL_RE = re.compile(
    r"(?<![^\W\d_])(?:tel|t[eé]l[eé]phone|phone|mobile|portable|msisdn|whatsapp|gsm|sender|from)(?![^\W\d_])",
    re.IGNORECASE,
)
_ID_PLUS_RUN_RE = re.compile(r"\+\s*\d(?:[\s.\-/()]{0,2}\d)*")
_ID_DIGIT_RUN_RE = re.compile(r"\d+")
E164_MAX_DIGITS = 15
"""No international number is longer (ITU-T E.164): a 16-digit id is a counter."""


def _holds_contact(alert_id: str) -> bool:
    """Does an id carry someone's phone number (not only the reporter's) or e-mail address?

    Yes for an e-mail (:func:`~sauti.privacy.find_emails`), and for a phone number when it is
    written as one (:func:`_written_as_phone_number`), when it holds ``+`` and 7+
    digits, when a label says so (``tel``, ``phone``, ``msisdn`` …) next to 7+ digits, or when a
    run of its digits is a valid international number (``phonenumbers``) after ``00`` or on its own
    with 10 to 15 digits (a country code and a national number: ``sms-23672114465``).
    """
    text = alert_id.strip()
    if _is_uuid(text):
        return False
    if _written_as_phone_number(text) or find_emails(text):
        return True
    if any(len(_DIGIT_RE.findall(m.group())) >= PHONE_MIN_DIGITS for m in _ID_PLUS_RUN_RE.finditer(text)):
        return True
    runs = [m.group() for m in _ID_DIGIT_RUN_RE.finditer(text)]
    if _ID_PHONE_LABEL_RE.search(text) and any(len(r) >= PHONE_MIN_DIGITS for r in runs):
        return True
    for run in runs:
        number = run[2:] if run.startswith("00") else run
        if 10 <= len(number) <= E164_MAX_DIGITS and _valid_international_number(number):
            return True
    return False


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text.removeprefix("uuid:"))
    except ValueError:
        return False
    return True


@lru_cache(maxsize=10_000)
def _valid_international_number(digits: str) -> bool:
    """``digits`` (country code first) is a valid number of some country's numbering plan."""
    import phonenumbers  # lazy: only ids with a long run of digits need it

    try:
        return phonenumbers.is_valid_number(phonenumbers.parse("+" + digits, None))
    except phonenumbers.NumberParseException:
        return False


def _written_as_phone_number(value: str) -> bool:
    """Only digits, separators and ``+``, with a non-digit, and 7+ digits that
    :func:`~sauti.privacy.find_phone_numbers` reads as a number (``75-12-34-98``)."""
    text = value.strip()
    if not _PHONE_SHAPED_RE.fullmatch(text) or text.isdigit():
        return False
    return any(len(_DIGIT_RE.findall(text[a:b])) >= PHONE_MIN_DIGITS for a, b in find_phone_numbers(text))
