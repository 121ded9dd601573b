# SPDX-License-Identifier: Apache-2.0
"""Downstream TLS termination on listeners (Envoy's envoy.transport_sockets.tls with a
DownstreamTlsContext on a filter chain), through the real binary with real TLS clients: curl,
`openssl s_client` and Python's ssl module.

Covered, with Envoy's semantics: HTTPS through the HTTP connection manager (x-forwarded-proto,
x-forwarded-client-cert sanitized), the TLS access log operators, the listener's ssl.* stats,
client certificates (required or optional; trusted CA, SAN matchers, certificate hash and
SPKI pins, expired certificates, ACCEPT_UNTRUSTED), ALPN, protocol versions, cipher suites,
require_sni, session resumption (tickets and the session cache), TLS under tcp_proxy, large
transfers both ways, many concurrent clients, garbage and idle clients, and the config errors
of --mode validate.

Every key and certificate is made once per session with the openssl CLI (EC P-256)."""
import base64
import hashlib
import http.client
import json
import os
import re
import select
import socket
import ssl
import subprocess
import threading
import time

import pytest

from conftest import REMORA_BIN, free_port, wait_for
from http_helpers import (cluster, curl, file_log, hcm, origins, py_origins, route, sockaddr,
                          start_proxy, stats, vhost, wait_log_match, wait_stat, wait_stats)

assert origins and py_origins  # fixtures, used by name

TLS_TYPE = ("type.googleapis.com/envoy.extensions.transport_sockets.tls.v3."
            "DownstreamTlsContext")
TCP_PROXY_TYPE = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"
MiB = 1 << 20
CLIENT_URI_SAN = "spiffe://test/ns/default/sa/client"
TLS_LOG_FMT = ("%REQ(:PATH)%|%DOWNSTREAM_TLS_VERSION%|%REQUESTED_SERVER_NAME%|"
               "%DOWNSTREAM_PEER_URI_SAN%|%DOWNSTREAM_PEER_SUBJECT%|%RESPONSE_CODE%\n")


# ---- keys and certificates -------------------------------------------------------------------

OPENSSL_CNF = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[client_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = URI:spiffe://test/ns/default/sa/client
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[multi_client_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = URI:spiffe://test/ns/a/sa/one,DNS:client.test,URI:spiffe://test/ns/b/sa/two
[other_client_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = URI:spiffe://other/ns/default/sa/client
[ca]
default_ca = test_ca
[test_ca]
database = {dir}/index.txt
new_certs_dir = {dir}/newcerts
serial = {dir}/serial
default_md = sha256
policy = any_policy
unique_subject = no
copy_extensions = none
[any_policy]
commonName = supplied
"""


def _openssl(*args, cwd):
    p = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=30,
                       stdin=subprocess.DEVNULL)
    assert p.returncode == 0, f"openssl {' '.join(args)} failed:\n{p.stderr}"
    return p.stdout


class Certs:
    """Paths of every PEM file, plus the client certificate's pins."""

    def __init__(self, d):
        self.dir = d
        cnf = os.path.join(d, "openssl.cnf")
        with open(cnf, "w") as f:
            f.write(OPENSSL_CNF.replace("{dir}", d))
        os.makedirs(os.path.join(d, "newcerts"))
        open(os.path.join(d, "index.txt"), "w").close()
        with open(os.path.join(d, "serial"), "w") as f:
            f.write("1000\n")
        serial = [1]

        def key(name):
            path = os.path.join(d, name + ".key")
            _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                     "-out", path, cwd=d)
            return path

        def ca(name, cn):
            k = key(name)
            crt = os.path.join(d, name + ".crt")
            _openssl("req", "-x509", "-new", "-key", k, "-subj", f"/CN={cn}", "-days", "3650",
                     "-config", cnf, "-extensions", "ca_ext", "-out", crt, cwd=d)
            return crt, k

        def leaf(name, cn, ca_crt, ca_key, ext):
            k = key(name)
            csr = os.path.join(d, name + ".csr")
            crt = os.path.join(d, name + ".crt")
            subj = cn if cn.startswith("/") else f"/CN={cn}"
            _openssl("req", "-new", "-key", k, "-subj", subj, "-config", cnf,
                     "-out", csr, cwd=d)
            serial[0] += 1
            _openssl("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
                     "-set_serial", str(serial[0]), "-days", "365", "-extfile", cnf,
                     "-extensions", ext, "-out", crt, cwd=d)
            return crt, k

        self.ca_crt, self.ca_key = ca("ca", "Remora Test CA")
        self.server_crt, self.server_key = leaf("server", "localhost", self.ca_crt, self.ca_key,
                                                "server_ext")
        self.client_crt, self.client_key = leaf("client", "client", self.ca_crt, self.ca_key,
                                                "client_ext")
        # Two URI SANs (and a DNS SAN between them), a multi-part subject.
        self.multi_client_crt, self.multi_client_key = leaf(
            "multi_client", "/O=Example Org/OU=Team A/CN=multi", self.ca_crt, self.ca_key,
            "multi_client_ext")
        # A second, unrelated CA and a client certificate it signed.
        self.other_ca_crt, self.other_ca_key = ca("other_ca", "Other CA")
        self.other_client_crt, self.other_client_key = leaf(
            "other_client", "intruder", self.other_ca_crt, self.other_ca_key, "other_client_ext")
        # A client certificate from the right CA that expired in 2021 (`openssl ca` can set
        # both dates; `openssl x509 -req` cannot in 3.0).
        k = key("expired_client")
        csr = os.path.join(d, "expired_client.csr")
        self.expired_client_crt = os.path.join(d, "expired_client.crt")
        self.expired_client_key = k
        _openssl("req", "-new", "-key", k, "-subj", "/CN=expired", "-config", cnf, "-out", csr,
                 cwd=d)
        _openssl("ca", "-batch", "-config", cnf, "-cert", self.ca_crt, "-keyfile", self.ca_key,
                 "-in", csr, "-out", self.expired_client_crt, "-notext",
                 "-startdate", "20200101000000Z", "-enddate", "20210101000000Z",
                 "-extfile", cnf, "-extensions", "client_ext", cwd=d)
        # Garbage that looks like a PEM file.
        self.garbage_pem = os.path.join(d, "garbage.pem")
        with open(self.garbage_pem, "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n"
                    "-----END CERTIFICATE-----\n")

        with open(self.client_crt) as f:
            pem = f.read()
        b64 = "".join(l for l in pem.splitlines() if l and not l.startswith("-----"))
        digest = hashlib.sha256(base64.b64decode(b64)).hexdigest().upper()
        # Envoy's documented form: colon-separated hex pairs.
        self.client_cert_hash = ":".join(digest[i:i + 2] for i in range(0, 64, 2))
        pub = subprocess.run(["openssl", "x509", "-in", self.client_crt, "-noout", "-pubkey"],
                             capture_output=True, timeout=30, check=True).stdout
        spki_der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub,
                                  capture_output=True, timeout=30, check=True).stdout
        self.client_spki = base64.b64encode(hashlib.sha256(spki_der).digest()).decode()


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    return Certs(str(tmp_path_factory.mktemp("tls-certs")))


# ---- config builders -------------------------------------------------------------------------

def tls_socket(certs, alpn=None, params=None, validation=None, **extra):
    """A transport_socket with a DownstreamTlsContext for the server certificate;
    keyword arguments go into the DownstreamTlsContext."""
    common = {"tls_certificates": [{"certificate_chain": {"filename": certs.server_crt},
                                    "private_key": {"filename": certs.server_key}}]}
    if alpn is not None:
        common["alpn_protocols"] = list(alpn)
    if params is not None:
        common["tls_params"] = params
    if validation is not None:
        common["validation_context"] = validation
    cfg = {"@type": TLS_TYPE, "common_tls_context": common}
    cfg.update(extra)
    return {"name": "envoy.transport_sockets.tls", "typed_config": cfg}


def tls_listener(name, port, hcm_cfg, ts):
    return {"name": name, "address": sockaddr(port),
            "filter_chains": [{"transport_socket": ts, "filters": [
                {"name": "envoy.filters.network.http_connection_manager",
                 "typed_config": hcm_cfg}]}]}


def tls_tcp_listener(name, port, cluster_name, ts, access_log=None):
    tp = {"@type": TCP_PROXY_TYPE, "stat_prefix": "tls_tcp", "cluster": cluster_name}
    if access_log:
        tp["access_log"] = access_log
    return {"name": name, "address": sockaddr(port),
            "filter_chains": [{"transport_socket": ts, "filters": [
                {"name": "envoy.filters.network.tcp_proxy", "typed_config": tp}]}]}


def https_hcm(log_path):
    routes = [{"match": {"prefix": "/direct"},
               "direct_response": {"status": 200, "body": {"inline_string": "direct over tls"}}},
              route("/", "origin")]
    return hcm([vhost("all", ["*"], routes)], access_log=[file_log(log_path, TLS_LOG_FMT)])


class TlsProxy:
    """Remora with one HTTPS listener per entry of `sockets` ({name: transport_socket}), all
    routing to cluster "origin"; .port[name], .log[name] (access log path), .r (Remora)."""

    def __init__(self, remora, tmp_path, origin_port, sockets, concurrency=1):
        self.port, self.log = {}, {}
        listeners = []
        for name, ts in sockets.items():
            self.port[name] = free_port()
            self.log[name] = os.path.join(str(tmp_path), f"access-{name}.log")
            listeners.append(tls_listener(name, self.port[name], https_hcm(self.log[name]), ts))
        self.r = start_proxy(remora, listeners, [cluster("origin", [origin_port])],
                             concurrency=concurrency)

    def ssl_stat_name(self, name, stat):
        return f"listener.127.0.0.1_{self.port[name]}.ssl.{stat}"

    def ssl_stats(self, name):
        prefix = f"listener.127.0.0.1_{self.port[name]}.ssl."
        return {k[len(prefix):]: v for k, v in stats(self.r).items() if k.startswith(prefix)}

    def wait_ssl(self, name, expected, timeout=5.0):
        return wait_stats(self.r, {self.ssl_stat_name(name, k): v for k, v in expected.items()},
                          timeout)


# ---- clients ---------------------------------------------------------------------------------

def client_ctx(certs, cert=None, key=None, alpn=None, min_version=None, max_version=None,
               ciphers=None, cafile=None):
    ctx = ssl.create_default_context(cafile=cafile or certs.ca_crt)
    if cert:
        ctx.load_cert_chain(cert, key)
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    if min_version:
        ctx.minimum_version = min_version
    if max_version:
        ctx.maximum_version = max_version
    if ciphers:
        ctx.set_ciphers(ciphers)
    return ctx


def tls_connect(port, ctx, sni="localhost", session=None, timeout=10.0):
    """A TLS connection to 127.0.0.1:port (handshake done). sni=None sends no SNI (and then
    the certificate is checked against the IP SAN)."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        return ctx.wrap_socket(raw, server_hostname=sni or "127.0.0.1", session=session)
    except BaseException:
        raw.close()
        raise


def recv_http_response(s):
    """Reads one content-length framed HTTP/1.1 response; returns (status, headers, body)."""
    buf = bytearray()
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            raise EOFError(f"connection closed after {bytes(buf)!r}")
        buf += d
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for l in lines[1:]:
        k, _, v = l.partition(":")
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", "0"))
    body = bytearray(rest)
    while len(body) < n:
        d = s.recv(65536)
        if not d:
            raise EOFError("connection closed mid-body")
        body += d
    return status, headers, bytes(body)


def tls_get(port, ctx, path="/direct", sni="localhost", session=None, close=True):
    """One GET over a new TLS connection; returns (status, body, sslsock-facts)."""
    s = tls_connect(port, ctx, sni=sni, session=session)
    try:
        conn_hdr = "Connection: close\r\n" if close else ""
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n{conn_hdr}\r\n".encode())
        status, _, body = recv_http_response(s)
        facts = {"version": s.version(), "cipher": s.cipher()[0], "alpn":
                 s.selected_alpn_protocol(), "session": s.session, "reused": s.session_reused}
        return status, body, facts
    finally:
        s.close()


def tls_get_fails(port, ctx, sni="localhost"):
    """True when a TLS GET on a new connection does not produce a response: the handshake
    fails, or (TLS 1.3, where the client finishes before the server checks its certificate)
    the first read fails or sees the connection closed."""
    try:
        s = tls_connect(port, ctx, sni=sni)
    except (ssl.SSLError, ConnectionError, OSError):
        return True
    try:
        s.sendall(b"GET /direct HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        recv_http_response(s)
        return False
    except (ssl.SSLError, ConnectionError, EOFError, OSError):
        return True
    finally:
        s.close()


def s_client(port, *args, data=b"", timeout=15):
    """openssl s_client against 127.0.0.1:port; stdin is `data` (then EOF)."""
    p = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", *args],
                       input=data, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")


def https(port, path="/direct", *args, host="localhost"):
    return curl(f"https://{host}:{port}{path}", *args)


def log_line_for(path, log, pred=None):
    return wait_log_match(log, lambda l: l.startswith(path + "|") and (pred is None or pred(l)),
                          what=f"log line for {path}")


# ---- HTTPS through the connection manager ----------------------------------------------------

def test_https_request_headers_log_and_stats(remora, tmp_path, origins, certs):
    o = origins("tls-origin")
    p = TlsProxy(remora, tmp_path, o.port, {"main": tls_socket(certs, alpn=["http/1.1"])})
    port = p.port["main"]

    # curl with the CA: HTTP/1.1 over TLS 1.3 to a real origin.
    res = https(port, "/echo?x=1", "--cacert", certs.ca_crt, "-v",
                "-H", "x-forwarded-client-cert: By=spiffe://evil;Hash=00;URI=spiffe://evil")
    assert res.rc == 0, res.stderr
    assert res.status == 200
    assert res.get("x-origin-name") == "tls-origin"
    assert "SSL connection using TLSv1.3" in res.stderr, res.stderr
    assert "ALPN: server accepted http/1.1" in res.stderr, res.stderr
    echo = res.json()
    assert echo["path"] == "/echo?x=1"
    assert echo["version"] == "HTTP/1.1"
    # Envoy sets x-forwarded-proto from the downstream transport.
    assert echo["headers"].get("x-forwarded-proto") == "https", echo
    # forward_client_cert_details SANITIZE (the default): the client's XFCC never arrives.
    assert "x-forwarded-client-cert" not in echo["headers"], echo

    # A direct response over TLS, to the IP: no SNI is sent.
    res = https(port, "/direct", "--cacert", certs.ca_crt, host="127.0.0.1")
    assert res.rc == 0, res.stderr
    assert res.status == 200 and res.body == b"direct over tls"

    # Access log: version, SNI ("-" without), no peer certificate.
    line = log_line_for("/echo?x=1", p.log["main"])
    assert line == "/echo?x=1|TLSv1.3|localhost|-|-|200", line
    line = log_line_for("/direct", p.log["main"])
    assert line == "/direct|TLSv1.3|-|-|-|200", line

    # Stats: two handshakes, neither with a client certificate, no errors.
    st = p.wait_ssl("main", {"handshake": 2, "no_certificate": 2})
    ssl_st = p.ssl_stats("main")
    for k in ("connection_error", "fail_verify_error", "fail_verify_no_cert", "fail_verify_san",
              "fail_verify_cert_hash", "session_reused"):
        assert ssl_st.get(k) == 0, (k, ssl_st)
    assert st[f"listener.127.0.0.1_{port}.downstream_cx_total"] == 2

    # The server certificate is the configured one (curl without the CA refuses it).
    res = https(port, "/direct")
    assert res.rc != 0 and res.status is None


def test_plaintext_listener_beside_tls_keeps_http(remora, tmp_path, origins, certs):
    """A TLS chain does not leak into a plaintext listener of the same process: the plain one
    still answers http:// with x-forwarded-proto http, and has no ssl.* stats."""
    o = origins("o")
    tls_port, plain_port = free_port(), free_port()
    log = os.path.join(str(tmp_path), "a.log")
    h = https_hcm(log)
    r = start_proxy(remora, [
        tls_listener("tls", tls_port, h, tls_socket(certs)),
        {"name": "plain", "address": sockaddr(plain_port), "filter_chains": [{"filters": [
            {"name": "envoy.filters.network.http_connection_manager", "typed_config": h}]}]}],
        [cluster("origin", [o.port])])
    res = curl(f"http://127.0.0.1:{plain_port}/echo")
    assert res.status == 200, res.stderr
    assert res.json()["headers"]["x-forwarded-proto"] == "http"
    res = https(tls_port, "/echo", "--cacert", certs.ca_crt)
    assert res.status == 200, res.stderr
    assert res.json()["headers"]["x-forwarded-proto"] == "https"
    st = wait_stat(r, f"listener.127.0.0.1_{tls_port}.ssl.handshake", 1)
    assert not any(k.startswith(f"listener.127.0.0.1_{plain_port}.ssl.") for k in st), st
    # Plain HTTP to the TLS port is not answered in clear text.
    res = curl(f"http://127.0.0.1:{tls_port}/direct", timeout=5)
    assert res.status is None and res.rc != 0
    # The TLS operators are "-" on the plaintext connection (both listeners share a log).
    lines = [wait_log_match(log, lambda l: l.startswith("/echo|TLS"), what="tls line"),
             wait_log_match(log, lambda l: l.startswith("/echo|-"), what="plain line")]
    assert lines == ["/echo|TLSv1.3|localhost|-|-|200", "/echo|-|-|-|-|200"], lines


def test_inline_string_certificate(remora, tmp_path, origins, certs):
    o = origins("o")
    with open(certs.server_crt) as f:
        crt = f.read()
    with open(certs.server_key) as f:
        key = f.read()
    ts = tls_socket(certs)
    ts["typed_config"]["common_tls_context"]["tls_certificates"] = [
        {"certificate_chain": {"inline_string": crt}, "private_key": {"inline_string": key}}]
    p = TlsProxy(remora, tmp_path, o.port, {"inline": ts})
    res = https(p.port["inline"], "/direct", "--cacert", certs.ca_crt)
    assert res.rc == 0, res.stderr
    assert res.body == b"direct over tls"


# ---- client certificates ---------------------------------------------------------------------

def test_mtls_required(remora, tmp_path, origins, certs):
    o = origins("o")
    v = {"trusted_ca": {"filename": certs.ca_crt}}
    p = TlsProxy(remora, tmp_path, o.port, {
        "mtls": tls_socket(certs, validation=v, require_client_certificate=True),
        "expired_ok": tls_socket(certs, validation=dict(v, allow_expired_certificate=True),
                                 require_client_certificate=True)})
    port = p.port["mtls"]
    ca = ("--cacert", certs.ca_crt)

    # A certificate from the trusted CA: served, and the log shows who it was.
    res = https(port, "/echo", *ca, "--cert", certs.client_crt, "--key", certs.client_key,
                "-H", "x-forwarded-client-cert: By=spiffe://evil")
    assert res.rc == 0, res.stderr
    assert res.status == 200
    assert "x-forwarded-client-cert" not in res.json()["headers"], res.json()
    line = log_line_for("/echo", p.log["mtls"])
    assert line == f"/echo|TLSv1.3|localhost|{CLIENT_URI_SAN}|CN=client|200", line
    p.wait_ssl("mtls", {"handshake": 1, "no_certificate": 0})

    # No certificate: the handshake fails.
    res = https(port, "/direct", *ca)
    assert res.rc != 0 and res.status is None, (res.rc, res.stderr)
    p.wait_ssl("mtls", {"fail_verify_no_cert": 1, "handshake": 1})

    # A certificate from another CA: refused.
    res = https(port, "/direct", *ca, "--cert", certs.other_client_crt,
                "--key", certs.other_client_key)
    assert res.rc != 0 and res.status is None, (res.rc, res.stderr)
    p.wait_ssl("mtls", {"fail_verify_error": 1, "fail_verify_no_cert": 1, "handshake": 1})

    # An expired certificate from the trusted CA: refused...
    res = https(port, "/direct", *ca, "--cert", certs.expired_client_crt,
                "--key", certs.expired_client_key)
    assert res.rc != 0 and res.status is None, (res.rc, res.stderr)
    p.wait_ssl("mtls", {"fail_verify_error": 2, "handshake": 1})

    # ...unless allow_expired_certificate, which still checks the chain.
    res = https(p.port["expired_ok"], "/direct", *ca, "--cert", certs.expired_client_crt,
                "--key", certs.expired_client_key)
    assert res.rc == 0 and res.status == 200, res.stderr
    res = https(p.port["expired_ok"], "/direct", *ca, "--cert", certs.other_client_crt,
                "--key", certs.other_client_key)
    assert res.rc != 0 and res.status is None
    p.wait_ssl("expired_ok", {"handshake": 1, "fail_verify_error": 1})

    # The proxy still serves good clients after the failures.
    res = https(port, "/direct", *ca, "--cert", certs.client_crt, "--key", certs.client_key)
    assert res.rc == 0 and res.status == 200, res.stderr
    p.wait_ssl("mtls", {"handshake": 2, "fail_verify_error": 2, "fail_verify_no_cert": 1,
                        "connection_error": 0})


def test_mtls_with_python_client_and_tls12(remora, tmp_path, origins, certs):
    """The same checks from Python's ssl module, on TLS 1.3 and on TLS 1.2 (where the client
    sees the refusal inside the handshake)."""
    o = origins("o")
    p = TlsProxy(remora, tmp_path, o.port, {"mtls": tls_socket(
        certs, validation={"trusted_ca": {"filename": certs.ca_crt}},
        require_client_certificate=True)})
    port = p.port["mtls"]
    for ver in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
        good = client_ctx(certs, certs.client_crt, certs.client_key, max_version=ver)
        status, body, facts = tls_get(port, good)
        assert status == 200 and body == b"direct over tls"
        assert facts["version"] == ("TLSv1.3" if ver == ssl.TLSVersion.TLSv1_3 else "TLSv1.2")
        assert tls_get_fails(port, client_ctx(certs, max_version=ver))
        assert tls_get_fails(port, client_ctx(certs, certs.other_client_crt,
                                              certs.other_client_key, max_version=ver))
    p.wait_ssl("mtls", {"handshake": 2, "fail_verify_no_cert": 2, "fail_verify_error": 2})
    line = wait_log_match(p.log["mtls"], lambda l: "|TLSv1.2|" in l, what="TLSv1.2 line")
    assert line == f"/direct|TLSv1.2|localhost|{CLIENT_URI_SAN}|CN=client|200", line


def test_mtls_san_matchers(remora, tmp_path, origins, certs):
    o = origins("o")

    def v(*matchers):
        return {"trusted_ca": {"filename": certs.ca_crt},
                "match_typed_subject_alt_names": list(matchers)}
    p = TlsProxy(remora, tmp_path, o.port, {
        "nomatch": tls_socket(certs, require_client_certificate=True, validation=v(
            {"san_type": "URI", "matcher": {"exact": "spiffe://test/client"}})),
        # any entry matching passes; a DNS matcher never matches a URI SAN
        "anymatch": tls_socket(certs, require_client_certificate=True, validation=v(
            {"san_type": "DNS", "matcher": {"exact": CLIENT_URI_SAN}},
            {"san_type": "URI", "matcher": {"exact": "spiffe://nope"}},
            {"san_type": "URI", "matcher": {"prefix": "spiffe://test/ns/default/"}})),
        "wrongtype": tls_socket(certs, require_client_certificate=True, validation=v(
            {"san_type": "DNS", "matcher": {"exact": CLIENT_URI_SAN}}))})
    ca = ("--cacert", certs.ca_crt)
    cc = ("--cert", certs.client_crt, "--key", certs.client_key)

    res = https(p.port["nomatch"], "/direct", *ca, *cc)
    assert res.rc != 0 and res.status is None, res.stderr
    p.wait_ssl("nomatch", {"fail_verify_san": 1, "handshake": 0, "fail_verify_error": 0})

    res = https(p.port["anymatch"], "/direct", *ca, *cc)
    assert res.rc == 0 and res.status == 200, res.stderr
    p.wait_ssl("anymatch", {"handshake": 1, "fail_verify_san": 0})

    res = https(p.port["wrongtype"], "/direct", *ca, *cc)
    assert res.rc != 0 and res.status is None, res.stderr
    p.wait_ssl("wrongtype", {"fail_verify_san": 1, "handshake": 0})

    # The chain is checked before the SANs: another CA's certificate is a verify error.
    res = https(p.port["anymatch"], "/direct", *ca, "--cert", certs.other_client_crt,
                "--key", certs.other_client_key)
    assert res.rc != 0 and res.status is None
    p.wait_ssl("anymatch", {"handshake": 1, "fail_verify_error": 1, "fail_verify_san": 0})


WRONG_HASH = ":".join(["AB"] * 32)
WRONG_SPKI = base64.b64encode(b"\x01" * 32).decode()


def pin_proxy(remora, tmp_path, origin_port, certs, listeners):
    """One mTLS listener per {name: {pin fields}}, all trusting the test CA."""
    return TlsProxy(remora, tmp_path, origin_port, {
        name: tls_socket(certs, require_client_certificate=True,
                         validation=dict({"trusted_ca": {"filename": certs.ca_crt}}, **pins))
        for name, pins in listeners.items()})


def check_pins(p, certs, expect):
    args = ("--cacert", certs.ca_crt, "--cert", certs.client_crt, "--key", certs.client_key)
    for name, ok in expect:
        res = https(p.port[name], "/direct", *args)
        if ok:
            assert res.rc == 0 and res.status == 200, (name, res.stderr, p.ssl_stats(name))
            p.wait_ssl(name, {"handshake": 1, "fail_verify_cert_hash": 0})
        else:
            assert res.rc != 0 and res.status is None, (name, res.stderr)
            p.wait_ssl(name, {"handshake": 0, "fail_verify_cert_hash": 1, "fail_verify_error": 0})


def test_mtls_certificate_hash_pins(remora, tmp_path, origins, certs):
    """verify_certificate_hash: SHA-256 of the DER certificate, hex, colons optional."""
    o = origins("o")
    p = pin_proxy(remora, tmp_path, o.port, certs, {
        "badhash": {"verify_certificate_hash": [WRONG_HASH]},
        "goodhash": {"verify_certificate_hash": [WRONG_HASH, certs.client_cert_hash]},
        "goodhash_nocolon": {"verify_certificate_hash": [
            certs.client_cert_hash.replace(":", "").lower()]}})
    check_pins(p, certs, (("badhash", False), ("goodhash", True), ("goodhash_nocolon", True)))
    # A pinned listener still checks the chain first.
    res = https(p.port["goodhash"], "/direct", "--cacert", certs.ca_crt,
                "--cert", certs.other_client_crt, "--key", certs.other_client_key)
    assert res.rc != 0
    p.wait_ssl("goodhash", {"handshake": 1, "fail_verify_error": 1, "fail_verify_cert_hash": 0})


def test_mtls_spki_pins(remora, tmp_path, origins, certs):
    """verify_certificate_spki: base64 SHA-256 of the DER SubjectPublicKeyInfo, made as
    Envoy's docs say (openssl x509 -pubkey | openssl pkey -pubin -outform DER | sha256)."""
    o = origins("o")
    p = pin_proxy(remora, tmp_path, o.port, certs, {
        "badspki": {"verify_certificate_spki": [WRONG_SPKI]},
        "goodspki": {"verify_certificate_spki": [WRONG_SPKI, certs.client_spki]},
        # hash or SPKI: either one matching is enough
        "either": {"verify_certificate_hash": [WRONG_HASH],
                   "verify_certificate_spki": [certs.client_spki]}})
    check_pins(p, certs, (("badspki", False), ("goodspki", True), ("either", True)))


def test_optional_client_certificate(remora, tmp_path, origins, certs):
    """validation_context without require_client_certificate: a client without a certificate
    is served (ssl.no_certificate), a presented certificate must verify."""
    o = origins("o")
    p = TlsProxy(remora, tmp_path, o.port, {"opt": tls_socket(
        certs, validation={"trusted_ca": {"filename": certs.ca_crt}})})
    port = p.port["opt"]
    res = https(port, "/direct", "--cacert", certs.ca_crt)
    assert res.rc == 0 and res.status == 200, res.stderr
    p.wait_ssl("opt", {"handshake": 1, "no_certificate": 1})

    res = https(port, "/echo", "--cacert", certs.ca_crt, "--cert", certs.client_crt,
                "--key", certs.client_key)
    assert res.rc == 0 and res.status == 200, res.stderr
    p.wait_ssl("opt", {"handshake": 2, "no_certificate": 1})
    line = log_line_for("/echo", p.log["opt"])
    assert line == f"/echo|TLSv1.3|localhost|{CLIENT_URI_SAN}|CN=client|200", line

    # Several URI SANs are joined with ','; the subject is RFC 2253 (most specific first).
    res = https(port, "/multi", "--cacert", certs.ca_crt, "--cert", certs.multi_client_crt,
                "--key", certs.multi_client_key)
    assert res.rc == 0 and res.status == 200, res.stderr
    line = log_line_for("/multi", p.log["opt"])
    assert line == ("/multi|TLSv1.3|localhost|spiffe://test/ns/a/sa/one,spiffe://test/ns/b/sa/two"
                    "|CN=multi,OU=Team A,O=Example Org|200"), line

    res = https(port, "/direct", "--cacert", certs.ca_crt, "--cert", certs.other_client_crt,
                "--key", certs.other_client_key)
    assert res.rc != 0 and res.status is None, res.stderr
    p.wait_ssl("opt", {"handshake": 3, "no_certificate": 1, "fail_verify_error": 1,
                       "fail_verify_no_cert": 0})


def test_accept_untrusted_chain(remora, tmp_path, origins, certs):
    """trust_chain_verification ACCEPT_UNTRUSTED: any chain is accepted, the SAN matchers
    still apply."""
    o = origins("o")
    p = TlsProxy(remora, tmp_path, o.port, {"any": tls_socket(
        certs, require_client_certificate=True, validation={
            "trusted_ca": {"filename": certs.ca_crt},
            "trust_chain_verification": "ACCEPT_UNTRUSTED",
            "match_typed_subject_alt_names": [
                {"san_type": "URI", "matcher": {"suffix": "/ns/default/sa/client"}}]})})
    port = p.port["any"]
    res = https(port, "/echo", "--cacert", certs.ca_crt, "--cert", certs.other_client_crt,
                "--key", certs.other_client_key)
    assert res.rc == 0 and res.status == 200, res.stderr
    line = log_line_for("/echo", p.log["any"])
    assert line == "/echo|TLSv1.3|localhost|spiffe://other/ns/default/sa/client|CN=intruder|200"
    # Still a client certificate is required.
    res = https(port, "/direct", "--cacert", certs.ca_crt)
    assert res.rc != 0 and res.status is None
    p.wait_ssl("any", {"handshake": 1, "fail_verify_no_cert": 1})


# ---- ALPN, versions, ciphers, SNI ------------------------------------------------------------

def test_alpn(remora, tmp_path, origins, certs):
    o = origins("o")
    p = TlsProxy(remora, tmp_path, o.port, {
        "h1": tls_socket(certs, alpn=["http/1.1"]),
        # "h2,http/1.1" in one string is two protocols (Envoy joins and splits on ',').
        "joined": tls_socket(certs, alpn=["h2,http/1.1"]),
        "none": tls_socket(certs)})

    # openssl s_client -alpn
    rc, out = s_client(p.port["h1"], "-servername", "localhost", "-CAfile", certs.ca_crt,
                       "-alpn", "http/1.1")
    assert rc == 0, out
    assert "ALPN protocol: http/1.1" in out, out
    rc, out = s_client(p.port["h1"], "-servername", "localhost", "-CAfile", certs.ca_crt,
                       "-alpn", "h2")
    assert rc == 0, out
    assert "No ALPN negotiated" in out, out

    for name, offer, want in (("h1", ["h2", "http/1.1"], "http/1.1"),
                              ("h1", ["http/1.1"], "http/1.1"),
                              ("h1", ["h2"], None),   # no overlap: no ALPN, no failure
                              ("joined", ["http/1.1"], "http/1.1"),
                              ("joined", ["spdy/3", "h2"], "h2"),
                              ("none", ["h2", "http/1.1"], None)):
        ctx = client_ctx(certs, alpn=offer)
        s = tls_connect(p.port[name], ctx)
        try:
            assert s.selected_alpn_protocol() == want, (name, offer, s.selected_alpn_protocol())
            if want != "h2":
                s.sendall(b"GET /direct HTTP/1.1\r\nHost: localhost\r\n\r\n")
                status, _, body = recv_http_response(s)
                assert status == 200 and body == b"direct over tls"
        finally:
            s.close()
    p.wait_ssl("h1", {"handshake": 5, "connection_error": 0})


def test_tls_versions(remora, tmp_path, origins, certs):
    o = origins("o")
    p = TlsProxy(remora, tmp_path, o.port, {
        "min13": tls_socket(certs, params={"tls_minimum_protocol_version": "TLSv1_3"}),
        "max12": tls_socket(certs, params={"tls_minimum_protocol_version": "TLSv1_2",
                                           "tls_maximum_protocol_version": "TLSv1_2"}),
        "default": tls_socket(certs)})
    sc = ("-servername", "localhost", "-CAfile", certs.ca_crt)

    # Minimum TLS 1.3: a TLS 1.2 client cannot handshake, a TLS 1.3 one can.
    rc, out = s_client(p.port["min13"], *sc, "-tls1_2")
    assert rc != 0, out
    assert "Cipher is (NONE)" in out or "alert" in out, out
    rc, out = s_client(p.port["min13"], *sc, "-tls1_3")
    assert rc == 0, out
    assert "TLSv1.3" in out, out
    p.wait_ssl("min13", {"connection_error": 1, "handshake": 1})

    # Maximum TLS 1.2: curl and the access log see TLSv1.2.
    res = https(p.port["max12"], "/echo", "--cacert", certs.ca_crt, "-v")
    assert res.rc == 0 and res.status == 200, res.stderr
    assert "SSL connection using TLSv1.2" in res.stderr, res.stderr
    line = log_line_for("/echo", p.log["max12"])
    assert line == "/echo|TLSv1.2|localhost|-|-|200", line
    rc, out = s_client(p.port["max12"], *sc, "-tls1_3")
    assert rc != 0, out
    p.wait_ssl("max12", {"connection_error": 1, "handshake": 1})

    # Defaults: TLS 1.2 and 1.3 both work; TLS 1.1 does not (Envoy's server minimum is 1.2).
    for ver, name in ((ssl.TLSVersion.TLSv1_2, "TLSv1.2"), (ssl.TLSVersion.TLSv1_3, "TLSv1.3")):
        status, _, facts = tls_get(p.port["default"],
                                   client_ctx(certs, min_version=ver, max_version=ver))
        assert status == 200 and facts["version"] == name
    rc, out = s_client(p.port["default"], *sc, "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0")
    assert rc != 0, out
    p.wait_ssl("default", {"handshake": 2, "connection_error": 1})


def test_cipher_suites_and_curves(remora, tmp_path, origins, certs):
    o = origins("o")
    p = TlsProxy(remora, tmp_path, o.port, {"chacha": tls_socket(certs, params={
        "tls_maximum_protocol_version": "TLSv1_2",
        "cipher_suites": ["ECDHE-ECDSA-CHACHA20-POLY1305"],
        "ecdh_curves": ["P-256"]})})
    port = p.port["chacha"]
    status, _, facts = tls_get(port, client_ctx(certs))
    assert status == 200
    assert facts["cipher"] == "ECDHE-ECDSA-CHACHA20-POLY1305", facts
    # A client that offers only AES-GCM has no cipher in common.
    assert tls_get_fails(port, client_ctx(certs, ciphers="ECDHE-ECDSA-AES128-GCM-SHA256"))
    # A client that offers only X25519 has no curve in common.
    rc, out = s_client(port, "-servername", "localhost", "-CAfile", certs.ca_crt,
                       "-groups", "X25519")
    assert rc != 0, out
    rc, out = s_client(port, "-servername", "localhost", "-CAfile", certs.ca_crt,
                       "-groups", "P-256")
    assert rc == 0, out
    p.wait_ssl("chacha", {"handshake": 2, "connection_error": 2})


def test_cipher_preference(remora, tmp_path, origins, certs):
    """The server's cipher order wins by default (Envoy); prefer_client_ciphers lets the
    client's order win."""
    o = origins("o")
    params = {"tls_maximum_protocol_version": "TLSv1_2",
              "cipher_suites": ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305"]}
    p = TlsProxy(remora, tmp_path, o.port, {
        "server_pref": tls_socket(certs, params=params),
        "client_pref": tls_socket(certs, params=params, prefer_client_ciphers=True)})
    ctx = client_ctx(certs, ciphers="ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256")
    _, _, facts = tls_get(p.port["server_pref"], ctx)
    assert facts["cipher"] == "ECDHE-ECDSA-AES128-GCM-SHA256", facts
    _, _, facts = tls_get(p.port["client_pref"], ctx)
    assert facts["cipher"] == "ECDHE-ECDSA-CHACHA20-POLY1305", facts


def test_require_sni(remora, tmp_path, origins, certs):
    o = origins("o")
    p = TlsProxy(remora, tmp_path, o.port, {"sni": tls_socket(certs, require_sni=True)})
    port = p.port["sni"]
    sc = ("-CAfile", certs.ca_crt)
    rc, out = s_client(port, *sc, "-noservername")
    assert rc != 0, out
    rc, out = s_client(port, *sc, "-servername", "localhost")
    assert rc == 0, out
    # curl sends no SNI to an IP address.
    res = https(port, "/direct", "--cacert", certs.ca_crt, host="127.0.0.1")
    assert res.rc != 0 and res.status is None
    res = https(port, "/direct", "--cacert", certs.ca_crt)
    assert res.rc == 0 and res.status == 200, res.stderr
    line = log_line_for("/direct", p.log["sni"])
    assert line == "/direct|TLSv1.3|localhost|-|-|200", line
    p.wait_ssl("sni", {"handshake": 2, "connection_error": 2})


# ---- session resumption ----------------------------------------------------------------------

def test_session_resumption_tickets_and_cache(remora, tmp_path, origins, certs):
    o = origins("o")
    p = TlsProxy(remora, tmp_path, o.port, {
        "default": tls_socket(certs),
        "cache_only": tls_socket(certs, disable_stateless_session_resumption=True),
        "off": tls_socket(certs, disable_stateless_session_resumption=True,
                          disable_stateful_session_resumption=True)})

    def resumed(name, ver):
        ctx = client_ctx(certs, min_version=ver, max_version=ver)
        st, _, first = tls_get(p.port[name], ctx, close=False)
        assert st == 200 and not first["reused"]
        assert first["session"] is not None
        st, _, second = tls_get(p.port[name], ctx, session=first["session"])
        assert st == 200
        return second["reused"]

    # Tickets (TLS 1.3 and 1.2) resume by default.
    assert resumed("default", ssl.TLSVersion.TLSv1_3)
    assert resumed("default", ssl.TLSVersion.TLSv1_2)
    p.wait_ssl("default", {"handshake": 4, "session_reused": 2})
    # Without tickets, TLS 1.2 still resumes from the server's session cache.
    assert resumed("cache_only", ssl.TLSVersion.TLSv1_2)
    p.wait_ssl("cache_only", {"handshake": 2, "session_reused": 1})
    # With both off nothing resumes.
    assert not resumed("off", ssl.TLSVersion.TLSv1_2)
    assert not resumed("off", ssl.TLSVersion.TLSv1_3)
    p.wait_ssl("off", {"handshake": 4, "session_reused": 0})


def test_session_resumption_across_workers(remora, tmp_path, origins, certs):
    """Ticket keys and the session cache belong to the listener, not to a worker: with four
    workers every resumption attempt succeeds, whichever worker accepts it."""
    o = origins("o")
    p = TlsProxy(remora, tmp_path, o.port, {
        "tickets": tls_socket(certs),
        "cache": tls_socket(certs, disable_stateless_session_resumption=True)}, concurrency=4)
    for name, vers in (("tickets", (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2)),
                       ("cache", (ssl.TLSVersion.TLSv1_2,))):
        for ver in vers:
            ctx = client_ctx(certs, min_version=ver, max_version=ver)
            _, _, first = tls_get(p.port[name], ctx, close=False)
            sess = first["session"]
            for i in range(8):
                st, _, again = tls_get(p.port[name], ctx, session=sess, close=False)
                assert st == 200
                assert again["reused"], (name, ver, i)
    p.wait_ssl("tickets", {"session_reused": 16, "handshake": 18})
    p.wait_ssl("cache", {"session_reused": 8, "handshake": 9})


def test_session_resumption_with_openssl_s_client(remora, tmp_path, origins, certs):
    o = origins("o")
    p = TlsProxy(remora, tmp_path, o.port, {"default": tls_socket(certs),
                                            "off": tls_socket(
                                                certs, disable_stateless_session_resumption=True,
                                                disable_stateful_session_resumption=True)})
    req = b"GET /direct HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    for name, reuse in (("default", True), ("off", False)):
        for ver in ("-tls1_3", "-tls1_2"):
            sess = os.path.join(str(tmp_path), f"sess-{name}{ver}")
            base = ("-servername", "localhost", "-CAfile", certs.ca_crt, ver, "-ign_eof")
            rc, out = s_client(p.port[name], *base, "-sess_out", sess, data=req)
            assert rc == 0 and "direct over tls" in out, out
            assert "New, TLSv1." in out, out
            if not reuse and not os.path.exists(sess):
                # No ticket and no session id: s_client had no resumable session to save.
                continue
            rc, out = s_client(p.port[name], *base, "-sess_in", sess, data=req)
            assert rc == 0 and "direct over tls" in out, out
            if reuse:
                assert "Reused, TLSv1." in out, (name, ver, out)
            else:
                assert "New, TLSv1." in out and "Reused" not in out, (name, ver, out)
    p.wait_ssl("default", {"handshake": 4, "session_reused": 2})
    p.wait_ssl("off", {"session_reused": 0})


# ---- tcp_proxy -------------------------------------------------------------------------------

def test_tcp_proxy_terminates_tls(remora, tmp_path, echo_server, certs):
    port = free_port()
    log = os.path.join(str(tmp_path), "tcp.log")
    al = [file_log(log, "%DOWNSTREAM_TLS_VERSION%|%REQUESTED_SERVER_NAME%|"
                        "%DOWNSTREAM_PEER_URI_SAN%|%DOWNSTREAM_PEER_SUBJECT%|%BYTES_RECEIVED%\n")]
    ts = tls_socket(certs, validation={"trusted_ca": {"filename": certs.ca_crt}})
    r = start_proxy(remora, [tls_tcp_listener("tcp", port, "echo", ts, al)],
                    [cluster("echo", [echo_server.server_address[1]])])
    ctx = client_ctx(certs, certs.client_crt, certs.client_key)
    payload = os.urandom(1 * MiB)
    s = tls_connect(port, ctx)
    try:
        s.sendall(b"hello over tls\n")
        got = b""
        while len(got) < 15:
            d = s.recv(4096)
            assert d, "closed before the echo"
            got += d
        assert got == b"hello over tls\n"
        # 1 MiB both ways, written and read concurrently from one thread (an SSL object must
        # not be used by two threads at once): non-blocking, select() on both directions.
        received = bytearray()
        sent = 0
        s.setblocking(False)
        deadline = time.monotonic() + 30
        while len(received) < len(payload) and time.monotonic() < deadline:
            want_w = sent < len(payload)
            select.select([s], [s] if want_w else [], [], 0.5)
            if want_w:
                try:
                    sent += s.send(payload[sent:sent + 65536])
                except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                    pass
            try:
                while True:
                    d = s.recv(262144)
                    if not d:
                        break
                    received.extend(d)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                pass
        assert len(received) == len(payload), f"echo stalled at {len(received)} bytes"
        assert received == payload, "echoed bytes differ"
    finally:
        s.close()

    wait_stats(r, {f"listener.127.0.0.1_{port}.ssl.handshake": 1,
                   f"listener.127.0.0.1_{port}.ssl.connection_error": 0})
    line = wait_log_match(log, lambda l: l.startswith("TLSv1.3|"), what="tcp TLS log line")
    assert line == f"TLSv1.3|localhost|{CLIENT_URI_SAN}|CN=client|{15 + len(payload)}", line


def test_tcp_proxy_tls_refuses_plaintext(remora, tmp_path, echo_server, certs):
    """Plain bytes to a tcp_proxy TLS chain never reach the echo server in clear, and the
    failed handshake counts once in ssl.connection_error."""
    port = free_port()
    r = start_proxy(remora, [tls_tcp_listener("tcp", port, "echo", tls_socket(certs))],
                    [cluster("echo", [echo_server.server_address[1]])])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        raw.sendall(b"plain text is not TLS\n")
        data = closed_by_proxy(raw)
        assert b"plain text" not in data, data
    # Once the connection is gone nothing can count again: exactly one error.
    wait_stats(r, {f"listener.127.0.0.1_{port}.downstream_cx_total": 1,
                   f"listener.127.0.0.1_{port}.downstream_cx_active": 0,
                   f"listener.127.0.0.1_{port}.ssl.connection_error": 1,
                   f"listener.127.0.0.1_{port}.ssl.handshake": 0})


def test_tcp_proxy_tls_with_s_client(remora, tmp_path, echo_server, certs):
    port = free_port()
    start_proxy(remora, [tls_tcp_listener("tcp", port, "echo", tls_socket(certs))],
                [cluster("echo", [echo_server.server_address[1]])])
    # -quiet ignores stdin EOF, so the client is read until the echo and then stopped.
    proc = subprocess.Popen(["openssl", "s_client", "-connect", f"127.0.0.1:{port}",
                             "-servername", "localhost", "-CAfile", certs.ca_crt, "-quiet"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    try:
        proc.stdin.write(b"ping-through-tls\n")
        proc.stdin.flush()
        got = bytearray()
        deadline = time.monotonic() + 10
        while b"ping-through-tls\n" not in got and time.monotonic() < deadline:
            r, _, _ = select.select([proc.stdout], [], [], 0.5)
            if r:
                d = os.read(proc.stdout.fileno(), 4096)
                if not d:
                    break
                got += d
        assert got == b"ping-through-tls\n", got
    finally:
        proc.kill()
        proc.wait()
        proc.stdin.close()
        proc.stdout.close()


# ---- big transfers and many clients ----------------------------------------------------------

def test_big_response_and_upload(remora, tmp_path, origins, py_origins, certs):
    blob = os.urandom(8 * MiB)
    py = py_origins(lambda req: {"status": 200, "body": blob})
    o = origins("o")
    port = free_port()
    log = os.path.join(str(tmp_path), "big.log")
    h = hcm([vhost("all", ["*"], [route("/py", "py"), route("/", "origin")])],
            access_log=[file_log(log, TLS_LOG_FMT)])
    start_proxy(remora, [tls_listener("big", port, h, tls_socket(certs))],
                [cluster("origin", [o.port]), cluster("py", [py.port])])

    # 8 MiB of random bytes down, byte-exact (curl).
    out = os.path.join(str(tmp_path), "down.bin")
    pr = subprocess.run(["curl", "-sS", "--max-time", "30", "--cacert", certs.ca_crt, "-o", out,
                         "-w", "%{http_code}", f"https://localhost:{port}/py/blob"],
                        capture_output=True, text=True, timeout=40)
    assert pr.returncode == 0 and pr.stdout == "200", pr.stderr
    with open(out, "rb") as f:
        got = f.read()
    assert len(got) == len(blob)
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(blob).hexdigest()

    # The same with a slow reader that has a tiny receive window: the proxy's TLS writes
    # block (WANT_WRITE) and resume many times.
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.settimeout(30)
    raw.connect(("127.0.0.1", port))
    s = client_ctx(certs).wrap_socket(raw, server_hostname="localhost")
    try:
        s.sendall(b"GET /py/slow HTTP/1.1\r\nHost: localhost\r\n\r\n")
        time.sleep(0.5)  # let the proxy fill every buffer before reading starts
        status, _, body = recv_http_response(s)
        assert status == 200
        assert hashlib.sha256(body).digest() == hashlib.sha256(blob).digest()
        # keep-alive still works after the big response
        s.sendall(b"GET /after-big HTTP/1.1\r\nHost: localhost\r\n\r\n")
        status, _, _ = recv_http_response(s)
        assert status == 200
    finally:
        s.close()

    # 8 MiB up to /echo: the origin reports the digest of what it received.
    up = os.path.join(str(tmp_path), "up.bin")
    with open(up, "wb") as f:
        f.write(blob)
    res = https(port, "/echo", "--cacert", certs.ca_crt, "--data-binary", "@" + up,
                "-H", "content-type: application/octet-stream")
    assert res.rc == 0 and res.status == 200, res.stderr
    echo = res.json()
    assert echo["body_bytes"] == len(blob)
    assert echo["body_sha256"] == hashlib.sha256(blob).hexdigest()

    # And chunked (no content-length) from Python, sent in odd-sized pieces.
    conn = http.client.HTTPSConnection("localhost", port, context=client_ctx(certs), timeout=30)
    try:
        def pieces():
            i, step = 0, 7777
            while i < len(blob):
                yield blob[i:i + step]
                i += step
                step = step * 3 % 100003 + 1
        conn.request("POST", "/echo", body=pieces(), encode_chunked=True,
                     headers={"Transfer-Encoding": "chunked"})
        resp = conn.getresponse()
        echo = json.loads(resp.read())
        assert resp.status == 200
        assert echo["body_bytes"] == len(blob)
        assert echo["body_sha256"] == hashlib.sha256(blob).hexdigest()
    finally:
        conn.close()


def test_many_concurrent_tls_clients(remora, tmp_path, origins, certs):
    o = origins("o")
    p = TlsProxy(remora, tmp_path, o.port, {"main": tls_socket(certs)}, concurrency=2)
    port = p.port["main"]
    ctx = client_ctx(certs)
    n_threads, n_reqs = 50, 20
    errors, ok = [], [0]
    lock = threading.Lock()
    barrier = threading.Barrier(n_threads, timeout=30)

    def worker(i):
        conn = http.client.HTTPSConnection("localhost", port, context=ctx, timeout=20)
        try:
            barrier.wait()
            for k in range(n_reqs):
                conn.request("GET", f"/echo?c={i}&r={k}", headers={"x-client": str(i)})
                resp = conn.getresponse()
                body = resp.read()
                echo = json.loads(body)
                if resp.status != 200 or echo["path"] != f"/echo?c={i}&r={k}" or \
                        echo["headers"].get("x-client") != str(i):
                    raise AssertionError(f"bad answer {resp.status} {body[:200]!r}")
                if resp.getheader("connection", "").lower() == "close":
                    raise AssertionError("proxy closed a keep-alive connection")
                with lock:
                    ok[0] += 1
        except Exception as e:  # noqa: BLE001 - collected and asserted below
            with lock:
                errors.append(f"client {i}: {e!r}")
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "clients hung"
    assert not errors, errors[:5]
    assert ok[0] == n_threads * n_reqs
    # One handshake per client: every request of a client reused its connection.
    st = p.wait_ssl("main", {"handshake": n_threads, "connection_error": 0})
    assert st[f"listener.127.0.0.1_{port}.downstream_cx_total"] == n_threads


# ---- misbehaving clients ---------------------------------------------------------------------

def closed_by_proxy(s, timeout=5.0):
    """Reads until EOF/RST; returns the bytes seen, raises on timeout."""
    s.settimeout(timeout)
    data = bytearray()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            d = s.recv(4096)
        except ConnectionResetError:
            return bytes(data)
        if not d:
            return bytes(data)
        data += d
    raise AssertionError(f"connection still open after {timeout}s; got {bytes(data)!r}")


def test_garbage_and_silent_clients(remora, tmp_path, origins, certs):
    o = origins("o")
    p = TlsProxy(remora, tmp_path, o.port, {"main": tls_socket(certs)})
    port = p.port["main"]

    # Plain HTTP to the TLS port: closed, counted as a connection error, no HTTP answer.
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        data = closed_by_proxy(s)
        assert b"HTTP/1.1" not in data, data
    p.wait_ssl("main", {"connection_error": 1})

    # Random bytes: same.
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(os.urandom(4096))
        closed_by_proxy(s)
    p.wait_ssl("main", {"connection_error": 2})

    # Connect and close at once, several times; connect, send half a ClientHello, close.
    for _ in range(5):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(bytes.fromhex("160301020001"))  # a record header and a bit, then EOF
    # A client that connects and sends nothing, left open while others are served.
    idle = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        res = https(port, "/direct", "--cacert", certs.ca_crt)
        assert res.rc == 0 and res.status == 200, res.stderr
        # A TLS client that completes the handshake and disappears without a word.
        s = tls_connect(port, client_ctx(certs))
        s.close()
        res = https(port, "/direct", "--cacert", certs.ca_crt)
        assert res.rc == 0 and res.status == 200, res.stderr
    finally:
        idle.close()

    def settled():
        st = stats(p.r)
        return st.get(f"listener.127.0.0.1_{port}.downstream_cx_active") == 0 and st
    st = wait_for(settled, 5, what="every downstream connection closed")
    assert st[p.ssl_stat_name("main", "handshake")] == 3
    # Closing before (or in the middle of) a handshake is not a TLS error.
    assert st[p.ssl_stat_name("main", "connection_error")] == 2, p.ssl_stats("main")
    assert p.r.proc.poll() is None


def test_truncated_request_after_handshake(remora, tmp_path, py_origins, certs):
    """A client that closes mid-request body over TLS: the connection is cleaned up, the
    stream is logged as a downstream disconnect (code 0, as Envoy), the proxy stays up."""
    py = py_origins()
    p = TlsProxy(remora, tmp_path, py.port, {"main": tls_socket(certs)})
    port = p.port["main"]
    s = tls_connect(port, client_ctx(certs))
    s.sendall(b"POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100000\r\n\r\n"
              + b"a" * 1000)
    s.close()
    line = log_line_for("/upload", p.log["main"])
    assert line == "/upload|TLSv1.3|localhost|-|-|0", line
    res = https(port, "/direct", "--cacert", certs.ca_crt)
    assert res.rc == 0 and res.status == 200, res.stderr
    assert py.requests == []  # never a complete request at the origin
    p.wait_ssl("main", {"handshake": 2, "connection_error": 0})
    wait_stat(p.r, f"listener.127.0.0.1_{port}.downstream_cx_active", 0)


# ---- configuration errors --------------------------------------------------------------------

def validate(tmp_path, listeners_tls, name="tls.yaml"):
    """Writes a bootstrap with one HTTPS listener whose transport_socket is `listeners_tls`
    (a dict, or a function of the chain dict) and runs --mode validate. Returns
    (returncode, stderr, config path, config text)."""
    h = hcm([vhost("all", ["*"], [route("/", "origin")])])
    lst = {"name": "tls", "address": sockaddr(free_port()),
           "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                           "typed_config": h}]}]}
    if callable(listeners_tls):
        listeners_tls(lst["filter_chains"][0])
    else:
        lst["filter_chains"][0]["transport_socket"] = listeners_tls
    text = json.dumps({"admin": {"address": sockaddr(free_port())}, "static_resources": {
        "listeners": [lst], "clusters": [cluster("origin", [free_port()])]}}, indent=1)
    path = os.path.join(str(tmp_path), name)
    with open(path, "w") as f:
        f.write(text)
    p = subprocess.run([REMORA_BIN, "--mode", "validate", "-c", path], capture_output=True,
                       text=True, timeout=20, stdin=subprocess.DEVNULL)
    return p.returncode, p.stderr, path, text


def line_of(text, needle):
    """1-based line of the first occurrence of `needle` in the config text."""
    for i, l in enumerate(text.splitlines(), 1):
        if needle in l:
            return i
    raise AssertionError(f"{needle!r} not in config")


TS_PATH = "static_resources.listeners[0].filter_chains[0].transport_socket"
CTX_PATH = TS_PATH + ".typed_config.common_tls_context"


def test_validate_good_tls_config(tmp_path, certs):
    ts = tls_socket(certs, alpn=["h2,http/1.1"], params={
        "tls_minimum_protocol_version": "TLSv1_2", "tls_maximum_protocol_version": "TLSv1_3",
        "cipher_suites": ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305"],
        "ecdh_curves": ["X25519", "P-256"]}, validation={
        "trusted_ca": {"filename": certs.ca_crt},
        "match_typed_subject_alt_names": [{"san_type": "URI",
                                           "matcher": {"exact": CLIENT_URI_SAN}}],
        "verify_certificate_hash": [certs.client_cert_hash],
        "verify_certificate_spki": [certs.client_spki]},
        require_client_certificate=True, require_sni=False,
        disable_stateless_session_resumption=False)
    rc, err, path, _ = validate(tmp_path, ts)
    assert rc == 0, err


def test_validate_missing_certificate_file(tmp_path, certs):
    ts = tls_socket(certs)
    missing = os.path.join(str(tmp_path), "no-such-server.crt")
    ts["typed_config"]["common_tls_context"]["tls_certificates"][0]["certificate_chain"] = \
        {"filename": missing}
    rc, err, path, text = validate(tmp_path, ts)
    assert rc == 1, err
    field = CTX_PATH + ".tls_certificates[0].certificate_chain.filename"
    assert field in err, err
    assert missing in err, err
    assert re.search(re.escape(path) + r":\d+:\d+: ", err), err
    assert f"{path}:{line_of(text, missing)}:" in err, err


def test_validate_key_does_not_match_certificate(tmp_path, certs):
    ts = tls_socket(certs)
    ts["typed_config"]["common_tls_context"]["tls_certificates"][0]["private_key"] = \
        {"filename": certs.client_key}
    rc, err, path, text = validate(tmp_path, ts)
    assert rc == 1, err
    assert CTX_PATH + ".tls_certificates[0].private_key" in err, err
    assert "private key" in err.split(".private_key: ", 1)[1], err
    key_line = line_of(text, '"private_key"')
    assert f"{path}:{key_line}:" in err, err


@pytest.mark.parametrize("field", ["certificate_chain", "private_key"])
def test_validate_garbage_pem(tmp_path, certs, field):
    ts = tls_socket(certs)
    ts["typed_config"]["common_tls_context"]["tls_certificates"][0][field] = \
        {"filename": certs.garbage_pem}
    rc, err, path, _ = validate(tmp_path, ts)
    assert rc == 1, err
    assert CTX_PATH + f".tls_certificates[0].{field}" in err, err
    assert f"{path}:" in err


def test_validate_garbage_trusted_ca(tmp_path, certs):
    ts = tls_socket(certs, validation={"trusted_ca": {"filename": certs.garbage_pem}})
    rc, err, path, _ = validate(tmp_path, ts)
    assert rc == 1, err
    assert CTX_PATH + ".validation_context.trusted_ca" in err, err


def test_validate_two_certificates_refused(tmp_path, certs):
    ts = tls_socket(certs)
    c = ts["typed_config"]["common_tls_context"]["tls_certificates"]
    c.append(dict(c[0]))
    rc, err, path, text = validate(tmp_path, ts)
    assert rc == 1, err
    assert CTX_PATH + ".tls_certificates" in err, err
    assert f"{path}:{line_of(text, 'tls_certificates')}:" in err, err


def test_validate_unknown_cipher(tmp_path, certs):
    ts = tls_socket(certs, params={"cipher_suites": ["ECDHE-ECDSA-AES128-GCM-SHA256",
                                                     "NOT-A-CIPHER"]})
    rc, err, path, _ = validate(tmp_path, ts)
    assert rc == 1, err
    assert CTX_PATH + ".tls_params" in err, err
    assert "NOT-A-CIPHER" in err, err


def test_validate_unknown_curve(tmp_path, certs):
    rc, err, _, _ = validate(tmp_path, tls_socket(certs, params={"ecdh_curves": ["P-999"]}))
    assert rc == 1, err
    assert CTX_PATH + ".tls_params" in err and "P-999" in err, err


def test_validate_min_above_max_version(tmp_path, certs):
    rc, err, _, _ = validate(tmp_path, tls_socket(certs, params={
        "tls_minimum_protocol_version": "TLSv1_3", "tls_maximum_protocol_version": "TLSv1_2"}))
    assert rc == 1, err
    assert CTX_PATH + ".tls_params.tls_minimum_protocol_version" in err, err


def test_validate_session_ticket_keys_not_supported(tmp_path, certs):
    ts = tls_socket(certs, session_ticket_keys={"keys": [{"inline_string": "x" * 80}]})
    rc, err, path, text = validate(tmp_path, ts)
    assert rc == 1, err
    assert TS_PATH + ".typed_config.session_ticket_keys" in err, err
    assert "not supported" in err, err
    assert f"{path}:{line_of(text, 'session_ticket_keys')}:" in err, err


def test_validate_unknown_field(tmp_path, certs):
    ts = tls_socket(certs)
    ts["typed_config"]["common_tls_context"]["tls_certificatez"] = []
    rc, err, path, text = validate(tmp_path, ts)
    assert rc == 1, err
    assert 'unknown field "tls_certificatez"' in err, err
    assert "CommonTlsContext" in err, err
    assert f"{path}:{line_of(text, 'tls_certificatez')}:" in err, err


def test_validate_san_matcher_needs_trusted_ca(tmp_path, certs):
    ts = tls_socket(certs, validation={"match_typed_subject_alt_names": [
        {"san_type": "URI", "matcher": {"exact": CLIENT_URI_SAN}}]})
    rc, err, _, _ = validate(tmp_path, ts)
    assert rc == 1, err
    assert CTX_PATH + ".validation_context" in err, err


def test_validate_bad_certificate_hash(tmp_path, certs):
    ts = tls_socket(certs, validation={"trusted_ca": {"filename": certs.ca_crt},
                                       "verify_certificate_hash": ["abcd"]})
    rc, err, _, _ = validate(tmp_path, ts)
    assert rc == 1, err
    assert CTX_PATH + ".validation_context.verify_certificate_hash[0]" in err, err


def test_validate_transport_socket_connect_timeout_refused(tmp_path, certs):
    def chain(fc):
        fc["transport_socket"] = tls_socket(certs)
        fc["transport_socket_connect_timeout"] = "5s"
    rc, err, path, text = validate(tmp_path, chain)
    assert rc == 1, err
    assert "static_resources.listeners[0].filter_chains[0].transport_socket_connect_timeout" \
        in err, err
    assert f"{path}:{line_of(text, 'transport_socket_connect_timeout')}:" in err, err


def test_start_with_bad_tls_config_exits(remora, tmp_path, certs):
    """Not only validate: a server started on a broken TLS config exits non-zero and says
    why."""
    port = free_port()
    ts = tls_socket(certs)
    ts["typed_config"]["common_tls_context"]["tls_certificates"][0]["private_key"] = \
        {"filename": certs.client_key}
    h = hcm([vhost("all", ["*"], [route("/", "origin")])])
    admin = free_port()
    cfg = json.dumps({"admin": {"address": sockaddr(admin)}, "static_resources": {
        "listeners": [tls_listener("tls", port, h, ts)],
        "clusters": [cluster("origin", [free_port()])]}})
    r = remora(cfg, admin_port=admin, wait_ready=False)
    rc = r.wait(timeout=15)
    assert rc != 0
    assert "private_key" in r.log(), r.log()
