#!/usr/bin/env bash
# Dataset drift beside Evidently (issue 6): Evidently 0.7.23's Report([DataDriftPreset()]) and
# Esteira's dataset_drift (the drift_bench example) on the same two Parquet files, 20 numeric and
# 5 categorical columns with drift designed into five (bench/drift_data.py), at 100k and 1M rows.
# Each side runs as its own process under /usr/bin/time -v (wall time, peak RSS); each also
# reports its own drift time from reading the files to the verdicts. Prints a Markdown report and
# writes it to bench/RESULTS-drift.md. See bench/README.md conventions; the peer lives in
# bench/.venv-evidently (made here on first use).
#
#   bench/drift.sh                                   # 100k and 1M rows
#   BENCH_DRIFT_SIZES=100000 BENCH_RESULTS= bench/drift.sh   # quick, RESULTS untouched
#   BENCH_EVIDENTLY_PYTHON=/path/to/python bench/drift.sh    # an existing Evidently 0.7.23
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
sizes="${BENCH_DRIFT_SIZES:-100000 1000000}"
data="${BENCH_DRIFT_DATA:-/tmp/esteira-bench-drift}"
peer_python="${BENCH_EVIDENTLY_PYTHON:-bench/.venv-evidently/bin/python}"
if [[ ! -x "$peer_python" ]]; then
    python3 -m venv bench/.venv-evidently
    bench/.venv-evidently/bin/pip install -q 'evidently==0.7.23' 'pandas<3' pyarrow
    peer_python=bench/.venv-evidently/bin/python
fi
cargo build --release --example drift_bench -p esteira-monitor
esteira_bin="${CARGO_TARGET_DIR:-target}/release/examples/drift_bench"
out="bench/out/drift-$(date -u +%Y%m%d-%H%M%S)"
mkdir -p "$out" "$data"
for n in $sizes; do
    if [[ ! -f "$data/ref_$n.parquet" || ! -f "$data/cur_$n.parquet" ]]; then
        .venv/bin/python bench/drift_data.py "$n" "$data"
    fi
    echo "[$(date -u +%H:%M:%S)] $n rows: esteira" >&2
    /usr/bin/time -v -o "$out/esteira_$n.time" \
        "$esteira_bin" "$data/ref_$n.parquet" "$data/cur_$n.parquet" > "$out/esteira_$n.json"
    echo "[$(date -u +%H:%M:%S)] $n rows: evidently" >&2
    /usr/bin/time -v -o "$out/evidently_$n.time" \
        "$peer_python" bench/drift_peer.py "$data/ref_$n.parquet" "$data/cur_$n.parquet" > "$out/evidently_$n.json"
done
.venv/bin/python - "$out" $sizes > "$out/RESULTS.md" <<'EOF'
import json, os, platform, subprocess, sys, time

out, sizes = sys.argv[1], [int(n) for n in sys.argv[2:]]


def time_v(path):
    fields = {}
    for line in open(path):
        key, _, value = line.strip().rpartition(": ")
        fields[key] = value
    h, m, s = (["0", "0"] + fields["Elapsed (wall clock) time (h:mm:ss or m:ss)"].split(":"))[-3:]
    return {"wall_s": int(h) * 3600 + int(m) * 60 + float(s),
            "rss_mib": int(fields["Maximum resident set size (kbytes)"]) / 1024,
            "cpu_s": float(fields["User time (seconds)"]) + float(fields["System time (seconds)"])}


def cpu_model():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


lines = ["# Dataset drift: Esteira beside Evidently", "",
         f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by `bench/drift.sh` on {os.cpu_count()} cores "
         f"({cpu_model()}), load average at the end {os.getloadavg()[0]:.2f}: the machine is shared with other "
         "builds, so times are indicative (each figure is one run).", "",
         "Data: `bench/drift_data.py` (20 numeric + 5 categorical columns, drift designed into num_0, num_2, num_10, "
         "num_15, cat_1 and a mild change in cat_3), the same N rows in the reference and the current file. "
         "Evidently 0.7.23 `Report([DataDriftPreset()])` from `read_parquet` to `snapshot.dict()`; Esteira "
         "`dataset_drift` (example `drift_bench`, release build, rayon over columns) from opening the files to the "
         "verdicts. Wall time, CPU time (user + system) and peak RSS of each whole process from `/usr/bin/time -v` "
         "(Evidently's include its import, given apart). On a loaded machine the wall times stretch with the "
         "load (a process gets a share of the two cores); the CPU times do not, so the CPU ratio is the steadier "
         "comparison.", "",
         "| rows | Evidently wall s | Esteira wall s | wall ratio | Evidently drift s | Esteira drift s | drift ratio "
         "| Evidently CPU s | Esteira CPU s | CPU ratio "
         "| Evidently peak RSS MiB | Esteira peak RSS MiB | RSS ratio | same drifted columns |",
         "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
details = []
for n in sizes:
    ev, es = json.load(open(f"{out}/evidently_{n}.json")), json.load(open(f"{out}/esteira_{n}.json"))
    tv, ts = time_v(f"{out}/evidently_{n}.time"), time_v(f"{out}/esteira_{n}.time")
    same = ev["drifted"] == es["drifted"]
    lines.append(f"| {n:,} | {tv['wall_s']:.2f} | {ts['wall_s']:.3f} | {tv['wall_s'] / ts['wall_s']:.0f}x "
                 f"| {ev['drift_s']:.2f} | {es['drift_s']:.3f} | {ev['drift_s'] / es['drift_s']:.0f}x "
                 f"| {tv['cpu_s']:.1f} | {ts['cpu_s']:.2f} | {tv['cpu_s'] / ts['cpu_s']:.0f}x "
                 f"| {tv['rss_mib']:.0f} | {ts['rss_mib']:.0f} | {tv['rss_mib'] / ts['rss_mib']:.1f}x | {'yes' if same else 'NO'} |")
    worst = max(abs(ev["columns"][c]["score"] - es["columns"][c]["score"]) / max(abs(ev["columns"][c]["score"]), 1e-300)
                for c in ev["columns"])
    details.append(f"- {n:,} rows: Evidently drifted {ev['drifted']} (import {ev['import_s']:.1f} s); "
                   f"Esteira drifted {es['drifted']} ({es['threads']} threads); "
                   f"largest relative score difference over the 25 columns {worst:.1e}.")
lines += ["", *details, ""]
print("\n".join(lines))
EOF
cat "$out/RESULTS.md"
results="${BENCH_RESULTS-bench/RESULTS-drift.md}"
if [[ -n "$results" ]]; then
    cp "$out/RESULTS.md" "$results"
fi
echo "written to $out${results:+ and $results}" >&2
