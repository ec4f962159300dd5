#!/usr/bin/env bash
# Final device run of the session: the whole GPU suite, then every GPU bench with torch.compile beside it.
set -u
cd "$(dirname "$0")/.."
O=${OUT:-/tmp/out}
W=$(mktemp -d)
step() { local name=$1 t=$2; shift 2; echo "=== $name" | tee -a "$W/steps.log"; local s=$(date +%s%3N); timeout -s KILL "$t" "$@" > "$W/$name.log" 2>&1; local rc=$?; echo "rc=$rc $(( $(date +%s%3N) - s )) ms" | tee -a "$W/steps.log"; }
step machine 20 bash -c 'nvidia-smi --query-gpu=name,driver_version --format=csv; nproc; uptime'
step gputests 240 node --test --test-concurrency=1 dist/test/gpu/
step opstests 400 env KILN_TEST_DEVICE=cuda KILN_POISON_OUTPUTS=1 node --test --test-concurrency=4 dist/test/ops_matmul.test.js dist/test/ops_reduce.test.js dist/test/ops_pointwise.test.js dist/test/ops_movement.test.js dist/test/composite.test.js dist/test/ops_float64.test.js dist/test/ops_half.test.js dist/test/ops_interpret.test.js
step gpubench 180 node dist/bench/gpu.js --json
step torch_block 300 env TORCHINDUCTOR_CACHE_DIR="$W/ti" python3 bench/torch_block.py
step torch_block_warm 300 env TORCHINDUCTOR_CACHE_DIR="$W/ti" python3 bench/torch_block.py
step compile_bench 300 node dist/bench/compile.js --device cuda --kernels 32,128 --workers 1,2,4,8,16 --modes early,late --repeat 1 --pool warm
step compile_trace 200 node scripts/compile_trace_summary.mjs --device cuda --kernels 128 --workers 16,1
step warm_bench 300 node dist/bench/warm.js --device cuda --repeat 5
step warm_breakdown 200 node scripts/gpu_warm_breakdown.mjs distinct100 block
tar -C "$W" --exclude=ti -czf "$O/run.tgz" .
cat "$W/steps.log"
