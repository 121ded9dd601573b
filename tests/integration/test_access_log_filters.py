# SPDX-License-Identifier: Apache-2.0
"""Access log filters (envoy.config.accesslog.v3.AccessLogFilter) on the real binary: which
requests and TCP sessions reach the log. Every test ends with a "marker" request that passes
the filter: lines of one sink are written in order, so once the marker is in the file every
earlier line that passed is too, and the absence of the others is proven without sleeping.
Config errors are checked with --mode validate."""
import json
import os
import socket
import subprocess

from conftest import REMORA_BIN, free_port, wait_for
from http_helpers import (cluster, file_log, hcm, http_listener, one_request, origins,  # noqa: F401
                          py_origins, read_log_lines, route, start_proxy, vhost,
                          wait_log_match)

FMT = "%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS%\n"


def filtered_log(path, flt):
    lg = file_log(path, FMT)
    lg["filter"] = flt
    return lg


def routes(origin_port):
    """/d/<code>: direct response; /dead: connection refused (UF); /o...: the origin."""
    direct = [{"match": {"prefix": f"/d/{c}"}, "direct_response": {"status": c}}
              for c in (200, 404, 500, 503)]
    return direct + [route("/dead", "dead"), route("/o", "origin")]


def start(remora, tmp_path, origin_port, flt, layers=None, concurrency=1):
    """One HTTP listener whose single access log has filter |flt|. Unmatched paths are NR."""
    port, admin = free_port(), free_port()
    log = os.path.join(str(tmp_path), "filtered.log")
    h = hcm([vhost("all", ["*"], routes(origin_port))], access_log=[filtered_log(log, flt)])
    cfg = {"admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin}}},
           "static_resources": {
               "listeners": [http_listener("http", port, h)],
               "clusters": [cluster("origin", [origin_port]), cluster("dead", [free_port()])]}}
    if layers:
        cfg["layered_runtime"] = {"layers": layers}
    r = remora(json.dumps(cfg), args=["--concurrency", str(concurrency)], admin_port=admin)
    return r, port, log


def paths_logged(log, marker):
    """Waits for the marker's line; returns the logged paths in order."""
    wait_log_match(log, lambda l: l.startswith(marker + " "), what=f"marker {marker}")
    return [l.split(" ")[0] for l in read_log_lines(log)]


def send(port, path, headers=()):
    return one_request(port, "GET", path, headers=list(headers)).status


# ---- status_code_filter / duration_filter ----------------------------------------------------

def test_status_code_filter_ge_with_runtime_override(remora, tmp_path, origins):
    o = origins("o")
    flt = {"status_code_filter": {"comparison": {
        "op": "GE", "value": {"default_value": 400, "runtime_key": "alog.min_status"}}}}
    layers = [{"name": "admin", "admin_layer": {}}]
    r, port, log = start(remora, tmp_path, o.port, flt, layers)
    assert send(port, "/o/ok") == 200
    assert send(port, "/d/404") == 404
    assert send(port, "/o/fail", [("x-origin-status", "500")]) == 500
    assert send(port, "/nowhere") == 404   # NR
    assert send(port, "/d/503") == 503     # marker
    assert paths_logged(log, "/d/503") == ["/d/404", "/o/fail", "/nowhere", "/d/503"]

    # The runtime key replaces default_value live: GE 200 logs the 200s too.
    st, body, _ = r.post("/runtime_modify?alog.min_status=200")
    assert st == 200, body
    n = {"i": 0}

    def logged_ok():
        n["i"] += 1
        path = f"/o/ok{n['i']}"
        assert send(port, path) == 200
        return any(l.startswith("/o/ok") for l in read_log_lines(log))
    wait_for(logged_ok, 10, interval=0.2, what="a 200 logged after runtime_modify")


def test_status_code_filter_static_layer_and_eq(remora, tmp_path, origins):
    o = origins("o")
    flt = {"status_code_filter": {"comparison": {
        "op": "EQ", "value": {"default_value": 404, "runtime_key": "alog.status"}}}}
    layers = [{"name": "static", "static_layer": {"alog": {"status": 500}}}]
    r, port, log = start(remora, tmp_path, o.port, flt, layers)
    assert send(port, "/d/404") == 404     # the default (404) is overridden by the layer
    assert send(port, "/d/200") == 200
    assert send(port, "/d/500") == 500     # marker
    assert paths_logged(log, "/d/500") == ["/d/500"]


def test_duration_filter(remora, tmp_path, origins):
    o = origins("o")
    flt = {"duration_filter": {"comparison": {"op": "GE", "value": {"default_value": 300}}}}
    r, port, log = start(remora, tmp_path, o.port, flt)
    assert send(port, "/o/fast") == 200
    assert send(port, "/d/200") == 200
    assert send(port, "/o/slow", [("x-origin-latency-ms", "400")]) == 200   # marker
    assert paths_logged(log, "/o/slow") == ["/o/slow"]


# ---- header_filter / response_flag_filter / and / or / not_health_check ----------------------

def test_header_filter(remora, tmp_path, origins):
    o = origins("o")
    flt = {"header_filter": {"header": {"name": "x-log", "string_match": {"prefix": "yes"}}}}
    r, port, log = start(remora, tmp_path, o.port, flt)
    assert send(port, "/o/no") == 200
    assert send(port, "/o/other", [("x-log", "no")]) == 200
    assert send(port, "/d/404", [("X-Log", "yes-please")]) == 404
    assert send(port, "/o/marker", [("x-log", "yes")]) == 200
    assert paths_logged(log, "/o/marker") == ["/d/404", "/o/marker"]


def test_header_filter_on_method_pseudo_header(remora, tmp_path, origins):
    o = origins("o")
    flt = {"header_filter": {"header": {"name": ":method", "exact_match": "POST"}}}
    r, port, log = start(remora, tmp_path, o.port, flt)
    assert send(port, "/o/get") == 200
    assert one_request(port, "POST", "/o/post", body=b"x").status == 200
    assert paths_logged(log, "/o/post") == ["/o/post"]


def test_response_flag_filter_named_and_any(remora, tmp_path, origins):
    o = origins("o")
    # Named flags: only UF (connection refused) and NR.
    flt = {"response_flag_filter": {"flags": ["UF", "NR"]}}
    r, port, log = start(remora, tmp_path, o.port, flt)
    assert send(port, "/o/ok") == 200
    assert send(port, "/d/503") == 503        # no flag
    assert send(port, "/nowhere") == 404      # NR
    assert send(port, "/dead") == 503         # UF (marker)
    assert paths_logged(log, "/dead") == ["/nowhere", "/dead"]
    lines = read_log_lines(log)
    assert lines[0].endswith(" 404 NR") and lines[1].split(" ")[2].startswith("UF"), lines


def test_response_flag_filter_empty_list_means_any_flag(remora, tmp_path, origins):
    o = origins("o")
    r, port, log = start(remora, tmp_path, o.port, {"response_flag_filter": {}})
    assert send(port, "/d/500") == 500
    assert send(port, "/o/ok") == 200
    assert send(port, "/nowhere") == 404      # NR (marker)
    assert paths_logged(log, "/nowhere") == ["/nowhere"]


def test_and_or_not_health_check(remora, tmp_path, origins):
    o = origins("o")
    # (5xx AND x-log present AND not a health check) OR NR
    flt = {"or_filter": {"filters": [
        {"and_filter": {"filters": [
            {"status_code_filter": {"comparison": {"op": "GE", "value": {"default_value": 500}}}},
            {"header_filter": {"header": {"name": "x-log", "present_match": True}}},
            {"not_health_check_filter": {}}]}},
        {"response_flag_filter": {"flags": ["NR"]}}]}}
    r, port, log = start(remora, tmp_path, o.port, flt)
    assert send(port, "/d/500") == 500                      # 5xx without x-log
    assert send(port, "/d/404", [("x-log", "1")]) == 404    # x-log but 404
    assert send(port, "/d/503", [("x-log", "1")]) == 503    # both: logged
    assert send(port, "/nowhere") == 404                    # NR: logged (marker)
    assert paths_logged(log, "/nowhere") == ["/d/503", "/nowhere"]


# ---- runtime_filter -------------------------------------------------------------------------

def rid(first8):
    return ("x-request-id", f"{first8}-1111-4111-8111-111111111111")


def test_runtime_filter_samples_by_request_id(remora, tmp_path, origins):
    """Envoy samples on x-request-id: its first 8 hex digits modulo the denominator must be
    below the numerator (50 of 100 here), so the decision is the same on every host."""
    o = origins("o")
    flt = {"runtime_filter": {"runtime_key": "alog.sample",
                              "percent_sampled": {"numerator": 50, "denominator": "HUNDRED"}}}
    r, port, log = start(remora, tmp_path, o.port, flt)
    assert send(port, "/o/id99", [rid("00000063")]) == 200     # 99 % 100 = 99: no
    assert send(port, "/o/id49", [rid("00000031")]) == 200     # 49: yes
    assert send(port, "/o/id50", [rid("00000032")]) == 200     # 50: no
    assert send(port, "/o/id149", [rid("00000095")]) == 200    # 149 % 100 = 49: yes
    assert send(port, "/o/id0", [rid("00000000")]) == 200      # 0: yes (marker)
    assert paths_logged(log, "/o/id0") == ["/o/id49", "/o/id149", "/o/id0"]


def test_runtime_filter_runtime_key_and_independent_randomness(remora, tmp_path, origins):
    """The runtime value replaces the numerator (same denominator): 0% by default, 100 of 100
    from the static layer logs everything, whatever the request id."""
    o = origins("o")
    flt = {"runtime_filter": {"runtime_key": "alog.sample", "use_independent_randomness": True}}
    layers = [{"name": "static", "static_layer": {"alog.sample": 100}}]
    r, port, log = start(remora, tmp_path, o.port, flt, layers)
    for i in range(20):
        assert send(port, f"/o/r{i}", [rid("00000063")]) == 200
    assert paths_logged(log, "/o/r19") == [f"/o/r{i}" for i in range(20)]


# ---- grpc_status_filter ----------------------------------------------------------------------

def test_grpc_status_filter(remora, tmp_path, py_origins):
    """grpc-status from the response wins over the HTTP status; without it Envoy maps the HTTP
    status (503 → UNAVAILABLE, 404 → UNIMPLEMENTED, 200 → UNKNOWN)."""
    def answer(req):
        if req.path.startswith("/o/grpc13"):
            return {"status": 200, "headers": [("grpc-status", "13")]}
        if req.path.startswith("/o/grpc0"):
            return {"status": 503, "headers": [("grpc-status", "0")]}
        if req.path.startswith("/o/grpcbad"):
            return {"status": 503, "headers": [("grpc-status", "99")]}
        return {"status": 200}
    o = py_origins(answer)
    flt = {"grpc_status_filter": {"statuses": ["UNAVAILABLE", "INTERNAL"]}}
    r, port, log = start(remora, tmp_path, o.port, flt)
    assert send(port, "/o/plain") == 200      # UNKNOWN: no
    assert send(port, "/d/404") == 404       # UNIMPLEMENTED: no
    assert send(port, "/o/grpc0") == 503     # header OK beats the 503: no
    assert send(port, "/o/grpcbad") == 503   # out of range: matches nothing
    assert send(port, "/o/grpc13") == 200    # INTERNAL from the header: yes
    assert send(port, "/d/503") == 503       # inferred UNAVAILABLE: yes (marker)
    assert paths_logged(log, "/d/503") == ["/o/grpc13", "/d/503"]


def test_grpc_status_filter_exclude(remora, tmp_path, origins):
    o = origins("o")
    flt = {"grpc_status_filter": {"statuses": ["UNKNOWN"], "exclude": True}}
    r, port, log = start(remora, tmp_path, o.port, flt)
    assert send(port, "/o/ok") == 200        # UNKNOWN: excluded
    assert send(port, "/d/404") == 404       # UNIMPLEMENTED: logged (marker)
    assert paths_logged(log, "/d/404") == ["/d/404"]


# ---- tcp_proxy --------------------------------------------------------------------------------

def test_tcp_proxy_access_log_filter(remora, tmp_path, echo_server):
    """The same filters apply to tcp_proxy sessions: status_code is 0 there and response flags
    are UF/UH; only the failed session is logged."""
    port, admin = free_port(), free_port()
    log = os.path.join(str(tmp_path), "tcp.log")
    lg = {"name": "envoy.access_loggers.file",
          "typed_config": {"@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3."
                                    "FileAccessLog", "path": log,
                           "log_format": {"text_format_source": {
                               "inline_string": "%UPSTREAM_CLUSTER% %RESPONSE_CODE% "
                                                "%RESPONSE_FLAGS%\n"}}},
          "filter": {"and_filter": {"filters": [
              {"status_code_filter": {"comparison": {"op": "LE", "value": {"default_value": 0}}}},
              {"response_flag_filter": {"flags": ["UF"]}}]}}}

    def tcp(name, p, clus):
        return {"name": name, "address": {"socket_address": {"address": "127.0.0.1",
                                                             "port_value": p}},
                "filter_chains": [{"filters": [{
                    "name": "envoy.filters.network.tcp_proxy",
                    "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters."
                                              "network.tcp_proxy.v3.TcpProxy",
                                     "stat_prefix": name, "cluster": clus,
                                     "access_log": [lg]}}]}]}
    bad_port = free_port()
    cfg = {"admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin}}},
           "static_resources": {
               "listeners": [tcp("good", port, "echo"), tcp("bad", bad_port, "dead")],
               "clusters": [cluster("echo", [echo_server.server_address[1]]), cluster("dead", [free_port()])]}}
    remora(json.dumps(cfg), args=["--concurrency", "1"], admin_port=admin)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"ping")
        assert s.recv(4) == b"ping"
    with socket.create_connection(("127.0.0.1", bad_port), timeout=5) as s:
        s.settimeout(5)
        assert s.recv(16) == b""     # closed after the connect failure
    line = wait_log_match(log, lambda l: l.startswith("dead "), what="dead session")
    assert line == "dead 0 UF", line
    assert read_log_lines(log) == ["dead 0 UF"]


# ---- config errors --------------------------------------------------------------------------

def validate(tmp_path, flt):
    h = hcm([vhost("all", ["*"], [route("/", "origin")])],
            access_log=[filtered_log("/tmp/never-written.log", flt)])
    cfg = {"static_resources": {"listeners": [http_listener("http", 10000, h)],
                                "clusters": [cluster("origin", [10001])]}}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(cfg, indent=1))
    p = subprocess.run([REMORA_BIN, "--mode", "validate", "-c", str(path)], capture_output=True,
                       text=True, timeout=20, stdin=subprocess.DEVNULL)
    return p.returncode, p.stderr


AL = ("static_resources.listeners[0].filter_chains[0].filters[0].typed_config.access_log[0]"
      ".filter")


def test_unsupported_filters_are_refused_naming_the_field(tmp_path):
    for name in ("traceable_filter", "metadata_filter", "log_type_filter", "extension_filter"):
        rc, err = validate(tmp_path, {name: {}})
        assert rc == 1, err
        assert f"{AL}.{name}: {name} is not supported by Remora yet" in err, err


def test_invalid_filters_are_refused(tmp_path):
    cases = [
        ({"status_code_filter": {"comparison": {"op": "NE"}}},
         f"{AL}.status_code_filter.comparison.op: invalid value \"NE\""),
        ({"duration_filter": {}}, f"{AL}.duration_filter.comparison: comparison is required"),
        ({"response_flag_filter": {"flags": ["UF", "XX"]}},
         f"{AL}.response_flag_filter.flags[1]: \"XX\" is not a response flag"),
        ({"and_filter": {"filters": [{"not_health_check_filter": {}}]}},
         f"{AL}.and_filter.filters: filters must have at least 2 items, got 1"),
        ({"runtime_filter": {"percent_sampled": {"numerator": 5}}},
         f"{AL}.runtime_filter.runtime_key: runtime_key must not be empty"),
        ({"grpc_status_filter": {"statuses": ["CANCELLED"]}},
         f"{AL}.grpc_status_filter.statuses[0]: invalid value \"CANCELLED\""),
        ({}, f"{AL}: one of status_code_filter"),
        ({"not_health_check_filter": {}, "response_flag_filter": {}},
         f"{AL}: only one access log filter may be set"),
    ]
    for flt, want in cases:
        rc, err = validate(tmp_path, flt)
        assert rc == 1, (flt, err)
        assert want in err, (flt, err)
