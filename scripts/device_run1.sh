#!/usr/bin/env bash
# Session device run: GPU tests, softmax variants, compile scaling, warm breakdown, dynamo export.
set -u
cd "$(dirname "$0")/.."
O=${OUT:-/tmp/out}
mkdir -p "$O"
step() { local name=$1 t=$2; shift 2; echo "=== $name" | tee -a "$O/steps.log"; local s=$(date +%s%3N); timeout -s KILL "$t" "$@" > "$O/$name.log" 2>&1; local rc=$?; echo "rc=$rc $(( $(date +%s%3N) - s )) ms" | tee -a "$O/steps.log"; }
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem --format=csv > "$O/gpu.txt" 2>&1
step gputests 180 node --test --test-concurrency=1 dist/test/gpu/
step opstests 300 env KILN_TEST_DEVICE=cuda KILN_POISON_OUTPUTS=1 node --test --test-concurrency=4 dist/test/ops_matmul.test.js dist/test/ops_reduce.test.js dist/test/ops_pointwise.test.js dist/test/ops_movement.test.js dist/test/composite.test.js dist/test/ops_float64.test.js
step opstests_cublas0 200 env KILN_CUBLAS_MIN_MACS=0 KILN_TEST_DEVICE=cuda KILN_POISON_OUTPUTS=1 node --test --test-concurrency=4 dist/test/ops_matmul.test.js dist/test/composite.test.js
for v in "v0" "v1 KILN_CUDA_RECIP=1" "v2 KILN_CUDA_ROW_POINTS=16" "v3 KILN_CUDA_RECIP=1 KILN_CUDA_ROW_POINTS=16" "v4 KILN_CUDA_RECIP=1 KILN_CUDA_ROW_POINTS=32 KILN_CUDA_PERSIST_MAX=32"; do
  set -- $v; name=$1; shift
  step "gpubench_$name" 120 env "$@" KILN_WORKERS=16 node dist/bench/gpu.js --json
done
step compile_scaling 240 node dist/bench/compile.js --device cuda --kernels 128 --workers 16,1,16,1 --modes early --repeat 1 --pool warm
step warm_breakdown 240 node scripts/gpu_warm_breakdown.mjs distinct100 mlp block
step dynamo 240 python3 scripts/make_onnx_models_dynamo.py "$O/onnx"
