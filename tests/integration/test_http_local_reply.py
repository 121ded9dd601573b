# SPDX-License-Identifier: Apache-2.0
"""HCM local_reply_config (Envoy's LocalReplyImpl::rewrite): mappers chosen by access log
filters rewrite the status, body and headers of local replies (no route, connect failure,
direct responses); body_format formats every local reply with %LOCAL_REPLY_BODY%; origin
responses are never touched. Driven with curl; the access log shows the rewritten status."""
import json
import os
import subprocess

from conftest import REMORA_BIN, free_port
from http_helpers import (cluster, curl, file_log, hcm, http_listener, origins,  # noqa: F401
                          route, start_proxy, vhost, wait_log_match, BODY_UF)

JSON_FMT = {"code": "%RESPONSE_CODE%", "message": "%LOCAL_REPLY_BODY%", "path": "%REQ(:PATH)%",
            "flags": "%RESPONSE_FLAGS%"}


def local_reply_config(tmp_path):
    body_file = os.path.join(str(tmp_path), "maintenance.txt")
    with open(body_file, "w") as f:
        f.write("down for maintenance\n")
    return {
        "mappers": [
            {   # tenant "a" gets a 502 with its own body and headers on upstream failures
                "filter": {"and_filter": {"filters": [
                    {"header_filter": {"header": {"name": "x-tenant", "exact_match": "a"}}},
                    {"status_code_filter": {"comparison": {"op": "EQ",
                                                           "value": {"default_value": 503}}}}]}},
                "status_code": 502,
                "body": {"inline_string": "tenant a unavailable"},
                "headers_to_add": [
                    {"header": {"key": "x-lr", "value": "mapped"}},
                    # evaluated before the status is rewritten, as in Envoy
                    {"header": {"key": "x-lr-code", "value": "%RESPONSE_CODE%"}}]},
            {   # no route: JSON body
                "filter": {"response_flag_filter": {"flags": ["NR"]}},
                "body_format_override": {"json_format": JSON_FMT}},
            {   # maintenance body from a file, keeps the status
                "filter": {"header_filter": {"header": {"name": ":path",
                                                        "prefix_match": "/maint"}}},
                "body": {"filename": body_file}},
            {   # an empty body drops the content-type a mapper header set
                "filter": {"header_filter": {"header": {"name": "x-empty", "present_match": True}}},
                "body": {"inline_string": ""},
                "headers_to_add": [{"header": {"key": "content-type", "value": "text/html"}}]},
            {   # a custom content-type from headers_to_add is kept
                "filter": {"header_filter": {"header": {"name": "x-html", "present_match": True}}},
                "headers_to_add": [{"header": {"key": "content-type", "value": "text/html"}}]},
        ],
        "body_format": {"text_format_source": {"inline_string": "[%RESPONSE_CODE%] "
                                                                "%LOCAL_REPLY_BODY%"}}}


def start(remora, tmp_path, origin_port, lr):
    port = free_port()
    log = os.path.join(str(tmp_path), "access.log")
    routes = [{"match": {"prefix": "/teapot"},
               "direct_response": {"status": 418, "body": {"inline_string": "short and stout"}}},
              {"match": {"prefix": "/maint"}, "direct_response": {"status": 503}},
              route("/dead", "dead"), route("/o", "origin")]
    h = hcm([vhost("all", ["*"], routes)], local_reply_config=lr,
            access_log=[file_log(log, "%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS%\n")])
    r = start_proxy(remora, [http_listener("http", port, h)],
                    [cluster("origin", [origin_port]), cluster("dead", [free_port()])])
    return r, f"http://127.0.0.1:{port}", log


def test_mappers_and_body_format(remora, tmp_path, origins):
    o = origins("o")
    r, base, log = start(remora, tmp_path, o.port, local_reply_config(tmp_path))

    # No mapper matches: body_format applies to the original reply.
    res = curl(base + "/dead")
    assert res.status == 503
    assert res.body.decode() == "[503] " + BODY_UF
    assert res.get("content-type") == "text/plain"
    assert res.get("x-lr") is None

    # First mapper: status, body and headers rewritten, then the body format.
    res = curl(base + "/dead", "-H", "x-tenant: a")
    assert res.status == 502
    assert res.body == b"[502] tenant a unavailable"
    assert res.get("x-lr") == "mapped"
    assert res.get("x-lr-code") == "503"
    assert res.get("content-type") == "text/plain"
    assert int(res.get("content-length")) == len(res.body)

    # Only the first matching mapper applies (x-tenant: a on a 404 does not match mapper 1).
    res = curl(base + "/nowhere", "-H", "x-tenant: a")
    assert res.status == 404
    assert res.get("content-type") == "application/json"
    assert res.body.endswith(b"\n")
    assert res.json() == {"code": 404, "message": "", "path": "/nowhere", "flags": "NR"}
    assert res.get("x-lr") is None

    # Direct responses are local replies too; a DataSource file body keeps the status.
    res = curl(base + "/maint/x")
    assert res.status == 503
    assert res.body == b"[503] down for maintenance\n"
    res = curl(base + "/teapot")
    assert res.status == 418
    assert res.body == b"[418] short and stout"

    # Origin responses are not local replies.
    res = curl(base + "/o/hello", "-H", "x-tenant: a")
    assert res.status == 200
    assert not res.body.startswith(b"[")

    # The access log sees the rewritten status.
    line = wait_log_match(log, lambda l: l.startswith("/dead 502 "), what="rewritten 502")
    assert line.split(" ")[2].startswith("UF"), line


def test_head_and_content_type_rules(remora, tmp_path, origins):
    o = origins("o")
    r, base, log = start(remora, tmp_path, o.port, local_reply_config(tmp_path))

    # HEAD: the length of the body that a GET would get, no body.
    get = curl(base + "/nowhere")
    head = curl(base + "/nowhere", "-I")
    assert head.status == 404
    assert head.body == b""
    assert head.get("content-length") == get.get("content-length") == str(len(get.body))
    assert head.get("content-type") == "application/json"

    # An empty body: no content-type, even one a mapper header set (Envoy removes it).
    res = curl(base + "/dead", "-H", "x-empty: 1")
    assert res.status == 503
    # body_format still runs: "[503] " + "" is not empty, so text/plain...
    assert res.body == b"[503] "
    assert res.get("content-type") == "text/html"

    # A content-type set by headers_to_add wins over the format's.
    res = curl(base + "/dead", "-H", "x-html: 1")
    assert res.status == 503
    assert res.get_all("content-type") == ["text/html"]


def test_empty_body_without_body_format_has_no_content_type(remora, tmp_path, origins):
    o = origins("o")
    lr = {"mappers": [{"filter": {"status_code_filter": {"comparison": {
                           "op": "GE", "value": {"default_value": 400}}}},
                       "body": {"inline_string": ""},
                       "headers_to_add": [{"header": {"key": "content-type",
                                                      "value": "text/html"}}]}]}
    r, base, log = start(remora, tmp_path, o.port, lr)
    res = curl(base + "/dead")
    assert res.status == 503
    assert res.body == b""
    assert res.get("content-type") is None
    assert res.get("content-length") == "0"


def test_json_body_format_for_every_reply(remora, tmp_path, origins):
    o = origins("o")
    lr = {"body_format": {"json_format": {"status": "%RESPONSE_CODE%", "body": "%LOCAL_REPLY_BODY%"},
                          "content_type": "application/problem+json"}}
    r, base, log = start(remora, tmp_path, o.port, lr)
    res = curl(base + "/dead")
    assert res.status == 503
    assert res.get("content-type") == "application/problem+json"
    assert res.json() == {"status": 503, "body": BODY_UF}


def validate(tmp_path, lr):
    h = hcm([vhost("all", ["*"], [route("/", "origin")])], local_reply_config=lr)
    cfg = {"static_resources": {"listeners": [http_listener("http", 10000, h)],
                                "clusters": [cluster("origin", [10001])]}}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(cfg, indent=1))
    p = subprocess.run([REMORA_BIN, "--mode", "validate", "-c", str(path)], capture_output=True,
                       text=True, timeout=20, stdin=subprocess.DEVNULL)
    return p.returncode, p.stderr


LR = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.local_reply_config"
ANY = {"not_health_check_filter": {}}


def test_config_errors(tmp_path):
    missing = str(tmp_path / "no-such-body.txt")
    cases = [
        ({"mappers": [{"status_code": 503}]}, f"{LR}.mappers[0].filter: filter is required"),
        ({"mappers": [{"filter": ANY, "status_code": 100}]},
         f"{LR}.mappers[0].status_code: status_code must be in [200, 600), got 100"),
        ({"mappers": [{"filter": ANY, "body": {"filename": missing}}]}, missing),
        ({"mappers": [{"filter": {"traceable_filter": {}}}]},
         f"{LR}.mappers[0].filter.traceable_filter: traceable_filter is not supported by "
         "Remora yet"),
        ({"body_format": {"text_format": "x", "formatters": [{"name": "f"}]}},
         f"{LR}.body_format.formatters: formatters is not supported by Remora yet"),
        ({"body_format": {"text_format_source": {"inline_string": "%NOPE%"}}},
         f"{LR}.body_format.text_format_source: Not supported field in StreamInfo: NOPE"),
        ({"body_format": {"omit_empty_values": True}},
         f"{LR}.body_format: one of text_format_source, json_format or text_format is required"),
        ({"mappers": [{"filter": ANY, "headers_to_add": [{"header": {"key": "", "value": "v"}}]}]},
         f"{LR}.mappers[0].headers_to_add[0]"),
    ]
    for lr, want in cases:
        rc, err = validate(tmp_path, lr)
        assert rc == 1, (lr, err)
        assert want in err, (lr, err)
