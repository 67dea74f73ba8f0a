// Container escapes that must fail: known CVEs and the kernel doors a container must find shut.
// Each test also checks that the attack got where it would have worked on a naive runtime.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { defaultSeccompProfile } from "../../src/seccomp/default-profile.js";
import { probeBinary } from "../fixtures/probe.js";
import { type Harness, IS_BERTH, RUNTIME, mountsMentioning, rtest, sleep, waitFor } from "./harness.js";

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, basename(resolve(here, "../..")) === "dist" ? "../../.." : "../..");
/** runc's default capabilities, as `berth-runtime spec` writes them */
const DEFAULT_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];

const sha256 = (p: string) => createHash("sha256").update(readFileSync(p)).digest("hex");

/** The probe copied into a bundle's rootfs as /bin/probe. */
function withProbe(bundle: string): string {
  copyFileSync(probeBinary(), join(bundle, "rootfs/bin/probe"));
  chmodSync(join(bundle, "rootfs/bin/probe"), 0o755);
  return bundle;
}

/** The host binaries a runtime process may run as while it enters the container. */
function runtimeBinaries(): string[] {
  const node = realpathSync(execFileSync("sh", ["-c", "command -v node"], { encoding: "utf8" }).trim());
  const out = [node, realpathSync(RUNTIME), join(repo, "build/Release/berth-runtime")];
  return [...new Set(out.filter((p) => existsSync(p)))];
}

rtest("CVE-2019-5736: a container process cannot open the runtime binary for writing during exec", async (h) => {
  const bins = runtimeBinaries();
  const before = bins.map(sha256);
  const inodes = new Set(bins.map((p) => `${statSync(p).dev}:${statSync(p).ino}`));
  const bundle = withProbe(h.bundle(["sh", "-c", "probe attack 60 > /tmp/attack.log 2>&1; sleep 1000"]));
  const id = h.id();
  h.ok(["run", "--detach", "--bundle", bundle, id]);
  const log = join(bundle, "rootfs/tmp/attack.log");
  await waitFor("the attacker to start", () => existsSync(log) && readFileSync(log, "utf8").includes("control"));
  const execPids: string[] = [];
  for (let i = 0; i < 8; i++) {
    // each exec'd process is a pid the watcher must see: proof it watched while the runtime entered
    execPids.push(h.ok(["exec", id, "sh", "-c", "echo $$; sleep 0.2"]).trim());
    await sleep(50);
  }
  writeFileSync(join(bundle, "rootfs/tmp/stop"), "");
  const out = await waitFor("the attacker to finish", () => {
    const s = readFileSync(log, "utf8");
    return s.includes("done held=") && s;
  });
  assert.match(out, /^control reopen=ok$/m, "the reopen-through-/proc/self/fd trick works on a writable file");
  for (const pid of execPids) assert.match(out, new RegExp(`^seen pid=${pid} `, "m"), `the watcher saw exec'd pid ${pid}`);
  const writes = [...out.matchAll(/^WRITE .*dev=(\d+) ino=(\d+)/gm)].map((m) => `${m[1]}:${m[2]}`);
  // the container's /dev differs from the host's, so compare inodes of files on the host's disks only
  assert.deepEqual(
    writes.filter((w) => inodes.has(w)),
    [],
    `the attacker opened a host runtime binary for writing:\n${out}`,
  );
  if (IS_BERTH) assert.deepEqual(writes, [], `no foreign exe opened for writing at all:\n${out}`);
  assert.deepEqual(bins.map(sha256), before, "the host runtime binaries are unchanged");
});

/** A marker in the runtime call's cwd and one in /tmp: a process that lands on the host sees them. */
function markers(h: Harness): { cwd: string; names: string[] } {
  const cwd = h.path("host-cwd");
  execFileSync("mkdir", ["-p", cwd]);
  const a = `berth-escape-marker-${process.pid}-cwd`;
  writeFileSync(join(cwd, a), "");
  const tmp = mkdtempSync("/tmp/berth-escape-marker-");
  h.onCleanup(() => rmSync(tmp, { recursive: true, force: true }));
  return { cwd, names: [a, basename(tmp)] };
}

/** From a cwd outside the root, `..` climbs to the host's /: list it and its /tmp. */
const CLIMB = "pwd; ls -a ../../../../../../../.. ../../../../../../../../tmp; ls -a ..";

rtest("CVE-2024-21626: process.cwd /proc/self/fd/N (3..20) does not land in a host directory", (h) => {
  const m = markers(h);
  // the control: the probe finds a marker when the process does see the host's /tmp
  const seen = h.runOk(["ls", "-a", "/hosttmp"], (s) => {
    s.mounts?.push({ destination: "/hosttmp", type: "bind", source: "/tmp", options: ["rbind", "ro"] });
  });
  assert.ok(seen.includes(m.names[1] ?? "?"), "the marker is visible through a bind mount of /tmp");
  for (let n = 3; n <= 20; n++) {
    const bundle = h.bundle(["sh", "-c", CLIMB], (s) => {
      if (s.process) s.process.cwd = `/proc/self/fd/${n}`;
    });
    const r = h.rt(["run", "--bundle", bundle, h.id(`fd${n}`)], { cwd: m.cwd });
    const all = r.stdout + r.stderr;
    for (const name of m.names)
      assert.ok(!all.includes(name), `cwd /proc/self/fd/${n}: the process saw the host (${name}):\n${all}`);
    assert.ok(!/^work$/m.test(r.stdout), `cwd /proc/self/fd/${n}: the host's / (with /work) is listed:\n${all}`);
  }
});

rtest("CVE-2024-21626: exec --cwd /proc/self/fd/N (3..20) does not land in a host directory", async (h) => {
  const m = markers(h);
  const { id } = await h.detached(["sleep", "1000"]);
  for (let n = 3; n <= 20; n++) {
    const r = h.rt(["exec", "--cwd", `/proc/self/fd/${n}`, id, "sh", "-c", CLIMB], { cwd: m.cwd });
    const all = r.stdout + r.stderr;
    for (const name of m.names)
      assert.ok(!all.includes(name), `exec --cwd /proc/self/fd/${n}: the process saw the host (${name}):\n${all}`);
    assert.ok(!/^work$/m.test(r.stdout), `exec --cwd /proc/self/fd/${n}: the host's / is listed:\n${all}`);
  }
  assert.equal(h.ok(["exec", "--cwd", "/tmp", id, "pwd"]), "/tmp\n", "exec with an ordinary cwd still works");
});

// The absolute form (rootfs/evil -> /etc) is in mounts.test.ts; this is the relative climb with a bind.
rtest("a bind mount onto a relative symlink climbing out of the rootfs stays inside the container", (h) => {
  const hostEtc = readdirSync("/etc").sort();
  const hostMounts = mountsMentioning(" /etc ").length;
  const src = h.path("payload");
  execFileSync("mkdir", ["-p", src]);
  writeFileSync(join(src, "planted"), "x");
  const bundle = h.bundle(["sh", "-c", "ls /evil/ /etc/ 2>&1"], (s) => {
    s.mounts?.push({ destination: "/evil", type: "bind", source: src, options: ["rbind"] });
  });
  symlinkSync("../../../../../../../../../etc", join(bundle, "rootfs/evil"));
  const r = h.rt(["run", "--bundle", bundle, h.id()]);
  // either refused or the mount lands inside the rootfs (its /etc)
  if (r.code === 0) assert.match(r.stdout, /planted/, "the bind mount is inside the container");
  assert.ok(!existsSync("/etc/planted"), "nothing planted in the host's /etc");
  assert.deepEqual(readdirSync("/etc").sort(), hostEtc, "the host's /etc is unchanged");
  assert.equal(mountsMentioning(" /etc ").length, hostMounts, "no mount on the host's /etc");
});

rtest("/proc/sysrq-trigger and /proc/sys are not writable", (h) => {
  // this kernel may lack CONFIG_MAGIC_SYSRQ (no /proc/sysrq-trigger on the host): then only /proc/sys is checked
  const sysrq = existsSync("/proc/sysrq-trigger");
  const out = h.runOk([
    "sh",
    "-c",
    "test -e /proc/sysrq-trigger && echo present; echo h 2>&1 > /proc/sysrq-trigger; echo rc=$?; " +
      "test -w /proc/sys/kernel/domainname && echo exists; echo x 2>&1 > /proc/sys/kernel/domainname; echo sys=$?",
  ]);
  if (sysrq) {
    assert.match(out, /^present\n/);
    assert.match(out, /Read-only file system|Permission denied/);
  }
  assert.match(out, /rc=[1-9]/);
  assert.match(out, /Read-only file system/, "/proc/sys is read-only");
  assert.match(out, /sys=[1-9]/);
});

rtest("masked /proc files: /proc/kcore unreadable (or absent), /proc/timer_list empty", (h) => {
  // this kernel may have no /proc/kcore; /proc/timer_list (masked too) has content on every host
  assert.ok(readFileSync("/proc/timer_list", "utf8").length > 0, "the host's /proc/timer_list has content");
  const out = h.runOk([
    "sh",
    "-c",
    "wc -c < /proc/timer_list; if [ -e /proc/kcore ]; then head -c 16 /proc/kcore | wc -c; else echo nokcore; fi",
  ]);
  const [timer, kcore] = out.trim().split("\n");
  assert.equal(timer?.trim(), "0", "the container reads /proc/timer_list empty");
  assert.ok(kcore === "nokcore" || kcore?.trim() === "0", `/proc/kcore readable: ${kcore}`);
});

rtest("the container's /proc shows only its own pid namespace", (h) => {
  const hostPids = readdirSync("/proc").filter((p) => /^\d+$/.test(p));
  assert.ok(hostPids.length > 5 && hostPids.includes(String(process.pid)));
  const out = h.runOk(["sh", "-c", "ls /proc | grep -E '^[0-9]+$'; echo; cat /proc/1/cmdline | tr '\\0' ' '"]);
  const [list = "", cmd = ""] = out.split("\n\n");
  const pids = list.split("\n").filter(Boolean).map(Number);
  assert.ok(pids.includes(1), "the container's init is pid 1");
  assert.ok(pids.length <= 4, `only the container's processes: ${pids.join(" ")}`);
  assert.match(cmd, /^sh -c/, "pid 1 is the container's own command");
});

rtest("loading a kernel module fails with EPERM (no CAP_SYS_MODULE)", (h) => {
  // garbage on purpose: with CAP_SYS_MODULE the kernel would parse it and answer ENOEXEC instead.
  // A kernel without CONFIG_MODULES (no /proc/modules on the host) answers ENOSYS to everyone.
  const out = h.runOk(["sh", "-c", "head -c 4096 /bin/busybox > /tmp/x.ko; insmod /tmp/x.ko 2>&1; echo rc=$?"]);
  assert.match(out, existsSync("/proc/modules") ? /Operation not permitted/ : /Operation not permitted|not support/);
  assert.match(out, /rc=[1-9]/);
});

rtest("mknod of a disk (b 8 0) fails; with CAP_MKNOD the device cgroup still keeps the disk closed", (h) => {
  const out = h.runOk(["sh", "-c", "mknod /tmp/sda b 8 0 2>&1; echo rc=$?"]);
  assert.match(out, /Operation not permitted/);
  assert.match(out, /rc=1/);
  const caps = [...DEFAULT_CAPS, "CAP_MKNOD"];
  const out2 = h.runOk(
    ["sh", "-c", "mknod /tmp/sda b 8 0 2>&1 && echo made; head -c 512 /tmp/sda > /dev/null 2>&1; echo read=$?"],
    (s) => {
      if (s.process) s.process.capabilities = { bounding: caps, effective: caps, permitted: caps };
    },
  );
  // runc allows "b *:* m" (mknod) by default; reading the disk is what must fail
  assert.match(out2, /read=[1-9]/, `the disk was readable:\n${out2}`);
});

rtest("noNewPrivileges: a setuid-root binary run as uid 1000 stays uid 1000 with no capabilities", (h) => {
  const setuidRun = (nnp: boolean) => {
    const bundle = withProbe(
      h.bundle(["/bin/suid-probe", "ids"], (s) => {
        if (s.process) {
          s.process.user = { uid: 1000, gid: 1000 };
          s.process.noNewPrivileges = nnp;
        }
      }),
    );
    const p = join(bundle, "rootfs/bin/suid-probe");
    copyFileSync(join(bundle, "rootfs/bin/probe"), p);
    chownSync(p, 0, 0);
    chmodSync(p, 0o4755);
    const r = h.rt(["run", "--bundle", bundle, h.id()]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  };
  // the control: without NNP the setuid bit works (so the filesystem is not nosuid)
  assert.match(setuidRun(false), /^euid=0$/m);
  const out = setuidRun(true);
  assert.match(out, /^euid=1000$/m);
  assert.match(out, /^CapEff:\s+0+$/m);
});

rtest("default seccomp profile: unshare, mount, keyctl fail; a normal shell's tools work", (h) => {
  const script = [
    "unshare -U true 2>&1; echo unshare-U=$?",
    "unshare -m true 2>&1; echo unshare-m=$?",
    "mount -t tmpfs t /mnt 2>&1; echo mount=$?",
    "probe keyctl",
    "ls / > /dev/null && echo ls=ok",
    "ps > /dev/null && echo ps=ok",
    "wget --help > /dev/null 2>&1; echo wget=$?",
    "sleep 0.1 && echo sleep=ok",
    "id -u",
    "(true & wait) && echo fork=ok",
  ].join("; ");
  const bundle = withProbe(
    h.bundle(["sh", "-c", script], (s) => {
      if (s.linux) s.linux.seccomp = defaultSeccompProfile(DEFAULT_CAPS);
    }),
  );
  const r = h.rt(["run", "--bundle", bundle, h.id()]);
  assert.equal(r.code, 0, r.stderr);
  const out = r.stdout;
  assert.match(out, /unshare-U=[1-9]/);
  assert.match(out, /unshare-m=[1-9]/);
  assert.match(out, /mount=[1-9]/);
  assert.match(out, /^keyctl=-1 errno=1$/m, "keyctl: EPERM from the filter");
  assert.match(out, /^add_key=-1 errno=1$/m, "add_key: EPERM from the filter");
  for (const ok of ["ls=ok", "ps=ok", "wget=0", "sleep=ok", "fork=ok"]) assert.ok(out.includes(ok), `${ok} in:\n${out}`);
  assert.match(out, /^0$/m, "id -u");
});
