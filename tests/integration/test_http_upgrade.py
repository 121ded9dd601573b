# SPDX-License-Identifier: Apache-2.0
"""HTTP upgrades through the connection manager: websocket (and other upgrade types) with
Envoy's upgrade_configs at the connection manager and per route, CONNECT proxied to an
upstream or terminated here (connect_config), and the refusals (403) when an upgrade is
not configured. Real peers: python3-websockets as origin and client, curl's proxy tunnel
(-p -x) for CONNECT."""
import asyncio
import json
import os
import socket
import subprocess
import sys
import threading

import pytest
import websockets  # python3-websockets (make deps-test)

from conftest import free_port, wait_for
from http_helpers import (HttpConn, build_request, cluster, file_log, hcm, hget, http_listener,
                          route, start_proxy, stat, stop_process, vhost, wait_log_match,
                          wait_stat)
from http_helpers import py_origins  # noqa: F401 (fixture)


HERE = os.path.dirname(os.path.abspath(__file__))
WS_UPGRADE = [{"upgrade_type": "websocket"}]


class WsOrigin:
    """tests/integration/ws_origin.py in a child process (python3-websockets)."""

    def __init__(self, tmp_path):
        port_file = os.path.join(str(tmp_path), f"ws-origin-{id(self)}.port")
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "ws_origin.py"),
                                      port_file], stdin=subprocess.DEVNULL)
        wait_for(lambda: os.path.exists(port_file) or self.proc.poll() is not None, 10,
                 what="the websocket origin")
        assert self.proc.poll() is None, "ws_origin.py exited"
        with open(port_file) as f:
            self.port = int(f.read())

    def stop(self):
        stop_process(self.proc)


@pytest.fixture
def ws_origin(tmp_path):
    o = WsOrigin(tmp_path)
    yield o
    o.stop()


def ws_proxy(remora, tmp_path, origin_port, routes=None, hcm_upgrades=WS_UPGRADE, **hcm_extra):
    port = free_port()
    log = os.path.join(str(tmp_path), "access.log")
    extra = dict(hcm_extra)
    if hcm_upgrades is not None:
        extra["upgrade_configs"] = hcm_upgrades
    h = hcm([vhost("backend", ["*"], routes or [route("/", "origin")])],
            access_log=[file_log(log, "%REQ(:METHOD)% %REQ(:PATH)% %RESPONSE_CODE% "
                                      "%RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% "
                                      "%RESPONSE_CODE_DETAILS%\n")], **extra)
    r = start_proxy(remora, [http_listener("http", port, h)], [cluster("origin", [origin_port])])
    return r, port, log


def run(coro, timeout=30):
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def ws_session(port, path="/chat", messages=(), big=0):
    """Connects, reads the origin's hello, sends each message and checks its echo; returns
    the hello."""
    async with websockets.connect(f"ws://127.0.0.1:{port}{path}", max_size=None,
                                  compression=None, open_timeout=10) as ws:
        hello = json.loads(await ws.recv())
        for m in messages:
            await ws.send(m)
            assert await ws.recv() == m
        if big:
            payload = os.urandom(big)
            await ws.send(payload)
            assert await ws.recv() == payload
        return hello


def raw_upgrade(port, path="/chat", upgrade="websocket", extra=()):
    c = HttpConn(port)
    hdrs = [("Upgrade", upgrade), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "13"),
            *extra]
    return c, c.request("GET", path, hdrs)


# ---- websocket -------------------------------------------------------------------------------

def test_websocket_echo_through_the_proxy(remora, tmp_path, ws_origin):
    r, port, log = ws_proxy(remora, tmp_path, ws_origin.port)
    hello = run(ws_session(port, "/chat?room=1", [f"message {i}" for i in range(50)] +
                           [b"\x00\x01binary\xff"], big=3 * 1024 * 1024 + 17))
    # The origin saw the upgrade (with the client's websocket fields) and Remora's headers.
    assert hello["path"] == "/chat?room=1"
    h = hello["headers"]
    assert h["upgrade"].lower() == "websocket" and "upgrade" in h["connection"].lower()
    assert h["sec-websocket-version"] == "13" and h["sec-websocket-key"]
    assert h["x-forwarded-proto"] == "http" and h["x-request-id"]
    wait_stat(r, "http.ingress_http.downstream_cx_upgrades_total", 1)
    wait_stat(r, "http.ingress_http.downstream_cx_upgrades_active", 0)
    wait_stat(r, "http.ingress_http.downstream_rq_1xx", 1)
    line = wait_log_match(log, lambda l: l.startswith("GET /chat?room=1 101"))
    _, _, _, flags, rx, tx, details = line.split()
    assert flags == "-" and details == "via_upstream"
    assert int(rx) > 3 * 1024 * 1024 and int(tx) > 3 * 1024 * 1024  # tunnel bytes both ways


def test_websocket_many_concurrent_sessions(remora, tmp_path, ws_origin):
    r, port, _ = ws_proxy(remora, tmp_path, ws_origin.port)

    async def many():
        return await asyncio.gather(*(ws_session(port, f"/s{i}", [f"hi {i}"] * 5)
                                      for i in range(40)))
    hellos = run(many())
    assert sorted(h["path"] for h in hellos) == sorted(f"/s{i}" for i in range(40))
    wait_stat(r, "http.ingress_http.downstream_cx_upgrades_total", 40)
    wait_stat(r, "http.ingress_http.downstream_cx_upgrades_active", 0)


def test_websocket_origin_closes_the_tunnel(remora, tmp_path, ws_origin):
    r, port, log = ws_proxy(remora, tmp_path, ws_origin.port)

    async def origin_closes():
        async with websockets.connect(f"ws://127.0.0.1:{port}/x", open_timeout=10) as ws:
            await ws.recv()
            await ws.send("close")
            with pytest.raises(websockets.ConnectionClosed) as e:
                await ws.recv()
            return e.value.rcvd.code if e.value.rcvd else None
    assert run(origin_closes()) == 4000  # the origin's close frame came through
    wait_stat(r, "http.ingress_http.downstream_cx_upgrades_active", 0)
    wait_stat(r, "cluster.origin.upstream_cx_active", 0)
    wait_stat(r, "http.ingress_http.downstream_cx_active", 0)
    wait_log_match(log, lambda l: l.startswith("GET /x 101 - "))


def test_websocket_refused_without_upgrade_config(remora, tmp_path, py_origins):
    o = py_origins()
    r, port, log = ws_proxy(remora, tmp_path, o.port, hcm_upgrades=None)
    c, resp = raw_upgrade(port)
    with c:
        assert resp.status == 403 and resp.body == b""
        assert c.closed_by_peer()
    assert stat(r, "http.ingress_http.downstream_rq_ws_on_non_ws_route") == 1
    assert stat(r, "http.ingress_http.downstream_cx_upgrades_total") == 0
    wait_log_match(log, lambda l: l.startswith("GET /chat 403 - ") and "upgrade_failed" in l)
    # A plain request on a new connection still works, and nothing of the upgrade arrived.
    with HttpConn(port) as c2:
        assert c2.request("GET", "/plain").status == 200
    assert [q.path for q in o.requests] == ["/plain"]


# Envoy's table (arch_overview/http/upgrades): the route's setting for a type wins over the
# connection manager's; a type neither lists is refused.
@pytest.mark.parametrize("hcm_up,route_up,allowed", [
    (WS_UPGRADE, None, True),
    (WS_UPGRADE, [{"upgrade_type": "websocket", "enabled": False}], False),
    ([{"upgrade_type": "websocket", "enabled": False}], [{"upgrade_type": "WebSocket"}], True),
    ([{"upgrade_type": "websocket", "enabled": False}], None, False),
    (None, [{"upgrade_type": "websocket"}], True),
    ([{"upgrade_type": "foo"}], None, False),
])
def test_upgrade_enabled_matrix(remora, tmp_path, ws_origin, hcm_up, route_up, allowed):
    extra = {"upgrade_configs": route_up} if route_up is not None else {}
    r, port, _ = ws_proxy(remora, tmp_path, ws_origin.port, hcm_upgrades=hcm_up,
                          routes=[route("/", "origin", **extra)])
    c, resp = raw_upgrade(port, upgrade="WebSocket")
    with c:
        if allowed:
            assert resp.status == 101, resp
            assert hget(resp.headers, "upgrade").lower() == "websocket"
            assert hget(resp.headers, "connection").lower() == "upgrade"
            assert not resp.has("content-length") and not resp.has("transfer-encoding")
        else:
            assert resp.status == 403
    assert stat(r, "http.ingress_http.downstream_rq_ws_on_non_ws_route") == (0 if allowed else 1)


def test_upgrade_declined_by_the_origin(remora, tmp_path, py_origins):
    """An origin that answers an upgrade request with a plain response: the client gets that
    response, the connection closes after it (HTTP/1.1 cannot resume after an upgrade
    request), and no tunnel is counted."""
    o = py_origins(lambda req: {"status": 200, "body": b"no upgrade here"})
    r, port, _ = ws_proxy(remora, tmp_path, o.port)
    c, resp = raw_upgrade(port)
    with c:
        assert resp.status == 200 and resp.body == b"no upgrade here"
        assert hget(resp.headers, "connection") == "close"
        assert c.closed_by_peer()
    req = o.requests[0]
    assert hget(req.headers, "upgrade") == "websocket"
    assert "upgrade" in hget(req.headers, "connection").lower()
    assert stat(r, "http.ingress_http.downstream_cx_upgrades_total") == 0


def test_h2c_upgrade_is_served_over_http11(remora, tmp_path, py_origins):
    """Envoy ignores h2c upgrade requests: the request goes on over HTTP/1.1 without the
    upgrade fields, and the connection stays reusable."""
    o = py_origins()
    r, port, _ = ws_proxy(remora, tmp_path, o.port)
    with HttpConn(port) as c:
        resp = c.request("GET", "/h2c", [("Upgrade", "h2c"), ("Connection", "Upgrade, HTTP2-Settings"),
                                         ("HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA")])
        assert resp.status == 200 and resp.body == b"py:/h2c"
        assert c.request("GET", "/again").status == 200  # same connection
    names = {k for k, _ in o.requests[0].headers}
    assert not names & {"upgrade", "http2-settings"}
    assert stat(r, "http.ingress_http.downstream_rq_ws_on_non_ws_route") == 0


@pytest.mark.parametrize("framing", ["chunked", "length"])
def test_upgrade_request_with_a_body_is_served_plain(remora, tmp_path, py_origins, framing):
    """An upgrade request that carries a body is answered as a plain request, without its
    upgrade fields: after such a body the next bytes could be a pipelined request or the new
    protocol, and that ambiguity is never forwarded. The connection stays usable."""
    o = py_origins()
    r, port, _ = ws_proxy(remora, tmp_path, o.port)
    hdrs = [("Upgrade", "websocket"), ("Connection", "Upgrade")]
    body = b"5\r\nhello\r\n0\r\n\r\n" if framing == "chunked" else b"hello"
    if framing == "chunked":
        hdrs.append(("Transfer-Encoding", "chunked"))
    with HttpConn(port) as c:
        c.send(build_request("POST", "/with-body", hdrs, body))
        resp = c.read_response()
        assert resp.status == 200 and resp.body == b"py:/with-body"
        assert c.request("GET", "/next").status == 200  # same connection, parsed normally
    first = o.requests[0]
    assert first.body == b"hello"
    names = {k for k, _ in first.headers}
    assert "upgrade" not in names
    assert stat(r, "http.ingress_http.downstream_cx_upgrades_total") == 0


# ---- CONNECT ---------------------------------------------------------------------------------

def connect_route(cluster_name="origin", terminate=True, **up):
    cfg = {"upgrade_type": "CONNECT", **up}
    if terminate:
        cfg["connect_config"] = {}
    return {"match": {"connect_matcher": {}},
            "route": {"cluster": cluster_name, "upgrade_configs": [cfg]}}


def test_connect_terminated_with_curl_proxytunnel(remora, tmp_path, py_origins):
    """curl -p -x: Remora ends the CONNECT (connect_config), answers 200 once the TCP
    connection to the cluster is up, and relays the tunnel; curl then speaks HTTP/1.1 to the
    origin through it."""
    o = py_origins()
    r, port, log = ws_proxy(remora, tmp_path, o.port, hcm_upgrades=None,
                            routes=[connect_route(), route("/", "origin")])
    out = subprocess.run(["curl", "-sS", "-p", "-x", f"http://127.0.0.1:{port}",
                          f"http://127.0.0.1:{o.port}/through-tunnel", "-D", "-"],
                         capture_output=True, timeout=20)
    assert out.returncode == 0, out.stderr
    text = out.stdout.decode()
    assert text.startswith("HTTP/1.1 200"), text  # the CONNECT answer
    assert text.endswith("py:/through-tunnel")
    # The origin got curl's own GET, not the CONNECT: Remora terminated it.
    assert [q.method for q in o.requests] == ["GET"]
    assert stat(r, "http.ingress_http.downstream_cx_upgrades_total") == 1
    wait_log_match(log, lambda l: l.startswith("CONNECT - 200 - "))


def test_connect_terminated_raw_bytes_and_half_close(remora, tmp_path, echo_server):
    r, port, log = ws_proxy(remora, tmp_path, echo_server.server_address[1], hcm_upgrades=None,
                            routes=[connect_route()])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        early = b"sent before the 200"
        s.sendall(b"CONNECT db.internal:5432 HTTP/1.1\r\nHost: db.internal:5432\r\n\r\n" + early)
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += s.recv(4096)
        head, _, rest = buf.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ")
        assert b"content-length" not in head.lower() and b"transfer-encoding" not in head.lower()
        payload = os.urandom(2 * 1024 * 1024)
        t = threading.Thread(target=s.sendall, args=(payload,))
        t.start()
        want = early + payload
        got = bytearray(rest)
        while len(got) < len(want):
            d = s.recv(262144)
            assert d, "tunnel closed early"
            got += d
        t.join()
        assert bytes(got) == want
        s.shutdown(socket.SHUT_WR)  # half-close: the echo server closes, so does the tunnel
        s.settimeout(5)
        assert s.recv(10) == b""
    wait_stat(r, "http.ingress_http.downstream_cx_upgrades_active", 0)
    wait_log_match(log, lambda l: l.startswith("CONNECT - 200 - "))


class ConnectOrigin:
    """An upstream that terminates CONNECT itself: answers 200 and echoes (proxy mode)."""

    def __init__(self):
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(8)
        self.port = self.lsock.getsockname()[1]
        self.heads = []
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        try:
            s, _ = self.lsock.accept()
        except OSError:
            return
        with s:
            buf = b""
            while b"\r\n\r\n" not in buf:
                d = s.recv(4096)
                if not d:
                    return
                buf += d
            head, _, rest = buf.partition(b"\r\n\r\n")
            self.heads.append(head.decode())
            s.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n" + rest)
            while True:
                d = s.recv(65536)
                if not d:
                    return
                s.sendall(d)

    def stop(self):
        self.lsock.close()


def test_connect_proxied_to_an_upstream_proxy(remora, tmp_path):
    """Without connect_config the CONNECT itself goes upstream (Envoy's default for a
    CONNECT upgrade) and the upstream's 2xx opens the tunnel."""
    up = ConnectOrigin()
    try:
        r, port, _ = ws_proxy(remora, tmp_path, up.port, hcm_upgrades=[{"upgrade_type": "CONNECT"}],
                              routes=[{"match": {"connect_matcher": {}},
                                       "route": {"cluster": "origin"}}])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n\r\n")
            buf = b""
            while b"\r\n\r\n" not in buf:
                buf += s.recv(4096)
            assert buf.startswith(b"HTTP/1.1 200 ")
            s.sendall(b"ping through the tunnel")
            got = buf.partition(b"\r\n\r\n")[2]
            while len(got) < 23:
                got += s.recv(100)
            assert got == b"ping through the tunnel"
        assert up.heads[0].startswith("CONNECT example.test:443 HTTP/1.1")
    finally:
        up.stop()


def test_connect_refused_without_config_and_not_routed_by_prefix(remora, tmp_path, py_origins):
    o = py_origins()
    # No CONNECT upgrade anywhere: 403 (Envoy's internally generated CONNECT refusal).
    r, port, _ = ws_proxy(remora, tmp_path, o.port, hcm_upgrades=None)
    with HttpConn(port) as c:
        resp = c.request("CONNECT", "t.test:443", host="t.test:443")
        assert resp.status == 403
    # Allowed, but only a prefix route: CONNECT has no path, so no route matches (404).
    r2, port2, _ = ws_proxy(remora, tmp_path, o.port, hcm_upgrades=[{"upgrade_type": "CONNECT"}])
    with HttpConn(port2) as c:
        resp = c.request("CONNECT", "t.test:443", host="t.test:443")
        assert resp.status == 404
    assert o.requests == []
