#!/usr/bin/env bash
# The test command (npm test): set up, then type-check, lint, check import
# directions, and run every unit and integration test. Integration tests need
# root and the real kernel; they say why when they skip.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npx tsc -p .
npx biome check .
node scripts/check-imports.mjs
shopt -s globstar nullglob
tests=(dist/src/**/*.test.js dist/test/**/*.test.js)
# no lane starts a warm server by itself: the first lane is really cold (each call its own
# Node), the second uses its explicit server, and nothing outlives the tests;
# test/integration/warm-auto.test.ts tests auto-start in its own mount namespace
export BERTH_RUNTIME_WARM_IDLE=0
# one file at a time: integration tests share the kernel (cgroups, mounts) and the state root
rc=0
node --test --test-concurrency=1 --test-reporter=spec "${tests[@]}" || rc=$?
# the runtime suite again in warm mode: bin/berth-runtime as the client of `berth-runtime warm`
warm_sock=$(mktemp -u /tmp/berth-warm-XXXXXX.sock)
./bin/berth-runtime warm --socket "$warm_sock" 2>/dev/null &
warm_pid=$!
for _ in $(seq 100); do [ -S "$warm_sock" ] && break; sleep 0.05; done
echo "== runtime suite in warm mode ($warm_sock)"
BERTH_RUNTIME_WARM_SOCKET="$warm_sock" BERTH_LEAK_CYCLES=100 node --test --test-concurrency=1 --test-reporter=spec dist/test/integration/*.test.js || rc=$?
kill "$warm_pid" 2>/dev/null || true
wait "$warm_pid" 2>/dev/null || true
# the black-box runtime suite again against runc, to prove the suite itself; where runc
# legitimately differs the test says so (BERTH_TEST_RUNTIME picks the binary under test)
runc=$(command -v runc || true)
if [ -n "$runc" ]; then
  echo "== runtime suite against $runc"
  BERTH_TEST_RUNTIME="$runc" BERTH_LEAK_CYCLES=100 node --test --test-concurrency=1 --test-reporter=spec dist/test/integration/*.test.js || rc=$?
else
  echo "== runc not installed: the runtime suite was not checked against it" >&2
fi
exit $rc
