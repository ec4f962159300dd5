#!/usr/bin/env bash
# Device check after a merge: the GPU suite, every op test on CUDA with poisoned outputs, and
# the CLI running a model on the GPU.
set -u
cd "$(dirname "$0")/.."
O=${OUT:-/tmp/out}
source scripts/device_steps.sh
step gputests 240 node --test --test-concurrency=1 dist/test/gpu/
step opstests 400 env KILN_TEST_DEVICE=cuda KILN_POISON_OUTPUTS=1 node --test --test-concurrency=4 $(ls dist/test/ops_*.test.js) dist/test/composite.test.js dist/test/onnx_conformance.test.js dist/test/conv_pool.test.js
step cli_run_cuda 120 node dist/src/cli/main.js run test/fixtures/onnx/transformer_layer_dynamo.onnx --device cuda --json
step gpubench 180 node dist/bench/gpu.js
tar -C "$W" -czf "$O/run.tgz" .
cat "$W/steps.log"
grep -hE "^# (tests|pass|fail)" "$W"/gputests.log "$W"/opstests.log
