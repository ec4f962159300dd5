#!/usr/bin/env bash
# The open GPU work in three calls of one warm lease (each under the device tool's 600 s limit),
# so a session that gets a machine spends its 30 minutes measuring, not composing commands:
#   source .device/env.sh; bash scripts/device_lease.sh a   # correctness: test:gpu's two halves, while the
#                                                          # exports (full, dynamic, dynamic full GPT-2) run beside them
#   bash scripts/device_lease.sh b                         # timings, machine otherwise idle: kiln full size,
#                                                          # GPT-2's warm start traced (lazy and eager modules), torch whisper,
#                                                          # GPT-2 symbolic sweep (reuses a's export)
#   bash scripts/device_lease.sh c                         # torch.compile's dynamic modes, the dynamic vision bench
# b and c read a's exports from /tmp, so call them on the same warm machine (idle_release is 30 s:
# issue the next call at once). $OUT gets at most 8 files (the tool's limit): steps.log, the step
# logs, traces and dynamic_fixtures.tgz; phase a's exports log to one file.
set -u
cd "$(dirname "$0")/.."
[ -d .devmods ] && [ ! -e node_modules/koffi ] && { rm -rf node_modules; mv .devmods node_modules; }
O=${OUT:-/tmp/out}
suite=scripts/device_suite.sh
case ${1:-} in
  a)
    nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
    (FULL_MODELS=${FULL_MODELS:-gpt2,vit,whisper_encoder} \
      DYN_MODELS=${DYN_MODELS:-gpt2,bert,distilbert,roberta,llama,qwen2,mistral,t5_encoder,vit,clip_text,whisper_encoder} \
      bash $suite fullexport dynexport dynfullexport > "$O/exports.log" 2>&1) &
    T_GPU=${T_GPU:-170} T_CUDA=${T_CUDA:-370} bash $suite gputests cudatests
    wait
    grep -hE '^# (tests|pass|fail|skipped|cancelled)' "$O/gputests.log" "$O/cudatests.log"
    grep -h -B3 -A25 '^ *not ok' "$O/gputests.log" "$O/cudatests.log" | head -150
    ;;
  b)
    KILN_MODELS=${KILN_MODELS:-whisper_encoder,gpt2,vit} T_KILN=${T_KILN:-150} bash $suite fullkiln
    # GPT-2's warm start: a cold process fills a cache, then warm ones, traced, with lazy (the
    # default) and then eager module loading, to split the first run's ~85 ms.
    c=$(mktemp -d)
    node dist/bench/real_models.js --device cuda --one /tmp/full/gpt2_dynamo --cache "$c" --repeat 3 > "$O/warm.log" 2>&1
    KILN_TRACE="$O/gpt2_warm_trace.json" node dist/bench/real_models.js --device cuda --one /tmp/full/gpt2_dynamo --cache "$c" --repeat 3 >> "$O/warm.log" 2>&1
    CUDA_MODULE_LOADING=EAGER node dist/bench/real_models.js --device cuda --one /tmp/full/gpt2_dynamo --cache "$c" --repeat 3 >> "$O/warm.log" 2>&1
    cat "$O/warm.log"
    FULL_MODELS=${TORCH_MODELS:-whisper_encoder} bash $suite torch
    T_SWEEP=${T_SWEEP:-240} bash $suite dynsweep
    tail -40 "$O/fullkiln.log" "$O/torch.log" "$O/dynsweep.log"
    ;;
  c)
    T_TORCHDYN=${T_TORCHDYN:-330} bash $suite torchdyn
    T_DYNVISION=${T_DYNVISION:-200} bash $suite dynvision
    tail -40 "$O/torchdyn.log" "$O/dynvision.log"
    ;;
  *) echo "usage: $0 a|b|c (see the top of this file)" >&2; exit 2 ;;
esac
