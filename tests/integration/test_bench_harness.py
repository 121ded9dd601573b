# SPDX-License-Identifier: Apache-2.0
"""bench/run.sh end to end, in its --smoke mode: the L4 scenario (direct, Remora, HAProxy,
nginx) and idle RSS, one worker. Proves the harness starts every proxy on free loopback ports,
measures, writes RESULTS.md with a row per proxy and numeric medians, marks what Remora does
not support yet as n/a (asking `remora --mode validate`), plots with gnuplot, and leaves no
process behind. About 10 s on the 2-core VM; bounded by a 120 s timeout.
"""
import os
import re
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("REMORA_BUILD_DIR", os.path.join(ROOT, "build", "release"))
RUN = os.path.join(ROOT, "bench", "run.sh")
TOOLS = ("haproxy", "nginx", "taskset", "openssl", "gnuplot")
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


def test_smoke_l4_and_idle_rss(tmp_path):
    for b in ("remora", "bench/remora-load", "bench/remora-origin"):
        if not os.path.exists(os.path.join(BUILD, b)):
            pytest.skip("%s not built" % b)
    _need_tools()
    out = tmp_path / "bench"
    r = subprocess.run(["bash", RUN, "--smoke", "--no-install", "--scenarios", "l4,rss-idle",
                        "--workers", "1", "--out", str(out), "--build", BUILD],
                       capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr[-4000:]
    md = (out / "RESULTS.md").read_text()

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

    # Every process the harness started is gone.
    pids = [int(p) for p in (out / "work" / "pids").read_text().split()]
    assert pids
    alive = [p for p in pids if os.path.exists("/proc/%d" % p)
             and open("/proc/%d/stat" % p).read().split()[2] != "Z"]
    assert not alive, alive
