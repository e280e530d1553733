"""Reading articles: UTF-8 `.txt`/`.md` files and saved `.html` pages, NFC text, stable ids.

A text file may start with a front-matter block::

    ---
    title: ...
    date: 2023-11-17
    source: Báo Cảng Biển
    url: https://...
    language: vi
    ---

or with the comment header many news dumps use (`# key = value` lines before the text)::

    # url = https://nhipsongso.vn/kinh-te/xuat-khau-gao-10-thang.html
    # date = 20231110
    # title = ...

A saved page is read by `qa.ingest.html` (article text, title, date, outlet, URL). Dates are
stored as ISO ("2023-11-17"; "2021-04" or "2021" when only that is known; "" when unknown).
The source (outlet) defaults to the URL's host name. Without a title, the title is the first
sentence (shortened). The document id is the file name without its extension, so it is stable
across runs and machines.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from qa.errors import DocumentError
from qa.ingest.chunking import split_sentences
from qa.ingest.dates import parse_date
from qa.ingest.html import extract_page, looks_like_html, site_name
from qa.text import clean
from qa.types import Document

SUFFIXES = (".txt", ".md", ".html", ".htm")
PAGE_SUFFIXES = (".html", ".htm")
_FRONT_MATTER_RE = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.DOTALL)
# "# url = https://...", "# date = 20210428": a block of such lines before the text.
_HEADER_RE = re.compile(r"\A(?:[ \t]*#[ \t]*[A-Za-z_]+[ \t]*=[^\n]*(?:\n|\Z))+")
_HEADER_LINE_RE = re.compile(r"#\s*([A-Za-z_]+)\s*=\s*(.*)")
_DOC_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
_TITLE_CHARS = 120
_FIELDS = ("title", "date", "source", "url", "language")
_ALIASES = {"sitename": "source", "site": "source", "outlet": "source", "lang": "language"}


def doc_id_for(name: str) -> str:
    """A safe, stable document id from a file name: its stem with odd characters replaced.

    Raises DocumentError if nothing usable is left (e.g. "../" or only punctuation).
    """
    stem = Path(name).name
    for suffix in SUFFIXES:
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
    safe = re.sub(r"[^A-Za-z0-9_.\-]+", "_", stem).strip("._-")
    if not safe or not _DOC_ID_RE.match(safe):
        raise DocumentError(f"{name!r}: cannot derive a document id from this file name")
    return safe


def check_doc_id(doc_id: str) -> str:
    """Validate an id given by a user (CLI/HTTP) so it can never name a path."""
    if not _DOC_ID_RE.match(doc_id or ""):
        raise DocumentError(f"invalid document id {doc_id!r}")
    return doc_id


def _derive_title(text: str) -> str:
    """The headline of an article without a `title:`: its first line when that line is a title
    (a short line, a Markdown heading's text, not ending like a sentence or a clause, with the
    article after it), else its first sentence whole: never a sentence cut short."""
    first, _, rest = text.strip().partition("\n")
    line = first.strip().lstrip("#").strip()
    if line and rest.strip() and len(line) <= _TITLE_CHARS and not line.endswith(_NOT_A_TITLE):
        return line
    sentences = split_sentences(text)
    return sentences[0].text if sentences else text.strip()


# A first line that ends so is a sentence or a clause, not a headline ("?" and "!" may end one).
_NOT_A_TITLE = (".", ",", ";", ":", "…")


def _metadata(text: str) -> tuple[dict[str, str], str]:
    """(fields, text after them) of a front-matter block or a comment header, if any."""
    match = _FRONT_MATTER_RE.match(text)
    lines: list[tuple[str, str]] = []
    if match:
        for line in match.group(1).splitlines():
            key, sep, value = line.partition(":")
            if sep:
                lines.append((key, value))
    else:
        match = _HEADER_RE.match(text)
        if match:
            lines = [
                m.groups() for m in map(_HEADER_LINE_RE.match, match.group(0).splitlines()) if m
            ]
            if not any(_ALIASES.get(k.lower(), k.lower()) in _FIELDS for k, _ in lines):
                match, lines = None, []  # "# Tiêu đề" style markdown, not a header
    meta: dict[str, str] = {}
    for key, value in lines:
        name = _ALIASES.get(key.strip().lower(), key.strip().lower())
        if name in _FIELDS:
            meta[name] = value.strip().strip("\"'")
    return meta, text[match.end() :] if match else text


# A scheme before a colon with no space after it: "javascript:...", "data:...", "file:..."
# (a name such as "VnExpress: Kinh doanh" has a space after its colon).
_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:(?!\s)")
_WEB_URL_RE = re.compile(r"^https?://[^\s/?#<>\"'`]+[^\s<>\"'`]*$", re.IGNORECASE)
_MARKUP_RE = re.compile(r"[<>\x00-\x08\x0b-\x1f\x7f]")


def _check_metadata(meta: dict[str, str], where: str) -> None:
    """Refuse front-matter values that are not what they say: `source` a name or an http(s)
    URL, `url` an http(s) URL, `date` a real date when it is written with digits (a date in
    words that says nothing, "sắp tới", stays unknown)."""
    source, link, date = meta.get("source", ""), meta.get("url", ""), meta.get("date", "")
    if source and (
        _MARKUP_RE.search(source) or (_SCHEME_RE.match(source) and not _WEB_URL_RE.match(source))
    ):
        raise DocumentError(
            f"{where}: source {source[:60]!r} must be an outlet's name or an http(s) URL"
        )
    if link and not _WEB_URL_RE.match(link):
        raise DocumentError(f"{where}: url {link[:60]!r} must be an http(s) URL")
    if date and not parse_date(date) and any(ch.isdigit() for ch in date):
        raise DocumentError(
            f"{where}: date {date[:40]!r} is not a real date; write it as 2023-11-17, "
            "2023-11 or 2023 (or leave it out)"
        )


def parse_document(doc_id: str, raw: str, path: str = "", url: str = "") -> Document:
    """Build a Document from already-decoded text: a saved page (by suffix or content), or an
    article with optional front matter or comment header. `url` is where a page was fetched."""
    text = clean(raw).replace("\r\n", "\n")
    if Path(path).suffix.lower() in PAGE_SUFFIXES or looks_like_html(text):
        try:
            page = extract_page(text, url)
        except DocumentError as exc:
            raise DocumentError(f"{path or doc_id}: {exc}") from exc
        meta = {k: getattr(page, k) for k in _FIELDS}
        text = page.text
    else:
        meta, text = _metadata(text)
        _check_metadata(meta, path or doc_id)
    if not any(ch.isalnum() for ch in text):  # empty, white space, or punctuation only
        raise DocumentError(f"{path or doc_id}: document has no text (no letters or digits)")
    source = meta.get("source", "")
    link = meta.get("url", "") or (source if source.startswith(("http://", "https://")) else "")
    return Document(
        doc_id=check_doc_id(doc_id),
        title=meta.get("title") or _derive_title(text),
        text=text,
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        path=path,
        date=parse_date(meta.get("date", "")),
        source=source or site_name(link),
        language=meta.get("language") or "vi",
        url=link,
    )


def decode(data: bytes, name: str, max_bytes: int) -> str:
    """Decode article bytes as UTF-8 (BOM allowed), refusing oversize or non-UTF-8 input."""
    if len(data) > max_bytes:
        raise DocumentError(f"{name}: {len(data)} bytes is over the limit of {max_bytes}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentError(f"{name}: not UTF-8 text (byte {exc.start})") from exc


def read_document(path: Path, max_bytes: int = 2_000_000) -> Document:
    """Read one article file."""
    if path.suffix.lower() not in SUFFIXES:
        raise DocumentError(f"{path}: only {', '.join(SUFFIXES)} files are articles")
    raw = decode(path.read_bytes(), str(path), max_bytes)
    return parse_document(doc_id_for(path.name), raw, str(path))


def read_corpus(corpus_dir: Path, max_bytes: int = 2_000_000) -> list[Document]:
    """Read every article under `corpus_dir` (sorted, recursive).

    All files are read before anything is returned, so one bad file fails the whole read and
    the caller changes nothing. Two files with the same id are an error.
    """
    if not corpus_dir.is_dir():
        raise DocumentError(f"{corpus_dir}: corpus folder does not exist")
    docs: dict[str, Document] = {}
    for path in sorted(p for p in corpus_dir.rglob("*") if p.suffix.lower() in SUFFIXES):
        if not path.is_file() or any(
            part.startswith(".") for part in path.relative_to(corpus_dir).parts
        ):
            continue
        doc = read_document(path, max_bytes)
        if doc.doc_id in docs:
            raise DocumentError(
                f"{path}: duplicate document id {doc.doc_id!r} ({docs[doc.doc_id].path})"
            )
        docs[doc.doc_id] = doc
    return list(docs.values())
