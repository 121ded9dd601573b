#!/usr/bin/env bash
# bench/run.sh — side-by-side benchmark: direct to origin, Remora, HAProxy, nginx.
#
#   bash bench/run.sh --quick                 # ~5 min: short runs, 2 interleaved runs per cell
#   bash bench/run.sh --full                  # ~40 min: 5 s runs, 5 interleaved runs per cell
#   bash bench/run.sh --quick --workers 1 --scenarios h1-small,l4 --out /tmp/b
#
# Options:
#   --quick | --full | --smoke   run length (default --quick; --smoke is for the test suite)
#   --workers LIST               worker counts, comma-separated (default 1,2)
#   --scenarios LIST             comma-separated (default all):
#       h1-small h1-16k h1-newconn h2 tls tls-hs mtls l4 open-loop open-loop-20k
#       rss-idle rss-load rss-conns callgrind strace agree (remora-load vs wrk, h2load)
#   --out DIR                    RESULTS.md + PNGs go to DIR (default: bench/RESULTS.md and
#                                bench/results/*.png); scratch (configs, logs, PKI, raw.json)
#                                goes to DIR/work (default build/bench-work)
#   --build DIR                  binaries (default build/release; built when missing)
#   --no-install                 do not apt-get install missing packages
#   --install-only               install missing packages and exit
#
# Installs missing Debian packages (haproxy, nginx + stream module, wrk, nghttp2-client,
# gnuplot-nox, valgrind, strace, openssl) with apt-get, only when missing. Every process the
# harness starts is killed by pid on exit. Loopback only; every run is bounded in time.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODE=quick
WORKERS=1,2
SCENARIOS=all
OUT=""
BUILD_DIR="$ROOT/build/release"
INSTALL=1
INSTALL_ONLY=0
ARGV="$*"

usage() { sed -n '2,/^[^#]/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --quick) MODE=quick ;;
    --full) MODE=full ;;
    --smoke) MODE=smoke ;;
    --workers) WORKERS="${2:?--workers needs a list}"; shift ;;
    --workers=*) WORKERS="${1#*=}" ;;
    --scenarios) SCENARIOS="${2:?--scenarios needs a list}"; shift ;;
    --scenarios=*) SCENARIOS="${1#*=}" ;;
    --out) OUT="${2:?--out needs a directory}"; shift ;;
    --out=*) OUT="${1#*=}" ;;
    --build) BUILD_DIR="${2:?--build needs a directory}"; shift ;;
    --no-install) INSTALL=0 ;;
    --install-only) INSTALL_ONLY=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

# ---- packages -------------------------------------------------------------------------------
PKGS="haproxy nginx libnginx-mod-stream wrk nghttp2-client gnuplot-nox valgrind strace openssl util-linux procps"

install_missing() {
  local missing="" p
  for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
  done
  # nginx-light also provides the nginx binary; its stream module is what L4 needs.
  if [ -n "$missing" ] && command -v nginx >/dev/null; then
    missing="$(echo "$missing" | sed 's/ nginx\b//')"
  fi
  [ -z "${missing// /}" ] && return 0
  echo "bench: installing$missing" >&2
  if [ "$(id -u)" != 0 ]; then
    echo "bench: need root to install:$missing" >&2
    return 1
  fi
  # Keep the packages' services from starting (their default configs would bind ports 80 etc.).
  local rcd=/usr/sbin/policy-rc.d made_rcd=0
  if [ ! -e "$rcd" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$rcd" && chmod +x "$rcd" && made_rcd=1
  fi
  local rc=0
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends $missing >/dev/null; } || rc=$?
  [ "$made_rcd" = 1 ] && rm -f "$rcd"
  if [ "$rc" != 0 ]; then
    echo "bench: apt-get install failed for:$missing" >&2
    return 1
  fi
}

if [ "$INSTALL" = 1 ]; then
  install_missing
fi
[ "$INSTALL_ONLY" = 1 ] && exit 0

for tool in taskset python3 openssl; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is missing" >&2; exit 1; }
done

# ---- binaries ---------------------------------------------------------------------------------
if [ ! -x "$BUILD_DIR/remora" ] || [ ! -x "$BUILD_DIR/bench/remora-load" ] || [ ! -x "$BUILD_DIR/bench/remora-origin" ]; then
  if [ "$BUILD_DIR" = "$ROOT/build/release" ]; then
    echo "bench: building release binaries" >&2
    make -C "$ROOT" --no-print-directory BUILD=release build/release/remora \
      build/release/bench/remora-load build/release/bench/remora-origin >&2
  else
    echo "bench: binaries missing in $BUILD_DIR" >&2
    exit 1
  fi
fi

# ---- output -----------------------------------------------------------------------------------
if [ -n "$OUT" ]; then
  mkdir -p "$OUT"
  OUT="$(cd "$OUT" && pwd)"
  WORK="$OUT/work"
  RESULTS_MD="$OUT/RESULTS.md"
else
  OUT="$ROOT/bench/results"
  WORK="$ROOT/build/bench-work"
  RESULTS_MD="$ROOT/bench/RESULTS.md"
fi
# The scratch directory is emptied only when it is ours (marked) or new.
if [ -d "$WORK" ] && [ -n "$(ls -A "$WORK")" ] && [ ! -f "$WORK/.remora-bench-work" ]; then
  echo "bench: $WORK exists and was not made by bench/run.sh; refusing to empty it" >&2
  exit 1
fi
rm -rf "$WORK"
mkdir -p "$OUT" "$WORK"
touch "$WORK/.remora-bench-work"
rm -f "$OUT"/throughput-w*.png "$OUT"/latency-w*.png

# 1000 idle connections per proxy need ~2000 descriptors (downstream + upstream).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# ---- cleanup: every pid the harness recorded is killed (its process group: nginx workers) ----
HARNESS_PID=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  if [ -n "$HARNESS_PID" ] && kill -0 "$HARNESS_PID" 2>/dev/null; then
    kill -TERM "$HARNESS_PID" 2>/dev/null || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$HARNESS_PID" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$HARNESS_PID" 2>/dev/null || true
  fi
  if [ -f "$WORK/pids" ]; then
    local pid
    while read -r pid; do
      [ -n "$pid" ] || continue
      # Only a process group that still has our pid as its leader (start_new_session).
      if [ "$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ')" = "$pid" ]; then
        kill -TERM -- "-$pid" 2>/dev/null || true
        sleep 0.2
        kill -KILL -- "-$pid" 2>/dev/null || true
      fi
    done <"$WORK/pids"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

echo "bench: mode $MODE, workers $WORKERS, scenarios $SCENARIOS; results in $RESULTS_MD" >&2
/usr/bin/python3 "$ROOT/bench/harness/bench.py" --mode "$MODE" --workers "$WORKERS" \
  --scenarios "$SCENARIOS" --out "$OUT" --results-md "$RESULTS_MD" --work "$WORK" \
  --build "$BUILD_DIR" --argv="${ARGV:---$MODE}" &
HARNESS_PID=$!
wait "$HARNESS_PID"
