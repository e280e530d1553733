"""The web page's stylesheet and the two scripts its HTML components run (`js_on_load`): the
article table's two-click remove buttons and the Sources panel's article viewer. Static text,
kept apart from the markup functions of qa.serve.render that produce the classes they style."""

# Gradio's own words on the page, in both languages whatever the browser's language (Gradio has
# no Vietnamese; a French browser would get French): passed as `gr.I18n` for every locale
# Gradio knows, so they replace its translations ("Drop File Here", the chat's buttons, ...).
GRADIO_LABELS = {
    "upload_text.drop_file": "Thả tệp vào đây / Drop a file here",
    "upload_text.click_to_upload": "bấm để chọn tệp / click to choose one",
    "common.or": "hoặc / or",
    "common.clear": "Xoá / Clear",
    "common.remove": "Xoá / Remove",
    "common.error": "Lỗi / Error",
    "common.loading": "Đang tải / Loading",
    "common.empty": "Trống / Empty",
    "common.download": "Tải về / Download",
    "file.uploading": "Đang tải lên… / Uploading…",
    "chatbot.like": "Thích / Like",
    "chatbot.dislike": "Không thích / Dislike",
    "chatbot.clear": "Xoá / Clear",
    "chatbot.copy_message": "Chép câu trả lời / Copy message",
    "chatbot.copied_message": "Đã chép / Copied",
    "blocks.lost_connection": "Mất kết nối, đang nối lại… / Lost connection, rejoining…",
    "blocks.waiting_for_inputs": "Chờ tải tệp xong rồi thử lại / Wait for the upload, then retry",
}
GRADIO_LOCALES = (
    "vi en ar ca ckb de es et eu fa fi fr he hi id ja ko lt nb nl pl pt-BR pt ro ru sv ta th tr "
    "uk ur uz zh-CN zh-TW"
).split()

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
  const drop = event.target.closest('[data-qa-drop-filter]');
  if (drop) {  // web_chat.ChatUI.drop_filter: the filter emptied, the question asked again
    event.preventDefault();
    drop.disabled = true;
    const panel = drop.closest('.qa-sources');
    trigger('click', {drop_filter: panel ? panel.dataset.q : ''});
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

# Outside the page's blocks (Gradio scopes `CSS` to them): Gradio's 32 px margins around the
# whole app are 10 px on a phone, so that 360 px screens keep their width for the text.
HEAD = """<style>
@media (max-width: 520px) { .gradio-container .app.main { padding-left: 10px !important;
  padding-right: 10px !important; } }
</style>"""

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
/* Feedback sits right under the messages it rates: the comment box, its confirmation beside. */
#qa-feedback-row { align-items: center; gap: 8px; }
#qa-feedback-status { align-self: center; }
#qa-feedback-status .qa-notice { padding: 6px 10px; font-size: .88rem; }
/* A placeholder is a hint, not a value: lighter and in italics. */
#qa-since textarea::placeholder, #qa-until textarea::placeholder,
#qa-since input::placeholder, #qa-until input::placeholder { font-style: italic; opacity: .75; }
/* A phone or a narrow window: one list, the Sources right after the chat and its question box
   (not under the examples and past conversations), and no box wider than the screen. */
@media (max-width: 820px) {
  #qa-main { flex-direction: column; flex-wrap: nowrap; }
  #qa-chat-col { display: contents; }
  #qa-main > * , #qa-chat-col > * { width: 100%; min-width: 0 !important; }
  #qa-chat { order: 1; height: min(520px, 62vh) !important; }
  #qa-feedback-row { order: 2; }
  #qa-ask-row { order: 3; }
  #qa-sources-col { order: 4; max-height: none; overflow: visible; }
  #qa-filters { order: 5; }
  #qa-examples { order: 6; }
  #qa-past-row { order: 7; }
  #qa-ask-row > button { min-width: 76px !important; flex: none !important;
    padding-left: 12px !important; padding-right: 12px !important; }
}
/* The question box and the comment box take the row's width; the button and the confirmation
   keep theirs (Gradio's form wrapper would otherwise share the row evenly with the button). */
#qa-ask-row, #qa-feedback-row { flex-wrap: nowrap; }
#qa-ask-row > .form, #qa-feedback-row > .form { flex: 1 1 auto !important; min-width: 0 !important; }
#qa-feedback-row > #qa-feedback-status { flex: 0 1 auto; min-width: 0 !important; width: auto; }
@media (max-width: 520px) {
  #qa-feedback-row { flex-wrap: wrap; }
  #qa-feedback-row > #qa-feedback-status { flex: 1 1 100%; }
}
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
/* A filter that left the question without an answer: what it left out, a button to drop it,
   and the best passage outside it (dashed: not one of the answer's sources). */
.qa-filtered { background: #eff6ff; border-color: #93c5fd; color: #1e3a8a; flex-direction: column;
  gap: 8px; align-items: flex-start; }
.qa-drop-filter { font-size: .85rem; font-weight: 600; color: #fff; background: #2563eb;
  border: 0; border-radius: 8px; padding: 6px 12px; cursor: pointer; }
.qa-drop-filter:hover { background: #1d4ed8; }
.qa-outside .qa-card { border-style: dashed; border-color: #93c5fd; }
.qa-outside .qa-badge { background: #2563eb; }
.qa-outside mark { background: #dbeafe; }
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
