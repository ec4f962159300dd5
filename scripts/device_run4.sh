#!/usr/bin/env bash
# Session device run 4: the whole GPU suite after the fp16 merge and split reductions, GPU bench, warm bench.
set -u
cd "$(dirname "$0")/.."
O=${OUT:-/tmp/out}
W=$(mktemp -d)
step() { local name=$1 t=$2; shift 2; echo "=== $name" | tee -a "$W/steps.log"; local s=$(date +%s%3N); timeout -s KILL "$t" "$@" > "$W/$name.log" 2>&1; local rc=$?; echo "rc=$rc $(( $(date +%s%3N) - s )) ms" | tee -a "$W/steps.log"; }
step gputests 240 node --test --test-concurrency=1 dist/test/gpu/
step opstests 400 env KILN_TEST_DEVICE=cuda KILN_POISON_OUTPUTS=1 node --test --test-concurrency=4 dist/test/ops_matmul.test.js dist/test/ops_reduce.test.js dist/test/ops_pointwise.test.js dist/test/ops_movement.test.js dist/test/composite.test.js dist/test/ops_float64.test.js dist/test/ops_half.test.js dist/test/ops_interpret.test.js
step opstests_cublas0 200 env KILN_CUBLAS_MIN_MACS=0 KILN_TEST_DEVICE=cuda KILN_POISON_OUTPUTS=1 node --test --test-concurrency=4 dist/test/ops_matmul.test.js dist/test/composite.test.js
step gpubench 180 node dist/bench/gpu.js
step warm_bench 300 node dist/bench/warm.js --device cuda --repeat 5
tar -C "$W" -czf "$O/run.tgz" .
cat "$W/steps.log"
