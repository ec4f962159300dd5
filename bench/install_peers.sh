#!/usr/bin/env bash
# Installs the CPU benchmark peer, onnxruntime-node, into bench/.peers/ (gitignored).
#
# onnxruntime-node's postinstall script downloads CUDA/TensorRT binaries and fails on machines
# without outside network access, so it is installed with --ignore-scripts: the CPU binding
# (bin/napi-v*/<platform>/<arch>/onnxruntime_binding.node + libonnxruntime.so.*) ships inside
# the npm package itself and needs no install step. Never a dependency of kiln: `npm ci` must
# not run this. Used by bench/onnx_peer.ts (`node dist/bench/onnx_peer.js`).
#
#   bash bench/install_peers.sh            # from the repository root
set -euo pipefail
cd "$(dirname "$0")/.."

ORT_VERSION="${ORT_VERSION:-1.30.0}"   # works with Node 20 (N-API binding, prebuilt for linux/x64 and arm64)
PEERS=bench/.peers

mkdir -p "$PEERS"
npm install --prefix "$PEERS" --no-save --ignore-scripts --no-audit --no-fund "onnxruntime-node@$ORT_VERSION"

# Verify the CPU binding loads without the install script.
node -e '
const { createRequire } = require("node:module");
const req = createRequire(require("node:path").resolve(process.argv[1], "node_modules") + "/");
const ort = req("onnxruntime-node");
const backends = ort.listSupportedBackends ? ort.listSupportedBackends().map((b) => b.name).join(", ") : "?";
console.log(`onnxruntime-node ${ort.env.versions?.node ?? req("onnxruntime-node/package.json").version} loaded from ${process.argv[1]} (backends: ${backends})`);
' "$PEERS"
