#!/usr/bin/env bash
# GPU-machine run for the real-model issue: named steps, each under a hard timeout, logs to $OUT.
#   source .device/env.sh && bash scripts/device_suite.sh STEP...
# Steps: gputests (test/gpu), cudatests (ops, composite, conformance, real models on CUDA, poisoned
# outputs), models (tiny suite on CUDA: bench/real_models --bisect), fullexport (full-size suite,
# dynamo, into /tmp/full), fullkiln (bench/real_models on /tmp/full), fullim2col (the same with
# KILN_IM2COL_MIN_MACS set: big convs through im2col + cuBLAS), fullcpu (bench/real_models on
# /tmp/full on the CPU), warmtrace (a cold then a warm process per TRACE_MODELS model, the warm one
# under KILN_TRACE into $OUT), profile (KILN_PROFILE=1 of a warm process per PROFILE_MODELS model: each
# kernel's GPU time, into $OUT), dynexport (the tiny suite with symbolic batch and sequence,
# scripts/real_models_dynamic.py, as $OUT/dynamic_fixtures.tgz), torch (bench/torch_models.py),
# torchdyn (bench/torch_dynamic.py: torch.compile's dynamic modes on GPT-2 over a sweep of shapes),
# dynfullexport (GPT-2 small exported with symbolic dims into /tmp/dynfull, dynsweep's model),
# dynsweep (GPT-2 small exported with symbolic batch and sequence, bench/dynamic_sweep.ts on CUDA:
# compile once, the same sweep, beside static programs), dynvision (bench/dynamic_vision.ts on CUDA:
# the dynamic vision fixtures, one symbolic program against a static one per batch).
set -u
cd "$(dirname "$0")/.."
O=${OUT:-/tmp/out}
W=$O
source scripts/device_steps.sh
[ -d .devmods ] && [ ! -e node_modules/koffi ] && { rm -rf node_modules; mv .devmods node_modules; }
FULL=${FULL_MODELS:-gpt2,bert,vit,resnet,mobilenet_v2,convnext,llama,whisper_encoder,efficientnet_b0}
for s in "$@"; do
  case $s in
    gputests) step gputests ${T_GPU:-200} node --test --test-concurrency=1 dist/test/gpu/ ;;
    cudatests) step cudatests ${T_CUDA:-420} env KILN_TEST_DEVICE=cuda KILN_POISON_OUTPUTS=1 node --test --test-concurrency=4 $(ls dist/test/ops_*.test.js | grep -v ops_doc) dist/test/composite.test.js dist/test/onnx_conformance.test.js dist/test/real_models.test.js dist/test/real_models_dynamic.test.js dist/test/conv_pool.test.js dist/test/index_checks.test.js dist/test/sum_accuracy.test.js dist/test/many_buffers.test.js dist/test/onnx_warm.test.js dist/test/cuda_weights.test.js ;;
    realtests) step realtests ${T_TESTS:-150} env KILN_TEST_DEVICE=cuda KILN_POISON_OUTPUTS=1 node --test --test-concurrency=4 dist/test/real_models.test.js dist/test/composite.test.js dist/test/ops_scatter.test.js dist/test/conv_pool.test.js dist/test/many_buffers.test.js dist/test/index_checks.test.js dist/test/sum_accuracy.test.js dist/test/onnx_warm.test.js dist/test/cuda_weights.test.js dist/test/fusion_plan.test.js dist/test/onnx_external_read.test.js dist/test/matmul_weights.test.js ;;
    models) step models 300 node dist/bench/real_models.js --device cuda --repeat 10 --bisect 1 ;;
    fullexport) step fullexport ${T_EXPORT:-120} env PYTHONUNBUFFERED=1 python3 scripts/real_models.py --size full --out /tmp/full --exporters dynamo --only "$FULL" ;;
    fullkiln) step fullkiln ${T_KILN:-150} node dist/bench/real_models.js --device cuda --dir /tmp/full --repeat 20 --warm-repeat ${WARM_REPEAT:-3} ${KILN_MODELS:+--only $KILN_MODELS} ;;
    fullcpu) step fullcpu ${T_CPU:-200} node dist/bench/real_models.js --device cpu --dir /tmp/full --repeat 5 ${CPU_MODELS:+--only $CPU_MODELS} ;;
    warmtrace) step warmtrace ${T_TRACE:-120} bash -c 'for m in ${TRACE_MODELS:-gpt2}; do c=$(mktemp -d); node dist/bench/real_models.js --device cuda --one /tmp/full/${m}_dynamo --cache $c --repeat 3; KILN_TRACE='"$O"'/${m}_warm_trace.json node dist/bench/real_models.js --device cuda --one /tmp/full/${m}_dynamo --cache $c --repeat 3; done' ;;
    profile) step profile ${T_PROFILE:-90} bash -c 'for m in ${PROFILE_MODELS:-whisper_encoder}; do c=$(mktemp -d); node dist/bench/real_models.js --device cuda --one /tmp/full/${m}_dynamo --cache $c --repeat 3 >/dev/null; KILN_PROFILE=1 node dist/bench/real_models.js --device cuda --one /tmp/full/${m}_dynamo --cache $c --repeat 20 >/dev/null 2>'"$O"'/${m}_profile.txt; head -40 '"$O"'/${m}_profile.txt; done' ;;
    fullim2col) step fullim2col 50 env KILN_IM2COL_MIN_MACS=${IM2COL:-1048576} node dist/bench/real_models.js --device cuda --dir /tmp/full --repeat 20 --only ${IM2COL_MODELS:-resnet,mobilenet_v2} ;;
    dynexport) step dynexport ${T_DYN:-150} bash -c 'cd scripts && PYTHONUNBUFFERED=1 timeout $(( ${T_DYN:-150} - 8 )) python3 real_models_dynamic.py --out /tmp/dynamic ${DYN_MODELS:+--only $DYN_MODELS}; tar czf '"$O"'/dynamic_fixtures.tgz -C /tmp/dynamic .' ;;
    dynfullexport) step dynfullexport ${T_DYNFULL:-150} bash -c 'cd scripts && PYTHONUNBUFFERED=1 python3 real_models_dynamic.py --size full --out /tmp/dynfull --only gpt2' ;;
    dynsweep) step dynsweep ${T_SWEEP:-300} bash -c 'cd scripts && { [ -f /tmp/dynfull/gpt2_dynamic/model.onnx ] || PYTHONUNBUFFERED=1 python3 real_models_dynamic.py --size full --out /tmp/dynfull --only gpt2; } && cd .. && node dist/bench/dynamic_sweep.js --model /tmp/dynfull/gpt2_dynamic/model.onnx --device cuda ${SWEEP_SHAPES:+--shapes $SWEEP_SHAPES}' ;;
    torchdyn) step torchdyn ${T_TORCHDYN:-400} env PYTHONUNBUFFERED=1 python3 bench/torch_dynamic.py ${DYN_SHAPES:+--shapes $DYN_SHAPES} ;;
    dynvision) step dynvision ${T_DYNVISION:-200} node dist/bench/dynamic_vision.js --device cuda ;;
    torch) step torch 500 env PYTHONUNBUFFERED=1 python3 bench/torch_models.py --size full --only "$FULL" ;;
    *) echo "unknown step $s"; exit 2 ;;
  esac
done
cat "$W/steps.log"
