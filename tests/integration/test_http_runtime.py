# SPDX-License-Identifier: Apache-2.0
"""Layered runtime: static_layer values, POST /runtime_modify through the admin layer, GET
/runtime; weighted_clusters.runtime_key_prefix and runtime_fraction read live values, so an
operator shifts canary traffic without a config push."""
import json

from conftest import free_port
from http_helpers import (cluster, hcm, http_listener, one_request, py_origins,  # noqa: F401
                          route, vhost)


def start(remora, v1, v2, layers):
    port, admin = free_port(), free_port()
    wc = {"weighted_clusters": {"runtime_key_prefix": "routing.canary",
                                "clusters": [{"name": "v1", "weight": 90},
                                             {"name": "v2", "weight": 10}]}}
    r = {"match": {"prefix": "/"}, "route": wc}
    h = hcm([vhost("v", ["*"], [r])])
    cfg = {"admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin}}},
           "layered_runtime": {"layers": layers},
           "static_resources": {"listeners": [http_listener("http", port, h)],
                                "clusters": [cluster("v1", [v1.port]), cluster("v2", [v2.port])]}}
    return remora(json.dumps(cfg), args=["--concurrency", "2"], admin_port=admin), port


def split(port, n=200):
    seen = {}
    for _ in range(n):
        body = one_request(port, "GET", "/").body
        seen[body] = seen.get(body, 0) + 1
    return seen


def test_runtime_modify_shifts_weighted_clusters(remora, py_origins):
    v1 = py_origins(handler=lambda req: {"status": 200, "body": b"v1"})
    v2 = py_origins(handler=lambda req: {"status": 200, "body": b"v2"})
    r, port = start(remora, v1, v2, [
        {"name": "static", "static_layer": {"routing": {"canary": {"v1": 0, "v2": 100}}}},
        {"name": "admin", "admin_layer": {}}])
    assert split(port, 50) == {b"v2": 50}          # the static layer overrides 90/10
    st, body, _ = r.post("/runtime_modify?routing.canary.v1=100&routing.canary.v2=0")
    assert st == 200, body
    assert split(port, 50) == {b"v1": 50}          # live, on every worker
    st, body, _ = r.get("/runtime")
    rt = json.loads(body)
    assert rt["layers"] == ["static", "admin"]
    assert rt["entries"]["routing.canary.v1"] == {"final_value": "100", "layer_values": ["0", "100"]}
    st, body, _ = r.post("/runtime_modify?routing.canary.v1=&routing.canary.v2=")
    assert st == 200
    assert split(port, 50) == {b"v2": 50}          # admin overrides removed: static again


def test_runtime_modify_needs_an_admin_layer(remora, py_origins):
    v1 = py_origins()
    v2 = py_origins()
    r, port = start(remora, v1, v2, [{"name": "static", "static_layer": {}}])
    st, body, _ = r.post("/runtime_modify?a=b")
    assert st == 503 and "No admin layer specified" in body
    assert r.get("/runtime_modify?a=b")[0] == 405
