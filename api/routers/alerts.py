"""Alert intake (JSON, SMS-gateway shape, batch, CSV upload) and verification by analysts."""

from __future__ import annotations

from fastapi import APIRouter, Depends, File, Header, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from sauti.api.deps import get_source, require
from sauti.api.schemas import (
    BODY_ERRORS,
    NOT_FOUND,
    AlertBatch,
    AlertBatchResult,
    AlertOutcome,
    AnyAlert,
    ErrorBody,
    VerificationIn,
    as_record,
    error_reply,
)
from sauti.api.security import Principal
from sauti.api.services import alerts
from sauti.api.services.source import DataSource

router = APIRouter(prefix="/api/v1", tags=["alerts"])
SUBMIT_ERRORS = {
    **BODY_ERRORS,
    409: error_reply("This Idempotency-Key was already used with another request."),
}
WRITE = require("alerts:write")
IDEMPOTENCY = Header(
    None,
    alias="Idempotency-Key",
    description="Retry-safe key: the same key with the same body replays the first response; "
    "with another body it is refused (409).",
)


async def _submit_once(
    request: Request,
    source: DataSource,
    principal: Principal,
    idempotency_key: str | None,
    body: bytes,
    submit,
) -> JSONResponse:
    """Run ``submit`` once per Idempotency-Key and body, in the thread pool; reply with its outcome."""
    status, reply, replayed = await run_in_threadpool(
        alerts.with_idempotency, source, principal, idempotency_key, "POST", request.url.path, body, submit
    )
    return JSONResponse(
        reply, status_code=status, headers={"Idempotent-Replayed": "true"} if replayed else None
    )


@router.post(
    "/alerts",
    status_code=201,
    summary="Submit one alert (canonical or SMS-gateway shape)",
    responses={
        201: {"model": AlertOutcome, "description": "Accepted and stored."},
        200: {"model": AlertOutcome, "description": "A duplicate of an alert already stored: nothing added."},
        422: {
            "model": ErrorBody,
            "description": "Invalid, or rejected by the checks: `errors` names the fields; for a rejected "
            "alert the body also carries its outcome (`row`, `status`: rejected, …).",
        },
        **SUBMIT_ERRORS,
    },
)
async def post_alert(
    request: Request,
    alert: AnyAlert,
    idempotency_key: str | None = IDEMPOTENCY,
    source: DataSource = Depends(get_source),
    principal: Principal = Depends(WRITE),
) -> JSONResponse:
    """201 with the alert id and the resolved locality; 200 for a duplicate; 422 with field errors."""
    record = as_record(alert)
    return await _submit_once(
        request,
        source,
        principal,
        idempotency_key,
        await request.body(),
        lambda claim: alerts.submit_one(source, principal, record, claim),
    )


@router.post(
    "/alerts/batch",
    summary="Submit many alerts",
    responses={200: {"model": AlertBatchResult, "description": "One outcome per alert."}, **SUBMIT_ERRORS},
)
async def post_batch(
    request: Request,
    batch: AlertBatch,
    idempotency_key: str | None = IDEMPOTENCY,
    source: DataSource = Depends(get_source),
    principal: Principal = Depends(WRITE),
) -> JSONResponse:
    """One outcome per alert, in order, and the counts (read = accepted + rejected + duplicates)."""
    records = [as_record(a) for a in batch.alerts]
    return await _submit_once(
        request,
        source,
        principal,
        idempotency_key,
        await request.body(),
        lambda claim: alerts.submit_many(source, principal, records, claim=claim),
    )


@router.post(
    "/alerts/upload",
    summary="Submit a CSV of alerts (multipart form field 'file')",
    responses={200: {"model": AlertBatchResult, "description": "One outcome per CSV row."}, **SUBMIT_ERRORS},
)
async def post_csv(
    request: Request,
    file: UploadFile = File(..., description="CSV with French or English headers."),
    idempotency_key: str | None = IDEMPOTENCY,
    source: DataSource = Depends(get_source),
    principal: Principal = Depends(WRITE),
) -> JSONResponse:
    """Like the batch, from a spreadsheet export."""
    data = await file.read()
    name = file.filename or "upload.csv"

    def run(claim):
        records = alerts.csv_records(data, name)
        return alerts.submit_many(source, principal, records, channel_source="api-csv", claim=claim)

    return await _submit_once(request, source, principal, idempotency_key, data, run)


@router.patch(
    "/alerts/{alert_id}",
    summary="Set an alert's verification (analysts)",
    responses={**NOT_FOUND, **BODY_ERRORS},
)
def patch_alert(
    alert_id: str,
    change: VerificationIn,
    source: DataSource = Depends(get_source),
    principal: Principal = Depends(require("alerts:verify")),
) -> dict:
    """verified / false_alarm / unverified; recorded in the audit log; risk is refreshed."""
    return alerts.verify(source, principal, alert_id, change.verification)
