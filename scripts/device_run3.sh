#!/usr/bin/env bash
# Session device run 3: compile scaling after the pool change, warm-start bench, a CPU profile of a warm start.
set -u
cd "$(dirname "$0")/.."
O=${OUT:-/tmp/out}
W=$(mktemp -d)
step() { local name=$1 t=$2; shift 2; echo "=== $name" | tee -a "$W/steps.log"; local s=$(date +%s%3N); timeout -s KILL "$t" "$@" > "$W/$name.log" 2>&1; local rc=$?; echo "rc=$rc $(( $(date +%s%3N) - s )) ms" | tee -a "$W/steps.log"; }
step compile_trace 240 node scripts/compile_trace_summary.mjs --device cuda --kernels 128 --workers 16,1,16,1
step compile_bench 300 node dist/bench/compile.js --device cuda --kernels 32,128 --workers 1,2,4,8,16 --modes early,late --repeat 1 --pool warm
step warm_bench 300 node dist/bench/warm.js --device cuda --repeat 5
mkdir -p "$W/prof"
C=$(mktemp -d)
node test/fixtures/child.mjs "{\"programs\":[{\"kind\":\"distinct\",\"n\":100}],\"device\":\"cuda\",\"cacheDir\":\"$C\"}" > "$W/prof_cold.json" 2>&1
KILN_ASSERT_NO_COMPILE=1 node --cpu-prof --cpu-prof-dir="$W/prof" test/fixtures/child.mjs "{\"programs\":[{\"kind\":\"distinct\",\"n\":100}],\"device\":\"cuda\",\"cacheDir\":\"$C\"}" > "$W/prof_warm.json" 2>&1
KILN_ASSERT_NO_COMPILE=1 KILN_TRACE="$W/warm_trace.json" node test/fixtures/child.mjs "{\"programs\":[{\"kind\":\"distinct\",\"n\":100}],\"device\":\"cuda\",\"cacheDir\":\"$C\"}" > "$W/trace_warm.json" 2>&1
tar -C "$W" -czf "$O/run.tgz" .
cat "$W/steps.log"
