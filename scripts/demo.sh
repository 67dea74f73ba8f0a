#!/usr/bin/env bash
# The quick start: set up, build the built-in images from Debian's busybox-static (no network
# needed) and `berth import` them, start berthd, and run containers through it as a docker user
# would: `berth run --rm hello`, then one that shows what a container sees (its own hostname,
# pid 1, its own network address, its own root), then one in the background with logs and exec.
# berthd is stopped at the end; its data stays in $BERTH_DEMO_DATA.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
data=${BERTH_DEMO_DATA:-/var/lib/berth-demo}
exec_root=${BERTH_DEMO_EXEC:-/run/berth-demo}
sock=$exec_root/berthd.sock
rootfs_dir=$(mktemp -d /tmp/berth-demo-rootfs-XXXXXX)
daemon_pid=
cleanup() {
  ./bin/berth -H "unix://$sock" rm -f demo-web >/dev/null 2>&1 || true
  if [ -n "$daemon_pid" ]; then kill "$daemon_pid" 2>/dev/null || true; wait "$daemon_pid" 2>/dev/null || true; fi
  rm -rf "$rootfs_dir"
}
trap cleanup EXIT
berth() { echo "+ berth $*" >&2; ./bin/berth -H "unix://$sock" --data-root "$data" "$@"; }

# the built-in images: a busybox rootfs built here, imported twice with different commands
node scripts/make-bundle.mjs "$rootfs_dir" true
tar -C "$rootfs_dir/rootfs" -czf "$rootfs_dir/rootfs.tar.gz" .
for img in busybox:latest hello:latest; do ./bin/berth --data-root "$data" rmi "$img" >/dev/null 2>&1 || true; done
berth import --change 'CMD ["sh"]' "$rootfs_dir/rootfs.tar.gz" busybox:latest >/dev/null
berth import --change 'CMD ["sh", "-c", "echo Hello from berth: a container on $(hostname), pid $$ of its own namespace."]' \
  "$rootfs_dir/rootfs.tar.gz" hello:latest >/dev/null
berth images

echo "+ berthd --data-root $data --exec-root $exec_root -H unix://$sock &" >&2
./bin/berthd --data-root "$data" --exec-root "$exec_root" -H "unix://$sock" --log-file "$exec_root/berthd.log" &
daemon_pid=$!
for _ in $(seq 200); do ./bin/berth -H "unix://$sock" version >/dev/null 2>&1 && break; sleep 0.05; done

berth run --rm hello
berth run --rm busybox sh -c '
echo "hostname:  $(hostname)"
echo "my pid:    $$ (pid 1 of a new pid namespace)"
echo "processes:"; ps -o pid,user,comm
echo "network:   $(ip -o -4 addr show eth0 | awk "{print \$4}") on eth0, berthd'"'"'s bridge"
echo "root:      $(ls / | tr "\n" " ")"
echo "user:      $(id)"
'
berth run -d --name demo-web -p 127.0.0.1:18080:80 busybox sh -c 'echo "served from a container" > /tmp/index.html; exec httpd -f -p 80 -h /tmp' >/dev/null
berth ps
sleep 0.5
echo "+ wget -qO- http://127.0.0.1:18080/   (a published port)" >&2
busybox wget -qO- http://127.0.0.1:18080/
berth exec demo-web sh -c 'echo "exec in demo-web: $(ps | wc -l) lines of ps"'
berth rm -f demo-web >/dev/null
