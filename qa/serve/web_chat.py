"""The chat tab's handlers: asking (the answer streamed as on the API), past conversations and
👍/👎 feedback, bound to one QA instance and kept apart from the Gradio wiring (qa.serve.web).

The chat consumes the same event stream as the API (qa.serve.stream): the Sources panel is drawn
from the `citations` event before the text arrives sentence by sentence. Every turn is saved
(qa.conversations); a past conversation is reopened from this browser's list (its localStorage)
or by its link `/?conversation=<id>`, with the same words, citations and ratings.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import gradio as gr

from qa.conversations import ConversationStore, answer_from_dict
from qa.conversations import ask as ask_turn
from qa.errors import InvalidQuestion, QAError
from qa.pipeline import QA
from qa.retrieve.filters import Filters
from qa.serve import render
from qa.serve.api_routes import public_message
from qa.serve.conversation_api import owner_and_viewer
from qa.serve.stream import answer_events
from qa.types import Answer, Document

STREAM_DELAY = 0.05  # seconds between streamed sentences of an answer
PAST_CONVERSATIONS = 50  # remembered per browser

Messages = list[dict[str, Any]]
# The chat's conversation: its id in the store (None until the first answer) and, for each
# assistant message index of the chat, the turn it shows (feedback is given per message).
Conversation = dict[str, Any]


def _owner(request: gr.Request | None) -> tuple[str, str | None]:
    """(who starts a conversation, whose this caller may see: None = all) of a page request, as
    on the API (qa.serve.conversation_api); a direct call (no request) is unrestricted."""
    if request is None:
        return "", None
    return owner_and_viewer(request)


def new_conversation() -> Conversation:
    return {"id": None, "turns": {}}


def _bubble(answer: Answer) -> dict[str, Any]:
    return {"role": "assistant", "content": render.answer_markdown(answer)}


class ChatUI:
    """The chat tab's callbacks, bound to one QA instance and its conversation store."""

    def __init__(self, qa: QA, store: ConversationStore | None = None) -> None:
        self.qa = qa
        self.store = store or ConversationStore.for_settings(qa.settings)

    def _error(self, exc: QAError) -> str:
        return render.notice_html("error", public_message(exc, self.qa.settings))

    def _documents_of(self, answer: Answer) -> dict[str, Document]:
        docs: dict[str, Document] = {}
        for c in [*answer.citations, *answer.related, *answer.conflicts]:
            if c.doc_id not in docs:
                # A document removed since the answer was composed gets a card without viewer.
                with contextlib.suppress(QAError):
                    docs[c.doc_id] = self.qa.document(c.doc_id)
        return docs

    def ask(
        self,
        message: str | None,
        messages: Messages | None,
        conversation: Conversation | None,
        since: str | None = None,
        until: str | None = None,
        sources: list[str] | None = None,
        request: gr.Request | None = None,
    ) -> Iterator[tuple[Any, Any, Any, Any]]:
        """Chat handler: yields (chat, sources panel, textbox, conversation) as the answer
        streams. An empty chat starts a new conversation. `since`, `until` and `sources` come
        from the filter control (empty: no filter)."""
        question = (message or "").strip()
        if not question:
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        limit = self.qa.settings.max_question_chars
        if len(question) > limit:  # refused before anything is echoed back
            error = InvalidQuestion(
                f"the question has {len(question)} characters; the limit is {limit}"
            )
            refusal = [*(messages or []), {"role": "assistant", "content": "⚠️ " + str(error)}]
            yield refusal, self._error(error), gr.skip(), conversation
            return
        messages = list(messages or [])
        conversation = dict(conversation or {}) if messages else new_conversation()
        chat: Messages = [*messages, {"role": "user", "content": render.md_escape(question)}]
        yield chat, render.pending_html(), "", conversation
        try:
            given = {"since": (since or "").strip(), "until": (until or "").strip()}
            check_dates(**given)
            filters = {k: v for k, v in {**given, "sources": list(sources or [])}.items() if v}
            who, viewer = _owner(request)  # a named user's conversations are theirs
            answer, turn = ask_turn(
                self.qa,
                self.store,
                conversation.get("id"),
                question,
                owner=who,
                viewer=viewer,
                **filters,
            )
        except QAError as exc:
            message = public_message(exc, self.qa.settings)
            chat.append({"role": "assistant", "content": "⚠️ " + render.md_escape(message)})
            yield chat, self._error(exc), "", conversation
            return
        conversation = {
            "id": turn["conversation_id"],
            "turns": {**conversation.get("turns", {}), str(len(chat)): turn["n"]},
        }
        # The last step repeats every output: a client (gradio_client) keeps only the last one.
        sources, text = render.placeholder_html(), ""
        for event, data in answer_events(answer):
            if event == "citations":  # the sources first, as on the API stream; the saved
                # turn too, so that a 👍 on the growing message already finds it
                sources = render.sources_html(answer, self._documents_of(answer))
                yield gr.skip(), render.streaming(sources), gr.skip(), conversation
            elif event == "delta":
                text += data["text"]
                yield (
                    [*chat, _bubble(replace(answer, answer=text))],
                    gr.skip(),
                    gr.skip(),
                    gr.skip(),
                )
                time.sleep(STREAM_DELAY)
        # The textbox is left alone: it may already hold the next question, typed meanwhile.
        yield [*chat, _bubble(answer)], sources, gr.skip(), conversation

    def drop_filter(
        self,
        event: gr.EventData,
        messages: Messages | None,
        conversation: Conversation | None,
        request: gr.Request | None = None,
    ) -> Iterator[tuple[Any, ...]]:
        """The "drop the filter" button of a filtered "not found" (web_assets.SOURCES_JS sends
        the question): empties the filter and asks that question again, as `ask` does. Yields
        `ask`'s outputs, then since, until and outlets."""
        data = event._data if isinstance(event._data, dict) else {}
        question = data.get("drop_filter")
        if not isinstance(question, str) or not question.strip():
            yield (*(gr.skip(),) * 4, gr.skip(), gr.skip(), gr.skip())
            return
        # The filter is emptied once, with the first step: later steps leave it alone, so a
        # filter typed while the answer streams is not overwritten.
        cleared: tuple[Any, ...] = ("", "", [])
        for step in self.ask(question, messages, conversation, request=request):
            yield (*step, *cleared)
            cleared = (gr.skip(), gr.skip(), gr.skip())

    def reopen(
        self, conversation_id: str | None, request: gr.Request | None = None
    ) -> tuple[Any, Any, Any]:
        """(chat, sources panel, conversation) of a saved conversation, as it was shown (only
        the caller's own, for a reader)."""
        if not conversation_id:
            return gr.skip(), gr.skip(), gr.skip()
        try:
            saved = self.store.get(conversation_id, _owner(request)[1])
        except QAError as exc:
            return gr.skip(), render.notice_html("error", str(exc)), gr.skip()
        chat: Messages = []
        conversation: Conversation = {"id": saved["id"], "turns": {}}
        verdicts: list[str | None] = []
        last: Answer | None = None
        for turn in saved["turns"]:
            chat.append({"role": "user", "content": render.md_escape(turn["question"])})
            conversation["turns"][str(len(chat))] = turn["n"]
            last = answer_from_dict(turn["answer"])
            chat.append(_bubble(last))
            rated = (turn["feedback"] or {}).get("verdict")
            verdicts.append({"up": "Like", "down": "Dislike"}.get(rated or ""))
        sources = (
            render.placeholder_html()
            if last is None
            else render.sources_html(last, self._documents_of(last))
        )
        return gr.update(value=chat, feedback_value=verdicts), sources, conversation

    def reopen_from_link(self, request: gr.Request) -> tuple[Any, Any, Any]:
        """Page load with `?conversation=<id>`: that conversation, else nothing changes."""
        return self.reopen(request.query_params.get("conversation"), request)

    def past(self, known: list[str] | None, request: gr.Request | None = None) -> Any:
        """The past-conversations dropdown: this browser's conversations (of the caller's),
        newest first."""
        ids = [i for i in known or [] if isinstance(i, str)][:PAST_CONVERSATIONS]
        try:
            recent = self.store.recent(ids=ids, owner=_owner(request)[1]) if ids else []
        except QAError:
            recent = []
        return gr.update(choices=[(f"{c['title']} ({c['turns']})", c["id"]) for c in recent])

    def remember(
        self,
        conversation: Conversation | None,
        known: list[str] | None,
        request: gr.Request | None = None,
    ) -> tuple[list[str], Any]:
        """Put the shown conversation first in this browser's list; (list, dropdown)."""
        current = (conversation or {}).get("id")
        ids = [i for i in known or [] if i != current]
        if current:
            ids.insert(0, current)
        ids = ids[:PAST_CONVERSATIONS]
        return ids, self.past(ids, request)

    def rate(
        self,
        like: gr.LikeData,
        comment: str | None,
        conversation: Conversation | None,
        request: gr.Request | None = None,
    ) -> tuple[str, str]:
        """👍/👎 on an assistant message: stored with its turn, with the comment box's text."""
        n = (conversation or {}).get("turns", {}).get(str(like.index))
        if n is None or not isinstance(like.liked, bool):
            return render.notice_html(
                "info", "Không có gì để đánh giá / Nothing to rate"
            ), gr.skip()
        verdict = "up" if like.liked else "down"
        try:
            comment = (comment or "").strip()
            viewer = _owner(request)[1]
            self.store.set_feedback(conversation["id"], n, verdict, comment, viewer)
        except QAError as exc:
            return render.notice_html("error", str(exc)), gr.skip()
        # In words: an emoji font is not on every machine.
        vi, en = ("Thích", "Like") if like.liked else ("Không thích", "Dislike")
        saved = f"Đã lưu “{vi}” cho câu trả lời {n}, cảm ơn! / “{en}” saved for answer {n}, thanks!"
        return render.notice_html("ok", saved), ""


_DATE_FIELDS = {"since": ("Từ ngày", "Since"), "until": ("Đến ngày", "Until")}


def check_dates(since: str = "", until: str = "") -> None:
    """Raise InvalidQuestion, worded for the page in both languages, when the filter's dates
    are not dates ("hôm qua") or since is after until; the core's own message is English."""
    for name, value in (("since", since), ("until", until)):
        try:
            Filters.parse(**{name: value})
        except InvalidQuestion:
            vi, en = _DATE_FIELDS[name]
            raise InvalidQuestion(
                f"“{vi}” không phải một ngày: “{value}”. Hãy nhập dạng 2021, 2021-04 hoặc "
                f"2021-04-28. / “{en}” is not a date: “{value}”. Use 2021, 2021-04 or 2021-04-28."
            ) from None
    try:
        Filters.parse(since, until)
    except InvalidQuestion:
        raise InvalidQuestion(
            f"“Từ ngày” ({since}) sau “Đến ngày” ({until}). / Since ({since}) is after until "
            f"({until})."
        ) from None
