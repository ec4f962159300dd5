#!/usr/bin/env bash
# Final device run of the session: the whole GPU suite, then every GPU bench with torch.compile beside it.
set -u
cd "$(dirname "$0")/.."
O=${OUT:-/tmp/out}
source scripts/device_steps.sh
step machine 20 bash -c 'nvidia-smi --query-gpu=name,driver_version --format=csv; nproc; uptime'
step gputests 240 node --test --test-concurrency=1 dist/test/gpu/
step opstests 400 env KILN_TEST_DEVICE=cuda KILN_POISON_OUTPUTS=1 node --test --test-concurrency=4 $(ls dist/test/ops_*.test.js) dist/test/composite.test.js dist/test/onnx_conformance.test.js dist/test/conv_pool.test.js
step gpubench 180 node dist/bench/gpu.js --json
step convbench 120 node dist/bench/conv_net.js --device cuda --json
step convbench_224 180 node dist/bench/conv_net.js --device cuda --size 224 --width 2 --json
step convbench_224_im2col 180 env KILN_IM2COL_MIN_MACS=4194304 node dist/bench/conv_net.js --device cuda --size 224 --width 2 --json
step torch_block 300 env TORCHINDUCTOR_CACHE_DIR="$W/ti" python3 bench/torch_block.py
step torch_block_warm 300 env TORCHINDUCTOR_CACHE_DIR="$W/ti" python3 bench/torch_block.py
step compile_bench 300 node dist/bench/compile.js --device cuda --kernels 32,128 --workers 1,2,4,8,16 --modes early,late --repeat 1 --pool warm
step compile_trace 200 node scripts/compile_trace_summary.mjs --device cuda --kernels 128 --workers 16,1
step warm_bench 300 node dist/bench/warm.js --device cuda --repeat 5
step warm_breakdown 200 node scripts/gpu_warm_breakdown.mjs distinct100 block
tar -C "$W" --exclude=ti -czf "$O/run.tgz" .
cat "$W/steps.log"
