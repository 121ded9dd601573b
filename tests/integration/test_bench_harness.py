# SPDX-License-Identifier: Apache-2.0
"""bench/run.sh end to end, in its --smoke mode: the L4 scenario (direct, Remora, HAProxy,
nginx) and idle RSS, one worker; and the agreement of remora-load with wrk and h2load. Proves
the harness starts every proxy on free loopback ports, measures, writes RESULTS.md with a row
per proxy and numeric medians, marks what Remora does not support yet as n/a (asking
`remora --mode validate`), plots with gnuplot, and leaves no process behind. About 10 s each
on the 2-core VM; bounded by a 120 s timeout.
"""
import os
import re
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("REMORA_BUILD_DIR", os.path.join(ROOT, "build", "release"))
RUN = os.path.join(ROOT, "bench", "run.sh")
TOOLS = ("haproxy", "nginx", "taskset", "openssl", "gnuplot", "wrk", "h2load")
NA = "n/a (not supported yet)"


def _need_tools():
    missing = [t for t in TOOLS if not shutil.which(t)]
    if missing or not os.path.exists("/usr/lib/nginx/modules/ngx_stream_module.so"):
        if os.geteuid() != 0:
            pytest.skip("bench tools missing and not root: %s" % " ".join(missing))
        # The harness installs what it needs from Debian (outside the timed run).
        subprocess.run(["bash", RUN, "--install-only"], check=True, timeout=900,
                       stdin=subprocess.DEVNULL)


def _table(md, heading_prefix):
    """Rows (lists of cells) of the first table after the heading that starts with the prefix."""
    lines = md.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(heading_prefix):
            rows = []
            for row in lines[i + 1:]:
                if row.startswith("#"):
                    break
                if row.startswith("|") and not row.startswith("|---"):
                    rows.append([c.strip() for c in row.strip().strip("|").split("|")])
            return rows
    raise AssertionError("no section %r in RESULTS.md:\n%s" % (heading_prefix, md))


def _num(cell):
    return re.fullmatch(r"-?\d+(\.\d+)?", cell) is not None


def _smoke(tmp_path, scenarios, bins, timeout=120):
    """bench/run.sh --smoke on |scenarios| with one worker: (RESULTS.md text, output dir)."""
    for b in bins:
        if not os.path.exists(os.path.join(BUILD, b)):
            pytest.skip("%s not built" % b)
    _need_tools()
    out = tmp_path / "bench"
    r = subprocess.run(["bash", RUN, "--smoke", "--no-install", "--scenarios", scenarios,
                        "--workers", "1", "--out", str(out), "--build", BUILD],
                       capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr[-4000:]
    return (out / "RESULTS.md").read_text(), out


def _none_left(out):
    """Every process the harness started is gone."""
    pids = [int(p) for p in (out / "work" / "pids").read_text().split()]
    assert pids
    alive = [p for p in pids if os.path.exists("/proc/%d" % p)
             and open("/proc/%d/stat" % p).read().split()[2] != "Z"]
    assert not alive, alive


def test_smoke_l4_and_idle_rss(tmp_path):
    md, out = _smoke(tmp_path, "l4,rss-idle", ("remora", "bench/remora-load", "bench/remora-origin"))

    l4 = _table(md, "### l4 ")
    assert l4[0][0] == "proxy"
    head = l4[0]
    rows = {row[0]: row for row in l4[1:]}
    assert set(rows) == {"direct", "Remora", "HAProxy", "nginx"}, l4
    busy, core = head.index("client + origin core busy (%)"), head.index("proxy CPU busy (cores)")
    for name, row in rows.items():
        # MiB/s and Gbit/s: numeric medians (Remora's TCP proxy is supported today).
        assert _num(row[1]) and _num(row[2]), (name, row)
        assert float(row[1]) > 1.0, (name, row)
        # Where the rate is set: the proxy's own core and the client + origin core, both
        # measured over the transfer, so both busy (> 0) and within their bounds.
        assert _num(row[core]) and 0 < float(row[core]) <= 1.5, (name, row)
        assert _num(row[busy]) and 0 < float(row[busy]) <= 100.5, (name, row)
        assert row[-1] == "0", ("errors", name, row)
    assert rows["direct"][head.index("÷ direct")] == "1.00×"
    goal = [row for row in _table(md, "## Goals") if row[0].startswith("L4 transfer")]
    assert goal and "client + origin core busy: direct" in goal[0][3], goal

    rss = _table(md, "### rss-idle ")
    rows = {row[0]: row for row in rss[1:]}
    assert set(rows) == {"Remora", "HAProxy", "nginx"}, rss
    for name, row in rows.items():
        assert _num(row[1]) and 0.1 < float(row[1]) < 1024, (name, row)   # TCP-proxy config, MiB
        for cell in row[2:4]:                                              # HTTP, TLS configs
            assert _num(cell) or (name == "Remora" and cell == NA), (name, row)

    summary = _table(md, "## Summary")
    assert {row[0] for row in summary[1:]} == {"l4", "rss-idle"}
    assert "## Machine and versions" in md and "HAProxy version" in md
    assert "## Exact commands" in md and "remora-load" in md
    assert (out / "throughput-w1.png").stat().st_size > 1000
    _none_left(out)


# Every scenario but those above, with the rows each must have: all four proxies where the
# direct connection is a reference, the three proxies where it is not.
OTHER = ("h1-small", "h1-16k", "h1-newconn", "h2", "tls", "tls-hs", "mtls", "open-loop",
         "open-loop-20k", "rss-load", "rss-conns", "callgrind", "strace")
if "asan" in os.path.basename(BUILD.rstrip("/")):
    # An ASan build of Remora serves ~3k req/s: it cannot sustain the open-loop rates (70% of
    # HAProxy's maximum, 20k/s), and the harness rightly fails those cells ("could not sustain
    # -R"); and valgrind cannot run an ASan binary (callgrind). The release build's run of this
    # test covers them.
    OTHER = tuple(s for s in OTHER if not s.startswith("open-loop") and s != "callgrind")
NO_DIRECT = {"rss-load", "rss-conns", "callgrind", "strace"}


def test_smoke_every_other_scenario(tmp_path):
    """Each scenario runs end to end on all proxies (Remora included: it speaks every front
    kind) and yields a numeric median with no errors; the goals table has every goal."""
    md, out = _smoke(tmp_path, ",".join(OTHER),
                     ("remora", "bench/remora-load", "bench/remora-origin"), timeout=600)
    for scen in OTHER:
        t = _table(md, "### %s " % scen)
        head, rows = t[0], {row[0]: row for row in t[1:]}
        want = {"Remora", "HAProxy", "nginx"} | (set() if scen in NO_DIRECT else {"direct"})
        assert set(rows) == want, (scen, t)
        for name, row in rows.items():
            cell = dict(zip(head, row))
            assert _num(row[1]) and float(row[1]) > 0, (scen, name, row)
            if "errors" in cell:
                assert cell["errors"] == "0", (scen, name, row)
    summary = {row[0] for row in _table(md, "## Summary")[1:]}
    assert summary == set(OTHER), summary
    goals = [row[0] for row in _table(md, "## Goals")[1:]]
    for g in ("HTTP/1.1 keep-alive rps, 1 worker ≥ 1.2× HAProxy", "instructions/request ≤ 0.8× nginx",
              "syscalls/request ≤ 6", "HTTP/2 rps ≥ 1.2× HAProxy", "per idle TLS connection ≤ 8 kB"):
        assert g in goals, (g, goals)
    assert (out / "throughput-w1.png").stat().st_size > 1000
    assert (out / "latency-w1.png").stat().st_size > 1000
    _none_left(out)


def test_smoke_agreement_with_wrk_and_h2load(tmp_path):
    """The `agree` scenario: remora-load and the reference tool on the same origin, each run's
    count held to the origin's own count, in a section of its own (no proxy rows)."""
    md, out = _smoke(tmp_path, "agree", ("bench/remora-load", "bench/remora-origin"))
    rows = _table(md, "## Load generator agreement")
    head, rows = rows[0], {row[0]: row for row in rows[1:]}
    assert len(rows) == 4, rows
    assert {row[head.index("reference")] for row in rows.values()} == {"wrk", "h2load"}
    for target, row in rows.items():
        cell = dict(zip(head, row))
        assert _num(cell["remora-load (req/s)"]) and float(cell["remora-load (req/s)"]) > 100, cell
        assert _num(cell["reference (req/s)"]) and float(cell["reference (req/s)"]) > 100, cell
        assert re.fullmatch(r"\d+\.\d\d×", cell["ratio"]), cell
        assert cell["within 10%"] in ("yes", "no"), cell
        # No tool may count more responses than the origin answered, and neither misses more
        # than the requests in flight when its window closed (at most 100 of thousands).
        for k in ("remora-load counted ÷ origin", "reference counted ÷ origin"):
            assert _num(cell[k]) and 0.9 <= float(cell[k]) <= 1.0, (k, cell)
        assert cell["pairs"] == "1", cell
    assert re.search(r"^taskset -c \d+ wrk -t1 -c20 -d1s http://127\.0\.0\.1:\d+/$", md, re.M), md
    _none_left(out)


def test_run_sh_help_is_the_header_only():
    """`bench/run.sh --help` prints the usage block at the top of the script and stops there
    (it once printed the script's first command too)."""
    p = subprocess.run(["bash", os.path.join(ROOT, "bench", "run.sh"), "--help"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0
    lines = p.stdout.rstrip("\n").split("\n")
    assert lines[0].startswith("bench/run.sh")
    assert "--quick" in p.stdout and "--scenarios LIST" in p.stdout
    assert "set -euo" not in p.stdout and not lines[-1].startswith("#")
