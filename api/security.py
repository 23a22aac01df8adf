"""Who may do what: roles, API keys stored as hashes, browser session tokens and the audit log.

An API key is 32 random bytes (URL-safe text) shown once when the user is created; the store keeps
only its SHA-256 hash, looked up by hash and confirmed with a constant-time comparison. A browser
cannot send a bearer header on a plain navigation, so ``/map?key=...`` trades the key for a short-lived
signed session token in an ``HttpOnly`` cookie (HMAC keyed by the workspace secret) and redirects
to ``/map`` without the key; the tiles the page loads carry the cookie.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from sauti.errors import NotFoundError
from sauti.store import Workspace, utc_now

ROLES = ("reporter", "planner", "analyst", "admin")

# What each role may do. One table, read by every router through ``require(permission)``.
PERMISSIONS: dict[str, frozenset[str]] = {
    "reporter": frozenset({"alerts:write"}),
    "planner": frozenset({"risk:read", "incidents:read", "map:read", "patrols:read", "alerts:aggregate"}),
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
        }
    ),
}
PERMISSIONS["admin"] = PERMISSIONS["analyst"] | {"users:admin"}

SESSION_COOKIE = "sauti_session"
SESSION_SECONDS = 8 * 3600
KEY_PREFIX_CHARS = 6


@dataclass(frozen=True)
class Principal:
    """The authenticated caller."""

    user_id: int
    name: str
    role: str

    def can(self, permission: str) -> bool:
        """Whether this caller's role grants ``permission``."""
        return permission in PERMISSIONS.get(self.role, frozenset())


def hash_key(key: str) -> str:
    """SHA-256 (hex) of an API key: what the store keeps instead of the key."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_user(workspace: Workspace, name: str, role: str) -> tuple[Principal, str]:
    """Create an API user and return it with its key (the only time the key exists in clear).

    Raises
    ------
    ValueError
        If the role is unknown, the name is empty or already taken.
    """
    name = name.strip()
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}: choose one of {', '.join(ROLES)}")
    if not name:
        raise ValueError("user name must not be empty")
    key = "sk_" + secrets.token_urlsafe(32)
    with workspace.session() as con:
        if con.execute("SELECT 1 FROM api_users WHERE name = ?", (name,)).fetchone():
            raise ValueError(f"user {name!r} already exists: pick another name")
        cur = con.execute(
            "INSERT INTO api_users (name, role, key_hash, key_prefix, created_at) VALUES (?, ?, ?, ?, ?)",
            (name, role, hash_key(key), key[: 3 + KEY_PREFIX_CHARS], utc_now()),
        )
        user_id = int(cur.lastrowid)
    return Principal(user_id, name, role), key


def list_users(workspace: Workspace) -> list[dict]:
    """Every API user (name, role, key prefix, creation time); never a key or a hash."""
    with workspace.session() as con:
        rows = con.execute(
            "SELECT user_id, name, role, key_prefix, created_at, disabled_at FROM api_users ORDER BY user_id"
        ).fetchall()
    return [dict(r) for r in rows]


def authenticate_key(workspace: Workspace, key: str | None) -> Principal | None:
    """The active user holding ``key``, or ``None``."""
    if not key:
        return None
    digest = hash_key(key)
    with workspace.session() as con:
        row = con.execute(
            "SELECT user_id, name, role, key_hash FROM api_users WHERE key_hash = ? AND disabled_at IS NULL",
            (digest,),
        ).fetchone()
    if row is None or not hmac.compare_digest(row["key_hash"], digest):
        return None
    return Principal(int(row["user_id"]), row["name"], row["role"])


def _session_secret(workspace: Workspace) -> bytes:
    return hmac.new(workspace.secret(), b"sauti-api-session-v1", hashlib.sha256).digest()


def issue_session_token(workspace: Workspace, principal: Principal, ttl_s: int = SESSION_SECONDS) -> str:
    """A signed token naming the user and an expiry, for the map page's cookie."""
    payload = json.dumps({"u": principal.user_id, "exp": int(time.time()) + ttl_s}, separators=(",", ":"))
    body = base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")
    signature = hmac.new(_session_secret(workspace), body.encode(), hashlib.sha256).hexdigest()
    return f"{body}.{signature}"


def authenticate_session(workspace: Workspace, token: str | None) -> Principal | None:
    """The user a valid, unexpired session token was issued to, or ``None``."""
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
    with workspace.session() as con:
        row = con.execute(
            "SELECT user_id, name, role FROM api_users WHERE user_id = ? AND disabled_at IS NULL", (user_id,)
        ).fetchone()
    return None if row is None else Principal(int(row["user_id"]), row["name"], row["role"])


def disable_user(workspace: Workspace, name: str) -> None:
    """Revoke a user's key."""
    with workspace.session() as con:
        cur = con.execute(
            "UPDATE api_users SET disabled_at = ? WHERE name = ? AND disabled_at IS NULL", (utc_now(), name)
        )
        if cur.rowcount == 0:
            raise NotFoundError(f"no active user named {name!r}")


def audit(workspace: Workspace, principal: Principal, action: str, resource: str, **detail) -> None:
    """Record that ``principal`` did ``action`` on ``resource`` (who read alert details, who verified)."""
    with workspace.session() as con:
        con.execute(
            "INSERT INTO audit_log (at, user_name, role, action, resource, detail) VALUES (?, ?, ?, ?, ?, ?)",
            (utc_now(), principal.name, principal.role, action, resource, json.dumps(detail, default=str)),
        )


def audit_entries(workspace: Workspace, limit: int = 100) -> list[dict]:
    """The most recent audit rows, newest first."""
    with workspace.session() as con:
        rows = con.execute("SELECT * FROM audit_log ORDER BY audit_id DESC LIMIT ?", (limit,)).fetchall()
    out = []
    for row in rows:
        item = dict(row)
        item["detail"] = json.loads(item["detail"])
        out.append(item)
    return out
