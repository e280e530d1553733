"""RSS/Atom feeds → article files, with feedparser.

Each entry becomes one `.md` article with front matter (title, date, source, url), so a feed
goes through the same write path as any uploaded file and re-adding a feed updates its
entries in place (same ids) and re-embeds nothing that did not change. The text is the entry's
full content (`content:encoded`, Atom `content`) when the feed carries it, else its summary; a
caller can pass `fetch_page` to read the linked page instead when an entry only has a summary.

Dates are read from the entry's own date string, so an article published at 6:00 in Hà Nội
stays on its day (feedparser's parsed dates are in UTC, the day before).
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from urllib.parse import urlsplit

import feedparser
import lxml.html

from qa.errors import DocumentError
from qa.ingest.dates import parse_date
from qa.ingest.html import extract_page, site_name
from qa.text import clean, fold

_BLOCKS = ("p", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "br", "tr")
_DROP = ("script", "style", "iframe", "figure", "img", "video", "noscript")
_SEPARATORS = re.compile(r"\s+[|–—-]\s+")

PageFetcher = Callable[[str], str]  # url -> HTML of the page


def fragment_text(html: str) -> str:
    """Paragraphs of an HTML fragment (a feed entry's content or summary), blank-line separated."""
    if "<" not in html:
        return "\n\n".join(p.strip() for p in html.splitlines() if p.strip())
    try:
        root = lxml.html.fragment_fromstring(html, create_parent="div")
    except (ValueError, lxml.etree.ParserError):
        return ""
    for element in list(root.iter(*_DROP)):
        element.drop_tree()
    for element in root.iter(*_BLOCKS):
        element.tail = "\n" + (element.tail or "")
        element.text = "\n" + (element.text or "")
    lines = (re.sub(r"\s+", " ", line).strip() for line in root.text_content().split("\n"))
    return "\n\n".join(line for line in lines if line)


def _slug(entry: feedparser.FeedParserDict, outlet: str) -> str:
    """A stable, readable document name: outlet label + the last segment of the link."""
    link = entry.get("link", "") or entry.get("id", "")
    tail = urlsplit(link).path.rstrip("/").rsplit("/", 1)[-1]
    tail = re.sub(r"\.(html?|aspx?|php)$", "", tail)
    if not re.search(r"[A-Za-z0-9]", tail):
        tail = fold(entry.get("title", ""))
    label = fold(outlet).split(".")[0]
    name = re.sub(r"[^a-z0-9]+", "-", f"{label}-{tail}".lower()).strip("-")
    return name[:100].rstrip("-") or "entry"


def _outlet(parsed: feedparser.FeedParserDict) -> str:
    """ "Tin Nhanh Việt - Kinh tế" → "Tin Nhanh Việt"; else the feed's host name."""
    title = clean(parsed.feed.get("title", "")).strip()
    if title:
        return _SEPARATORS.split(title)[0].strip()
    return site_name(parsed.feed.get("link", ""))


def _front_matter(fields: dict[str, str], text: str) -> str:
    lines = ["---"]
    for key, value in fields.items():
        value = re.sub(r"\s+", " ", value).strip()
        if value:
            lines.append(f"{key}: {value}")
    return "\n".join([*lines, "---", text, ""])


def _entry_text(entry: feedparser.FeedParserDict) -> str:
    contents = [c.get("value", "") for c in entry.get("content", []) if c.get("value")]
    return fragment_text(contents[0] if contents else entry.get("summary", ""))


def read_feed(
    data: bytes, url: str = "", fetch_page: PageFetcher | None = None
) -> list[tuple[str, bytes]]:
    """(file name, article bytes) for every entry of an RSS/Atom document, in feed order.

    Raises DocumentError for a document that is not a feed or has no entries. With
    `fetch_page`, an entry that only carries a summary is read from its linked page.
    """
    # Bytes in a stream: given a str, feedparser may open it as a path or a URL.
    parsed = feedparser.parse(io.BytesIO(data))
    if not parsed.entries:
        reason = f" ({parsed.bozo_exception})" if parsed.get("bozo") else ""
        raise DocumentError(f"{url or 'feed'}: not an RSS/Atom feed with entries{reason}")
    outlet = _outlet(parsed) or site_name(url)
    files: list[tuple[str, bytes]] = []
    for entry in parsed.entries:
        link = entry.get("link", "")
        text = _entry_text(entry)
        title = clean(entry.get("title", ""))
        date = parse_date(entry.get("published", "") or entry.get("updated", ""))
        if fetch_page is not None and link and not entry.get("content"):
            page = extract_page(fetch_page(link), link)
            text, title, date = page.text, page.title or title, date or page.date
        if not any(ch.isalnum() for ch in text):
            continue
        fields = {"title": title, "date": date, "source": outlet, "url": link}
        files.append((f"{_slug(entry, outlet)}.md", _front_matter(fields, text).encode("utf-8")))
    if not files:
        raise DocumentError(f"{url or 'feed'}: no entry of the feed has any text")
    return files
