"""Fetching a page or a feed by URL: http(s) only, a timeout, a size cap, one clear error.

Used by the CLI (`qa add URL`, `qa add --feed URL`), never by the HTTP API: a server that
fetched URLs for its clients would let them reach whatever the server can reach.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from qa.errors import DocumentError

USER_AGENT = "qa-news/0.1"


@dataclass(frozen=True)
class Fetched:
    url: str  # after redirects
    data: bytes
    content_type: str
    charset: str

    def text(self) -> str:
        """The body decoded by the charset the server declared (UTF-8 when it declared none)."""
        try:
            return self.data.decode(self.charset or "utf-8-sig")
        except (LookupError, UnicodeDecodeError) as exc:
            raise DocumentError(
                f"{self.url}: cannot decode the page as {self.charset or 'UTF-8'}"
            ) from exc


def saved_page(page: Fetched) -> tuple[str, bytes]:
    """(file name, UTF-8 bytes) of a fetched page as an article file, with the URL kept the way
    browsers keep it (`<!-- saved from url=(N)URL -->`, read back by `qa.ingest.html`)."""
    path = urlsplit(page.url).path.rstrip("/")
    stem = (
        re.sub(r"\.(html?|aspx?|php)$", "", path.rsplit("/", 1)[-1]) or urlsplit(page.url).hostname
    )
    html = f"<!-- saved from url=({len(page.url):04d}){page.url} -->\n{page.text()}"
    return f"{stem}.html", html.encode("utf-8")


def is_url(value: str) -> bool:
    return urlsplit(value).scheme.lower() in ("http", "https")


def fetch(url: str, max_bytes: int, timeout: float = 10.0) -> Fetched:
    """GET `url` (redirects followed, at most 5), refusing bodies over `max_bytes` while they
    stream in and answers that take longer than `timeout` seconds in all (httpx's timeout is
    per read, which a server sending a byte now and then would never reach). Every failure is
    a DocumentError naming the URL and what went wrong."""
    deadline = time.monotonic() + timeout
    if not is_url(url):
        raise DocumentError(f"{url!r}: only http:// and https:// URLs can be fetched")
    try:
        with (
            httpx.Client(
                timeout=timeout,
                follow_redirects=True,
                max_redirects=5,
                headers={"User-Agent": USER_AGENT},
            ) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code >= 400:
                raise DocumentError(f"{url}: the server answered HTTP {response.status_code}")
            declared = int(response.headers.get("content-length") or 0)
            if declared > max_bytes:
                raise DocumentError(f"{url}: {declared} bytes is over the limit of {max_bytes}")
            body = bytearray()
            for block in response.iter_bytes():
                body += block
                if time.monotonic() > deadline:
                    raise httpx.ReadTimeout("deadline")
                if len(body) > max_bytes:
                    raise DocumentError(
                        f"{url}: more than {max_bytes} bytes; the limit is {max_bytes}"
                    )
            return Fetched(
                url=str(response.url),
                data=bytes(body),
                content_type=response.headers.get("content-type", "").split(";")[0].strip(),
                charset=response.charset_encoding or "",
            )
    except httpx.TimeoutException as exc:
        raise DocumentError(f"{url}: no complete answer within {timeout:g} s") from exc
    except httpx.TooManyRedirects as exc:
        raise DocumentError(f"{url}: too many redirects") from exc
    except httpx.HTTPError as exc:
        raise DocumentError(f"{url}: cannot fetch ({type(exc).__name__}: {exc})") from exc
