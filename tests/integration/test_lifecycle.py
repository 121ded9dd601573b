# SPDX-License-Identifier: Apache-2.0
"""Start, readiness, graceful drain on SIGTERM, drain_listeners, log reopen."""
import os
import signal
import socket
import subprocess
import time

from conftest import (REMORA_BIN, ROOT, bootstrap, free_port, http, refuses, static_cluster,
                      tcp_listener, wait_for)


def cfg(port, up_port):
    return bootstrap("{admin_port}",
                     [tcp_listener("tcp_in", port, "stat_prefix: t\ncluster: echo")],
                     [static_cluster("echo", [up_port])])


def test_sigterm_drains_in_flight_connection(remora, echo_server):
    """SIGTERM: /ready turns 503 DRAINING, new connections are refused, the connection in
    flight keeps working until it closes, then the process exits 0 well before the drain
    time."""
    port = free_port()
    r = remora(cfg(port, echo_server.server_address[1]), args=["--drain-time-s", "30"])
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"before")
    assert s.recv(6) == b"before"
    r.signal(signal.SIGTERM)
    wait_for(lambda: r.get("/ready")[0] == 503, what="/ready 503")
    st, body, _ = r.get("/ready")
    assert body == "DRAINING\n"
    # New connections are refused once the listeners are closed.
    wait_for(lambda: refuses(port), what="listener closed")
    # The in-flight connection still works.
    s.sendall(b"during")
    assert s.recv(6) == b"during"
    assert r.proc.poll() is None
    t0 = time.monotonic()
    s.close()
    assert r.wait(timeout=10) == 0
    assert time.monotonic() - t0 < 5
    assert "drain finished: no open connections" in r.log()


def test_drain_time_bounds_the_wait(remora, echo_server):
    port = free_port()
    r = remora(cfg(port, echo_server.server_address[1]), args=["--drain-time-s", "1"])
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"x")
    assert s.recv(1) == b"x"
    t0 = time.monotonic()
    r.signal(signal.SIGTERM)
    assert r.wait(timeout=10) == 0
    assert 0.8 < time.monotonic() - t0 < 5
    s.settimeout(5)
    assert s.recv(1) == b""
    s.close()


def test_drain_listeners_graceful_skip_exit(remora, echo_server):
    port = free_port()
    r = remora(cfg(port, echo_server.server_address[1]), args=["--drain-time-s", "1"])
    st, _, _ = r.post("/drain_listeners?graceful&skip_exit")
    assert st == 200
    assert r.get("/ready")[0] == 503
    time.sleep(1.5)
    assert r.proc.poll() is None  # skip_exit keeps the process up
    assert refuses(port), "listener still accepting"


def test_ready_waits_for_dns_clusters(remora, echo_server):
    """/ready is 503 until a DNS cluster has its first answer; with localhost it is soon
    LIVE. (The proxy never reports LIVE before listeners are bound.)"""
    port = free_port()
    cfgs = bootstrap("{admin_port}",
                     [tcp_listener("l", port, "stat_prefix: t\ncluster: local")],
                     [f"""  - name: local
    type: LOGICAL_DNS
    dns_lookup_family: V4_ONLY
    load_assignment:
      cluster_name: local
      endpoints:
      - lb_endpoints:
        - endpoint: {{ address: {{ socket_address: {{ address: localhost, port_value: {echo_server.server_address[1]} }} }} }}
"""])
    r = remora(cfgs)
    assert r.get("/ready")[0] == 200
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"ok")
        assert s.recv(2) == b"ok"


def test_sigusr1_reopens_log(tmp_path, remora, echo_server):
    log = str(tmp_path / "remora-app.log")
    r = remora(cfg(free_port(), echo_server.server_address[1]), args=["--log-path", log])
    wait_for(lambda: os.path.exists(log) and "LIVE" in open(log).read(), what="log file")
    os.rename(log, log + ".1")
    r.signal(signal.SIGUSR1)
    wait_for(lambda: os.path.exists(log) and "reopening logs" in open(log + ".1").read(),
             what="reopened log")
    r.post("/logging?level=info")
    wait_for(lambda: "all loggers set to info" in open(log).read(), what="new log written")


def test_default_config_make_run_shape():
    """config/examples/default.yaml works with nothing else running: the admin on 9901, the
    canary on 10000 (90/10 between two direct-response services on 10001/10002, /ready
    routed to the admin), a tcp_proxy on 10003. Ports are rewritten to free ones so tests
    never collide with a running demo."""
    ports = {p: free_port() for p in ("9901", "10000", "10001", "10002", "10003")}
    with open(os.path.join(ROOT, "config", "examples", "default.yaml")) as f:
        text = f.read()
    for old, new in ports.items():
        text = text.replace(f"port_value: {old} ", f"port_value: {new} ")
    p = subprocess.Popen([REMORA_BIN, "--config-yaml", text, "--concurrency", "1"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    front, tcp = ports["10000"], ports["10003"]
    try:
        wait_for(lambda: _ok(f"http://127.0.0.1:{front}/ready"), what="ready through proxy")
        for port in (front, tcp):
            out = subprocess.run(["curl", "-sS", f"http://127.0.0.1:{port}/ready"],
                                 capture_output=True, text=True, timeout=10)
            assert out.stdout == "LIVE\n"
        seen = {}
        for _ in range(200):
            out = subprocess.run(["curl", "-sS", f"http://127.0.0.1:{front}/"],
                                 capture_output=True, text=True, timeout=10)
            seen[out.stdout] = seen.get(out.stdout, 0) + 1
        assert set(seen) == {"hello from v1\n", "hello from v2\n"}, seen
        # 90/10 over 200 requests: v2 within 5 sigma of 20.
        assert 20 - 5 * 4.25 < seen["hello from v2\n"] < 20 + 5 * 4.25, seen
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=10)


def _ok(url):
    try:
        return http("GET", url, timeout=1)[0] == 200
    except OSError:
        return False
