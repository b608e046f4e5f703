#!/usr/bin/env bash
# Runs every suite (typecheck, unit, integration, ws, and a short benchmark) and prints a summary.
# Usage: scripts/run-tests.sh [--no-bench]
set -u
cd "$(dirname "$0")/.."

bench=1
[ "${1:-}" = "--no-bench" ] && bench=0

names=()
results=()
run() {
  local name=$1
  shift
  echo
  echo "=== $name: $*"
  local start=$SECONDS
  if "$@"; then results+=("ok    $name ($((SECONDS - start)) s)"); else results+=("FAIL  $name ($((SECONDS - start)) s)"); fi
  names+=("$name")
}

run typecheck npx tsc -p tsconfig.json
run unit npx mocha 'test/unit/**/*.test.ts'
run integration npx mocha 'test/integration/**/*.test.ts'
run ws npx mocha 'test/ws/**/*.test.ts'
if [ "$bench" = 1 ]; then
  run benchmark npx tsx scripts/bench.ts --calls 20 --seconds 10
fi

echo
echo "=== summary"
failed=0
for r in "${results[@]}"; do
  echo "  $r"
  case "$r" in FAIL*) failed=$((failed + 1)) ;; esac
done
echo "$(( ${#results[@]} - failed )) passed, $failed failed"
[ "$failed" = 0 ]
