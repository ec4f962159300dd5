#!/usr/bin/env bash
# Session device run 2: machine facts, GPU tests, compile traces, warm breakdown, dynamo export, bench + torch.
set -u
cd "$(dirname "$0")/.."
O=${OUT:-/tmp/out}
W=$(mktemp -d)
step() { local name=$1 t=$2; shift 2; echo "=== $name" | tee -a "$W/steps.log"; local s=$(date +%s%3N); timeout -s KILL "$t" "$@" > "$W/$name.log" 2>&1; local rc=$?; echo "rc=$rc $(( $(date +%s%3N) - s )) ms" | tee -a "$W/steps.log"; }
step machine 20 bash -c 'lscpu; nproc; free -g; nvidia-smi'
step gputests 180 node --test --test-concurrency=1 dist/test/gpu/
step opstests 300 env KILN_TEST_DEVICE=cuda KILN_POISON_OUTPUTS=1 node --test --test-concurrency=4 dist/test/ops_matmul.test.js dist/test/ops_reduce.test.js dist/test/ops_pointwise.test.js dist/test/ops_movement.test.js dist/test/composite.test.js dist/test/ops_float64.test.js
step compile_trace 240 node scripts/compile_trace_summary.mjs --device cuda --kernels 128 --workers 16,1,8,16,12
step warm_breakdown 240 node scripts/gpu_warm_breakdown.mjs distinct100 mlp block
step dynamo 240 python3 scripts/make_onnx_models_dynamo.py "$W/onnx"
step gpubench 120 node dist/bench/gpu.js
step torch_block 300 env TORCHINDUCTOR_CACHE_DIR="$W/ti" python3 bench/torch_block.py
tar -C "$W" -czf "$O/run.tgz" .
cat "$W/steps.log"
