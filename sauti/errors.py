"""Domain errors. The CLI prints them as one line; the API maps them to HTTP status codes."""


class SautiError(Exception):
    """A problem the user can act on (bad input, missing data, impossible request)."""


class NotFoundError(SautiError):
    """The thing asked for does not exist in the workspace."""


class NotReadyError(SautiError):
    """A step that must run first has not (no cube, no model, no scores…)."""
