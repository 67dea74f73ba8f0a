#!/usr/bin/env bash
# The quick start: set up, build the built-in busybox image (from Debian's busybox-static, no
# network needed), store it with `berth import`, mount its rootfs read-only with
# `berth image mount`, and run a container on it with berth-runtime, showing what a container
# sees: its own hostname, pid 1, only loopback, its own root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bundle=${BERTH_DEMO_BUNDLE:-/tmp/berth-demo-bundle}
data=${BERTH_DEMO_DATA:-/tmp/berth-demo-data}
node scripts/make-bundle.mjs "$bundle" sh -c '
echo "hostname:  $(hostname)"
echo "my pid:    $$ (pid 1 of a new pid namespace)"
echo "processes:"; ps -o pid,user,comm
echo "network:   $(ip -o link | cut -d: -f2 | tr -d " " | tr "\n" " ")(loopback only)"
echo "root:      $(ls / | tr "\n" " ")"
echo "user:      $(id)"
'
berth() { echo "+ berth $*" >&2; ./bin/berth --data-root "$data" "$@"; }
tar -C "$bundle/rootfs" -czf "$bundle/rootfs.tar.gz" .
# a second run replaces the demo image instead of leaving the old one as <none>
./bin/berth --data-root "$data" rmi berth.local/busybox:demo >/dev/null 2>&1 || true
berth import --change 'CMD ["sh"]' "$bundle/rootfs.tar.gz" berth.local/busybox:demo >/dev/null
berth images
rootfs=$(berth image mount berth.local/busybox:demo)
trap 'berth image unmount berth.local/busybox:demo >/dev/null' EXIT
# the bundle runs on the image's read-only rootfs
node -e '
const fs = require("fs"), f = process.argv[1] + "/config.json", c = JSON.parse(fs.readFileSync(f));
c.root = { path: process.argv[2], readonly: true };
fs.writeFileSync(f, JSON.stringify(c, null, 2));' "$bundle" "$rootfs"
id=demo-$$
echo "+ berth-runtime run --bundle $bundle $id" >&2
./bin/berth-runtime run --bundle "$bundle" "$id"
