#!/usr/bin/env bash
# Process replay against another commit: builds REF in a temporary worktree, writes its kernel
# sources and plans for the corpus (bench/replay.ts, as REF has it), does the same for this
# working tree, and diffs the two. Exit 0 when identical; 1 and the list of files otherwise.
#   bash scripts/replay.sh REF [--only SUBSTRING] [--devices cpu,cuda]
# Run before and after each refactoring commit; name every difference in the commit message.
set -euo pipefail
ref=${1:?usage: scripts/replay.sh REF [replay options]}
shift
root=$(git rev-parse --show-toplevel)
cd "$root"
tmp=$(mktemp -d)
trap 'git worktree remove --force "$tmp/tree" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
git worktree add --detach -q "$tmp/tree" "$ref"
ln -s "$root/node_modules" "$tmp/tree/node_modules"
(cd "$tmp/tree" && npx tsc -p . >/dev/null && [ -f dist/bench/replay.js ] || { echo "replay: $ref has no bench/replay.ts" >&2; exit 2; })
(cd "$tmp/tree" && node dist/bench/replay.js --out "$tmp/before" "$@" >/dev/null)
# The full build (tsc alone would leave dist/ without its bundles, breaking the tests that load them).
npm run build --silent >/dev/null
node dist/bench/replay.js --out "$tmp/after" --against "$tmp/before" "$@" | tee "$tmp/result"
if ! grep -q "identical" "$tmp/result"; then
  # The first few differing files, as unified diffs.
  grep ': differs$' "$tmp/result" | head -3 | cut -d: -f1 | while read -r f; do diff -u "$tmp/before/$f" "$tmp/after/$f" | head -40; done
  exit 1
fi
