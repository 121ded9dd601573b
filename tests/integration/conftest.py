# SPDX-License-Identifier: Apache-2.0
"""Fixtures that drive the real remora binary with real peers on 127.0.0.1.

Every process a test starts is tracked by pid and killed at teardown; every port comes
from binding port 0; every load loop is bounded. A Remora log that shows a sanitizer report
or a crash fails the test that owns it.
"""
import json
import os
import signal
import socket
import socketserver
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD_DIR = os.environ.get("REMORA_BUILD_DIR", os.path.join(ROOT, "build", "release"))
REMORA_BIN = os.environ.get("REMORA_BIN", os.path.join(BUILD_DIR, "remora"))


_handed_out = set()


def free_port():
    """A port that was free a moment ago (bind to 0, read it, close), never one this process
    handed out before: the kernel may return the same free port to two binds in a row, and a
    test that asks for a listener port and an admin port before starting Remora must get two
    different ones."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise AssertionError("no fresh free port after 100 tries")


def refuses(port):
    """True when nothing listens on 127.0.0.1:port. A connect to a free port in the
    ephemeral range can "succeed" by connecting to itself (TCP simultaneous open), so a
    self-connection counts as refused."""
    s = socket.socket()
    s.settimeout(1)
    try:
        s.connect(("127.0.0.1", port))
        return s.getsockname() == s.getpeername()
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
    finally:
        s.close()


def wait_for(pred, timeout=10.0, interval=0.02, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def http(method, url, timeout=5.0, data=None):
    """Returns (status, body_text, headers) without raising on HTTP errors."""
    req = urllib.request.Request(url, method=method, data=data)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), dict(e.headers)


class Remora:
    """One remora process on a config given as YAML text."""

    def __init__(self, tmp_path, config, args=(), env=None, name="remora"):
        self.tmp = tmp_path
        self.config_path = os.path.join(tmp_path, f"{name}.yaml")
        with open(self.config_path, "w") as f:
            f.write(config)
        self.log_path = os.path.join(tmp_path, f"{name}.log")
        self.args = list(args)
        self.env = dict(os.environ, **(env or {}))
        # Under ASan, freed memory sits in a quarantine (256 MiB by default) that would
        # drown the memory-bound assertions; a small one still catches use-after-free.
        self.env["ASAN_OPTIONS"] = ":".join(
            filter(None, [self.env.get("ASAN_OPTIONS"), "quarantine_size_mb=8",
                          "thread_local_quarantine_size_kb=256"]))
        self.proc = None
        self.admin_port = None

    def start(self, wait_ready=True, extra=()):
        self.logf = open(self.log_path, "ab")
        cmd = [REMORA_BIN, "-c", self.config_path] + self.args + list(extra)
        self.proc = subprocess.Popen(cmd, stdout=self.logf, stderr=subprocess.STDOUT,
                                     env=self.env, stdin=subprocess.DEVNULL)
        if wait_ready:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=15.0):
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"remora exited with {self.proc.returncode}:\n{self.log()}")
            try:
                st, _, _ = http("GET", self.admin("/ready"), timeout=1)
                return st == 200
            except OSError:
                return False
        wait_for(ready, timeout, what="remora /ready")

    def admin(self, path):
        return f"http://127.0.0.1:{self.admin_port}{path}"

    def get(self, path):
        return http("GET", self.admin(path))

    def post(self, path):
        return http("POST", self.admin(path), data=b"")

    def stats(self):
        st, body, _ = self.get("/stats")
        assert st == 200, body
        out = {}
        for line in body.splitlines():
            k, _, v = line.partition(": ")
            if v.lstrip("-").isdigit():  # histogram lines (P0(..) P25(..) ...) are not counters
                out[k] = int(v)
        return out

    def stat(self, name):
        return self.stats().get(name)

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout=30):
        return self.proc.wait(timeout=timeout)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                # A second SIGTERM skips the drain period.
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        if self.proc:
            self.logf.close()

    def assert_clean_log(self):
        log = self.log()
        for bad in ("AddressSanitizer", "runtime error:", "LeakSanitizer", "[critical]",
                    "Segmentation fault"):
            assert bad not in log, f"{bad} in remora log:\n{log}"


@pytest.fixture
def remora(tmp_path):
    """Factory: remora(config_yaml, args=...) → started Remora with .admin_port set.
    The config may use {admin_port}; it is filled with a free port."""
    started = []

    def make(config, args=(), start=True, wait_ready=True, env=None, admin_port=None):
        port = admin_port or free_port()
        r = Remora(str(tmp_path), config.replace("{admin_port}", str(port)), args, env,
                   name=f"remora{len(started)}")
        r.admin_port = port
        started.append(r)
        if start:
            r.start(wait_ready=wait_ready)
        return r

    yield make
    for r in started:
        r.stop()
    for r in started:
        r.assert_clean_log()


class _EchoHandler(socketserver.BaseRequestHandler):
    def handle(self):
        self.server.conns += 1
        sock = self.request
        while True:
            try:
                data = sock.recv(65536)
            except OSError:
                return
            if not data:
                # Half-close: the peer is done sending; answer with our FIN after the echo.
                try:
                    sock.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return
            sock.sendall(data)


class _TagHandler(socketserver.BaseRequestHandler):
    """Writes its tag and closes: tells which upstream a connection reached."""

    def handle(self):
        self.server.conns += 1
        self.request.sendall(self.server.tag.encode())
        self.request.shutdown(socket.SHUT_WR)
        try:
            self.request.recv(1)
        except OSError:
            pass


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, handler, tag=""):
        super().__init__(("127.0.0.1", 0), handler)
        self.conns = 0
        self.tag = tag


def _serve(handler, tag=""):
    srv = _Server(handler, tag)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    return srv


@pytest.fixture
def echo_server():
    """A threaded TCP echo server on 127.0.0.1 (port: .server_address[1])."""
    srv = _serve(_EchoHandler)
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def tag_servers():
    """Factory of servers that answer their tag and close."""
    servers = []

    def make(tag):
        s = _serve(_TagHandler, tag)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.shutdown()
        s.server_close()


@pytest.fixture
def blackhole():
    """An address whose connects hang: a listener whose accept queue is full and never
    drained, so new SYNs are dropped (loopback only, no routing tricks)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(0)
    port = s.getsockname()[1]
    fillers = []
    for _ in range(3):
        c = socket.socket()
        c.setblocking(False)
        try:
            c.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(c)
    time.sleep(0.1)
    yield port
    for c in fillers:
        c.close()
    s.close()


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def admin_block(admin_port):
    return f"""admin:
  address:
    socket_address: {{ address: 127.0.0.1, port_value: {admin_port} }}
"""


def static_cluster(name, ports, lb="ROUND_ROBIN", connect_timeout="1s", extra=""):
    eps = "\n".join(
        f"""          - endpoint:
              address:
                socket_address: {{ address: 127.0.0.1, port_value: {p} }}"""
        for p in ports)
    return f"""  - name: {name}
    type: STATIC
    connect_timeout: {connect_timeout}
    lb_policy: {lb}
{extra}    load_assignment:
      cluster_name: {name}
      endpoints:
      - lb_endpoints:
{eps}
"""


def tcp_listener(name, port, tcp_proxy_body, extra=""):
    body = "\n".join("          " + l for l in tcp_proxy_body.strip("\n").splitlines())
    return f"""  - name: {name}
    address:
      socket_address: {{ address: 127.0.0.1, port_value: {port} }}
{extra}    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
{body}
"""


def bootstrap(admin_port, listeners, clusters):
    return (admin_block(admin_port) + "static_resources:\n  listeners:\n" + "".join(listeners)
            + "  clusters:\n" + "".join(clusters))
