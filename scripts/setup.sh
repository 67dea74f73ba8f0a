#!/usr/bin/env bash
# Set up a fresh machine for berth: the Debian packages the tests and the
# quick start need, the npm dependencies, the native executor and the bundle.
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

# busybox-static: the built-in image; runc and crun: reference runtimes the suite is checked against;
# docker-registry (the CNCF distribution registry), skopeo, umoci, apache2-utils (htpasswd) and
# openssl: the image tests' registry and reference tools; containerd and debootstrap: bench/image-pull;
# stress: the cgroup stress tests' workload; qemu: the cgroup v2 lane (scripts/cgroup2-vm)
want=(busybox-static runc crun iproute2 procps docker.io podman conmon catatonit uidmap fuse-overlayfs slirp4netns containernetworking-plugins python3 cgroup-tools
  docker-registry skopeo umoci apache2-utils openssl zstd containerd debootstrap stress
  qemu-system-x86 qemu-system-data tini iptables)
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages: ${missing[*]} (run as root to install them)" >&2
  else
    echo "setup: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
else
  # the native executor and launcher: rebuilt when their sources changed
  stale=$(find src/native binding.gyp -newer build/Release/berth_native.node \( -name '*.c' -o -name '*.h' -o -name binding.gyp \) 2>/dev/null | head -1)
  if [ ! -f build/Release/berth_native.node ] || [ ! -x build/Release/berth-runtime ] || [ -n "$stale" ]; then npm run install; fi
  npm run build --silent
fi
