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
# one file at a time: integration tests share the kernel (cgroups, mounts) and the state root
node --test --test-concurrency=1 --test-reporter=spec "${tests[@]}"
