"""multimodal.fetch: SSRF rules, redirects, limits — against a fixture server on 127.0.0.1 only.

Every test runs under a guard that makes any socket connect or name lookup to a non-loopback address
fail before it leaves the machine, so even a regression in the refusal logic cannot cause real traffic.
Public-address acceptance is tested on the address checker directly, never by connecting.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from core.config import FetchConfig
from core.errors import AdriskError, InvalidInput, PayloadTooLarge, Unavailable, UnprocessableInput
from multimodal.fetch import (
    MAX_URL_LENGTH,
    FetchedPage,
    Resolver,
    fetch_page,
    is_forbidden_address,
    parse_ip_literal,
)

MAX_BYTES = 4096
PAGE = b"<!doctype html><html><head><title>Offer</title></head><body>Buy now</body></html>"


# ------------------------------------------------------------------------------ network guard
def _is_loopback(host: object) -> bool:
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return str(host) == "localhost"


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Refuse (and record) any connect or lookup that is not to loopback."""
    attempts: list[object] = []
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def check(address: Any) -> None:
        if isinstance(address, tuple) and not _is_loopback(address[0]):
            attempts.append(address)
            raise ConnectionRefusedError(f"test guard: no traffic to {address!r}")

    def connect(self: socket.socket, address: Any) -> None:
        check(address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        check(address)
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not _is_loopback(host.decode() if isinstance(host, bytes) else host):
            attempts.append(host)
            raise socket.gaierror(socket.EAI_NONAME, f"test guard: no lookup of {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield attempts
    assert attempts == [], f"non-loopback traffic was attempted: {attempts}"


# ------------------------------------------------------------------------------ fixture server
@dataclass
class Server:
    port: int
    hits: list[str] = field(default_factory=list)
    cookies: dict[str, str | None] = field(default_factory=dict)
    headers: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def allow(self) -> list[str]:
        return [f"127.0.0.1:{self.port}"]


def _app(server: Server) -> web.Application:
    @web.middleware
    async def record(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        server.hits.append(request.path)
        server.cookies[request.path] = request.headers.get("Cookie")
        server.headers[request.path] = dict(request.headers)
        return await handler(request)

    async def page(request: web.Request) -> web.Response:
        return web.Response(body=PAGE, content_type="text/html", charset="utf-8")

    async def xhtml(request: web.Request) -> web.Response:
        return web.Response(body=PAGE, content_type="application/xhtml+xml")

    async def chain(request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        location = f"/redirect-chain/{n - 1}" if n > 0 else "/page"  # relative on purpose
        return web.Response(status=302, headers={"Location": location})

    def redirect_to(location: str) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(request: web.Request) -> web.Response:
            return web.Response(status=302, headers={"Location": location})

        return handler

    async def redirect(request: web.Request) -> web.Response:
        return web.Response(status=307, headers={"Location": request.query["to"]})

    async def big(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/html"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for _ in range(16):
            await resp.write(b"<p>" + b"x" * 1020)
        await resp.write_eof()
        return resp

    async def sized(request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        return web.Response(body=b"<html>" + b"x" * (n - 6), content_type="text/html")

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(10)
        return web.Response(body=PAGE, content_type="text/html")

    async def slow_body(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/html"})
        await resp.prepare(request)
        for _ in range(100):
            await resp.write(b"<p>")
            await asyncio.sleep(0.1)
        return resp

    async def binary(request: web.Request) -> web.Response:
        return web.Response(body=PAGE, content_type="application/octet-stream")

    async def set_cookie(request: web.Request) -> web.Response:
        resp = web.Response(status=302, headers={"Location": "/echo-cookie"})
        resp.set_cookie("session", "secret", path="/")
        return resp

    async def echo_cookie(request: web.Request) -> web.Response:
        resp = web.Response(body=PAGE, content_type="text/html")
        resp.set_cookie("again", "1", path="/")
        return resp

    async def not_found(request: web.Request) -> web.Response:
        return web.Response(status=404, body=PAGE, content_type="text/html")

    app = web.Application(middlewares=[record])
    app.add_routes(
        [
            web.get("/page", page),
            web.get("/xhtml", xhtml),
            web.get("/redirect-chain/{n}", chain),
            web.get("/redirect-to-metadata", redirect_to("http://169.254.169.254/latest/meta-data/")),
            web.get("/redirect-to-private", redirect_to("http://10.0.0.1/")),
            web.get("/redirect", redirect),
            web.get("/big", big),
            web.get("/sized/{n}", sized),
            web.get("/slow", slow),
            web.get("/slow-body", slow_body),
            web.get("/binary", binary),
            web.get("/set-cookie", set_cookie),
            web.get("/echo-cookie", echo_cookie),
            web.get("/missing", not_found),
        ]
    )
    return app


@contextlib.asynccontextmanager
async def serve() -> AsyncIterator[Server]:
    server = Server(port=0)
    runner = web.AppRunner(_app(server), handler_cancellation=True, shutdown_timeout=0.5, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.port = runner.addresses[0][1]
    try:
        yield server
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def raw_server(response: bytes) -> AsyncIterator[int]:
    """A bare HTTP server (for responses aiohttp.web will not produce, e.g. no Content-Type)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(response)
        await writer.drain()
        writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield srv.sockets[0].getsockname()[1]
    finally:
        srv.close()
        await srv.wait_closed()


def config(**overrides: Any) -> FetchConfig:
    values: dict[str, Any] = {"enabled": True, "max_bytes": MAX_BYTES, "timeout_s": 3.0, "max_redirects": 3}
    values.update(overrides)
    return FetchConfig(**values)


class FakeDNS:
    """An injected resolver with a fixed table; records every lookup."""

    def __init__(self, table: dict[str, list[str]] | None = None) -> None:
        self.table = table or {}
        self.calls: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, f"fake DNS: unknown host {host!r}")
        return list(self.table[host])


def run(coro: Awaitable[FetchedPage]) -> FetchedPage:
    async def main() -> FetchedPage:
        return await coro

    return asyncio.run(main())


def fetch_with_server(
    make_url: Callable[[Server], str],
    make_config: Callable[[Server], FetchConfig] | None = None,
    resolver: Resolver | None = None,
) -> tuple[FetchedPage | AdriskError, Server]:
    """Start the fixture server, fetch one URL, stop it; return the page or the error, and the server."""

    async def main() -> tuple[FetchedPage | AdriskError, Server]:
        async with serve() as server:
            cfg = make_config(server) if make_config else config(allow_hosts=server.allow)
            try:
                return await fetch_page(make_url(server), cfg, resolver=resolver or FakeDNS()), server
            except AdriskError as e:
                return e, server

    return asyncio.run(main())


# ------------------------------------------------------------------------------------- basics
def test_disabled_is_refused() -> None:
    with pytest.raises(InvalidInput, match="disabled"):
        run(fetch_page("http://example.com/", FetchConfig(enabled=False), resolver=FakeDNS()))


def test_loopback_without_allow_list_is_refused_without_connecting() -> None:
    result, server = fetch_with_server(lambda s: f"{s.base}/page", lambda s: config())
    assert isinstance(result, InvalidInput)
    assert server.hits == []


def test_allow_listed_fixture_page_is_fetched() -> None:
    result, server = fetch_with_server(lambda s: f"{s.base}/page#frag")
    assert isinstance(result, FetchedPage)
    assert result.status == 200
    assert result.body == PAGE
    assert result.content_type.startswith("text/html")
    assert result.url == f"{server.base}/page#frag"
    assert result.final_url == f"{server.base}/page"
    assert result.redirects == []
    headers = server.headers["/page"]
    assert headers["User-Agent"] == FetchConfig().user_agent
    assert headers["Accept"].startswith("text/html")
    assert "Cookie" not in headers


def test_xhtml_and_non_2xx_pages_are_returned() -> None:
    result, _ = fetch_with_server(lambda s: f"{s.base}/xhtml")
    assert isinstance(result, FetchedPage) and result.content_type == "application/xhtml+xml"
    result, _ = fetch_with_server(lambda s: f"{s.base}/missing")
    assert isinstance(result, FetchedPage) and result.status == 404


def test_allow_list_host_only_entry_and_wrong_port() -> None:
    result, _ = fetch_with_server(lambda s: f"{s.base}/page", lambda s: config(allow_hosts=["127.0.0.1"]))
    assert isinstance(result, FetchedPage)
    result, server = fetch_with_server(
        lambda s: f"{s.base}/page", lambda s: config(allow_hosts=[f"127.0.0.1:{s.port + 1}"])
    )
    assert isinstance(result, InvalidInput) and server.hits == []


def test_allow_listed_hostname_connects_only_to_the_checked_address() -> None:
    dns = FakeDNS({"fixture.test": ["127.0.0.1"]})
    result, server = fetch_with_server(
        lambda s: f"http://fixture.test:{s.port}/redirect-chain/2",
        lambda s: config(allow_hosts=[f"fixture.test:{s.port}"]),
        resolver=dns,
    )
    assert isinstance(result, FetchedPage) and result.body == PAGE
    # one lookup per hop, by fetch_page itself; aiohttp never resolves the name again
    assert dns.calls == [("fixture.test", server.port)] * 4
    assert server.headers["/page"]["Host"] == f"fixture.test:{server.port}"


def test_allow_list_does_not_cover_the_same_address_under_another_name() -> None:
    dns = FakeDNS({"other.test": ["127.0.0.1"]})
    result, server = fetch_with_server(lambda s: f"http://other.test:{s.port}/page", resolver=dns)
    assert isinstance(result, InvalidInput) and server.hits == []


# ---------------------------------------------------------------------------------- redirects
def test_redirect_chain_within_cap() -> None:
    result, server = fetch_with_server(lambda s: f"{s.base}/redirect-chain/2")
    assert isinstance(result, FetchedPage)
    assert result.final_url == f"{server.base}/page"
    assert result.redirects == [
        f"{server.base}/redirect-chain/1",
        f"{server.base}/redirect-chain/0",
        f"{server.base}/page",
    ]


def test_redirect_chain_over_cap_is_refused() -> None:
    result, server = fetch_with_server(lambda s: f"{s.base}/redirect-chain/3")
    assert isinstance(result, UnprocessableInput)
    assert len(server.hits) == 4  # the original request and the 3 allowed hops; the 4th redirect stops it


def test_zero_redirects_allowed() -> None:
    result, server = fetch_with_server(
        lambda s: f"{s.base}/redirect-chain/0", lambda s: config(allow_hosts=s.allow, max_redirects=0)
    )
    assert isinstance(result, UnprocessableInput) and server.hits == ["/redirect-chain/0"]


@pytest.mark.parametrize("path", ["/redirect-to-metadata", "/redirect-to-private"])
def test_redirect_to_metadata_or_private_is_refused(path: str) -> None:
    result, server = fetch_with_server(lambda s: f"{s.base}{path}")
    assert isinstance(result, InvalidInput)
    assert server.hits == [path]


@pytest.mark.parametrize(
    "location",
    [
        "file:///etc/passwd",
        "gopher://127.0.0.1:70/",
        "http://user:pw@127.0.0.1/",
        "http://2130706433/",
        "http://[::1]/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://127.0.0.1:1/",  # loopback, but not the allow-listed port
    ],
)
def test_every_rule_applies_to_redirect_locations(location: str) -> None:
    result, server = fetch_with_server(lambda s: f"{s.base}/redirect?to={location}")
    assert isinstance(result, InvalidInput)
    assert server.hits == ["/redirect"]


def test_cookies_are_never_sent_back() -> None:
    result, server = fetch_with_server(lambda s: f"{s.base}/set-cookie")
    assert isinstance(result, FetchedPage)
    assert server.hits == ["/set-cookie", "/echo-cookie"]
    assert server.cookies == {"/set-cookie": None, "/echo-cookie": None}


# -------------------------------------------------------------------------------- URL syntax
@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/file",
        "gopher://example.com:70/_GET",
        "javascript:alert(1)",
        "data:text/html,<p>x</p>",
        "http://user:pw@example.com/",
        "http://user@example.com/",
        "http://:@example.com/",
        "http://example.com:99999/",
        "http://example.com:abc/",
        "http://example.com:+80/",
        "http://example.com:0/",
        "http:///path",
        "/relative/path",
        "http://exa mple.com/",
        "http://evil.com\\@example.com/",
        "http://a..b/",
        "http://example.123/",
        "http://256.0.0.1/",
        "http://[fe80::1%25eth0]/",
        "http://example.com/" + "a" * MAX_URL_LENGTH,
    ],
)
def test_malformed_or_disallowed_urls_are_refused(url: str) -> None:
    dns = FakeDNS({"example.com": ["93.184.216.34"]})
    with pytest.raises(InvalidInput):
        run(fetch_page(url, config(), resolver=dns))
    assert dns.calls == []


@pytest.mark.parametrize(
    "host",
    [
        "2130706433",  # decimal
        "0x7f000001",  # hex
        "017700000001",  # octal
        "0x7f.1",
        "0177.0.0.1",
        "0x7f.0.0.1",
        "127.1",
        "127.0.0.1.",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "[::ffff:7f00:1]",
        "[0:0:0:0:0:0:0:1]",
    ],
)
def test_loopback_ip_literals_in_any_spelling_are_refused(host: str) -> None:
    dns = FakeDNS()
    result, server = fetch_with_server(lambda s: f"http://{host}:{s.port}/page", lambda s: config(), resolver=dns)
    assert isinstance(result, InvalidInput)
    assert server.hits == [] and dns.calls == []


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7F.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("10.1", "10.0.0.1"),
        ("192.168.257", "192.168.1.1"),
        ("0", "0.0.0.0"),
        ("::ffff:127.0.0.1", "::ffff:7f00:1"),
        ("example.com", None),
        ("1.2.3.4.5", None),
        ("0x7g.1", None),
        ("4294967296", None),
    ],
)
def test_ip_literal_normalisation(host: str, expected: str | None) -> None:
    parsed = parse_ip_literal(host)
    assert (str(parsed) if parsed is not None else None) == expected


def test_allow_list_entries_are_matched_after_normalisation() -> None:
    result, _ = fetch_with_server(lambda s: f"http://0x7f.1:{s.port}/page")
    assert isinstance(result, FetchedPage)
    assert result.final_url.startswith("http://127.0.0.1:")


# ------------------------------------------------------------------------------ address rules
@pytest.mark.parametrize(
    "addr",
    ["93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:2800:220:1:248:1893:25c8:1946", "2001:4860:4860::8888"],
)
def test_public_addresses_are_allowed(addr: str) -> None:
    assert is_forbidden_address(addr) is False


@pytest.mark.parametrize(
    "addr",
    [
        "127.0.0.1",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "100.64.0.1",  # CGNAT
        "100.127.255.254",
        "169.254.169.254",  # metadata / link-local
        "169.254.1.1",
        "168.63.129.16",  # Azure wire server
        "224.0.0.1",  # multicast
        "240.0.0.1",  # reserved
        "255.255.255.255",
        "0.0.0.0",
        "::",
        "::1",
        "fe80::1",
        "fc00::1",
        "fd00:ec2::254",  # AWS IMDS v6
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "2002:7f00:1::",  # 6to4 wrapping 127.0.0.1
        "64:ff9b::a00:1",  # NAT64 wrapping 10.0.0.1
        "not-an-address",
    ],
)
def test_non_public_addresses_are_forbidden(addr: str) -> None:
    assert is_forbidden_address(addr) is True


def test_any_private_answer_refuses_the_host() -> None:
    dns = FakeDNS({"mixed.example": ["93.184.216.34", "10.0.0.5"]})
    with pytest.raises(InvalidInput, match="non-public"):
        run(fetch_page("http://mixed.example/", config(), resolver=dns))
    assert dns.calls == [("mixed.example", 80)]


def test_https_default_port_is_used_for_resolution() -> None:
    dns = FakeDNS({"secure.example": ["192.168.0.10"]})
    with pytest.raises(InvalidInput):
        run(fetch_page("https://secure.example/", config(), resolver=dns))
    assert dns.calls == [("secure.example", 443)]


def test_metadata_hostname_is_refused_without_resolving() -> None:
    dns = FakeDNS({"metadata.google.internal": ["93.184.216.34"]})
    for url in ("http://metadata.google.internal/", "http://METADATA.google.internal./computeMetadata/v1/"):
        with pytest.raises(InvalidInput, match="metadata"):
            run(fetch_page(url, config(allow_hosts=["metadata.google.internal"]), resolver=dns))
    assert dns.calls == []


def test_metadata_address_is_refused_even_when_allow_listed() -> None:
    with pytest.raises(InvalidInput, match="metadata"):
        run(fetch_page("http://169.254.169.254/latest/", config(allow_hosts=["169.254.169.254"]), resolver=FakeDNS()))


@pytest.mark.parametrize("answers", [[], ["not-an-ip"]])
def test_unusable_resolver_answers(answers: list[str]) -> None:
    dns = FakeDNS({"odd.example": answers})
    with pytest.raises((Unavailable, InvalidInput)) as info:
        run(fetch_page("http://odd.example/", config(), resolver=dns))
    assert isinstance(info.value, Unavailable if not answers else InvalidInput)


def test_resolution_failure_is_unavailable() -> None:
    with pytest.raises(Unavailable):
        run(fetch_page("http://nowhere.example/", config(), resolver=FakeDNS()))


# ------------------------------------------------------------------------ size, time, type
def test_big_streamed_body_is_too_large() -> None:
    result, _ = fetch_with_server(lambda s: f"{s.base}/big")
    assert isinstance(result, PayloadTooLarge)
    assert result.http_status == 413


def test_body_exactly_at_the_limit_is_accepted_and_one_more_byte_is_not() -> None:
    result, _ = fetch_with_server(lambda s: f"{s.base}/sized/{MAX_BYTES}")
    assert isinstance(result, FetchedPage) and len(result.body) == MAX_BYTES
    result, _ = fetch_with_server(lambda s: f"{s.base}/sized/{MAX_BYTES + 1}")
    assert isinstance(result, PayloadTooLarge)


@pytest.mark.parametrize("path", ["/slow", "/slow-body"])
def test_slow_site_times_out_as_unavailable(path: str) -> None:
    start = time.monotonic()
    result, _ = fetch_with_server(lambda s: f"{s.base}{path}", lambda s: config(allow_hosts=s.allow, timeout_s=0.5))
    elapsed = time.monotonic() - start
    assert isinstance(result, Unavailable)
    assert result.http_status == 503
    assert elapsed < 3.0


def test_connection_refused_is_unavailable() -> None:
    async def main() -> None:
        async with serve() as server:
            closed_port = server.port
        with pytest.raises(Unavailable):
            await fetch_page(
                f"http://127.0.0.1:{closed_port}/page", config(allow_hosts=[f"127.0.0.1:{closed_port}"]), FakeDNS()
            )

    asyncio.run(main())


def test_binary_content_type_is_unprocessable() -> None:
    result, _ = fetch_with_server(lambda s: f"{s.base}/binary")
    assert isinstance(result, UnprocessableInput)
    assert result.http_status == 422


@pytest.mark.parametrize(
    ("body", "accepted"),
    [(PAGE, True), (b"\n  <HTML><body>hi</body></HTML>", True), (b"%PDF-1.7 binary", False)],
)
def test_missing_content_type_is_sniffed(body: bytes, accepted: bool) -> None:
    response = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)

    async def main() -> FetchedPage | AdriskError:
        async with raw_server(response) as port:
            try:
                return await fetch_page(f"http://127.0.0.1:{port}/", config(allow_hosts=["127.0.0.1"]), FakeDNS())
            except AdriskError as e:
                return e

    result = asyncio.run(main())
    if accepted:
        assert isinstance(result, FetchedPage) and result.body == body and result.content_type == ""
    else:
        assert isinstance(result, UnprocessableInput)
