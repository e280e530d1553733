"""Saved news pages → article text and metadata, with the field's own extractors.

trafilatura finds the article among navigation, ads, related links and comments and reads the
page metadata (title, site name, canonical URL); htmldate reads the publication date from meta
tags, JSON-LD and the URL. Two habits of Vietnamese news pages need help on top:

* the lead paragraph ("sapo") sits outside the body container trafilatura picks, so a page
  would lose its most quoted sentence; an element named like a lead whose text the extraction
  lacks is put back first;
* pages without date metadata show a dateline such as "Thứ năm, 09/11/2023 - 14:30 GMT+7",
  which htmldate does not read, while its free-text search picks dates of reader comments or of
  the story itself ("tính đến 31/10/2023"). So htmldate runs without free-text search, and the
  fallback is the first full date in an element named like a date, outside comment sections.

The extracted text (paragraphs separated by blank lines) is what is indexed and cited.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import htmldate
import lxml.html
import trafilatura

from qa.errors import DocumentError
from qa.ingest.dates import find_dates, parse_date
from qa.text import clean

# A saved article page has a few thousand elements; extraction time grows with them (a page of
# 30,000 paragraphs takes ~10 s), so a page over this many is refused rather than read.
MAX_ELEMENTS = 25_000
_LEAD_CUE = re.compile(r"sapo|lead|summary|description|chapeau|excerpt|tom-?tat", re.I)
_DATE_CUE = re.compile(r"date|time|publish|ngay-?dang|meta", re.I)
_COMMENT_CUE = re.compile(r"comment|binh-?luan|y-?kien|reply|disqus", re.I)
_SAVED_FROM = re.compile(r"<!--\s*saved from url=\(\d+\)(\S+?)\s*-->", re.I)
_TITLE_SEPARATORS = re.compile(r"\s+[|–—-]\s+")
_HTML_START = re.compile(
    r"\A\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html)\b", re.I | re.S
)


@dataclass(frozen=True)
class Page:
    """What a news page says about itself; empty strings where it does not say."""

    text: str
    title: str
    date: str
    source: str
    url: str
    language: str


def looks_like_html(raw: str) -> bool:
    """True for a saved web page (starts with a doctype or an <html> tag)."""
    return bool(_HTML_START.match(raw))


def site_name(url: str) -> str:
    """The outlet of a URL when the page does not name itself: "vnexpress.net"."""
    host = urlsplit(url).hostname or ""
    return host.removeprefix("www.")


def _cue(element: lxml.html.HtmlElement) -> str:
    return f"{element.get('class', '')} {element.get('id', '')}"


def _in_comments(element: lxml.html.HtmlElement) -> bool:
    return any(_COMMENT_CUE.search(_cue(e)) for e in element.iterancestors()) or bool(
        _COMMENT_CUE.search(_cue(element))
    )


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _lead(tree: lxml.html.HtmlElement, text: str) -> str:
    """The lead paragraph when the extraction dropped it, else ""."""
    have = _squash(text)
    for element in tree.iter():
        if not isinstance(element.tag, str) or element.tag in ("meta", "script", "style"):
            continue
        if not _LEAD_CUE.search(_cue(element)) or _in_comments(element):
            continue
        lead = _squash(element.text_content())
        if len(lead) >= 40:
            return "" if lead in have else lead
    return ""


def _dateline(tree: lxml.html.HtmlElement) -> str:
    """The first full date in a <time> or an element named like a date, outside comment
    sections; one after the headline wins over one before it (a header bar often shows the day
    the page was saved)."""
    h1 = next(tree.iter("h1"), None)
    after = h1 is None
    first = ""
    for element in tree.iter():
        if element is h1:
            after = True
        if not isinstance(element.tag, str) or element.tag in ("script", "style"):
            continue
        if element.tag != "time" and not _DATE_CUE.search(_cue(element)):
            continue
        if _in_comments(element):
            continue
        for mention in find_dates(element.get("datetime", "") or element.text_content()):
            if mention.period.precision == "day":
                if after:
                    return mention.period.iso()
                first = first or mention.period.iso()
                break
    return first


def _published(tree: lxml.html.HtmlElement, url: str) -> str:
    """htmldate over the page's metadata only (head, JSON-LD, URL): its free-text search would
    read dates of comments or of the story itself."""
    head = tree.find("head")
    parts = [lxml.html.tostring(head, encoding="unicode")] if head is not None else []
    for script in tree.xpath('//body//script[@type="application/ld+json"]'):
        parts.append(lxml.html.tostring(script, encoding="unicode"))
    found = htmldate.find_date(
        f"<html>{''.join(parts)}<body></body></html>",
        extensive_search=False,
        original_date=True,
        url=url or None,
    )
    return parse_date(found or "")


def _site_from_title(tree: lxml.html.HtmlElement, title: str) -> str:
    """ "Xuất khẩu gạo ... | Thời báo Đồng Bằng" → "Thời báo Đồng Bằng"."""
    element = tree.find(".//title")
    parts = _TITLE_SEPARATORS.split(_squash(element.text_content())) if element is not None else []
    if len(parts) > 1 and title and parts[0] == title and len(parts[-1]) <= 60:
        return parts[-1]
    return ""


def extract_page(raw: str, url: str = "") -> Page:
    """Article text and metadata of one saved page. Raises DocumentError when no article text
    is found (a page of links, an error page)."""
    raw = clean(raw)
    try:
        tree = lxml.html.fromstring(raw)
    except (ValueError, lxml.etree.ParserError) as exc:
        raise DocumentError(f"cannot parse the page as HTML ({exc})") from exc
    elements = sum(1 for _ in tree.iter())
    if elements > MAX_ELEMENTS:
        raise DocumentError(f"the page has {elements} HTML elements; the limit is {MAX_ELEMENTS}")
    found = trafilatura.bare_extraction(
        raw,
        url=url or None,
        with_metadata=True,
        favor_precision=True,
        include_comments=False,
        include_images=False,
        include_tables=True,
        # its own date search is not used (see `_published`): keep it cheap
        date_extraction_params={"extensive_search": False, "original_date": True},
    )
    body = found.text if found is not None and found.text else ""
    title = _squash(found.title or "") if found is not None else ""
    paragraphs = [_squash(line) for line in body.splitlines() if line.strip()]
    if paragraphs and title and paragraphs[0] == title:  # the headline is the title, not text
        paragraphs.pop(0)
    lead = _lead(tree, body)
    if lead:
        paragraphs.insert(0, lead)
    if not any(ch.isalnum() for p in paragraphs for ch in p):
        raise DocumentError("no article text found in the page")
    saved_from = _SAVED_FROM.search(raw[:4096])
    page_url = (
        url
        or (found.url if found is not None and found.url else "")
        or (saved_from.group(1) if saved_from else "")
    )
    sitename = _squash(found.sitename or "") if found is not None and found.sitename else ""
    return Page(
        text="\n\n".join(paragraphs),
        title=title,
        date=_published(tree, page_url) or _dateline(tree),
        source=sitename or _site_from_title(tree, title) or site_name(page_url),
        url=page_url,
        language=(tree.get("lang") or "vi").split("-")[0].lower() or "vi",
    )
