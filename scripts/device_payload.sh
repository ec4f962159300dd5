#!/usr/bin/env bash
# The device tool sends the working tree (tracked files) plus the carried paths, at most 64 MiB
# (it refused 66 MB in session 6). This prints what would travel, and can leave tracked folders
# a run does not read out of it for one run:
#   bash scripts/device_payload.sh                      # sizes: tracked files, .device, .devmods, dist
#   bash scripts/device_payload.sh drop DIR...          # untrack DIRs (index only) and ignore them locally
#   bash scripts/device_payload.sh restore              # track them again (nothing is deleted either way)
# Source maps in dist are not needed on the device: `find dist -name '*.map' -delete` saves ~3 MB.
set -euo pipefail
cd "$(dirname "$0")/.."
list=.git/kiln-device-dropped
case ${1:-size} in
  size)
    tracked=$(git ls-files -z | du -cb --files0-from=- | tail -1 | cut -f1)
    carried=$(du -scb .device .devmods dist 2>/dev/null | tail -1 | cut -f1)
    echo "tracked $((tracked / 1000000)) MB + carried $((carried / 1000000)) MB = $(((tracked + carried) / 1000000)) MB (limit 64 MiB)"
    ;;
  drop)
    shift
    for d in "$@"; do
      git rm -r --cached -q -- "$d"
      echo "/$d/" >> .git/info/exclude
      echo "$d" >> "$list"
    done
    "$0" size
    ;;
  restore)
    [ -f "$list" ] || exit 0
    while read -r d; do
      git reset -q -- "$d"
      grep -vxF "/$d/" .git/info/exclude > .git/info/exclude.tmp || true
      mv .git/info/exclude.tmp .git/info/exclude
    done < "$list"
    rm -f "$list"
    git status --short | head
    ;;
  *) echo "usage: $0 [size | drop DIR... | restore]" >&2; exit 2 ;;
esac
