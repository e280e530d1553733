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
from collections.abc import Iterator, Mapping, Sequence

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
    return f"⚠ **{text}**\n\n*{esc(hint)}*"


def progressive(text: str, words_per_step: int = 3) -> Iterator[str]:
    """Growing prefixes of `text`, cut only at whitespace (tags without spaces stay whole)."""
    tokens = re.findall(r"\S+\s*|\s+", text)
    for i in range(words_per_step, len(tokens), words_per_step):
        yield "".join(tokens[:i]).rstrip()
    yield text


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
        f'<header><span class="qa-badge">{c.n}</span><div>'
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


def sources_html(answer: Answer, documents: Mapping[str, Document]) -> str:
    """The Sources panel: a card per citation (or a "not found" notice and the related
    passages), plus a hidden full-article viewer per cited document with the quotes marked."""
    words = labels(answer.language)
    uid = _uid(answer)
    shown = list(answer.citations) if answer.found else list(answer.related)
    conflicts = list(answer.conflicts) if answer.found else []
    spans: dict[str, list[tuple[str, int, int]]] = {}
    for c in shown + conflicts:
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
    parts = [f'<div class="qa-sources" data-q="{esc(answer.question)}">']
    if answer.found:
        parts.append(f'<h4 class="qa-heading">{esc(words["sources"])}</h4>{cards}')
        if conflicts:
            other = "".join(_card(c, documents.get(c.doc_id), uid, words, where) for c in conflicts)
            parts.append(
                f'<h4 class="qa-heading">{esc(words["conflicts"])}</h4>'
                f'<div class="qa-conflicts">{other}</div>'
            )
    else:
        parts.append(
            f'<div class="qa-notice qa-notfound"><strong>{esc(words["not_found"])}</strong>'
            f"<span>{esc(words['not_found_body'])}</span></div>"
        )
        if shown:
            parts.append(
                f'<h4 class="qa-heading">{esc(words["related"])}</h4>'
                f'<div class="qa-related">{cards}</div>'
            )
    parts.extend(modals)
    parts.append("</div>")
    return "".join(parts)


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


def corpus_html(rows: Sequence[tuple[Document, int]]) -> str:
    """The table of articles: title (with date/source), id, chunk count, a remove button (see
    CORPUS_JS: a second click within 4 s confirms)."""
    if not rows:
        return '<div class="qa-notice qa-info">Chưa có bài viết nào. / No articles yet.</div>'
    body = []
    for doc, chunks in rows:
        meta = " · ".join(esc(m) for m in (doc.date, doc.source) if m)
        body.append(
            f"<tr><td><div class='qa-card-title'>{esc(doc.title)}</div>"
            f"<div class='qa-card-meta'>{meta}</div></td>"
            f"<td><code>{esc(doc.doc_id)}</code></td><td class='qa-num'>{chunks}</td>"
            f"<td class='qa-act'><button type='button' class='qa-remove' "
            f"data-qa-remove='{esc(doc.doc_id)}' aria-label='{REMOVE_LABEL}: {esc(doc.title)}'>"
            f"{REMOVE_LABEL}</button></td></tr>"
        )
    total = sum(chunks for _, chunks in rows)
    return (
        f"<div class='qa-corpus-count'>{len(rows)} bài viết / articles · {total} đoạn / chunks</div>"
        "<div class='qa-table-wrap'><table class='qa-table'><thead><tr><th>Tiêu đề / Title</th><th>ID</th>"
        "<th class='qa-num'>Đoạn / Chunks</th><th><span class='qa-sr'>Xoá / Remove</span></th>"
        "</tr></thead><tbody>" + "".join(body) + "</tbody></table></div>"
    )


# The article table's remove buttons: the first click arms one (it says "Sure?" for 4 s), the
# second sends its document id to the server (web_corpus.CorpusUI.remove_row).
CORPUS_JS = """
element.addEventListener('click', (event) => {
  const button = event.target.closest('[data-qa-remove]');
  if (!button || button.disabled) return;
  if (!button.classList.contains('qa-armed')) {
    button.dataset.label = button.textContent;
    button.textContent = 'Chắc chắn? / Sure?';
    button.classList.add('qa-armed');
    setTimeout(() => {
      button.classList.remove('qa-armed');
      button.textContent = button.dataset.label;
    }, 4000);
    return;
  }
  button.disabled = true;
  trigger('click', {doc_id: button.dataset.qaRemove});
});
"""

# The Sources panel's behaviour: "open article" shows the viewer and centres the highlight.
SOURCES_JS = """
element.addEventListener('click', (event) => {
  const open = event.target.closest('[data-qa-open]');
  if (open) {
    event.preventDefault();
    const modal = element.querySelector('#' + CSS.escape(open.dataset.qaOpen));
    if (!modal) return;
    modal.hidden = false;
    element.querySelectorAll('mark.qa-active').forEach((m) => m.classList.remove('qa-active'));
    const mark = modal.querySelector('#' + CSS.escape(open.dataset.qaMark));
    if (mark) {
      mark.classList.add('qa-active');
      mark.scrollIntoView({block: 'center'});
    }
    return;
  }
  const modal = event.target.closest('.qa-modal');
  if (modal && (event.target === modal || event.target.closest('[data-qa-close]'))) {
    event.preventDefault();
    modal.hidden = true;
  }
});
document.addEventListener('keydown', (event) => {
  if (event.key === 'Escape') element.querySelectorAll('.qa-modal').forEach((m) => { m.hidden = true; });
});
"""

CSS = """
.gradio-container { max-width: 1280px !important; margin: 0 auto !important; }
/* Title and "HTTP API" badge share a line while they fit; on a phone the badge wraps below. */
#qa-header { padding: 18px 4px 6px; display: flex; flex-wrap: wrap; align-items: center;
  gap: 6px 16px; }
#qa-header .qa-api { order: 1; flex: none; margin-left: auto; font-size: .85rem; font-weight: 600;
  color: #0f766e; text-decoration: none; border: 1px solid #99f6e4; border-radius: 999px;
  padding: 4px 12px; background: #f0fdfa; }
#qa-header h1 { flex: 1 1 auto; min-width: 0; margin: 0; font-size: 1.75rem; font-weight: 700;
  letter-spacing: -0.01em; }
#qa-header h1 .qa-logo { display: inline-flex; align-items: center; justify-content: center;
  width: 2.1rem; height: 2.1rem; margin-right: .5rem; border-radius: 10px; font-size: 1.2rem;
  background: linear-gradient(135deg, #0f766e, #2563eb); color: #fff; vertical-align: middle; }
#qa-header .qa-logo svg { stroke: #fff; }
#qa-header p { order: 2; flex: 1 1 100%; margin: 0; color: var(--body-text-color-subdued);
  font-size: .98rem; }
/* Both tabs stay in the bar at 400 px (Gradio moves tabs that do not fit under a "⋯" menu). */
@media (max-width: 520px) {
  .tab-container button { padding: 0 8px !important; font-size: 13px !important; }
  #qa-header h1 { font-size: 1.45rem; }
  /* The article table becomes one card per article: title, then id, chunks and remove. */
  .qa-table thead { display: none; }
  .qa-table, .qa-table tbody { display: block; }
  .qa-table tr { display: grid; grid-template-columns: minmax(0, 1fr) auto; align-items: center;
    gap: 4px 10px; padding: 10px; border-bottom: 1px solid var(--border-color-primary); }
  .qa-table tr:last-child { border-bottom: 0; }
  .qa-table td { display: block; padding: 0; border-bottom: 0 !important; }
  .qa-table td:first-child { grid-column: 1 / -1; }
  .qa-table td.qa-num { text-align: left; }
  .qa-table td.qa-act { grid-column: 2; grid-row: 2 / span 2; }
  .qa-table code { word-break: break-all; font-size: .78rem; }
  .qa-table td.qa-num::after { content: " đoạn / chunks"; color: var(--body-text-color-subdued); }
}
/* The chat's clear button floats at its top right: messages (and their copy buttons) scroll
   below it, never under it. */
#qa-chat .bubble-wrap { margin-top: 34px; height: calc(100% - 34px); }
#qa-chat sup { font-size: .72em; font-weight: 700; color: #0f766e; margin-left: 1px; }
#qa-sources-col { max-height: 640px; overflow-y: auto; }
.qa-sources { display: flex; flex-direction: column; gap: 10px; font-size: .93rem; }
.qa-heading { margin: 2px 0 0; font-size: .8rem; text-transform: uppercase; letter-spacing: .06em;
  color: var(--body-text-color-subdued); }
.qa-card { border: 1px solid var(--border-color-primary); border-radius: 12px; padding: 12px 14px;
  background: var(--background-fill-primary); box-shadow: 0 1px 2px rgba(15, 23, 42, .05); }
.qa-card header { display: flex; gap: 10px; align-items: flex-start; margin-bottom: 6px; }
.qa-badge { flex: none; display: inline-flex; align-items: center; justify-content: center;
  width: 22px; height: 22px; border-radius: 50%; background: #0f766e; color: #fff;
  font-size: .75rem; font-weight: 700; }
.qa-card-title { font-weight: 600; line-height: 1.3; }
.qa-card-meta { color: var(--body-text-color-subdued); font-size: .78rem; margin-top: 2px; }
.qa-asof { font-size: .78rem; font-weight: 600; color: #b45309; margin-top: 2px; }
.qa-also { font-size: .8rem; color: var(--body-text-color-subdued); margin: 0 0 6px; }
.qa-conflicts .qa-card { border-color: #f59e0b; }
.qa-conflicts .qa-badge { background: #d97706; }
.qa-passage { margin: 6px 0 8px; line-height: 1.55; color: var(--body-text-color); }
.qa-sources mark, .qa-article mark { background: #fde68a; color: inherit; padding: 0 2px;
  border-radius: 3px; }
.qa-short { background: #f59e0b; color: #111827; border-radius: 3px; padding: 0 2px; }
.qa-open { font-size: .85rem; font-weight: 600; color: #0f766e !important; text-decoration: none !important;
  cursor: pointer; }
.qa-open:hover { text-decoration: underline !important; }
.qa-notice { display: flex; gap: 8px; align-items: baseline; flex-wrap: wrap; border-radius: 10px;
  padding: 10px 14px; border: 1px solid; line-height: 1.45; }
.qa-notfound { background: #fffbeb; border-color: #f59e0b; color: #92400e; flex-direction: column; gap: 2px; }
.qa-ok { background: #ecfdf5; border-color: #10b981; color: #065f46; }
.qa-error { background: #fef2f2; border-color: #ef4444; color: #991b1b; }
.qa-info { background: #f1f5f9; border-color: #cbd5e1; color: #334155; }
.qa-empty { align-items: center; text-align: center; color: var(--body-text-color-subdued);
  padding: 48px 16px; border: 1px dashed var(--border-color-primary); border-radius: 12px; }
.qa-empty p { margin: 2px 0; }
.qa-empty-icon { font-size: 2.2rem; color: #0f766e; opacity: .7; }
.qa-spinner { width: 26px; height: 26px; border-radius: 50%; border: 3px solid #cbd5e1;
  border-top-color: #0f766e; animation: qa-spin .8s linear infinite; }
@keyframes qa-spin { to { transform: rotate(360deg); } }
.qa-modal { position: fixed; inset: 0; z-index: 1000; display: flex; align-items: center;
  justify-content: center; background: rgba(15, 23, 42, .55); padding: 24px; }
.qa-modal[hidden] { display: none; }
.qa-modal:has(:target) { display: flex; }
.qa-modal-box { background: var(--background-fill-primary); border-radius: 14px; width: min(820px, 100%);
  max-height: 86vh; display: flex; flex-direction: column; box-shadow: 0 20px 50px rgba(0, 0, 0, .3); }
.qa-modal-head { display: flex; justify-content: space-between; gap: 12px; padding: 16px 20px;
  border-bottom: 1px solid var(--border-color-primary); }
.qa-modal-head h3 { margin: 0; font-size: 1.1rem; line-height: 1.35; }
.qa-close { border: none; background: transparent; font-size: 1.6rem; line-height: 1; cursor: pointer;
  color: var(--body-text-color-subdued); }
.qa-article { padding: 16px 20px 24px; overflow-y: auto; white-space: pre-wrap; line-height: 1.7;
  font-size: .97rem; }
.qa-article mark.qa-active { background: #fbbf24; outline: 2px solid #f59e0b; }
.qa-related mark { background: #e2e8f0; }
.qa-related .qa-badge { background: #94a3b8; }
.qa-table-wrap { border: 1px solid var(--border-color-primary); border-radius: 12px; overflow: hidden;
  background: var(--background-fill-primary); }
.qa-table-wrap table, .qa-table-wrap tr, .qa-table-wrap th, .qa-table-wrap td {
  border-left: 0 !important; border-right: 0 !important; border-top: 0 !important; margin: 0 !important; }
.qa-table-wrap table, .qa-table-wrap tr:last-child td, .qa-table-wrap tbody, .qa-table-wrap thead {
  border-bottom: 0 !important; }
.qa-table { width: 100%; border-collapse: collapse; font-size: .92rem; }
.qa-table th { text-align: left; background: var(--background-fill-secondary); font-size: .78rem; text-transform: uppercase; letter-spacing: .05em;
  color: var(--body-text-color-subdued); border-bottom: 1px solid var(--border-color-primary); padding: 8px; }
.qa-table td { border-bottom: 1px solid var(--border-color-primary); padding: 10px 8px; vertical-align: top; }
.qa-table .qa-num { text-align: right; }
.qa-corpus-count { color: var(--body-text-color-subdued); font-size: .85rem; margin: 4px 0 8px; }
footer { opacity: .7; }
footer .divider:last-child { display: none; } /* Gradio's separator before links we turned off */
.qa-act { text-align: right; white-space: nowrap; }
.qa-remove { font-size: .8rem; font-weight: 600; color: #b91c1c; background: transparent;
  border: 1px solid #fecaca; border-radius: 8px; padding: 3px 10px; cursor: pointer; }
.qa-remove:hover, .qa-remove.qa-armed { background: #dc2626; border-color: #dc2626; color: #fff; }
.qa-remove:disabled { opacity: .5; cursor: progress; }
.qa-sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
"""
