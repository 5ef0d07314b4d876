"""The portal's front page: what this Smartby region is, its status, and where the API is."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)
_PAGE = (Path(__file__).parent.parent / "static" / "index.html").read_text(encoding="utf-8")
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)


@router.get("/", response_class=HTMLResponse)
def portal() -> HTMLResponse:
    return HTMLResponse(
        _PAGE,
        headers={"Content-Security-Policy": _CSP, "X-Content-Type-Options": "nosniff"},
    )
