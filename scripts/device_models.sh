#!/usr/bin/env bash
# GPU-machine run of the real-model suite: exports the tiny suite (scripts/real_models.py) into
# test/fixtures/models and packs it to $OUT/models.tgz (to commit as fixtures), then runs
# bench/real_models.js on CUDA (with --bisect naming the first wrong node of a failing model).
# Usage there: source .device/env.sh && bash scripts/device_models.sh [export|noexport] [cuda bench args...]
set -u
cd "$(dirname "$0")/.."
O=${OUT:-/tmp/out}
source scripts/device_steps.sh
mode=${1:-export}
shift || true
[ -d .devmods ] && [ ! -e node_modules/koffi ] && { rm -rf node_modules; mv .devmods node_modules; }
step machine 20 bash -c 'nvidia-smi --query-gpu=name,driver_version --format=csv; nproc; uptime; python3 -c "import torch, transformers, torchvision; print(torch.__version__, transformers.__version__, torchvision.__version__)"'
if [ "$mode" = export ]; then
  step export 320 env PYTHONUNBUFFERED=1 python3 scripts/real_models.py --size tiny --out test/fixtures/models
  # Files come back at most 16 MiB each: the fixtures travel in parts (cat models.tgz.* | tar xz).
  tar -czf - test/fixtures/models | split -b 15M - "$O/models.tgz."
fi
step cuda_models 250 node dist/bench/real_models.js --device cuda --repeat 5 "$@"
cp "$W"/*.log "$O/" 2>/dev/null
cat "$W/steps.log"
