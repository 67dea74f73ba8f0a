#!/usr/bin/env bash
# The cgroup parts of the black-box runtime suite on a cgroup2-only hierarchy, against
# berth-runtime and then runc (the reference), plus test/cgroup2/v2-only.test.ts.
#
#   test/cgroup2/run-suite.sh [RUNTIME...]     default: bin/berth-runtime /usr/sbin/runc
#
# On a host whose controllers are not all on cgroup2 (this CI machine: v1), it re-runs itself
# in the QEMU VM of scripts/cgroup2-vm/run.sh, which boots once for the whole suite.
# Expects a built tree (npm run build). Exit status: 0 when every runtime passed.
set -uo pipefail
cd "$(dirname "$0")/../.."

if [ ! -f /sys/fs/cgroup/cgroup.controllers ] || [ -n "$(awk '$3 == "cgroup"' /proc/self/mounts)" ]; then
  [ -z "${BERTH_VM_REPO:-}" ] || { echo "run-suite: in the VM but not on cgroup2 only" >&2; exit 2; }
  exec bash scripts/cgroup2-vm/run.sh bash test/cgroup2/run-suite.sh "$@"
fi

runtimes=("$@")
[ ${#runtimes[@]} -gt 0 ] || runtimes=("$PWD/bin/berth-runtime" /usr/sbin/runc)
files=(dist/test/integration/resources.test.js dist/test/integration/lifecycle.test.js
  dist/test/integration/commands.test.js dist/test/cgroup2/v2-only.test.js)
for f in "${files[@]}"; do [ -f "$f" ] || { echo "run-suite: $f missing (npm run build)" >&2; exit 2; }; done

echo "== cgroup2: kernel $(uname -r), controllers: $(cat /sys/fs/cgroup/cgroup.controllers), $(nproc) cpus"
export NO_COLOR=1
summary=()
rc=0
for rt in "${runtimes[@]}"; do
  echo "== runtime suite (cgroup parts) on cgroup2 against $rt"
  t0=$(date +%s)
  BERTH_TEST_RUNTIME=$rt node --test --test-concurrency=1 --test-reporter=spec "${files[@]}"
  r=$?
  summary+=("$(basename "$rt"): $([ $r -eq 0 ] && echo pass || echo "FAIL ($r)") in $(($(date +%s) - t0))s")
  [ $r -eq 0 ] || rc=1
done
echo "== cgroup2 summary"
printf '   %s\n' "${summary[@]}"
exit $rc
