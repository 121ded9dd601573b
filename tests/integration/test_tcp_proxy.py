# SPDX-License-Identifier: Apache-2.0
"""TCP proxying through the real binary: echo, large transfers with bounded memory,
half-close, connect timeouts and retries, weighted clusters, load balancing, DNS clusters."""
import hashlib
import math
import os
import socket
import threading
import time

from conftest import (bootstrap, free_port, rss_kb, static_cluster, tcp_listener, wait_for)


def tcp_cfg(admin_port, port, cluster_ports, extra_tcp="", lb="ROUND_ROBIN",
            connect_timeout="1s", listener_extra="", cluster_extra=""):
    return bootstrap(
        admin_port,
        [tcp_listener("tcp", port, f"stat_prefix: tcp_echo\ncluster: backend\n{extra_tcp}",
                      listener_extra)],
        [static_cluster("backend", cluster_ports, lb=lb, connect_timeout=connect_timeout,
                        extra=cluster_extra)])


def connect(port, timeout=5):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return s


def recv_exact(s, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(min(1 << 20, n - len(buf)))
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


def test_echo_roundtrip_and_stats(remora, echo_server):
    port = free_port()
    r = remora(tcp_cfg("{admin_port}", port, [echo_server.server_address[1]]),
               args=["--concurrency", "2"])
    for i in range(10):
        with connect(port) as s:
            msg = f"hello {i}\n".encode()
            s.sendall(msg)
            assert recv_exact(s, len(msg)) == msg
    def counted():
        st = r.stats()
        return st.get("tcp.tcp_echo.downstream_cx_total") == 10 and \
            st.get(f"listener.127.0.0.1_{port}.downstream_cx_active") == 0
    wait_for(counted, what="stats to settle")
    st = r.stats()
    assert st["cluster.backend.upstream_cx_total"] == 10
    assert st["cluster.backend.upstream_cx_active"] == 0
    assert st[f"listener.127.0.0.1_{port}.downstream_cx_total"] == 10
    assert st["tcp.tcp_echo.downstream_cx_rx_bytes_total"] == sum(len(f"hello {i}\n") for i in range(10))
    assert st["cluster.backend.upstream_cx_rx_bytes_total"] == st["tcp.tcp_echo.downstream_cx_tx_bytes_total"]


def test_100mib_both_ways_bounded_memory(remora, echo_server):
    """100 MiB up and back through the proxy, byte for byte, while the proxy's RSS stays
    far below the amount in flight (watermarks work in both directions)."""
    port = free_port()
    r = remora(tcp_cfg("{admin_port}", port, [echo_server.server_address[1]]),
               args=["--concurrency", "1"])
    total = 100 * 1024 * 1024
    block = os.urandom(1 << 20)
    sent_hash = hashlib.sha256()
    recv_hash = hashlib.sha256()
    received = [0]
    peak = [0]
    s = connect(port, timeout=30)

    def reader():
        while received[0] < total:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            recv_hash.update(chunk)
            received[0] += len(chunk)
            # Slow reader for the first part: the proxy must not buffer without bound.
            if received[0] < 20 * 1024 * 1024:
                time.sleep(0.002)

    t = threading.Thread(target=reader)
    t.start()
    for _ in range(total // len(block)):
        s.sendall(block)
        sent_hash.update(block)
        peak[0] = max(peak[0], rss_kb(r.proc.pid))
    s.shutdown(socket.SHUT_WR)
    t.join(timeout=120)
    s.close()
    assert received[0] == total
    assert recv_hash.hexdigest() == sent_hash.hexdigest()
    # per_connection_buffer_limit_bytes is 1 MiB per direction and side: a few MiB of
    # buffering at most, never the 100 MiB in flight.
    assert peak[0] < 40 * 1024, f"proxy RSS peaked at {peak[0]} kB"


def test_half_close_is_forwarded(remora, echo_server):
    """The client shuts its write side; the upstream sees EOF, echoes, closes; the client
    still reads everything, then EOF."""
    port = free_port()
    remora(tcp_cfg("{admin_port}", port, [echo_server.server_address[1]]))
    s = connect(port)
    payload = b"x" * 300000
    s.sendall(payload)
    s.shutdown(socket.SHUT_WR)
    got = recv_exact(s, len(payload) + 1)  # +1: must end with EOF, not more bytes
    assert got == payload
    s.close()


def test_half_close_from_upstream(remora, tag_servers):
    """The upstream writes and half-closes; the client gets the bytes then EOF, and can
    still send (the upstream reads one byte before closing)."""
    up = tag_servers("upstream-a")
    port = free_port()
    remora(tcp_cfg("{admin_port}", port, [up.server_address[1]]))
    s = connect(port)
    assert recv_exact(s, 100) == b"upstream-a"
    s.sendall(b"!")
    s.close()


def test_connect_timeout_to_blackhole(remora, blackhole):
    port = free_port()
    r = remora(tcp_cfg("{admin_port}", port, [blackhole], connect_timeout="0.25s"))
    s = connect(port)
    t0 = time.monotonic()
    s.settimeout(5)
    assert s.recv(10) == b""  # closed by the proxy after the connect timeout
    elapsed = time.monotonic() - t0
    assert 0.15 < elapsed < 3, elapsed
    s.close()
    wait_for(lambda: r.stat("cluster.backend.upstream_cx_connect_timeout") == 1,
             what="connect timeout stat")
    assert r.stat("cluster.backend.upstream_cx_connect_fail") == 1


def test_max_connect_attempts_retries_other_host(remora, echo_server):
    dead = free_port()  # nothing listens: connection refused
    port = free_port()
    r = remora(tcp_cfg("{admin_port}", port, [dead, echo_server.server_address[1]],
                       extra_tcp="max_connect_attempts: 3"))
    for i in range(6):
        with connect(port) as s:
            s.sendall(b"ping")
            assert recv_exact(s, 4) == b"ping", f"connection {i}"
    st = r.stats()
    assert st["cluster.backend.upstream_cx_connect_fail"] >= 1
    assert st["cluster.backend.upstream_cx_connect_attempts_exceeded"] == 0


def test_connect_attempts_exceeded(remora):
    dead = free_port()
    port = free_port()
    r = remora(tcp_cfg("{admin_port}", port, [dead], extra_tcp="max_connect_attempts: 2"))
    s = connect(port)
    assert s.recv(10) == b""
    s.close()
    wait_for(lambda: r.stat("cluster.backend.upstream_cx_connect_attempts_exceeded") == 1,
             what="attempts exceeded")
    assert r.stat("cluster.backend.upstream_cx_connect_fail") == 2


def test_weighted_clusters_split(remora, tag_servers):
    """Two clusters weighted 3:1; over 800 connections the split stays within a 5-sigma
    binomial bound of 75%."""
    a, b = tag_servers("A"), tag_servers("B")
    port = free_port()
    cfg = bootstrap(
        "{admin_port}",
        [tcp_listener("split", port, """stat_prefix: split
weighted_clusters:
  clusters:
  - name: a
    weight: 3
  - name: b
    weight: 1""")],
        [static_cluster("a", [a.server_address[1]]), static_cluster("b", [b.server_address[1]])])
    r = remora(cfg, args=["--concurrency", "2"])
    n = 800
    counts = {"A": 0, "B": 0}
    for _ in range(n):
        with connect(port) as s:
            counts[recv_exact(s, 1).decode()] += 1
    p = 0.75
    sigma = math.sqrt(n * p * (1 - p))
    assert abs(counts["A"] - n * p) < 5 * sigma, counts
    wait_for(lambda: r.stat("cluster.a.upstream_cx_total") == counts["A"], what="stats")
    assert r.stat("cluster.b.upstream_cx_total") == counts["B"]


def test_round_robin_spreads_evenly(remora, tag_servers):
    servers = [tag_servers(t) for t in "XYZ"]
    port = free_port()
    r = remora(tcp_cfg("{admin_port}", port, [s.server_address[1] for s in servers]),
               args=["--concurrency", "1"])
    seen = {"X": 0, "Y": 0, "Z": 0}
    for _ in range(30):
        with connect(port) as s:
            seen[recv_exact(s, 1).decode()] += 1
    assert seen == {"X": 10, "Y": 10, "Z": 10}
    st, body, _ = r.get("/clusters")
    assert st == 200
    for s in servers:
        assert f"backend::127.0.0.1:{s.server_address[1]}::cx_total::10" in body


def test_weighted_round_robin_endpoints(remora, tag_servers):
    x, y = tag_servers("X"), tag_servers("Y")
    port = free_port()
    cfg = bootstrap("{admin_port}",
                    [tcp_listener("tcp", port, "stat_prefix: w\ncluster: backend")],
                    [f"""  - name: backend
    connect_timeout: 1s
    load_assignment:
      cluster_name: backend
      endpoints:
      - lb_endpoints:
        - endpoint: {{ address: {{ socket_address: {{ address: 127.0.0.1, port_value: {x.server_address[1]} }} }} }}
          load_balancing_weight: 3
        - endpoint: {{ address: {{ socket_address: {{ address: 127.0.0.1, port_value: {y.server_address[1]} }} }} }}
          load_balancing_weight: 1
"""])
    remora(cfg, args=["--concurrency", "1"])
    seen = {"X": 0, "Y": 0}
    for _ in range(40):
        with connect(port) as s:
            seen[recv_exact(s, 1).decode()] += 1
    assert seen == {"X": 30, "Y": 10}


def test_least_request_and_random_policies_serve(remora, tag_servers):
    servers = [tag_servers(t) for t in "PQ"]
    for lb in ("LEAST_REQUEST", "RANDOM"):
        port = free_port()
        remora(tcp_cfg("{admin_port}", port, [s.server_address[1] for s in servers], lb=lb))
        seen = set()
        for _ in range(40):
            with connect(port) as s:
                seen.add(recv_exact(s, 1).decode())
        assert seen == {"P", "Q"}, lb


def test_no_healthy_upstream_closes(remora):
    """A STRICT_DNS cluster whose name does not resolve has no hosts: connections close
    and upstream_cx_none_healthy counts them."""
    port = free_port()
    cfg = bootstrap("{admin_port}",
                    [tcp_listener("tcp", port, "stat_prefix: nh\ncluster: nowhere")],
                    ["""  - name: nowhere
    type: STRICT_DNS
    connect_timeout: 1s
    dns_refresh_rate: 60s
    load_assignment:
      cluster_name: nowhere
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: does-not-exist.invalid, port_value: 80 } } }
"""])
    r = remora(cfg)
    s = connect(port)
    assert s.recv(10) == b""
    s.close()
    wait_for(lambda: r.stat("cluster.nowhere.upstream_cx_none_healthy") == 1, what="none_healthy")


def test_strict_dns_resolves_etc_hosts(remora, echo_server):
    """STRICT_DNS on 'localhost' resolves through /etc/hosts (c-ares' file lookup)."""
    port = free_port()
    cfg = bootstrap("{admin_port}",
                    [tcp_listener("tcp", port, "stat_prefix: dns\ncluster: local")],
                    [f"""  - name: local
    type: STRICT_DNS
    dns_lookup_family: V4_ONLY
    connect_timeout: 1s
    load_assignment:
      cluster_name: local
      endpoints:
      - lb_endpoints:
        - endpoint: {{ address: {{ socket_address: {{ address: localhost, port_value: {echo_server.server_address[1]} }} }} }}
"""])
    r = remora(cfg)
    with connect(port) as s:
        s.sendall(b"dns!")
        assert recv_exact(s, 4) == b"dns!"
    assert r.stat("cluster.local.membership_total") == 1
    st, body, _ = r.get("/clusters")
    assert f"local::127.0.0.1:{echo_server.server_address[1]}::hostname::localhost" in body


def test_idle_timeout_closes_both_sides(remora, echo_server):
    port = free_port()
    r = remora(tcp_cfg("{admin_port}", port, [echo_server.server_address[1]],
                       extra_tcp="idle_timeout: 0.3s"))
    s = connect(port)
    s.sendall(b"a")
    assert recv_exact(s, 1) == b"a"
    t0 = time.monotonic()
    s.settimeout(5)
    assert s.recv(1) == b""
    assert time.monotonic() - t0 < 3
    s.close()
    wait_for(lambda: r.stat("tcp.tcp_echo.idle_timeout") == 1, what="idle_timeout stat")


def test_upstream_reset_closes_downstream(remora):
    """The upstream accepts then resets: the client sees the connection end."""
    up = socket.socket()
    up.bind(("127.0.0.1", 0))
    up.listen(8)
    port = free_port()
    remora(tcp_cfg("{admin_port}", port, [up.getsockname()[1]]))
    s = connect(port)
    c, _ = up.accept()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    c.close()
    s.settimeout(5)
    try:
        assert s.recv(10) == b""
    except ConnectionResetError:
        pass
    s.close()
    up.close()


# ---- regressions found in review -------------------------------------------------------------

def _rst(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()


def _paused(proc):
    """Context: the proxy is stopped (SIGSTOP) inside, so the test can line up socket
    events that the proxy then sees in one loop iteration."""
    import contextlib
    import signal as sg

    @contextlib.contextmanager
    def cm():
        proc.send_signal(sg.SIGSTOP)
        try:
            yield
        finally:
            proc.send_signal(sg.SIGCONT)
    return cm()


def _upstream():
    up = socket.socket()
    up.bind(("127.0.0.1", 0))
    up.listen(8)
    return up


def test_upstream_reset_with_queued_bytes_frees_the_connection(remora):
    """Bytes queued for the client, then the upstream resets while the client has room:
    the proxy's close-after-flush completes at once and must still free the connection."""
    up = _upstream()
    port = free_port()
    r = remora(tcp_cfg("{admin_port}", port, [up.getsockname()[1]]), args=["--concurrency", "1"])
    s = connect(port)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    c, _ = up.accept()
    c.sendall(b"y" * (100 * 1024))
    time.sleep(0.3)  # the proxy now holds part of it in its output buffer
    with _paused(r.proc):
        _rst(c)
        s.settimeout(0.2)
        try:
            while s.recv(1 << 20):
                pass
        except (socket.timeout, ConnectionResetError):
            pass
    s.settimeout(5)
    try:
        while s.recv(1 << 20):
            pass
    except ConnectionResetError:
        pass
    wait_for(lambda: r.stat(f"listener.127.0.0.1_{port}.downstream_cx_active") == 0,
             timeout=5, what="downstream connection freed")
    s.close()
    up.close()


def test_both_fins_with_buffered_tail_finish_the_session(remora):
    """Client request + FIN; the upstream answers 600 KiB + FIN while the client is not
    reading yet. When the client has read the last byte the session ends by itself (the
    client keeps its socket open: no idle timeout, no client close needed)."""
    up = _upstream()
    port = free_port()
    r = remora(tcp_cfg("{admin_port}", port, [up.getsockname()[1]]), args=["--concurrency", "1"])
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    s.sendall(b"GET it")
    s.shutdown(socket.SHUT_WR)
    c, _ = up.accept()
    assert recv_exact(c, 6) == b"GET it"
    total = 600 * 1024
    c.sendall(b"z" * total)
    c.shutdown(socket.SHUT_WR)
    time.sleep(0.5)
    got = len(recv_exact(s, total + 1))
    assert got == total
    wait_for(lambda: r.stat("cluster.backend.upstream_cx_active") == 0 and
             r.stat(f"listener.127.0.0.1_{port}.downstream_cx_active") == 0,
             timeout=5, what="session finished")
    s.close()
    c.close()
    up.close()


def test_reset_right_after_a_full_read_is_a_reset(remora):
    """64 KiB then RST from the upstream, seen by the proxy in one read: it must be treated
    as a reset (session ends, client gets EOF) — not as a FIN that leaves the session
    half-open until the client closes."""
    up = _upstream()
    port = free_port()
    r = remora(tcp_cfg("{admin_port}", port, [up.getsockname()[1]]), args=["--concurrency", "1"])
    s = connect(port)
    c, _ = up.accept()
    time.sleep(0.1)
    with _paused(r.proc):
        c.sendall(b"q" * 65536)
        time.sleep(0.05)
        _rst(c)
        time.sleep(0.05)
    assert len(recv_exact(s, 65537)) == 65536
    wait_for(lambda: r.stat(f"listener.127.0.0.1_{port}.downstream_cx_active") == 0,
             timeout=5, what="session ended on the upstream reset")
    s.close()
    up.close()


def test_client_reset_while_connecting_is_noticed(remora, blackhole):
    port = free_port()
    r = remora(tcp_cfg("{admin_port}", port, [blackhole], connect_timeout="10s"))
    s = connect(port)
    time.sleep(0.2)
    _rst(s)
    wait_for(lambda: r.stat(f"listener.127.0.0.1_{port}.downstream_cx_active") == 0,
             timeout=3, what="downstream reset noticed before the 10 s connect timeout")


def test_data_and_fin_sent_before_upstream_connects_are_delivered(remora, echo_server):
    port = free_port()
    remora(tcp_cfg("{admin_port}", port, [echo_server.server_address[1]]))
    s = connect(port)
    s.sendall(b"early bird")
    s.shutdown(socket.SHUT_WR)
    assert recv_exact(s, 100) == b"early bird"
    s.close()


def test_out_of_fds_does_not_spin_and_recovers(remora, echo_server, tmp_path):
    """With a tiny fd limit, accept fails with EMFILE: the proxy pauses accepting instead of
    spinning, logs a bounded number of warnings, and serves again once fds are free."""
    port = free_port()
    r = remora(tcp_cfg("{admin_port}", port, [echo_server.server_address[1]]),
               args=["--concurrency", "1"], start=False)
    import subprocess as sp
    r.logf = open(r.log_path, "ab")
    from conftest import REMORA_BIN
    r.proc = sp.Popen(["prlimit", "--nofile=40", REMORA_BIN, "-c", r.config_path,
                       "--concurrency", "1"], stdout=r.logf, stderr=sp.STDOUT,
                      stdin=sp.DEVNULL, env=r.env)
    r.wait_ready()
    clients = []
    for _ in range(40):
        try:
            clients.append(socket.create_connection(("127.0.0.1", port), timeout=2))
        except OSError:
            break
    time.sleep(1.0)
    with open(f"/proc/{r.proc.pid}/stat") as f:
        fields = f.read().split(")")[1].split()
    cpu_ticks = int(fields[11]) + int(fields[12])
    time.sleep(1.0)
    with open(f"/proc/{r.proc.pid}/stat") as f:
        fields = f.read().split(")")[1].split()
    assert int(fields[11]) + int(fields[12]) - cpu_ticks < 30, "proxy spins on EMFILE"
    for c in clients:
        c.close()
    time.sleep(0.5)
    with connect(port) as s:
        s.sendall(b"back")
        assert recv_exact(s, 4) == b"back"
    assert r.log().count("pausing accepts") < 10
