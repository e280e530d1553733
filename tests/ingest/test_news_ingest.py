"""Reading real-shaped news: saved pages (navigation, ads, comments around the article), RSS and
Atom feeds, the comment-header form of news dumps, and fetching by URL from a loopback server.

The pages and feeds in tests/data/news/ were written for these tests (fictional outlets) in the
shapes Vietnamese news sites use: a lead paragraph outside the body container, a dateline
without metadata, reader comments with later dates, content:encoded with figures.
"""

from __future__ import annotations

import http.server
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import static_site

from qa.errors import DocumentError
from qa.ingest.chunking import split_sentences
from qa.ingest.documents import parse_document, read_corpus, read_document
from qa.ingest.feeds import read_feed
from qa.ingest.fetch import fetch
from qa.ingest.html import extract_page

NEWS = Path(__file__).resolve().parents[1] / "data" / "news"
BOILERPLATE = (
    "Đăng nhập",
    "Trang chủ",
    "Quảng cáo",
    "QUẢNG CÁO",
    "Vay tiêu dùng",
    "Mua căn hộ",
    "Máy gặt đập",
    "Phân bón",
    "Tin liên quan",
    "Bài viết cùng chuyên mục",
    "Đọc nhiều",
    "Tin nổi bật",
    "Bình luận",
    "Ý kiến bạn đọc",
    "mong thành phố chú ý giao thông",  # a reader comment
    "Nông dân có được hưởng lợi",  # a reader comment
    "Giấy phép",
    "Chia sẻ Facebook",
    "Ảnh:",  # photo captions
)


def assert_clean(text: str) -> None:
    for junk in BOILERPLATE:
        assert junk not in text, junk


def assert_offsets(doc) -> None:
    sentences = split_sentences(doc.text)
    assert sentences
    assert all(doc.text[s.start : s.end] == s.text for s in sentences)


# -- saved pages ---------------------------------------------------------------------------------
def test_page_with_metadata_keeps_lead_drops_boilerplate() -> None:
    doc = read_document(NEWS / "baocangbien-fdi-2021.html")
    assert doc.doc_id == "baocangbien-fdi-2021"
    assert doc.title == "Hải Phòng thu hút hơn 1 tỷ USD vốn FDI trong 4 tháng đầu năm"
    # article:published_time, not the modified date (29/4) nor a comment's (5/5)
    assert doc.date == "2021-04-28"
    assert doc.source == "Báo Cảng Biển"  # og:site_name
    assert doc.url.startswith("https://baocangbien.vn/kinh-te/hai-phong-thu-hut-hon-1-ty-usd")
    # The lead ("sapo") sits outside the body container; it is the most quoted sentence.
    assert doc.text.startswith("Tính đến ngày 20/4/2021, Hải Phòng thu hút được 1,02 tỷ USD")
    assert "Hải Phòng hiện có 14 khu công nghiệp đang hoạt động" in doc.text
    assert_clean(doc.text)
    assert_offsets(doc)


def test_page_without_metadata_reads_dateline_title_and_saved_url() -> None:
    doc = read_document(NEWS / "thoibaodongbang-gao-2023.html")
    # "Thứ năm, 09/11/2023 - 14:30 GMT+7" under the headline; not a comment's 10/11 or 15/12,
    # not the 31/10/2023 the story counts to.
    assert doc.date == "2023-11-09"
    assert doc.source == "Thời báo Đồng Bằng"  # from "<title>... | Thời báo Đồng Bằng"
    assert doc.url == (
        "https://thoibaodongbang.vn/thi-truong/xuat-khau-gao-10-thang-dat-ky-luc-hon-4-ty-usd-a5512.html"
    )  # Chrome's "saved from url" comment
    assert "thu về 4,13 tỷ USD, tăng 38,5% về giá trị" in doc.text
    assert "Lượng gạo xuất khẩu 10 tháng năm 2023 đạt mức cao nhất" in doc.text
    assert_clean(doc.text)
    assert_offsets(doc)


def test_page_given_url_and_page_without_text_refused() -> None:
    raw = (NEWS / "thoibaodongbang-gao-2023.html").read_text(encoding="utf-8")
    page = extract_page(raw, "https://mirror.example.vn/a.html")
    assert page.url == "https://mirror.example.vn/a.html"
    with pytest.raises(DocumentError, match="no article text"):
        parse_document(
            "empty", "<html><body><script>var a=1;</script><img src='a.jpg'></body></html>"
        )


def test_html_sniffed_without_suffix() -> None:
    raw = (NEWS / "baocangbien-fdi-2021.html").read_text(encoding="utf-8")
    doc = parse_document("uploaded", raw, "uploaded.txt")
    assert doc.date == "2021-04-28" and "<" not in doc.text


# -- feeds ---------------------------------------------------------------------------------------
def test_rss_entries_become_articles() -> None:
    files = read_feed((NEWS / "tinnhanhviet-kinh-te.rss").read_bytes())
    docs = [parse_document(name.removesuffix(".md"), data.decode(), name) for name, data in files]
    assert [d.date for d in docs] == ["2023-11-09", "2023-11-16", "2023-11-17"]
    # Fri, 17 Nov 2023 06:00 +0700 is 16 Nov in UTC: the local day is kept.
    assert {d.source for d in docs} == {"Tin Nhanh Việt"}
    rice, petrol, tourism = docs
    assert rice.doc_id.startswith("tin-nhanh-viet-xuat-khau-gao-10-thang")
    assert rice.url.endswith("-20231109160500.htm")
    assert rice.title == "Xuất khẩu gạo 10 tháng lập kỷ lục, thu về hơn 4 tỷ USD"
    # content:encoded (the whole article), not the one-line description; captions dropped
    assert "Philippines tiếp tục là thị trường tiêu thụ gạo lớn nhất" in rice.text
    assert "thu về 4,13 tỷ USD" in rice.text and "Ảnh:" not in rice.text
    assert "<" not in rice.text
    assert petrol.text.startswith("Từ 15h chiều nay, giá xăng RON 95 giảm 630 đồng")  # summary
    assert "1,9 triệu lượt khách quốc tế" in tourism.text
    for doc in docs:
        assert_offsets(doc)


def test_atom_feed_and_not_a_feed() -> None:
    [(name, data)] = read_feed((NEWS / "baocangbien.atom").read_bytes())
    doc = parse_document(name.removesuffix(".md"), data.decode(), name)
    assert (doc.date, doc.source) == ("2023-11-15", "Báo Cảng Biển")
    assert doc.text.startswith("Sáng 15/11, cảng cửa ngõ quốc tế Lạch Huyện")
    with pytest.raises(DocumentError, match="not an RSS/Atom feed"):
        read_feed((NEWS / "baocangbien-fdi-2021.html").read_bytes())


def test_feed_follows_links_when_entries_have_summaries_only() -> None:
    page = (NEWS / "baocangbien-fdi-2021.html").read_text(encoding="utf-8")
    asked: list[str] = []

    def fetch_page(url: str) -> str:
        asked.append(url)
        return page

    [(_, data)] = read_feed((NEWS / "baocangbien.atom").read_bytes(), fetch_page=fetch_page)
    assert asked == [
        "https://baocangbien.vn/cang-bien/cang-lach-huyen-don-tau-container-200000-tan-20231115.html"
    ]
    doc = parse_document("followed", data.decode())
    assert "1,02 tỷ USD" in doc.text  # the linked page's text
    assert doc.date == "2023-11-15"  # the feed's date of the entry


# -- comment headers and front matter --------------------------------------------------------------
def test_comment_header_form() -> None:
    doc = read_document(NEWS / "nhipsongso-gao-10-thang.txt")
    assert doc.date == "2023-11-10"  # "# date = 20231110"
    assert doc.source == "Nhịp Sống Số"
    assert (
        doc.url == "https://nhipsongso.vn/thi-truong/gao-viet-xuat-khau-10-thang-ky-luc-884213.html"
    )
    assert doc.title == "Gạo Việt xuất khẩu 10 tháng đạt kỷ lục"
    assert doc.text.startswith("Lượng gạo xuất khẩu 10 tháng năm 2023")
    assert "#" not in doc.text and "newsid" not in doc.text
    assert_offsets(doc)


def test_comment_header_source_defaults_to_host_and_markdown_heading_is_text() -> None:
    doc = parse_document(
        "a", "# url = https://www.vnexpress.net/a.html\n# date = 20210428\nBài viết."
    )
    assert (doc.source, doc.date, doc.text) == ("vnexpress.net", "2021-04-28", "Bài viết.")
    heading = parse_document("b", "# Tiêu đề = bài mới\nNội dung.")  # no known key: text
    assert heading.text.startswith("# Tiêu đề")


def test_front_matter_dates_are_iso_and_unknown_stays_empty() -> None:
    doc = parse_document("a", "---\ndate: 17/11/2023\nsource: Báo X\n---\nBài.")
    assert (doc.date, doc.source, doc.url) == ("2023-11-17", "Báo X", "")
    assert parse_document("b", "---\ndate: sắp tới\n---\nBài.").date == ""
    assert parse_document("c", "Bài không có ngày.").date == ""


def test_corpus_folder_reads_pages_and_headers() -> None:
    docs = {d.doc_id: d for d in read_corpus(NEWS)}
    assert set(docs) == {
        "baocangbien-fdi-2021",
        "thoibaodongbang-gao-2023",
        "nhipsongso-gao-10-thang",
        "haiphong-fdi-2023",
        "quangninh-fdi-2021",
        "cpi-thang-10-2023",
        "dalat-du-lich-2022",
    }  # feeds are not articles: they are added with `qa add --feed`
    assert all(d.date for d in docs.values())


# -- fetching --------------------------------------------------------------------------------------
def _slow(handler: http.server.BaseHTTPRequestHandler) -> None:
    """A page that trickles in: a byte now and then, 4 s in all."""
    handler.send_response(200)
    handler.send_header("Content-Type", "text/html")
    handler.end_headers()
    for _ in range(40):
        handler.wfile.write(b"<p>x</p>")
        handler.wfile.flush()
        time.sleep(0.1)


def _redirect(handler: http.server.BaseHTTPRequestHandler) -> None:
    handler.send_response(302)
    handler.send_header("Location", "/page")
    handler.end_headers()


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    routes = {
        "/page": (
            200,
            "text/html; charset=utf-8",
            (NEWS / "baocangbien-fdi-2021.html").read_bytes(),
        ),
        "/feed": (200, "application/rss+xml", (NEWS / "tinnhanhviet-kinh-te.rss").read_bytes()),
        "/latin": (200, "text/html; charset=iso-8859-1", "<p>Café Déjà</p>".encode("latin-1")),
        "/big": (200, "text/html", b"x" * 5000),
        "/slow": _slow,
        "/redirect": _redirect,
    }
    with static_site(routes) as url:
        yield url


def test_fetch_page_and_feed(site: str) -> None:
    page = fetch(f"{site}/redirect", max_bytes=1_000_000)
    assert page.url == f"{site}/page" and page.content_type == "text/html"
    assert extract_page(page.text(), page.url).date == "2021-04-28"
    feed = fetch(f"{site}/feed", max_bytes=1_000_000)
    assert len(read_feed(feed.data, feed.url)) == 3
    assert fetch(f"{site}/latin", max_bytes=1000).text() == "<p>Café Déjà</p>"


@pytest.mark.parametrize(
    ("path", "limit", "timeout", "message"),
    [
        ("/missing", 1000, 5.0, "HTTP 404"),
        ("/big", 1000, 5.0, "over the limit of 1000"),
        ("/slow", 1_000_000, 1.0, "within 1 s"),
    ],
)
def test_fetch_refusals(site: str, path: str, limit: int, timeout: float, message: str) -> None:
    started = time.monotonic()
    with pytest.raises(DocumentError, match=message):
        fetch(f"{site}{path}", max_bytes=limit, timeout=timeout)
    assert time.monotonic() - started < 3.5


def test_fetch_refuses_other_schemes_and_dead_ports() -> None:
    with pytest.raises(DocumentError, match="only http"):
        fetch("file:///etc/passwd", max_bytes=1000)
    with pytest.raises(DocumentError, match="cannot fetch"):
        fetch("http://127.0.0.1:9/", max_bytes=1000, timeout=2.0)


def test_page_with_too_many_elements_is_refused(monkeypatch) -> None:
    from qa.ingest import html

    monkeypatch.setattr(html, "MAX_ELEMENTS", 50)
    with pytest.raises(DocumentError, match=r"the page has \d+ HTML elements; the limit is 50"):
        read_document(NEWS / "baocangbien-fdi-2021.html")
