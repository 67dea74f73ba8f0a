#!/usr/bin/env bash
# Run CMD in this repo inside a throwaway QEMU VM whose kernel has every controller on
# cgroup2 (cgroup_no_v1=all), as on a systemd host with the unified hierarchy.
#
#   scripts/cgroup2-vm/run.sh CMD [ARG...]      exit status: CMD's, or 125 when the VM failed
#   scripts/cgroup2-vm/run.sh --prepare          only fetch and build the cache (needs the Debian mirror)
#
# Why a VM: this machine's controllers are on cgroup v1 and its /dev/kvm is a paravirtual device
# a stock kernel cannot drive, so QEMU emulates the CPU (TCG, about 10x slower than native).
# Debian's own kernel boots through qboot with a tiny busybox initramfs, which mounts this
# machine's root read-only over 9p (virtio) under a tmpfs overlay and switches into it: Node,
# runc and the built repo are the host's, writes stay in the VM's RAM and vanish with it.
# CMD's output streams to stdout; the guest reports CMD's exit status on the serial console
# (BERTH_VM_EXIT=<rc>) and resets the VM (-no-reboot makes QEMU exit).
#
# Environment:
#   BERTH_CGROUP2_VM_CACHE    kernel, modules and initramfs (default /var/cache/berth-cgroup2-vm)
#   BERTH_CGROUP2_VM_KERNEL   Debian kernel package (default: what linux-image-amd64 depends on)
#   BERTH_CGROUP2_VM_TIMEOUT  seconds for the whole run, boot included (default 3600)
#   BERTH_CGROUP2_VM_BOOT_TIMEOUT  seconds until the guest must be up (default 180)
#   BERTH_CGROUP2_VM_MEM, BERTH_CGROUP2_VM_CPUS   guest size (default 2G, 2)
#   BERTH_VM_OUT              a host dir shared read-write at the same path in the guest (reports)
#   BERTH_* and NODE_* variables are passed to CMD.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cache=${BERTH_CGROUP2_VM_CACHE:-/var/cache/berth-cgroup2-vm}
timeout_s=${BERTH_CGROUP2_VM_TIMEOUT:-3600}
boot_timeout_s=${BERTH_CGROUP2_VM_BOOT_TIMEOUT:-180}
qemu=${BERTH_CGROUP2_VM_QEMU:-qemu-system-x86_64}
bios=/usr/share/qemu/qboot.rom

die() {
  echo "cgroup2-vm: $*" >&2
  exit 125
}
[ $# -gt 0 ] || die "usage: $0 CMD [ARG...]"
[ "$(id -u)" -eq 0 ] || die "needs root (the guest runs as root over the host's root filesystem)"
command -v "$qemu" >/dev/null || die "$qemu not found (apt-get install qemu-system-x86 qemu-system-data)"
[ -f "$bios" ] || die "$bios not found (apt-get install qemu-system-data)"
[ -x /bin/busybox ] || die "/bin/busybox not found (apt-get install busybox-static)"

init_digest() { write_init | sha256sum | cut -c1-16; }

# ---- prepare (once per kernel, cached): kernel image, modules + modules.dep, initramfs ----

# the modules the initramfs loads: virtio PCI transport, 9p over virtio, overlayfs, the scratch disk
initrd_modules=(virtio_pci 9pnet_virtio 9p overlay virtio_blk)

resolve_kernel_pkg() {
  if [ -n "${BERTH_CGROUP2_VM_KERNEL:-}" ]; then
    echo "$BERTH_CGROUP2_VM_KERNEL"
    return
  fi
  # the flavour package the meta package points at today, from the local apt lists
  apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }'
}

prepare() {
  local pkg=$1 dir=$cache/$1 tmp deb kver
  # "ready" holds the digest of the /init it was built with: a changed init rebuilds the initramfs
  [ "$(cat "$dir/ready" 2>/dev/null)" = "$(init_digest)" ] && return 0
  echo "cgroup2-vm: preparing $dir (one-off)" >&2
  rm -rf "$cache"/.prep.*
  tmp=$(mktemp -d "$cache/.prep.XXXXXX")
  if ! (cd "$tmp" && apt-get download "$pkg" >/dev/null 2>"$tmp/apt.err"); then
    echo "cgroup2-vm: apt-get download $pkg failed (needs the Debian mirror): $(tail -1 "$tmp/apt.err")" >&2
    rm -rf "$tmp"
    return 1
  fi
  deb=$(ls "$tmp"/*.deb)
  dpkg-deb -x "$deb" "$tmp/x"
  kver=$(ls "$tmp/x/lib/modules")
  mkdir -p "$tmp/k/lib/modules"
  mv "$tmp/x/boot/vmlinuz-$kver" "$tmp/k/vmlinuz"
  mv "$tmp/x/boot/config-$kver" "$tmp/k/config"
  mv "$tmp/x/lib/modules/$kver" "$tmp/k/lib/modules/"
  busybox depmod -b "$tmp/k" "$kver"
  echo "$kver" >"$tmp/k/kver"

  # the initramfs: busybox, the modules above with their dependencies (modules.dep lists the
  # whole closure of each), a modules.dep for them, and /init
  local ir=$tmp/initramfs m line f
  mkdir -p "$ir"/{bin,dev,proc,sys,lower,rw,newroot} "$ir/lib/modules/$kver"
  cp /bin/busybox "$ir/bin/busybox"
  for m in "${initrd_modules[@]}"; do
    line=$(grep -E "(^|/)${m}\.ko:" "$tmp/k/lib/modules/$kver/modules.dep") || die "module $m not in $pkg"
    echo "$line" >>"$ir/lib/modules/$kver/modules.dep"
    for f in ${line/:/}; do
      mkdir -p "$ir/lib/modules/$kver/$(dirname "$f")"
      cp "$tmp/k/lib/modules/$kver/$f" "$ir/lib/modules/$kver/$f"
    done
  done
  write_init >"$ir/init"
  chmod 755 "$ir/init"
  (cd "$ir" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1 >"$tmp/k/initramfs.gz")
  rm -rf "$dir"
  mv "$tmp/k" "$dir"
  init_digest >"$dir/ready"
  rm -rf "$tmp"
}

# /init of the initramfs (busybox sh). The kernel command line carries berth.run (the host dir
# with CMD and its environment), berth.kmods (the host dir of the modules), berth.out (optional).
write_init() {
  cat <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
fail() {
  echo "BERTH_VM_FAIL: $*"
  echo "BERTH_VM_EXIT=125"
  reboot -f
}
for a in $(cat /proc/cmdline); do
  case $a in berth.run=*) run=${a#*=} ;; berth.kmods=*) kmods=${a#*=} ;; berth.out=*) out=${a#*=} ;; esac
done
modprobe -a virtio_pci 9pnet_virtio 9p overlay virtio_blk || fail "modprobe"
opts=trans=virtio,version=9p2000.L,msize=512000
# cache=loose: the lower layer does not change under a run, and page/dentry caching is what
# makes Node usable over 9p
mount -t 9p -o "$opts,cache=loose,ro" root /lower || fail "mount the host root over 9p"
mount -t tmpfs -o mode=755 rw /rw && mkdir /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot || fail "mount overlay"
r=/newroot
mount -t proc proc $r/proc
mount -t sysfs sys $r/sys
# the unified hierarchy only: cgroup_no_v1=all leaves every controller to it
mount -t cgroup2 -o nsdelegate cgroup2 $r/sys/fs/cgroup || fail "mount cgroup2"
mount -t bpf bpf $r/sys/fs/bpf 2>/dev/null
mount -t devtmpfs dev $r/dev
mkdir -p $r/dev/pts $r/dev/shm $r/dev/mqueue
mount -t devpts -o newinstance,ptmxmode=0666,mode=620,gid=5 devpts $r/dev/pts
mount -t tmpfs -o mode=1777 shm $r/dev/shm
mount -t mqueue mqueue $r/dev/mqueue
# /tmp stays the overlay's (writes land in the tmpfs upper): a tmpfs here would hide a checkout
# that lives under the host's /tmp
mount -t tmpfs -o mode=755 run $r/run
kver=$(uname -r)
mkdir -p $r/lib/modules/$kver && mount --bind $r$kmods $r/lib/modules/$kver
if [ -n "$out" ]; then
  mount -t 9p -o "$opts" out $r$out || fail "mount the output dir $out"
fi
hostname berth-cgroup2-vm
ip link set lo up
mkdir -p $r/run/berth-vm
cp /bin/busybox $r/run/berth-vm/busybox
cat >$r/run/berth-vm/stage2 <<EOF
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
. $run/env
cd "\$BERTH_VM_REPO" || exit 125
echo "BERTH_VM_UP uptime=\$(cut -d' ' -f1 /proc/uptime)"
/bin/bash $run/cmd </dev/null
rc=\$?
echo "BERTH_VM_EXIT=\$rc"
sync
/run/berth-vm/busybox reboot -f
EOF
exec switch_root /newroot /run/berth-vm/busybox sh /run/berth-vm/stage2
INIT
}

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
pkg=$(resolve_kernel_pkg)
if [ -z "$pkg" ] || ! prepare "$pkg"; then
  # no apt lists or no mirror: fall back on any kernel prepared before
  pkg=$(cd "$cache" && ls -d linux-image-*/ready 2>/dev/null | sort -V | tail -1 | cut -d/ -f1)
  [ -n "$pkg" ] || die "no kernel: run apt-get update, or set BERTH_CGROUP2_VM_KERNEL"
fi
kdir=$cache/$pkg
flock -u 9
if [ "$1" = --prepare ]; then
  echo "cgroup2-vm: ready: $kdir"
  exit 0
fi

# ---- run ----
run=$(mktemp -d "$cache/run.XXXXXX")
log=$run/console.log
qpid=
cleanup() {
  [ -n "$qpid" ] && kill "$qpid" 2>/dev/null
  rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
{
  printf 'export BERTH_VM_REPO=%q\n' "$repo"
  while IFS='=' read -r -d '' k v; do
    case $k in BERTH_* | NODE_*) printf 'export %s=%q\n' "$k" "$v" ;; esac
  done </proc/self/environ
} >"$run/env"
printf '%q ' exec "$@" >"$run/cmd"
echo >>"$run/cmd"

append="console=ttyS0 quiet loglevel=3 panic=-1 cgroup_no_v1=all mitigations=off rdinit=/init"
append+=" berth.run=$run berth.kmods=$kdir/lib/modules/$(cat "$kdir/kver")"
qargs=(-machine q35 -accel tcg,thread=multi -cpu max -smp "${BERTH_CGROUP2_VM_CPUS:-2}" -m "${BERTH_CGROUP2_VM_MEM:-2G}"
  -nographic -no-reboot -nic none -bios "$bios"
  -kernel "$kdir/vmlinuz" -initrd "$kdir/initramfs.gz"
  -virtfs local,path=/,mount_tag=root,security_model=passthrough,readonly=on,multidevs=remap
  # a 256 MiB scratch disk that reads zeros: a real block device for io.max rules
  -blockdev driver=null-co,node-name=scratch,size=268435456,read-zeroes=on -device virtio-blk-pci,drive=scratch)
if [ -n "${BERTH_VM_OUT:-}" ]; then
  mkdir -p "$BERTH_VM_OUT"
  BERTH_VM_OUT=$(cd "$BERTH_VM_OUT" && pwd)
  append+=" berth.out=$BERTH_VM_OUT"
  qargs+=(-virtfs "local,path=$BERTH_VM_OUT,mount_tag=out,security_model=passthrough,multidevs=remap")
fi

start=$(date +%s.%N)
"$qemu" "${qargs[@]}" -append "$append" </dev/null >"$log" 2>&1 &
qpid=$!
# stream the console to stdout, without the carriage returns and our marker lines
tail -s 0.2 -n +1 -F --pid="$qpid" "$log" 2>/dev/null |
  sed -u -e 's/\r$//' -e '/^BERTH_VM_\(UP\|EXIT=\)/d' -e '/^\[ *[0-9.]*\] reboot: Restarting system$/d' &
tailpid=$!

up=
why=
while kill -0 "$qpid" 2>/dev/null; do
  now=$(date +%s.%N)
  if [ -z "$up" ]; then
    if grep -q '^BERTH_VM_UP' "$log"; then
      up=$(awk -v s="$start" -v n="$now" 'BEGIN { printf "%.1f", n - s }')
    elif awk -v s="$start" -v n="$now" -v t="$boot_timeout_s" 'BEGIN { exit !(n - s > t) }'; then
      why="the guest did not come up within ${boot_timeout_s}s"
    fi
  fi
  if [ -z "$why" ] && awk -v s="$start" -v n="$now" -v t="$timeout_s" 'BEGIN { exit !(n - s > t) }'; then
    why="the run took longer than ${timeout_s}s"
  fi
  if [ -n "$why" ]; then
    kill "$qpid" 2>/dev/null || true
    break
  fi
  sleep 0.5
done
wait "$qpid" 2>/dev/null && qrc=0 || qrc=$?
qpid=
wait "$tailpid" 2>/dev/null || true
total=$(awk -v s="$start" -v n="$(date +%s.%N)" 'BEGIN { printf "%.1f", n - s }')
guest_up=$(sed -n 's/^BERTH_VM_UP uptime=\([0-9.]*\).*/\1/p' "$log" | head -1)
rc=$(sed -n 's/^BERTH_VM_EXIT=\([0-9]*\).*/\1/p' "$log" | tail -1)
echo "cgroup2-vm: kernel $pkg; up after ${up:-?}s (guest uptime ${guest_up:-?}s), total ${total}s" >&2
[ -z "$why" ] || die "$why; the console log follows:$(echo; tail -30 "$log")"
if [ -z "$rc" ]; then
  die "qemu exited ($qrc) without an exit status from the guest; the console log follows:$(echo; tail -30 "$log")"
fi
exit "$rc"
