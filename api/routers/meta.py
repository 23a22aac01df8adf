"""``/api/v1/health`` (no key needed), ``/api/v1/version``, and for admins ``/users`` and ``/audit``."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Query, Request

from sauti.api.deps import current_principal, get_source, require
from sauti.api.schemas import NOT_FOUND, error_reply
from sauti.api.security import Principal, audit_entries, list_users, revoke_user
from sauti.api.services import meta
from sauti.api.services.source import DataSource

router = APIRouter(prefix="/api/v1", tags=["meta"])


@router.get("/health", summary="Liveness and readiness")
def health(source: DataSource = Depends(get_source)) -> dict:
    """Always answers (no key needed); says whether store, scores and risk surface are ready."""
    return meta.health(source)


@router.get("/version", summary="Code version, model version and data snapshot")
def version(source: DataSource = Depends(get_source), _: Principal = Depends(current_principal)) -> dict:
    """Which code, model and data snapshot the served scores come from."""
    return meta.version(source)


@router.get("/users", summary="API users (admins)")
def users(source: DataSource = Depends(get_source), _: Principal = Depends(require("users:admin"))) -> list:
    """Names, roles, key prefixes and creation times; never keys or hashes."""
    return list_users(source.workspace)


@router.delete(
    "/users/{name}",
    summary="Revoke a user's key and map sessions (admins)",
    responses={**NOT_FOUND, 400: error_reply("The last active admin cannot be revoked.")},
)
def revoke(
    request: Request,
    name: str = Path(..., max_length=100, description="The user's name."),
    source: DataSource = Depends(get_source),
    principal: Principal = Depends(require("users:admin")),
) -> dict:
    """Effective at once: the key and every map session of the user stop working; audited."""
    user = revoke_user(source.workspace, name, by=principal, resource=request.url.path)
    source.forget_principals()
    return user


@router.get("/audit", summary="Audit log, newest first (admins)")
def audit_log(
    limit: int = Query(100, ge=1, le=10000),
    source: DataSource = Depends(get_source),
    _: Principal = Depends(require("users:admin")),
) -> list:
    """Who read alert details or verified alerts, when, and which alerts."""
    return audit_entries(source.workspace, limit)
