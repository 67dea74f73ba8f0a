// Namespaces: uts, pid, net (new and joined by path), user with id mappings.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readlinkSync, statSync } from "node:fs";
import { join } from "node:path";
import { RUNTIME_NAME, rtest, runtimeVersion } from "./harness.js";

rtest("uts: hostname and domainname are set", (h) => {
  const out = h.runOk(["sh", "-c", "hostname; cat /proc/sys/kernel/domainname"], (s) => {
    s.hostname = "bt-host";
    s.domainname = "bt.example";
  });
  // runc before 1.2 ignores "domainname" (it was added in runc 1.2.0)
  const old = RUNTIME_NAME === "runc" && /^runc version 1\.[01]\./.test(runtimeVersion());
  assert.equal(out, old ? "bt-host\n(none)\n" : "bt-host\nbt.example\n");
});

rtest("pid: the program is pid 1 and sees only its own processes", (h) => {
  const out = h.runOk(["sh", "-c", "echo $$; ls /proc | grep -c '^[0-9]'"]);
  const [pid, n] = out.trim().split("\n");
  assert.equal(pid, "1");
  assert.ok(Number(n) <= 3, `sh, ls and grep at most, saw ${n}`);
});

rtest("net: a new network namespace has only lo", (h) => {
  const out = h.runOk(["sh", "-c", "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; readlink /proc/self/ns/net"]);
  const [devs, ns] = [out.trim().split("\n").slice(0, -1), out.trim().split("\n").at(-1)];
  assert.deepEqual(devs, ["lo"]);
  assert.notEqual(ns, readlinkSync("/proc/self/ns/net"), "not the host's netns");
});

rtest("net: joining an existing network namespace by path", (h) => {
  const name = `bt${process.pid}-${Date.now() % 100000}`;
  const ip = (...a: string[]) => {
    const r = spawnSync("ip", a, { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`ip ${a.join(" ")}: ${r.stderr}`);
  };
  ip("netns", "add", name);
  h.onCleanup(() => ip("netns", "del", name));
  ip("-n", name, "addr", "add", "10.199.7.1/32", "dev", "lo");
  const path = `/var/run/netns/${name}`;
  const out = h.runOk(["sh", "-c", "readlink /proc/self/ns/net; ip -4 addr show dev lo"], (s) => {
    const ns = s.linux?.namespaces?.find((n) => n.type === "network");
    if (ns) ns.path = path;
  });
  const [link, ...addr] = out.trim().split("\n");
  assert.equal(link, `net:[${statSync(path).ino}]`, "the container is in the named netns");
  assert.match(addr.join("\n"), /10\.199\.7\.1/);
});

rtest("user: uid 0 inside maps to 100000 outside", (h) => {
  const bundle = h.bundle(["sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; id -u; touch /tmp/owned"], (s) => {
    s.linux?.namespaces?.push({ type: "user" });
    if (s.linux) {
      s.linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      s.linux.gidMappings = [{ containerID: 0, hostID: 200000, size: 65536 }];
    }
    // sysfs and cgroup mounts need privileges a user namespace lacks on the host's net/cgroup
    if (s.mounts) s.mounts = s.mounts.filter((m) => m.destination !== "/sys/fs/cgroup");
  });
  const out = h.ok(["run", "--bundle", bundle, h.id()]).trim();
  const lines = out.split("\n").map((l) => l.trim().split(/\s+/).join(" "));
  assert.deepEqual(lines, ["0 100000 65536", "0 200000 65536", "0"]);
  const st = statSync(join(bundle, "rootfs/tmp/owned"));
  assert.equal(st.uid, 100000);
  assert.equal(st.gid, 200000);
});
