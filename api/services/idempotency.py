"""Idempotency-Key replies: the service's own rows, kept in the transaction that stores the request.

A client's retry key is reserved inside the transaction whose writes it guards (the alerts a post
stores): a retry that overlaps the first request waits for it (the write lock on SQLite, an
advisory lock on the key on PostgreSQL) and replays its reply, and nothing is stored twice. The
table ``idempotency_keys`` is the API's: no other layer reads or writes it.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass

from sauti.db import hold_lock
from sauti.errors import SautiError
from sauti.store import utc_now


class IdempotencyConflict(SautiError):
    """An ``Idempotency-Key`` already used with another request."""


@dataclass(frozen=True)
class IdempotencyKey:
    """A client's retry key for one request: who, which key, and what the request was."""

    user: str
    key: str
    method: str
    path: str
    body_sha256: str

    @classmethod
    def for_request(cls, user: str, key: str, method: str, path: str, body: bytes) -> IdempotencyKey:
        """The key of a request: the same method, path and body hash to the same ``body_sha256``."""
        digest = hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()
        return cls(user, key, method, path, digest)


def stored_reply(con: sqlite3.Connection, claim: IdempotencyKey) -> tuple[int, dict] | None:
    """The reply first given under this key, or ``None`` for a new key.

    Read inside the transaction that stores the request (the key's lock is held until it ends), so
    a second request with the same key waits for the first to commit and then replays its reply.
    Raises :class:`IdempotencyConflict` when the key came with another request.
    """
    hold_lock(con, "idempotency", claim.user, claim.key)
    row = con.execute(
        "SELECT body_sha256, status_code, response_body FROM idempotency_keys"
        " WHERE user_name = ? AND key = ?",
        (claim.user, claim.key),
    ).fetchone()
    if row is None:
        return None
    if row[0] != claim.body_sha256:
        raise IdempotencyConflict(
            "this Idempotency-Key was already used with a different request: use a new key for a new request"
        )
    return int(row[1]), json.loads(row[2])


def save_reply(con: sqlite3.Connection, claim: IdempotencyKey, status: int, body: dict) -> None:
    """Keep the reply under its key, in the same transaction as what the request stored."""
    con.execute(
        "INSERT INTO idempotency_keys "
        "(user_name, key, method, path, body_sha256, status_code, response_body, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            claim.user,
            claim.key,
            claim.method,
            claim.path,
            claim.body_sha256,
            status,
            json.dumps(body),
            utc_now(),
        ),
    )
