"""Domain errors. The CLI prints them as one line; the API maps them to HTTP status codes."""


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
