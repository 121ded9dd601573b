# SPDX-License-Identifier: Apache-2.0
"""Path handling before routing (Envoy's normalize_path, merge_slashes,
path_with_escaped_slashes_action) and always_set_request_id_in_response."""
from http_helpers import one_request, py_origins, simple_proxy  # noqa: F401 (fixture)


def upstream_path(port, path):
    res = one_request(port, "GET", path)
    assert res.status == 200, (path, res.status, res.body)
    assert res.body.startswith(b"py:"), res.body
    return res.body[3:].decode()  # PyOrigin answers "py:<path as received>"


def test_paths_untouched_by_default(remora, tmp_path, py_origins):
    o = py_origins()
    _, port, _ = simple_proxy(remora, tmp_path, o.port)
    assert upstream_path(port, "/a/./b/../c//d%2Fe") == "/a/./b/../c//d%2Fe"


def test_normalize_path_and_merge_slashes(remora, tmp_path, py_origins):
    o = py_origins()
    _, port, _ = simple_proxy(remora, tmp_path, o.port,
                              hcm_extra={"normalize_path": True, "merge_slashes": True})
    assert upstream_path(port, "/a/./b/../c") == "/a/c"
    assert upstream_path(port, "/a/b/../../../../x?q=1/../") == "/x?q=1/../"
    assert upstream_path(port, "//a///b") == "/a/b"
    assert upstream_path(port, "/%7euser/%2a") == "/~user/%2A"  # unreserved decoded, rest upper
    assert upstream_path(port, "/a/b/..") == "/a/"


def test_escaped_slashes_actions(remora, tmp_path, py_origins):
    o = py_origins()
    _, port, _ = simple_proxy(remora, tmp_path, o.port, hcm_extra={
        "path_with_escaped_slashes_action": "REJECT_REQUEST"})
    assert one_request(port, "GET", "/a%2Fb").status == 400
    assert upstream_path(port, "/a/b") == "/a/b"
    _, port2, _ = simple_proxy(remora, tmp_path, o.port, hcm_extra={
        "path_with_escaped_slashes_action": "UNESCAPE_AND_FORWARD"})
    assert upstream_path(port2, "/a%2fb%5Cc") == "/a/b\\c"
    _, port3, _ = simple_proxy(remora, tmp_path, o.port, hcm_extra={
        "path_with_escaped_slashes_action": "UNESCAPE_AND_REDIRECT"})
    res = one_request(port3, "GET", "/a%2Fb?x=1")
    assert res.status == 307
    assert res.get("location") == "/a/b?x=1"


def test_always_set_request_id_in_response(remora, tmp_path, py_origins):
    o = py_origins()
    _, port, _ = simple_proxy(remora, tmp_path, o.port,
                              hcm_extra={"always_set_request_id_in_response": True})
    res = one_request(port, "GET", "/echo", [("x-request-id", "abc-123")])
    assert res.get("x-request-id") == "abc-123"


def _retry_proxy(remora, tmp_path, origin_port, retry_policy):
    from http_helpers import route
    return simple_proxy(remora, tmp_path, origin_port,
                        routes=[route("/", "origin", retry_policy=retry_policy)])


def test_retriable_headers(remora, tmp_path, py_origins):
    """retry_on retriable-headers: a response carrying a matching header is retried."""
    o = py_origins()
    o.script.extend([{"status": 200, "headers": [("x-upstream-retry", "yes")], "body": b"a"},
                     {"status": 200, "body": b"b"}])
    _, port, _ = _retry_proxy(remora, tmp_path, o.port, {
        "retry_on": "retriable-headers", "num_retries": 1,
        "retriable_headers": [{"name": "x-upstream-retry", "string_match": {"exact": "yes"}}]})
    res = one_request(port, "GET", "/h")
    assert (res.status, res.body) == (200, b"b")
    assert len(o.requests) == 2


def test_per_try_idle_timeout_retries(remora, tmp_path, py_origins):
    """per_try_idle_timeout: an attempt that goes silent is abandoned and retried."""
    o = py_origins()
    o.script.extend([{"status": 200, "delay": 2.0, "body": b"slow"},
                     {"status": 200, "body": b"fast"}])
    _, port, _ = _retry_proxy(remora, tmp_path, o.port, {
        "retry_on": "reset", "num_retries": 1, "per_try_idle_timeout": "0.3s"})
    res = one_request(port, "GET", "/i")
    assert (res.status, res.body) == (200, b"fast")


def test_auto_host_rewrite_uses_the_dns_name(remora, tmp_path, py_origins):
    from http_helpers import dns_cluster, hcm, http_listener, route, start_proxy, vhost
    from conftest import free_port
    o = py_origins(handler=lambda req: {"status": 200,
                                        "body": dict(req.headers).get("host", "").encode()})
    port = free_port()
    h = hcm([vhost("v", ["*"], [route("/", "dns", auto_host_rewrite=True)])])
    start_proxy(remora, [http_listener("http", port, h)],
                [dns_cluster("dns", "localhost", o.port, dns_lookup_family="V4_ONLY")])
    res = one_request(port, "GET", "/", host="front.example")
    assert (res.status, res.body) == (200, b"localhost")


def test_attempt_count_headers(remora, tmp_path, py_origins):
    """include_request_attempt_count / include_attempt_count_in_response (x-envoy-attempt-count)."""
    from http_helpers import route
    seen = []
    o = py_origins(handler=lambda req: (seen.append(dict(req.headers).get("x-envoy-attempt-count")),
                                        {"status": 503 if len(seen) == 1 else 200})[1])
    _, port, _ = simple_proxy(remora, tmp_path, o.port,
                              routes=[route("/", "origin", retry_policy={"retry_on": "5xx"})],
                              vhost_extra={"include_request_attempt_count": True,
                                           "include_attempt_count_in_response": True})
    res = one_request(port, "GET", "/a")
    assert res.status == 200
    assert seen == ["1", "2"]
    assert res.get("x-envoy-attempt-count") == "2"
