# SPDX-License-Identifier: Apache-2.0
"""remora-load's TLS client: the verified-chain cache and the buffered BIO, end to end.

Proves, against remora-origin (and one purpose-built Python server) on loopback:
  * full handshakes succeed with the cache on, the chain is verified in full once per thread
    and then accepted from the cache; --no-verify-cache verifies every handshake in full;
  * a server whose certificate was NOT issued by --cacert fails verification on every
    connection, cache or not, also when a good server with the same name (and even the same
    key and subject names) runs in the same process and its chain is cached: only
    byte-identical chains for the same name are ever accepted from the cache;
  * host name and IP address checks are unchanged: a chain cached for one name is refused for
    a name it does not cover, on every connection;
  * a TLS 1.2 server that sends its response right behind its Finished (bytes the client's
    BIO reads together with the handshake, which epoll then never reports) is answered at once.

Every process is started on port 0 and killed by pid in a fixture finalizer; every load run is
bounded by -n or by -d <= 2 s, and by a subprocess timeout.
"""
import json
import os
import re
import select
import signal
import socket
import ssl
import subprocess
import threading
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("REMORA_BUILD_DIR", os.path.join(ROOT, "build", "release"))
ORIGIN = os.path.join(BUILD, "bench", "remora-origin")
LOAD = os.path.join(BUILD, "bench", "remora-load")


def _env():
    env = dict(os.environ)
    env["CI"] = "1"  # no live progress line
    return env


def _clean(err):
    assert "Sanitizer" not in err and "runtime error" not in err, err


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA; srv.crt (SAN localhost + 127.0.0.1), dns.crt (SAN localhost only) and ip.crt (SAN
    127.0.0.1 only) issued by it; cli.crt for mTLS; forged.crt: srv.key's public key and the same
    names and SANs as srv.crt, issued by a different CA that carries the real CA's name; and
    self.crt: self-signed, same key and SANs."""
    d = tmp_path_factory.mktemp("pki")

    def sh(*a):
        subprocess.run(a, check=True, capture_output=True, cwd=d, timeout=60)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ca_ext = ["-addext", "basicConstraints=critical,CA:TRUE",
              "-addext", "keyUsage=critical,keyCertSign,cRLSign"]
    for ca in ("ca", "evil-ca"):
        sh("openssl", "req", "-x509", *ec, "-keyout", ca + ".key", "-out", ca + ".crt",
           "-days", "2", "-subj", "/CN=remora-test-ca", *ca_ext)
    sans = {"srv": "DNS:localhost,IP:127.0.0.1", "dns": "DNS:localhost", "ip": "IP:127.0.0.1"}
    for name, san in sans.items():
        (d / (name + ".ext")).write_text("subjectAltName=%s\nextendedKeyUsage=serverAuth\n" % san)
    sh("openssl", "req", "-new", *ec, "-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=srv")
    for name in sans:
        sh("openssl", "x509", "-req", "-in", "srv.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
           "-CAcreateserial", "-out", name + ".crt", "-days", "2", "-extfile", name + ".ext")
    sh("openssl", "x509", "-req", "-in", "srv.csr", "-CA", "evil-ca.crt", "-CAkey", "evil-ca.key",
       "-CAcreateserial", "-out", "forged.crt", "-days", "2", "-extfile", "srv.ext")
    sh("openssl", "x509", "-req", "-in", "srv.csr", "-signkey", "srv.key", "-out", "self.crt",
       "-days", "2", "-extfile", "srv.ext")
    (d / "cli.ext").write_text("extendedKeyUsage=clientAuth\n")
    sh("openssl", "req", "-new", *ec, "-keyout", "cli.key", "-out", "cli.csr", "-subj", "/CN=cli")
    sh("openssl", "x509", "-req", "-in", "cli.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
       "-CAcreateserial", "-out", "cli.crt", "-days", "2", "-extfile", "cli.ext")
    return d


class Origin:
    def __init__(self, proc, port):
        self.proc = proc
        self.port = port

    def stop(self):
        """SIGTERM; returns (exit code, stderr)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return self.proc.returncode, self.proc.stderr.read().decode(errors="replace")

    def served(self):
        """Stops the origin and returns how many requests it answered."""
        rc, err = self.stop()
        _clean(err)
        assert rc == 0, err
        m = re.search(r"after (\d+) requests", err)
        assert m, err
        return int(m.group(1))


@pytest.fixture
def origin(pki):
    started = []

    def start(cert, *extra):
        cmd = [ORIGIN, "--listen", "127.0.0.1:0", "--tls-cert", str(pki / cert),
               "--tls-key", str(pki / "srv.key")] + list(extra)
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
        o = Origin(proc, 0)
        started.append(o)
        ready, _, _ = select.select([proc.stdout], [], [], 10)
        assert ready, "origin did not print its address"
        m = re.match(r"listening on 127\.0\.0\.1:(\d+)$", proc.stdout.readline().decode().strip())
        assert m
        o.port = int(m.group(1))
        return o

    yield start
    for o in started:
        o.stop()


def load(*args, timeout=30):
    """Runs remora-load --json; returns (result, stderr)."""
    p = subprocess.run([LOAD, "--json", "-q"] + [str(a) for a in args], capture_output=True,
                       timeout=timeout, env=_env())
    err = p.stderr.decode(errors="replace")
    _clean(err)
    j = json.loads(p.stdout)
    # Exit 1 when nothing answered (errors and no response), else 0.
    want = 1 if j["responses"] == 0 and j["errors"]["total"] > 0 else 0
    assert p.returncode == want, "rc %d: %s" % (p.returncode, err)
    return j, err


def test_cache_verifies_once_per_thread(origin, pki):
    o = origin("srv.crt")
    url = "https://localhost:%d/" % o.port
    ca = ["--cacert", pki / "ca.crt"]
    r, _ = load("-c", 4, "-n", 200, "--new-conn", "--check-status", 200, *ca, url)
    assert r["responses"] == 200 and r["errors"]["total"] == 0
    assert r["tls_handshake_us"]["count"] >= 200
    v = r["tls_verify"]
    assert v["full"] == 1 and v["failed"] == 0
    assert v["full"] + v["cached"] == r["tls_handshake_us"]["count"]  # every handshake checked
    # One cache per thread: each thread verifies the chain once.
    r, _ = load("-c", 4, "-t", 2, "-n", 200, "--new-conn", *ca, url)
    assert r["responses"] == 200 and r["tls_verify"]["full"] == 2
    # Off: every handshake verifies the chain in full.
    r, _ = load("-c", 4, "-n", 100, "--new-conn", "--no-verify-cache", *ca, url)
    assert r["responses"] == 100
    assert r["tls_verify"]["cached"] == 0
    assert r["tls_verify"]["full"] == r["tls_handshake_us"]["count"] >= 100
    # Keep-alive and HTTP/2 go through the same verifier.
    r, _ = load("-c", 2, "-n", 200, "--h2", "-m", 4, *ca, url)
    assert r["responses"] == 200 and r["tls_verify"]["full"] == 1
    assert o.served() == 700


def test_cache_with_client_certificate(origin, pki):
    o = origin("srv.crt", "--tls-client-ca", str(pki / "ca.crt"))
    url = "https://127.0.0.1:%d/" % o.port
    mtls = ["--cacert", pki / "ca.crt", "--cert", pki / "cli.crt", "--key", pki / "cli.key"]
    r, _ = load("-c", 4, "-n", 100, "--new-conn", "--check-status", 200, *mtls, url)
    assert r["responses"] == 100 and r["tls_verify"]["full"] == 1
    # Without the client certificate the server refuses every handshake. (A failed attempt
    # after the last request, which carried none, is a TLS error but not a request.)
    r, _ = load("-c", 1, "-n", 4, "--new-conn", "--timeout", "2", "--cacert", pki / "ca.crt", url)
    assert r["responses"] == 0 and r["errors"]["requests"] == 4 and r["errors"]["tls"] >= 4
    assert o.served() == 100


@pytest.mark.parametrize("bad", ["forged.crt", "self.crt"])
@pytest.mark.parametrize("cache", [True, False], ids=["cache", "no-cache"])
def test_untrusted_server_fails_every_connection(origin, pki, bad, cache):
    flags = [] if cache else ["--no-verify-cache"]
    ca = ["--cacert", pki / "ca.crt"]
    evil = origin(bad)
    evil_url = "https://127.0.0.1:%d/" % evil.port
    r, err = load("-c", 1, "-n", 6, "--new-conn", "--timeout", "2", *flags, *ca, evil_url)
    assert r["responses"] == 0 and r["errors"]["requests"] == 6
    v = r["tls_verify"]
    assert v["full"] == 0 and v["cached"] == 0 and v["failed"] == r["errors"]["tls"] >= 6
    assert "certificate:" in err
    # The same name in one run with a good server whose identical-looking chain gets cached:
    # the bad one still fails on every connection, the good one never does.
    good = origin("srv.crt")
    good_url = "https://127.0.0.1:%d/" % good.port
    r, _ = load("-c", 2, "-d", "1.5", "--new-conn", "--timeout", "2", *flags, *ca, good_url,
                evil_url)
    v = r["tls_verify"]
    assert r["responses"] > 10 and r["errors"]["tls"] >= 3
    assert v["failed"] == r["errors"]["tls"]
    # Passed chains: those of the good server's completed handshakes (the run may end between
    # the check and the end of a handshake).
    assert 0 <= v["full"] + v["cached"] - r["tls_handshake_us"]["count"] <= 2
    if cache:
        assert v["full"] == 1 and v["cached"] > 0
    else:
        assert v["cached"] == 0
    assert evil.served() == 0
    assert good.served() >= r["responses"]


@pytest.mark.parametrize("cache", [True, False], ids=["cache", "no-cache"])
def test_name_checks_unchanged(origin, pki, cache):
    flags = [] if cache else ["--no-verify-cache"]
    ca = ["--cacert", pki / "ca.crt"]
    # dns.crt covers localhost only: the same chain, cached for "localhost", must still be
    # refused for "127.0.0.1" on every connection of the same run.
    o = origin("dns.crt")
    ok, bad = "https://localhost:%d/" % o.port, "https://127.0.0.1:%d/" % o.port
    r, _ = load("-c", 2, "-d", "1.5", "--new-conn", "--timeout", "2", *flags, *ca, ok, bad)
    assert r["responses"] > 10 and r["errors"]["tls"] >= 3
    assert r["tls_verify"]["failed"] == r["errors"]["tls"]
    answered = r["responses"]
    r, err = load("-c", 1, "-n", 3, "--new-conn", "--timeout", "2", *flags, *ca, bad)
    assert r["responses"] == 0 and r["errors"]["requests"] == 3
    assert r["tls_verify"]["failed"] == r["errors"]["tls"] >= 3
    assert "IP address mismatch" in err
    assert o.served() >= answered
    # ip.crt covers 127.0.0.1 only.
    o = origin("ip.crt")
    r, _ = load("-c", 1, "-n", 20, "--new-conn", *flags, *ca, "https://127.0.0.1:%d/" % o.port)
    assert r["responses"] == 20
    r, err = load("-c", 1, "-n", 3, "--new-conn", "--timeout", "2", *flags, *ca,
                  "https://localhost:%d/" % o.port)
    assert r["responses"] == 0 and r["errors"]["requests"] == 3
    assert r["tls_verify"]["failed"] == r["errors"]["tls"] >= 3
    assert "Hostname mismatch" in err
    # -k still skips every check.
    r, _ = load("-c", 1, "-n", 5, "--new-conn", "-k", "https://localhost:%d/" % o.port)
    assert r["responses"] == 5 and r["tls_verify"] == {"full": 0, "cached": 0, "failed": 0}


class EagerTls12Server:
    """TLS 1.2 only; as soon as its handshake completes it sends a whole HTTP response in the
    same write as its Finished, reads the request, and holds the connection open for
    |hold_s| s. A client that buffers socket reads gets the response together with the
    handshake and is never told by epoll that it is there."""

    RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"

    def __init__(self, crt, key, hold_s=4.0):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        self.ctx.load_cert_chain(crt, key)
        self.hold_s = hold_s
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(16)
        self.ls.settimeout(0.2)
        self.port = self.ls.getsockname()[1]
        self.stop_ev = threading.Event()
        self.threads = [threading.Thread(target=self.accept_loop, daemon=True)]
        self.threads[0].start()

    def accept_loop(self):
        while not self.stop_ev.is_set():
            try:
                c, _ = self.ls.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            t = threading.Thread(target=self.serve, args=(c,), daemon=True)
            self.threads.append(t)
            t.start()

    def serve(self, c):
        inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = self.ctx.wrap_bio(inc, out, server_side=True)
        c.settimeout(5)
        try:
            while True:
                try:
                    tls.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    if out.pending:
                        c.sendall(out.read())
                    data = c.recv(16384)
                    if not data:
                        return
                    inc.write(data)
            tls.write(self.RESPONSE)
            c.sendall(out.read())  # Finished and the response: one write
            self.stop_ev.wait(self.hold_s)
        except (OSError, ssl.SSLError):
            pass
        finally:
            c.close()

    def close(self):
        self.stop_ev.set()
        self.ls.close()
        for t in self.threads:
            t.join(timeout=10)


def test_response_read_with_the_handshake(pki):
    srv = EagerTls12Server(str(pki / "srv.crt"), str(pki / "srv.key"))
    try:
        t0 = time.monotonic()
        r, _ = load("-c", 1, "-n", 3, "--new-conn", "--timeout", "1.5", "--check-status", 200,
                    "--cacert", pki / "ca.crt", "https://127.0.0.1:%d/" % srv.port)
        assert r["responses"] == 3 and r["errors"]["total"] == 0
        assert r["latency_us"]["max"] < 1000000
        assert time.monotonic() - t0 < 10
    finally:
        srv.close()
