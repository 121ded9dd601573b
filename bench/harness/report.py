# SPDX-License-Identifier: Apache-2.0
"""RESULTS.md and the PNG plots (gnuplot) from the runs collected by bench.py."""
import datetime
import os
import platform
import shutil
import statistics
import subprocess

import proxies as px

NA = "n/a (not supported yet)"
THROUGHPUT = ["h1-small", "h1-16k", "h1-newconn", "h2", "tls", "tls-hs", "mtls", "l4"]


def fmt(v):
    if v is None:
        return "—"
    if isinstance(v, str):
        return v
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 100:
        return "%.0f" % v
    if a >= 10:
        return "%.1f" % v
    return "%.2f" % v


def ratio(a, b):
    if a is None or b is None or not isinstance(a, (int, float)) or not isinstance(b, (int, float)) \
            or b == 0:
        return None
    return a / b


def fmt_ratio(r):
    return "—" if r is None else "%.2f×" % r


def sh(cmd):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
        return (r.stdout + r.stderr).strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


class Table:
    """Medians per (scenario, workers, proxy, metric)."""

    def __init__(self, b):
        self.b = b
        self.runs = {}
        for r in b.results:
            self.runs.setdefault((r["scenario"], r["workers"], r["proxy"]), []).append(r)

    def samples(self, scen, w, proxy, key):
        return [r["metrics"][key] for r in self.runs.get((scen, w, proxy), [])
                if isinstance(r["metrics"].get(key), (int, float))]

    def median(self, scen, w, proxy, key):
        v = self.samples(scen, w, proxy, key)
        return statistics.median(v) if v else None

    def errors(self, scen, w, proxy):
        return sum(r["metrics"].get("errors", 0) or 0 for r in self.runs.get((scen, w, proxy), []))

    def ran(self, scen, w, proxy):
        return (scen, w, proxy) in self.runs

    def cell(self, scen, w, proxy, key):
        """The median, or why there is none."""
        if proxy == "remora" and not self.ran(scen, w, proxy) and self.b.remora_unsupported(scen, key):
            return NA
        if not self.ran(scen, w, proxy):
            return None
        m = self.median(scen, w, proxy, key)
        if m is None:
            notes = [r["note"] for r in self.runs[(scen, w, proxy)] if r.get("note")]
            if proxy == "remora" and self.b.remora_unsupported(scen, key):
                return NA
            return "failed" if notes else None
        return m


def derive(b, t):
    """Derived metrics: open-loop added p99 (proxy p99 - direct p99, median of pairs)."""
    for scen in ("open-loop", "open-loop-20k"):
        for w in b.a.workers:
            d = t.median(scen, w, "direct", "p99")
            for p in px.PROXIES:
                for r in t.runs.get((scen, w, p), []):
                    if d is not None and "p99" in r["metrics"]:
                        r["metrics"]["added_p99"] = r["metrics"]["p99"] - d


def plots(b, t, a, outdir, work):
    """throughput-wN.png (relative to direct) and latency-wN.png (percentiles). Returns names."""
    if not shutil.which("gnuplot"):
        return []
    import bench as bm
    made = []
    colors = {"direct": "#555555", "remora": "#1b9e77", "haproxy": "#d95f02", "nginx": "#7570b3"}
    for w in a.workers:
        scen = [s for s in THROUGHPUT if s in a.scenarios]
        if scen:
            dat = os.path.join(work, "throughput-w%d.dat" % w)
            with open(dat, "w") as f:
                f.write("# scenario remora haproxy nginx\n")  # a comment: not a data row
                for s in scen:
                    key = bm.SCENARIOS[s]["metrics"][0][0]
                    d = t.median(s, w, "direct", key)
                    row = [s]
                    for p in ("remora", "haproxy", "nginx"):
                        r = ratio(t.median(s, w, p, key), d)
                        row.append("%.3f" % r if r is not None else "?")
                    f.write(" ".join(row) + "\n")
            png = "throughput-w%d.png" % w
            gp = [
                "set terminal pngcairo size 860,420 font 'sans,10'",
                "set output '%s'" % os.path.join(outdir, png),
                "set datafile missing '?'",
                "set title 'Throughput relative to direct-to-origin, %d worker(s) (median of runs; 1.0 = direct)'" % w,
                "set style data histograms", "set style histogram clustered gap 1",
                "set style fill solid 0.85 border -1", "set boxwidth 0.9",
                "set yrange [0:*]", "set grid ytics", "set key top right",
                # The dashed 1.0 line is a function: without an x range it widens the axis
                # and leaves an empty slot before the first cluster.
                "set xrange [-0.6:%g]" % (len(scen) - 0.4),
                "set ylabel 'throughput / direct'",
                "plot '%s' using 2:xtic(1) title 'Remora' lc rgb '%s', '' using 3 title 'HAProxy' lc rgb '%s',"
                " '' using 4 title 'nginx' lc rgb '%s', 1 with lines dt 2 lc rgb '#555555' title 'direct'"
                % (dat, colors["remora"], colors["haproxy"], colors["nginx"]),
            ]
            if run_gnuplot(gp, work, "throughput-w%d" % w):
                made.append(png)
        src = "open-loop" if "open-loop" in a.scenarios else ("h1-small" if "h1-small" in a.scenarios else None)
        if src:
            pcts = [("p50", 50), ("p90", 90), ("p99", 99), ("p99_9", 99.9), ("p99_99", 99.99)]
            dat = os.path.join(work, "latency-w%d.dat" % w)
            have = []
            with open(dat, "w") as f:
                f.write("pct direct remora haproxy nginx\n")
                for k, label in pcts:
                    row = ["p%s" % label]
                    for p in px.PROXIES:
                        v = t.median(src, w, p, k)
                        row.append("%d" % v if v is not None else "?")
                        if v is not None and p not in have:
                            have.append(p)
                    f.write(" ".join(row) + "\n")
            if have:
                png = "latency-w%d.png" % w
                rate = b.rates.get(w)
                title = ("Open-loop latency at %d req/s" % rate) if src == "open-loop" and rate else \
                    "Closed-loop latency, HTTP/1.1 keep-alive"
                series = []
                for i, p in enumerate(px.PROXIES):
                    if p in have:
                        series.append("'%s' using %d:xtic(1) title '%s' with linespoints lw 2 pt 7 lc rgb '%s'"
                                      % (dat if not series else "", i + 2, px.LABEL[p], colors[p]))
                gp = [
                    "set terminal pngcairo size 860,420 font 'sans,10'",
                    "set output '%s'" % os.path.join(outdir, png),
                    "set datafile missing '?'",
                    "set title '%s, %d worker(s): latency percentiles (µs, median of runs)'" % (title, w),
                    "set logscale y", "set grid ytics", "set key top left", "set ylabel 'µs'",
                    "plot " + ", ".join(series),
                ]
                if run_gnuplot(gp, work, "latency-w%d" % w):
                    made.append(png)
    return made


def run_gnuplot(lines, work, name):
    gp = os.path.join(work, name + ".gp")
    with open(gp, "w") as f:
        f.write("\n".join(lines) + "\n")
    r = subprocess.run(["gnuplot", gp], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        with open(os.path.join(work, name + ".gp.err"), "w") as f:
            f.write(r.stderr)
        return False
    return True


def machine():
    cpu = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = "%.1f GiB" % (int(line.split()[1]) / 1048576.0)
    except OSError:
        pass
    osr = ""
    try:
        for line in open("/etc/os-release"):
            if line.startswith("PRETTY_NAME="):
                osr = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return dict(nproc=os.cpu_count(), cpu=cpu, mem=mem, kernel=platform.release(), os=osr)


def versions(b):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    rev = sh(["git", "-C", root, "rev-parse", "--short", "HEAD"])
    # The run's own output (RESULTS.md, the plots) is rewritten by the run: not a change.
    dirty = sh(["git", "-C", root, "status", "--porcelain", "--untracked-files=no", "--", ".",
                ":!bench/RESULTS.md", ":!bench/results"])
    v = [
        ("Remora", "%s (git %s%s)" % (sh([b.bin, "--version"]).splitlines()[0] if sh([b.bin, "--version"]) else "?",
                                       rev or "?", ", with uncommitted changes" if dirty else "")),
        ("HAProxy", sh(["haproxy", "-v"]).splitlines()[0] if sh(["haproxy", "-v"]) else "?"),
        ("nginx", sh(["nginx", "-v"]).splitlines()[0] if sh(["nginx", "-v"]) else "?"),
        ("wrk", (sh(["wrk", "-v"]).splitlines() or ["?"])[0]),
        ("nghttp2-client", (sh(["h2load", "--version"]).splitlines() or ["?"])[0]),
        ("OpenSSL", sh(["openssl", "version"])),
        ("valgrind", sh(["valgrind", "--version"])),
        ("strace", (sh(["strace", "-V"]).splitlines() or ["?"])[0]),
        ("gnuplot", sh(["gnuplot", "--version"])),
        ("python3", platform.python_version()),
        ("remora-load / remora-origin", "built from this tree (bench/load, bench/origin)"),
    ]
    return v


def goals(b, t, a):
    """The issue's targets, checked against the medians where they can be."""
    w1 = 1 if 1 in a.workers else min(a.workers)
    w2 = 2 if 2 in a.workers else None
    rows = []

    def add(goal, val, ok, detail=""):
        rows.append((goal, val, ok, detail))

    def rem(scen, w, key):
        return t.cell(scen, w, "remora", key)

    def check(goal, scen, w, key, ref, op, limit, how):
        if scen not in a.scenarios or w is None:
            return add(goal, "not run", None)
        v = rem(scen, w, key)
        if v == NA:
            return add(goal, NA, None)
        if not isinstance(v, (int, float)):
            return add(goal, "no data", None)
        if ref:
            r = t.median(scen, w, ref, key)
            if r is None:
                return add(goal, "no %s data" % ref, None)
            val = v / r
            shown = "%.2f× (%s vs %s)" % (val, fmt(v), fmt(r))
        else:
            val = v
            shown = fmt(v)
        ok = val >= limit if op == ">=" else val <= limit
        add(goal, shown, ok, how)

    def cpu_split(scen, w, unit):
        """'proxy CPU per <unit>: Remora 18.0 µs (user 3.1), ...': how much of each proxy's CPU
        is its own code, and how much the kernel work that every proxy pays alike."""
        parts = []
        for p in ("remora", "haproxy", "nginx"):
            c, u = t.median(scen, w, p, "cpu_us"), t.median(scen, w, p, "user_us")
            if isinstance(c, (int, float)):
                parts.append("%s %s µs%s" % (px.LABEL[p], fmt(c),
                                             " (user %s)" % fmt(u) if isinstance(u, (int, float)) else ""))
        return ("proxy CPU per %s: " % unit + ", ".join(parts)) if parts else ""

    h1cpu = cpu_split("h1-small", w1, "request") if "h1-small" in a.scenarios else ""
    check("HTTP/1.1 keep-alive rps, 1 worker ≥ 1.2× HAProxy", "h1-small", w1, "rps", "haproxy", ">=", 1.2, h1cpu)
    check("HTTP/1.1 keep-alive rps, 1 worker ≥ 1.3× nginx", "h1-small", w1, "rps", "nginx", ">=", 1.3, "")
    check("HTTP/1.1 keep-alive rps, 1 worker ≥ 0.6× direct", "h1-small", w1, "rps", "direct", ">=", 0.6, "")
    check("added p99 at 20k req/s open loop ≤ 0.8× HAProxy's", "open-loop-20k", w1, "added_p99",
          "haproxy", "<=", 0.8, "the issue's fixed rate")
    check("added p99 at 70% of HAProxy's max ≤ 0.8× HAProxy's (informative)", "open-loop", w1,
          "added_p99", "haproxy", "<=", 0.8, "%s req/s" % b.rates.get(w1, "?"))
    check("instructions/request ≤ 0.8× nginx", "callgrind", min(a.workers), "ir_per_req", "nginx", "<=", 0.8, "")
    check("syscalls/request ≤ 6", "strace", min(a.workers), "sys_per_req", None, "<=", 6, "1 connection: no batching")
    if w2:
        check("idle RSS, TCP-proxy config, --concurrency 2 ≤ 4 MiB", "rss-idle", w2, "idle_tcp", None, "<=", 4.0,
              "MiB, one listener + admin (the default config's shape)")
    else:
        add("idle RSS, --concurrency 2 ≤ 4 MiB", "not run", None)
    check("per idle plain (HTTP keep-alive) connection ≤ 2 kB", "rss-conns", w1, "conn_http", None, "<=", 2048, "bytes")
    check("per idle L4 connection pair ≤ 2 kB (informative)", "rss-conns", w1, "conn_tcp", None, "<=", 2048,
          "bytes, downstream + upstream socket")
    check("per idle TLS connection ≤ 8 kB", "rss-conns", w1, "conn_tls", None, "<=", 8192, "bytes")
    check("HTTP/2 rps ≥ 1.2× HAProxy", "h2", w1, "rps", "haproxy", ">=", 1.2,
          cpu_split("h2", w1, "request") if "h2" in a.scenarios else "")
    check("TLS handshakes/s ≥ 1.5× nginx (per proxy CPU-second)", "tls-hs", w1, "hs_per_cpu", "nginx",
          ">=", 1.5, "handshakes per second of the proxy's own CPU: the client's core saturates first "
          "on 2 CPUs (bench/README.md); " + (cpu_split("tls-hs", w1, "handshake")
                                             if "tls-hs" in a.scenarios else ""))
    check("TLS handshakes/s ≥ 1.5× nginx (wall clock, informative)", "tls-hs", w1, "rps", "nginx",
          ">=", 1.5, "bounded by the load generator's core")
    def l4_cores(w):
        """Where the L4 rate is set: the client + origin core's busy share per row, and the
        proxy's own CPU (a proxy that is the bottleneck runs its core near 1.0)."""
        parts = []
        for p in ("direct", "remora", "haproxy", "nginx"):
            b, u = t.median("l4", w, p, "load_busy"), t.median("l4", w, p, "cpu_util")
            if isinstance(b, (int, float)):
                parts.append("%s %.0f%%" % (px.LABEL[p], b) +
                             (" (proxy core %.2f)" % u if p != "direct" and isinstance(u, (int, float)) else ""))
        return ("client + origin core busy: " + ", ".join(parts)) if parts else ""

    check("L4 transfer ≥ 0.9× direct", "l4", w1, "mibps", "direct", ">=", 0.9,
          l4_cores(w1) if "l4" in a.scenarios else "")
    return rows


def agreement(b, t):
    """The section comparing remora-load with wrk and h2load on the same origin."""
    import bench as bm
    L = ["## Load generator agreement (remora-load against wrk and h2load)", ""]
    L.append("The same remora-origin (no proxy) loaded by remora-load and by the reference tool in "
             "%d interleaved pair(s) of %d s runs (remora-load first, then the reference, then the "
             "other way round), 1 thread each, the client on CPU %s and a fresh origin on CPU %s "
             "every run. *ratio* is the median of the per-pair rate ratios. *counted ÷ origin* "
             "is each tool's count of responses over the origin's own count of the requests it "
             "answered in that run (the median): the ground truth for both tools."
             % (b.mode["reps"], int(max(1, round(b.mode["dur"]))), b.plan(1)["load"], b.plan(1)["proxy"]))
    L.append("")
    L.append("| target | remora-load (req/s) | reference | reference (req/s) | ratio | within 10% | "
             "remora-load counted ÷ origin | reference counted ÷ origin | pairs |")
    L.append("|---|---|---|---|---|---|---|---|---|")
    for key, title, _, _, tool, _ in bm.AGREE:
        runs = t.runs.get(("agree", 1, key), [])
        if not runs:
            L.append("| %s | not run | %s | — | — | — | — | — | 0 |" % (title, tool))
            continue
        r = t.median("agree", 1, key, "ratio")
        L.append("| %s | %s | %s | %s | %s | %s | %s | %s | %d |" % (
            title, fmt(t.median("agree", 1, key, "ours")), tool, fmt(t.median("agree", 1, key, "ref")),
            fmt_ratio(r), "—" if r is None else ("yes" if 0.9 <= r <= 1.1 else "no"),
            fmt4(t.median("agree", 1, key, "ours_seen")), fmt4(t.median("agree", 1, key, "ref_seen")),
            len(t.samples("agree", 1, key, "ratio"))))
    L.append("")
    L.append("On the 2 ms targets the origin sets the capacity, so the rates must agree. On the "
             "CPU-bound (0-byte) targets each client runs its core at 100% and its own cost per "
             "request sets the rate: remora-load spends less CPU per request than wrk and h2load "
             "(for one, it writes the next request at once where wrk waits for a writable event), "
             "so it gets more responses out of the same origin, and the origin's count confirms "
             "them. bench/README.md (*Agreement with wrk and h2load*) has the details; "
             "tests/integration/test_bench_tools.py asserts the same comparison over 7 pairs.")
    L.append("")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    cmds = [c.replace(root + "/", "") for key, _, _, _, _, _ in bm.AGREE for k in ("ours", "ref")
            for c in b.commands.get(("agree", key + "-" + k), [])]
    if cmds:
        L.append("Client commands (first pair; the origin is `remora-origin --listen 127.0.0.1:0 "
                 "--threads 1` with `--latency-ms 2` or `--size 0`):")
        L.append("")
        L.append("```")
        L += cmds
        L.append("```")
        L.append("")
    return L


def fmt4(v):
    return "—" if v is None else "%.4f" % v


def fmt_busy(busy):
    return ", ".join("%s %.0f%% / %.0f%%" % (c, v[0], v[1]) for c, v in sorted(busy.items())) or "?"


def noisy(b):
    """True when something else kept a CPU busy around the run."""
    return any(v[0] > 15 for v in list(b.busy_start.values()) + list(b.busy_end.values()))


def write(b, a):
    import bench as bm
    t = Table(b)
    derive(b, t)
    work = a.work
    made = plots(b, t, a, a.out, work)
    md_path = a.results_md or os.path.join(a.out, "RESULTS.md")
    img_prefix = os.path.relpath(a.out, os.path.dirname(os.path.abspath(md_path)))
    img_prefix = "" if img_prefix == "." else img_prefix + "/"
    mach = machine()
    L = []
    L.append("# Remora benchmark results")
    L.append("")
    L.append("Generated by `bench/run.sh %s` on %s (%.0f s). Do not edit: re-run the harness."
             % (" ".join(a.argv_shown), datetime.datetime.utcfromtimestamp(b.t0).strftime("%Y-%m-%d %H:%M UTC"),
                b.t1 - b.t0))
    L.append("")
    L.append("Mode **%s**: %g s measured after %g s warm-up per run, %d run(s) per proxy per cell, "
             "interleaved (direct, Remora, HAProxy, nginx, direct, Remora, ...); a cell is the median "
             "of its runs. Worker counts: %s. Ratios are medians divided by medians."
             % (a.mode, b.mode["dur"], b.mode["warm"], b.mode["reps"], ", ".join(map(str, a.workers))))
    L.append("")
    if noisy(b):
        L.append("**Warning**: other processes kept a CPU busy before or after this run (see "
                 "*other CPU use* under Machine): the absolute numbers are depressed and noisier; "
                 "the interleaved ratios are the more reliable part.")
        L.append("")
    unsupported = sorted(k for k, (ok, _) in b.support.items() if not ok)
    if unsupported:
        L.append("**Remora**: cells marked *%s* are scenarios whose generated config "
                 "`remora --mode validate` refuses today:" % NA)
        L.append("")
        for k in unsupported:
            L.append("- front `%s`: `%s`" % (k, b.support[k][1].replace("`", "'")))
        L.append("")
        L.append("They are run automatically once Remora accepts the config.")
        L.append("")

    # -- summary --
    L.append("## Summary (main metrics per scenario)")
    L.append("")
    L.append("| scenario | workers | metric | direct | Remora | HAProxy | nginx | Remora ÷ direct | "
             "Remora ÷ HAProxy | Remora ÷ nginx |")
    L.append("|---|---|---|---|---|---|---|---|---|---|")
    for scen in a.scenarios:
        s = bm.SCENARIOS[scen]
        shown = [m for m in s["metrics"] if m is s["metrics"][0] or m[0] in bm.SUMMARY_EXTRA.get(scen, ())]
        for (key, label, unit, better), w in [(m, w) for m in shown for w in a.workers]:
            if scen in bm.ONCE and w != min(a.workers):
                continue
            cells = {p: t.cell(scen, w, p, key) for p in px.PROXIES}
            if scen in bm.NO_DIRECT:
                cells["direct"] = None
            if key == "added_p99":
                cells["direct"] = 0
            rr = [fmt_ratio(ratio(cells["remora"], cells[q])) for q in ("direct", "haproxy", "nginx")]
            L.append("| %s | %d | %s (%s, %s) | %s | %s | %s | %s | %s | %s | %s |" % (
                scen, w, label, unit, "higher is better" if better == "up" else "lower is better",
                fmt(cells["direct"]), fmt(cells["remora"]), fmt(cells["haproxy"]), fmt(cells["nginx"]),
                rr[0], rr[1], rr[2]))
    L.append("")

    # -- goals --
    L.append("## Goals from the issue")
    L.append("")
    L.append("| goal | Remora (median) | status | note |")
    L.append("|---|---|---|---|")
    for goal, val, ok, detail in goals(b, t, a):
        st = "met" if ok is True else ("not met" if ok is False else "—")
        L.append("| %s | %s | %s | %s |" % (goal, val, st, detail))
    L.append("")

    if made:
        L.append("## Plots")
        L.append("")
        for m in made:
            L.append("![%s](%s%s)" % (m[:-4], img_prefix, m))
            L.append("")

    # -- per scenario --
    L.append("## Per scenario")
    L.append("")
    L.append("Each row is one proxy; the ratio columns compare the row's primary metric (first "
             "column) with the same metric of direct, HAProxy and nginx. *spread* is "
             "(max − min) / median of the primary metric over the runs.")
    L.append("")
    for scen in a.scenarios:
        s = bm.SCENARIOS[scen]
        for w in a.workers:
            if scen in bm.ONCE and w != min(a.workers):
                continue
            title = s["title"]
            if scen == "open-loop" and b.rates.get(w):
                title += ": %d req/s" % b.rates[w]
            if scen == "rss-conns":
                title = title.replace("N idle", "%d idle" % b.mode["conns"])
            L.append("### %s — %s, %d worker(s)" % (scen, title, w))
            L.append("")
            hdr = ["proxy"] + ["%s (%s)" % (lab, unit) for _, lab, unit, _ in s["metrics"]]
            refs = [q for q in ("direct", "haproxy", "nginx") if not (q == "direct" and scen in bm.NO_DIRECT)]
            hdr += ["÷ %s" % px.LABEL[q] for q in refs] + ["runs", "spread", "errors"]
            L.append("| " + " | ".join(hdr) + " |")
            L.append("|" + "---|" * len(hdr))
            key0 = s["metrics"][0][0]
            for p in px.PROXIES:
                if p == "direct" and scen in bm.NO_DIRECT:
                    continue
                row = [px.LABEL[p]]
                for key, _, _, _ in s["metrics"]:
                    if p == "direct" and key == "added_p99":
                        row.append("0")
                        continue
                    row.append(fmt(t.cell(scen, w, p, key)))
                v0 = t.cell(scen, w, p, key0)
                for q in refs:
                    row.append(fmt_ratio(ratio(v0, t.cell(scen, w, q, key0))))
                smp = t.samples(scen, w, p, key0)
                row.append(str(len(smp)) if smp else "0")
                if len(smp) > 1 and statistics.median(smp):
                    row.append("%.0f%%" % (100.0 * (max(smp) - min(smp)) / abs(statistics.median(smp))))
                else:
                    row.append("—")
                row.append(str(t.errors(scen, w, p)) if t.ran(scen, w, p) else "—")
                L.append("| " + " | ".join(row) + " |")
            L.append("")

    if getattr(a, "agree", False):
        L += agreement(b, t)

    # -- methodology --
    L.append("## Methodology")
    L.append("")
    plan_lines = []
    for w in a.workers:
        pl = b.plan(w)
        plan_lines.append("- %d worker(s): proxy on CPU %s; remora-load on CPU %s; remora-origin on CPU %s. "
                          "The direct baseline uses the same CPUs for the load generator and the origin "
                          "(the proxy's CPU stays idle)." % (w, pl["proxy"], pl["load"], pl["origin"]))
    L += plan_lines
    if (mach["nproc"] or 0) < 4:
        L.append("- With %s CPUs the load generator and the origin share one CPU, so *direct* is the "
                 "limit of that CPU (client + origin work per request), and a proxy on its own CPU can "
                 "at best match it. At 2 workers the proxy's threads/processes may also use the load "
                 "CPU: the 2-worker numbers compare proxies with each other, not with the 1-worker ones. "
                 "In the TLS handshake scenarios the proxy takes the server half of every handshake "
                 "off the load CPU, so a proxy can exceed *direct* there. Direct has no cross-CPU hop, "
                 "which is part of why its tail latency is lower."
                 % mach["nproc"])
    L += [
        "- Topology: `remora-load → proxy → remora-origin`, all on 127.0.0.1, or `remora-load → "
        "remora-origin` (direct). Every proxy is started afresh for each run on free ports, checked "
        "with 20 requests (`--check-status 200`), measured, and stopped. The origin (1 thread) stays "
        "up for the whole scenario. TLS scenarios terminate TLS 1.3 at the proxy (ECDSA P-256 test "
        "PKI made with openssl) and talk plain HTTP/1.1 to the origin; *direct* talks TLS to a TLS "
        "origin. The HTTP/2 scenario is h2c with prior knowledge downstream, HTTP/1.1 upstream.",
        "- Equal configuration: the same worker count (HAProxy `nbthread`, nginx `worker_processes`, "
        "Remora `--concurrency`), upstream keep-alive (HAProxy `option http-keep-alive` + `http-reuse "
        "always` + `server ... maxconn 1000`; nginx `upstream { keepalive 128; }` + "
        "`proxy_http_version 1.1` + `proxy_set_header Connection \"\"`; Remora/Envoy connection "
        "pools), no access logs, nginx `keepalive_requests` raised so that no proxy closes client "
        "connections during a run. The generated configs are in the work directory (`configs/`); "
        "one of each is reproduced at the end of this page.",
        "- Load: remora-load, 1 thread, closed loop unless stated; latency from the request write "
        "(new-connection scenarios: from before the connect). Open loop: `-R` at 70% of HAProxy's "
        "closed-loop median for the same worker count, latency from the intended send time "
        "(coordinated-omission corrected). *added p99* is a proxy's p99 minus the direct p99.",
        "- RSS: the sum of `VmRSS` over the proxy's processes (nginx: master + workers, so shared "
        "pages count once per process), from `/proc/PID/status`. Idle: 0.5 s after the listener "
        "accepts, before any traffic. Under load: the peak of samples every 50 ms during a run. Per "
        "connection: (RSS with N connections held − RSS before) / N, each connection having made "
        "one request (L4: echoed one byte, so the upstream connection exists too).",
        "- Instructions per request: the proxy runs under `valgrind --tool=callgrind "
        "--trace-children=yes`; two runs make the same start-up and warm-up (100 requests) and then "
        "%d or %d requests on one keep-alive connection; (Ir₂ − Ir₁) / %d counts user-space "
        "instructions of all the proxy's processes and threads for one request, with start-up, "
        "connection set-up and shutdown cancelled out. Syscalls per request: the same with `strace "
        "-f -c`; one connection at a time means no batching (epoll returns one event), so it is "
        "the un-batched cost." % (b.mode["cg"][0], b.mode["cg"][1], b.mode["cg"][1] - b.mode["cg"][0]),
        "- Noise: the machine is shared (see the load average below); interleaving spreads drift "
        "over every proxy alike and *spread* shows how far runs disagreed. Quick runs (`--quick`) "
        "are indicative; `--full` (5 runs of 5 s per cell) is the one to quote.",
        "",
    ]

    L.append("## Machine and versions")
    L.append("")
    L.append("| | |")
    L.append("|---|---|")
    L.append("| date | %s |" % datetime.datetime.utcfromtimestamp(b.t0).strftime("%Y-%m-%d %H:%M:%S UTC"))
    L.append("| CPU | %s, %s online CPUs (nproc) |" % (mach["cpu"], mach["nproc"]))
    L.append("| memory | %s |" % mach["mem"])
    L.append("| kernel | %s |" % mach["kernel"])
    L.append("| OS | %s |" % mach["os"])
    L.append("| load average (1/5/15 min) | %s at start, %s at end |"
             % (" ".join(b.load_start), " ".join(b.load_end)))
    L.append("| other CPU use (1 s sample, busy / steal) | before: %s; after: %s |"
             % (fmt_busy(b.busy_start), fmt_busy(b.busy_end)))
    for name, v in versions(b):
        L.append("| %s | %s |" % (name, v.replace("\n", "; ").replace("|", "/")))
    L.append("")

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    L.append("## Exact commands")
    L.append("")
    L.append("Run from the repository root. Ports are picked free for every run and paths point "
             "into the work directory; the commands below are those of each scenario's first run. "
             "wrk is installed and versioned for cross-checks only: the load generator is "
             "remora-load (its agreement with wrk and h2load is measured above, under *Load "
             "generator agreement*, when that scenario ran, and tested, see bench/README.md).")
    L.append("")
    L.append("```")
    L.append("bash bench/run.sh %s" % " ".join(a.argv_shown))
    for scen in a.scenarios:
        for p in px.PROXIES:
            cmds = b.commands.get((scen, p))
            if not cmds:
                continue
            L.append("")
            L.append("# %s, %s" % (scen, px.LABEL[p]))
            for c in cmds:
                L.append(c.replace(root + "/", ""))
    L.append("```")
    L.append("")

    L.append("## Generated configurations (one of each)")
    L.append("")
    cdir = os.path.join(work, "configs")
    shown = set()
    for prefix, lang in (("remora-", "yaml"), ("haproxy-", ""), ("nginx-", "nginx")):
        for kind_scen in ("h1-small-w1-r0", "tls-w1-r0", "l4-w1-r0", "rss-idle-tcp-w1-r0"):
            for ext in (".yaml", ".cfg", ".conf"):
                f = os.path.join(cdir, prefix + kind_scen + ext)
                if os.path.exists(f) and (prefix, kind_scen.split("-w")[0]) not in shown:
                    shown.add((prefix, kind_scen.split("-w")[0]))
                    L.append("<details><summary>%s</summary>" % os.path.basename(f))
                    L.append("")
                    L.append("```%s" % lang)
                    L.append(open(f).read().rstrip())
                    L.append("```")
                    L.append("</details>")
                    L.append("")
    with open(md_path, "w") as f:
        f.write("\n".join(L) + "\n")
    sys_stderr("[bench] wrote %s%s" % (md_path, (" and " + ", ".join(made)) if made else ""))


def sys_stderr(msg):
    import sys
    sys.stderr.write(msg + "\n")
