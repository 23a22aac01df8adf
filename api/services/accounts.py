"""API users and the audit log, in the store: the SQL behind ``sauti users`` and the service's keys.

The tables ``api_users`` and ``audit_log`` are the API layer's: only this module reads or writes
them (the CLI's ``sauti users`` calls it too).

An API key is 32 random bytes (URL-safe text) shown once when the user is created; the store keeps
only its SHA-256 hash. Revoking a user sets ``disabled_at`` and writes an audit row in the same
transaction; :func:`revocation_marker` is the cheap stamp a running service re-reads (at most once
a second) so a revocation made by another process (the CLI) reaches its key cache at once.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any

from sauti.errors import InvalidInputError, NotFoundError, SautiError
from sauti.store import Workspace, utc_now

ROLES = ("reporter", "planner", "researcher", "analyst", "admin")
KEY_PREFIX_CHARS = 6
MAX_NAME_CHARS = 100


def hash_key(key: str) -> str:
    """SHA-256 (hex) of an API key: what the store keeps instead of the key."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def add_user(workspace: Workspace, name: str, role: str) -> tuple[dict[str, Any], str]:
    """Create an API user; returns its row (``user_id``, ``name``, ``role``) and its key in clear.

    Raises
    ------
    sauti.errors.InvalidInputError
        If the role is unknown, the name empty, too long or already taken.
    """
    name = name.strip()
    if role not in ROLES:
        raise InvalidInputError(f"unknown role {role!r}: choose one of {', '.join(ROLES)}")
    if not name:
        raise InvalidInputError("user name must not be empty")
    if len(name) > MAX_NAME_CHARS:
        raise InvalidInputError(f"user name must be at most {MAX_NAME_CHARS} characters")
    key = "sk_" + secrets.token_urlsafe(32)
    with workspace.session() as con:
        if con.execute("SELECT 1 FROM api_users WHERE name = ?", (name,)).fetchone():
            raise InvalidInputError(f"user {name!r} already exists: pick another name")
        cur = con.execute(
            "INSERT INTO api_users (name, role, key_hash, key_prefix, created_at) VALUES (?, ?, ?, ?, ?)"
            " RETURNING user_id",
            (name, role, hash_key(key), key[: 3 + KEY_PREFIX_CHARS], utc_now()),
        )
        user_id = int(cur.fetchone()[0])
    return {"user_id": user_id, "name": name, "role": role}, key


def list_users(workspace: Workspace) -> list[dict[str, Any]]:
    """Every API user (name, role, key prefix, created, disabled); never a key or a hash."""
    with workspace.session() as con:
        rows = con.execute(
            "SELECT user_id, name, role, key_prefix, created_at, disabled_at FROM api_users ORDER BY user_id"
        ).fetchall()
    return [dict(r) for r in rows]


def active_user_by_key_hash(workspace: Workspace, digest: str) -> dict[str, Any] | None:
    """The active user whose key hashes to ``digest`` (with ``key_hash``), or ``None``."""
    with workspace.session() as con:
        row = con.execute(
            "SELECT user_id, name, role, key_hash FROM api_users WHERE key_hash = ? AND disabled_at IS NULL",
            (digest,),
        ).fetchone()
    return None if row is None else dict(row)


def active_user(workspace: Workspace, user_id: int) -> dict[str, Any] | None:
    """The user ``user_id`` if it is not revoked, else ``None``."""
    with workspace.session() as con:
        row = con.execute(
            "SELECT user_id, name, role FROM api_users WHERE user_id = ? AND disabled_at IS NULL", (user_id,)
        ).fetchone()
    return None if row is None else dict(row)


def _keep_an_admin(con: Any, name: str) -> None:
    """Refuse to revoke the last active admin (nobody could then add users or revoke keys)."""
    row = con.execute("SELECT role FROM api_users WHERE name = ? AND disabled_at IS NULL", (name,)).fetchone()
    if row is None or row[0] != "admin":
        return
    admins = con.execute(
        "SELECT COUNT(*) FROM api_users WHERE role = 'admin' AND disabled_at IS NULL"
    ).fetchone()
    if admins[0] <= 1:
        raise SautiError(
            "the last active admin cannot be revoked: add another admin first"
            " (`sauti users add NAME --role admin`), then revoke this one"
        )


def revoke_user(
    workspace: Workspace, name: str, *, by: str, by_role: str, resource: str, **detail: Any
) -> dict[str, Any]:
    """Revoke ``name``'s key (and so its map sessions), audited as done by ``by``; returns the user row.

    Raises
    ------
    sauti.errors.NotFoundError
        If there is no active user of that name.
    sauti.errors.SautiError
        If the user is the last active admin.
    """
    now = utc_now()
    with workspace.session() as con, Workspace.transaction(con):
        _keep_an_admin(con, name)
        cur = con.execute(
            "UPDATE api_users SET disabled_at = ? WHERE name = ? AND disabled_at IS NULL", (now, name)
        )
        if cur.rowcount == 0:
            raise NotFoundError("no active user of that name (see `sauti users list`)")
        row = dict(
            con.execute(
                "SELECT user_id, name, role, key_prefix, created_at, disabled_at FROM api_users "
                "WHERE name = ?",
                (name,),
            ).fetchone()
        )
        insert_audit(con, by, by_role, "revoke_user", resource, {"user": name, **detail})
    return row


def revocation_marker(workspace: Workspace) -> tuple:
    """A stamp that changes whenever a key is revoked (count and time of the latest revocation)."""
    with workspace.session() as con:
        return tuple(
            con.execute(
                "SELECT COUNT(*), MAX(disabled_at) FROM api_users WHERE disabled_at IS NOT NULL"
            ).fetchone()
        )


def insert_audit(con: Any, user_name: str, role: str, action: str, resource: str, detail: dict) -> None:
    """Write one audit row on ``con``, inside the caller's transaction (with what it audits)."""
    con.execute(
        "INSERT INTO audit_log (at, user_name, role, action, resource, detail) VALUES (?, ?, ?, ?, ?, ?)",
        (utc_now(), user_name, role, action, resource, json.dumps(detail, default=str)),
    )


def record_audit(
    workspace: Workspace, user_name: str, role: str, action: str, resource: str, **detail: Any
) -> None:
    """Record that ``user_name`` did ``action`` on ``resource`` (who read alert details, who revoked)."""
    with workspace.session() as con:
        insert_audit(con, user_name, role, action, resource, detail)


def audit_entries(workspace: Workspace, limit: int = 100) -> list[dict[str, Any]]:
    """The most recent audit rows, newest first."""
    with workspace.session() as con:
        rows = con.execute("SELECT * FROM audit_log ORDER BY audit_id DESC LIMIT ?", (limit,)).fetchall()
    out = []
    for row in rows:
        item = dict(row)
        item["detail"] = json.loads(item["detail"])
        out.append(item)
    return out
