# Sourced by the device run scripts: `step NAME SECONDS CMD...` runs CMD under a hard timeout,
# its output to $W/NAME.log, and notes its exit status and time in $W/steps.log.
W=${W:-$(mktemp -d)}
step() {
  local name=$1 t=$2
  shift 2
  echo "=== $name" | tee -a "$W/steps.log"
  local s
  s=$(date +%s%3N)
  timeout -s KILL "$t" "$@" > "$W/$name.log" 2>&1
  local rc=$?
  echo "rc=$rc $(( $(date +%s%3N) - s )) ms" | tee -a "$W/steps.log"
}
