#!/usr/bin/env bash
# The quick start: set up, build the built-in busybox bundle (from Debian's
# busybox-static, no network needed), and run it with berth-runtime to show
# what a container sees: its own hostname, pid 1, only loopback, its own mounts.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bundle=${BERTH_DEMO_BUNDLE:-/tmp/berth-demo-bundle}
node scripts/make-bundle.mjs "$bundle" sh -c '
echo "hostname:  $(hostname)"
echo "my pid:    $$ (pid 1 of a new pid namespace)"
echo "processes:"; ps -o pid,user,comm
echo "network:   $(ip -o link | cut -d: -f2 | tr -d " " | tr "\n" " ")(loopback only)"
echo "root:      $(ls / | tr "\n" " ")"
echo "user:      $(id)"
'
id=demo-$$
echo "+ berth-runtime run --bundle $bundle $id"
exec ./bin/berth-runtime run --bundle "$bundle" "$id"
