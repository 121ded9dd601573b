# SPDX-License-Identifier: Apache-2.0
"""HTTP/1.1 proxying through the real binary (HCM + router), checked against Envoy's
semantics: methods and bodies, keep-alive and pipelining, chunked framing both ways, bodiless
responses, Expect: 100-continue, hop-by-hop stripping, the headers Envoy adds, and large
transfers with bounded memory."""
import hashlib
import os
import time

from http_helpers import (IMF_DATE_RE, UUID4_RE, HttpConn, RssSampler, build_request, curl,
                          one_request, origins, py_origins, route, sha256_of_repeated,
                          simple_proxy, wait_stats)

assert origins and py_origins  # fixtures, used by name

MiB = 1 << 20
RSS_LIMIT_KB = 64 * 1024


def test_get_and_post_with_curl(remora, tmp_path, origins):
    o = origins("alpha")
    r, port, _ = simple_proxy(remora, tmp_path, o.port)
    res = curl(f"http://127.0.0.1:{port}/echo?q=1", "-H", "x-test: a")
    assert res.rc == 0, res.stderr
    assert res.status == 200
    assert res.get("x-origin-name") == "alpha"
    assert res.get("content-type") == "application/json"
    echo = res.json()
    assert echo["method"] == "GET"
    assert echo["path"] == "/echo?q=1"
    assert echo["version"] == "HTTP/1.1"
    assert echo["headers"]["x-test"] == "a"
    assert echo["headers"]["host"] == f"127.0.0.1:{port}"   # Host is forwarded unchanged
    assert echo["body_bytes"] == 0

    payload = b"hello world, through the proxy"
    res = curl(f"http://127.0.0.1:{port}/echo", "-X", "POST", "--data-binary", payload.decode(),
               "-H", "content-type: text/plain")
    assert res.status == 200, res.stderr
    echo = res.json()
    assert echo["method"] == "POST"
    assert echo["body_bytes"] == len(payload)
    assert echo["body_sha256"] == hashlib.sha256(payload).hexdigest()
    assert echo["headers"]["content-type"] == "text/plain"
    assert int(res.get("content-length")) == len(res.body)

    for method in ("PUT", "DELETE", "PATCH", "OPTIONS"):
        res = curl(f"http://127.0.0.1:{port}/echo", "-X", method)
        assert res.status == 200, (method, res.stderr)
        assert res.json()["method"] == method


def test_headers_envoy_adds(remora, tmp_path, origins):
    """x-forwarded-proto (when missing), x-request-id (UUIDv4 when missing, kept when sent),
    x-envoy-expected-rq-timeout-ms (the 15 s default route timeout) upstream; no
    x-forwarded-for without use_remote_address. Downstream: server: envoy,
    x-envoy-upstream-service-time, date."""
    o = origins()
    r, port, _ = simple_proxy(remora, tmp_path, o.port)
    with HttpConn(port) as c:
        res = c.request("GET", "/echo")
        assert res.status == 200
        h = res.json()["headers"]
        assert h["x-forwarded-proto"] == "http"
        assert UUID4_RE.match(h["x-request-id"]), h["x-request-id"]
        assert h["x-envoy-expected-rq-timeout-ms"] == "15000"
        assert "x-forwarded-for" not in h
        assert h["host"] == "test.local"
        assert res.get("server") == "envoy"
        assert res.get("x-envoy-upstream-service-time", "").isdigit(), res.headers
        assert IMF_DATE_RE.match(res.get("date", "")), res.get("date")

        first_id = h["x-request-id"]
        res = c.request("GET", "/echo")
        assert res.json()["headers"]["x-request-id"] != first_id   # a new one per request

        res = c.request("GET", "/echo", [("x-request-id", "my-request-id-1"),
                                         ("x-forwarded-proto", "https")])
        h = res.json()["headers"]
        assert h["x-request-id"] == "my-request-id-1"
        assert h["x-forwarded-proto"] == "https"   # only set when missing


def test_server_header_overwritten_and_server_name(remora, tmp_path, py_origins):
    """server_header_transformation OVERWRITE (default): the origin's Server is replaced by
    server_name ("envoy" by default), on proxied and local replies alike."""
    py = py_origins()
    r, port, _ = simple_proxy(remora, tmp_path, py.port)
    res = one_request(port, "GET", "/x")
    assert res.status == 200
    assert res.get_all("server") == ["envoy"]

    r2, port2, _ = simple_proxy(
        remora, tmp_path, py.port, hcm_extra={"server_name": "remora-edge"},
        routes=[{"match": {"prefix": "/local"},
                 "direct_response": {"status": 200, "body": {"inline_string": "local"}}},
                route("/", "origin")])
    res = one_request(port2, "GET", "/x")
    assert res.status == 200
    assert res.get_all("server") == ["remora-edge"]
    assert res.has("x-envoy-upstream-service-time")
    res = one_request(port2, "GET", "/local")
    assert (res.status, res.body) == (200, b"local")
    assert res.get_all("server") == ["remora-edge"]
    assert not res.has("x-envoy-upstream-service-time")   # no upstream was involved
    assert IMF_DATE_RE.match(res.get("date", ""))


def test_keepalive_reuses_one_upstream_connection(remora, tmp_path, py_origins):
    """20 requests on one downstream connection use one pooled upstream connection: the origin
    accepts exactly one connection and numbers every answer with it."""
    py = py_origins()
    r, port, _ = simple_proxy(remora, tmp_path, py.port)
    with HttpConn(port) as c:
        for i in range(20):
            res = c.request("GET", f"/ka/{i}")
            assert res.status == 200, res
            assert res.body == f"py:/ka/{i}".encode()
            assert res.get("x-py-conn") == "1", res.headers
            assert not res.has("connection")
    assert py.conns == 1
    assert [q.conn_id for q in py.requests] == [1] * 20
    wait_stats(r, {"http.ingress_http.downstream_rq_completed": 20,
                   "cluster.origin.upstream_cx_total": 1,
                   "cluster.origin.upstream_cx_http1_total": 1,
                   "http.ingress_http.downstream_cx_total": 1,
                   "cluster.origin.upstream_rq_total": 20})


def test_keepalive_across_downstream_connections(remora, tmp_path, py_origins):
    """Sequential downstream connections on one worker share the pooled upstream connection."""
    py = py_origins()
    r, port, _ = simple_proxy(remora, tmp_path, py.port)
    for i in range(5):
        res = one_request(port, "GET", f"/c{i}")
        assert res.status == 200
    assert py.conns == 1
    wait_stats(r, {"cluster.origin.upstream_rq_total": 5, "cluster.origin.upstream_cx_total": 1})


def test_pipelined_requests_answered_in_order(remora, tmp_path, origins):
    o = origins()
    r, port, _ = simple_proxy(remora, tmp_path, o.port)
    with HttpConn(port) as c:
        c.send(b"".join(build_request("GET", f"/echo?n={i}", [("x-origin-latency-ms", str(ms))])
                        for i, ms in enumerate((80, 30, 0))))
        for i in range(3):
            res = c.read_response()
            assert res.status == 200
            assert res.json()["path"] == f"/echo?n={i}"
        res = c.request("GET", "/echo?n=3")
        assert res.json()["path"] == "/echo?n=3"


def test_pipelined_post_bodies_stay_separate(remora, tmp_path, origins):
    o = origins()
    r, port, _ = simple_proxy(remora, tmp_path, o.port)
    bodies = [os.urandom(n) for n in (1, 70000, 0, 333)]
    with HttpConn(port) as c:
        c.send(b"".join(build_request("POST", "/echo", body=b) for b in bodies))
        for b in bodies:
            res = c.read_response()
            assert res.status == 200
            echo = res.json()
            assert echo["body_bytes"] == len(b)
            assert echo["body_sha256"] == hashlib.sha256(b).hexdigest()


def test_chunked_request_body_forwarded_intact(remora, tmp_path, origins):
    o = origins()
    r, port, _ = simple_proxy(remora, tmp_path, o.port)
    pieces = [os.urandom(n) for n in (1, 10, 4096, 70000, 3, 1 << 17)]
    body = b"".join(pieces)
    wire = b""
    for i, p in enumerate(pieces):
        ext = b";name=value" if i == 2 else b""
        wire += f"{len(p):X}".encode() + ext + b"\r\n" + p + b"\r\n"
    wire += b"0\r\n\r\n"
    with HttpConn(port) as c:
        c.send(build_request("POST", "/echo", [("Transfer-Encoding", "chunked")]) + wire)
        res = c.read_response()
        assert res.status == 200
        echo = res.json()
        assert echo["body_bytes"] == len(body)
        assert echo["body_sha256"] == hashlib.sha256(body).hexdigest()
        # The connection stays in sync after the chunked body.
        assert c.request("GET", "/echo?after").json()["path"] == "/echo?after"


def test_chunked_response_forwarded(remora, tmp_path, py_origins):
    py = py_origins()
    body = os.urandom(10000)
    py.script.append({"body": body, "framing": "chunked", "chunk": 333})
    r, port, _ = simple_proxy(remora, tmp_path, py.port)
    with HttpConn(port) as c:
        res = c.request("GET", "/chunked")
        assert res.status == 200
        assert res.body == body
        assert res.get("transfer-encoding") == "chunked"
        assert not res.has("content-length")
        assert c.request("GET", "/next").body == b"py:/next"


def test_close_delimited_response_reframed_as_chunked(remora, tmp_path, py_origins):
    """An origin answer with neither Content-Length nor chunked ends at close. For an
    HTTP/1.1 client Envoy re-frames it with chunked encoding and keeps the downstream
    connection open."""
    py = py_origins()
    body = os.urandom(50000)
    py.script.append({"body": body, "framing": "close"})
    r, port, _ = simple_proxy(remora, tmp_path, py.port)
    with HttpConn(port) as c:
        res = c.request("GET", "/until-close")
        assert res.status == 200
        assert res.body == body
        assert res.get("transfer-encoding") == "chunked"
        assert not res.has("content-length")
        res = c.request("GET", "/again")
        assert (res.status, res.body) == (200, b"py:/again")
    assert py.conns == 2   # the close-delimited connection could not be reused


def test_head_has_no_body(remora, tmp_path, origins):
    o = origins()
    r, port, _ = simple_proxy(remora, tmp_path, o.port)
    with HttpConn(port) as c:
        res = c.request("HEAD", "/x", [("x-origin-size", "1000")])
        assert res.status == 200
        assert res.get("content-length") == "1000"   # HEAD keeps the GET's length
        assert res.body == b""
        # Any stray body byte would corrupt the next response on this connection.
        res = c.request("GET", "/x", [("x-origin-size", "5")])
        assert (res.status, res.body) == (200, b"xxxxx")
    res = curl(f"http://127.0.0.1:{port}/x", "-I", "-H", "x-origin-size: 77")
    assert res.status == 200 and res.body == b"" and res.get("content-length") == "77"


def test_204_and_304_have_no_body(remora, tmp_path, origins):
    o = origins()
    r, port, _ = simple_proxy(remora, tmp_path, o.port)
    with HttpConn(port) as c:
        for status in (204, 304):
            res = c.request("GET", "/x", [("x-origin-status", str(status)),
                                          ("x-origin-size", "100")])
            assert res.status == status
            assert res.body == b""
            assert not res.has("transfer-encoding"), res.headers
            if status == 204:
                assert res.get("content-length") in (None, "0"), res.headers
            res = c.request("GET", "/y", [("x-origin-size", "3")])
            assert (res.status, res.body) == (200, b"xxx")


def test_expect_100_continue_with_curl(remora, tmp_path, origins):
    """Envoy answers 100 Continue itself (proxy_100_continue is off) and does not forward
    Expect upstream."""
    o = origins()
    r, port, _ = simple_proxy(remora, tmp_path, o.port)
    data = os.urandom(200 * 1024)
    path = os.path.join(str(tmp_path), "body.bin")
    with open(path, "wb") as f:
        f.write(data)
    t0 = time.monotonic()
    res = curl(f"http://127.0.0.1:{port}/echo", "-H", "Expect: 100-continue",
               "--expect100-timeout", "10", "--data-binary", f"@{path}")
    elapsed = time.monotonic() - t0
    assert res.rc == 0, res.stderr
    assert [b[0] for b in res.blocks] == [100, 200]
    echo = res.json()
    assert echo["body_bytes"] == len(data)
    assert echo["body_sha256"] == hashlib.sha256(data).hexdigest()
    assert "expect" not in echo["headers"]
    assert elapsed < 5, f"curl waited {elapsed:.1f}s: no 100 Continue?"


def test_hop_by_hop_request_headers_stripped(remora, tmp_path, origins):
    o = origins()
    r, port, _ = simple_proxy(remora, tmp_path, o.port)
    res = one_request(port, "GET", "/echo", [
        ("Connection", "keep-alive, foo"), ("foo", "bar"), ("Keep-Alive", "timeout=5"),
        ("TE", "gzip"), ("Upgrade", "websocket"), ("Proxy-Connection", "keep-alive"),
        ("x-kept", "yes")])
    assert res.status == 200
    h = res.json()["headers"]
    for gone in ("foo", "keep-alive", "te", "upgrade", "proxy-connection", "connection"):
        assert gone not in h, (gone, h)
    assert h["x-kept"] == "yes"


def test_hop_by_hop_response_headers_stripped(remora, tmp_path, py_origins):
    """The origin's Connection: close, Keep-Alive and Proxy-Connection are hop-by-hop: they
    are not forwarded, and the downstream connection stays open."""
    py = py_origins()
    py.script.append({"body": b"bye", "close": True,
                      "headers": [("Keep-Alive", "timeout=5"), ("Proxy-Connection", "close"),
                                  ("x-end", "1")]})
    r, port, _ = simple_proxy(remora, tmp_path, py.port)
    with HttpConn(port) as c:
        res = c.request("GET", "/a")
        assert (res.status, res.body) == (200, b"bye")
        for gone in ("connection", "keep-alive", "proxy-connection"):
            assert not res.has(gone), res.headers
        assert res.get("x-end") == "1"
        res = c.request("GET", "/b")
        assert (res.status, res.body) == (200, b"py:/b")
    assert py.conns == 2


def test_absolute_form_request(remora, tmp_path, origins):
    """RFC 9112 §3.2.2: the absolute-form target gives the path and the authority."""
    o = origins()
    r, port, _ = simple_proxy(remora, tmp_path, o.port)
    with HttpConn(port) as c:
        c.send(b"GET http://abs.test/echo?z=1 HTTP/1.1\r\nHost: abs.test\r\n\r\n")
        res = c.read_response()
    assert res.status == 200, res
    echo = res.json()
    assert echo["path"] == "/echo?z=1"
    assert echo["headers"]["host"] == "abs.test"


def _stream_body(c, n, h, pause=None):
    """Reads exactly n body bytes from c (buffer first), hashing them."""
    got = 0
    if c.buf:
        take = bytes(c.buf[:n])
        del c.buf[:len(take)]
        h.update(take)
        got += len(take)
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    while got < n:
        k = c.sock.recv_into(view, min(len(buf), n - got))
        if k == 0:
            break
        h.update(view[:k])
        got += k
        if pause:
            pause(got)
    return got


def test_1gib_download_byte_exact_bounded_rss(remora, tmp_path, origins):
    o = origins()
    r, port, _ = simple_proxy(remora, tmp_path, o.port)
    total = 1 << 30
    sampler = RssSampler(r.proc.pid)
    with HttpConn(port, timeout=60) as c:
        c.send(build_request("GET", "/big", [("x-origin-size", str(total))]))
        version, status, _, headers = c.read_head()
        assert status == 200
        assert dict(headers).get("content-length") == str(total)
        h = hashlib.sha256()
        got = _stream_body(c, total, h)
    peak = sampler.stop()
    assert got == total
    assert h.hexdigest() == sha256_of_repeated(b"x", total)
    assert peak < RSS_LIMIT_KB, f"proxy RSS peaked at {peak} kB"


def test_1gib_upload_byte_exact_bounded_rss(remora, tmp_path, origins):
    o = origins()
    r, port, _ = simple_proxy(remora, tmp_path, o.port)
    total = 1 << 30
    blocks = [os.urandom(MiB) for _ in range(16)]
    sampler = RssSampler(r.proc.pid)
    h = hashlib.sha256()
    with HttpConn(port, timeout=120) as c:
        c.send(build_request("POST", "/echo", [("Content-Length", str(total))]))
        for i in range(total // MiB):
            b = blocks[(i * 7) % 16]
            c.send(b)
            h.update(b)
        res = c.read_response()
    peak = sampler.stop()
    assert res.status == 200
    echo = res.json()
    assert echo["body_bytes"] == total
    assert echo["body_sha256"] == h.hexdigest()
    assert peak < RSS_LIMIT_KB, f"proxy RSS peaked at {peak} kB"


def test_slow_reader_64mib_bounded_rss(remora, tmp_path, origins):
    """A client that stops reading, then reads slowly: the proxy applies back-pressure to
    the origin instead of buffering the 64 MiB response."""
    o = origins()
    r, port, _ = simple_proxy(remora, tmp_path, o.port)
    total = 64 * MiB
    sampler = RssSampler(r.proc.pid, interval=0.01)
    with HttpConn(port, timeout=60, rcvbuf=64 * 1024) as c:
        c.send(build_request("GET", "/slow", [("x-origin-size", str(total))]))
        _, status, _, _ = c.read_head()
        assert status == 200
        time.sleep(1.0)   # not reading at all: everything the origin can send piles up
        stalled_peak = sampler.peak
        h = hashlib.sha256()

        def pause(got):
            if got < 16 * MiB:
                time.sleep(0.002)
        got = _stream_body(c, total, h, pause)
    peak = sampler.stop()
    assert got == total
    assert h.hexdigest() == sha256_of_repeated(b"x", total)
    assert stalled_peak < RSS_LIMIT_KB, f"RSS while the client stalled: {stalled_peak} kB"
    assert peak < RSS_LIMIT_KB, f"proxy RSS peaked at {peak} kB"


def _slow_accept_origin(total, accepted):
    """An origin whose first SYN from the proxy is dropped: its accept queue (backlog 0) is
    held full by a filler connection until 0.3 s in, so the proxy's connect completes only
    with the SYN retransmitted after about 1 s. Then it reads one request with a
    Content-Length body of `total` bytes and answers 200 with the byte count."""
    import socket
    import threading
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(0)
    filler = socket.create_connection(ls.getsockname())
    result = {}

    def serve():
        try:
            time.sleep(0.3)
            f, _ = ls.accept()  # frees the queue for the proxy's retransmitted SYN
            f.close()
            ls.settimeout(10)
            s, _ = ls.accept()
            accepted.set()
            s.settimeout(20)
            buf = b""
            while b"\r\n\r\n" not in buf:
                buf += s.recv(65536)
            got = len(buf.split(b"\r\n\r\n", 1)[1])
            while got < total:
                d = s.recv(1 << 20)
                if not d:
                    break
                got += len(d)
            result["got"] = got
            body = str(got).encode()
            s.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
            time.sleep(0.5)
            s.close()
        except OSError as e:
            result["err"] = repr(e)
        finally:
            filler.close()
            ls.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return ls.getsockname()[1], t, result


def test_body_paused_for_a_slow_connect_resumes(remora, tmp_path):
    """A request body that outgrows the buffer limit while the upstream connection is still
    being made pauses the client; once connected and the buffered body is written, reading
    resumes (it used to stay paused whenever that write drained at once, so the upload
    stalled until the client gave up)."""
    import threading
    total = 8 * MiB
    accepted = threading.Event()
    oport, t, result = _slow_accept_origin(total, accepted)
    r, port, _ = simple_proxy(remora, tmp_path, oport, cluster_extra={"connect_timeout": "5s"})
    with HttpConn(port, timeout=15) as c:
        c.send(build_request("POST", "/up", [("Content-Length", str(total))]))
        block = b"u" * MiB
        for _ in range(total // MiB):
            c.send(block)
        res = c.read_response()
    t.join(5)
    assert accepted.is_set()
    assert res.status == 200, res
    assert result.get("got") == total, result
    assert res.body == str(total).encode()
