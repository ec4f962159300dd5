#!/usr/bin/env bash
# A/B on the GPU machine: cold compile to first result with every worker forked at a cache miss
# (.abtree = the build before) against a few first and the rest once the kernel count is known.
set -u
cd "$(dirname "$0")/.."
for i in 1 2 3; do
  for v in before after; do
    root=$([ $v = before ] && echo .abtree || echo .)
    for prog in '{"kind":"mlp"}' '{"kind":"distinct","n":32}' '{"kind":"distinct","n":100}'; do
      C=$(mktemp -d)
      ms=$(node $root/test/fixtures/child.mjs "{\"programs\":[$prog],\"device\":\"cuda\",\"cacheDir\":\"$C\",\"check\":false}" | grep -o '"firstResultMs":[0-9.]*' | cut -d: -f2)
      echo "$i $v $prog $ms"
      rm -rf "$C"
    done
    C=$(mktemp -d)
    echo "$i $v block $(node $root/dist/bench/gpu_block.js $C | grep -o '"firstMs":[0-9.]*' | cut -d: -f2)"
    rm -rf "$C"
  done
done
