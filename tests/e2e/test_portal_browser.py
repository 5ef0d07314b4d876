"""The portal and the API docs in a real headless Chromium."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect


def test_portal_shows_the_platform_healthy(served, page: Page):
    failed = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.goto(served.url + "/")
    expect(page.locator("h1")).to_have_text("Smartby")
    expect(page.locator("#status")).to_have_attribute("data-state", "ok")
    expect(page.locator("[data-check=store]")).to_contain_text("store: ok (embedded")
    assert failed == []


def test_api_docs_render_offline_from_the_portal_link(served, page: Page):
    external = []
    page.on("request", lambda r: external.append(r.url) if not r.url.startswith(served.url)
            else None)
    refused = []  # what the pages' Content-Security-Policy blocked: nothing they need
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text
            else None)
    page.goto(served.url + "/")
    page.click("#docs-link")
    expect(page).to_have_url(re.compile(r"/api/docs$"))
    expect(page.locator(".information-container .title")).to_contain_text("Smartby API")
    expect(page.locator(".opblock-tag-section").first).to_be_visible()
    expect(page.get_by_text("/api/tenants/{tenant}/ingest/ttn")).to_be_visible()
    assert external == [], f"the docs page reached outside: {external}"
    page.get_by_text("/api/health").first.click()  # an operation opens, styled and scripted
    expect(page.get_by_text("Try it out").first).to_be_visible()
    assert refused == []
