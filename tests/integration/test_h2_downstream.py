# SPDX-License-Identifier: Apache-2.0
"""Downstream HTTP/2 through the HTTP connection manager (upstreams stay HTTP/1.1), with
Envoy's semantics, through the real binary with real clients: curl (--http2-prior-knowledge,
ALPN h2), nghttp, h2load, and a frame-level python3-h2 client (h2_helpers.H2Client) for what
the tools hide: SETTINGS and windows, RST_STREAM, GOAWAY, invalid messages.

Covered: codec_type HTTP2 / AUTO (preface and ALPN on one listener) / HTTP1; the request as
the HTTP/1.1 origin sees it (cookie crumbs joined, Expect answered locally); the response
headers (hop-by-hop never sent, CONTINUATION for large heads, HEAD/204 bodiless); stats and
%PROTOCOL%; multiplexing (h2load, nghttp, out-of-order completion); large bodies and flow
control both ways (small proxy windows, a client that stops reading or starts at window 0,
early local replies during an upload); per-stream failures (UF, UT, origin resets,
content-length mismatch, stream idle timeout); header limits; http2_protocol_options (the
SETTINGS frame, Envoy's defaults, config errors); invalid messaging (GOAWAY); drain; idle
timeout; x-envoy-* sanitizing; client resets and abrupt closes."""
import hashlib
import os
import re
import socket
import subprocess
import time
from types import SimpleNamespace

import pytest

from conftest import REMORA_BIN, free_port, rss_kb
from h2_helpers import (FRAME_SETTINGS, MAX_STREAM_ID, PREFACE, H2Client, Settings, parse_frames,
                        read_raw_until_close, tls_h2_socket)
from http_helpers import (BODY_UF, BODY_UT, IMF_DATE_RE, UUID4_RE, HttpConn, RssSampler,
                          bootstrap_json, build_request, cluster, curl, file_log, hcm,
                          http_listener, one_request, origins, py_origins, route,
                          sha256_of_repeated, start_proxy, stats, vhost,
                          wait_log_match, wait_stat, wait_stats)
from test_tls import certs, client_ctx, tls_listener, tls_socket

assert origins and py_origins and certs  # fixtures, used by name

MiB = 1 << 20
P = "http.ingress_http."
LOG_FMT = "%REQ(:PATH)% %PROTOCOL% %RESPONSE_CODE% %RESPONSE_FLAGS%\n"
HOP_BY_HOP = ("connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade")
BODY_RESET_BEFORE_HEADERS = "upstream connect error or disconnect/reset before headers"
TYPED = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config."


# ---- setup -----------------------------------------------------------------------------------

def h2_proxy(remora, tmp_path, origin_port=None, codec="HTTP2", routes=None, hcm_extra=None,
             clusters=(), args=(), ts=None):
    """One listener (plaintext, or TLS with transport socket `ts`) → cluster "origin".
    codec=None leaves codec_type out (Envoy's default, AUTO). Returns .r, .port, .log, .url."""
    port = free_port()
    log = os.path.join(str(tmp_path), f"access-{port}.log")
    extra = dict(hcm_extra or {})
    if codec:
        extra["codec_type"] = codec
    h = hcm([vhost("backend", ["*"], routes or [route("/", "origin")])],
            access_log=[file_log(log, LOG_FMT)], **extra)
    lst = tls_listener("h2", port, h, ts) if ts else http_listener("h2", port, h)
    cls = ([cluster("origin", [origin_port])] if origin_port else []) + list(clusters)
    r = start_proxy(remora, [lst], cls, args=args)
    return SimpleNamespace(r=r, port=port, log=log, url=f"http://127.0.0.1:{port}")


def curl_v(url, *args, timeout=20):
    """curl (http_helpers.curl) plus the HTTP version curl used ("2", "1.1"), from -w."""
    res = curl(url, "-w", "%{stderr}HTTPVERSION=%{http_version}\n", *args, timeout=timeout)
    m = re.search(r"HTTPVERSION=(\S+)", res.stderr)
    res.version = m.group(1) if m else None
    return res


def log_fields(path, url_path, what=None):
    """The access log line of `url_path`, split: [path, protocol, code, flags]."""
    line = wait_log_match(path, lambda l: l.split(" ")[0] == url_path,
                          what=what or f"log line of {url_path}")
    return line.split(" ")


def assert_no_hop_by_hop(resp):
    for name in HOP_BY_HOP:
        assert not resp.has(name), (name, resp.headers)


# ---- codec selection -------------------------------------------------------------------------

def test_codec_http2_prior_knowledge_with_curl(remora, tmp_path, origins):
    o = origins("alpha")
    p = h2_proxy(remora, tmp_path, o.port, codec="HTTP2")
    res = curl_v(f"{p.url}/echo?q=1", "--http2-prior-knowledge", "-H", "x-test: a")
    assert res.rc == 0, res.stderr
    assert res.version == "2", res.stderr
    assert res.status == 200
    assert res.get("x-origin-name") == "alpha"
    echo = res.json()
    assert (echo["method"], echo["path"], echo["version"]) == ("GET", "/echo?q=1", "HTTP/1.1")
    assert echo["headers"]["host"] == f"127.0.0.1:{p.port}"   # the :authority curl sent
    assert echo["headers"]["x-test"] == "a"

    payload = os.urandom(5000)
    path = os.path.join(str(tmp_path), "small.bin")
    with open(path, "wb") as f:
        f.write(payload)
    res = curl_v(f"{p.url}/echo", "--http2-prior-knowledge", "--data-binary", f"@{path}")
    assert res.rc == 0 and res.version == "2", res.stderr
    echo = res.json()
    assert echo["method"] == "POST"
    assert echo["body_bytes"] == len(payload)
    assert echo["body_sha256"] == hashlib.sha256(payload).hexdigest()
    wait_stats(p.r, {P + "downstream_cx_http2_total": 2, P + "downstream_rq_http2_total": 2})


def test_codec_http2_refuses_http1(remora, tmp_path, origins):
    """codec_type HTTP2: an HTTP/1.1 request is not answered in HTTP/1.1; the connection is
    closed (after, at most, the server's SETTINGS and a GOAWAY)."""
    o = origins()
    p = h2_proxy(remora, tmp_path, o.port, codec="HTTP2")
    with socket.create_connection(("127.0.0.1", p.port), timeout=5) as s:
        s.sendall(build_request("GET", "/echo"))
        data, closed = read_raw_until_close(s, timeout=5)
    assert closed, f"connection still open after an HTTP/1.1 request: {data[:200]!r}"
    assert not data.startswith(b"HTTP/"), data[:200]
    for ftype, _, _, _ in parse_frames(data):
        assert ftype in (FRAME_SETTINGS, 0x7, 0x8, 0x6), data[:200]   # SETTINGS/GOAWAY/WU/PING
    st = stats(p.r)
    assert st.get(P + "downstream_rq_total", 0) == 0, st
    assert st.get("cluster.origin.upstream_rq_total", 0) == 0


def test_codec_auto_detects_preface_on_one_listener(remora, tmp_path, origins):
    """codec_type left out (AUTO): the HTTP/2 preface gets HTTP/2, anything else HTTP/1.1,
    on the same plaintext listener; a preface split over two TCP segments still counts."""
    o = origins()
    p = h2_proxy(remora, tmp_path, o.port, codec=None)
    res = curl_v(f"{p.url}/echo", "--http2-prior-knowledge")
    assert (res.rc, res.version, res.status) == (0, "2", 200), res.stderr
    res = curl_v(f"{p.url}/echo")
    assert (res.rc, res.version, res.status) == (0, "1.1", 200), res.stderr
    assert res.json()["version"] == "HTTP/1.1"
    # "PRI * HTTP/2.0\r\n" first, the rest of the preface (and SETTINGS) 100 ms later.
    with H2Client(p.port, split_preface=16) as c:
        c.handshake()
        r = c.request("GET", "/echo")
        assert r.status == 200, r
        assert r.json()["headers"]["host"] == "h2.test"
    # An HTTP/1.1 request in two segments.
    with HttpConn(p.port) as c:
        wire = build_request("GET", "/echo?split")
        c.send(wire[:2])
        time.sleep(0.1)
        c.send(wire[2:])
        res = c.read_response()
        assert res.status == 200 and res.json()["path"] == "/echo?split"
    wait_stats(p.r, {P + "downstream_cx_http2_total": 2, P + "downstream_cx_http1_total": 2,
                     P + "downstream_rq_http2_total": 2, P + "downstream_rq_http1_total": 2})


def test_codec_auto_alpn_h2_over_tls(remora, tmp_path, origins, certs):
    """TLS with alpn_protocols [h2, http/1.1]: ALPN h2 gets HTTP/2 (x-forwarded-proto
    https), http/1.1 gets HTTP/1.1, on the same listener."""
    o = origins("tls")
    p = h2_proxy(remora, tmp_path, o.port, codec=None,
                 ts=tls_socket(certs, alpn=["h2", "http/1.1"]))
    url = f"https://localhost:{p.port}"
    res = curl_v(f"{url}/echo?tls=2", "--http2", "--cacert", certs.ca_crt, "-v")
    assert res.rc == 0, res.stderr
    assert "ALPN: server accepted h2" in res.stderr, res.stderr
    assert (res.version, res.status) == ("2", 200)
    echo = res.json()
    assert echo["version"] == "HTTP/1.1"
    assert echo["headers"]["x-forwarded-proto"] == "https"
    assert echo["headers"]["host"] == f"localhost:{p.port}"

    res = curl_v(f"{url}/echo?tls=1", "--http1.1", "--cacert", certs.ca_crt, "-v")
    assert res.rc == 0, res.stderr
    assert "ALPN: server accepted http/1.1" in res.stderr, res.stderr
    assert (res.version, res.status) == ("1.1", 200)

    # python3-h2 over an ssl socket that negotiated h2.
    s = tls_h2_socket(p.port, client_ctx(certs, alpn=["h2", "http/1.1"]))
    assert s.selected_alpn_protocol() == "h2"
    with H2Client(sock=s) as c:
        c.handshake()
        r = c.request("GET", "/echo?tls=py", authority="localhost")
        assert r.status == 200, r
        assert r.json()["headers"]["x-forwarded-proto"] == "https"
    assert log_fields(p.log, "/echo?tls=2")[1:3] == ["HTTP/2", "200"]
    assert log_fields(p.log, "/echo?tls=1")[1:3] == ["HTTP/1.1", "200"]
    assert log_fields(p.log, "/echo?tls=py")[1:3] == ["HTTP/2", "200"]
    wait_stats(p.r, {P + "downstream_cx_http2_total": 2, P + "downstream_cx_http1_total": 1})


def test_codec_http1_does_not_speak_h2(remora, tmp_path, origins):
    """codec_type HTTP1: the HTTP/2 preface is a malformed HTTP/1.1 request: an HTTP/1.1
    error status (or a close), never an HTTP/2 frame."""
    o = origins()
    p = h2_proxy(remora, tmp_path, o.port, codec="HTTP1")
    with socket.create_connection(("127.0.0.1", p.port), timeout=5) as s:
        s.sendall(PREFACE + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")   # + empty SETTINGS
        data, closed = read_raw_until_close(s, timeout=5)
    assert closed, f"connection left open after an HTTP/2 preface: {data[:200]!r}"
    if data:
        m = re.match(rb"HTTP/1\.1 (\d{3}) ", data)
        assert m and int(m.group(1)) >= 400, data[:200]
    res = curl_v(f"{p.url}/echo", "--http2-prior-knowledge", timeout=5)
    assert res.version != "2" and res.status != 200, (res.rc, res.version, res.stderr)
    res = curl_v(f"{p.url}/echo")
    assert (res.rc, res.version, res.status) == (0, "1.1", 200), res.stderr
    st = stats(p.r)
    assert st.get(P + "downstream_cx_http2_total", 0) == 0, st
    assert st.get("cluster.origin.upstream_rq_total") == 1, st


# ---- the request as the HTTP/1.1 origin sees it ----------------------------------------------

def test_request_forwarded_to_http1_origin(remora, tmp_path, origins):
    o = origins()
    p = h2_proxy(remora, tmp_path, o.port)
    with H2Client(p.port, authority="h2.test:8443") as c:
        c.handshake()
        r = c.request("GET", "/echo?a=1&b=2", [("x-test", "a"), ("x-multi", "1"),
                                               ("x-multi", "2"), ("user-agent", "h2-test")])
        assert r.status == 200, r
        echo = r.json()
        assert (echo["method"], echo["path"], echo["version"]) == \
            ("GET", "/echo?a=1&b=2", "HTTP/1.1")
        h = echo["headers"]
        assert h["host"] == "h2.test:8443"
        assert h["x-test"] == "a"
        assert h["x-multi"] == "1, 2"
        assert h["user-agent"] == "h2-test"
        assert h["x-forwarded-proto"] == "http"
        assert UUID4_RE.match(h["x-request-id"]), h
        assert h["x-envoy-expected-rq-timeout-ms"] == "15000"
        assert "x-forwarded-for" not in h
        assert not any(k.startswith(":") for k in h), h
        assert echo["body_bytes"] == 0
        first_id = h["x-request-id"]

        # A body in three DATA frames, no content-length.
        pieces = [os.urandom(n) for n in (1, 20000, 333)]
        sid = c.send_request("POST", "/echo", [("content-type", "application/x-test")],
                             end_stream=False)
        for i, piece in enumerate(pieces):
            c.send_data(sid, piece, end_stream=i == len(pieces) - 1)
        r = c.response(sid)
        assert r.status == 200, r
        echo = r.json()
        body = b"".join(pieces)
        assert echo["method"] == "POST"
        assert echo["body_bytes"] == len(body)
        assert echo["body_sha256"] == hashlib.sha256(body).hexdigest()
        assert echo["headers"]["content-type"] == "application/x-test"
        assert echo["headers"]["x-request-id"] != first_id   # one per request

        # With content-length, PUT; a client x-request-id is kept.
        body = os.urandom(70000)
        r = c.request("PUT", "/echo", [("content-length", str(len(body))),
                                       ("x-request-id", "client-id-1")], body=body)
        echo = r.json()
        assert (echo["method"], echo["body_bytes"]) == ("PUT", len(body))
        assert echo["body_sha256"] == hashlib.sha256(body).hexdigest()
        assert echo["headers"]["content-length"] == str(len(body))
        assert echo["headers"]["x-request-id"] == "client-id-1"
        for method in ("DELETE", "PATCH", "OPTIONS"):
            assert c.request(method, "/echo").json()["method"] == method


def test_cookie_crumbs_joined_for_http1(remora, tmp_path, origins):
    """RFC 9113 §8.2.3: cookie crumbs sent as separate fields are joined with "; " before the
    request goes to HTTP/1.1 (Envoy's HTTP/2 codec does this); never with ", "."""
    o = origins()
    p = h2_proxy(remora, tmp_path, o.port)
    with H2Client(p.port) as c:
        r = c.request("GET", "/echo", [("cookie", "a=1"), ("x-other", "x"), ("cookie", "b=2"),
                                       ("cookie", "c=3")])
        assert r.status == 200, r
        assert r.json()["headers"]["cookie"] == "a=1; b=2; c=3", r.json()["headers"]


def test_expect_100_continue_over_h2(remora, tmp_path, origins):
    """As over HTTP/1.1, the proxy answers 100 Continue itself (proxy_100_continue off) and
    does not forward Expect."""
    o = origins()
    p = h2_proxy(remora, tmp_path, o.port)
    with H2Client(p.port) as c:
        sid = c.send_request("POST", "/echo", [("expect", "100-continue"),
                                               ("content-length", "5")], end_stream=False)
        c.pump(lambda: c.streams[sid].interim or c.streams[sid].done, 5, what="100 Continue")
        assert c.streams[sid].interim == [[(":status", "100")]], c.streams[sid]
        c.send_data(sid, b"hello", end_stream=True)
        r = c.response(sid)
        assert r.status == 200, r
        echo = r.json()
        assert echo["body_bytes"] == 5 and "expect" not in echo["headers"], echo


# ---- the response ----------------------------------------------------------------------------

def test_response_headers_over_h2(remora, tmp_path, origins):
    o = origins("resp")
    p = h2_proxy(remora, tmp_path, o.port)
    with H2Client(p.port) as c:
        c.handshake()
        r = c.request("GET", "/x", [("x-origin-status", "201"), ("x-origin-size", "1234")])
        assert r.status == 201, r
        assert bytes(r.body) == b"x" * 1234
        assert r.get("content-length") == "1234"
        assert r.get("x-origin-name") == "resp"
        assert r.get_all("server") == ["envoy"]
        assert IMF_DATE_RE.match(r.get("date", "")), r.headers
        assert r.get("x-envoy-upstream-service-time", "").isdigit(), r.headers
        assert all(k == k.lower() for k, _ in r.raw_headers), r.raw_headers
        assert_no_hop_by_hop(r)
        assert [k for k, _ in r.raw_headers].count(":status") == 1
        assert r.raw_headers[0][0] == ":status", r.raw_headers   # pseudo-header first
        r = c.request("GET", "/status/418")
        assert r.status == 418 and r.ended
    res = curl_v(f"{p.url}/y", "--http2-prior-knowledge", "-H", "x-origin-size: 10")
    assert (res.version, res.status, res.body) == ("2", 200, b"x" * 10)
    assert res.get("server") == "envoy"


def test_hop_by_hop_response_headers_never_reach_h2(remora, tmp_path, py_origins):
    """An HTTP/1.1 origin's chunked answer with connection: close, keep-alive,
    proxy-connection and upgrade: none of them (nor transfer-encoding) is sent over HTTP/2,
    the body is intact, names are lowercase, and the connection goes on."""
    py = py_origins()
    body = os.urandom(30000)
    py.script.append({"body": body, "framing": "chunked", "chunk": 1000, "close": True,
                      "headers": [("Keep-Alive", "timeout=5"), ("Proxy-Connection", "close"),
                                  ("Upgrade", "h2c"), ("X-Mixed-Case", "v")]})
    p = h2_proxy(remora, tmp_path, py.port)
    with H2Client(p.port) as c:
        r = c.request("GET", "/chunked")
        assert r.status == 200 and r.ended, r
        assert bytes(r.body) == body
        assert_no_hop_by_hop(r)
        assert not r.has("content-length"), r.headers
        assert r.get("x-mixed-case") == "v"
        assert all(k == k.lower() for k, _ in r.raw_headers), r.raw_headers
        assert r.get_all("server") == ["envoy"]
        r = c.request("GET", "/next")
        assert (r.status, bytes(r.body)) == (200, b"py:/next")
        assert not c.goaways


def test_large_response_headers_use_continuation(remora, tmp_path, py_origins):
    """A 30 KB response header does not fit one 16 KB HEADERS frame: it arrives whole (in
    CONTINUATION frames), with the body, and the connection goes on."""
    py = py_origins()
    py.script.append({"body": b"ok", "headers": [("x-huge", "h" * 30000)] +
                      [(f"x-r{i}", "v" * 50) for i in range(20)]})
    p = h2_proxy(remora, tmp_path, py.port)
    with H2Client(p.port) as c:
        r = c.request("GET", "/bighead")
        assert (r.status, bytes(r.body), r.ended) == (200, b"ok", True), r
        assert r.get("x-huge") == "h" * 30000
        assert [r.get(f"x-r{i}") for i in range(20)] == ["v" * 50] * 20
        assert c.request("GET", "/next").status == 200


def test_head_and_204_have_no_body(remora, tmp_path, origins):
    o = origins()
    p = h2_proxy(remora, tmp_path, o.port)
    with H2Client(p.port) as c:
        r = c.request("HEAD", "/h", [("x-origin-size", "1000")])
        assert (r.status, r.ended, r.data_frames, bytes(r.body)) == (200, True, 0, b""), r
        assert r.get("content-length") == "1000", r.headers   # HEAD keeps the GET's length
        r = c.request("GET", "/n", [("x-origin-status", "204"), ("x-origin-size", "100")])
        assert (r.status, r.ended, r.data_frames, bytes(r.body)) == (204, True, 0, b""), r
        assert r.get("content-length") in (None, "0"), r.headers
        assert_no_hop_by_hop(r)
        r = c.request("GET", "/after", [("x-origin-size", "3")])
        assert (r.status, bytes(r.body)) == (200, b"xxx")
    res = curl_v(f"{p.url}/x", "--http2-prior-knowledge", "-I", "-H", "x-origin-size: 77")
    assert (res.rc, res.version, res.status, res.body) == (0, "2", 200, b""), res.stderr
    assert res.get("content-length") == "77"


# ---- stats and access log --------------------------------------------------------------------

def test_stats_count_h2_separately(remora, tmp_path, origins):
    o = origins()
    p = h2_proxy(remora, tmp_path, o.port, codec=None)
    c = H2Client(p.port)
    try:
        c.handshake()
        for i in range(3):
            assert c.request("GET", f"/echo?{i}").status == 200
        wait_stats(p.r, {P + "downstream_cx_active": 1, P + "downstream_cx_http2_active": 1,
                         P + "downstream_rq_http2_total": 3, P + "downstream_rq_active": 0})
    finally:
        c.close()
    assert one_request(p.port, "GET", "/echo?h1").status == 200
    st = wait_stats(p.r, {
        P + "downstream_cx_total": 2, P + "downstream_cx_http2_total": 1,
        P + "downstream_cx_http1_total": 1, P + "downstream_rq_total": 4,
        P + "downstream_rq_http2_total": 3, P + "downstream_rq_http1_total": 1,
        P + "downstream_rq_2xx": 4, P + "downstream_cx_active": 0,
        P + "downstream_cx_http2_active": 0, P + "downstream_cx_http1_active": 0,
        P + "downstream_rq_active": 0})
    assert st.get(P + "downstream_rq_5xx", 0) == 0
    assert st["cluster.origin.upstream_rq_total"] == 4


def test_access_log_protocol(remora, tmp_path, origins):
    o = origins()
    p = h2_proxy(remora, tmp_path, o.port, codec=None)
    res = curl_v(f"{p.url}/via-curl-h2", "--http2-prior-knowledge")
    assert res.version == "2" and res.status == 200, res.stderr
    with H2Client(p.port) as c:
        assert c.request("GET", "/via-py-h2", [("x-origin-status", "404")]).status == 404
    assert one_request(p.port, "GET", "/via-h1").status == 200
    assert log_fields(p.log, "/via-curl-h2") == ["/via-curl-h2", "HTTP/2", "200", "-"]
    assert log_fields(p.log, "/via-py-h2") == ["/via-py-h2", "HTTP/2", "404", "-"]
    assert log_fields(p.log, "/via-h1") == ["/via-h1", "HTTP/1.1", "200", "-"]


# ---- multiplexing ----------------------------------------------------------------------------

def test_h2load_multiplexed(remora, tmp_path, origins):
    """h2load: 4 connections × 10 concurrent streams, 2000 requests, a 5 ms origin: every one
    succeeds, and the upstream needed more than one HTTP/1.1 connection per downstream
    connection (the streams really were concurrent)."""
    o = origins()
    p = h2_proxy(remora, tmp_path, o.port)
    pr = subprocess.run(["h2load", "-n", "2000", "-c", "4", "-m", "10",
                         "-H", "x-origin-latency-ms: 5", "-H", "x-origin-size: 100",
                         f"{p.url}/load"], capture_output=True, text=True, timeout=30)
    out = pr.stdout
    assert pr.returncode == 0, out + pr.stderr
    assert "Application protocol: h2c" in out, out
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored, (\d+) timeout", out)
    assert m, out
    assert [int(x) for x in m.groups()] == [2000, 2000, 2000, 2000, 0, 0, 0], out
    m = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    assert m and [int(x) for x in m.groups()] == [2000, 0, 0, 0], out
    st = wait_stats(p.r, {P + "downstream_rq_http2_total": 2000, P + "downstream_rq_2xx": 2000,
                          P + "downstream_cx_http2_total": 4, "cluster.origin.upstream_rq_total":
                          2000, P + "downstream_rq_active": 0, P + "downstream_cx_active": 0})
    assert st["cluster.origin.upstream_cx_total"] > 4, st["cluster.origin.upstream_cx_total"]


def test_nghttp_many_urls_one_connection(remora, tmp_path, origins):
    """nghttp with five URLs: one connection, five concurrent streams (each answer takes
    400 ms; one after the other would take 2 s)."""
    o = origins()
    p = h2_proxy(remora, tmp_path, o.port)
    paths = [f"/multi/{i}" for i in range(5)]
    t0 = time.monotonic()
    pr = subprocess.run(["nghttp", "-ns", "-H", "x-origin-latency-ms: 400", "-H",
                         "x-origin-size: 500", *[p.url + x for x in paths]],
                        capture_output=True, text=True, timeout=20)
    elapsed = time.monotonic() - t0
    assert pr.returncode == 0, pr.stdout + pr.stderr
    rows = re.findall(r"^\s*\d+\s+\+\S+\s+\+\S+\s+\S+\s+(\d+)\s+(\d+)\s+(\S+)\s*$", pr.stdout,
                      re.M)
    assert sorted(rows) == sorted(("200", "500", x) for x in paths), pr.stdout
    assert elapsed < 1.7, f"5 streams of 400 ms took {elapsed:.2f}s: not concurrent?"
    wait_stats(p.r, {P + "downstream_cx_http2_total": 1, P + "downstream_rq_http2_total": 5,
                     P + "downstream_cx_total": 1})


def test_streams_complete_out_of_order(remora, tmp_path, origins):
    o = origins()
    p = h2_proxy(remora, tmp_path, o.port)
    with H2Client(p.port) as c:
        slow = c.send_request("GET", "/slow", [("x-origin-latency-ms", "800"),
                                               ("x-origin-size", "10")])
        fast = c.send_request("GET", "/fast", [("x-origin-size", "20")])
        post = c.send_request("POST", "/echo", body=b"p" * 100000)
        rf, rp = c.response(fast), c.response(post)
        assert (rf.status, bytes(rf.body)) == (200, b"x" * 20)
        assert rp.json()["body_bytes"] == 100000
        assert not c.streams[slow].done, "the slow stream finished before the fast ones"
        rs = c.response(slow)
        assert (rs.status, bytes(rs.body)) == (200, b"x" * 10)
        assert rs.done_at > rf.done_at and rs.done_at > rp.done_at


# ---- large bodies and flow control -----------------------------------------------------------

@pytest.mark.parametrize("windows", ["default", "small"])
def test_large_bodies_both_ways_with_curl(remora, tmp_path, origins, windows):
    o = origins()
    extra = {}
    if windows == "small":
        extra = {"http2_protocol_options": {"initial_stream_window_size": 65535,
                                            "initial_connection_window_size": 65535}}
    p = h2_proxy(remora, tmp_path, o.port, hcm_extra=extra)
    data = os.urandom(4 * MiB)
    path = os.path.join(str(tmp_path), "up.bin")
    with open(path, "wb") as f:
        f.write(data)
    res = curl_v(f"{p.url}/echo", "--http2-prior-knowledge", "--data-binary", f"@{path}")
    assert (res.rc, res.version, res.status) == (0, "2", 200), res.stderr
    echo = res.json()
    assert echo["body_bytes"] == len(data)
    assert echo["body_sha256"] == hashlib.sha256(data).hexdigest()

    res = curl_v(f"{p.url}/big", "--http2-prior-knowledge", "-H", f"x-origin-size: {4 * MiB}")
    assert (res.rc, res.version, res.status) == (0, "2", 200), res.stderr
    assert len(res.body) == 4 * MiB
    assert hashlib.sha256(res.body).hexdigest() == sha256_of_repeated(b"x", 4 * MiB)
    wait_stats(p.r, {P + "downstream_rq_active": 0, P + "downstream_rq_2xx": 2})


def test_upload_through_small_proxy_windows_with_h2(remora, tmp_path, origins):
    """The proxy advertises 64 KiB windows: a 2 MiB upload only goes on as the proxy sends
    WINDOW_UPDATEs (python3-h2 never sends past the window)."""
    o = origins()
    p = h2_proxy(remora, tmp_path, o.port, hcm_extra={"http2_protocol_options": {
        "initial_stream_window_size": 65535, "initial_connection_window_size": 65535}})
    body = os.urandom(2 * MiB)
    with H2Client(p.port) as c:
        c.handshake()
        assert c.conn.remote_settings.initial_window_size == 65535
        assert c.conn.outbound_flow_control_window == 65535
        r = c.request("POST", "/echo", body=body, timeout=15)
        assert r.status == 200, r
        assert r.json()["body_sha256"] == hashlib.sha256(body).hexdigest()
        assert c.conn_window_updates, "no connection-level WINDOW_UPDATE from the proxy"


def test_download_respects_client_window_with_bounded_memory(remora, tmp_path, origins):
    """A client that grants only its initial 64 KiB window and stops reading: the proxy
    sends no more than the window, and pushes back on the origin instead of buffering the
    32 MiB answer; once the client reads, the body arrives intact."""
    o = origins()
    p = h2_proxy(remora, tmp_path, o.port)
    size = 32 * MiB
    pid = p.r.proc.pid
    with H2Client(p.port, auto_ack=False, timeout=20) as c:
        c.handshake()
        baseline = rss_kb(pid)
        sampler = RssSampler(pid)
        sid = c.send_request("GET", "/huge", [("x-origin-size", str(size))])
        c.read_for(1.0)
        peak = sampler.stop()
        r = c.streams[sid]
        held = len(r.body)
        assert r.status == 200 and not r.done, r
        assert held <= 65535, f"{held} bytes received on a 65535-byte window"
        assert peak - baseline < 16 * 1024, \
            f"proxy RSS grew by {peak - baseline} kB while the client did not read"
        c.auto_ack = True
        c.conn.increment_flow_control_window(16 * MiB)
        c.conn.increment_flow_control_window(16 * MiB, stream_id=sid)
        c.ack()
        r = c.response(sid, timeout=20)
        assert r.ended and len(r.body) == size, r
        assert hashlib.sha256(bytes(r.body)).hexdigest() == sha256_of_repeated(b"x", size)


# ---- per-stream failures ---------------------------------------------------------------------

def test_upstream_connect_failure_503_uf(remora, tmp_path, origins):
    o = origins()
    dead = free_port()   # nothing listens there
    p = h2_proxy(remora, tmp_path, o.port, routes=[route("/dead", "dead"), route("/", "origin")],
                 clusters=[cluster("dead", [dead], connect_timeout="1s")])
    with H2Client(p.port) as c:
        r = c.request("GET", "/dead")
        assert r.status == 503 and r.ended, r
        assert bytes(r.body).decode() == BODY_UF
        r = c.request("GET", "/echo")
        assert r.status == 200, r
        assert not c.goaways
    assert log_fields(p.log, "/dead") == ["/dead", "HTTP/2", "503", "UF"]
    wait_stats(p.r, {P + "downstream_rq_5xx": 1, P + "downstream_rq_2xx": 1,
                     P + "downstream_rq_active": 0})


def test_route_timeout_504_ut(remora, tmp_path, origins):
    """A route timeout ends only its stream: a fast stream on the same connection, sent
    while the slow one waits, is answered; the slow one gets 504 UT at 0.2 s."""
    o = origins()
    p = h2_proxy(remora, tmp_path, o.port,
                 routes=[route("/slow", "origin", timeout="0.2s"), route("/", "origin")])
    with H2Client(p.port) as c:
        t0 = time.monotonic()
        slow = c.send_request("GET", "/slow", [("x-origin-latency-ms", "1500")])
        fast = c.request("GET", "/fast", [("x-origin-size", "5")])
        assert (fast.status, bytes(fast.body)) == (200, b"xxxxx")
        r = c.response(slow)
        elapsed = time.monotonic() - t0
        assert r.status == 504 and r.ended, r
        assert bytes(r.body).decode() == BODY_UT
        assert 0.15 < elapsed < 1.2, elapsed
        assert c.request("GET", "/after").status == 200
        assert not c.goaways
    assert log_fields(p.log, "/slow") == ["/slow", "HTTP/2", "504", "UT"]
    wait_stat(p.r, "cluster.origin.upstream_rq_timeout", 1)


def test_origin_reset_resets_only_that_stream(remora, tmp_path, origins):
    """The origin resets its HTTP/1.1 connection: before the response head, the stream gets
    Envoy's 503; in the middle of the body (head already sent downstream), the stream gets
    RST_STREAM. Another stream in flight on the same connection and the next request are
    unaffected, and there is no GOAWAY."""
    o = origins()
    p = h2_proxy(remora, tmp_path, o.port)
    with H2Client(p.port) as c:
        c.handshake()
        r = c.request("GET", "/before", [("x-origin-reset", "before-headers")])
        assert r.status == 503 and r.ended, r
        assert bytes(r.body).decode().startswith(BODY_RESET_BEFORE_HEADERS), r

        bystander = c.send_request("GET", "/bystander", [("x-origin-latency-ms", "300"),
                                                         ("x-origin-size", "50000")])
        r = c.request("GET", "/mid", [("x-origin-size", "200000"),
                                      ("x-origin-reset", "mid-body")])
        assert r.status == 200, r                      # the head was already forwarded
        assert r.reset is not None and not r.ended, r  # then RST_STREAM
        assert len(r.body) < 200000
        rb = c.response(bystander)
        assert (rb.status, rb.ended, len(rb.body)) == (200, True, 50000), rb
        r = c.request("GET", "/next", [("x-origin-size", "7")])
        assert (r.status, bytes(r.body)) == (200, b"x" * 7)
        assert not c.goaways and not c.eof
    assert log_fields(p.log, "/before")[:3] == ["/before", "HTTP/2", "503"]
    wait_stats(p.r, {P + "downstream_rq_active": 0, P + "downstream_cx_active": 0}, timeout=5)


def test_local_reply_during_upload_keeps_connection_window(remora, tmp_path, origins):
    """With 64 KiB windows, requests whose 300 KB bodies are still arriving get an early
    answer (503 UF, a direct response): the stream ends, and the body bytes the proxy
    dropped still return the connection window, so a later upload is not stuck."""
    o = origins()
    p = h2_proxy(remora, tmp_path, o.port, routes=[
        route("/dead", "dead"),
        {"match": {"prefix": "/direct"},
         "direct_response": {"status": 200, "body": {"inline_string": "direct"}}},
        route("/", "origin")], clusters=[cluster("dead", [free_port()])],
        hcm_extra={"http2_protocol_options": {"initial_stream_window_size": 65535,
                                              "initial_connection_window_size": 65535}})
    with H2Client(p.port) as c:
        c.handshake()
        for path, status in (("/dead", 503), ("/direct", 200), ("/dead", 503),
                             ("/direct", 200)):
            r = c.request("POST", path, body=b"z" * 300000, timeout=5)
            assert r.status == status and r.ended, (path, r)
        body = os.urandom(500000)
        r = c.request("POST", "/echo", body=body, timeout=5)
        assert r.status == 200, r
        assert r.json()["body_sha256"] == hashlib.sha256(body).hexdigest()
        assert not c.goaways
    wait_stats(p.r, {P + "downstream_rq_active": 0, P + "downstream_cx_active": 0})


@pytest.mark.parametrize("declared,sent", [(10, 5), (2, 5)], ids=["short", "long"])
def test_content_length_mismatch_resets_stream(remora, tmp_path, origins, declared, sent):
    """A request body that does not match its content-length is a stream error (nghttp2,
    as in Envoy): RST_STREAM PROTOCOL_ERROR on that stream, no answer, the connection goes
    on."""
    o = origins()
    p = h2_proxy(remora, tmp_path, o.port)
    with H2Client(p.port) as c:
        c.handshake()
        r = c.request("POST", "/echo", [("content-length", str(declared))], body=b"x" * sent)
        assert r.status is None and r.reset == 1, r   # PROTOCOL_ERROR
        assert c.request("GET", "/echo").status == 200
        assert not c.goaways and not c.eof
    wait_stats(p.r, {P + "downstream_rq_active": 0, P + "downstream_cx_active": 0})


def test_client_zero_window_then_opened(remora, tmp_path, origins):
    """A client whose SETTINGS_INITIAL_WINDOW_SIZE is 0 gets the response head but no DATA;
    raising the setting later lets the proxy send the whole body."""
    o = origins()
    p = h2_proxy(remora, tmp_path, o.port)
    with H2Client(p.port, settings={Settings.INITIAL_WINDOW_SIZE: 0}) as c:
        c.handshake()
        sid = c.send_request("GET", "/w0", [("x-origin-size", "100000")])
        c.pump(lambda: c.streams[sid].status is not None, 5, what="the response head")
        c.read_for(0.3)
        r = c.streams[sid]
        assert (r.status, len(r.body), r.done) == (200, 0, False), r
        c.conn.update_settings({Settings.INITIAL_WINDOW_SIZE: 65535})
        r = c.response(sid)
        assert r.ended and bytes(r.body) == b"x" * 100000, r


def test_stream_idle_timeout_408_per_stream(remora, tmp_path, origins):
    """stream_idle_timeout ends one idle stream (a request body that stops) with 408; the
    connection and its other streams go on."""
    o = origins()
    p = h2_proxy(remora, tmp_path, o.port, hcm_extra={"stream_idle_timeout": "0.4s"})
    with H2Client(p.port) as c:
        stuck = c.send_request("POST", "/stuck", end_stream=False)
        c.send_data(stuck, b"abc")
        t0 = time.monotonic()
        r = c.response(stuck, timeout=4)
        assert r.status == 408 and bytes(r.body) == b"stream timeout", r
        assert 0.3 < time.monotonic() - t0 < 2.5
        assert c.request("GET", "/echo").status == 200
        assert not c.goaways
    assert log_fields(p.log, "/stuck")[:3] == ["/stuck", "HTTP/2", "408"]
    wait_stat(p.r, P + "downstream_rq_idle_timeout", 1)


# ---- limits ----------------------------------------------------------------------------------

def test_request_header_limits_431(remora, tmp_path, origins):
    """max_request_headers_kb and common_http_protocol_options.max_headers_count apply to
    HTTP/2 requests: 431 on that stream, the connection stays usable."""
    o = origins()
    p = h2_proxy(remora, tmp_path, o.port, hcm_extra={
        "max_request_headers_kb": 8, "common_http_protocol_options": {"max_headers_count": 20}})
    with H2Client(p.port) as c:
        c.handshake()
        r = c.request("GET", "/echo?fits", [("x-big", "a" * 4096)] +
                      [(f"x-h{i}", "v") for i in range(10)])
        assert r.status == 200, r
        r = c.request("GET", "/echo?big", [("x-big", "a" * (10 * 1024))])
        assert r.status == 431 and r.ended, r
        assert c.request("GET", "/echo?after-big").status == 200
        r = c.request("GET", "/echo?many", [(f"x-h{i}", "v") for i in range(30)])
        assert r.status == 431 and r.ended, r
        assert c.request("GET", "/echo?after-many").status == 200
        assert not c.goaways and not c.eof
    st = stats(p.r)
    assert st["cluster.origin.upstream_rq_total"] == 3, st   # the 431s never went upstream
    assert log_fields(p.log, "/echo?big")[:3] == ["/echo?big", "HTTP/2", "431"]


# ---- http2_protocol_options ------------------------------------------------------------------

def test_settings_from_http2_protocol_options(remora, tmp_path, origins):
    o = origins()
    a = h2_proxy(remora, tmp_path, o.port, hcm_extra={"http2_protocol_options": {
        "max_concurrent_streams": 5, "initial_stream_window_size": 65535}})
    b = h2_proxy(remora, tmp_path, o.port, hcm_extra={"http2_protocol_options": {
        "max_concurrent_streams": 7, "initial_stream_window_size": 1 * MiB,
        "initial_connection_window_size": 2 * MiB}})
    with H2Client(a.port) as c:
        first = c.handshake()
        assert first.get(Settings.MAX_CONCURRENT_STREAMS) == 5, first
        assert c.conn.remote_settings.max_concurrent_streams == 5
        assert c.conn.remote_settings.initial_window_size == 65535
        assert c.request("GET", "/echo").status == 200
    with H2Client(b.port) as c:
        first = c.handshake()
        assert first.get(Settings.MAX_CONCURRENT_STREAMS) == 7, first
        assert first.get(Settings.INITIAL_WINDOW_SIZE) == 1 * MiB, first
        assert c.conn.outbound_flow_control_window == 2 * MiB, c.conn_window_updates
        assert c.request("GET", "/echo").status == 200


def test_default_settings_match_envoy(remora, tmp_path, origins):
    """Without http2_protocol_options, Envoy's defaults: max_concurrent_streams 2147483647,
    initial_stream_window_size and initial_connection_window_size 256 MiB."""
    o = origins()
    p = h2_proxy(remora, tmp_path, o.port)
    with H2Client(p.port) as c:
        c.handshake()
        assert c.conn.remote_settings.max_concurrent_streams == MAX_STREAM_ID
        assert c.conn.remote_settings.initial_window_size == 256 * MiB
        assert c.conn.outbound_flow_control_window == 256 * MiB, c.conn_window_updates


def _config_with_h2_options(tmp_path, opts, name):
    h = hcm([vhost("b", ["*"], [route("/", "origin")])], codec_type="HTTP2",
            http2_protocol_options=opts)
    text = bootstrap_json(free_port(), [http_listener("h2", free_port(), h)],
                          [cluster("origin", [free_port()])])
    path = os.path.join(str(tmp_path), name)
    with open(path, "w") as f:
        f.write(text)
    return path


def test_http2_protocol_options_good_config_validates(tmp_path):
    path = _config_with_h2_options(tmp_path, {
        "max_concurrent_streams": 100, "initial_stream_window_size": 65536,
        "initial_connection_window_size": 1048576}, "good.json")
    pr = subprocess.run([REMORA_BIN, "--mode", "validate", "-c", path], capture_output=True,
                        text=True, timeout=20, stdin=subprocess.DEVNULL)
    assert pr.returncode == 0, pr.stderr
    assert "OK" in pr.stdout


@pytest.mark.parametrize("opts,field", [
    ({"allow_metadata": True}, "allow_metadata"),
    ({"initial_stream_windw_size": 65535}, "initial_stream_windw_size"),
    ({"initial_stream_window_size": 1000}, "initial_stream_window_size"),
    ({"initial_connection_window_size": 1000}, "initial_connection_window_size"),
    ({"max_concurrent_streams": 0}, "max_concurrent_streams"),
], ids=["unsupported", "typo", "stream_window_too_small", "conn_window_too_small",
        "zero_streams"])
def test_http2_protocol_options_errors(tmp_path, opts, field):
    """An unsupported, misspelt or out-of-range field is refused at load (validate and run
    alike), with its path."""
    path = _config_with_h2_options(tmp_path, opts, "bad.json")
    want = TYPED + "http2_protocol_options." + field
    pr = subprocess.run([REMORA_BIN, "--mode", "validate", "-c", path], capture_output=True,
                        text=True, timeout=20, stdin=subprocess.DEVNULL)
    assert pr.returncode == 1, pr.stdout + pr.stderr
    assert want in pr.stderr, pr.stderr
    proc = subprocess.Popen([REMORA_BIN, "-c", path], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        out, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise AssertionError(f"remora started on a config with {opts}")
    assert proc.returncode != 0
    assert want in err, err


# ---- invalid messaging -----------------------------------------------------------------------

@pytest.mark.parametrize("bad", [("connection", "close"), ("transfer-encoding", "chunked"),
                                 ("keep-alive", "timeout=5"), ("upgrade", "websocket"),
                                 ("te", "gzip")],
                         ids=lambda b: b[0])
def test_invalid_messaging_terminates_connection_with_goaway(remora, tmp_path, origins, bad):
    """A connection-specific header in an HTTP/2 request is malformed messaging (RFC 9113
    §8.2.2); with Envoy's default (stream_error_on_invalid_http_messaging false) the whole
    connection ends: GOAWAY, then close. Nothing reaches the origin."""
    o = origins()
    p = h2_proxy(remora, tmp_path, o.port)
    with H2Client(p.port, validate=False) as c:
        c.handshake()
        sid = c.send_request("GET", "/echo", [bad])
        g = c.wait_goaway(timeout=5)
        assert c.wait_eof(5), "connection still open after GOAWAY"
        r = c.streams[sid]
        assert r.status is None, f"the invalid request was answered: {r}"
        assert g.error_code != 0 or g.last_stream_id < sid, g   # not a graceful GOAWAY
    st = wait_stats(p.r, {P + "downstream_cx_protocol_error": 1, P + "downstream_cx_active": 0})
    assert st.get("cluster.origin.upstream_rq_total", 0) == 0, st
    with H2Client(p.port) as c:
        assert c.request("GET", "/echo").status == 200


# ---- drain and idle --------------------------------------------------------------------------

def test_drain_listeners_goaway_inflight_completes(remora, tmp_path, origins):
    o = origins()
    p = h2_proxy(remora, tmp_path, o.port, hcm_extra={"drain_timeout": "0.3s"},
                 args=["--drain-time-s", "1"])
    with H2Client(p.port) as c:
        c.handshake()
        assert c.request("GET", "/warm").status == 200
        sid = c.send_request("GET", "/slow", [("x-origin-latency-ms", "2000"),
                                              ("x-origin-size", "1000")])
        wait_stat(p.r, P + "downstream_rq_active", 1)
        st, body, _ = p.r.post("/drain_listeners?graceful&skip_exit")
        assert st == 200, body
        g = c.wait_goaway(timeout=4)
        r = c.streams[sid]
        assert not r.done, f"GOAWAY only after the in-flight stream ended: {r}"
        assert g.last_stream_id >= sid, g
        r = c.response(sid, timeout=5)
        assert (r.status, r.ended, bytes(r.body)) == (200, True, b"x" * 1000), r
        assert c.wait_eof(6), "drained connection not closed once idle"
    assert log_fields(p.log, "/slow")[:3] == ["/slow", "HTTP/2", "200"]


def test_idle_timeout_goaway_and_close(remora, tmp_path, origins):
    o = origins()
    p = h2_proxy(remora, tmp_path, o.port, hcm_extra={
        "common_http_protocol_options": {"idle_timeout": "0.5s"}, "drain_timeout": "0.2s"})
    with H2Client(p.port) as c:
        c.handshake()
        # The idle timeout counts only while no stream is open: a 1.2 s answer is not cut.
        r = c.request("GET", "/slow", [("x-origin-latency-ms", "1200")])
        assert r.status == 200 and r.ended, r
        assert not c.goaways, "GOAWAY while a stream was open"
        r = c.request("GET", "/echo")
        assert r.status == 200
        t0 = r.done_at
        c.wait_goaway(timeout=4)
        assert 0.4 < c.goaway_at - t0 < 3.0, c.goaway_at - t0
        assert c.wait_eof(5), "idle connection not closed after GOAWAY"
    wait_stats(p.r, {P + "downstream_cx_idle_timeout": 1, P + "downstream_cx_active": 0})


# ---- sanitizing ------------------------------------------------------------------------------

X_ENVOY = [("x-envoy-retry-on", "5xx"), ("x-envoy-max-retries", "3"),
           ("x-envoy-retry-grpc-on", "cancelled"),
           ("x-envoy-upstream-rq-timeout-ms", "100"),
           ("x-envoy-upstream-rq-per-try-timeout-ms", "50"),
           ("x-envoy-expected-rq-timeout-ms", "1"), ("x-envoy-internal", "true"),
           ("x-envoy-force-trace", "1"), ("x-envoy-ip-tags", "evil"),
           ("x-envoy-original-url", "http://evil.test/"),
           ("x-envoy-retriable-status-codes", "500"),
           ("x-envoy-hedge-on-per-try-timeout", "true"),
           ("x-envoy-upstream-alt-stat-name", "evil"),
           ("x-envoy-downstream-service-cluster", "evil"),
           ("x-envoy-downstream-service-node", "evil")]


def test_x_envoy_headers_from_external_client_stripped(remora, tmp_path, origins):
    """An external client's x-envoy-* request headers are not trusted over HTTP/2, exactly as
    over HTTP/1.1: the origin sees the same header set from both, and a client's 100 ms
    x-envoy-upstream-rq-timeout-ms does not cut a 400 ms answer."""
    o = origins()
    p = h2_proxy(remora, tmp_path, o.port, codec=None)
    sent = X_ENVOY + [("x-envoy-foo", "bar"), ("x-origin-latency-ms", "400"), ("x-keep", "1")]
    with H2Client(p.port, authority="test.local") as c:
        r = c.request("GET", "/echo", sent)
        assert r.status == 200, r
        h2_seen = r.json()["headers"]
    with HttpConn(p.port) as c:
        res = c.request("GET", "/echo", sent)
        assert res.status == 200, res
        h1_seen = res.json()["headers"]
    for name, _ in X_ENVOY:
        if name != "x-envoy-expected-rq-timeout-ms":
            assert name not in h2_seen, (name, h2_seen)
    assert h2_seen["x-envoy-expected-rq-timeout-ms"] == "15000"
    assert h2_seen["x-keep"] == "1"
    for h in (h1_seen, h2_seen):
        h.pop("x-request-id", None)
    assert h2_seen == h1_seen


# ---- client resets ---------------------------------------------------------------------------

def test_client_reset_and_abrupt_close_release_streams(remora, tmp_path, origins):
    o = origins()
    p = h2_proxy(remora, tmp_path, o.port)
    c = H2Client(p.port)
    try:
        c.handshake()
        doomed = c.send_request("GET", "/doomed", [("x-origin-latency-ms", "3000")])
        kept = c.send_request("GET", "/kept", [("x-origin-latency-ms", "300"),
                                               ("x-origin-size", "10")])
        wait_stat(p.r, P + "downstream_rq_active", 2)
        c.reset_stream(doomed)
        r = c.response(kept)
        assert (r.status, bytes(r.body)) == (200, b"x" * 10)
        st = wait_stats(p.r, {P + "downstream_rq_active": 0}, timeout=2)
        assert st.get(P + "downstream_rq_rx_reset", 0) >= 1, st
        assert c.request("GET", "/after-reset").status == 200
        # Reset in the middle of an upload, and while the proxy holds response DATA the
        # client's window does not let through.
        up = c.send_request("POST", "/echo", end_stream=False)
        c.send_data(up, os.urandom(100000))
        wait_stat(p.r, P + "downstream_rq_active", 1)
        c.reset_stream(up)
        c.auto_ack = False
        down = c.send_request("GET", "/blocked", [("x-origin-size", str(8 * MiB))])
        c.pump(lambda: len(c.streams[down].body) >= 60000, 5, what="the first window of DATA")
        c.reset_stream(down)
        c.auto_ack = True
        c.ack()
        wait_stats(p.r, {P + "downstream_rq_active": 0}, timeout=2)
        r = c.request("GET", "/after-resets", [("x-origin-size", str(1 * MiB))])
        assert r.ended and len(r.body) == 1 * MiB, r
        assert not c.goaways
        # Two slow streams in flight, then the client disappears.
        for i in range(2):
            c.send_request("GET", f"/abandoned/{i}", [("x-origin-latency-ms", "3000")])
        wait_stat(p.r, P + "downstream_rq_active", 2)
    finally:
        c.close()
    wait_stats(p.r, {P + "downstream_rq_active": 0, P + "downstream_cx_active": 0,
                     P + "downstream_cx_http2_active": 0}, timeout=2)
    with H2Client(p.port) as c:
        assert c.request("GET", "/echo").status == 200


def test_stream_objects_follow_concurrency(remora, tmp_path, origins):
    """A burst of 150 concurrent streams leaves more finished stream objects than the 16 a
    worker keeps; a second later the ones no stream took are freed down to 16 (the debug log
    says so), and the next burst is served just the same."""
    o = origins()
    p = h2_proxy(remora, tmp_path, o.port, args=("--component-log-level", "connection:debug"),
                 hcm_extra={"http2_protocol_options": {"max_concurrent_streams": 100}})

    def burst():
        pr = subprocess.run(["h2load", "-n", "300", "-c", "3", "-m", "50",
                             "-H", "x-origin-latency-ms: 50", f"{p.url}/burst"],
                            capture_output=True, text=True, timeout=30)
        assert pr.returncode == 0, pr.stdout + pr.stderr
        assert "300 succeeded, 0 failed" in pr.stdout, pr.stdout

    trim = re.compile(r"worker 0: freed (\d+) idle stream objects, (\d+) cached")
    burst()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not trim.search(p.r.log()):
        time.sleep(0.1)
    m = trim.findall(p.r.log())
    assert m, p.r.log()[-2000:]
    assert int(m[-1][1]) >= 16 and sum(int(f) for f, _ in m) >= 100, m
    burst()
    wait_stats(p.r, {P + "downstream_rq_2xx": 600, P + "downstream_rq_active": 0})


def test_long_lived_connection_memory_stays_flat(remora, tmp_path, origins):
    """30,000 streams on one connection: the proxy's memory does not grow with the streams a
    connection has carried (nghttp2 kept every closed stream for its priority tree, up to
    max_concurrent_streams, Envoy's default 2^31 - 1: some 300 bytes per stream)."""
    o = origins()
    p = h2_proxy(remora, tmp_path, o.port)

    def load(n):
        pr = subprocess.run(["h2load", "-n", str(n), "-c", "1", "-m", "10", f"{p.url}/flat"],
                            capture_output=True, text=True, timeout=60)
        assert pr.returncode == 0 and f"{n} succeeded, 0 failed" in pr.stdout, pr.stdout
    load(2000)  # warm-up: pools, caches and the allocator's free lists
    before = rss_kb(p.r.proc.pid)
    load(30000)
    grown = rss_kb(p.r.proc.pid) - before
    assert grown < 3 * 1024, f"RSS grew by {grown} KiB over 30,000 streams"
