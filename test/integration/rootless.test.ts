// Rootless: the runtime driven by an unprivileged user (runc's "rootless" containers). The test
// needs root only to make that user and its bundles; every runtime call runs as the user.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import {
  appendFileSync,
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
} from "node:fs";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { after, before, test } from "node:test";
import type { Spec } from "../../src/oci/index.js";
import { makeBundle } from "../fixtures/busybox-bundle.js";
import { IS_BERTH, IS_ROOT, RUNTIME, RUNTIME_NAME, alive, waitFor } from "./harness.js";

const USER = "berth-rootless";
/** the user's subordinate ids (/etc/subuid, /etc/subgid), for mappings of more than one id */
const SUB_START = 300000;
const SUB_COUNT = 65536;

function readNumber(file: string): number | undefined {
  try {
    return Number(readFileSync(file, "utf8").trim());
  } catch {
    return undefined; // the kernel has no such knob
  }
}

/** Why this kernel or caller cannot run the test, or undefined. */
function skipReason(): string | undefined {
  if (!IS_ROOT) return "needs root: creates the unprivileged test user and its bundles";
  if (readNumber("/proc/sys/kernel/unprivileged_userns_clone") === 0)
    return "the kernel forbids unprivileged user namespaces (kernel.unprivileged_userns_clone=0)";
  if (readNumber("/proc/sys/user/max_user_namespaces") === 0)
    return "the kernel forbids user namespaces (user.max_user_namespaces=0)";
  if (readNumber("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") === 1)
    return "AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns=1)";
  for (const tool of ["setpriv", "useradd", "newuidmap", "newgidmap"])
    if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0) return `${tool} is not installed`;
  return undefined;
}

const SKIP = skipReason();

let uid = 0;
let gid = 0;
let dir = "";
let xdg = "";
let n = 0;
const ids: string[] = [];

/** Make the user (idempotently), with subordinate ids for the mapping helpers. */
function ensureUser(): void {
  if (spawnSync("id", ["-u", USER]).status !== 0)
    execFileSync("useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER]);
  uid = Number(execFileSync("id", ["-u", USER], { encoding: "utf8" }).trim());
  gid = Number(execFileSync("id", ["-g", USER], { encoding: "utf8" }).trim());
  for (const f of ["/etc/subuid", "/etc/subgid"]) {
    const text = existsSync(f) ? readFileSync(f, "utf8") : "";
    if (!text.split("\n").some((l) => l.startsWith(`${USER}:`))) appendFileSync(f, `${USER}:${SUB_START}:${SUB_COUNT}\n`);
  }
}

before(() => {
  if (SKIP) return;
  ensureUser();
  dir = mkdtempSync("/tmp/bt-rootless-");
  xdg = join(dir, "xdg");
  mkdirSync(xdg, { mode: 0o700 });
  execFileSync("chown", ["-R", `${uid}:${gid}`, dir]);
});

after(() => {
  if (SKIP || !dir) return;
  for (const id of ids) if (existsSync(join(stateRoot(), id))) as(["delete", "--force", id]);
  rmSync(dir, { recursive: true, force: true });
});

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * The runtime as the unprivileged user, with no --root: the default state root must be its own.
 * `cgroups`: cgroup.procs files the caller is moved into first (as root), as a delegated user
 * session runs inside its delegated subtree.
 */
function as(args: string[], o: { cwd?: string; cgroups?: string[] } = {}): Result {
  const k = ++n;
  const out = join(dir, `rt${k}.out`);
  const err = join(dir, `rt${k}.err`);
  const ofd = openSync(out, "w");
  const efd = openSync(err, "w");
  try {
    const env = [`PATH=${process.env["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin"}`, `XDG_RUNTIME_DIR=${xdg}`];
    // in warm mode the root-owned server's socket is refused to the user: the client runs cold
    const warm = process.env["BERTH_RUNTIME_WARM_SOCKET"];
    if (warm) env.push(`BERTH_RUNTIME_WARM_SOCKET=${warm}`);
    const user = ["setpriv", `--reuid=${USER}`, `--regid=${USER}`, "--init-groups", "env", "-i", ...env, RUNTIME, ...args];
    const enter = 'for f in $1; do echo $$ > "$f" || exit 125; done; shift; exec "$@"';
    const [cmd, ...argv] = o.cgroups ? ["sh", "-c", enter, "sh", o.cgroups.join(" "), ...user] : user;
    const r = spawnSync(cmd ?? "setpriv", argv, {
      stdio: ["ignore", ofd, efd],
      timeout: 30_000,
      killSignal: "SIGKILL",
      cwd: o.cwd ?? dir,
    });
    if (r.error) throw r.error;
    return { code: r.status, stdout: readFileSync(out, "utf8"), stderr: readFileSync(err, "utf8") };
  } finally {
    closeSync(ofd);
    closeSync(efd);
  }
}

function ok(args: string[], o: { cwd?: string } = {}): string {
  const r = as(args, o);
  if (r.code !== 0) throw new Error(`${RUNTIME_NAME} ${args.join(" ")} as ${USER}: exit ${r.code}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** runc's default for an unprivileged caller is $XDG_RUNTIME_DIR/runc; berth-runtime's the same with its name */
const stateRoot = () => join(xdg, IS_BERTH ? "berth-runtime" : "runc");

/** The spec `spec --rootless` writes, as the user, in a fresh dir. */
function rootlessSpec(): Spec {
  const d = join(dir, `spec${++n}`);
  mkdirSync(d);
  execFileSync("chown", [`${uid}:${gid}`, d]);
  ok(["spec", "--rootless", "--bundle", d]);
  return JSON.parse(readFileSync(join(d, "config.json"), "utf8")) as Spec;
}

/** A busybox bundle owned by the user, from the rootless spec, running `args`. */
function bundle(args: string[], edit?: (s: Spec) => void): string {
  const base = rootlessSpec();
  const b = makeBundle(join(dir, `bundle${++n}`), args, (s) => {
    Object.assign(s, { ...base, process: { ...base.process, terminal: false, args }, root: { path: "rootfs" } });
    edit?.(s);
  });
  execFileSync("chown", ["-R", `${uid}:${gid}`, b]);
  return b;
}

function newId(name: string): string {
  const id = `btrl${process.pid}-${++n}-${name}`;
  ids.push(id);
  return id;
}

function state(id: string): Record<string, unknown> {
  return JSON.parse(ok(["state", id])) as Record<string, unknown>;
}

/** A host dir owned by the user, bound read-write at /data. */
function dataDir(s: Spec, host: string): void {
  mkdirSync(host);
  execFileSync("chown", [`${uid}:${gid}`, host]);
  s.mounts?.push({ destination: "/data", type: "bind", source: host, options: ["rbind", "rw"] });
}

function rtest(name: string, fn: (t: TestContext) => Promise<void> | void, o: { skipFor?: Record<string, string> } = {}): void {
  test(name, async (t) => {
    if (SKIP) return t.skip(SKIP);
    const why = o.skipFor?.[RUNTIME_NAME];
    if (why) return t.skip(`${RUNTIME_NAME} differs: ${why}`);
    await fn(t);
  });
}

rtest("spec --rootless: the caller's ids mapped to root, host network, /sys bound, no gid=, no resources", () => {
  const s = rootlessSpec();
  assert.deepEqual(s.linux?.uidMappings, [{ containerID: 0, hostID: uid, size: 1 }]);
  assert.deepEqual(s.linux?.gidMappings, [{ containerID: 0, hostID: gid, size: 1 }]);
  const types = (s.linux?.namespaces ?? []).map((x) => x.type);
  assert.ok(types.includes("user"), `a user namespace: ${types}`);
  assert.ok(!types.includes("network"), `no network namespace: ${types}`);
  const sys = s.mounts?.find((m) => m.destination === "/sys");
  assert.equal(sys?.source, "/sys");
  assert.ok(sys?.options?.includes("rbind"), `/sys is an rbind: ${sys?.options}`);
  assert.ok(sys?.options?.includes("ro"), `/sys is read-only: ${sys?.options}`);
  const pts = s.mounts?.find((m) => m.destination === "/dev/pts");
  assert.ok(!pts?.options?.some((o) => o.startsWith("gid=")), `no gid= on devpts: ${pts?.options}`);
  assert.equal(s.linux?.resources, undefined);
});

rtest("run attached: root inside is the user outside, on the host's network, exit code kept", () => {
  const b = bundle([
    "sh",
    "-c",
    "id -u; id -g; cat /proc/self/uid_map; cat /proc/self/setgroups; readlink /proc/self/ns/net; exit 3",
  ]);
  const r = as(["run", "--bundle", b, newId("run")]);
  assert.equal(r.code, 3, r.stderr);
  const [u, g, map, setgroups, net] = r.stdout.trim().split("\n");
  assert.equal(u, "0");
  assert.equal(g, "0");
  assert.deepEqual(map?.trim().split(/\s+/), ["0", String(uid), "1"]);
  // an unprivileged self-mapping of the gid needs setgroups denied (user_namespaces(7))
  assert.equal(setgroups, "deny");
  assert.equal(net, readlinkSync("/proc/self/ns/net"), "the host's network namespace");
});

rtest("create, start, state, exec, ps, kill and delete as the user, state under $XDG_RUNTIME_DIR", async () => {
  const b = bundle(["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"]);
  const id = newId("life");
  ok(["create", "--bundle", b, id]);
  assert.ok(existsSync(join(stateRoot(), id)), `state in ${stateRoot()}`);
  // sticky, so that systemd's clean-up of $XDG_RUNTIME_DIR leaves it (tmpfiles.d(5)), as runc does
  assert.equal(statSync(stateRoot()).mode & 0o1000, 0o1000, "the state root has the sticky bit");
  let st = state(id);
  assert.equal(st["status"], "created");
  const pid = Number(st["pid"]);
  assert.ok(pid > 0 && alive(pid));
  assert.equal(statSync(`/proc/${pid}`).uid, uid, "the init runs as the user on the host");
  ok(["start", id]);
  st = state(id);
  assert.equal(st["status"], "running");
  assert.equal(ok(["exec", id, "id", "-u"]), "0\n");
  // runc 1.1 finds a container's processes only through its cgroup, which a rootless one lacks here
  if (RUNTIME_NAME !== "runc") {
    const pids = JSON.parse(ok(["ps", "--format", "json", id])) as number[];
    assert.ok(pids.includes(pid), `ps lists the init ${pid}: ${pids}`);
  }
  ok(["kill", id, "TERM"]);
  await waitFor("the container to stop", () => state(id)["status"] === "stopped");
  ok(["delete", id]);
  assert.ok(!existsSync(join(stateRoot(), id)), "delete removed the state");
  assert.ok(!alive(pid));
});

rtest(
  "kill --all ends every process of a rootless container without a cgroup",
  async () => {
    const b = bundle(["sh", "-c", "sleep 1000 & sleep 1000 & wait"]);
    const id = newId("all");
    ok(["run", "--detach", "--bundle", b, id]);
    const pid = Number(state(id)["pid"]);
    const kids = await waitFor("two children", () => {
      const k = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean);
      return k.length === 2 ? k.map(Number) : undefined;
    });
    ok(["kill", "--all", id, "KILL"]);
    await waitFor("every process gone", () => ![pid, ...kids].some(alive));
    ok(["delete", id]);
  },
  { skipFor: { runc: "runc 1.1 signals --all through the cgroup: without one it fails (lstat of an empty path)" } },
);

rtest("delete --force ends a running rootless container", () => {
  const id = newId("force");
  ok(["run", "--detach", "--bundle", bundle(["sleep", "1000"]), id]);
  const pid = Number(state(id)["pid"]);
  ok(["delete", "--force", id]);
  assert.ok(!alive(pid));
  assert.ok(!existsSync(join(stateRoot(), id)));
});

rtest("files the container makes in a bound host dir belong to the user on the host", () => {
  const host = join(dir, `data${++n}`);
  const b = bundle(["sh", "-c", "touch /data/file && mkdir /data/sub && ls -n /data"], (s) => dataDir(s, host));
  ok(["run", "--bundle", b, newId("own")]);
  for (const f of ["file", "sub"]) {
    const st = statSync(join(host, f));
    assert.equal(`${st.uid}:${st.gid}`, `${uid}:${gid}`, `${f} on the host`);
  }
});

rtest("more than one id mapped through newuidmap/newgidmap and /etc/subuid, /etc/subgid", () => {
  const host = join(dir, `data${++n}`);
  const b = bundle(["sh", "-c", "cat /proc/self/uid_map /proc/self/setgroups; touch /data/f && chown 1000:1000 /data/f"], (s) => {
    dataDir(s, host);
    // chown needs CAP_CHOWN (in the user namespace), which the default spec leaves out
    const caps = s.process?.capabilities;
    if (caps) for (const set of ["bounding", "effective", "permitted"] as const) caps[set] = [...(caps[set] ?? []), "CAP_CHOWN"];
    if (s.linux) {
      s.linux.uidMappings = [
        { containerID: 0, hostID: uid, size: 1 },
        { containerID: 1, hostID: SUB_START, size: SUB_COUNT },
      ];
      s.linux.gidMappings = [
        { containerID: 0, hostID: gid, size: 1 },
        { containerID: 1, hostID: SUB_START, size: SUB_COUNT },
      ];
    }
  });
  const out = ok(["run", "--bundle", b, newId("sub")]);
  const lines = out.trim().split("\n");
  assert.deepEqual(
    lines.slice(0, 2).map((l) => l.trim().split(/\s+/)),
    [
      ["0", String(uid), "1"],
      ["1", String(SUB_START), String(SUB_COUNT)],
    ],
  );
  // newgidmap allows setgroups when the map holds subordinate ids
  assert.equal(lines[2], "allow");
  const st = statSync(join(host, "f"));
  assert.equal(`${st.uid}:${st.gid}`, `${SUB_START + 999}:${SUB_START + 999}`);
});

rtest("cgroups: not delegated, the container runs without one; a limit it cannot set is an error", () => {
  const b = bundle(["sh", "-c", "cat /proc/self/cgroup"]);
  const id = newId("cg");
  const r = as(["--debug", "run", "--bundle", b, id]);
  assert.equal(r.code, 0, r.stderr);
  // it stays in the cgroups of its caller: here the test's own
  const mine = readFileSync("/proc/self/cgroup", "utf8");
  const pidsOf = (t: string) => t.split("\n").find((l) => /:pids:/.test(l));
  assert.equal(pidsOf(r.stdout), pidsOf(mine));
  if (IS_BERTH) assert.match(r.stderr, /rootless: no permission to create the container's cgroup/);
  const limited = bundle(["true"], (s) => {
    if (s.linux) s.linux.resources = { pids: { limit: 50 } };
  });
  const r2 = as(["run", "--bundle", limited, newId("limit")]);
  assert.notEqual(r2.code, 0, "a pids limit without a cgroup must fail");
  assert.match(r2.stderr, /pids.*could not join or create (its )?cgroup/);
});

/** Every mounted cgroup hierarchy (v1 controllers, named ones, cgroup2): [mount point, fstype]. */
function hierarchies(): [string, string][] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .flatMap((l) => {
      const [pre, post] = l.split(" - ");
      const fstype = post?.split(" ")[0];
      const mnt = pre?.split(" ")[4];
      return mnt && (fstype === "cgroup" || fstype === "cgroup2") ? [[mnt, fstype] as [string, string]] : [];
    });
}

rtest("cgroups: delegated to the user, the container gets its cgroupsPath there with its limits", async (t) => {
  // a subtree of every hierarchy made over to the user, the caller already inside it (in a leaf,
  // as cgroup v2 wants), as systemd's Delegate= does for a user session
  const name = `berth-rl-${process.pid}`;
  const made: string[] = [];
  const callerProcs: string[] = [];
  t.after(() => {
    for (const d of made.reverse()) spawnSync("rmdir", [d]);
  });
  for (const [mnt, fstype] of hierarchies()) {
    const top = join(mnt, name);
    const caller = join(top, "caller");
    mkdirSync(top);
    made.push(top);
    if (fstype === "cgroup2") {
      // the controllers the limits need, for the subtree (before any process is in it)
      const available = readFileSync(join(mnt, "cgroup.subtree_control"), "utf8").split(/\s+/);
      for (const c of ["pids", "memory"])
        if (available.includes(c)) execFileSync("sh", ["-c", `echo +${c} > ${join(top, "cgroup.subtree_control")}`]);
    }
    if (existsSync(join(mnt, "cpuset.cpus")))
      for (const f of ["cpuset.cpus", "cpuset.mems"]) execFileSync("sh", ["-c", `cat ${join(mnt, f)} > ${join(top, f)}`]);
    mkdirSync(caller);
    made.push(caller);
    if (existsSync(join(mnt, "cpuset.cpus")))
      for (const f of ["cpuset.cpus", "cpuset.mems"]) execFileSync("sh", ["-c", `cat ${join(top, f)} > ${join(caller, f)}`]);
    execFileSync("chown", ["-R", `${uid}:${gid}`, top]);
    callerProcs.push(join(caller, "cgroup.procs"));
    made.push(join(top, "c1"));
  }
  // the hierarchy with the pids controller: its non-root cgroups have pids.max
  const pidsDir = hierarchies().find(([mnt]) => existsSync(join(mnt, name, "caller", "pids.max")))?.[0];
  const b = bundle(["sleep", "1000"], (s) => {
    if (s.linux) {
      s.linux.cgroupsPath = `/${name}/c1`;
      s.linux.resources = { pids: { limit: 50 } };
    }
  });
  const id = newId("deleg");
  const r = as(["create", "--bundle", b, id], { cgroups: callerProcs });
  assert.equal(r.code, 0, r.stderr);
  const pid = Number(state(id)["pid"]);
  // the limit is in place and the init is in the container's cgroup, in every hierarchy
  const c1 = (mnt: string) => join(mnt, name, "c1");
  assert.ok(pidsDir, "a hierarchy with the pids controller");
  assert.equal(readFileSync(join(c1(pidsDir), "pids.max"), "utf8").trim(), "50");
  for (const [mnt] of hierarchies()) {
    const procs = readFileSync(join(c1(mnt), "cgroup.procs"), "utf8")
      .split("\n")
      .map(Number);
    assert.ok(procs.includes(pid), `init ${pid} in ${c1(mnt)}: ${procs}`);
  }
  ok(["delete", "--force", id]);
  for (const [mnt] of hierarchies()) assert.ok(!existsSync(c1(mnt)), `delete removed ${c1(mnt)}`);
});
