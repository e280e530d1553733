"""The `QA` object: one index + one embedder → `answer()` and `search()`.

Every interface (Python, CLI, HTTP, web) goes through here. The index is loaded lazily and
re-loaded when another process publishes a new generation, so a long-running server picks up
`qa index`/`qa add` without a restart and readers never see a half-written index.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, replace
from pathlib import Path

from qa.analysis import Analyzer, antecedent, points_back, resolve
from qa.answering.abstain import answerable, background_similarity, features, load_calibration
from qa.answering.backends import Generator, make_generator
from qa.answering.compose import compose
from qa.answering.dated import stamp
from qa.answering.evidence import Evidence, weigh
from qa.answering.generation import generate_answer, passages_for
from qa.answering.learned import SpanModel, make_reader, reweigh
from qa.errors import DocumentError, IndexLocked, InvalidQuestion, StorageError, UnknownDocument
from qa.index import corpus_writes as corpus
from qa.index.build import IndexReport, Progress, check_compatible
from qa.index.embedding import Embedder, make_embedder
from qa.index.store import IndexData, current_generation, load_index, read_manifest, verify_files
from qa.ingest.documents import (
    SUFFIXES,
    check_doc_id,
    decode,
    doc_id_for,
    parse_document,
    read_corpus,
)
from qa.records import Candidates, Question, Verdict
from qa.retrieve.candidates import gather
from qa.retrieve.filters import Filters, NewsView, filter_note, widen
from qa.retrieve.hybrid import Retriever
from qa.settings import Settings
from qa.text import clean
from qa.types import Answer, Document, Hit, Sentence

log = logging.getLogger("qa.pipeline")
_UNSET = object()
MAX_K = 100


@dataclass(frozen=True)
class _State:
    data: IndexData
    retriever: Retriever
    news: NewsView  # stories, date/outlet filters and preferences (qa.retrieve.filters)
    analyzer: Analyzer


class QA:
    """Question answering over one corpus/index. Thread-safe for concurrent `answer()` calls."""

    def __init__(
        self,
        settings: Settings | None = None,
        embedder: Embedder | None = None,
        generator: Generator | None = None,
    ) -> None:
        self.settings = settings or Settings.from_env()
        self.embedder = embedder or make_embedder(
            self.settings.embedder, self.settings.embed_batch, self.settings.threads
        )
        # Optional fluent answers (settings.generator or a given Generator), guarded by
        # qa.answering.grounding; None: the extractive answer only.
        self.generator = (
            generator
            if generator is not None
            else make_generator(
                self.settings.generator,
                self.settings.generator_timeout,
                self.settings.generator_threads,
            )
        )
        self._state: _State | None = None
        self._reader: object = _UNSET
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()  # one writer per process; other processes: flock
        self._recovered = False

    # -- index -------------------------------------------------------------------------------
    def index(self, rebuild: bool = False, progress: Progress | None = None) -> IndexReport:
        """Bring the index up to date with the corpus folder (incremental unless `rebuild`)."""
        with self._write_lock:
            return corpus.reindex(self.settings, self.embedder, rebuild=rebuild, progress=progress)

    def _current(self) -> _State:
        """The loaded index, re-loaded if a newer generation was published. Before the first
        load, a write that a crash left half-done is finished or rolled back."""
        if not self._recovered:
            self._recovered = True
            try:
                for line in self.recover():
                    log.warning("%s", line)
            except (IndexLocked, StorageError) as exc:  # another writer will do it
                log.warning("pending writes not recovered: %s", exc)
        state = self._state
        live = current_generation(self.settings.index_dir)
        if state is not None and state.data.generation == live:
            return state
        with self._lock:
            state = self._state
            if state is None or state.data.generation != current_generation(
                self.settings.index_dir
            ):
                data = load_index(self.settings.index_dir)
                check_compatible(data.manifest, self.embedder)
                retriever = Retriever(data, self.embedder, self.settings.candidates)
                news = NewsView(data, retriever)
                state = _State(data, retriever, news, Analyzer(retriever.restorer))
                self._state = state
        return state

    @property
    def news(self) -> NewsView:
        """The loaded generation's news view: its retriever, stories, filters and dates."""
        return self._current().news

    @property
    def manifest(self) -> dict:
        """The loaded generation's manifest (embedder, chunking, vector store, documents)."""
        return self._current().data.manifest

    # -- questions ---------------------------------------------------------------------------
    def _check_question(self, question: object) -> str:
        if not isinstance(question, str):
            raise InvalidQuestion("the question must be text")
        text = clean(question).strip()
        if not text:
            raise InvalidQuestion("the question is empty")
        if len(text) > self.settings.max_question_chars:
            raise InvalidQuestion(
                f"the question has {len(text)} characters; the limit is {self.settings.max_question_chars}"
            )
        return text

    @staticmethod
    def _check_k(k: object) -> int | None:
        if k is None:
            return None
        if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_K:
            raise InvalidQuestion(f"k must be a whole number from 1 to {MAX_K}, not {k!r}")
        return k

    def _check_history(self, history: object) -> list[str]:
        if history is None:
            return []
        if not isinstance(history, list) or not all(isinstance(h, str) for h in history):
            raise InvalidQuestion("history must be a list of earlier questions (strings)")
        return [clean(h)[: self.settings.max_question_chars] for h in history if h.strip()]

    def search(
        self,
        query: str,
        k: int | None = None,
        since: str | None = None,
        until: str | None = None,
        sources: list[str] | None = None,
    ) -> list[Hit]:
        """The top-k passages (chunks) for a query, best first, one per story. `since`/`until`
        ("2021", "2021-04", "2021-04-28") and `sources` (outlets) limit the articles searched."""
        text = self._check_question(query)
        k = self._check_k(k) or self.settings.top_k
        filters = Filters.parse(since, until, sources)
        state = self._current()
        retriever = state.news.retriever_for(filters)
        question = state.analyzer.analyze(state.news.content(text), said=text)
        hits = retriever.search(question, widen(k))
        return state.news.select(hits, text, k)

    def answer(
        self,
        question: str,
        history: list[str] | None = None,
        k: int | None = None,
        since: str | None = None,
        until: str | None = None,
        sources: list[str] | None = None,
    ) -> Answer:
        """Answer from the articles with cited sentences, or `found=False` with related passages.
        Filters as in `search`; a time or outlet the question names is preferred, and the answer
        is dated and sourced (qa.answering.dated)."""
        text, turns = self._check_question(question), self._check_history(history)
        k = self._check_k(k) or self.settings.answer_hits
        filters = Filters.parse(since, until, sources)
        resolved = self._resolved(text, turns, k)
        asked = self._analyze(resolved, turns, follows=resolved != text)
        answer, found = self._extractive(asked, Filters(), k)
        if filters.active:
            answer, found = self._within(filters, answer, found, asked, k)
        if self.generator is not None:
            answer = self.generate(answer, found)
        return stamp(answer, self._current().news, asked.said)

    def _resolved(self, text: str, turns: list[str], k: int) -> str:
        """A follow-up whose pronoun points back ("What is his position?") asked about whom the
        last turn's answer named ("What is Le Tien Chau's position?")."""
        if not turns or not points_back(text):
            return text
        previous, _ = self._extractive(self._analyze(turns[-1], []), Filters(), k)
        short = previous.short_answer
        thing = antecedent(short.text, short.type) if short else ""
        return resolve(text, thing)

    def _extractive(self, asked: Question, filters: Filters, k: int) -> tuple[Answer, Candidates]:
        """The extractive answer from the articles `filters` allow, and what it was read from."""
        found = self.candidates(asked, filters, k)
        evidence = self.read(asked, found)
        verdict = self.verdict(asked, found, evidence)
        return compose(asked, evidence, verdict, found.documents, self.settings), found

    def _within(
        self, filters: Filters, answer: Answer, found: Candidates, asked: Question, k: int
    ) -> tuple[Answer, Candidates]:
        """The answer under `filters`. Filters choose which articles may be cited, never how
        sure the answer is: when every sentence the whole-corpus answer cites passes them, that
        answer stands (its related passages narrowed to the filter); otherwise the question is
        answered again from the allowed articles only; when they do not answer it, the answer
        says what the filter left out and the best passage outside it (`filter_note`)."""
        documents = self._current().data.documents
        allowed = [filters.allows(documents[c.doc_id]) for c in answer.citations]
        if not (answer.found and all(allowed)):
            within, found = self._extractive(asked, filters, k)
            if not within.found:
                note = filter_note(self._current().news, filters, answer)
                within = replace(within, filtered=note)
            return within, found
        first = len(answer.citations) + 1
        kept = [c for c in answer.related if filters.allows(documents[c.doc_id])]
        related = [replace(c, n=first + i) for i, c in enumerate(kept)]
        return replace(answer, related=related), found

    # -- the stages of `answer`, in order (public: the benchmarks and fitters run them too) --
    def analyze(self, question: str, history: list[str] | None = None) -> Question:
        """The question checked and analysed once (`qa.analysis`); `history`: earlier questions
        of the conversation, for a follow-up."""
        return self._analyze(self._check_question(question), self._check_history(history))

    def _analyze(self, text: str, turns: list[str], follows: bool = False) -> Question:
        state = self._current()
        return state.analyzer.analyze(state.news.content(text), turns, text, follows)

    def candidates(
        self, question: Question, filters: Filters | None = None, k: int | None = None
    ) -> Candidates:
        """What retrieval finds for the question (`qa.retrieve.candidates`): `k` passages
        (default `settings.answer_hits`) among the articles `filters` allow."""
        filters = filters or Filters()
        return gather(self._current().news, question, filters, k or self.settings.answer_hits)

    def read(self, question: Question, candidates: Candidates) -> list[Evidence]:
        """The candidate sentences read and re-ranked, best first: by the rules
        (`qa.answering.evidence`), then by the trained reader where one is installed
        (`qa.answering.learned`, `settings.reader`)."""
        ranked = weigh(question.reading, candidates)
        model = self.reader
        if model is None:
            return ranked
        return reweigh(question, ranked, model, self.embedder.fingerprint)

    @property
    def calibration_key(self) -> str:
        """The "not found" model's key in calibration.json: the embedder's cosine scale, and
        the trained reader whose margin it reads (`bench.fit.calibrate` writes both)."""
        model = self.reader
        version = getattr(model, "version", "") if model is not None else ""
        return (
            f"{self.embedder.fingerprint}+reader:{version}" if model else self.embedder.fingerprint
        )

    @property
    def reader(self) -> SpanModel | None:
        """The trained reader (`settings.reader`), loaded on first use; None: rules only."""
        if self._reader is _UNSET:
            self._reader = make_reader(self.settings.reader, self.settings.threads)
        return self._reader  # type: ignore[return-value]

    def verdict(
        self, question: Question, candidates: Candidates, evidence: list[Evidence]
    ) -> Verdict:
        """Whether the articles answer, and how sure (`qa.answering.abstain`)."""
        values = self.answerability(question, candidates, evidence)
        calibration = load_calibration(self.calibration_key) or load_calibration(
            self.embedder.fingerprint
        )
        return answerable(question, values, calibration, self.settings.abstain_below)

    def answerability(
        self, question: Question, candidates: Candidates, evidence: list[Evidence]
    ) -> dict[str, float]:
        """The features the "not found" model reads (`qa.answering.abstain.FEATURES`)."""
        background = background_similarity(self.embedder, candidates.vector)
        return features(question, candidates, evidence, background)

    def generate(self, extractive: Answer, candidates: Candidates) -> Answer:
        """The generator's answer from the passages the extractive answer chose; shown only if
        qa.answering.grounding passes it, else the extractive answer with the reason."""
        assert self.generator is not None
        state = self._current()
        rows = state.retriever.chunk_row
        passages = passages_for(
            extractive, dict(candidates.documents), lambda c: state.data.chunks[rows[c]]
        )
        return generate_answer(
            self.generator, extractive, passages, self.settings.generator_max_tokens
        )

    # -- documents ---------------------------------------------------------------------------
    def add_document(self, name: str, data: bytes) -> tuple[Document, IndexReport]:
        """Store one article (file name + raw bytes) in the corpus folder and index it."""
        documents, report = self.add_documents([(name, data)])
        return documents[0], report

    def add_documents(self, files: list[tuple[str, bytes]]) -> tuple[list[Document], IndexReport]:
        """Store articles in the corpus folder and index them in one run.

        Every file is validated before anything is written; the files and the index change
        together or not at all (`qa.index.corpus_writes`), so a bad batch, a full disk or a crash
        leaves corpus and index as they were. Adding the same content again re-embeds nothing
        (the index compares content hashes). Each new article may add at most
        `settings.max_upload_texts` passages and sentences, and must not repeat itself.
        """
        if len(files) > self.settings.max_documents_per_request:
            raise DocumentError(
                f"{len(files)} documents in one request; the limit is {self.settings.max_documents_per_request}"
            )
        staged: list[tuple[str, bytes, Document]] = []
        for name, data in files:
            doc_id = doc_id_for(name)
            suffix = Path(name).suffix.lower()
            if suffix not in SUFFIXES:  # also "CON", "passwd": no extension, no article
                raise DocumentError(
                    f"{name!r}: only .txt and .md articles, or saved .html pages, can be added"
                )
            document = parse_document(
                doc_id, decode(data, name, self.settings.max_document_bytes), name
            )
            staged.append((suffix, data, document))
        ids = [d.doc_id for _, _, d in staged]
        if len(set(ids)) != len(ids):
            raise DocumentError(
                f"two files in one request map to the same document id: {sorted(ids)}"
            )
        with self._write_lock:
            report = corpus.write(
                self.settings, self.embedder, puts=staged, max_texts=self.settings.max_upload_texts
            )
        return [self.document(doc_id) for doc_id in ids], report

    def remove_document(self, doc_id: str) -> IndexReport:
        """Delete an article from the corpus folder and from the index, together (the file
        stays if re-indexing fails, e.g. another process holds the index lock)."""
        document = self.document(check_doc_id(doc_id))
        with self._write_lock:
            return corpus.write(self.settings, self.embedder, deletes=[document.doc_id])

    def wait_for_writes(self) -> None:
        """Return once a corpus write running in this process has finished (graceful stop)."""
        with self._write_lock:
            pass

    def recover(self) -> list[str]:
        """Finish or roll back writes a crash left half-done; one line per write
        (`qa verify --repair`; also done before the first load and by every writer)."""
        with self._write_lock:
            return corpus.recover(self.settings)

    def documents(self) -> list[Document]:
        return list(self._current().data.documents.values())

    def document(self, doc_id: str) -> Document:
        documents = self._current().data.documents
        if doc_id not in documents:
            raise UnknownDocument(f"unknown document id {doc_id!r}")
        return documents[doc_id]

    def verify(self) -> dict[str, list[str]]:
        """Compare the index with the corpus folder and its own checksums.

        Returns lists of document ids: `new` (in the corpus, not indexed), `changed` (text
        differs), `missing` (indexed, file gone) and `damaged` index files. All empty = in sync.
        """
        name, manifest = read_manifest(self.settings.index_dir)
        damaged = verify_files(self.settings.index_dir, name, manifest)
        indexed = manifest.get("documents", {})
        corpus = {
            d.doc_id: d
            for d in read_corpus(self.settings.corpus_dir, self.settings.max_document_bytes)
        }
        return {
            "new": sorted(set(corpus) - set(indexed)),
            "changed": sorted(
                i for i in set(corpus) & set(indexed) if corpus[i].sha256 != indexed[i]["sha256"]
            ),
            "missing": sorted(set(indexed) - set(corpus)),
            "damaged": damaged,
        }

    def sentences(self, doc_id: str) -> list[Sentence]:
        """The indexed sentences of an article, in text order."""
        return self._current().news.sentences_of(doc_id)

    def chunk_count(self, doc_id: str) -> int:
        return sum(1 for c in self._current().data.chunks if c.doc_id == doc_id)


_default: QA | None = None
_default_lock = threading.Lock()


def default_qa() -> QA:
    """The process-wide QA over the configured corpus/index (settings from the environment)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = QA()
        return _default


def answer(
    question: str, history: list[str] | None = None, k: int | None = None, **filters: object
) -> Answer:
    """Answer a question over the default index. See `QA.answer` (filters: since, until,
    sources)."""
    return default_qa().answer(question, history=history, k=k, **filters)  # type: ignore[arg-type]


def search(query: str, k: int | None = None, **filters: object) -> list[Hit]:
    """Search the default index. See `QA.search` (filters: since, until, sources)."""
    return default_qa().search(query, k=k, **filters)  # type: ignore[arg-type]
