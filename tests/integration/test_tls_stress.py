# SPDX-License-Identifier: Apache-2.0
"""Stress of the downstream TLS read and write paths under back-pressure
(proxy/transport_tls.c, proxy/conn.c): every byte through the proxy is checked, in both
directions, on many concurrent connections.

The client side is Python's ssl module over memory BIOs (ssl.SSLObject), one thread per
connection: the thread owns a non-blocking socket and decides itself how the ciphertext is
cut into send() calls, so records reach the proxy split at arbitrary points (a 5-byte
header in two segments, a body over many) or many records and a close_notify in one
segment. Plaintext goes in with random write sizes (1 byte to 200 kB, so records of every
size); the socket is read with random sizes, random pauses and sometimes a rate limit,
through small SO_RCVBUF/SO_SNDBUF and often a small MSS (TCP_MAXSEG: records arrive in
many segments), and some streams are larger than the kernel's socket buffers grow to on
loopback (a few MB), so the proxy's SSL_write meets a full socket (WANT_WRITE, partial
writes) and its output crosses its watermarks, over and over. Upstreams are plain
Python servers that read and write slowly and irregularly too, so the proxy also stops
reading its TLS side while records wait in the socket, in its read-ahead buffer and in
BoringSSL. Two listeners: the default 1 MiB buffer limit and 24 kB (watermarks cross in the
middle of records).

Streams are slices of one random pool: a byte lost, doubled, reordered or changed shows as
the first differing offset of the stream. Covered: tcp_proxy (both directions at once)
and the HTTP connection manager (uploads and downloads, keep-alive, `connection: close`),
TLS 1.2 and 1.3, two buffer limits, every way a client can end (TCP FIN, close_notify, both),
TLS 1.3 KeyUpdate requests from the client in the middle of both streams (OpenSSL's
SSL_key_update through ctypes: Python has no API for it), and a TLS 1.2 renegotiation
attempt (refused, as by Envoy)."""
import ctypes
import ctypes.util
import os
import random
import select
import socket
import ssl
import struct
import threading
import time

import pytest

from conftest import free_port
from http_helpers import cluster, hcm, route, start_proxy, stats, vhost, wait_stats
from test_tls import certs, client_ctx, tls_listener, tls_socket, tls_tcp_listener

assert certs  # a fixture, used by name

MiB = 1 << 20
POOL_LEN = 16 * MiB
_POOL = os.urandom(POOL_LEN)
# Twice over, so a stream of up to POOL_LEN bytes may start anywhere.
_POOL2 = memoryview(_POOL + _POOL)


def stream(off, n):
    assert 0 <= off < POOL_LEN and 0 <= n <= POOL_LEN
    return _POOL2[off:off + n]


def first_diff(a, b):
    for i in range(min(len(a), len(b))):
        if a[i] != b[i]:
            return i
    return min(len(a), len(b))


class Expect:
    """The receiving end of one stream: every byte compared as it arrives."""

    def __init__(self, off, n, what):
        self.off, self.n, self.got, self.what = off, n, 0, what

    def feed(self, data):
        k = len(data)
        if self.got + k > self.n:
            raise AssertionError(f"{self.what}: {self.got + k - self.n} bytes past the end of "
                                 f"the {self.n}-byte stream (at {self.got})")
        exp = _POOL2[self.off + self.got:self.off + self.got + k].tobytes()
        if exp != data:
            i = first_diff(exp, data)
            raise AssertionError(
                f"{self.what}: byte {self.got + i} of {self.n} differs (this read: {k} bytes "
                f"at {self.got}, first bad byte {i} into it)")
        self.got += k

    @property
    def done(self):
        return self.got == self.n

    def state(self):
        return f"{self.got}/{self.n}"


class HttpResponseExpect:
    """One content-length framed 200 response whose body is a stream."""

    def __init__(self, off, n, what):
        self.head = bytearray()
        self.body = Expect(off, n, what + " body")
        self.what = what
        self.have_head = False

    def feed(self, data):
        if not self.have_head:
            self.head += data
            i = self.head.find(b"\r\n\r\n")
            if i < 0:
                if len(self.head) > 65536:
                    raise AssertionError(f"{self.what}: no response head in 64 kB")
                return
            head, rest = bytes(self.head[:i]), bytes(self.head[i + 4:])
            self.have_head = True
            lines = head.decode("latin-1").split("\r\n")
            status = lines[0].split(" ")[1]
            if status != "200":
                raise AssertionError(f"{self.what}: {lines[0]!r}")
            hdrs = {l.partition(":")[0].strip().lower(): l.partition(":")[2].strip()
                    for l in lines[1:]}
            if int(hdrs.get("content-length", "-1")) != self.body.n:
                raise AssertionError(f"{self.what}: head {head!r}")
            data = rest
        if data:
            self.body.feed(data)

    @property
    def done(self):
        return self.have_head and self.body.done

    def state(self):
        return f"head={self.have_head} body={self.body.state()}"


def tcp_queues(port):
    """Both ends of the loopback TCP connection that has |port| at one end, from
    /proc/net/tcp (for failure messages): state, bytes queued to send and to read, the
    timer (1 retransmit, 4 zero-window probe) and how far it is."""
    out = []
    try:
        with open("/proc/net/tcp") as f:
            lines = f.readlines()[1:]
    except OSError:
        return "no /proc/net/tcp"
    for line in lines:
        f = line.split()
        lp, rp = int(f[1].split(":")[1], 16), int(f[2].split(":")[1], 16)
        if port in (lp, rp):
            tx, rx = (int(x, 16) for x in f[4].split(":"))
            tr, when = f[5].split(":")
            out.append(f"{lp}->{rp} st={f[3]} sendq={tx} recvq={rx} timer={int(tr, 16)}/"
                       f"{int(when, 16)} retrans={int(f[6], 16)}")
    return "; ".join(out) or "gone"


def pick_write(rng):
    """Write sizes around every record boundary: tiny, small, about one record, many."""
    r = rng.random()
    if r < 0.15:
        return rng.randint(1, 64)
    if r < 0.35:
        return rng.randint(65, 4096)
    if r < 0.75:
        return rng.randint(4097, 20000)
    return rng.randint(20001, 200000)


def pick_pause(rng):
    """Mostly none, some short hiccups, and now and then a stall long enough for the other
    side to fill every buffer on the way (the kernel's socket buffers, then the proxy's up to
    its limit): the proxy's writes then block and its reads pause."""
    r = rng.random()
    if r < 0.003:
        return rng.uniform(0.1, 0.3)
    if r < 0.02:
        return rng.uniform(0.001, 0.03)
    return 0.0


def pick_mss(rng, rcvbuf):
    """A client MSS (TCP_MAXSEG). Not more than a small receive window holds: the kernel
    then sends nothing but zero-window probes, with back-off, and a megabyte takes minutes
    (seen as the proxy's socket in FIN_WAIT1 with everything in its send queue)."""
    if rcvbuf and rcvbuf <= 8192:
        return rng.choice([536, 1400])
    return rng.choice([536, 1400, 9000, None])


def pick_read(rng):
    r = rng.random()
    if r < 0.1:
        return rng.randint(1, 16)
    if r < 0.3:
        return rng.randint(17, 2048)
    return rng.randint(2049, 65536)


# ---- KeyUpdate / renegotiation through OpenSSL (the library Python's ssl module uses) --------

_libssl = None


def libssl():
    """ctypes handle on the libssl Python's _ssl module is linked with (same process, same
    library: the SSL* of an SSLObject can be passed to it)."""
    global _libssl
    if _libssl is None:
        lib = ctypes.CDLL(ctypes.util.find_library("ssl") or "libssl.so.3")
        lib.SSL_key_update.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.SSL_key_update.restype = ctypes.c_int
        lib.SSL_renegotiate.argtypes = [ctypes.c_void_p]
        lib.SSL_renegotiate.restype = ctypes.c_int
        lib.SSL_version.argtypes = [ctypes.c_void_p]
        lib.SSL_version.restype = ctypes.c_int
        _libssl = lib
    return _libssl


def ssl_pointer(obj, ctx):
    """The SSL* inside an ssl.SSLObject. CPython's PySSLSocket is {PyObject_HEAD; PyObject
    *Socket; SSL *ssl; PySSLContext *ctx; ...}: the layout is checked through the ctx field
    (it must be the SSLContext itself) before the SSL* is trusted. None if it differs."""
    words = ctypes.cast(id(obj._sslobj) + 2 * ctypes.sizeof(ctypes.c_void_p),
                        ctypes.POINTER(ctypes.c_void_p))  # Socket, ssl, ctx
    if words[2] != id(ctx):
        return None
    p = words[1]
    want = {"TLSv1.3": 0x0304, "TLSv1.2": 0x0303}.get(obj.version())
    if not p or want is None or libssl().SSL_version(p) != want:
        return None
    return p


KEY_UPDATE_MSG = 24  # TLS HandshakeType key_update


# ---- the client ------------------------------------------------------------------------------

class TlsPeer:
    """One client connection: a non-blocking socket and an SSLObject, driven by one thread."""

    def __init__(self, port, ctx, rng, what, rcvbuf=None, sndbuf=None, mss=None):
        self.what = what
        self.rng = rng
        self.ctx = ctx
        self.sock = socket.socket()
        if mss:  # records cut into many segments both ways
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, mss)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if sndbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", port))
        self.sock.setblocking(False)
        self.inc, self.outg = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.inc, self.outg, server_hostname="localhost")
        self.ct = bytearray()       # ciphertext not sent yet
        self.eof = False            # the socket said EOF
        self.tls_closed = False     # close_notify received
        self.ragged = False         # EOF without close_notify
        self.fin_sent = False
        self.notify_sent = False
        self.key_updates_sent = 0
        self.sent_total = 0
        self.ssl_p = None
        self.read_rate = None       # bytes/s: a slow reader, the proxy's writes must wait
        self.rnext = 0.0
        self.sink = None
        self.rx_total = 0           # ciphertext bytes received
        self.last_rx = time.monotonic()

    def close(self):
        self.sock.close()

    def _pull(self):
        if self.outg.pending:
            self.ct += self.outg.read()

    def _send_some(self, limit=None):
        if not self.ct:
            return
        k = min(len(self.ct), limit or pick_write(self.rng))
        try:
            n = self.sock.send(self.ct[:k])
        except BlockingIOError:
            return
        del self.ct[:n]

    def _recv_some(self, sink):
        try:
            d = self.sock.recv(pick_read(self.rng))
        except BlockingIOError:
            return 0
        except ConnectionResetError:
            d = b""
        if d:
            self.inc.write(d)
            self.rx_total += len(d)
            self.last_rx = time.monotonic()
        else:
            self.eof = True
            self.inc.write_eof()
        self._decrypt(sink)
        return len(d)

    def _decrypt(self, sink):
        while not self.tls_closed and not self.ragged:
            try:
                data = self.obj.read(262144)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                self.tls_closed = True
                break
            except ssl.SSLEOFError:
                self.ragged = True
                break
            if not data:  # SSLObject.read returns b"" at a clean end too
                self.tls_closed = True
                break
            if sink is None:
                raise AssertionError(f"{self.what}: {len(data)} unexpected bytes")
            sink.feed(data)
        self._pull()  # reading may produce records (a KeyUpdate answer)

    def handshake(self, deadline):
        while True:
            try:
                self.obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                pass
            self._pull()
            while self.ct:
                self._wait(deadline, w=True)
                self._send_some(1 << 20)
            self._wait(deadline, r=True)
            self._recv_some(None)
            if self.eof:
                raise AssertionError(f"{self.what}: EOF during the handshake")
        self._pull()

    def _wait(self, deadline, r=False, w=False, timeout=None):
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"{self.what}: timed out ({self.state()})")
        t = min(left, 0.5 if timeout is None else timeout)
        return select.select([self.sock] if r else [], [self.sock] if w else [], [], t)

    def state(self):
        try:
            tcp = tcp_queues(self.sock.getsockname()[1])
        except OSError:
            tcp = "closed"
        return (f"tcp [{tcp}], sent {self.sent_total}, ct pending {len(self.ct)}, received "
                f"{self.sink.state() if self.sink else '-'} ({self.rx_total} bytes of records, "
                f"the last {time.monotonic() - self.last_rx:.1f}s ago), eof={self.eof} "
                f"close_notify={self.tls_closed} ragged={self.ragged} fin_sent={self.fin_sent}")

    def exchange(self, out, sink, deadline, end=None, key_update_at=(), until_close=False):
        """Sends `out` (plaintext) while feeding every decrypted byte to `sink`, until `out` is
        sent and `sink` is done, then ends as `end` says (None: stays open; "fin": TCP FIN,
        no close_notify; "notify": close_notify, no FIN; "notify_fin": both) and, with
        `until_close`, reads on until the proxy's close_notify (which must come: a close
        without it fails)."""
        rng = self.rng
        self.sink = sink
        sent = 0
        ku = sorted(key_update_at)
        ended = end is None
        rpause = wpause = 0.0
        while True:
            now = time.monotonic()
            # Plaintext → records, at most ~256 kB ahead of the socket.
            while sent < len(out) and len(self.ct) < 262144 and now >= wpause:
                if ku and sent >= ku[0]:
                    ku.pop(0)
                    if self.ssl_p is None:
                        self.ssl_p = ssl_pointer(self.obj, self.ctx)
                        assert self.ssl_p, "the SSL* of the SSLObject was not found"
                    assert libssl().SSL_key_update(self.ssl_p, 1) == 1, "SSL_key_update"
                    self.key_updates_sent += 1
                n = min(pick_write(rng), len(out) - sent)
                if ku:
                    n = min(n, ku[0] - sent)  # the KeyUpdate goes exactly there
                self.obj.write(out[sent:sent + n])
                sent += n
                self.sent_total += n
                self._pull()
            if sent == len(out) and not ended:
                if end in ("notify", "notify_fin") and not self.notify_sent:
                    try:
                        self.obj.unwrap()  # close_notify, then it waits for the peer's
                    except ssl.SSLWantReadError:
                        pass
                    self.notify_sent = True
                    self._pull()
                if not self.ct:
                    if end in ("fin", "notify_fin"):
                        self.sock.shutdown(socket.SHUT_WR)
                        self.fin_sent = True
                    ended = True
            if sent == len(out) and sink.done and ended and not self.ct:
                if not until_close or self.tls_closed:
                    return
                if self.ragged or self.eof:
                    raise AssertionError(f"{self.what}: the proxy closed without close_notify "
                                         f"({self.state()})")
            if self.tls_closed or self.ragged or self.eof:
                if not sink.done:
                    raise AssertionError(f"{self.what}: the stream ended at {sink.state()} "
                                         f"({self.state()})")
                if self.ragged:
                    raise AssertionError(f"{self.what}: EOF without close_notify "
                                         f"({self.state()})")
            want_r = now >= rpause and not self.eof
            want_w = bool(self.ct) and now >= wpause
            nxt = min([t for t in (rpause, wpause) if t > now], default=now + 0.5)
            r, w, _ = self._wait(deadline, want_r, want_w, timeout=max(0.001, nxt - now))
            if w:
                self._send_some()
                wpause = time.monotonic() + pick_pause(rng)
            if r:
                got = self._recv_some(sink)
                rpause = time.monotonic() + pick_pause(rng)
                if self.read_rate and got:
                    self.rnext = max(self.rnext, time.monotonic()) + got / self.read_rate
                    rpause = max(rpause, self.rnext)


# ---- upstreams -------------------------------------------------------------------------------

HDR = struct.Struct("!7I")  # magic, id, flags, up_off, up_len, down_off, down_len
MAGIC = 0x524D5354
FIN_AFTER_EOF = 1  # the upstream sends its FIN only after the proxy's
RATE_SHIFT = 8     # flags >> 8: the upstream reads at most this many MB/s (0: no limit)


class StressServer:
    """A listener on 127.0.0.1 with small socket buffers and MSS (inherited by accepted
    sockets: window scaling is decided at SYN); one thread per accepted connection runs
    self._serve(sock, n)."""

    def __init__(self, seed, bufsize=16384, mss=1000):
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, mss)
        if bufsize:
            self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, bufsize)
            self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, bufsize)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(256)
        self.port = self.lsock.getsockname()[1]
        self.seed = seed
        self.lock = threading.Lock()
        self.results = {}  # id → "ok" or the failure
        self.progress = {}  # id → state string
        self.errors = []
        self.socks = []
        self.stop_flag = False
        self.threads = []
        self.t = threading.Thread(target=self._accept, daemon=True)
        self.t.start()

    def _accept(self):
        self.lsock.settimeout(0.1)
        n = 0
        while not self.stop_flag:
            try:
                s, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            n += 1
            self.socks.append(s)
            t = threading.Thread(target=self._serve, args=(s, n), daemon=True)
            t.start()
            self.threads.append(t)

    def stop(self):
        self.stop_flag = True
        self.lsock.close()
        self.t.join(5)
        for s in self.socks:  # idle keep-alive connections wait in recv()
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in self.threads:
            t.join(5)

    def _failed(self, key, e):
        """A serving thread's exception: the result of the connection or request |key| when
        one was under way, else a server error."""
        with self.lock:
            if key is not None:
                self.results[key] = repr(e)
            else:
                self.errors.append(repr(e))


class Upstream(StressServer):
    """Plain TCP upstream of the tcp_proxy tests. Each connection starts with a header (its
    id, the stream it must receive, the stream it sends back); then it reads and writes at
    once, with random sizes and pauses, through small socket buffers. Its FIN comes once
    everything is sent (or, with FIN_AFTER_EOF, after the proxy's FIN too)."""

    def _serve(self, s, n):
        rng = random.Random(self.seed * 1000 + n)
        s.setblocking(False)
        hdr = bytearray()
        cid = None
        exp = out = None
        flags = sent = 0
        eof = fin = False
        rpause = wpause = rnext = 0.0
        deadline = time.monotonic() + 90
        try:
            while not (fin and eof):
                now = time.monotonic()
                if now > deadline or self.stop_flag:
                    raise AssertionError("upstream timed out")
                if cid is not None:
                    self.progress[cid] = (f"recv {exp.state()} sent {sent}/{len(out)} eof={eof} "
                                          f"fin={fin}")
                want_r = not eof and now >= rpause
                want_w = out is not None and sent < len(out) and now >= wpause
                r, w, _ = select.select([s] if want_r else [], [s] if want_w else [], [], 0.005)
                if r:
                    try:
                        d = s.recv(pick_read(rng))
                    except BlockingIOError:
                        d = None
                    if d == b"":
                        eof = True
                        if exp is None or not exp.done:
                            raise AssertionError(
                                f"upstream: EOF at {exp.state() if exp else 'header'}")
                    elif d:
                        if exp is None:
                            hdr += d
                            if len(hdr) >= HDR.size:
                                magic, cid, flags, uo, ul, do, dl = HDR.unpack(hdr[:HDR.size])
                                if magic != MAGIC:
                                    raise AssertionError(f"upstream: bad header {bytes(hdr)!r}")
                                exp = Expect(uo, ul, f"conn {cid} upstream-bound stream")
                                out = stream(do, dl)
                                d = bytes(hdr[HDR.size:])
                            else:
                                d = b""
                        if d:
                            exp.feed(d)
                    rpause = time.monotonic() + pick_pause(rng)
                    rate = (flags >> RATE_SHIFT) * 1e6
                    if rate and d:
                        rnext = max(rnext, time.monotonic()) + len(d) / rate
                        rpause = max(rpause, rnext)
                if w:
                    k = min(pick_write(rng), len(out) - sent)
                    try:
                        sent += s.send(out[sent:sent + k])
                    except BlockingIOError:
                        pass
                    wpause = time.monotonic() + pick_pause(rng)
                if out is not None and sent == len(out) and not fin and \
                        (eof or not flags & FIN_AFTER_EOF):
                    s.shutdown(socket.SHUT_WR)
                    fin = True
            with self.lock:
                self.results[cid] = "ok"
        except Exception as e:  # noqa: BLE001 - reported by the test
            self._failed(cid, e)
        finally:
            s.close()


class HttpOrigin(StressServer):
    """HTTP/1.1 origin of the connection manager tests: `POST /s?id=..&uo=..&ul=..&do=..&dl=..`
    must carry the stream (uo, ul) as its body, read slowly; the answer is a 200 whose body is
    the stream (do, dl), written in random pieces with pauses."""

    def _serve(self, s, n):
        rng = random.Random(self.seed * 1000 + n)
        s.settimeout(60)
        buf = bytearray()
        rid = None
        try:
            while not self.stop_flag:
                while b"\r\n\r\n" not in buf:
                    d = s.recv(65536)
                    if not d:
                        if buf:
                            raise AssertionError(f"origin: EOF in a head: {bytes(buf)!r}")
                        return
                    buf += d
                i = buf.find(b"\r\n\r\n")
                head, rest = bytes(buf[:i]).decode("latin-1"), bytes(buf[i + 4:])
                lines = head.split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                hdrs = {l.partition(":")[0].strip().lower(): l.partition(":")[2].strip()
                        for l in lines[1:]}
                q = dict(kv.split("=") for kv in target.partition("?")[2].split("&"))
                rid = q["id"]
                exp = Expect(int(q["uo"]), int(q["ul"]), f"request {rid} body at the origin")
                clen = int(hdrs.get("content-length", "-1"))
                assert method == "POST" and clen == exp.n, f"origin: {head!r}"
                take = rest[:clen]
                buf = bytearray(rest[clen:])
                exp.feed(take)
                rate, rnext = float(q.get("ur", 0)) * 1e6, time.monotonic()
                while not exp.done:
                    self.progress[rid] = f"body {exp.state()}"
                    d = s.recv(min(pick_read(rng), exp.n - exp.got))
                    if not d:
                        raise AssertionError(f"origin: EOF in request {rid} at {exp.state()}")
                    exp.feed(d)
                    time.sleep(pick_pause(rng))
                    if rate:  # a slow reader: the proxy stops reading the client
                        rnext += len(d) / rate
                        time.sleep(max(0.0, rnext - time.monotonic()))
                body = stream(int(q["do"]), int(q["dl"]))
                s.sendall(f"HTTP/1.1 200 OK\r\ncontent-length: {len(body)}\r\n"
                          f"content-type: application/octet-stream\r\n\r\n".encode())
                sent = 0
                while sent < len(body):
                    k = min(pick_write(rng), len(body) - sent)
                    self.progress[rid] = f"body {exp.state()}, answer {sent}/{len(body)}"
                    s.sendall(body[sent:sent + k])
                    sent += k
                    time.sleep(pick_pause(rng))
                self.progress[rid] = f"body {exp.state()}, answer {sent}/{len(body)}"
                with self.lock:
                    self.results[rid] = "ok"
                rid = None
                if hdrs.get("connection", "").lower() == "close":
                    return
        except Exception as e:  # noqa: BLE001 - reported by the test
            self._failed(rid, e)
        finally:
            s.close()

@pytest.fixture
def upstream():
    made = []

    def make(kind, seed):
        u = kind(seed)
        made.append(u)
        return u
    yield make
    for u in made:
        u.stop()


# ---- config ----------------------------------------------------------------------------------

SMALL_LIMIT = 24 * 1024  # not a multiple of a record: watermarks cross mid-record


def stress_ts(certs):
    return tls_socket(certs, params={"tls_minimum_protocol_version": "TLSv1_2",
                                     "tls_maximum_protocol_version": "TLSv1_3"})


def with_limit(listener, limit):
    if limit:
        listener["per_connection_buffer_limit_bytes"] = limit
    return listener


def versions(v):
    return {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}[v]


def stress_ctx(certs, v, rng):
    ctx = client_ctx(certs, min_version=versions(v), max_version=versions(v))
    if v == "1.2" and rng.random() < 0.5:
        ctx.set_ciphers("ECDHE-ECDSA-CHACHA20-POLY1305")  # no explicit nonce, other overhead
    return ctx


def run_clients(n, target, timeout):
    errors = []
    lock = threading.Lock()

    def wrap(i):
        try:
            target(i)
        except Exception as e:  # noqa: BLE001 - collected and asserted below
            with lock:
                errors.append(f"client {i}: {e!r}")
    threads = [threading.Thread(target=wrap, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    end = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.1, end - time.monotonic()))
    hung = [i for i, t in enumerate(threads) if t.is_alive()]
    return errors, hung


def seed_for(request):
    """One seed per run (printed, so a failure can be replayed: REMORA_STRESS_SEED=...)."""
    s = int(os.environ.get("REMORA_STRESS_SEED", "0")) or random.randrange(1, 1 << 30)
    print(f"stress seed {s} ({request.node.name})")
    return s


# ---- tcp_proxy -------------------------------------------------------------------------------

@pytest.mark.parametrize("version", ["1.3", "1.2"])
def test_tcp_proxy_tls_duplex_stress(remora, upstream, certs, request, version):
    """12 connections through tcp_proxy, both directions at once: 0.5–3 MiB each way, or 6–9
    MiB one way to a reader slower than the writer (more than the kernel's buffers hold, so
    the proxy's own buffers fill and drain all along), with every way of ending; on TLS 1.3
    each client also asks for three KeyUpdates mid-stream (the proxy answers with its own
    on its next write, behind whatever record was pending)."""
    seed = seed_for(request)
    rng0 = random.Random(seed)
    up = upstream(Upstream, seed)
    ports = {"default": free_port(), "small": free_port()}
    listeners = [with_limit(tls_tcp_listener("big", ports["default"], "up", stress_ts(certs)), 0),
                 with_limit(tls_tcp_listener("small", ports["small"], "up_small",
                                             stress_ts(certs)), SMALL_LIMIT)]
    r = start_proxy(remora, listeners,
                    [cluster("up", [up.port]),
                     cluster("up_small", [up.port], per_connection_buffer_limit_bytes=SMALL_LIMIT)],
                    concurrency=2)
    n = 12
    ends = ["fin", "notify", "notify_fin", None]
    plans = []
    for i in range(n):
        rng = random.Random(rng0.randrange(1 << 30))
        shape = ("mixed", "bulk_down", "bulk_up")[i % 3]
        ul = rng.randint(MiB // 2, 3 * MiB)
        dl = rng.randint(MiB // 2, 3 * MiB)
        read_rate = rng.choice([None, None, 3e6, 8e6, 20e6])
        up_rate = rng.choice([0, 0, 3, 8, 20])  # MB/s
        if shape == "bulk_down":
            # More than the kernel's socket buffers hold (they grow to a few MB on
            # loopback), to a reader slower than the upstream: the proxy's own output
            # fills and its SSL_write meets a full socket, over and over.
            dl, read_rate, ul, up_rate = rng.randint(6 * MiB, 9 * MiB), rng.uniform(6e6, 12e6), \
                rng.randint(0, MiB), 0
        elif shape == "bulk_up":
            # The same towards a slow upstream: the proxy stops reading TLS with records
            # waiting in the socket, its read-ahead buffer and BoringSSL.
            ul, up_rate, dl, read_rate = rng.randint(6 * MiB, 9 * MiB), rng.randint(6, 12), \
                rng.randint(0, MiB), None
        elif i == 0:
            ul = 7  # almost nothing up, a lot down (and the reverse next)
        elif i == 3:
            dl = 0
        # A tiny receive window is slow (window updates wait for delayed ACKs): small
        # streams only.
        rcvbuf = rng.choice([2048, 4096, 8192, 32768, None] if shape == "mixed" else
                            [16384, 65536, None])
        if rcvbuf and rcvbuf <= 4096:
            dl = min(dl, MiB)
        plans.append(dict(
            rng=rng, port=ports["small" if i % 2 else "default"], ul=ul, dl=dl,
            uo=rng.randrange(POOL_LEN), do=rng.randrange(POOL_LEN), end=ends[i % len(ends)],
            flags=(FIN_AFTER_EOF if (i // 2) % 2 == 0 else 0) | up_rate << RATE_SHIFT,
            read_rate=read_rate,
            rcvbuf=rcvbuf,
            sndbuf=rng.choice([4096, 8192, None]), mss=pick_mss(rng, rcvbuf),
            ku=sorted(rng.randrange(1, ul) for _ in range(3)) if version == "1.3" and ul > 1
            else []))
    peers = {}
    ku_replies = [0]
    lock = threading.Lock()

    def client(i):
        p = plans[i]
        ctx = stress_ctx(certs, version, p["rng"])
        if p["ku"]:
            def cb(conn, direction, ver, content_type, msg_type, data):
                if direction == "read" and msg_type == KEY_UPDATE_MSG and content_type == 22:
                    with lock:
                        ku_replies[0] += 1
            ctx._msg_callback = cb
        c = TlsPeer(p["port"], ctx, p["rng"], f"conn {i}", p["rcvbuf"], p["sndbuf"], p["mss"])
        c.read_rate = p["read_rate"]
        peers[i] = c
        try:
            deadline = time.monotonic() + 60
            c.handshake(deadline)
            assert c.obj.version() == f"TLSv{version}", c.obj.version()
            hdr = HDR.pack(MAGIC, i, p["flags"], p["uo"], p["ul"], p["do"], p["dl"])
            out = hdr + stream(p["uo"], p["ul"]).tobytes()
            ku = [k + HDR.size for k in p["ku"]]
            # The proxy's close comes after the upstream's FIN, which needs the client's end
            # when the upstream waits for it (FIN_AFTER_EOF) and the client ends at all.
            c.exchange(out, Expect(p["do"], p["dl"], f"conn {i} client-bound stream"), deadline,
                       end=p["end"], key_update_at=ku,
                       until_close=p["end"] is not None or not p["flags"] & FIN_AFTER_EOF)
        finally:
            c.close()

    errors, hung = run_clients(n, client, 90)
    details = [f"conn {i}: client {peers[i].state() if i in peers else '-'}; upstream "
               f"{up.progress.get(i, '-')} {up.results.get(i, '')}" for i in range(n)]
    assert not hung and not errors, "\n".join(errors + [f"hung: {hung}"] + details)
    # The upstream saw every stream whole and ended cleanly on every connection.
    wait_for_results(up, n, details)
    if version == "1.3":
        assert sum(peers[i].key_updates_sent for i in peers) == \
            sum(len(p["ku"]) for p in plans)
        assert ku_replies[0] > 0, "no KeyUpdate answer from the proxy"
    st = stats(r)
    for port in ports.values():
        assert st.get(f"listener.127.0.0.1_{port}.ssl.connection_error", 0) == 0
    # The back-pressure really happened, both ways: the TLS side's output went over its
    # limit (its writes blocked) and its reading was paused for the upstream's.
    assert st.get("cluster.up.upstream_flow_control_paused_reading_total", 0) + \
        st.get("cluster.up_small.upstream_flow_control_paused_reading_total", 0) > 0, st
    assert st.get("tcp.tls_tcp.downstream_flow_control_paused_reading_total", 0) > 0, st
    wait_stats(r, {f"listener.127.0.0.1_{ports['default']}.downstream_cx_active": 0,
                   f"listener.127.0.0.1_{ports['small']}.downstream_cx_active": 0})


def wait_for_results(srv, n, details, timeout=10):
    end = time.monotonic() + timeout
    while time.monotonic() < end and len(srv.results) < n:
        time.sleep(0.02)
    bad = {k: v for k, v in srv.results.items() if v != "ok"}
    assert len(srv.results) == n and not bad and not srv.errors, \
        f"upstream results {srv.results} errors {srv.errors}\n" + "\n".join(details)


# ---- HTTP connection manager -----------------------------------------------------------------

@pytest.mark.parametrize("version", ["1.3", "1.2"])
def test_hcm_tls_stress(remora, upstream, certs, request, version):
    """10 keep-alive connections, 3 requests each (up to 2 MiB up, then up to 3 MiB down;
    the second request 6–8 MiB up to a slow origin or down to a slow client), the last with
    `connection: close`: the proxy's close must carry a close_notify."""
    seed = seed_for(request)
    rng0 = random.Random(seed)
    o = upstream(HttpOrigin, seed)
    ports = {"default": free_port(), "small": free_port()}
    h = hcm([vhost("all", ["*"], [route("/", "origin", timeout="0s")])])
    hs = hcm([vhost("all", ["*"], [route("/", "origin_small", timeout="0s")])])
    listeners = [tls_listener("big", ports["default"], h, stress_ts(certs)),
                 with_limit(tls_listener("small", ports["small"], hs, stress_ts(certs)),
                            SMALL_LIMIT)]
    r = start_proxy(remora, listeners,
                    [cluster("origin", [o.port]),
                     cluster("origin_small", [o.port],
                             per_connection_buffer_limit_bytes=SMALL_LIMIT)], concurrency=2)
    n, per_conn = 10, 3
    plans = []
    for i in range(n):
        rng = random.Random(rng0.randrange(1 << 30))
        rcvbuf = rng.choice([4096, 8192, 32768, None])
        reqs = []
        for k in range(per_conn):
            q = dict(uo=rng.randrange(POOL_LEN), ul=rng.randint(0, 2 * MiB),
                     do=rng.randrange(POOL_LEN), dl=rng.randint(0, 3 * MiB), ur=0, rr=None)
            if k == 1 and i % 2 and not (rcvbuf and rcvbuf <= 4096):
                # A download bigger than the socket buffers to a slow reader.
                q.update(dl=rng.randint(6 * MiB, 8 * MiB), rr=rng.uniform(8e6, 12e6))
            elif k == 1:
                # An upload bigger than the socket buffers to a slow origin.
                q.update(ul=rng.randint(6 * MiB, 8 * MiB), ur=rng.randint(8, 12))
            elif rcvbuf and rcvbuf <= 4096:
                q["dl"] = min(q["dl"], MiB)  # a tiny window is slow
            reqs.append(q)
        plans.append(dict(rng=rng, port=ports["small" if i % 2 else "default"], reqs=reqs,
                          rcvbuf=rcvbuf, sndbuf=rng.choice([4096, 8192, None]),
                          mss=pick_mss(rng, rcvbuf)))
    peers = {}

    def client(i):
        p = plans[i]
        c = TlsPeer(p["port"], stress_ctx(certs, version, p["rng"]), p["rng"], f"conn {i}",
                    p["rcvbuf"], p["sndbuf"], p["mss"])
        peers[i] = c
        try:
            deadline = time.monotonic() + 60
            c.handshake(deadline)
            for k, q in enumerate(p["reqs"]):
                last = k == len(p["reqs"]) - 1
                rid = f"{i}.{k}"
                c.read_rate = q["rr"]
                head = (f"POST /s?id={rid}&uo={q['uo']}&ul={q['ul']}&do={q['do']}&dl={q['dl']}"
                        f"&ur={q['ur']} "
                        f"HTTP/1.1\r\nhost: localhost\r\ncontent-length: {q['ul']}\r\n"
                        f"{'connection: close' + chr(13) + chr(10) if last else ''}\r\n")
                out = head.encode() + stream(q["uo"], q["ul"]).tobytes()
                # The last answer ends the connection (`connection: close`): with a
                # close_notify, which the client waits for.
                c.exchange(out, HttpResponseExpect(q["do"], q["dl"], f"response {rid}"),
                           deadline, until_close=last)
        finally:
            c.close()

    errors, hung = run_clients(n, client, 90)
    details = [f"conn {i}: {peers[i].state() if i in peers else '-'}; origin " +
               " ".join(f"{k}: {o.progress.get(f'{i}.{k}', '-')} {o.results.get(f'{i}.{k}', '')}"
                        for k in range(per_conn)) for i in range(n)]
    assert not hung and not errors, "\n".join(errors + [f"hung: {hung}"] + details)
    wait_for_results(o, n * per_conn, details)
    st = stats(r)
    for port in ports.values():
        assert st.get(f"listener.127.0.0.1_{port}.ssl.connection_error", 0) == 0
    wait_stats(r, {f"listener.127.0.0.1_{ports['default']}.downstream_cx_active": 0,
                   f"listener.127.0.0.1_{ports['small']}.downstream_cx_active": 0})


# ---- the ends of a stream, one segment at a time ---------------------------------------------

@pytest.mark.parametrize("version", ["1.3", "1.2"])
def test_close_notify_in_the_segment_of_the_last_data(remora, upstream, certs, version):
    """A client sends its last records and its close_notify in one segment, and keeps the
    socket open waiting for the other side: the proxy must see the end of the stream
    (forward the FIN upstream) although the socket never becomes readable again."""
    up = upstream(Upstream, 1)
    port = free_port()
    start_proxy(remora, [tls_tcp_listener("t", port, "up", stress_ts(certs))],
                [cluster("up", [up.port])])
    ctx = client_ctx(certs, min_version=versions(version), max_version=versions(version))
    c = TlsPeer(port, ctx, random.Random(1), "conn")
    try:
        deadline = time.monotonic() + 10
        c.handshake(deadline)
        while c.ct:
            c._wait(deadline, w=True)
            c._send_some(1 << 20)
        time.sleep(0.3)  # the proxy has finished the handshake and connected upstream
        sink = Expect(5, 4000, "client-bound stream")
        c._recv_some(sink)
        c.obj.write(HDR.pack(MAGIC, 1, FIN_AFTER_EOF, 10, 3000, 5, 4000))
        c.obj.write(stream(10, 3000))
        try:
            c.obj.unwrap()
        except ssl.SSLWantReadError:
            pass
        c._pull()
        assert len(c.ct) < 8000
        c.sock.setblocking(True)
        c.sock.sendall(c.ct)  # one segment on loopback
        c.sock.setblocking(False)
        c.ct.clear()
        deadline = time.monotonic() + 5
        while not c.tls_closed:
            assert not c.eof and not c.ragged, c.state()
            if time.monotonic() > deadline:
                raise AssertionError(f"no end from the proxy: client got {sink.state()}, "
                                     f"upstream {up.progress.get(1)}")
            r_, _, _ = c._wait(deadline + 1, r=True, timeout=0.1)
            if r_:
                c._recv_some(sink)
        assert sink.done
    finally:
        c.close()
    wait_for_results(up, 1, [])


def test_renegotiation_after_data_is_refused_and_closes(remora, upstream, certs):
    """TLS 1.2: a renegotiation ClientHello right behind data (one segment) is refused with an
    alert, as by Envoy (BoringSSL never renegotiates as a server), and the connection closes
    although the client sends nothing more; the data before it went through."""
    up = upstream(Upstream, 2)
    port = free_port()
    r = start_proxy(remora, [tls_tcp_listener("t", port, "up", stress_ts(certs))],
                    [cluster("up", [up.port])])
    ctx = client_ctx(certs, min_version=ssl.TLSVersion.TLSv1_2,
                     max_version=ssl.TLSVersion.TLSv1_2)
    ctx.options &= ~ssl.OP_NO_RENEGOTIATION
    c = TlsPeer(port, ctx, random.Random(2), "conn")
    try:
        deadline = time.monotonic() + 10
        c.handshake(deadline)
        while c.ct:
            c._wait(deadline, w=True)
            c._send_some(1 << 20)
        time.sleep(0.3)
        p = ssl_pointer(c.obj, ctx)
        assert p, "the SSL* of the SSLObject was not found"
        c.obj.write(HDR.pack(MAGIC, 1, FIN_AFTER_EOF, 10, 3000, 5, 0))
        c.obj.write(stream(10, 3000))
        assert libssl().SSL_renegotiate(p) == 1
        try:
            c.obj.do_handshake()
        except ssl.SSLWantReadError:
            pass
        c._pull()
        c.sock.setblocking(True)
        c.sock.sendall(c.ct)
        c.sock.setblocking(False)
        c.ct.clear()
        deadline = time.monotonic() + 5
        alert = None
        while alert is None and not c.eof:
            r_, _, _ = c._wait(deadline, r=True)
            if r_:
                try:
                    c._recv_some(None)
                except ssl.SSLError as e:
                    alert = e
        assert alert is not None and "RENEGOTIATION" in str(alert).upper(), (alert, c.state())
        # Then the proxy closes the connection (the client sends nothing more).
        while True:
            r_, _, _ = c._wait(deadline, r=True)
            if r_:
                try:
                    if not c.sock.recv(65536):
                        break
                except ConnectionResetError:
                    break
                except BlockingIOError:
                    pass
    finally:
        c.close()
    # The upstream got the data before the ClientHello whole (then the proxy's FIN).
    wait_for_results(up, 1, [])
    wait_stats(r, {f"listener.127.0.0.1_{port}.ssl.connection_error": 1,
                   f"listener.127.0.0.1_{port}.downstream_cx_active": 0})


class Collect:
    """A sink that keeps what it is fed."""

    def __init__(self):
        self.data = bytearray()
        self.done = False

    def feed(self, d):
        self.data += d


BANNER = b"220 remora test banner, one byte a millisecond\r\n"


def test_server_first_upstream_while_the_handshake_runs(remora, certs):
    """A server-first upstream (an SMTP-like banner, dribbled out for a while) makes the
    proxy write to TLS connections whose handshake has not finished: the handshake then
    completes inside a write, which may read the client's first records along with its
    Finished (TLS 1.3 sends them back to back, here in one segment). They must be
    delivered although no new socket event announces them: the client sends nothing more
    until it has its echo. 40 connections at once; without the kick after such a write
    some of them hang about every other run."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(128)
    stop = threading.Event()
    threads = []

    def serve(s):
        try:
            s.settimeout(10)
            for i in range(len(BANNER)):
                s.sendall(BANNER[i:i + 1])
                time.sleep(0.001)
            while not stop.is_set():
                d = s.recv(65536)
                if not d:
                    break
                s.sendall(d)
        except OSError:
            pass
        finally:
            s.close()

    def accept():
        lsock.settimeout(0.1)
        while not stop.is_set():
            try:
                s, _ = lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            t = threading.Thread(target=serve, args=(s,), daemon=True)
            t.start()
            threads.append(t)

    at = threading.Thread(target=accept, daemon=True)
    at.start()
    try:
        port = free_port()
        start_proxy(remora, [tls_tcp_listener("t", port, "up", stress_ts(certs))],
                    [cluster("up", [lsock.getsockname()[1]])], concurrency=2)

        def client(i):
            rng = random.Random(i)
            c = TlsPeer(port, client_ctx(certs), rng, f"conn {i}")
            try:
                deadline = time.monotonic() + 10
                time.sleep(rng.uniform(0, 0.03))  # the handshake lands inside the banner
                c.handshake(deadline)
                msg = b"hello %d\r\n" % i
                c.obj.write(msg)
                c._pull()  # behind the Finished, still unsent
                c.sock.setblocking(True)
                c.sock.sendall(c.ct)
                c.sock.setblocking(False)
                c.ct.clear()
                sink = Collect()
                while len(sink.data) < len(BANNER + msg):
                    assert not c.eof, bytes(sink.data)
                    if time.monotonic() > deadline:
                        raise AssertionError(f"conn {i}: only {bytes(sink.data)!r}")
                    r_, _, _ = c._wait(deadline + 1, r=True, timeout=0.1)
                    if r_:
                        c._recv_some(sink)
                assert bytes(sink.data) == BANNER + msg
            finally:
                c.close()

        errors, hung = run_clients(40, client, 30)
        assert not hung and not errors, errors[:5] + [f"hung: {hung}"]
    finally:
        stop.set()
        lsock.close()
        at.join(5)
        for t in threads:
            t.join(5)
