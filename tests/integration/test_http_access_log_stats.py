# SPDX-License-Identifier: Apache-2.0
"""HTTP access logs (Envoy's default format field by field, json_format with typed values)
and the HTTP stats, in /stats and /stats/prometheus."""
import datetime
import json
import os
import re

from conftest import free_port
from http_helpers import (HttpConn, simple_proxy, cluster, file_log, hcm, http_listener, origins, route,
                          start_proxy, vhost, wait_log_lines, wait_stat,
                          wait_stats)

assert origins  # fixture, used by name

# [%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE%
# %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%
# "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%"
# "%UPSTREAM_HOST%"\n
DEFAULT_RE = re.compile(
    r'^\[(?P<start>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)\] '
    r'"(?P<method>\S+) (?P<path>\S+) (?P<proto>\S+)" (?P<code>\d+) (?P<flags>\S+) '
    r'(?P<rx>\d+) (?P<tx>\d+) (?P<duration>\d+) (?P<ust>\S+) "(?P<xff>[^"]*)" "(?P<ua>[^"]*)" '
    r'"(?P<rid>[^"]*)" "(?P<authority>[^"]*)" "(?P<upstream>[^"]*)"$')


def proxy(remora, tmp_path, origins, log_format=None, json_format=None):
    o = origins("logged")
    port = free_port()
    log = os.path.join(str(tmp_path), "access.log")
    routes = [route("/rw/", "origin", prefix_rewrite="/"),
              {"match": {"prefix": "/teapot"},
               "direct_response": {"status": 418, "body": {"inline_string": "tea"}}},
              route("/", "origin")]
    vhosts = [vhost("narrow", ["narrow.test"], [{"match": {"path": "/only"},
                                                  "direct_response": {"status": 200}}]),
              vhost("all", ["*"], routes)]
    h = hcm(vhosts, access_log=[file_log(log, log_format, json_format)])
    r = start_proxy(remora, [http_listener("http", port, h)], [cluster("origin", [o.port])])
    return r, port, log, o


def test_default_format_fields(remora, tmp_path, origins):
    r, port, log, o = proxy(remora, tmp_path, origins)
    body = b"hello world"
    t0 = datetime.datetime.now(datetime.timezone.utc)
    with HttpConn(port) as c:
        res = c.request("POST", "/echo?x=1", [("User-Agent", "alt-test/1.0"),
                                              ("x-request-id", "req-abc-123")],
                        body=body, host="logs.test")
        assert res.status == 200
        res_nr = c.request("GET", "/nowhere", [("User-Agent", "alt-test/1.0"),
                                               ("x-forwarded-for", "10.9.8.7")],
                           host="narrow.test")
        assert res_nr.status == 404
        res_rw = c.request("GET", "/rw/echo", host="logs.test")
        assert res_rw.status == 200
    lines = wait_log_lines(log, 3)
    assert len(lines) == 3, lines

    m = DEFAULT_RE.match(lines[0])
    assert m, lines[0]
    f = m.groupdict()
    start = datetime.datetime.strptime(f["start"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc)
    assert abs((start - t0).total_seconds()) < 5, (f["start"], t0)
    assert (f["method"], f["path"], f["proto"]) == ("POST", "/echo?x=1", "HTTP/1.1")
    assert (f["code"], f["flags"]) == ("200", "-")
    assert int(f["rx"]) == len(body)
    assert int(f["tx"]) == len(res.body)
    assert 0 <= int(f["duration"]) < 5000
    assert f["ust"] == res.get("x-envoy-upstream-service-time")
    assert f["xff"] == "-"
    assert f["ua"] == "alt-test/1.0"
    assert f["rid"] == "req-abc-123"
    assert f["authority"] == "logs.test"
    assert f["upstream"] == f"127.0.0.1:{o.port}"

    m = DEFAULT_RE.match(lines[1])
    assert m, lines[1]
    f = m.groupdict()
    assert (f["method"], f["path"], f["code"], f["flags"]) == ("GET", "/nowhere", "404", "NR")
    assert (f["rx"], f["tx"], f["ust"], f["upstream"]) == ("0", "0", "-", "-")
    assert f["xff"] == "10.9.8.7"
    assert re.match(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$",
                    f["rid"]), f["rid"]
    assert f["authority"] == "narrow.test"

    m = DEFAULT_RE.match(lines[2])
    assert m, lines[2]
    assert m.group("path") == "/rw/echo"      # X-ENVOY-ORIGINAL-PATH wins over :path


def test_json_format(remora, tmp_path, origins):
    fmt = {"method": "%REQ(:METHOD)%", "path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
           "code": "%RESPONSE_CODE%", "flags": "%RESPONSE_FLAGS%", "sent": "%BYTES_SENT%",
           "upstream": "%UPSTREAM_HOST%", "cluster": "%UPSTREAM_CLUSTER%",
           "missing": "%REQ(X-NOT-THERE)%", "mixed": "code=%RESPONSE_CODE%",
           "proto": "%PROTOCOL%", "const": "static", "ua": "%REQ(USER-AGENT)%"}
    r, port, log, o = proxy(remora, tmp_path, origins, json_format=fmt)
    with HttpConn(port) as c:
        res = c.request("GET", "/echo", [("User-Agent", "json-test")])
        assert res.status == 200
        assert c.request("GET", "/teapot").status == 418
        assert c.request("GET", "/x", host="narrow.test").status == 404
    lines = wait_log_lines(log, 3)
    recs = [json.loads(l) for l in lines]
    a, b, n = recs
    assert a == {"method": "GET", "path": "/echo", "code": 200, "flags": "-",
                 "sent": len(res.body), "upstream": f"127.0.0.1:{o.port}", "cluster": "origin",
                 "missing": None, "mixed": "code=200", "proto": "HTTP/1.1", "const": "static",
                 "ua": "json-test"}
    assert (b["code"], b["sent"], b["upstream"]) == (418, 3, None)
    assert (n["code"], n["flags"]) == (404, "NR")


def traffic(remora, tmp_path, origins):
    """5 proxied 200s, 2 no-route 404s, 3 proxied 503s on one downstream connection."""
    r, port, log, o = proxy(remora, tmp_path, origins)
    with HttpConn(port) as c:
        for _ in range(5):
            assert c.request("GET", "/ok").status == 200
        for _ in range(2):
            assert c.request("GET", "/nope", host="narrow.test").status == 404
        for _ in range(3):
            assert c.request("GET", "/fail", [("x-origin-status", "503")]).status == 503
    wait_stat(r, "http.ingress_http.downstream_rq_completed", 10)
    return r


def test_http_stats(remora, tmp_path, origins):
    r = traffic(remora, tmp_path, origins)
    want = {
        "http.ingress_http.downstream_rq_total": 10,
        "http.ingress_http.downstream_rq_2xx": 5,
        "http.ingress_http.downstream_rq_4xx": 2,
        "http.ingress_http.downstream_rq_5xx": 3,
        "http.ingress_http.downstream_rq_completed": 10,
        "http.ingress_http.downstream_cx_total": 1,
        "http.ingress_http.downstream_cx_http1_total": 1,
        "http.ingress_http.no_route": 2,
        "cluster.origin.upstream_rq_total": 8,
        "cluster.origin.upstream_rq_2xx": 5,
        "cluster.origin.upstream_rq_5xx": 3,
        "cluster.origin.upstream_rq_200": 5,
        "cluster.origin.upstream_rq_503": 3,
        "cluster.origin.upstream_rq_completed": 8,
        "cluster.origin.upstream_cx_http1_total": 1,
        "cluster.origin.upstream_cx_total": 1,
    }
    want["http.ingress_http.downstream_cx_active"] = 0
    wait_stats(r, want)


def test_prometheus_stats(remora, tmp_path, origins):
    r = traffic(remora, tmp_path, origins)
    st_code, body, _ = r.get("/stats/prometheus")
    assert st_code == 200
    samples = parse_prometheus(body)
    assert samples[("envoy_http_downstream_rq_total",
                    frozenset({("envoy_http_conn_manager_prefix", "ingress_http")}))] == 10
    assert samples[("envoy_cluster_upstream_rq_xx",
                    frozenset({("envoy_response_code_class", "2"),
                               ("envoy_cluster_name", "origin")}))] == 5
    assert samples[("envoy_cluster_upstream_rq_xx",
                    frozenset({("envoy_response_code_class", "5"),
                               ("envoy_cluster_name", "origin")}))] == 3
    assert samples[("envoy_http_downstream_rq_xx",
                    frozenset({("envoy_response_code_class", "4"),
                               ("envoy_http_conn_manager_prefix", "ingress_http")}))] == 2
    assert "# TYPE envoy_http_downstream_rq_total counter" in body.splitlines()
    # cluster.origin.upstream_rq_200 → envoy_cluster_upstream_rq{envoy_response_code="200",...}
    assert samples.get(("envoy_cluster_upstream_rq",
                        frozenset({("envoy_response_code", "200"),
                                   ("envoy_cluster_name", "origin")}))) == 5


def parse_prometheus(text):
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$', line)
        assert m, line
        labels = frozenset(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"',
                                      m.group(2) or ""))
        v = float(m.group(3))
        out[(m.group(1), labels)] = int(v) if v.is_integer() else v
    return out


def test_histograms_in_stats_and_prometheus(remora, tmp_path, origins):
    """downstream_rq_time and upstream_rq_time: quantiles in /stats, buckets in Prometheus."""
    o = origins()
    r, port, _ = simple_proxy(remora, tmp_path, o.port)
    with HttpConn(port) as c:
        for _ in range(20):
            assert c.request("GET", "/x").status == 200
    st, body, _ = r.get("/stats?filter=rq_time")
    lines = dict(l.split(": ", 1) for l in body.splitlines())
    for name in ("cluster.origin.upstream_rq_time", "http.ingress_http.downstream_rq_time"):
        assert re.fullmatch(r"P0\(nan,[\d.]+\) P25\(nan,[\d.]+\) P50\(nan,[\d.]+\) P75\(nan,[\d.]+\) "
                            r"P90\(nan,[\d.]+\) P95\(nan,[\d.]+\) P99\(nan,[\d.]+\) "
                            r"P99\.5\(nan,[\d.]+\) P99\.9\(nan,[\d.]+\) P100\(nan,[\d.]+\)",
                            lines[name]), lines[name]
    st, body, _ = r.get("/stats/prometheus")
    prom = parse_prometheus(body)
    assert "# TYPE envoy_cluster_upstream_rq_time histogram" in body
    inf = prom[("envoy_cluster_upstream_rq_time_bucket",
                frozenset({("envoy_cluster_name", "origin"), ("le", "+Inf")}))]
    count = prom[("envoy_cluster_upstream_rq_time_count",
                  frozenset({("envoy_cluster_name", "origin")}))]
    assert inf == count == 20
    st, body, _ = r.get("/stats?format=json&filter=downstream_rq_time")
    data = json.loads(body)
    hist = data["stats"][-1]["histograms"]
    assert hist["supported_quantiles"] == [0, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 100]
    assert hist["computed_quantiles"][0]["name"] == "http.ingress_http.downstream_rq_time"
