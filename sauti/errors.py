"""Domain errors. The CLI prints them as one line; the API maps them to HTTP status codes."""

import re


class SautiError(Exception):
    """A problem the user can act on (bad input, missing data, impossible request)."""


class NotFoundError(SautiError):
    """The thing asked for does not exist in the workspace."""


class NotReadyError(SautiError):
    """A step that must run first has not (no cube, no model, no scores…)."""


class InvalidInputError(SautiError, ValueError):
    """A value the caller gave fails a domain check (the API answers 422).

    A ``ValueError`` too, so code that checks arguments keeps its ``except ValueError``; a plain
    ``ValueError`` is *not* treated as the caller's fault (the API answers 500 with an error id).
    """


def reader_problem(exc: BaseException) -> str:
    """Why GDAL could not read a file, in its own words but without the path it was given (a
    ``/vsimem/…`` name for uploads) or its advice about driver prefixes, which no Sauti user can act on.

    >>> reader_problem(OSError("'/vsimem/pyogrio_1f' not recognized as being in a supported file format.; "
    ...                        "It might help to specify the correct driver explicitly"))
    'not recognized as being in a supported file format'
    """
    text = str(exc).split("; It might help", 1)[0].strip().rstrip(".;")
    text = re.sub(r"^'[^']*'\s*", "", text)
    return text or type(exc).__name__
