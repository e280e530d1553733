"""HTML and Markdown for the web chat: pure functions of `qa.types` records, no Gradio.

Every piece of document or question text goes through `html.escape` here (Markdown special
characters are escaped too where the text ends up in the chat), so an article or a question
cannot inject markup. Highlights are placed by offsets: `document.text[start:end]` is what is
wrapped in `<mark>`, and a citation whose quote does not match its document is shown as a
plain quote rather than with a wrong highlight.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Mapping, Sequence

from qa.retrieve.filters import filter_note_text
from qa.types import Answer, Citation, Document

_MD_SPECIAL = re.compile(r"([\\`*_\[\]#|~])")
_MARKER = re.compile(r"\\\[(\d+)\\\]")
_CONTEXT_CHARS = 220

_LABELS = {
    "vi": {
        "sources": "Nguồn",
        "related": "Đoạn liên quan",
        "open": "Mở bài viết",
        "close": "Đóng",
        "not_found": "Không tìm thấy trong các bài viết",
        "not_found_body": "Các bài viết không trả lời câu hỏi này. Dưới đây là những đoạn gần nhất.",
        "not_found_none": "Các bài viết không trả lời câu hỏi này.",
        "outside": "Đoạn tốt nhất ngoài bộ lọc",
        "see_related": "Xem các đoạn liên quan trong khung Nguồn.",
        "no_related": "Không có đoạn nào liên quan.",
        "also": "Cùng đưa tin",
        "conflicts": "Bản đưa tin khác số liệu",
    },
    "en": {
        "sources": "Sources",
        "related": "Related passages",
        "open": "Open article",
        "close": "Close",
        "not_found": "Not found in the articles",
        "not_found_body": "The articles do not answer this question. The closest passages are below.",
        "not_found_none": "The articles do not answer this question.",
        "outside": "Best passage outside the filter",
        "see_related": "See the related passages in the Sources panel.",
        "no_related": "No related passage.",
        "also": "Also reported by",
        "conflicts": "Copies with other figures",
    },
}


def labels(language: str) -> dict[str, str]:
    return _LABELS["en" if language == "en" else "vi"]


def esc(text: object) -> str:
    """HTML-escape any value (quotes too, so it is safe inside attributes)."""
    return html.escape(str(text), quote=True)


def md_escape(text: str) -> str:
    """Text for a Markdown chat bubble: HTML-escaped, Markdown punctuation backslash-escaped."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))


def answer_markdown(answer: Answer) -> str:
    """The chat bubble of an answer: escaped text with its [n] markers as superscripts; the
    first line (the short answer, or the English statement of it) in bold."""
    text = _MARKER.sub(r"<sup>\\[\1\\]</sup>", md_escape(answer.answer))
    if answer.found:
        if answer.short_answer is not None and "\n\n" in text:
            lead, rest = text.split("\n\n", 1)
            return f"**{lead}**\n\n{rest}"
        return text
    words = labels(answer.language)
    hint = words["see_related"] if answer.related else words["no_related"]
    if answer.filtered is not None:  # the filter is the cause: say so, not "nothing related"
        hint = filter_note_text(answer.filtered, answer.language)
    return f"⚠ **{text}**\n\n*{md_escape(hint)}*"


def _uid(answer: Answer) -> str:
    key = "|".join([answer.question, *(f"{c.doc_id}:{c.start}" for c in answer.citations)])
    return "qa" + hashlib.sha1(key.encode("utf-8")).hexdigest()[:8]


def _valid(citation: Citation, document: Document | None) -> bool:
    return (
        document is not None
        and 0 <= citation.start < citation.end <= len(document.text)
        and document.text[citation.start : citation.end] == citation.quote
    )


def _marked(text: str, start: int, end: int, inner: tuple[int, int] | None) -> str:
    """`text[start:end]` escaped in `<mark>`, with `inner` (the short answer's span, document
    offsets inside it) in `<strong class="qa-short">`."""
    if inner is None or not start <= inner[0] < inner[1] <= end:
        return f"<mark>{esc(text[start:end])}</mark>"
    a, b = inner
    return (
        f'<mark>{esc(text[start:a])}<strong class="qa-short">{esc(text[a:b])}</strong>'
        f"{esc(text[b:end])}</mark>"
    )


def passage_html(
    text: str,
    start: int,
    end: int,
    context: int = _CONTEXT_CHARS,
    inner: tuple[int, int] | None = None,
) -> str:
    """The paragraph around `text[start:end]`, clipped to `context` characters each side,
    escaped, with the span in `<mark>` (and the short answer `inner` inside it in bold)."""
    left = max(text.rfind("\n", 0, start) + 1, start - context)
    right_nl = text.find("\n", end)
    right = min(len(text) if right_nl < 0 else right_nl, end + context)
    if left > 0 and text[left - 1] != "\n":
        space = text.find(" ", left, start)
        left = space + 1 if space >= 0 else start
    if right < len(text) and text[right] != "\n":
        space = text.rfind(" ", end, right)
        right = space if space >= 0 else end
    before = ("…" if left > 0 and text[left - 1] != "\n" else "") + esc(text[left:start].lstrip())
    after = esc(text[end:right].rstrip()) + (
        "…" if right < len(text) and text[right] != "\n" else ""
    )
    return f"{before}{_marked(text, start, end, inner)}{after}"


def article_html(text: str, spans: Sequence[tuple[str, int, int]]) -> tuple[str, dict[str, str]]:
    """The whole article escaped, each (mark_id, start, end) span wrapped in `<mark id=…>`.

    Overlapping spans share the first one's mark; the returned map gives, for every requested
    mark id, the id of the element that holds it.
    """
    out: list[str] = []
    where: dict[str, str] = {}
    pos = 0
    current = ""
    for mark_id, start, end in sorted(spans, key=lambda s: (s[1], -s[2])):
        if start < pos:  # overlaps the previous mark
            where[mark_id] = current
            continue
        out.append(esc(text[pos:start]))
        out.append(f'<mark id="{esc(mark_id)}" class="qa-hl">{esc(text[start:end])}</mark>')
        where[mark_id] = current = mark_id
        pos = end
    out.append(esc(text[pos:]))
    return "".join(out), where


def _card(
    c: Citation,
    doc: Document | None,
    uid: str,
    words: Mapping[str, str],
    where: Mapping[str, str],
    inner: tuple[int, int] | None = None,
) -> str:
    title = doc.title if doc is not None else c.title
    meta = [m for m in (c.source, (doc.date if doc else c.date), c.doc_id) if m]
    if _valid(c, doc):
        assert doc is not None
        body = passage_html(doc.text, c.start, c.end, inner=inner)
        button = (
            f'<a class="qa-open" href="#{esc(where[f"{uid}-m{c.n}"])}" '
            f'data-qa-open="{esc(f"{uid}-doc-{c.doc_id}")}" data-qa-mark="{esc(where[f"{uid}-m{c.n}"])}">'
            f"{esc(words['open'])} →</a>"
        )
    else:
        body, button = f"<mark>{esc(c.quote)}</mark>", ""
    as_of = f'<div class="qa-asof">{esc(c.as_of_label)}</div>' if c.as_of_label else ""
    also = ""
    if c.also:
        names = ", ".join(
            esc(o["source"] or o["doc_id"]) + (f" ({esc(o['date'])})" if o["date"] else "")
            for o in c.also
        )
        also = f'<div class="qa-also">{esc(words["also"])}: {names}</div>'
    return (
        f'<article class="qa-card" data-n="{c.n}">'
        f'<header><span class="qa-badge">{c.n or "↗"}</span><div>'
        f'<div class="qa-card-title">{esc(title)}</div>'
        f'<div class="qa-card-meta">{" · ".join(esc(m) for m in meta)}</div>{as_of}</div></header>'
        f'<p class="qa-passage">{body}</p>{also}{button}</article>'
    )


def _modal(doc: Document, body: str, dom_id: str, words: Mapping[str, str]) -> str:
    meta = " · ".join(esc(m) for m in (doc.date, doc.source, doc.doc_id) if m)
    return (
        f'<div class="qa-modal" id="{esc(dom_id)}" hidden role="dialog" aria-modal="true" '
        f'aria-label="{esc(doc.title)}"><div class="qa-modal-box">'
        f'<header class="qa-modal-head"><div><h3>{esc(doc.title)}</h3>'
        f'<div class="qa-card-meta">{meta}</div></div>'
        f'<button type="button" class="qa-close" data-qa-close aria-label="{esc(words["close"])}">×</button>'
        f'</header><div class="qa-article">{body}</div></div></div>'
    )


_PANEL_OPEN = '<div class="qa-sources"'


def streaming(panel: str) -> str:
    """The Sources panel marked `aria-busy` while its answer still streams into the chat: a
    screen reader (and a test) waits for the mark to go before reading or rating the answer,
    since the chat re-renders the message on every step."""
    return panel.replace(_PANEL_OPEN, _PANEL_OPEN + ' aria-busy="true"', 1)


def sources_html(answer: Answer, documents: Mapping[str, Document]) -> str:
    """The Sources panel: a card per citation (or a "not found" notice and the related
    passages), plus a hidden full-article viewer per cited document with the quotes marked."""
    words = labels(answer.language)
    uid = _uid(answer)
    shown = list(answer.citations) if answer.found else list(answer.related)
    conflicts = list(answer.conflicts) if answer.found else []
    outside = _outside(answer)
    spans: dict[str, list[tuple[str, int, int]]] = {}
    for c in shown + conflicts + outside:
        if _valid(c, documents.get(c.doc_id)):
            spans.setdefault(c.doc_id, []).append((f"{uid}-m{c.n}", c.start, c.end))
    where: dict[str, str] = {}
    modals = []
    for doc_id, doc_spans in spans.items():
        body, marks = article_html(documents[doc_id].text, doc_spans)
        where.update(marks)
        modals.append(_modal(documents[doc_id], body, f"{uid}-doc-{doc_id}", words))
    short = answer.short_answer if answer.found else None
    cards = "".join(
        _card(
            c,
            documents.get(c.doc_id),
            uid,
            words,
            where,
            (short.start, short.end) if short is not None and short.n == c.n else None,
        )
        for c in shown
    )
    parts = [f'{_PANEL_OPEN} data-q="{esc(answer.question)}">']
    if answer.found:
        parts.append(f'<h4 class="qa-heading">{esc(words["sources"])}</h4>{cards}')
        if conflicts:
            other = "".join(_card(c, documents.get(c.doc_id), uid, words, where) for c in conflicts)
            parts.append(
                f'<h4 class="qa-heading">{esc(words["conflicts"])}</h4>'
                f'<div class="qa-conflicts">{other}</div>'
            )
    else:
        body = words["not_found_body"] if shown else words["not_found_none"]
        parts.append(
            f'<div class="qa-notice qa-notfound"><strong>{esc(words["not_found"])}</strong>'
            f"<span>{esc(body)}</span></div>"
        )
        if answer.filtered is not None:
            parts.append(_filtered_html(answer, documents, uid, words, where, outside))
        if shown:
            parts.append(
                f'<h4 class="qa-heading">{esc(words["related"])}</h4>'
                f'<div class="qa-related">{cards}</div>'
            )
    parts.extend(modals)
    parts.append("</div>")
    return "".join(parts)


def _outside(answer: Answer) -> list[Citation]:
    """The best passage outside the filter (`Answer.filtered["outside"]`), as a citation."""
    data = (answer.filtered or {}).get("outside")
    if not isinstance(data, dict):
        return []
    names = set(Citation.__dataclass_fields__)
    try:
        return [Citation(**{k: v for k, v in data.items() if k in names})]
    except TypeError:  # a stored object without a citation's fields
        return []


DROP_FILTER = "Bỏ bộ lọc, hỏi lại / Drop the filter and ask again"


def _filtered_html(
    answer: Answer,
    documents: Mapping[str, Document],
    uid: str,
    words: Mapping[str, str],
    where: Mapping[str, str],
    outside: list[Citation],
) -> str:
    """What the filter left out (how many articles), a button that drops it and asks again
    (web_assets.SOURCES_JS), and the best passage outside it, marked as such."""
    assert answer.filtered is not None
    text = filter_note_text(answer.filtered, answer.language)
    cards = "".join(_card(c, documents.get(c.doc_id), uid, words, where) for c in outside)
    block = (
        f'<h4 class="qa-heading">{esc(words["outside"])}</h4><div class="qa-outside">{cards}</div>'
        if cards
        else ""
    )
    return (
        f'<div class="qa-notice qa-filtered"><span>{esc(text)}</span>'
        f'<button type="button" class="qa-drop-filter" data-qa-drop-filter>{esc(DROP_FILTER)}'
        f"</button></div>{block}"
    )


# A newspaper glyph as inline SVG (emoji fonts are not everywhere).
ICON = (
    '<svg viewBox="0 0 24 24" width="1em" height="1em" fill="none" stroke="currentColor" '
    'stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true">'
    '<path d="M4 22h16a2 2 0 0 0 2-2V4a2 2 0 0 0-2-2H8a2 2 0 0 0-2 2v16a2 2 0 0 1-2 2Zm0 0a2 2 '
    '0 0 1-2-2v-9c0-1.1.9-2 2-2h2"/><path d="M18 14h-8M15 18h-5M10 6h8v4h-8V6Z"/></svg>'
)


def placeholder_html() -> str:
    """The Sources panel before the first question."""
    return (
        f'<div class="qa-sources qa-empty"><div class="qa-empty-icon">{ICON}</div>'
        "<p>Nguồn trích dẫn sẽ hiện ở đây, với câu được trích dẫn tô sáng.</p>"
        "<p>Cited passages appear here, with the quoted sentence highlighted.</p></div>"
    )


def pending_html() -> str:
    return '<div class="qa-sources qa-empty"><div class="qa-spinner"></div><p>…</p></div>'


def notice_html(kind: str, message: str) -> str:
    """A one-line status box: kind is "ok", "error" or "info"."""
    icon = {"ok": "✓", "error": "⚠", "info": "ℹ"}.get(kind, "ℹ")
    return f'<div class="qa-notice qa-{esc(kind)}"><strong>{icon}</strong> <span>{esc(message)}</span></div>'


REMOVE_LABEL = "Xoá / Remove"


# What a reader is told where the admin's controls would be, and why a write was refused:
# the page's own words, both languages (not the gate's "HTTP 403" JSON).
READER_NOTE = (
    "Bạn đang xem với quyền đọc: chỉ quản trị viên (mã quản trị) mới thêm hoặc xoá được bài viết. / "
    "You are signed in as a reader: only an admin (admin token) can add or remove articles."
)
REFUSED = (
    "{vi} cần quyền quản trị: hãy đăng nhập bằng mã quản trị. / "
    "{en} needs the admin role: log in with the admin token."
)


def corpus_html(rows: Sequence[tuple[Document, int]], writable: bool = True) -> str:
    """The table of articles: title (with date/source), id, chunk count and, when `writable`
    (the admin's view), a remove button (see web_assets.CORPUS_JS: a second click within 4 s
    confirms). A reader's table has no remove column."""
    if not rows:
        return '<div class="qa-notice qa-info">Chưa có bài viết nào. / No articles yet.</div>'
    body = []
    for doc, chunks in rows:
        meta = " · ".join(esc(m) for m in (doc.date, doc.source) if m)
        remove = (
            f"<td class='qa-act'><button type='button' class='qa-remove' "
            f"data-qa-remove='{esc(doc.doc_id)}' aria-label='{REMOVE_LABEL}: {esc(doc.title)}'>"
            f"{REMOVE_LABEL}</button></td>"
            if writable
            else ""
        )
        body.append(
            f"<tr><td><div class='qa-card-title'>{esc(doc.title)}</div>"
            f"<div class='qa-card-meta'>{meta}</div></td>"
            f"<td><code>{esc(doc.doc_id)}</code></td><td class='qa-num'>{chunks}</td>{remove}</tr>"
        )
    total = sum(chunks for _, chunks in rows)
    head = "<th><span class='qa-sr'>Xoá / Remove</span></th>" if writable else ""
    return (
        f"<div class='qa-corpus-count'>{len(rows)} bài viết / articles · {total} đoạn / chunks</div>"
        "<div class='qa-table-wrap'><table class='qa-table'><thead><tr><th>Tiêu đề / Title</th><th>ID</th>"
        f"<th class='qa-num'>Đoạn / Chunks</th>{head}"
        "</tr></thead><tbody>" + "".join(body) + "</tbody></table></div>"
    )
