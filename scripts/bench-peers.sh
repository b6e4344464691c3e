#!/usr/bin/env bash
# Side-by-side scene-loading benchmark: renewtwin against web-ifc and IfcOpenShell, on the
# same files in the same run, through the peer harness (../shared/bench-peers), then the
# ratios ours / theirs (wall time and peak memory) per file.
#
#   scripts/bench-peers.sh                          # the corpus (../shared/corpus/ifc)
#   scripts/bench-peers.sh my/model.ifc my/dir/     # your own files and folders (*.ifc)
#   scripts/bench-peers.sh -n 1 -t 120 -o out/ my.ifc
#
# Options (passed to the harness): -n RUNS (default 3, median reported), -t TIMEOUT_S per run
# (default 300), --tools a,b (default web-ifc,ifcopenshell,renewtwin), -o DIR (default
# target/bench-peers/DATE). DIR gets table.md, results.jsonl and runs.jsonl from the harness
# and ratios.md from this script.
#
# Environment: BENCH_PEERS (the harness folder, default ../shared/bench-peers beside the
# repository), BENCH_PEERS_WORK (where a read-only harness is copied to install its peers,
# default ${XDG_CACHE_HOME:-~/.cache}/renewtwin/bench-peers), RENEWTWIN_CORPUS. Everything
# the harness reads (IFCOS_THREADS, WEBIFC_SETTINGS, ...) passes through.
#
# Needs cargo, node + npm and python3 (3.9-3.13); the first run installs web-ifc from npm
# and IfcOpenShell from PyPI into the harness copy (about a minute).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
harness="${BENCH_PEERS:-$repo/../shared/bench-peers}"
work="${BENCH_PEERS_WORK:-${XDG_CACHE_HOME:-$HOME/.cache}/renewtwin/bench-peers}"

[[ -f "$harness/run.sh" ]] || { echo "error: no peer harness at $harness (set BENCH_PEERS)" >&2; exit 2; }

# Harness options; the rest are files or folders.
args=() files=() out=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    -n|-t|--tools) args+=("$1" "$2"); shift 2 ;;
    -o) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) files+=("$1"); shift ;;
  esac
done
if [[ ${#files[@]} -eq 0 ]]; then
  files=("${RENEWTWIN_CORPUS:-$repo/../shared/corpus}/ifc")
fi
out="${out:-$repo/target/bench-peers/$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$out"

echo "building renewtwin (release) ..." >&2
(cd "$repo" && cargo build --release --bin renewtwin --quiet)
target_dir="$(cd "$repo" && cargo metadata --format-version 1 --no-deps \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
bin="$target_dir/release/renewtwin"
[[ -x "$bin" ]] || { echo "error: $bin was not built" >&2; exit 1; }

# The harness installs its peers into ./.peers beside itself: use it in place when it is
# writable, else a copy (refreshed when the harness changes; installed peers are kept).
if [[ -w "$harness" ]]; then
  here="$harness"
else
  mkdir -p "$work"
  for f in "$harness"/*; do
    name="$(basename "$f")"
    if [[ -d "$f" ]]; then
      rm -rf "${work:?}/$name"; cp -r "$f" "$work/$name"
    elif ! cmp -s "$f" "$work/$name"; then
      rm -f "$work/$name"; cp "$f" "$work/$name"
    fi
  done
  chmod -R u+w "$work"
  here="$work"
fi
echo "installing or checking the peers in $here/.peers ..." >&2
"$here/setup.sh" >&2

{
  echo "# $(date -u +%FT%TZ) on $(uname -n): $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB"
  echo "# renewtwin $(cd "$repo" && git rev-parse --short HEAD)$(cd "$repo" && git diff --quiet HEAD -- importers twin server cli || echo '+local changes'), $(rustc --version)"
  echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$out/machine.txt" >&2

OURS_NAME=renewtwin OURS_CMD="'$bin' inspect {file} --peer-json" \
  "$here/run.sh" "${args[@]}" -o "$out" "${files[@]}" > "$out/harness-stdout.txt"

python3 - "$out/results.jsonl" > "$out/ratios.md" <<'PY'
import json, statistics, sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by_file = {}
for r in rows:
    by_file.setdefault(r["file"], {})[r["tool"]] = r
peers = ["web-ifc", "ifcopenshell"]

def ok(r):
    return r is not None and not r.get("error") and isinstance(r.get("total_s"), (int, float))

def mem(r):
    return r.get("peak_rss_mb") or r.get("child_maxrss_mb")

def ratio(a, b):
    return a / b if a and b else None

def fmt(x, nd=2):
    return "-" if x is None else "%.*f" % (nd, x)

print("Ratios renewtwin / peer (below 1: renewtwin is faster or smaller). time = the harness's")
print("total_s (parse + geometry, in-process); wall = the whole process from outside,")
print("runtime start-up included; memory = peak RSS.\n")
print("| file | MB | renewtwin total s | web-ifc total s | IfcOpenShell total s | time / web-ifc | time / IfcOpenShell | wall / web-ifc | wall / IfcOpenShell | memory / web-ifc | memory / IfcOpenShell | renewtwin MB RSS |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
both, vs_web = [], []
for f in sorted(by_file, key=str.lower):
    t = by_file[f]
    ours = t.get("renewtwin")
    if not ok(ours):
        err = (ours or {}).get("error", "not run")
        print("| %s | %s | ERROR: %s | | | | | | | | | |" % (f, fmt((ours or {}).get("bytes", 0) / 1e6), err[:80].replace("|", "/")))
        continue
    cells = {}
    for p in peers:
        r = t.get(p)
        if ok(r):
            cells[p] = (ratio(ours["total_s"], r["total_s"]), ratio(ours.get("wall_s"), r.get("wall_s")),
                        ratio(mem(ours), mem(r)), r["total_s"])
        else:
            cells[p] = None
    def c(p, i, nd=2):
        return fmt(cells[p][i], nd) if cells[p] else ("failed" if t.get(p) else "-")
    print("| %s | %.2f | %.3f | %s | %s | %s | %s | %s | %s | %s | %s | %.0f |" % (
        f, ours["bytes"] / 1e6, ours["total_s"], c("web-ifc", 3, 3), c("ifcopenshell", 3, 3),
        c("web-ifc", 0), c("ifcopenshell", 0), c("web-ifc", 1), c("ifcopenshell", 1),
        c("web-ifc", 2), c("ifcopenshell", 2), mem(ours) or 0))
    if cells["web-ifc"]:
        vs_web.append(cells["web-ifc"])
    if all(cells[p] for p in peers):
        both.append((f, cells))

print()
if vs_web:
    med_t = statistics.median(x[0] for x in vs_web)
    med_w = statistics.median(x[1] for x in vs_web if x[1])
    med_m = statistics.median(x[2] for x in vs_web if x[2])
    print("- vs web-ifc over %d files: median time ratio %.3f (%.1fx faster), median wall ratio %.3f, median memory ratio %.2f"
          % (len(vs_web), med_t, 1 / med_t, med_w, med_m))
if both:
    slower = [f for f, c in both if any(c[p][0] >= 1 for p in peers)]
    bigger = [f for f, c in both if any(c[p][2] is None or c[p][2] >= 1 for p in peers)]
    print("- files both peers load: %d; renewtwin faster (total_s) than both on %d, slower than one on: %s"
          % (len(both), len(both) - len(slower), ", ".join(slower) or "none"))
    print("- lower peak memory than both on %d of %d; not on: %s"
          % (len(both) - len(bigger), len(both), ", ".join(bigger) or "none"))
PY
cat "$out/table.md"
echo
cat "$out/ratios.md"
echo >&2
echo "results in $out (table.md, ratios.md, results.jsonl, runs.jsonl, machine.txt)" >&2
