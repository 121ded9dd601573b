# SPDX-License-Identifier: Apache-2.0
"""HTTP routing with Envoy's semantics: virtual host domain matching, route order and
matchers, direct responses, redirects, no route / no cluster, weighted clusters, rewrites
and header mutations at route, virtual host and route configuration level."""
import math
import os

from conftest import free_port
from http_helpers import (HttpConn, cluster, file_log, hcm, http_listener, one_request, origins,
                          route, start_proxy, vhost, wait_log_match, wait_stat,
                          wait_stats)

assert origins  # fixture, used by name


def direct(body, status=200):
    return {"status": status, "body": {"inline_string": body}}


def dr_route(match, body, status=200):
    return {"match": match, "direct_response": direct(body, status)}


LOG_FMT = "%REQ(X-CASE)% %RESPONSE_CODE% %RESPONSE_FLAGS% %UPSTREAM_CLUSTER% %UPSTREAM_HOST%\n"


def test_virtual_host_domain_matching(remora, tmp_path):
    """Exact, then the longest suffix wildcard, then the longest prefix wildcard, then "*".
    Matching is case-insensitive; the Host port takes part in the match (Envoy strips it only
    with ignore_port_in_host_matching); "*.example.com" needs at least one character before
    the dot."""
    port = free_port()
    vhosts = [
        vhost("exact", ["exact.example.com"], [dr_route({"prefix": "/"}, "exact")]),
        vhost("with-port", ["withport.example.com:8080"], [dr_route({"prefix": "/"}, "with-port")]),
        vhost("suffix", ["*.example.com"], [dr_route({"prefix": "/"}, "suffix")]),
        vhost("suffix-long", ["*.deep.example.com"], [dr_route({"prefix": "/"}, "suffix-long")]),
        vhost("suffix-dash", ["*-api.example.org"], [dr_route({"prefix": "/"}, "suffix-dash")]),
        vhost("prefix", ["prefix.*"], [dr_route({"prefix": "/"}, "prefix")]),
        vhost("prefix-long", ["prefix.example.*"], [dr_route({"prefix": "/"}, "prefix-long")]),
        vhost("default", ["*"], [dr_route({"prefix": "/"}, "default")]),
    ]
    start_proxy(remora, [http_listener("http", port, hcm(vhosts))], [])
    cases = {
        "exact.example.com": "exact",
        "EXACT.Example.COM": "exact",
        "exact.example.com:8080": "default",       # the port is part of the host
        "withport.example.com:8080": "with-port",
        "withport.example.com": "suffix",
        "a.example.com": "suffix",
        "a.b.example.com": "suffix",
        "x.deep.example.com": "suffix-long",       # longest suffix wins
        "deep.example.com": "suffix",
        ".example.com": "default",                 # wildcard needs one character
        "example.com": "default",
        "v1-api.example.org": "suffix-dash",
        "prefix.anything": "prefix",
        "prefix.example.net": "prefix-long",       # longest prefix wins
        "prefix.anything:9000": "prefix",
        "exact.example.com.evil": "default",
        "other.test": "default",
    }
    with HttpConn(port) as c:
        for host, want in cases.items():
            res = c.request("GET", "/", host=host)
            assert (host, res.status, res.body.decode()) == (host, 200, want)


def test_ignore_port_in_host_matching(remora):
    port = free_port()
    h = hcm([vhost("exact", ["exact.example.com"], [dr_route({"prefix": "/"}, "exact")]),
             vhost("default", ["*"], [dr_route({"prefix": "/"}, "default")])],
            route_config_extra={"ignore_port_in_host_matching": True})
    start_proxy(remora, [http_listener("http", port, h)], [])
    assert one_request(port, host="exact.example.com:8080").body == b"exact"
    assert one_request(port, host="exact.example.com").body == b"exact"


def routing_proxy(remora, tmp_path, origins):
    a, b = origins("a"), origins("b")
    port = free_port()
    log = os.path.join(str(tmp_path), "access.log")
    routes = [
        dr_route({"path": "/exact"}, "path-exact"),
        dr_route({"prefix": "/api/v1/special"}, "prefix-special"),
        dr_route({"prefix": "/api"}, "prefix-api"),
        dr_route({"safe_regex": {"regex": "/re/[0-9]+"}}, "regex"),
        dr_route({"prefix": "/CaSe", "case_sensitive": False}, "case-insensitive"),
        dr_route({"prefix": "/hdr", "headers": [{"name": "x-exact",
                                                 "string_match": {"exact": "yes"}}]}, "hdr-exact"),
        dr_route({"prefix": "/hdr", "headers": [{"name": "x-present", "present_match": True}]},
                 "hdr-present"),
        dr_route({"prefix": "/hdr", "headers": [{"name": "x-block", "string_match": {"exact": "1"},
                                                 "invert_match": True}]}, "hdr-invert"),
        dr_route({"prefix": "/hdr", "headers": [{"name": "x-a", "string_match": {"exact": "1"}},
                                                {"name": "x-b", "string_match": {"prefix": "z"}}]},
                 "hdr-all"),
        dr_route({"prefix": "/hdr"}, "hdr-none"),
        dr_route({"prefix": "/q", "query_parameters": [{"name": "debug",
                                                        "string_match": {"exact": "1"}}]},
                 "q-exact"),
        dr_route({"prefix": "/q", "query_parameters": [{"name": "flag", "present_match": True}]},
                 "q-present"),
        dr_route({"prefix": "/q"}, "q-none"),
        dr_route({"prefix": "/teapot"}, "short and stout", status=418),
        {"match": {"prefix": "/redir-host"}, "redirect": {"host_redirect": "new.example.com"}},
        {"match": {"prefix": "/https"}, "redirect": {"https_redirect": True}},
        {"match": {"prefix": "/pr-strip"}, "redirect": {"path_redirect": "/new/path",
                                                        "strip_query": True}},
        {"match": {"prefix": "/pr"}, "redirect": {"path_redirect": "/new/path"}},
        {"match": {"prefix": "/found"}, "redirect": {"path_redirect": "/f",
                                                     "response_code": "FOUND"}},
        {"match": {"prefix": "/pfx/"}, "redirect": {"prefix_rewrite": "/other/"}},
        route("/ch", cluster_header="x-cluster"),
        route("/rw/", "a", prefix_rewrite="/"),
        route("/hr/", "a", prefix_rewrite="/", host_rewrite_literal="rewritten.example"),
        route("/", "b"),
    ]
    vhosts = [vhost("routes", ["*"], routes),
              vhost("narrow", ["narrow.test"], [dr_route({"prefix": "/only"}, "only")])]
    h = hcm(vhosts, access_log=[file_log(log, LOG_FMT)])
    r = start_proxy(remora, [http_listener("http", port, h)],
                    [cluster("a", [a.port]), cluster("b", [b.port])])
    return r, port, log


def test_route_order_and_matchers(remora, tmp_path, origins):
    r, port, _ = routing_proxy(remora, tmp_path, origins)
    cases = [
        ("/exact", [], "path-exact"),
        ("/exact?x=1", [], "path-exact"),             # path match ignores the query
        ("/api/v1/special/x", [], "prefix-special"),  # first match wins, in order
        ("/api/v1/other", [], "prefix-api"),
        ("/apixyz", [], "prefix-api"),                # prefix is a string prefix
        ("/re/123", [], "regex"),
        ("/re/123?q=9", [], "regex"),                 # regex runs on the path only
        ("/case/Foo", [], "case-insensitive"),
        ("/CASE", [], "case-insensitive"),
        ("/hdr", [("x-exact", "yes"), ("x-present", "")], "hdr-exact"),
        ("/hdr", [("x-exact", "no"), ("x-present", "")], "hdr-present"),
        ("/hdr", [("x-block", "2")], "hdr-invert"),
        ("/hdr", [("x-block", "1")], "hdr-none"),
        ("/hdr", [("x-a", "1"), ("x-b", "zz"), ("x-block", "1")], "hdr-all"),
        ("/hdr", [("x-a", "1"), ("x-b", "y"), ("x-block", "1")], "hdr-none"),  # all must match
        ("/hdr", [], "hdr-none"),                      # absent header: an inverted exact fails
        ("/q?debug=1", [], "q-exact"),
        ("/q?debug=2&flag", [], "q-present"),
        ("/q?a=b&flag=x", [], "q-present"),
        ("/q?debug=0", [], "q-none"),
        ("/q", [], "q-none"),
    ]
    with HttpConn(port) as c:
        for path, hdrs, want in cases:
            res = c.request("GET", path, hdrs)
            assert (path, hdrs, res.status, res.body.decode()) == (path, hdrs, 200, want)
        # Case sensitive by default: /API is not /api; it falls through to "/" (cluster b).
        res = c.request("GET", "/API/v1")
        assert res.status == 200 and res.get("x-origin-name") == "b"
        res = c.request("GET", "/exact/")
        assert res.get("x-origin-name") == "b"
        res = c.request("GET", "/re/12/x")                  # regex is a full match
        assert res.get("x-origin-name") == "b"


def test_direct_response(remora, tmp_path, origins):
    r, port, _ = routing_proxy(remora, tmp_path, origins)
    res = one_request(port, "GET", "/teapot")
    assert (res.status, res.body) == (418, b"short and stout")
    assert res.get("content-length") == str(len(b"short and stout"))
    assert res.get("content-type") == "text/plain"
    wait_stats(r, {"http.ingress_http.rq_direct_response": 1, "cluster.a.upstream_rq_total": 0,
                   "cluster.b.upstream_rq_total": 0})


def test_redirects(remora, tmp_path, origins):
    r, port, _ = routing_proxy(remora, tmp_path, origins)
    cases = [
        ("/redir-host/x?a=1", 301, "http://new.example.com/redir-host/x?a=1"),
        ("/https/x?a=1", 301, "https://routes.test/https/x?a=1"),
        ("/pr?a=1", 301, "http://routes.test/new/path?a=1"),
        ("/pr-strip?a=1", 301, "http://routes.test/new/path"),
        ("/found", 302, "http://routes.test/f"),
        ("/pfx/rest?k=v", 301, "http://routes.test/other/rest?k=v"),
    ]
    with HttpConn(port) as c:
        for path, status, location in cases:
            res = c.request("GET", path, host="routes.test")
            assert (path, res.status, res.get("location")) == (path, status, location)
    wait_stat(r, "http.ingress_http.rq_redirect", len(cases))


def test_no_route_is_404_nr(remora, tmp_path, origins):
    r, port, log = routing_proxy(remora, tmp_path, origins)
    res = one_request(port, "GET", "/elsewhere", [("x-case", "noroute")], host="narrow.test")
    assert res.status == 404
    assert res.body == b""
    line = wait_log_match(log, lambda l: l.startswith("noroute "))
    assert line.split()[1:3] == ["404", "NR"], line
    wait_stats(r, {"http.ingress_http.no_route": 1, "http.ingress_http.downstream_rq_4xx": 1})
    # the same vhost serves its own route
    assert one_request(port, "GET", "/only", host="narrow.test").body == b"only"


def test_cluster_header(remora, tmp_path, origins):
    r, port, log = routing_proxy(remora, tmp_path, origins)
    res = one_request(port, "GET", "/ch", [("x-cluster", "a")])
    assert res.status == 200 and res.get("x-origin-name") == "a"
    res = one_request(port, "GET", "/ch", [("x-cluster", "nosuch"), ("x-case", "nc")])
    assert res.status == 503
    line = wait_log_match(log, lambda l: l.startswith("nc "))
    assert line.split()[1:3] == ["503", "NC"], line
    res = one_request(port, "GET", "/ch", [("x-case", "nc-missing")])
    assert res.status == 503
    line = wait_log_match(log, lambda l: l.startswith("nc-missing "))
    assert line.split()[1:3] == ["503", "NC"], line
    wait_stat(r, "http.ingress_http.no_cluster", 2)


def test_weighted_clusters_90_10(remora, tmp_path, origins):
    """2000 requests split 90/10: within a 5-sigma binomial bound, and the per-cluster
    upstream_rq_total counts equal what the origins answered."""
    heavy, light = origins("heavy"), origins("light")
    port = free_port()
    wc = {"clusters": [{"name": "heavy", "weight": 90}, {"name": "light", "weight": 10}]}
    h = hcm([vhost("split", ["*"], [{"match": {"prefix": "/"},
                                     "route": {"weighted_clusters": wc}}])])
    r = start_proxy(remora, [http_listener("http", port, h)],
                    [cluster("heavy", [heavy.port]), cluster("light", [light.port])],
                    concurrency=2)
    n = 2000
    counts = {"heavy": 0, "light": 0}
    conns = [HttpConn(port) for _ in range(4)]
    try:
        for i in range(n):
            res = conns[i % 4].request("GET", "/w")
            assert res.status == 200
            counts[res.get("x-origin-name")] += 1
    finally:
        for c in conns:
            c.close()
    p = 0.9
    sigma = math.sqrt(n * p * (1 - p))
    assert abs(counts["heavy"] - n * p) < 5 * sigma, counts
    wait_stats(r, {"http.ingress_http.downstream_rq_completed": n,
                   "cluster.heavy.upstream_rq_total": counts["heavy"],
                   "cluster.light.upstream_rq_total": counts["light"]})


def test_prefix_rewrite_and_host_rewrite(remora, tmp_path, origins):
    r, port, _ = routing_proxy(remora, tmp_path, origins)
    res = one_request(port, "GET", "/rw/echo?x=1")
    assert res.status == 200 and res.get("x-origin-name") == "a"
    echo = res.json()
    assert echo["path"] == "/echo?x=1"
    assert echo["headers"]["x-envoy-original-path"] == "/rw/echo?x=1"
    assert echo["headers"]["host"] == "test.local"

    res = one_request(port, "GET", "/hr/echo")
    echo = res.json()
    assert echo["path"] == "/echo"
    assert echo["headers"]["host"] == "rewritten.example"
    assert "x-forwarded-host" not in echo["headers"]   # only with append_x_forwarded_host

    res = one_request(port, "GET", "/echo")              # no rewrite: no original-path header
    assert "x-envoy-original-path" not in res.json()["headers"]


def hv(key, value, action=None):
    o = {"header": {"key": key, "value": value}}
    if action:
        o["append_action"] = action
    return o


def test_header_mutations_at_every_level(remora, tmp_path, origins):
    """request/response_headers_to_add/remove on the route, the virtual host and the route
    configuration. Appends go in Envoy's order: route, then virtual host, then route
    configuration; values may use formatter operators."""
    o = origins("m")
    port = free_port()
    rt = route("/", "origin")
    rt.update(
        request_headers_to_add=[hv("x-multi", "route"),
                                hv("x-over", "route", "OVERWRITE_IF_EXISTS_OR_ADD"),
                                hv("x-absent", "route", "ADD_IF_ABSENT"),
                                hv("x-client", "%DOWNSTREAM_REMOTE_ADDRESS%"),
                                hv("x-client-ip", "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%"),
                                hv("x-copy", "copied-%REQ(x-src)%")],
        request_headers_to_remove=["x-drop-route"],
        response_headers_to_add=[hv("x-resp-route", "r"), hv("x-resp-multi", "route"),
                                 hv("x-resp-client", "%DOWNSTREAM_REMOTE_ADDRESS%")],
        response_headers_to_remove=["x-origin-name"])
    v = vhost("mut", ["*"], [rt],
              request_headers_to_add=[hv("x-multi", "vhost"), hv("x-vhost", "v")],
              request_headers_to_remove=["x-drop-vhost"],
              response_headers_to_add=[hv("x-resp-vhost", "v"), hv("x-resp-multi", "vhost")],
              response_headers_to_remove=["x-drop-resp-vhost"])
    h = hcm([v], route_config_extra={
        "request_headers_to_add": [hv("x-multi", "rc"), hv("x-rc", "c")],
        "request_headers_to_remove": ["x-drop-rc"],
        "response_headers_to_add": [hv("x-resp-rc", "c"), hv("x-resp-multi", "rc")]})
    start_proxy(remora, [http_listener("http", port, h)], [cluster("origin", [o.port])])

    with HttpConn(port) as c:
        res = c.request("GET", "/echo", [
            ("x-multi", "client"), ("x-over", "client"), ("x-absent", "client"),
            ("x-src", "abc"), ("x-drop-route", "1"), ("x-drop-vhost", "1"), ("x-drop-rc", "1")])
        client = f"127.0.0.1:{c.local_port}"
    assert res.status == 200
    h = res.json()["headers"]
    assert h["x-multi"] == "client, route, vhost, rc"
    assert h["x-over"] == "route"
    assert h["x-absent"] == "client"
    assert h["x-client"] == client
    assert h["x-client-ip"] == "127.0.0.1"
    assert h["x-copy"] == "copied-abc"
    assert h["x-vhost"] == "v" and h["x-rc"] == "c"
    for gone in ("x-drop-route", "x-drop-vhost", "x-drop-rc"):
        assert gone not in h, gone
    assert res.get("x-resp-route") == "r"
    assert res.get("x-resp-vhost") == "v"
    assert res.get("x-resp-rc") == "c"
    assert res.get_all("x-resp-multi") == ["route", "vhost", "rc"]
    assert res.get("x-resp-client") == client
    assert not res.has("x-origin-name")

    with HttpConn(port) as c:
        res = c.request("GET", "/echo")
    h = res.json()["headers"]
    assert h["x-absent"] == "route"       # ADD_IF_ABSENT adds when missing
    assert h["x-over"] == "route"
    assert h["x-multi"] == "route, vhost, rc"
    assert h["x-copy"] == "copied-"       # a missing %REQ()% is empty inside a header value
