#!/usr/bin/env bash
# Device run: block scans on the GPU (tests + bench), and a fine-grained CPU profile of a CUDA warm start.
set -u
cd "$(dirname "$0")/.."
O=${OUT:-/tmp/out}
W=$(mktemp -d)
step() { local name=$1 t=$2; shift 2; echo "=== $name" | tee -a "$W/steps.log"; local s=$(date +%s%3N); timeout -s KILL "$t" "$@" > "$W/$name.log" 2>&1; local rc=$?; echo "rc=$rc $(( $(date +%s%3N) - s )) ms" | tee -a "$W/steps.log"; }
step gputests 240 node --test --test-concurrency=1 dist/test/gpu/
step opstests 300 env KILN_TEST_DEVICE=cuda KILN_POISON_OUTPUTS=1 node --test --test-concurrency=4 dist/test/ops_reduce.test.js dist/test/ops_half.test.js dist/test/composite.test.js
step gpubench 180 node dist/bench/gpu.js
C=$(mktemp -d)
mkdir -p "$W/prof"
node test/fixtures/child.mjs "{\"programs\":[{\"kind\":\"distinct\",\"n\":100}],\"device\":\"cuda\",\"cacheDir\":\"$C\"}" > "$W/prof_cold.json" 2>&1
for i in 1 2; do KILN_ASSERT_NO_COMPILE=1 node test/fixtures/child.mjs "{\"programs\":[{\"kind\":\"distinct\",\"n\":100}],\"device\":\"cuda\",\"cacheDir\":\"$C\",\"check\":false}" >> "$W/prof_warm_plain.json" 2>&1; done
KILN_ASSERT_NO_COMPILE=1 node --cpu-prof --cpu-prof-interval 100 --cpu-prof-dir="$W/prof" test/fixtures/child.mjs "{\"programs\":[{\"kind\":\"distinct\",\"n\":100}],\"device\":\"cuda\",\"cacheDir\":\"$C\",\"check\":false}" > "$W/prof_warm.json" 2>&1
tar -C "$W" -czf "$O/run.tgz" .
cat "$W/steps.log"
