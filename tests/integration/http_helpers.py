# SPDX-License-Identifier: Apache-2.0
"""Shared pieces of the HTTP/1.1 integration tests (test_http_*.py).

- Config builders: the bootstrap is built as Python dicts and written as JSON (a JSON
  document is valid YAML), so nesting never depends on hand-made indentation.
- Origins: `remora-origin` (bench/README.md) started on port 0 and killed by pid, and
  `PyOrigin`, a tiny scripted HTTP/1.1 origin for what remora-origin cannot show:
  connection identity, idle keep-alive closes, "fail the first N requests", chunked and
  close-delimited responses, and counting every byte it received.
- Clients: `HttpConn` (raw socket: keep-alive, pipelining, malformed bytes), `curl()`.

Everything listens on 127.0.0.1, every process is stopped by pid, every loop is bounded.
"""
import collections
import hashlib
import json
import os
import re
import select
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import BUILD_DIR, free_port, wait_for

ORIGIN_BIN = os.environ.get("REMORA_ORIGIN_BIN", os.path.join(BUILD_DIR, "bench", "remora-origin"))

HCM_TYPE = ("type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."
            "HttpConnectionManager")
ROUTER_TYPE = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
FILE_LOG_TYPE = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog"
PREVIOUS_HOSTS_TYPE = ("type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3."
                       "PreviousHostsPredicate")

UUID4_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
IMF_DATE_RE = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|"
                         r"Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$")

# Envoy's local reply bodies (configuration/http/http_conn_man/local_reply, router_filter).
BODY_UF = ("upstream connect error or disconnect/reset before headers. "
           "reset reason: connection failure")
BODY_UH = "no healthy upstream"
BODY_UT = "upstream request timeout"
BODY_SI = "stream timeout"


# ---- config builders -------------------------------------------------------------------------

def sockaddr(port, address="127.0.0.1"):
    return {"socket_address": {"address": address, "port_value": port}}


def cluster(name, ports, lb="ROUND_ROBIN", connect_timeout="1s", **extra):
    c = {"name": name, "type": "STATIC", "connect_timeout": connect_timeout, "lb_policy": lb,
         "load_assignment": {"cluster_name": name, "endpoints": [
             {"lb_endpoints": [{"endpoint": {"address": sockaddr(p)}} for p in ports]}]}}
    c.update(extra)
    return c


def dns_cluster(name, hostname, port, **extra):
    c = {"name": name, "type": "STRICT_DNS", "connect_timeout": "1s", "dns_refresh_rate": "60s",
         "load_assignment": {"cluster_name": name, "endpoints": [
             {"lb_endpoints": [{"endpoint": {"address": sockaddr(port, hostname)}}]}]}}
    c.update(extra)
    return c


def file_log(path, fmt=None, json_format=None):
    cfg = {"@type": FILE_LOG_TYPE, "path": path}
    if fmt is not None:
        cfg["log_format"] = {"text_format_source": {"inline_string": fmt}}
    if json_format is not None:
        cfg["log_format"] = {"json_format": json_format}
    return {"name": "envoy.access_loggers.file", "typed_config": cfg}


def route(prefix="/", cluster_name="origin", match_extra=None, **action):
    """A route to a cluster; keyword arguments go into the RouteAction."""
    m = {"prefix": prefix}
    m.update(match_extra or {})
    a = {} if ("cluster_header" in action or "weighted_clusters" in action) else \
        {"cluster": cluster_name}
    a.update(action)
    return {"match": m, "route": a}


def vhost(name, domains, routes, **extra):
    v = {"name": name, "domains": list(domains), "routes": list(routes)}
    v.update(extra)
    return v


def hcm(virtual_hosts, stat_prefix="ingress_http", access_log=None, route_config_extra=None,
        **extra):
    rc = {"name": "local_route", "virtual_hosts": list(virtual_hosts)}
    rc.update(route_config_extra or {})
    cfg = {"@type": HCM_TYPE, "stat_prefix": stat_prefix, "route_config": rc,
           "http_filters": [{"name": "envoy.filters.http.router",
                             "typed_config": {"@type": ROUTER_TYPE}}]}
    if access_log:
        cfg["access_log"] = list(access_log)
    cfg.update(extra)
    return cfg


def http_listener(name, port, hcm_cfg):
    return {"name": name, "address": sockaddr(port),
            "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                            "typed_config": hcm_cfg}]}]}


def bootstrap_json(admin_port, listeners, clusters):
    return json.dumps({"admin": {"address": sockaddr(admin_port)},
                       "static_resources": {"listeners": list(listeners),
                                            "clusters": list(clusters)}}, indent=1)


def start_proxy(remora, listeners, clusters, concurrency=1, args=()):
    """Starts remora on the given listeners/clusters; returns the Remora object."""
    admin = free_port()
    cfg = bootstrap_json(admin, listeners, clusters)
    return remora(cfg, args=["--concurrency", str(concurrency), *args], admin_port=admin)


def simple_proxy(remora, tmp_path, origin_port, routes=None, log_format=None, json_format=None,
                 hcm_extra=None, cluster_extra=None, concurrency=1, vhost_extra=None):
    """One HTTP listener → cluster "origin" (one endpoint). Returns (remora, port, log_path)."""
    port = free_port()
    log_path = os.path.join(str(tmp_path), "access.log")
    h = hcm([vhost("backend", ["*"], routes or [route("/", "origin")], **(vhost_extra or {}))],
            access_log=[file_log(log_path, log_format, json_format)], **(hcm_extra or {}))
    r = start_proxy(remora, [http_listener("http", port, h)],
                    [cluster("origin", [origin_port], **(cluster_extra or {}))],
                    concurrency=concurrency)
    return r, port, log_path


# ---- admin helpers ---------------------------------------------------------------------------

def stats(r):
    """Counters and gauges from /stats (histogram lines, which are not integers, skipped)."""
    st, body, _ = r.get("/stats")
    assert st == 200, body
    out = {}
    for line in body.splitlines():
        k, sep, v = line.partition(": ")
        if sep and re.fullmatch(r"-?\d+", v.strip()):
            out[k] = int(v)
    return out


def stat(r, name, default=0):
    return stats(r).get(name, default)


def wait_stat(r, name, value, timeout=5.0):
    """Waits until stat `name` equals `value`; returns the final stats on success."""
    last = {}

    def ok():
        last["s"] = stats(r)
        return last["s"].get(name, 0) == value
    try:
        wait_for(ok, timeout, what=f"{name} == {value}")
    except AssertionError:
        raise AssertionError(f"stat {name} is {last['s'].get(name)}, expected {value}")
    return last["s"]


def wait_stats(r, expected, timeout=5.0):
    """Waits until every stat in `expected` ({name: value}) has its value (a missing stat
    counts as absent, not 0, unless the expected value is 0); returns the final snapshot.
    Counters move on the workers, so a test reads them with a wait, never a fixed sleep."""
    last = {}

    def ok():
        last["s"] = stats(r)
        return all(last["s"].get(k, 0 if v == 0 else None) == v for k, v in expected.items())
    try:
        wait_for(ok, timeout, what="stats")
    except AssertionError:
        got = {k: last["s"].get(k) for k in expected}
        raise AssertionError(f"stats did not settle: expected {expected}, got {got}")
    return last["s"]


def read_log_lines(path):
    try:
        with open(path, "rb") as f:
            data = f.read().decode(errors="replace")
    except FileNotFoundError:
        return []
    return [l for l in data.split("\n") if l]


def wait_log_lines(path, n, timeout=6.0):
    """Waits for at least n access log lines (the file sink flushes about once a second)."""
    wait_for(lambda: len(read_log_lines(path)) >= n, timeout, what=f"{n} access log lines")
    return read_log_lines(path)


def wait_log_match(path, pred, timeout=6.0, what="access log line"):
    found = {}

    def ok():
        for l in read_log_lines(path):
            if pred(l):
                found["l"] = l
                return True
        return False
    try:
        wait_for(ok, timeout, what=what)
    except AssertionError:
        raise AssertionError(f"no {what} in access log:\n" + "\n".join(read_log_lines(path)))
    return found["l"]


# ---- remora-origin ---------------------------------------------------------------------------

def stop_process(proc, timeout=3):
    """SIGTERM, then SIGKILL after |timeout| seconds; always reaps."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Origin:
    """One remora-origin process on 127.0.0.1, port picked by the kernel."""

    def __init__(self, name="origin", args=(), tmpdir=None):
        self.name = name
        errpath = os.path.join(tmpdir or "/tmp", f"origin-{name}-{os.getpid()}-{id(self)}.err")
        self.errf = open(errpath, "wb")
        self.proc = subprocess.Popen([ORIGIN_BIN, "--listen", "127.0.0.1:0", "--name", name,
                                      *args], stdout=subprocess.PIPE, stderr=self.errf,
                                     stdin=subprocess.DEVNULL)
        r, _, _ = select.select([self.proc.stdout], [], [], 10)
        line = self.proc.stdout.readline().decode() if r else ""
        m = re.match(r"listening on ([\d.]+):(\d+)", line)
        if not m:
            self.stop()
            raise AssertionError(f"remora-origin did not start: {line!r}")
        self.port = int(m.group(2))

    def stop(self):
        stop_process(self.proc)
        self.proc.stdout.close()
        self.errf.close()


@pytest.fixture
def origins(tmp_path):
    """Factory: origins(name="origin", *args) → a started remora-origin (.port)."""
    started = []

    def make(name="origin", *args):
        o = Origin(name, args, str(tmp_path))
        started.append(o)
        return o
    yield make
    for o in started:
        o.stop()


# ---- a scripted python origin ----------------------------------------------------------------

Req = collections.namedtuple("Req", "conn_id method path version headers body")


def hget(headers, name, default=None):
    """First value of header `name` in a list of (lower-name, value) pairs."""
    for k, v in headers:
        if k == name:
            return v
    return default


class PyOrigin:
    """A small threaded HTTP/1.1 origin.

    Each complete request is recorded (`requests`), then answered by the next entry of
    `script` if there is one, else by `handler(req)`. An answer is a dict:
      status (200), body (b""), headers ([(name, value)]), delay (seconds, before answering),
      framing: "length" (default) | "chunked" | "close" (no length; the body ends at close),
      close (True: "connection: close" and close after), reset (True: RST, no answer).
    The default answer is 200 with body "py:<path>" and x-py-conn: <connection number>.
    `idle_close` (seconds): a kept-alive connection that receives nothing for this long is
    closed (the origin side of the keep-alive race)."""

    def __init__(self, handler=None, idle_close=None, server="pyorigin"):
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(128)
        self.port = self.lsock.getsockname()[1]
        self.handler = handler or self.default_answer
        self.idle_close = idle_close
        self.server = server
        self.script = collections.deque()
        self.lock = threading.Lock()
        self.conns = 0
        self.bytes = 0
        self.requests = []
        self.idle_closes = 0
        self._stop = False
        self._socks = []
        self._t = threading.Thread(target=self._accept_loop, daemon=True)
        self._t.start()

    @staticmethod
    def default_answer(req):
        return {"status": 200, "body": f"py:{req.path}".encode()}

    def _accept_loop(self):
        self.lsock.settimeout(0.1)
        while not self._stop:
            try:
                s, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.conns += 1
                cid = self.conns
                self._socks.append(s)
            threading.Thread(target=self._serve, args=(s, cid), daemon=True).start()

    def _recv(self, s, buf, timeout):
        s.settimeout(timeout)
        data = s.recv(262144)
        if not data:
            raise EOFError
        with self.lock:
            self.bytes += len(data)
        buf += data

    def _serve(self, s, cid):
        buf = bytearray()
        try:
            while not self._stop:
                while b"\r\n\r\n" not in buf:
                    idle = not buf and self.idle_close is not None
                    try:
                        self._recv(s, buf, self.idle_close if idle else 30)
                    except socket.timeout:
                        if idle:
                            with self.lock:
                                self.idle_closes += 1
                        return
                head, _, rest = bytes(buf).partition(b"\r\n\r\n")
                buf = bytearray(rest)
                lines = head.decode("latin-1").split("\r\n")
                method, path, version = lines[0].split(" ", 2)
                headers = []
                for l in lines[1:]:
                    k, _, v = l.partition(":")
                    headers.append((k.strip().lower(), v.strip()))
                te = (hget(headers, "transfer-encoding") or "").lower()
                body = bytearray()
                if te == "chunked":
                    while True:
                        while b"\r\n" not in buf:
                            self._recv(s, buf, 30)
                        line, _, rest = bytes(buf).partition(b"\r\n")
                        size = int(line.split(b";")[0], 16)
                        buf = bytearray(rest)
                        if size == 0:
                            while not (buf.startswith(b"\r\n") or b"\r\n\r\n" in buf):
                                self._recv(s, buf, 30)
                            if buf.startswith(b"\r\n"):
                                buf = buf[2:]
                            else:
                                buf = bytearray(bytes(buf).partition(b"\r\n\r\n")[2])
                            break
                        while len(buf) < size + 2:
                            self._recv(s, buf, 30)
                        body += buf[:size]
                        buf = buf[size + 2:]
                else:
                    n = int(hget(headers, "content-length") or 0)
                    while len(buf) < n:
                        self._recv(s, buf, 30)
                    body += buf[:n]
                    buf = buf[n:]
                req = Req(cid, method, path, version, headers, bytes(body))
                with self.lock:
                    self.requests.append(req)
                    ans = self.script.popleft() if self.script else None
                if ans is None:
                    ans = self.handler(req)
                if not self._answer(s, cid, req, ans):
                    return
        except (EOFError, OSError, ValueError, IndexError):
            return
        finally:
            try:
                s.close()
            except OSError:
                pass

    def _answer(self, s, cid, req, ans):
        """Writes one answer; False when the connection is done."""
        if ans.get("delay"):
            time.sleep(ans["delay"])
        if ans.get("reset"):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            return False
        status = ans.get("status", 200)
        body = ans.get("body", b"")
        framing = ans.get("framing", "length")
        hdrs = [("x-py-conn", str(cid)), ("x-py-req", str(len(self.requests)))]
        if self.server:
            hdrs.append(("server", self.server))
        hdrs += list(ans.get("headers", []))
        no_body = req.method == "HEAD" or status in (204, 304) or 100 <= status < 200
        if framing == "length" and not no_body:
            hdrs.append(("content-length", str(len(body))))
        elif framing == "chunked" and not no_body:
            hdrs.append(("transfer-encoding", "chunked"))
        close = ans.get("close") or framing == "close"
        if ans.get("close"):
            hdrs.append(("connection", "close"))
        out = f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}\r\n".encode()
        out += b"".join(f"{k}: {v}\r\n".encode() for k, v in hdrs) + b"\r\n"
        if not no_body and req.method != "HEAD":
            if framing == "chunked":
                step = max(1, ans.get("chunk", 7))
                for i in range(0, len(body), step):
                    piece = body[i:i + step]
                    out += f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
                out += b"0\r\n\r\n"
            else:
                out += body
        s.sendall(out)
        if close:
            try:
                s.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            return False
        return True

    def wait_requests(self, n, timeout=5.0):
        wait_for(lambda: len(self.requests) >= n, timeout, what=f"{n} requests at the origin")

    def stop(self):
        self._stop = True
        try:
            self.lsock.close()
        except OSError:
            pass
        with self.lock:
            socks = list(self._socks)
        for s in socks:
            try:
                s.close()
            except OSError:
                pass
        self._t.join(timeout=2)


@pytest.fixture
def py_origins():
    """Factory: py_origins(handler=None, idle_close=None) → a started PyOrigin."""
    started = []

    def make(*a, **kw):
        o = PyOrigin(*a, **kw)
        started.append(o)
        return o
    yield make
    for o in started:
        o.stop()


REASONS = {100: "Continue", 200: "OK", 201: "Created", 204: "No Content", 301: "Moved Permanently",
           302: "Found", 304: "Not Modified", 400: "Bad Request", 404: "Not Found",
           408: "Request Timeout", 409: "Conflict", 418: "I'm a teapot",
           500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
           504: "Gateway Timeout"}


# ---- clients ---------------------------------------------------------------------------------

class Resp:
    def __init__(self, version, status, reason, headers, body, interim=()):
        self.version, self.status, self.reason = version, status, reason
        self.headers = headers          # [(lower-name, value)] in wire order
        self.body = body
        self.interim = list(interim)    # 1xx responses seen before this one: [(status, headers)]

    def get(self, name, default=None):
        return hget(self.headers, name.lower(), default)

    def get_all(self, name):
        return [v for k, v in self.headers if k == name.lower()]

    def has(self, name):
        return any(k == name.lower() for k, _ in self.headers)

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<Resp {self.status} {self.headers} {self.body[:200]!r}>"


def build_request(method, path, headers=(), body=None, host="test.local", version="HTTP/1.1"):
    hdrs = list(headers)
    names = {k.lower() for k, _ in hdrs}
    if host is not None and "host" not in names:
        hdrs.insert(0, ("Host", host))
    if body is not None and "content-length" not in names and "transfer-encoding" not in names:
        hdrs.append(("Content-Length", str(len(body))))
    out = f"{method} {path} {version}\r\n".encode()
    out += b"".join(f"{k}: {v}\r\n".encode() for k, v in hdrs) + b"\r\n"
    return out + (body or b"")


class HttpConn:
    """A raw HTTP/1.1 client connection (keep-alive, pipelining, arbitrary bytes)."""

    def __init__(self, port, timeout=10.0, rcvbuf=None):
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        self.timeout = timeout
        self.buf = bytearray()
        self.eof = False

    @property
    def local_port(self):
        return self.sock.getsockname()[1]

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        try:
            data = self.sock.recv(262144)
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            raise EOFError("connection closed by the proxy")
        self.buf += data

    def _until(self, delim):
        while True:
            i = self.buf.find(delim)
            if i >= 0:
                out = bytes(self.buf[:i])
                del self.buf[:i + len(delim)]
                return out
            self._fill()

    def _exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_head(self):
        head = self._until(b"\r\n\r\n").decode("latin-1")
        lines = head.split("\r\n")
        version, _, rest = lines[0].partition(" ")
        code, _, reason = rest.partition(" ")
        headers = []
        for l in lines[1:]:
            k, _, v = l.partition(":")
            headers.append((k.strip().lower(), v.strip()))
        return version, int(code), reason, headers

    def read_response(self, method="GET"):
        interim = []
        while True:
            version, status, reason, headers = self.read_head()
            if 100 <= status < 200 and status != 101:
                interim.append((status, headers))
                continue
            break
        te = (hget(headers, "transfer-encoding") or "").lower()
        cl = hget(headers, "content-length")
        if method == "HEAD" or status in (101, 204, 304) or \
                (method == "CONNECT" and 200 <= status < 300):
            body = b""  # no body; after 101 / a 2xx to CONNECT the bytes are the tunnel's
        elif te:
            assert te == "chunked", f"unexpected transfer-encoding {te!r}"
            body = bytearray()
            while True:
                size = int(self._until(b"\r\n").split(b";")[0], 16)
                if size == 0:
                    while self._until(b"\r\n") != b"":
                        pass
                    break
                body += self._exact(size)
                assert self._exact(2) == b"\r\n", "chunk not followed by CRLF"
            body = bytes(body)
        elif cl is not None:
            body = self._exact(int(cl))
        else:
            body = bytearray()
            while True:
                try:
                    self._fill()
                except EOFError:
                    break
            body = bytes(self.buf)
            self.buf.clear()
        return Resp(version, status, reason, headers, body, interim)

    def request(self, method, path, headers=(), body=None, host="test.local"):
        self.send(build_request(method, path, headers, body, host))
        return self.read_response(method)

    def closed_by_peer(self, timeout=3.0):
        """True when the proxy closes the connection (EOF or RST) with no further bytes."""
        if self.buf:
            return False
        if self.eof:
            return True
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(4096)
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False
        finally:
            self.sock.settimeout(self.timeout)
        if data:
            self.buf += data
            return False
        return True


def one_request(port, method="GET", path="/", headers=(), body=None, host="test.local",
                timeout=10.0):
    with HttpConn(port, timeout) as c:
        return c.request(method, path, headers, body, host)


class CurlResult:
    def __init__(self, blocks, body, rc, stderr):
        self.blocks = blocks            # [(status, [(lower-name, value)])], 1xx included
        self.status = blocks[-1][0] if blocks else None
        self.headers = blocks[-1][1] if blocks else []
        self.body = body
        self.rc = rc
        self.stderr = stderr

    def get(self, name, default=None):
        return hget(self.headers, name.lower(), default)

    def get_all(self, name):
        return [v for k, v in self.headers if k == name.lower()]

    def json(self):
        return json.loads(self.body)


def curl(url, *args, timeout=20):
    """curl -sS -i: every header block (1xx too) and the body, parsed."""
    p = subprocess.run(["curl", "-sS", "-i", "--max-time", str(timeout), *args, url],
                       capture_output=True, timeout=timeout + 10)
    out = p.stdout
    blocks = []
    body = b""
    while out.startswith(b"HTTP/"):
        head, sep, rest = out.partition(b"\r\n\r\n")
        if not sep:
            break
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        hdrs = []
        for l in lines[1:]:
            k, _, v = l.partition(":")
            hdrs.append((k.strip().lower(), v.strip()))
        blocks.append((status, hdrs))
        out = rest
        if not (100 <= status < 200):
            body = out
            break
    return CurlResult(blocks, body, p.returncode, p.stderr.decode(errors="replace"))


def sha256_of_repeated(byte, total, block=1 << 20):
    h = hashlib.sha256()
    chunk = byte * block
    left = total
    while left:
        n = min(left, block)
        h.update(chunk[:n] if n < block else chunk)
        left -= n
    return h.hexdigest()


class RssSampler:
    """Samples a pid's RSS (kB) every `interval` seconds in a thread; .peak is the max."""

    def __init__(self, pid, interval=0.02):
        from conftest import rss_kb
        self._rss = rss_kb
        self.pid = pid
        self.peak = rss_kb(pid)
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, args=(interval,), daemon=True)
        self._t.start()

    def _run(self, interval):
        while not self._stop.wait(interval):
            try:
                self.peak = max(self.peak, self._rss(self.pid))
            except (FileNotFoundError, ProcessLookupError):
                return

    def stop(self):
        self._stop.set()
        self._t.join(timeout=2)
        return self.peak
