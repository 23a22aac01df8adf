"""Responses: what the mission did about alerts and plans (patrol, engagement, message, none).

:mod:`~sauti.ingest.responses.check` checks and scrubs one record;
:mod:`~sauti.ingest.responses.records` stores and reads them (files, service posts, later changes);
:mod:`~sauti.ingest.responses.synthetic` draws the sample's seeded, made-up response log. See
docs/responses.md.
"""

from sauti.ingest.responses.check import (
    RESPONSE_ACTIONS,
    RESPONSE_OUTCOMES,
    RESPONSE_TIMES,
    ResponseOutcome,
    check_response,
)
from sauti.ingest.responses.records import (
    ingest_responses,
    list_responses,
    response_frames,
    submit_responses,
    update_response,
)

__all__ = [
    "RESPONSE_ACTIONS",
    "RESPONSE_OUTCOMES",
    "RESPONSE_TIMES",
    "ResponseOutcome",
    "check_response",
    "ingest_responses",
    "list_responses",
    "response_frames",
    "submit_responses",
    "update_response",
]
