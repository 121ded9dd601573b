# SPDX-License-Identifier: Apache-2.0
"""Side-by-side benchmark of direct / Remora / HAProxy / nginx. Driven by bench/run.sh.

Method (also written into RESULTS.md):
  * every scenario, for every worker count, runs every proxy in turn, interleaved
    (direct, Remora, HAProxy, nginx, direct, Remora, ...), so slow drift of the machine hits
    each alike; a table cell is the median of a proxy's runs;
  * each run starts the proxy afresh on free loopback ports, checks it answers, runs
    remora-load (--json) against it, samples the proxy's RSS while it runs, and stops it;
  * the proxy and the load generator + origin are pinned with taskset to separate CPUs;
  * Remora runs in a scenario only when `remora --mode validate` accepts the generated
    config; otherwise its cells are "n/a (not supported yet)".

Every process started here is recorded (pid, process group) in WORK/pids and killed on exit,
here and again by run.sh's trap.
"""
import argparse
import json
import os
import re
import select
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import proxies as px  # noqa: E402
import report  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# ---- scenarios -------------------------------------------------------------------------------------
# kind: the proxy front (proxies.KINDS); size: origin response body bytes; load: remora-load flags;
# scheme: URL scheme; metrics: the columns of the scenario's table (key, label, unit, better);
# the first metric is the primary one (summary table, ratios, plots).
RPS = ("rps", "req/s", "req/s", "up")
# CPU the proxy process (every thread and child) spent in the measured window, per request,
# from /proc/<pid>/task/*/schedstat. For direct: the origin's. It shows efficiency even where
# the load generator's core, not the proxy's, sets the rate.
CPU_US = ("cpu_us", "proxy CPU per req", "µs", "down")
CPU_UTIL = ("cpu_util", "proxy CPU busy", "cores", "down")
# The same CPU split by /proc/<pid>/task/*/stat ticks: the proxy's own code (user) and the
# kernel's work for its system calls, loopback TCP included (system).
USER_US = ("user_us", "of which user space", "µs", "down")
SYS_US = ("sys_us", "of which kernel", "µs", "down")
# Handshakes per second of the proxy's CPU: what one proxy core sustains, whichever side is
# the bottleneck (a TLS client works harder per handshake than the server, so on 2 CPUs the
# client's core saturates first).
HS_CPU = ("hs_per_cpu", "handshakes per proxy CPU-s", "1/s", "up")
LAT = [("p50", "p50", "µs", "down"), ("p99", "p99", "µs", "down"), ("p99_9", "p99.9", "µs", "down")]
SCENARIOS = {
    "h1-small": dict(title="HTTP/1.1 keep-alive, 128 B responses", kind="http", size=128,
                     load=["-c", "50"], metrics=[RPS] + LAT + [CPU_US, USER_US, SYS_US]),
    "h1-16k": dict(title="HTTP/1.1 keep-alive, 16 KiB responses", kind="http", size=16384,
                   load=["-c", "50"],
                   metrics=[RPS, ("mibps", "MiB/s", "MiB/s", "up")] + LAT[:2]),
    "h1-newconn": dict(title="HTTP/1.1, a new connection per request", kind="http", size=128,
                       load=["-c", "16", "--new-conn"], metrics=[RPS] + LAT[:2]),
    "h2": dict(title="HTTP/2 (h2c prior knowledge), 10 connections x 10 streams, 128 B", kind="h2c",
               size=128, load=["--h2", "-c", "10", "-m", "10"], metrics=[RPS] + LAT[:2]),
    "tls": dict(title="TLS 1.3 keep-alive, HTTP/1.1, 128 B", kind="tls", size=128,
                load=["-c", "50"], metrics=[RPS] + LAT[:2] + [CPU_US, USER_US, SYS_US]),
    "tls-hs": dict(title="TLS 1.3 handshakes (new connection per request, full handshake)",
                   kind="tls", size=128, load=["-c", "16", "--new-conn"],
                   metrics=[("rps", "handshakes/s", "1/s", "up"),
                            ("hs_p50", "handshake p50", "µs", "down"), HS_CPU, CPU_UTIL,
                            CPU_US, USER_US]),
    "mtls": dict(title="mTLS 1.3 handshakes (client certificate verified, new connection per request)",
                 kind="mtls", size=128, load=["-c", "16", "--new-conn"],
                 metrics=[("rps", "handshakes/s", "1/s", "up"),
                          ("hs_p50", "handshake p50", "µs", "down"), HS_CPU, CPU_UTIL,
                          CPU_US, USER_US]),
    # load_busy: how busy the core(s) of remora-load and the echo origin were over the
    # transfer (on 2 CPUs they share one): when it is ~100% in every row, that core, not the
    # proxy, sets the rate. cpu_util: the proxy's own CPU (direct: the origin's) in cores.
    "l4": dict(title="L4: 1 GiB through a TCP proxy to an echo server (1 connection)", kind="tcp",
               metrics=[("mibps", "MiB/s each way", "MiB/s", "up"),
                        ("gbps", "Gbit/s each way", "Gbit/s", "up"), CPU_UTIL,
                        ("load_busy", "client + origin core busy", "%", "down")]),
    "open-loop": dict(title="Open loop at 70% of HAProxy's maximum rate (HTTP/1.1, 50 connections, 128 B)",
                      kind="http", size=128, load=["-c", "50"],
                      metrics=[("p99", "p99", "µs", "down"), ("p50", "p50", "µs", "down"),
                               ("p99_9", "p99.9", "µs", "down"),
                               ("added_p99", "added p99 vs direct", "µs", "down"),
                               ("rps", "achieved", "req/s", "up")]),
    "open-loop-20k": dict(title="Open loop at 20,000 req/s (HTTP/1.1, 50 connections, 128 B)",
                          kind="http", size=128, load=["-c", "50"], rate=20000,
                          metrics=[("p99", "p99", "µs", "down"), ("p50", "p50", "µs", "down"),
                                   ("p99_9", "p99.9", "µs", "down"),
                                   ("added_p99", "added p99 vs direct", "µs", "down"),
                                   ("rps", "achieved", "req/s", "up"), CPU_US]),
    "rss-idle": dict(title="Idle RSS after start (no traffic yet)", kind=None,
                     metrics=[("idle_tcp", "TCP-proxy config", "MiB", "down"),
                              ("idle_http", "HTTP config", "MiB", "down"),
                              ("idle_tls", "TLS config", "MiB", "down")]),
    "rss-load": dict(title="Peak RSS under load (HTTP/1.1 50 connections; L4 1 connection)",
                     kind=None,
                     metrics=[("load_http", "HTTP/1.1 load", "MiB", "down"),
                              ("load_tcp", "L4 load", "MiB", "down")]),
    "rss-conns": dict(title="RSS with N idle connections (each used once, then held open)",
                      kind=None,
                      metrics=[("conn_http", "per HTTP keep-alive conn", "bytes", "down"),
                               ("conn_tls", "per TLS keep-alive conn", "bytes", "down"),
                               ("conn_tcp", "per L4 conn (+ upstream)", "bytes", "down"),
                               ("rss_http_n", "total, N HTTP conns", "MiB", "down")]),
    "callgrind": dict(title="Instructions per proxied request (callgrind, user space, 1 worker, 1 connection)",
                      kind="http", size=128,
                      metrics=[("ir_per_req", "instructions/request", "Ir", "down")]),
    "strace": dict(title="System calls per proxied request (strace -c -f, 1 worker, 1 connection)",
                   kind="http", size=128,
                   metrics=[("sys_per_req", "syscalls/request", "calls", "down")]),
}
# Metrics shown in the summary table besides the primary one.
SUMMARY_EXTRA = {"open-loop": ["added_p99"], "open-loop-20k": ["added_p99"],
                 "h1-small": ["cpu_us"], "tls": ["cpu_us"], "tls-hs": ["hs_per_cpu"],
                 "mtls": ["hs_per_cpu"], "rss-idle": ["idle_http"], "rss-load": ["load_tcp"],
                 "rss-conns": ["conn_tls", "conn_tcp"]}
ORDER = list(SCENARIOS)
# remora-load against the reference tools on the same origin (no proxy): it has its own
# section in RESULTS.md, not a per-proxy table. Latency-bound targets (2 ms per response) set
# their own capacity, so the clients' rates must agree; on the CPU-bound ones (0-byte
# responses) the clients' own cost per request decides the rate (bench/README.md).
AGREE = [
    # key, title, origin flags, remora-load flags, reference tool, its connections / streams
    ("h1-2ms", "HTTP/1.1, 2 ms per response, 20 connections", ["--latency-ms", "2"],
     ["-c", "20"], "wrk", (20, 1)),
    ("h2-2ms", "HTTP/2 (h2c), 2 ms per response, 4 connections x 5 streams", ["--latency-ms", "2"],
     ["--h2", "-c", "4", "-m", "5"], "h2load", (4, 5)),
    ("h1-0b", "HTTP/1.1, 0-byte responses, 50 connections (CPU-bound)", ["--size", "0"],
     ["-c", "50"], "wrk", (50, 1)),
    ("h2-0b", "HTTP/2 (h2c), 0-byte responses, 10 connections x 10 streams (CPU-bound)",
     ["--size", "0"], ["--h2", "-c", "10", "-m", "10"], "h2load", (10, 10)),
]
NO_DIRECT = {"rss-idle", "rss-load", "rss-conns", "callgrind", "strace"}
ONCE = {"callgrind", "strace"}  # deterministic: one worker count, one run

MODES = {
    #         measured s, warm-up s, runs per proxy, idle conns, L4 bytes, callgrind/strace -n pair
    "smoke": dict(dur=0.5, warm=0.2, reps=1, conns=100, l4="128M", cg=(50, 250)),
    "quick": dict(dur=1.0, warm=0.3, reps=2, conns=1000, l4="1G", cg=(200, 1200)),
    "full": dict(dur=5.0, warm=1.0, reps=5, conns=1000, l4="1G", cg=(500, 2500)),
}



def log(msg):
    sys.stderr.write("[bench] %s\n" % msg)
    sys.stderr.flush()


# ---- processes --------------------------------------------------------------------------------------

class Procs:
    """Every process we start, killed by pid/process group on exit."""

    def __init__(self, pidfile):
        self.pidfile = pidfile
        self.live = []

    def start(self, cmd, logpath, cpus=None, stdout=None, env=None):
        full = (["taskset", "-c", cpus] if cpus else []) + cmd
        logf = open(logpath, "ab")
        p = subprocess.Popen(full, stdout=stdout if stdout is not None else logf, stderr=logf,
                             stdin=subprocess.DEVNULL, start_new_session=True,
                             env=env or os.environ)
        p._logf = logf
        self.live.append(p)
        with open(self.pidfile, "a") as f:
            f.write("%d\n" % p.pid)
        return p

    def stop(self, p, sig=signal.SIGTERM, grace=5.0, group=True):
        if p.poll() is None:
            try:
                if group:
                    os.killpg(p.pid, sig)
                else:
                    os.kill(p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        # Whatever is left of the process group (nginx workers, a stuck tracee) goes too.
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if p.poll() is None:
            p.wait(timeout=5)
        p._logf.close()
        if p in self.live:
            self.live.remove(p)

    def stop_all(self):
        for p in list(self.live):
            try:
                self.stop(p, grace=2.0)
            except Exception as e:  # keep killing the others
                log("stop %d: %s" % (p.pid, e))


_handed_out = set()


def free_port():
    """A free port never handed out before in this run (two binds in a row may get the same
    free port from the kernel, and a proxy needs distinct listener and admin ports)."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise RuntimeError("no fresh free port after 100 tries")


def tree_pids(pid):
    """pid and its descendants (nginx master + workers)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for t in os.listdir("/proc/%d/task" % p):
                with open("/proc/%d/task/%s/children" % (p, t)) as f:
                    todo += [int(x) for x in f.read().split()]
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            pass
    return out


def rss_kib(pid):
    """Sum of VmRSS over the process tree, KiB (nginx: master + workers)."""
    total = 0
    for p in tree_pids(pid):
        try:
            with open("/proc/%d/status" % p) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def cpu_ns(pids):
    """CPU time (ns) of every thread of |pids| so far (/proc/<pid>/task/*/schedstat)."""
    total = 0
    for p in pids:
        try:
            for t in os.listdir("/proc/%d/task" % p):
                with open("/proc/%d/task/%s/schedstat" % (p, t)) as f:
                    total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError, PermissionError, ValueError, IndexError):
            pass
    return total


def cpu_ticks(pids):
    """(user, system) clock ticks of every thread of |pids| so far (/proc/<pid>/task/*/stat):
    coarse (10 ms), used only for the user/kernel split of the precise schedstat total."""
    user = system = 0
    for p in pids:
        try:
            for t in os.listdir("/proc/%d/task" % p):
                with open("/proc/%d/task/%s/stat" % (p, t)) as f:
                    rest = f.read().rsplit(")", 1)[1].split()
                user += int(rest[11])
                system += int(rest[12])
        except (FileNotFoundError, ProcessLookupError, PermissionError, ValueError, IndexError):
            pass
    return user, system


class CpuWindow(threading.Thread):
    """The CPU a process tree uses from |start_after| s after start() for |length| s (or until
    stop(), whichever is first): the load generator's measured window, warm-up excluded."""

    def __init__(self, pid, start_after, length):
        super().__init__(daemon=True)
        self.pid, self.start_after, self.length = pid, start_after, length
        self.halt = threading.Event()
        self.cpu_s = self.wall_s = self.user_share = None

    def run(self):
        if self.halt.wait(self.start_after):
            return
        pids = tree_pids(self.pid)
        a, ta, ua = cpu_ns(pids), time.monotonic(), cpu_ticks(pids)
        self.halt.wait(self.length)
        b, tb, ub = cpu_ns(pids), time.monotonic(), cpu_ticks(pids)
        if tb - ta > 0.1:
            self.cpu_s, self.wall_s = (b - a) / 1e9, tb - ta
            du, ds = ub[0] - ua[0], ub[1] - ua[1]
            if du + ds >= 20:  # at least 0.2 s of ticks, for a meaningful split
                self.user_share = du / float(du + ds)

    def stop(self):
        self.halt.set()
        self.join()
        return self.cpu_s, self.wall_s


class RssSampler(threading.Thread):
    def __init__(self, pid, every=0.05):
        super().__init__(daemon=True)
        self.pid, self.every, self.peak = pid, every, 0
        self.halt = threading.Event()

    def run(self):
        while not self.halt.is_set():
            self.peak = max(self.peak, rss_kib(self.pid))
            self.halt.wait(self.every)

    def stop(self):
        self.halt.set()
        self.join()
        return self.peak


# ---- the bench ------------------------------------------------------------------------------------

class Bench:
    def __init__(self, a):
        self.a = a
        self.mode = MODES[a.mode]
        self.out = a.out
        self.work = a.work
        os.makedirs(self.work, exist_ok=True)
        for d in ("configs", "logs", "pki", "tmp"):
            os.makedirs(os.path.join(self.work, d), exist_ok=True)
        self.procs = Procs(os.path.join(self.work, "pids"))
        self.bin = os.path.join(a.build, "remora")
        self.load_bin = os.path.join(a.build, "bench", "remora-load")
        self.origin_bin = os.path.join(a.build, "bench", "remora-origin")
        self.results = []      # one dict per run
        self.commands = {}     # (scenario, proxy) -> [command lines] (first run of each)
        self.support = {}      # remora kind -> (ok, message)
        self.rates = {}        # workers -> open-loop rate
        self.nrun = 0
        self.pki = px.Pki(os.path.join(self.work, "pki"))
        self.stream_module = next((m for m in ("/usr/lib/nginx/modules/ngx_stream_module.so",)
                                   if os.path.exists(m)), None)

    # -- CPU plan --
    def plan(self, workers):
        n = os.cpu_count() or 1
        if n >= workers + 2:
            proxy = "0-%d" % (workers - 1) if workers > 1 else "0"
            return dict(proxy=proxy, load=str(workers), origin=str(workers + 1))
        if n >= 2:
            w = min(workers, n)
            proxy = "0-%d" % (w - 1) if w > 1 else "0"
            return dict(proxy=proxy, load=str(n - 1), origin=str(n - 1))
        return dict(proxy="0", load="0", origin="0")

    def remora_unsupported(self, scen, key):
        """True when Remora's cell for (scenario, metric) is empty because its config was refused."""
        kind = SCENARIOS[scen]["kind"]
        if kind is None:
            kind = {"tcp": "tcp", "tls": "tls"}.get(key.rsplit("_", 1)[-1], "http")
            if key == "rss_http_n":
                kind = "http"
        return kind in self.support and not self.support[kind][0]

    # -- PKI --
    def make_pki(self):
        p = self.pki
        if os.path.exists(p.pem):
            return

        def ossl(*args):
            subprocess.run(["openssl"] + list(args), check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=60)
        d = p.dir
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        ossl("req", "-x509", *ec, "-keyout", d + "/ca.key", "-out", p.ca, "-days", "30",
             "-subj", "/CN=remora-bench-ca", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        for name, crt, key, ext in (
                ("server", p.crt, p.key, "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                                         "extendedKeyUsage=serverAuth\n"),
                ("client", p.cli_crt, p.cli_key, "subjectAltName=URI:spiffe://bench/client\n"
                                                 "extendedKeyUsage=clientAuth\n")):
            csr = "%s/%s.csr" % (d, name)
            extf = "%s/%s.ext" % (d, name)
            with open(extf, "w") as f:
                f.write(ext)
            ossl("req", "-new", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=" + name)
            ossl("x509", "-req", "-in", csr, "-CA", p.ca, "-CAkey", d + "/ca.key",
                 "-CAcreateserial", "-out", crt, "-days", "30", "-extfile", extf)
        with open(p.pem, "w") as f:
            f.write(open(p.crt).read() + open(p.key).read())

    # -- origin --
    def start_origin(self, scen, plan, kind, size=0, tls=None):
        cmd = [self.origin_bin, "--listen", "127.0.0.1:0", "--name", "origin", "--threads", "1"]
        if kind == "tcp":
            cmd.append("--tcp-echo")
        else:
            cmd += ["--size", str(size)]
        if tls:
            cmd += ["--tls-cert", self.pki.crt, "--tls-key", self.pki.key]
            if tls == "mtls":
                cmd += ["--tls-client-ca", self.pki.ca]
        p = self.procs.start(cmd, self.logpath("origin-%s" % scen), cpus=plan["origin"],
                             stdout=subprocess.PIPE)
        r, _, _ = select.select([p.stdout], [], [], 10)
        line = p.stdout.readline().decode() if r else ""
        m = re.match(r"listening on 127\.0\.0\.1:(\d+)", line.strip())
        if not m:
            self.procs.stop(p)
            raise RuntimeError("remora-origin did not start: %r" % line)
        p.port = int(m.group(1))
        p.cmd = ["taskset", "-c", plan["origin"]] + cmd
        return p

    def logpath(self, name):
        return os.path.join(self.work, "logs", name + ".log")

    # -- proxies --
    def remora_supports(self, kind):
        if kind not in self.support:
            cfg = os.path.join(self.work, "configs", "remora-validate-%s.yaml" % kind)
            with open(cfg, "w") as f:
                f.write(px.remora_config(kind, 10000, 9901, 8080, self.pki))
            r = subprocess.run([self.bin, "--mode", "validate", "-c", cfg], capture_output=True,
                               text=True, timeout=30)
            msg = (r.stderr or r.stdout).strip().splitlines()
            # "error: FILE:LINE:COL: field: message" -> "field: message" (the path is scratch).
            msg = [re.sub(r"^error: \S+?:\d+:\d+: ", "", x) for x in msg]
            self.support[kind] = (r.returncode == 0, msg[0] if msg else "")
            log("remora validate %s: %s" % (kind, "supported" if r.returncode == 0
                                            else "not supported: " + (msg[0] if msg else "")))
        return self.support[kind][0]

    def proxy_cmd(self, proxy, kind, workers, origin_port, tag, single=False):
        """Writes the config; returns (cmd, port, admin_port)."""
        port = free_port()
        cdir = os.path.join(self.work, "configs")
        if proxy == "remora":
            admin = free_port()
            cfg = os.path.join(cdir, "remora-%s.yaml" % tag)
            with open(cfg, "w") as f:
                f.write(px.remora_config(kind, port, admin, origin_port, self.pki))
            return px.remora_cmd(self.bin, cfg, workers), port, admin
        if proxy == "haproxy":
            cfg = os.path.join(cdir, "haproxy-%s.cfg" % tag)
            with open(cfg, "w") as f:
                f.write(px.haproxy_config(kind, port, origin_port, workers, self.pki))
            return px.haproxy_cmd(cfg), port, None
        if proxy == "nginx":
            nd = os.path.join(self.work, "tmp", "nginx-%s" % tag)
            os.makedirs(nd, exist_ok=True)
            cfg = os.path.join(cdir, "nginx-%s.conf" % tag)
            with open(cfg, "w") as f:
                f.write(px.nginx_config(kind, port, origin_port, workers, self.pki, nd,
                                        self.stream_module, single))
            return px.nginx_cmd(cfg, nd), port, None
        raise ValueError(proxy)

    def wait_listening(self, p, port, admin=None, timeout=15.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if p.poll() is not None:
                raise RuntimeError("exited with %s" % p.returncode)
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    pass
                if admin is None:
                    return
                with socket.create_connection(("127.0.0.1", admin), timeout=0.5) as s:
                    s.sendall(b"GET /ready HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
                    if s.recv(64).startswith(b"HTTP/1.1 200"):
                        return
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError("not listening on %d after %.0fs" % (port, timeout))

    def start_proxy(self, proxy, kind, workers, plan, origin, tag, wrap=None, timeout=15.0,
                    single=False):
        cmd, port, admin = self.proxy_cmd(proxy, kind, workers, origin.port, tag, single)
        cmd = (wrap or []) + cmd
        last = None
        for _ in range(2):  # a free port can be taken between the probe and the bind: retry once
            p = self.procs.start(cmd, self.logpath("%s-%s" % (proxy, tag)), cpus=plan["proxy"])
            p.port, p.cmd = port, ["taskset", "-c", plan["proxy"]] + cmd
            try:
                self.wait_listening(p, port, admin, timeout)
                return p
            except RuntimeError as e:
                last = e
                self.procs.stop(p)
                cmd, port, admin = self.proxy_cmd(proxy, kind, workers, origin.port, tag, single)
                cmd = (wrap or []) + cmd
        raise RuntimeError("%s did not start (%s); log: %s" % (proxy, last,
                                                              self.logpath("%s-%s" % (proxy, tag))))

    # -- load --
    def url(self, kind, port):
        return ("https" if kind in ("tls", "mtls") else "http") + "://127.0.0.1:%d/" % port

    def tls_flags(self, kind):
        if kind not in ("tls", "mtls"):
            return []
        f = ["--cacert", self.pki.ca]
        if kind == "mtls":
            f += ["--cert", self.pki.cli_crt, "--key", self.pki.cli_key]
        return f

    def load(self, plan, args, timeout):
        cmd = ["taskset", "-c", plan["load"], self.load_bin, "--json", "-q", "-t", "1"] + args
        env = dict(os.environ, CI="1")
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
        if r.returncode not in (0, 3) or not r.stdout.strip():
            raise RuntimeError("remora-load failed (%d): %s" % (r.returncode, r.stderr.strip()[-400:]))
        return json.loads(r.stdout), cmd

    def sanity(self, plan, kind, port, extra=()):
        """A few requests must succeed before a run is measured."""
        if kind == "tcp":
            args = ["--tcp", "-c", "1", "--bytes", "64K", "--timeout", "5s"]
        else:
            args = ["-c", "1", "-n", "20", "--check-status", "200", "--timeout", "5s"] + \
                self.tls_flags(kind) + (["--h2"] if kind == "h2c" else []) + list(extra)
        j, _ = self.load(plan, args + [("127.0.0.1:%d" % port) if kind == "tcp" else self.url(kind, port)], 30)
        bad = j["errors"]["total"] + (j["check"]["mismatches"] if kind != "tcp" else 0)
        if bad or (kind == "tcp" and j["rx_bytes"] != 65536):
            raise RuntimeError("sanity check failed: %s" % json.dumps(j["errors"]))

    # -- one measured run --
    def record(self, scen, workers, proxy, rep, metrics, cmds=None, note=""):
        self.results.append(dict(scenario=scen, workers=workers, proxy=proxy, rep=rep,
                                 metrics=metrics, note=note))
        if cmds and (scen, proxy) not in self.commands:
            self.commands[(scen, proxy)] = cmds

    def run_load_scenario(self, scen, workers, rep, proxy, origin, plan):
        s = SCENARIOS[scen]
        kind = s["kind"]
        m = self.mode
        target_kind = kind
        proxyp = None
        tag = "%s-w%d-r%d" % (scen, workers, rep)
        if proxy == "direct":
            port = origin.port
            if kind == "h2c":
                target_kind = "h2c"
        else:
            proxyp = self.start_proxy(proxy, kind, workers, plan, origin, tag)
            port = proxyp.port
        try:
            self.sanity(plan, kind, port)
            if kind == "tcp":
                args = ["--tcp", "-c", "1", "--bytes", m["l4"], "--timeout", "30s",
                        "127.0.0.1:%d" % port]
                limit = 300
            else:
                args = list(s["load"]) + ["-d", "%gs" % m["dur"], "--warmup", "%gs" % m["warm"],
                                          "--timeout", "5s", "--check-status", "200"]
                if scen == "open-loop":
                    args += ["-R", "%d" % self.rates[workers]]
                elif s.get("rate"):
                    args += ["-R", "%d" % s["rate"]]
                args += self.tls_flags(target_kind) + [self.url(target_kind, port)]
                limit = m["dur"] + m["warm"] + 60
            sampler = RssSampler(proxyp.pid) if proxyp else None
            if sampler:
                sampler.start()
            cpuw = None
            if kind != "tcp":
                cpuw = CpuWindow(proxyp.pid if proxyp else origin.pid, m["warm"], m["dur"])
                cpuw.start()
            else:  # L4 has no warm-up: the whole transfer is the window
                pids = tree_pids(proxyp.pid if proxyp else origin.pid)
                st0, ns0, t0 = cpu_stat(), cpu_ns(pids), time.monotonic()
            j, cmd = self.load(plan, args, limit)
            peak = sampler.stop() if sampler else 0
            cpu_s, cpu_wall = cpuw.stop() if cpuw else (None, None)
            user_share = cpuw.user_share if cpuw else None
            if kind == "tcp":
                st1, cpu_wall = cpu_stat(), time.monotonic() - t0
                cpu_s = (cpu_ns(pids) - ns0) / 1e9
                load_busy = max([b for b in (busy_pct(st0, st1, c) for c in {plan["load"], plan["origin"]})
                                 if b is not None] or [None])
        finally:
            if proxyp:
                self.procs.stop(proxyp)
        if j.get("late"):
            # Open loop that fell behind -R: the latency would be that of the few requests
            # that went out, not of the rate asked for. The cell says so instead.
            raise RuntimeError("could not sustain -R: %d requests due in the window were never sent"
                               % j["late"])
        met = dict(rps=j["rps"], p50=j["latency_us"]["p50"], p90=j["latency_us"]["p90"],
                   p99=j["latency_us"]["p99"], p99_9=j["latency_us"]["p99_9"],
                   p99_99=j["latency_us"]["p99_99"],
                   mibps=j["rx_bytes_per_s"] / 1048576.0,
                   gbps=j["rx_bytes_per_s"] * 8 / 1e9,
                   hs_p50=j["tls_handshake_us"]["p50"],
                   errors=j["errors"]["total"] + (j["check"]["mismatches"] or 0),
                   requests=j["requests"], peak_rss_kib=peak)
        if kind == "tcp":
            met["errors"] = j["errors"]["total"] + (0 if j["rx_bytes"] == j["tx_bytes"] else 1)
            met["cpu_util"] = cpu_s / cpu_wall if cpu_wall > 0 else None
            met["load_busy"] = load_busy
        if cpu_s is not None and j["rps"] > 0:
            met["cpu_util"] = cpu_s / cpu_wall
            met["cpu_us"] = cpu_s * 1e6 / (j["rps"] * cpu_wall)
            met["hs_per_cpu"] = j["rps"] * cpu_wall / cpu_s if cpu_s > 0 else None
            if user_share is not None:
                met["user_us"] = met["cpu_us"] * user_share
                met["sys_us"] = met["cpu_us"] - met["user_us"]
        cmds = [" ".join(origin.cmd)] + ([" ".join(proxyp.cmd)] if proxyp else []) + [" ".join(cmd)]
        self.record(scen, workers, proxy, rep, met, cmds)
        log("%-10s w%d rep%d %-8s %s" % (scen, workers, rep, proxy, self.brief(scen, met)))

    def brief(self, scen, met):
        keys = [k for k, _, _, _ in SCENARIOS[scen]["metrics"]][:3]
        return "  ".join("%s=%s" % (k, report.fmt(met.get(k))) for k in keys) + \
            ("  errors=%d" % met["errors"] if met.get("errors") else "")

    def proxies_for(self, scen, kinds):
        out = [] if scen in NO_DIRECT else ["direct"]
        for p in ("remora", "haproxy", "nginx"):
            if p == "remora" and not all(self.remora_supports(k) for k in kinds):
                continue
            if p == "nginx" and "tcp" in kinds and not self.stream_module:
                continue
            out.append(p)
        return out

    # -- scenario drivers --
    def scenario_load(self, scen, workers):
        s = SCENARIOS[scen]
        kind = s["kind"]
        plan = self.plan(workers)
        if scen == "open-loop" and workers not in self.rates:
            self.rates[workers] = self.haproxy_max(workers)
        # The proxies talk plain HTTP (or TCP) to the origin; direct talks to a TLS origin
        # in the TLS scenarios.
        origin = self.start_origin(scen, plan, kind if kind == "tcp" else "http", s.get("size", 0))
        origin_tls = None
        if kind in ("tls", "mtls"):
            origin_tls = self.start_origin(scen + "-tls", plan, "http", s.get("size", 0), tls=kind)
        try:
            who = self.proxies_for(scen, [kind])
            for rep in range(self.mode["reps"]):
                for proxy in who:
                    o = origin_tls if (proxy == "direct" and origin_tls) else origin
                    for attempt in (1, 2):  # one retry: a busy machine can miss a deadline
                        try:
                            self.run_load_scenario(scen, workers, rep, proxy, o, plan)
                            break
                        except (RuntimeError, subprocess.TimeoutExpired, OSError) as e:
                            log("%s w%d %s: FAILED (attempt %d): %s" % (scen, workers, proxy, attempt, e))
                            if attempt == 2:
                                self.record(scen, workers, proxy, rep, {}, note="failed: %s" % e)
        finally:
            self.procs.stop(origin)
            if origin_tls:
                self.procs.stop(origin_tls)

    def haproxy_max(self, workers):
        """The open-loop rate: 70% of HAProxy's closed-loop h1-small median (measured now
        when the h1-small scenario did not run)."""
        vals = [r["metrics"].get("rps") for r in self.results
                if r["scenario"] == "h1-small" and r["workers"] == workers and r["proxy"] == "haproxy"
                and r["metrics"].get("rps")]
        if not vals:
            plan = self.plan(workers)
            origin = self.start_origin("open-loop-max", plan, "http", 128)
            try:
                for rep in range(self.mode["reps"]):
                    p = self.start_proxy("haproxy", "http", workers, plan, origin,
                                         "open-loop-max-w%d-r%d" % (workers, rep))
                    try:
                        self.sanity(plan, "http", p.port)
                        j, _ = self.load(plan, ["-c", "50", "-d", "%gs" % self.mode["dur"],
                                                "--warmup", "%gs" % self.mode["warm"],
                                                self.url("http", p.port)], 120)
                        vals.append(j["rps"])
                    finally:
                        self.procs.stop(p)
            finally:
                self.procs.stop(origin)
        rate = int(0.7 * statistics.median(vals)) if vals else 1000
        log("open-loop w%d: rate %d req/s (70%% of HAProxy's %d)" % (workers, rate, rate / 0.7))
        return max(rate, 100)

    def scenario_rss(self, scen, workers):
        plan = self.plan(workers)
        m = self.mode
        kinds = {"rss-idle": ["tcp", "http", "tls"], "rss-load": ["http", "tcp"],
                 "rss-conns": ["http", "tls", "tcp"]}[scen]
        origins = {"http": self.start_origin(scen, plan, "http", 128),
                   "tcp": self.start_origin(scen + "-echo", plan, "tcp")}
        origins["tls"] = origins["http"]
        try:
            who = self.proxies_for(scen, [])
            for rep in range(m["reps"]):
                for proxy in who:
                    met, cmds = {}, []
                    for kind in kinds:
                        if proxy == "remora" and not self.remora_supports(kind):
                            continue
                        if proxy == "nginx" and kind == "tcp" and not self.stream_module:
                            continue
                        for attempt in (1, 2):
                            try:
                                self.rss_one(scen, kind, proxy, workers, plan, origins[kind], rep,
                                             met, cmds)
                                break
                            except (RuntimeError, subprocess.TimeoutExpired, OSError) as e:
                                log("%s w%d %s %s: FAILED (attempt %d): %s"
                                    % (scen, workers, proxy, kind, attempt, e))
                    self.record(scen, workers, proxy, rep, met, cmds)
                    log("%-10s w%d rep%d %-8s %s" % (scen, workers, rep, proxy,
                                                    "  ".join("%s=%s" % (k, report.fmt(v))
                                                              for k, v in met.items())))
        finally:
            for o in (origins["http"], origins["tcp"]):
                self.procs.stop(o)

    def rss_one(self, scen, kind, proxy, workers, plan, origin, rep, met, cmds):
        tag = "%s-%s-w%d-r%d" % (scen, kind, workers, rep)
        p = self.start_proxy(proxy, kind, workers, plan, origin, tag)
        try:
            if not cmds:
                cmds.append(" ".join(origin.cmd))
            cmds.append(" ".join(p.cmd))
            if scen == "rss-idle":
                time.sleep(0.5)
                met["idle_" + kind] = rss_kib(p.pid) / 1024.0
            elif scen == "rss-load":
                self.sanity(plan, kind, p.port)
                if kind == "tcp":
                    args = ["--tcp", "-c", "1", "-d", "%gs" % m_dur(self.mode), "127.0.0.1:%d" % p.port]
                else:
                    args = ["-c", "50", "-d", "%gs" % m_dur(self.mode), self.url(kind, p.port)]
                sampler = RssSampler(p.pid)
                sampler.start()
                _, cmd = self.load(plan, args, 120)
                met["load_" + kind] = sampler.stop() / 1024.0
                cmds.append(" ".join(cmd))
            else:
                n = self.mode["conns"]
                self.sanity(plan, kind, p.port)
                time.sleep(0.2)
                base = rss_kib(p.pid)
                held = hold_conns(kind, p.port, n, self.pki)
                try:
                    time.sleep(0.5)
                    full = rss_kib(p.pid)
                finally:
                    for s in held:
                        s.close()
                met["conn_" + kind] = (full - base) * 1024.0 / n
                if kind == "http":
                    met["rss_http_n"] = full / 1024.0
        finally:
            self.procs.stop(p)

    def scenario_tool(self, scen, workers):
        """callgrind / strace: the same warm-up, then N0 or N1 requests on 1 connection; the
        difference between the two runs divided by N1 - N0 is the cost of one request, with
        start-up, warm-up, connection set-up and shutdown cancelled out."""
        plan = self.plan(workers)
        n0, n1 = self.mode["cg"]
        origin = self.start_origin(scen, plan, "http", 128)
        try:
            for proxy in self.proxies_for(scen, ["http"]):
                totals, cmds = [], [" ".join(origin.cmd)]
                try:
                    for n in (n0, n1):
                        totals.append(self.tool_run(scen, proxy, workers, plan, origin, n, cmds))
                    per = (totals[1] - totals[0]) / float(n1 - n0)
                    key = "ir_per_req" if scen == "callgrind" else "sys_per_req"
                    self.record(scen, workers, proxy, 0, {key: per, "totals": totals,
                                                          "n": [n0, n1]}, cmds)
                    log("%-10s w%d %-8s %s=%.1f (totals %s)" % (scen, workers, proxy, key, per, totals))
                except (RuntimeError, subprocess.TimeoutExpired, OSError) as e:
                    log("%s %s: FAILED: %s" % (scen, proxy, e))
                    self.record(scen, workers, proxy, 0, {}, note="failed: %s" % e)
        finally:
            self.procs.stop(origin)

    def tool_run(self, scen, proxy, workers, plan, origin, n, cmds):
        tdir = os.path.join(self.work, "tmp", "%s-%s-%d" % (scen, proxy, n))
        shutil.rmtree(tdir, ignore_errors=True)
        os.makedirs(tdir)
        if scen == "callgrind":
            wrap = ["valgrind", "--tool=callgrind", "--trace-children=yes",
                    "--callgrind-out-file=%s/callgrind.out.%%p" % tdir]
        else:
            wrap = ["strace", "-f", "-c", "-o", "%s/strace.txt" % tdir, "--"]
        p = self.start_proxy(proxy, "http", workers, plan, origin, "%s-%d" % (scen, n), wrap=wrap,
                             timeout=120, single=(scen == "callgrind"))
        try:
            url = self.url("http", p.port)
            self.load(plan, ["-c", "1", "-n", "100", "--timeout", "30s", url], 300)
            j, cmd = self.load(plan, ["-c", "1", "-n", str(n), "--timeout", "30s",
                                      "--check-status", "200", url], 600)
            if j["errors"]["total"] or j["check"]["mismatches"]:
                raise RuntimeError("errors under %s: %s" % (scen, j["errors"]))
            if len(cmds) < 3:
                cmds += [" ".join(p.cmd), " ".join(cmd)]
        finally:
            # Signal the proxy itself (under strace: the tracee, not strace) and let it exit
            # cleanly so the tool writes its totals.
            target = p.pid
            if scen == "strace":
                kids = [c for c in tree_pids(p.pid) if c != p.pid]
                target = kids[0] if kids else p.pid
            try:
                os.kill(target, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=120)
            except subprocess.TimeoutExpired:
                pass
            self.procs.stop(p)
        if scen == "callgrind":
            total = 0
            for f in os.listdir(tdir):
                with open(os.path.join(tdir, f)) as fh:
                    for line in fh:
                        if line.startswith("totals:") or line.startswith("summary:"):
                            total += int(line.split()[1])
                            break
            if not total:
                raise RuntimeError("no callgrind totals in %s" % tdir)
            return total
        with open(os.path.join(tdir, "strace.txt")) as fh:
            for line in fh:
                t = line.split()
                if t and t[-1] == "total":
                    return int(t[3])
        raise RuntimeError("no strace total in %s" % tdir)

    # -- remora-load against wrk and h2load --
    def scenario_agree(self):
        """Interleaved pairs (remora-load then the reference, then the other way round) on a
        fresh origin each run: the origin's own count of what it answered checks both tools."""
        plan = self.plan(1)
        secs = int(max(1, round(self.mode["dur"])))
        for key, _, oflags, lflags, tool, (c, m) in AGREE:
            if not shutil.which(tool):
                log("agree %s: %s is not installed" % (key, tool))
                continue
            ref = (["wrk", "-t1", "-c%d" % c, "-d%ds" % secs] if tool == "wrk" else
                   ["h2load", "-c", str(c), "-m", str(m), "-D", str(secs)])
            for rep in range(self.mode["reps"]):
                met = {}
                try:
                    for who in (("ours", tool) if rep % 2 == 0 else (tool, "ours")):
                        rps, count, served, wall, cmd = self.agree_run(key, rep, who, plan, oflags,
                                                                      lflags, ref, secs)
                        k = "ours" if who == "ours" else "ref"
                        met[k], met[k + "_count"] = rps, count
                        met[k + "_seen"] = count / float(served or 1)
                        met[k + "_origin_rps"] = served / wall
                        if rep == 0:
                            self.commands.setdefault(("agree", key + "-" + k), [" ".join(cmd)])
                except (RuntimeError, AttributeError, subprocess.TimeoutExpired, OSError) as e:
                    # AttributeError: the reference tool's output did not parse.
                    log("agree %s rep%d: FAILED: %s" % (key, rep, e))
                    self.record("agree", 1, key, rep, {}, note="failed: %s" % e)
                    continue
                met["ratio"] = met["ours"] / met["ref"] if met.get("ref") else None
                self.record("agree", 1, key, rep, met)
                log("agree %-7s rep%d remora-load=%.0f %s=%.0f ratio=%s" % (
                    key, rep, met["ours"], tool, met["ref"], report.fmt(met["ratio"])))

    def agree_run(self, key, rep, who, plan, oflags, lflags, ref, secs):
        """One client run on a fresh origin: (rps, responses, requests the origin answered,
        wall s, command)."""
        name = "agree-%s-r%d-%s" % (key, rep, "ours" if who == "ours" else who)
        cmd = [self.origin_bin, "--listen", "127.0.0.1:0", "--name", "origin", "--threads", "1"] + oflags
        o = self.procs.start(cmd, self.logpath(name), cpus=plan["proxy"], stdout=subprocess.PIPE)
        try:
            r, _, _ = select.select([o.stdout], [], [], 10)
            line = o.stdout.readline().decode() if r else ""
            mm = re.match(r"listening on 127\.0\.0\.1:(\d+)", line.strip())
            if not mm:
                raise RuntimeError("remora-origin did not start: %r" % line)
            url = "http://127.0.0.1:%s/" % mm.group(1)
            t0 = time.monotonic()
            if who == "ours":
                j, lcmd = self.load(plan, lflags + ["-d", "%ds" % secs, url], secs + 60)
                rps, count = j["rps"], j["responses"]
            else:
                lcmd = ["taskset", "-c", plan["load"]] + ref + [url]
                out = subprocess.run(lcmd, capture_output=True, text=True, timeout=secs + 60).stdout
                if who == "wrk":
                    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
                    count = int(re.search(r"(\d+) requests in ", out).group(1))
                else:
                    rps = float(re.search(r"finished in [\d.]+s, ([\d.]+) req/s", out).group(1))
                    count = int(re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded",
                                          out).group(1))
            wall = time.monotonic() - t0
        finally:
            self.procs.stop(o)
        with open(self.logpath(name)) as f:
            found = re.findall(r"after (\d+) requests", f.read())
        if not found:
            raise RuntimeError("remora-origin did not report its count (%s)" % self.logpath(name))
        return rps, count, int(found[-1]), wall, lcmd

    # -- main --
    def run(self):
        self.make_pki()
        self.t0 = time.time()
        self.load_start = open("/proc/loadavg").read().split()[:3]
        self.busy_start = cpu_busy()
        for workers in self.a.workers:
            for scen in self.a.scenarios:
                if scen in ONCE and workers != min(self.a.workers):
                    continue
                log("== %s, %d worker(s)" % (scen, workers))
                if scen.startswith("rss-"):
                    self.scenario_rss(scen, workers)
                elif scen in ONCE:
                    self.scenario_tool(scen, workers)
                else:
                    self.scenario_load(scen, workers)
        if self.a.agree:
            log("== agree: remora-load against wrk and h2load")
            self.scenario_agree()
        self.t1 = time.time()
        self.load_end = open("/proc/loadavg").read().split()[:3]
        self.busy_end = cpu_busy()


def cpu_stat():
    """{"cpuN": (all ticks, idle + iowait ticks, steal ticks)} from /proc/stat."""
    out = {}
    for line in open("/proc/stat"):
        t = line.split()
        if t[0].startswith("cpu") and t[0] != "cpu":
            v = [int(x) for x in t[1:]]
            out[t[0]] = (sum(v[:8]), v[3] + v[4], v[7] if len(v) > 7 else 0)
    return out


def busy_pct(a, b, cpu):
    """How busy CPU |cpu| (a taskset list entry such as "1") was between cpu_stat()s a and b, %."""
    c = "cpu" + cpu
    tot = b[c][0] - a[c][0]
    return 100.0 * (tot - (b[c][1] - a[c][1])) / tot if tot > 0 else None


def cpu_busy(seconds=1.0):
    """{cpu: (busy %, steal %)} over a short sample: what else the machine is doing."""
    a = cpu_stat()
    time.sleep(seconds)
    b = cpu_stat()
    res = {}
    for c in b:
        tot = b[c][0] - a[c][0]
        if tot > 0:
            res[c] = (100.0 * (tot - (b[c][1] - a[c][1])) / tot, 100.0 * (b[c][2] - a[c][2]) / tot)
    return res


def m_dur(mode):
    return max(mode["dur"], 1.0)


def hold_conns(kind, port, n, pki):
    """Opens n connections, makes one request (or one echo byte) on each, and returns them
    open. The proxy then holds n idle downstream connections (L4: n upstream ones too)."""
    ctx = None
    if kind == "tls":
        ctx = ssl.create_default_context(cafile=pki.ca)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    held = []
    try:
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            if ctx:
                s = ctx.wrap_socket(s, server_hostname="127.0.0.1")
            held.append(s)
            if kind == "tcp":
                s.sendall(b"x")
                if s.recv(1) != b"x":
                    raise RuntimeError("no echo")
                continue
            s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            buf = b""
            while b"\r\n\r\n" not in buf:
                d = s.recv(4096)
                if not d:
                    raise RuntimeError("closed before the response")
                buf += d
            head, _, body = buf.partition(b"\r\n\r\n")
            cl = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
            want = int(cl.group(1)) if cl else 0
            while len(body) < want:
                d = s.recv(4096)
                if not d:
                    raise RuntimeError("closed mid-body")
                body += d
    except BaseException:
        for s in held:
            s.close()
        raise
    return held


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=list(MODES), default="quick")
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--scenarios", default="all")
    ap.add_argument("--out", required=True, help="RESULTS.md and PNGs go here")
    ap.add_argument("--results-md", help="RESULTS.md path (default OUT/RESULTS.md)")
    ap.add_argument("--work", required=True, help="scratch: configs, logs, PKI, raw data")
    ap.add_argument("--build", default=os.path.join(ROOT, "build", "release"))
    ap.add_argument("--argv", default="", help="run.sh's arguments, for RESULTS.md")
    a = ap.parse_args()
    a.argv_shown = a.argv.split() if a.argv else ["--" + a.mode]
    a.workers = [int(w) for w in a.workers.split(",") if w.strip()]
    if a.scenarios == "all":
        a.scenarios, a.agree = ORDER, True
    else:
        a.scenarios = [s.strip() for s in a.scenarios.split(",") if s.strip()]
        a.agree = "agree" in a.scenarios
        bad = [s for s in a.scenarios if s not in SCENARIOS and s != "agree"]
        if bad:
            ap.error("unknown scenario(s): %s (known: %s)" % (", ".join(bad), ", ".join(ORDER + ["agree"])))
        a.scenarios = [s for s in ORDER if s in a.scenarios]  # open-loop after h1-small
    os.makedirs(a.out, exist_ok=True)

    b = Bench(a)
    # The harness itself (the idle-connection holder) runs beside the load generator.
    try:
        os.sched_setaffinity(0, {int(b.plan(min(a.workers))["load"])})
    except OSError:
        pass

    def on_signal(sig, frame):
        raise SystemExit(128 + sig)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    try:
        b.run()
    finally:
        b.procs.stop_all()
    raw = os.path.join(a.work, "raw.json")
    with open(raw, "w") as f:
        json.dump(dict(results=b.results, support={k: list(v) for k, v in b.support.items()},
                       rates=b.rates), f, indent=1)
    report.write(b, a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
