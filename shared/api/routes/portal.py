"""The pages: the portal's front page (what this Smartby region is, its status, where the API
is) and the API's interactive documentation, served offline.

Every page is sent with a Content-Security-Policy that allows scripts from this origin only.
The documentation page's one inline script (Swagger UI's set-up) is allowed by its hash, so an
injected script would not run on the page where an operator pastes the admin key.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)
_PAGE = (Path(__file__).parent.parent / "pages" / "index.html").read_text(encoding="utf-8")
_POLICY = (
    "default-src 'self'; script-src 'self'{scripts}; style-src 'self'{styles}; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'"
)
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)
#: Where the Swagger UI files that `fastapi-offline` ships are mounted (see `create_app`).
DOCS_STATIC = "/api/docs-static"


@router.api_route("/", methods=["GET", "HEAD"], response_class=HTMLResponse)
def portal() -> HTMLResponse:
    return _page(_PAGE.encode())


@router.get("/api/docs", response_class=HTMLResponse)
def docs(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    page = get_swagger_ui_html(
        openapi_url=f"{root}/api/openapi.json",
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=f"{root}{DOCS_STATIC}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{DOCS_STATIC}/swagger-ui.css",
        swagger_favicon_url=f"{root}{DOCS_STATIC}/favicon.png",
        oauth2_redirect_url=None,  # keys are bearer tokens: no OAuth2 flow to return from
    )
    # Swagger UI sets element styles inline, so the docs page allows inline styles.
    return _page(bytes(page.body), styles=" 'unsafe-inline'")


def _page(body: bytes, styles: str = "") -> HTMLResponse:
    scripts = "".join(
        f" 'sha256-{base64.b64encode(hashlib.sha256(script).digest()).decode()}'"
        for script in _INLINE_SCRIPT.findall(body)
    )
    policy = _POLICY.format(scripts=scripts, styles=styles)
    return HTMLResponse(body, headers={"Content-Security-Policy": policy})
