#!/usr/bin/env bash
# Builds .devmods/: the runtime node_modules for the GPU machine, without what only builds
# need (typescript, esbuild, type packages, protobufjs's CLI and sources), so a device run stays
# under its 64 MiB transfer limit. On the device: `mv .devmods node_modules` first.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qxF '/.devmods/' .git/info/exclude 2>/dev/null || echo '/.devmods/' >> .git/info/exclude
rm -rf .devmods
mkdir -p .devmods
for m in node_modules/*; do
  case "$(basename "$m")" in typescript|@types|undici-types|esbuild|@esbuild) continue ;; esac
  cp -r "$m" .devmods/
done
pb=.devmods/onnx-proto/node_modules/protobufjs
rm -rf "$pb/cli"
# Only what the GPU machine loads: glibc x64 koffi, no koffi sources, no source maps.
rm -rf .devmods/@koromix/koffi-linux-x64/musl_x64 .devmods/koffi/lib/native .devmods/koffi/vendor
find .devmods -name "*.map" -delete
du -sh .devmods
