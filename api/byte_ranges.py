"""Byte-range answers for content held in memory (RFC 9110 §14): what GDAL's ``/vsicurl/`` and QGIS
need to open a GeoTIFF lazily. Files on disk go through Starlette's ``FileResponse``, which does the
same for a path.
"""

from __future__ import annotations

import re

from fastapi import Request
from fastapi.responses import Response

_SINGLE_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def _span(spec: str, size: int) -> tuple[int, int] | None:
    """``(first, last)`` byte of a single ``bytes=`` range, or None when it cannot be satisfied."""
    match = _SINGLE_RANGE.fullmatch(spec.strip())
    first, last = match.groups()
    if first == "":  # the last N bytes
        n = int(last)
        return (max(size - n, 0), size - 1) if n > 0 and size > 0 else None
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    return (start, end) if start <= end and start < size else None


def bytes_response(
    request: Request, content: bytes, *, media_type: str, etag: str, headers: dict[str, str] | None = None
) -> Response:
    """``content`` whole (200) or the one range asked for (206, ``Content-Range``); HEAD sends headers.

    A range that cannot be satisfied is 416 with ``Content-Range: bytes */size``. Several ranges in
    one request, or an ``If-Range`` that does not match ``etag``, get the whole content (allowed).
    """
    size = len(content)
    common = {"Accept-Ranges": "bytes", "ETag": etag, **(headers or {})}
    head = request.method == "HEAD"
    spec = request.headers.get("range")
    if_range = request.headers.get("if-range")
    if spec and _SINGLE_RANGE.fullmatch(spec.strip()) and if_range in (None, etag):
        span = _span(spec, size)
        if span is None:
            return Response(status_code=416, headers={**common, "Content-Range": f"bytes */{size}"})
        first, last = span
        body = content[first : last + 1]
        return Response(
            b"" if head else body,
            status_code=206,
            media_type=media_type,
            headers={
                **common,
                "Content-Range": f"bytes {first}-{last}/{size}",
                "Content-Length": str(len(body)),
            },
        )
    return Response(
        b"" if head else content, media_type=media_type, headers={**common, "Content-Length": str(size)}
    )
