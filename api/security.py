"""Who may do what: roles, API keys, browser session tokens and the audit log, as the API sees them.

Users, key hashes and audit rows live in the store (:mod:`sauti.api.services.accounts`); this module adds the
role table, the constant-time key check and the map's session tokens. A browser cannot send a
bearer header on a plain navigation, so ``/map?key=...`` trades the key for a short-lived signed
session token in an ``HttpOnly`` cookie (HMAC keyed by the workspace secret) and redirects to
``/map`` without the key; the tiles the page loads carry the cookie. A token names its user, so
revoking the user ends its sessions too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

from sauti.api.services import accounts
from sauti.api.services.accounts import ROLES, audit_entries, hash_key, list_users
from sauti.store import Workspace

__all__ = [
    "PERMISSIONS",
    "ROLES",
    "Principal",
    "audit",
    "audit_in",
    "audit_entries",
    "authenticate_key",
    "authenticate_session",
    "create_user",
    "hash_key",
    "issue_session_token",
    "list_users",
    "revoke_user",
]

# What each role may do. One table, read by every router through ``require(permission)``.
PERMISSIONS: dict[str, frozenset[str]] = {
    "reporter": frozenset({"alerts:write"}),
    "planner": frozenset(
        {
            "risk:read",
            "incidents:read",
            "map:read",
            "patrols:read",
            "alerts:aggregate",
            "responses:read",
            "responses:write",
        }
    ),
    # notebooks and backtests, read-only: risk, incidents, the map, alerts as counts; no alert text,
    # no writes, no patrol plans nor responses (operational)
    "researcher": frozenset(
        {"risk:read", "incidents:read", "map:read", "alerts:aggregate", "backtests:read"}
    ),
    "analyst": frozenset(
        {
            "risk:read",
            "incidents:read",
            "map:read",
            "patrols:read",
            "alerts:aggregate",
            "alerts:detail",
            "alerts:write",
            "alerts:verify",
            "responses:read",
            "responses:write",
            "backtests:read",
        }
    ),
}
PERMISSIONS["admin"] = PERMISSIONS["analyst"] | {"users:admin"}

SESSION_COOKIE = "sauti_session"
SESSION_SECONDS = 8 * 3600


@dataclass(frozen=True)
class Principal:
    """The authenticated caller."""

    user_id: int
    name: str
    role: str

    def can(self, permission: str) -> bool:
        """Whether this caller's role grants ``permission``."""
        return permission in PERMISSIONS.get(self.role, frozenset())


def _principal(row: dict | None) -> Principal | None:
    return None if row is None else Principal(int(row["user_id"]), row["name"], row["role"])


def create_user(workspace: Workspace, name: str, role: str) -> tuple[Principal, str]:
    """Create an API user and return it with its key (the only time the key exists in clear).

    Raises
    ------
    sauti.errors.InvalidInputError
        If the role is unknown, the name is empty or already taken.
    """
    row, key = accounts.add_user(workspace, name, role)
    return _principal(row), key


def revoke_user(workspace: Workspace, name: str, by: Principal, resource: str) -> dict:
    """Revoke ``name``'s key and sessions, audited as done by ``by``; returns the user (no key)."""
    return accounts.revoke_user(workspace, name, by=by.name, by_role=by.role, resource=resource, via="api")


def authenticate_key(workspace: Workspace, key: str | None) -> Principal | None:
    """The active user holding ``key``, or ``None``."""
    if not key:
        return None
    digest = hash_key(key)
    row = accounts.active_user_by_key_hash(workspace, digest)
    if row is None or not hmac.compare_digest(row["key_hash"], digest):
        return None
    return _principal(row)


def _session_secret(workspace: Workspace) -> bytes:
    return hmac.new(workspace.secret(), b"sauti-api-session-v1", hashlib.sha256).digest()


def issue_session_token(workspace: Workspace, principal: Principal, ttl_s: int = SESSION_SECONDS) -> str:
    """A signed token naming the user and an expiry, for the map page's cookie."""
    payload = json.dumps({"u": principal.user_id, "exp": int(time.time()) + ttl_s}, separators=(",", ":"))
    body = base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")
    signature = hmac.new(_session_secret(workspace), body.encode(), hashlib.sha256).hexdigest()
    return f"{body}.{signature}"


def authenticate_session(workspace: Workspace, token: str | None) -> Principal | None:
    """The user a valid, unexpired session token was issued to (if not revoked), or ``None``."""
    if not token or "." not in token:
        return None
    body, signature = token.rsplit(".", 1)
    expected = hmac.new(_session_secret(workspace), body.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        user_id, expires = int(payload["u"]), int(payload["exp"])
    except (ValueError, KeyError, TypeError):
        return None
    if expires < time.time():
        return None
    return _principal(accounts.active_user(workspace, user_id))


def audit(workspace: Workspace, principal: Principal, action: str, resource: str, **detail) -> None:
    """Record that ``principal`` did ``action`` on ``resource`` (who read alert details, who verified)."""
    accounts.record_audit(workspace, principal.name, principal.role, action, resource, **detail)


def audit_in(con: Any, principal: Principal, action: str, resource: str, **detail) -> None:
    """:func:`audit` on ``con``, inside the caller's transaction: written with what it records."""
    accounts.insert_audit(con, principal.name, principal.role, action, resource, detail)
