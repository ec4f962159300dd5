#!/usr/bin/env bash
# Builds .devmods/: the runtime node_modules for the GPU machine, without what only builds
# need (development packages, type packages, protobufjs's CLI and sources), so a device run stays
# under its 64 MiB transfer limit. On the device: `mv .devmods node_modules` first.
set -euo pipefail
cd "$(dirname "$0")/.."
exclude=$(git rev-parse --git-path info/exclude) # in a worktree, .git is a file
grep -qxF '/.devmods/' "$exclude" 2>/dev/null || echo '/.devmods/' >> "$exclude"
rm -rf .devmods
mkdir -p .devmods
# npm's production tree only (no development packages: dependency-cruiser, typescript, esbuild),
# less the type packages protobufjs lists as dependencies; nested node_modules come with their parent.
prod=$(npm ls --omit=dev --all --parseable 2>/dev/null | sed -n "s#^$PWD/node_modules/##p" | grep -v '/node_modules/' || true)
[ -n "$prod" ] || { echo "device_modules: npm ls listed no production packages" >&2; exit 1; }
for m in $prod; do
  case "$m" in typescript|@types/*|undici-types|esbuild|@esbuild/*) continue ;; esac
  mkdir -p ".devmods/$(dirname "$m")"
  cp -r "node_modules/$m" ".devmods/$m"
done
pb=.devmods/onnx-proto/node_modules/protobufjs
rm -rf "$pb/cli"
# Only what the GPU machine loads: glibc x64 koffi, no koffi sources, no source maps.
rm -rf .devmods/@koromix/koffi-linux-x64/musl_x64 .devmods/koffi/lib/native .devmods/koffi/vendor
find .devmods -name "*.map" -delete
du -sh .devmods
