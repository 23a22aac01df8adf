"""Records of a JSON file, one at a time, in bounded memory.

A JSON array, an object holding one (``{"alerts": [...]}``, a GeoJSON FeatureCollection), a
single object, or JSON Lines: the file is read in blocks and each record's text is found by a
scanner that only looks at quotes and brackets (``str.find`` and one regular expression, in C),
then parsed alone with :func:`json.loads`. A record longer than :data:`MAX_RECORD_CHARS` is
skipped without being held, one nested deeper than :data:`MAX_DEPTH` is not parsed (Python's
parser would overflow its stack): both come back as a :class:`RecordProblem`, so the caller rejects
that row with a reason and reads on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TextIO

MAX_RECORD_CHARS = 8 << 20
"""Longest record read (characters of its JSON text); a longer one is rejected, not read."""
MAX_DEPTH = 64
"""Deepest nesting of arrays and objects read in one record."""
BLOCK_CHARS = 1 << 20
_WS = re.compile(r"[ \t\n\r]*")
_STRUCTURE = re.compile(r'["\[\]{}]')
_PRIMITIVE_END = re.compile(r"[,\]}\s]")


class JsonSyntaxError(ValueError):
    """The file's structure is broken (not a single record): reading cannot go on."""


@dataclass(frozen=True)
class RecordProblem:
    """Why one record was not read."""

    reason: str


def _character(ch: str) -> str:
    """One character for a message: quoted if it prints, else by its code point (``U+0000``)."""
    if ch.isprintable() and ch != "\ufffd":
        return repr(ch)
    return f"a character that does not print (U+{ord(ch):04X})"


class _Scanner:
    """A text stream read in blocks: ``buf[i]`` is the next character to look at.

    ``mark`` is where the value being scanned starts (kept in ``buf``); while it is ``None`` (no
    value, or one already too long to keep) what lies before ``i`` is dropped on the next fill.
    """

    def __init__(self, fh: TextIO) -> None:
        self.fh = fh
        self.buf = ""
        self.i = 0
        self.mark: int | None = None
        self.eof = False
        self.line = 1  # of ``buf[0]``, for messages

    def fill(self) -> bool:
        """Read one more block (False at the end of the file)."""
        if self.eof:
            return False
        keep = self.mark if self.mark is not None else max(self.i - 8, 0)
        dropped = self.buf[:keep]
        self.line += dropped.count("\n")
        self.buf = self.buf[keep:]
        self.i -= keep
        if self.mark is not None:
            self.mark = 0
        block = self.fh.read(BLOCK_CHARS)
        if not block:
            self.eof = True
            return False
        self.buf += block
        return True

    def peek(self) -> str | None:
        """The next character that is not white space (``None`` at the end of the file)."""
        while True:
            self.i = _WS.match(self.buf, self.i).end()
            if self.i < len(self.buf):
                return self.buf[self.i]
            if not self.fill():
                return None

    def where(self) -> str:
        return f"line {self.line + self.buf.count(chr(10), 0, self.i)}"

    def expect(self, allowed: str, context: str) -> str:
        ch = self.peek()
        if ch is None or ch not in allowed:
            found = "the end of the file" if ch is None else _character(ch)
            raise JsonSyntaxError(f"not valid JSON at {self.where()}: expected {context}, found {found}")
        self.i += 1
        return ch

    def value(self) -> Any | RecordProblem:
        """Scan the next value and parse it (a :class:`RecordProblem` if too long or too deep)."""
        if self.peek() is None:
            raise JsonSyntaxError(
                f"not valid JSON: the file ends where a value was expected ({self.where()})"
            )
        self.mark = self.i
        kept, depth = self._scan()
        if not kept:
            self.mark = None
            return RecordProblem(f"record longer than {MAX_RECORD_CHARS:,} characters (not read)")
        text = self.buf[self.mark : self.i]
        self.mark = None
        if depth > MAX_DEPTH:
            return RecordProblem(f"nested deeper than {MAX_DEPTH} levels")
        try:
            return json.loads(text, parse_constant=_constant)
        except json.JSONDecodeError as exc:
            return RecordProblem(f"not valid JSON ({exc.msg})")

    def _too_long(self) -> bool:
        if self.mark is not None and self.i - self.mark > MAX_RECORD_CHARS:
            self.mark = None  # from now on nothing of this value is kept
        return self.mark is None

    def _scan(self) -> tuple[bool, int]:
        """Move ``i`` past one value; return whether it was kept whole and its depth."""
        first = self.buf[self.i]
        if first == '"':
            self.i += 1
            self._string_end()
            return not self._too_long(), 0
        if first not in "[{":
            return self._primitive(), 0
        depth = deepest = 0
        while True:
            match = _STRUCTURE.search(self.buf, self.i)
            if match is None:
                self.i = len(self.buf)
                self._too_long()
                if not self.fill():
                    raise JsonSyntaxError(f"not valid JSON: the file ends inside a value ({self.where()})")
                continue
            self.i = match.end()
            ch = match.group()
            if ch == '"':
                self._string_end()
            elif ch in "[{":
                depth += 1
                deepest = max(deepest, depth)
            else:
                depth -= 1
                if depth == 0:
                    return not self._too_long(), deepest
            self._too_long()

    def _string_end(self) -> None:
        """Move ``i`` past the closing quote of a string whose body starts at ``i``."""
        while True:
            j = self.buf.find('"', self.i)
            if j < 0:
                self.i = max(len(self.buf) - 1, self.i)  # keep a trailing backslash in view
                self._too_long()
                if not self.fill():
                    raise JsonSyntaxError(f"not valid JSON: the file ends inside a string ({self.where()})")
                continue
            k = j
            while k > 0 and self.buf[k - 1] == "\\":
                k -= 1
            self.i = j + 1
            if (j - k) % 2 == 0:  # not escaped
                return

    def _primitive(self) -> bool:
        start = self.i
        while True:
            match = _PRIMITIVE_END.search(self.buf, self.i)
            if match is not None and match.start() == start and self.buf[start] not in ",]}":
                # an odd white space (form feed, NBSP…) that :data:`_WS` does not skip: it belongs to
                # the bad value, so the scan always moves on (else JSON Lines read it forever)
                self.i = start + 1
                continue
            if match is not None:
                self.i = match.start()
                return not self._too_long()
            self.i = len(self.buf)
            if self._too_long() or not self.fill():
                return not self._too_long()


def iter_json_values(fh: TextIO, list_keys: tuple[str, ...]) -> Iterator[Any | RecordProblem]:
    """Each record of the JSON text ``fh``, parsed, or a :class:`RecordProblem` in its place.

    Raises :class:`JsonSyntaxError` when the file's structure (not a record's) is broken.
    """
    scanner = _Scanner(fh)
    first = scanner.peek()
    if first is None:
        return
    if first == "[":
        yield from _array_items(scanner)
    elif first == "{":
        yield from _object_or_wrapper(scanner, list_keys)
    else:
        yield scanner.value()
    while (ch := scanner.peek()) is not None:  # JSON Lines: more values after the first
        if ch in ",]}:":  # would be read as an empty value, again and again
            raise JsonSyntaxError(f"not valid JSON at {scanner.where()}: {ch!r} after a complete value")
        yield scanner.value()


def _array_items(scanner: _Scanner) -> Iterator[Any | RecordProblem]:
    scanner.expect("[", "'['")
    if scanner.peek() == "]":
        scanner.i += 1
        return
    while True:
        yield scanner.value()
        if scanner.expect(",]", "',' or ']'") == "]":
            return


def _object_or_wrapper(scanner: _Scanner, list_keys: tuple[str, ...]) -> Iterator[Any | RecordProblem]:
    """``{"alerts": [...], ...}``: the list's items; any other object: itself, as one record."""
    scanner.expect("{", "'{'")
    members: dict[str, Any] = {}
    problem: RecordProblem | None = None
    streamed, count = None, 0
    while scanner.peek() != "}":
        if count:
            scanner.expect(",", "',' or '}'")
        count += 1
        key = scanner.value()
        scanner.expect(":", "':'")
        if isinstance(key, str) and key in list_keys and scanner.peek() == "[":
            if streamed is not None:  # reading on would drop this list's records without a word
                raise JsonSyntaxError(
                    f"the file holds two lists of records, {streamed!r} and {key!r} ({scanner.where()}): "
                    "put the records in one list"
                )
            streamed = key
            yield from _array_items(scanner)
            continue
        value = scanner.value()
        if isinstance(value, RecordProblem):
            problem = problem or value
        elif isinstance(key, str):
            members[key] = value
    scanner.i += 1
    if streamed is None:
        yield problem or members


def _constant(name: str) -> float | str:
    """JSON's non-standard constants: ``NaN`` kept as the text ``"NaN"`` (a value that was *given*,
    not a missing key, so a NaN coordinate is refused like ``Infinity``; as text it is still a
    spelt-out null for every other field), ``Infinity`` and ``-Infinity`` as floats."""
    return "NaN" if name == "NaN" else float(name)
