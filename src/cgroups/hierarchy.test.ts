import assert from "node:assert/strict";
import { test } from "node:test";
import type { Hierarchy } from "./hierarchy.js";
import { cgroupDir, detectMode, parseHierarchies, parseProcCgroup } from "./hierarchy.js";

// Debian 10 / systemd "hybrid": v1 controllers, name=systemd, and cgroup2 on .../unified
const HYBRID = `22 27 0:20 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
27 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro
30 22 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
32 30 0:28 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
35 30 0:31 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,cpu,cpuacct
36 30 0:32 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,memory
37 30 0:33 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,net_cls,net_prio
38 30 0:34 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:18 - cgroup cgroup rw,pids
99 27 0:34 / /mnt/pids\\040again rw,relatime - cgroup cgroup rw,pids
`;

const UNIFIED = `25 30 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
26 30 0:24 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw`;

test("parseHierarchies on a hybrid host: v1 controllers, named hierarchy, cgroup2", () => {
  const hs = parseHierarchies(HYBRID);
  assert.deepEqual(hs, [
    { name: "", controllers: [], mountpoint: "/sys/fs/cgroup/unified", root: "/", version: 2 },
    { name: "name=systemd", controllers: [], mountpoint: "/sys/fs/cgroup/systemd", root: "/", version: 1 },
    { name: "cpu,cpuacct", controllers: ["cpu", "cpuacct"], mountpoint: "/sys/fs/cgroup/cpu,cpuacct", root: "/", version: 1 },
    { name: "memory", controllers: ["memory"], mountpoint: "/sys/fs/cgroup/memory", root: "/", version: 1 },
    {
      name: "net_cls,net_prio",
      controllers: ["net_cls", "net_prio"],
      mountpoint: "/sys/fs/cgroup/net_cls,net_prio",
      root: "/",
      version: 1,
    },
    // the second mount of the pids hierarchy is ignored: the first one wins
    { name: "pids", controllers: ["pids"], mountpoint: "/sys/fs/cgroup/pids", root: "/", version: 1 },
  ]);
  assert.equal(detectMode(hs), "hybrid");
});

test("parseHierarchies on a pure v2 host", () => {
  const hs = parseHierarchies(UNIFIED);
  assert.deepEqual(hs, [{ name: "", controllers: [], mountpoint: "/sys/fs/cgroup", root: "/", version: 2 }]);
  assert.equal(detectMode(hs), "unified");
});

test("parseHierarchies: mount roots, octal escapes, optional fields", () => {
  const text = [
    // inside a container: the cgroup mount exposes a sub-tree as its root, no optional fields
    "40 39 0:29 /docker/abc /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory",
    "41 39 0:30 /docker/abc /sys/fs/cgroup/my\\040cg rw shared:3 master:1 - cgroup cgroup rw,name=mine,cpu",
    "42 39 0:31 / /x rw - cgroup cgroup rw,xattr",
    "",
    "garbage line",
  ].join("\n");
  assert.deepEqual(parseHierarchies(text), [
    { name: "memory", controllers: ["memory"], mountpoint: "/sys/fs/cgroup/memory", root: "/docker/abc", version: 1 },
    // a named hierarchy with a controller keeps both
    { name: "name=mine", controllers: ["cpu"], mountpoint: "/sys/fs/cgroup/my cg", root: "/docker/abc", version: 1 },
  ]);
});

test("detectMode: only v1 is legacy", () => {
  const v1 = parseHierarchies(HYBRID).filter((h) => h.version === 1);
  assert.equal(detectMode(v1), "legacy");
});

test("parseProcCgroup maps hierarchy names to paths", () => {
  const text = `12:pids:/user.slice/user-1000.slice
4:cpu,cpuacct:/user.slice
1:name=systemd:/user.slice/user-1000.slice/session-2.scope
0::/user.slice/user-1000.slice/session-2.scope
`;
  const m = parseProcCgroup(text);
  assert.equal(m.size, 4);
  assert.equal(m.get("pids"), "/user.slice/user-1000.slice");
  assert.equal(m.get("cpu,cpuacct"), "/user.slice");
  assert.equal(m.get("name=systemd"), "/user.slice/user-1000.slice/session-2.scope");
  assert.equal(m.get(""), "/user.slice/user-1000.slice/session-2.scope");
});

test("parseProcCgroup keeps colons inside the path", () => {
  assert.equal(parseProcCgroup("0::/a:b/c").get(""), "/a:b/c");
  assert.equal(parseProcCgroup("0::/").get(""), "/");
  assert.equal(parseProcCgroup("junk").size, 0);
});

const mem: Hierarchy = { name: "memory", controllers: ["memory"], mountpoint: "/sys/fs/cgroup/memory", root: "/", version: 1 };
const v2: Hierarchy = { name: "", controllers: [], mountpoint: "/sys/fs/cgroup", root: "/", version: 2 };

test("cgroupDir: an absolute path is taken from the hierarchy's root", () => {
  assert.equal(cgroupDir(mem, "/user.slice", "/berth/c1"), "/sys/fs/cgroup/memory/berth/c1");
  assert.equal(cgroupDir(v2, "/user.slice", "/berth/c1"), "/sys/fs/cgroup/berth/c1");
  assert.equal(cgroupDir(v2, undefined, "/a/../b"), "/sys/fs/cgroup/b");
});

test("cgroupDir: a relative path is under the caller's own cgroup", () => {
  assert.equal(cgroupDir(mem, "/user.slice", "c1"), "/sys/fs/cgroup/memory/user.slice/c1");
  assert.equal(cgroupDir(v2, "/system.slice/x.service", "c1"), "/sys/fs/cgroup/system.slice/x.service/c1");
  assert.equal(cgroupDir(v2, undefined, "c1"), "/sys/fs/cgroup/c1");
});

test("cgroupDir: a mount whose root is not / strips that root", () => {
  const inner: Hierarchy = { ...mem, root: "/docker/abc" };
  // our own cgroup is the mount's root: a child of it is right under the mountpoint
  assert.equal(cgroupDir(inner, "/docker/abc", "c1"), "/sys/fs/cgroup/memory/c1");
  assert.equal(cgroupDir(inner, "/docker/abc/sub", "c1"), "/sys/fs/cgroup/memory/sub/c1");
  assert.equal(cgroupDir(inner, undefined, "/docker/abc/x"), "/sys/fs/cgroup/memory/x");
  assert.equal(cgroupDir(inner, undefined, "/docker/abc"), "/sys/fs/cgroup/memory");
  // a path outside the mount's root cannot climb out of the mountpoint
  assert.equal(cgroupDir(inner, undefined, "/other"), "/sys/fs/cgroup/memory/other");
});
