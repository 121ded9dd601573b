# SPDX-License-Identifier: Apache-2.0
"""Router retries, timeouts and upstream failures with Envoy's semantics: retry_on kinds,
num_retries, retry request headers (honoured from internal clients only), per-try and route
timeouts, stream idle timeout, connect failure (UF), no healthy upstream (UH), circuit
breaking (UO) and the keep-alive race (no 503 UC)."""
import os
import threading
import time

from conftest import free_port
from http_helpers import (BODY_SI, BODY_UF, BODY_UH, BODY_UT, PREVIOUS_HOSTS_TYPE, HttpConn,
                          cluster, dns_cluster, file_log, hcm, hget, http_listener, one_request,
                          origins, py_origins, route, start_proxy, stats, vhost, wait_log_match,
                          wait_stat, wait_stats)

assert origins and py_origins  # fixtures, used by name

LOG_FMT = ("%REQ(X-CASE)% %RESPONSE_CODE% %RESPONSE_FLAGS% %UPSTREAM_HOST% "
           "%UPSTREAM_REQUEST_ATTEMPT_COUNT%\n")
INTERNAL = [("x-forwarded-for", "10.1.2.3")]   # a trusted (internal) client, see below


def rp(retry_on, num_retries=None, **extra):
    p = {"retry_on": retry_on}
    if num_retries is not None:
        p["num_retries"] = num_retries
    p.update(extra)
    return p


class Env:
    """One proxy with a route per scenario. Cluster "py" is a scripted PyOrigin."""

    def __init__(self, remora, tmp_path, py_origins, origins, extra_clusters=(), extra_routes=(),
                 extra_listeners=()):
        self.py = py_origins()
        self.port = free_port()
        self.log = os.path.join(str(tmp_path), "access.log")
        routes = list(extra_routes) + [
            route("/r5xx", "py", retry_policy=rp("5xx", 2)),
            route("/rgw", "py", retry_policy=rp("gateway-error", 3)),
            route("/r4xx", "py", retry_policy=rp("retriable-4xx", 2)),
            route("/rsc", "py", retry_policy=rp("retriable-status-codes", 2,
                                                retriable_status_codes=[418])),
            route("/rreset", "py", retry_policy=rp("reset", 2)),
            route("/rdefault", "py", retry_policy=rp("5xx")),        # num_retries defaults to 1
            route("/rpt", "py", timeout="5s",
                  retry_policy=rp("5xx", 2, per_try_timeout="0.25s")),
            route("/rto", "py", timeout="0.3s"),
            route("/rlong", "py", timeout="10s"),
            route("/rnotimeout", "py", timeout="0s"),
            route("/", "py"),
        ]
        self.h = hcm([vhost("all", ["*"], routes)], access_log=[file_log(self.log, LOG_FMT)])
        self.r = start_proxy(remora, [http_listener("http", self.port, self.h),
                                      *extra_listeners],
                             [cluster("py", [self.py.port]), *extra_clusters])

    def req(self, path, headers=(), case=None, timeout=10):
        hdrs = list(headers) + ([("x-case", case)] if case else [])
        return one_request(self.port, "GET", path, hdrs, timeout=timeout)

    def log_line(self, case):
        line = wait_log_match(self.log, lambda l: l.split(" ")[0] == case, what=f"line {case}")
        return line.split(" ")

    def stat(self, name):
        return stats(self.r).get(name, 0)


def test_retry_on_5xx_then_success(remora, tmp_path, py_origins, origins):
    e = Env(remora, tmp_path, py_origins, origins)
    e.py.script.extend([{"status": 503}, {"status": 200, "body": b"second"}])
    res = e.req("/r5xx", case="r5xx")
    assert (res.status, res.body) == (200, b"second")
    assert len(e.py.requests) == 2
    f = e.log_line("r5xx")
    assert f[1:3] == ["200", "-"], f
    assert f[4] == "2", f                       # UPSTREAM_REQUEST_ATTEMPT_COUNT
    wait_stats(e.r, {"cluster.py.upstream_rq_retry_success": 1, "cluster.py.upstream_rq_retry": 1,
                     "cluster.py.upstream_rq_retry_limit_exceeded": 0,
                     "http.ingress_http.downstream_rq_2xx": 1})


def test_retry_limit_exceeded_returns_last_response_urx(remora, tmp_path, py_origins, origins):
    e = Env(remora, tmp_path, py_origins, origins)
    e.py.script.extend([{"status": 503, "body": b"one"}, {"status": 503, "body": b"two"},
                        {"status": 503, "body": b"three"}])
    res = e.req("/r5xx", case="urx")
    assert (res.status, res.body) == (503, b"three")   # the last upstream answer, as is
    assert len(e.py.requests) == 3                      # 1 + num_retries
    f = e.log_line("urx")
    assert f[1] == "503" and "URX" in f[2].split(","), f
    wait_stats(e.r, {"cluster.py.upstream_rq_retry_limit_exceeded": 1,
                     "cluster.py.upstream_rq_retry": 2, "cluster.py.upstream_rq_retry_success": 0})


def test_num_retries_defaults_to_one(remora, tmp_path, py_origins, origins):
    e = Env(remora, tmp_path, py_origins, origins)
    e.py.script.extend([{"status": 500}, {"status": 502}, {"status": 200}])
    res = e.req("/rdefault")
    assert res.status == 502
    assert len(e.py.requests) == 2


def test_gateway_error_retries_502_503_504_not_500(remora, tmp_path, py_origins, origins):
    e = Env(remora, tmp_path, py_origins, origins)
    e.py.script.extend([{"status": 502}, {"status": 503}, {"status": 504},
                        {"status": 200, "body": b"ok"}])
    res = e.req("/rgw")
    assert (res.status, res.body) == (200, b"ok")
    assert len(e.py.requests) == 4
    e.py.script.extend([{"status": 500, "body": b"five hundred"}, {"status": 200}])
    res = e.req("/rgw")
    assert (res.status, res.body) == (500, b"five hundred")
    assert len(e.py.requests) == 5
    wait_stat(e.r, "cluster.py.upstream_rq_retry", 3)


def test_retriable_4xx_is_409_only(remora, tmp_path, py_origins, origins):
    e = Env(remora, tmp_path, py_origins, origins)
    e.py.script.extend([{"status": 409}, {"status": 200, "body": b"ok"}])
    assert e.req("/r4xx").status == 200
    assert len(e.py.requests) == 2
    e.py.script.extend([{"status": 404}, {"status": 200}])
    assert e.req("/r4xx").status == 404
    assert len(e.py.requests) == 3
    e.py.script.clear()
    e.py.script.extend([{"status": 503}, {"status": 200}])
    assert e.req("/r4xx").status == 503          # retriable-4xx does not cover 5xx
    assert len(e.py.requests) == 4


def test_retriable_status_codes(remora, tmp_path, py_origins, origins):
    e = Env(remora, tmp_path, py_origins, origins)
    e.py.script.extend([{"status": 418}, {"status": 200, "body": b"ok"}])
    assert e.req("/rsc").status == 200
    assert len(e.py.requests) == 2
    e.py.script.extend([{"status": 503}, {"status": 200}])
    assert e.req("/rsc").status == 503
    assert len(e.py.requests) == 3


def test_retry_on_reset_before_headers(remora, tmp_path, py_origins, origins):
    e = Env(remora, tmp_path, py_origins, origins)
    e.py.script.extend([{"reset": True}, {"status": 200, "body": b"after reset"}])
    res = e.req("/rreset", case="reset")
    assert (res.status, res.body) == (200, b"after reset")
    assert len(e.py.requests) == 2
    wait_stat(e.r, "cluster.py.upstream_rq_retry_success", 1)


def test_reset_without_retry_is_503_uc(remora, tmp_path, py_origins, origins):
    """An HTTP/1.1 upstream connection that ends before the response headers is a
    connection termination for Envoy (flag UC; UR is a stream reset, HTTP/2 only)."""
    e = Env(remora, tmp_path, py_origins, origins)
    e.py.script.append({"reset": True})
    res = e.req("/plain", case="uc")
    assert res.status == 503
    assert res.body == (b"upstream connect error or disconnect/reset before headers. "
                        b"reset reason: connection termination")
    f = e.log_line("uc")
    assert f[1] == "503" and "UC" in f[2].split(","), f
    assert len(e.py.requests) == 1


def test_connect_failure_retry_with_previous_hosts(remora, tmp_path, py_origins, origins):
    """One dead endpoint and one live one, RANDOM balancing, one retry on connect-failure
    with the previous_hosts predicate: the retry never picks the dead host again, so every
    request succeeds."""
    alive = origins("alive")
    dead = free_port()
    mixed = cluster("mixed", [dead, alive.port], lb="RANDOM")
    pol = rp("connect-failure", 1,
             retry_host_predicate=[{"name": "envoy.retry_host_predicates.previous_hosts",
                                    "typed_config": {"@type": PREVIOUS_HOSTS_TYPE}}],
             host_selection_retry_max_attempts=20)
    e = Env(remora, tmp_path, py_origins, origins, extra_clusters=[mixed],
            extra_routes=[route("/rcf", "mixed", retry_policy=pol)])
    for i in range(30):
        res = e.req("/rcf")
        assert res.status == 200, (i, res)
        assert res.get("x-origin-name") == "alive"
    fails = stats(e.r).get("cluster.mixed.upstream_cx_connect_fail", 0)
    assert fails >= 1                                  # the dead host was picked sometimes
    wait_stats(e.r, {"cluster.mixed.upstream_rq_retry": fails,
                     "cluster.mixed.upstream_rq_retry_success": fails,
                     "cluster.mixed.upstream_cx_connect_fail": fails})


def test_retry_headers_from_internal_client(remora, tmp_path, py_origins, origins):
    """x-envoy-retry-on / x-envoy-max-retries are honoured for an internal request (with
    use_remote_address false: XFF holds a single internal address) and never forwarded."""
    e = Env(remora, tmp_path, py_origins, origins)
    e.py.script.extend([{"status": 503}, {"status": 503}, {"status": 200, "body": b"third"}])
    res = e.req("/plain", INTERNAL + [("x-envoy-retry-on", "5xx"), ("x-envoy-max-retries", "2")])
    assert (res.status, res.body) == (200, b"third")
    assert len(e.py.requests) == 3
    assert hget(e.py.requests[0].headers, "x-envoy-internal") == "true"
    for q in e.py.requests:
        names = {k for k, _ in q.headers}
        assert "x-envoy-retry-on" not in names and "x-envoy-max-retries" not in names, q.headers
    wait_stat(e.r, "cluster.py.upstream_rq_retry", 2)


def test_retry_headers_from_external_client_ignored(remora, tmp_path, py_origins, origins):
    """Header sanitizing: with no XFF and use_remote_address false the request is external,
    so x-envoy-* control headers are removed before routing (Envoy's
    ConnectionManagerUtility::cleanInternalHeaders): no retry, and nothing forwarded."""
    e = Env(remora, tmp_path, py_origins, origins)
    e.py.script.extend([{"status": 503}, {"status": 200}])
    res = e.req("/plain", [("x-envoy-retry-on", "5xx"), ("x-envoy-max-retries", "2")])
    assert res.status == 503
    assert len(e.py.requests) == 1
    names = {k for k, _ in e.py.requests[0].headers}
    assert "x-envoy-retry-on" not in names and "x-envoy-max-retries" not in names
    assert "x-envoy-internal" not in names


def test_no_retry_without_policy(remora, tmp_path, py_origins, origins):
    e = Env(remora, tmp_path, py_origins, origins)
    e.py.script.extend([{"status": 503}, {"status": 200}])
    assert e.req("/plain").status == 503
    assert len(e.py.requests) == 1


def test_per_try_timeout_then_retry(remora, tmp_path, py_origins, origins):
    e = Env(remora, tmp_path, py_origins, origins)
    e.py.script.extend([{"delay": 2.0, "body": b"late"}, {"body": b"fast"}])
    t0 = time.monotonic()
    res = e.req("/rpt", case="pt")
    elapsed = time.monotonic() - t0
    assert (res.status, res.body) == (200, b"fast")
    assert 0.2 <= elapsed < 1.5, elapsed
    assert len(e.py.requests) == 2
    # each attempt carries the timeout it gets: the per-try timeout
    assert hget(e.py.requests[0].headers, "x-envoy-expected-rq-timeout-ms") == "250"
    wait_stats(e.r, {"cluster.py.upstream_rq_per_try_timeout": 1, "cluster.py.upstream_rq_retry": 1,
                     "cluster.py.upstream_rq_retry_success": 1})


def test_route_timeout_504_ut(remora, tmp_path, py_origins, origins):
    e = Env(remora, tmp_path, py_origins, origins)
    e.py.script.append({"delay": 3.0})
    t0 = time.monotonic()
    res = e.req("/rto", case="ut")
    elapsed = time.monotonic() - t0
    assert (res.status, res.body) == (504, BODY_UT.encode())
    assert 0.25 <= elapsed < 2.0, elapsed
    f = e.log_line("ut")
    assert f[1] == "504" and "UT" in f[2].split(","), f
    assert hget(e.py.requests[0].headers, "x-envoy-expected-rq-timeout-ms") == "300"
    wait_stats(e.r, {"cluster.py.upstream_rq_timeout": 1, "http.ingress_http.downstream_rq_5xx": 1})


def test_upstream_rq_timeout_header(remora, tmp_path, py_origins, origins):
    """x-envoy-upstream-rq-timeout-ms (from an internal client) overrides the route timeout;
    it is consumed, and the upstream sees x-envoy-expected-rq-timeout-ms instead."""
    e = Env(remora, tmp_path, py_origins, origins)
    e.py.script.append({"delay": 3.0})
    t0 = time.monotonic()
    res = e.req("/rlong", INTERNAL + [("x-envoy-upstream-rq-timeout-ms", "200")], case="hdr")
    elapsed = time.monotonic() - t0
    assert (res.status, res.body) == (504, BODY_UT.encode())
    assert elapsed < 1.5, elapsed
    q = e.py.requests[0]
    assert hget(q.headers, "x-envoy-upstream-rq-timeout-ms") is None
    assert hget(q.headers, "x-envoy-expected-rq-timeout-ms") == "200"


def test_upstream_rq_timeout_header_from_external_client_ignored(remora, tmp_path, py_origins,
                                                                 origins):
    """Without an internal XFF the request is external: Envoy strips
    x-envoy-upstream-rq-timeout-ms before the router sees it, so the route timeout holds."""
    e = Env(remora, tmp_path, py_origins, origins)
    e.py.script.append({"delay": 0.6, "body": b"in time"})
    res = e.req("/rlong", [("x-envoy-upstream-rq-timeout-ms", "200")])
    assert (res.status, res.body) == (200, b"in time")
    q = e.py.requests[0]
    assert hget(q.headers, "x-envoy-upstream-rq-timeout-ms") is None
    assert hget(q.headers, "x-envoy-expected-rq-timeout-ms") == "10000"


def test_timeout_zero_disables(remora, tmp_path, py_origins, origins):
    """timeout: 0s means no route timeout: a 1.2 s answer arrives (a 0.3 s route times out on
    the same origin delay), and no x-envoy-expected-rq-timeout-ms is sent upstream since
    there is no timeout to expect."""
    e = Env(remora, tmp_path, py_origins, origins)
    e.py.script.append({"delay": 1.2, "body": b"slow but fine"})
    res = e.req("/rnotimeout")
    assert (res.status, res.body) == (200, b"slow but fine")
    assert hget(e.py.requests[0].headers, "x-envoy-expected-rq-timeout-ms") is None
    e.py.script.append({"delay": 1.2})
    assert e.req("/rto").status == 504


def test_stream_idle_timeout_408(remora, tmp_path, py_origins, origins):
    o = origins("slow")
    idle_port = free_port()
    idle_log = os.path.join(str(tmp_path), "idle.log")
    h = hcm([vhost("idle", ["*"], [route("/", "slow", timeout="0s")])], stat_prefix="idle_http",
            access_log=[file_log(idle_log, LOG_FMT)], stream_idle_timeout="0.3s")
    e = Env(remora, tmp_path, py_origins, origins, extra_clusters=[cluster("slow", [o.port])],
            extra_listeners=[http_listener("idle", idle_port, h)])
    t0 = time.monotonic()
    res = one_request(idle_port, "GET", "/", [("x-origin-latency-ms", "3000"), ("x-case", "si")])
    elapsed = time.monotonic() - t0
    assert (res.status, res.body) == (408, BODY_SI.encode())
    assert 0.25 <= elapsed < 2.0, elapsed
    line = wait_log_match(idle_log, lambda l: l.startswith("si "))
    f = line.split(" ")
    assert f[1] == "408" and "SI" in f[2].split(","), line
    wait_stat(e.r, "http.idle_http.downstream_rq_idle_timeout", 1)


def test_route_idle_timeout_shorter_than_hcm_and_reused_streams(remora, tmp_path, py_origins,
                                                                origins):
    """The route's idle_timeout replaces the connection manager's 5 min default even though
    the stream started before routing; and on a keep-alive connection whose stream object
    (and its lazily armed timers) is reused, a later request still times out on its own
    deadline, while fast requests in between are unaffected."""
    o = origins("slow")
    port = free_port()
    log = os.path.join(str(tmp_path), "ridle.log")
    h = hcm([vhost("ridle", ["*"], [route("/", "slow", timeout="0s", idle_timeout="0.4s")])],
            stat_prefix="ridle_http", access_log=[file_log(log, LOG_FMT)])
    e = Env(remora, tmp_path, py_origins, origins, extra_clusters=[cluster("slow", [o.port])],
            extra_listeners=[http_listener("ridle", port, h)])
    with HttpConn(port) as c:
        for i in range(5):  # fast requests reuse the stream object
            assert c.request("GET", "/", [("x-case", f"fast{i}")]).status == 200
    with HttpConn(port) as c:
        assert c.request("GET", "/", [("x-case", "fast")]).status == 200
        time.sleep(0.2)
        t0 = time.monotonic()
        res = c.request("GET", "/", [("x-origin-latency-ms", "3000"), ("x-case", "ridle")])
        elapsed = time.monotonic() - t0
    assert (res.status, res.body) == (408, BODY_SI.encode())
    assert 0.35 <= elapsed < 2.0, elapsed
    f = wait_log_match(log, lambda l: l.startswith("ridle ")).split(" ")
    assert f[1] == "408" and "SI" in f[2].split(","), f
    wait_stat(e.r, "http.ridle_http.downstream_rq_idle_timeout", 1)


def test_route_timeout_on_a_reused_stream(remora, tmp_path, py_origins, origins):
    """Route timeouts are lazy timers on reused stream objects: after many fast requests
    with a long timeout on the same connection, a slow one still gets its 504 on time."""
    o = origins("slow")
    port = free_port()
    h = hcm([vhost("rt", ["*"], [route("/", "slow", timeout="0.5s")])], stat_prefix="rt_http")
    e = Env(remora, tmp_path, py_origins, origins, extra_clusters=[cluster("slow", [o.port])],
            extra_listeners=[http_listener("rt", port, h)])
    with HttpConn(port) as c:
        for _ in range(20):
            assert c.request("GET", "/").status == 200
        time.sleep(0.3)  # the timer armed by an earlier request fires early and re-arms
        t0 = time.monotonic()
        res = c.request("GET", "/", [("x-origin-latency-ms", "3000")])
        elapsed = time.monotonic() - t0
    assert (res.status, res.body) == (504, BODY_UT.encode())
    assert 0.45 <= elapsed < 1.5, elapsed
    wait_stat(e.r, "cluster.slow.upstream_rq_timeout", 1)


def test_connect_failure_503_uf(remora, tmp_path, py_origins, origins):
    dead = free_port()
    e = Env(remora, tmp_path, py_origins, origins, extra_clusters=[cluster("dead", [dead])],
            extra_routes=[route("/dead", "dead")])
    res = e.req("/dead", case="uf")
    assert res.status == 503
    assert res.body == BODY_UF.encode()
    assert res.get("content-type") == "text/plain"
    f = e.log_line("uf")
    assert f[1] == "503" and "UF" in f[2].split(","), f
    assert f[3] == f"127.0.0.1:{dead}", f
    wait_stats(e.r, {"cluster.dead.upstream_cx_connect_fail": 1,
                     "cluster.dead.upstream_rq_retry": 0})


def test_no_healthy_upstream_503_uh(remora, tmp_path, py_origins, origins):
    e = Env(remora, tmp_path, py_origins, origins,
            extra_clusters=[dns_cluster("nowhere", "nonexistent.invalid", 80)],
            extra_routes=[route("/nowhere", "nowhere")])
    res = e.req("/nowhere", case="uh")
    assert (res.status, res.body) == (503, BODY_UH.encode())
    f = e.log_line("uh")
    assert f[1] == "503" and "UH" in f[2].split(","), f
    assert f[3] == "-", f
    wait_stat(e.r, "cluster.nowhere.upstream_cx_none_healthy", 1)


def test_circuit_breaker_max_requests_503_uo(remora, tmp_path, py_origins, origins):
    o = origins("cb")
    cb = cluster("cb", [o.port], circuit_breakers={"thresholds": [{"max_requests": 1}]})
    e = Env(remora, tmp_path, py_origins, origins, extra_clusters=[cb],
            extra_routes=[route("/cb", "cb")])
    first = {}

    def slow():
        first["res"] = e.req("/cb", [("x-origin-latency-ms", "1500")], case="cb-first")
    t = threading.Thread(target=slow)
    t.start()
    try:
        wait_stat(e.r, "cluster.cb.upstream_rq_active", 1)
        res = e.req("/cb", case="cb-second")
        assert res.status == 503
    finally:
        t.join(timeout=10)
    assert first["res"].status == 200
    f = e.log_line("cb-second")
    assert f[1] == "503" and "UO" in f[2].split(","), f
    wait_stat(e.r, "cluster.cb.upstream_rq_pending_overflow", 1)


def test_keepalive_race_origin_closes_idle_connections(remora, tmp_path, py_origins, origins):
    """The origin closes a kept-alive connection after 50 ms idle; requests 55 ms apart on one
    downstream connection must all succeed (no 503 UC from reusing a closed connection)."""
    ka = py_origins(idle_close=0.05)
    e = Env(remora, tmp_path, py_origins, origins, extra_clusters=[cluster("ka", [ka.port])],
            extra_routes=[route("/ka", "ka")])
    n = 20
    statuses = []
    with HttpConn(e.port) as c:
        for i in range(n):
            t0 = time.monotonic()
            res = c.request("GET", f"/ka/{i}", [("x-case", f"ka{i}")])
            statuses.append(res.status)
            time.sleep(max(0.0, 0.055 - (time.monotonic() - t0)))
    assert statuses == [200] * n, statuses
    assert ka.idle_closes >= n // 2          # the origin really closed idle connections
    wait_stats(e.r, {"cluster.ka.upstream_rq_2xx": n, "cluster.ka.upstream_rq_5xx": 0})


def test_upload_paused_while_pending_resumes_on_the_connection(remora, tmp_path, py_origins):
    """A request body that waited for a connection (max_connections 1, the connection busy)
    past the buffer limit pauses the downstream; once the connection serves it, reading must
    resume even though its first flush stays under the upstream's high watermark (no
    on_write_low is due)."""
    o = py_origins()
    o.script.append({"delay": 0.6, "body": b"first"})
    port = free_port()
    lst = http_listener("http", port, hcm([vhost("all", ["*"], [route("/", "py")])]))
    lst["per_connection_buffer_limit_bytes"] = 16384
    start_proxy(remora, [lst], [cluster(
        "py", [o.port], per_connection_buffer_limit_bytes=16384,
        circuit_breakers={"thresholds": [{"max_connections": 1, "max_pending_requests": 4}]})])
    body = os.urandom(300 * 1024)
    got = {}

    def slow():
        with HttpConn(port, timeout=10) as c:
            got["first"] = c.request("GET", "/slow")

    t = threading.Thread(target=slow)
    t.start()
    try:
        o.wait_requests(1)
        with HttpConn(port, timeout=10) as c:
            sender = threading.Thread(target=c.send, args=(
                b"POST /up HTTP/1.1\r\nhost: test.local\r\ncontent-length: %d\r\n\r\n" % len(body)
                + body,), daemon=True)
            sender.start()
            res = c.read_response("POST")
            sender.join(5)
    finally:
        t.join(timeout=10)
    assert got["first"].status == 200
    assert res.status == 200
    assert o.requests[1].body == body
