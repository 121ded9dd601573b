# SPDX-License-Identifier: Apache-2.0
"""Envoy's admin endpoints and formats, read the way operators and scrapers read them."""
import json
import urllib.parse
import re
import socket
import subprocess

from conftest import bootstrap, free_port, static_cluster, tcp_listener, wait_for


def cfg(port, up_port):
    return bootstrap("{admin_port}",
                     [tcp_listener("tcp_in", port, "stat_prefix: ingress_tcp\ncluster: echo")],
                     [static_cluster("echo", [up_port])])


def test_ready_and_server_info(remora, echo_server):
    port = free_port()
    r = remora(cfg(port, echo_server.server_address[1]),
               args=["--service-node", "node-1", "--service-cluster", "svc", "--concurrency", "2"])
    st, body, _ = r.get("/ready")
    assert (st, body) == (200, "LIVE\n")
    st, body, hdrs = r.get("/server_info")
    info = json.loads(body)
    assert info["state"] == "LIVE"
    assert info["node"]["id"] == "node-1" and info["node"]["cluster"] == "svc"
    assert info["command_line_options"]["concurrency"] == 2
    assert re.fullmatch(r"\d+s", info["uptime_current_epoch"])
    assert "version" in info


def test_stats_names_filter_and_json(remora, echo_server):
    port = free_port()
    r = remora(cfg(port, echo_server.server_address[1]))
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"x")
        s.recv(1)
    wait_for(lambda: r.stat("tcp.ingress_tcp.downstream_cx_total") == 1, what="stat")
    st, body, _ = r.get("/stats")
    # Counters and gauges sorted by name, then the histograms (Envoy's text layout).
    lines = body.splitlines()
    names = [l.split(":")[0] for l in lines if l.split(": ", 1)[1].lstrip("-").isdigit()]
    hists = [l.split(":")[0] for l in lines if not l.split(": ", 1)[1].lstrip("-").isdigit()]
    assert names == sorted(names), "stats are sorted by name"
    assert hists == sorted(hists) and lines[-len(hists):] == [l for l in lines if
                                                             l.split(":")[0] in hists]
    for n in ("cluster.echo.upstream_cx_total", "cluster.echo.upstream_cx_connect_fail",
              "cluster.echo.upstream_cx_active", "cluster.echo.upstream_cx_rx_bytes_total",
              f"listener.127.0.0.1_{port}.downstream_cx_total", "server.live",
              "server.uptime", "server.memory_allocated", "server.concurrency",
              "tcp.ingress_tcp.downstream_cx_total"):
        assert n in names, n
    st, body, _ = r.get("/stats?filter=^cluster\\.echo\\.upstream_cx_total$")
    assert body == "cluster.echo.upstream_cx_total: 1\n"
    st, body, _ = r.get("/stats?filter=upstream_cx_total&format=json")
    data = json.loads(body)
    assert {"name": "cluster.echo.upstream_cx_total", "value": 1} in data["stats"]
    st, body, _ = r.get("/stats?filter=(")
    assert st == 400 and "Invalid regex" in body
    st, body, _ = r.get("/stats?usedonly")
    assert "cluster.echo.upstream_cx_total: 1" in body
    assert "cluster.echo.upstream_cx_connect_timeout" not in body


def test_prometheus_tags(remora, echo_server):
    port = free_port()
    r = remora(cfg(port, echo_server.server_address[1]))
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"x")
        s.recv(1)
    wait_for(lambda: r.stat("cluster.echo.upstream_cx_total") == 1, what="stat")
    st, body, hdrs = r.get("/stats/prometheus")
    assert st == 200
    assert 'envoy_cluster_upstream_cx_total{envoy_cluster_name="echo"} 1' in body
    assert "# TYPE envoy_cluster_upstream_cx_total counter" in body
    assert "# TYPE envoy_cluster_upstream_cx_active gauge" in body
    assert f'envoy_listener_downstream_cx_total{{envoy_listener_address="127.0.0.1_{port}"}} 1' in body
    assert 'envoy_tcp_downstream_cx_total{envoy_tcp_prefix="ingress_tcp"} 1' in body
    assert re.search(r"^envoy_server_live\{\} 1$", body, re.M)
    # Each metric family has exactly one TYPE line.
    types = re.findall(r"^# TYPE (\S+)", body, re.M)
    assert len(types) == len(set(types))


def test_clusters_listeners_config_dump(remora, echo_server):
    port = free_port()
    up = echo_server.server_address[1]
    r = remora(cfg(port, up))
    st, body, _ = r.get("/clusters")
    assert f"echo::127.0.0.1:{up}::cx_active::0" in body
    assert f"echo::127.0.0.1:{up}::health_flags::healthy" in body
    assert "echo::default_priority::max_connections::1024" in body
    st, body, _ = r.get("/clusters?format=json")
    data = json.loads(body)
    assert data["cluster_statuses"][0]["name"] == "echo"
    st, body, _ = r.get("/listeners")
    assert body == f"tcp_in::127.0.0.1:{port}\n"
    st, body, _ = r.get("/listeners?format=json")
    ls = json.loads(body)["listener_statuses"][0]
    assert ls["local_address"]["socket_address"] == {"address": "127.0.0.1", "port_value": port}
    st, body, _ = r.get("/config_dump")
    dump = json.loads(body)
    types = [c["@type"] for c in dump["configs"]]
    assert types == ["type.googleapis.com/envoy.admin.v3.BootstrapConfigDump",
                     "type.googleapis.com/envoy.admin.v3.ClustersConfigDump",
                     "type.googleapis.com/envoy.admin.v3.ListenersConfigDump"]
    c = dump["configs"][1]["static_clusters"][0]["cluster"]
    assert c["@type"] == "type.googleapis.com/envoy.config.cluster.v3.Cluster"
    assert c["name"] == "echo"
    l = dump["configs"][2]["static_listeners"][0]["listener"]
    assert l["name"] == "tcp_in"


def test_mutating_endpoints_need_post(remora, echo_server):
    r = remora(cfg(free_port(), echo_server.server_address[1]))
    for path in ("/healthcheck/fail", "/healthcheck/ok", "/drain_listeners", "/quitquitquit",
                 "/logging"):
        st, body, _ = r.get(path)
        assert st == 405, path
        assert "POST required" in body
    st, body, _ = r.get("/no/such/path")
    assert st == 404 and "admin commands are" in body
    st, body, _ = r.get("/help")
    assert "/stats/prometheus" in body and "POST /quitquitquit" in body


def test_logging_levels(remora, echo_server):
    r = remora(cfg(free_port(), echo_server.server_address[1]))
    st, body, _ = r.post("/logging")
    assert st == 200 and "upstream: info" in body
    st, body, _ = r.post("/logging?upstream=debug")
    assert "upstream: debug" in body
    st, body, _ = r.post("/logging?level=warning")
    assert "connection: warning" in body and "upstream: warning" in body
    st, body, _ = r.post("/logging?paths=admin:trace,dns:error")
    assert "admin: trace" in body and "dns: error" in body
    st, body, _ = r.post("/logging?level=shouting")
    assert st == 404 and "usage" in body


def test_healthcheck_fail_ok(remora, echo_server):
    r = remora(cfg(free_port(), echo_server.server_address[1]))
    assert r.post("/healthcheck/fail")[0] == 200
    assert r.post("/healthcheck/ok")[0] == 200


def test_quitquitquit_exits_zero(remora, echo_server):
    r = remora(cfg(free_port(), echo_server.server_address[1]))
    st, body, _ = r.post("/quitquitquit")
    assert st == 200
    assert r.wait(timeout=10) == 0


def test_curl_through_the_proxy_to_admin(remora):
    """The shipped demo shape: a tcp_proxy in front of the admin port; curl asks /ready
    through the proxy."""
    port = free_port()
    admin_cluster = """  - name: admin
    load_assignment:
      cluster_name: admin
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: {admin_port} } } }
"""
    r = remora(bootstrap("{admin_port}",
                         [tcp_listener("l", port, "stat_prefix: admin_passthrough\ncluster: admin")],
                         [admin_cluster]))
    out = subprocess.run(["curl", "-sS", "-i", f"http://127.0.0.1:{port}/ready"],
                         capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("HTTP/1.1 200")
    assert out.stdout.endswith("LIVE\n")


def test_hostile_stats_filter_does_not_crash(remora, echo_server):
    r = remora(cfg(free_port(), echo_server.server_address[1]))
    for pat in ("(|)(\\1\\1)*", "(a*)*$", "((((((((((x))))))))))" * 50, "[", "\\"):
        st, body, _ = r.get("/stats?filter=" + urllib.parse.quote(pat))
        assert st in (200, 400), (pat, st)
    assert r.get("/ready")[0] == 200
