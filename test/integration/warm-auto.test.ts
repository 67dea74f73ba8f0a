/**
 * The warm server bin/berth-runtime starts by itself on the default socket
 * (src/native/launcher.c, src/cli/runtime/warm.ts): it starts, is detached,
 * exits when idle or when its build changes, serves only callers in its own
 * context, and two racing first calls end with one server.
 *
 * Every caller runs in one private mount namespace with its own tmpfs on /run,
 * so the default socket (/run/berth-runtime.warm.sock) is the real default path
 * yet no other suite on this machine can reach the servers these tests start.
 * BERTH_NODE points at a wrapper that logs each Node start: a call served by
 * the warm server starts no Node. The launcher is a private copy of this build.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { spawn, spawnSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  rmdirSync,
  writeFileSync,
} from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { makeBundle } from "../fixtures/busybox-bundle.js";

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, basename(resolve(here, "../..")) === "dist" ? "../../.." : "../..");
/** this build, copied: a concurrent `node scripts/build.mjs` (which rightly retires servers) cannot disturb the tests */
let LAUNCHER = "";
const SOCKET = "/run/berth-runtime.warm.sock";
const IS_ROOT = process.getuid?.() === 0;
// the lanes of scripts/test.sh that test another runtime binary have nothing to check here
const other = process.env["BERTH_TEST_RUNTIME"] && !basename(process.env["BERTH_TEST_RUNTIME"]).startsWith("berth");
const skip = !IS_ROOT
  ? "needs root (a private mount namespace)"
  : other
    ? "the auto-started server is berth-runtime's own"
    : false;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function waitFor<T>(what: string, f: () => T | undefined | false, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

let work = "";
let holder: ChildProcess | undefined;
let holderMnt = "";
let bundle = "";
let nodeLog = "";
let wrapper = "";
const cgroups: string[] = [];

/** The environment of every caller: none of the suite's lane settings, Node starts logged. */
function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env };
  delete e["BERTH_RUNTIME_WARM_SOCKET"];
  delete e["BERTH_RUNTIME_COLD"];
  return { ...e, BERTH_NODE: wrapper, BERTH_RUNTIME_WARM_IDLE: "60", ...extra };
}

interface Call {
  status: number | null;
  stdout: string;
  stderr: string;
  /** the Node processes the call started (the wrapper's log lines) */
  nodes: string[];
}

function nodeLines(): string[] {
  return existsSync(nodeLog) ? readFileSync(nodeLog, "utf8").split("\n").filter(Boolean) : [];
}

/** The launcher (or `launcher`) in the test's mount namespace, behind `prefix` (unshare, sh -c ...). */
function call(args: string[], opts: { prefix?: string[]; env?: Record<string, string>; launcher?: string } = {}): Call {
  const before = nodeLines().length;
  const r = spawnSync(
    "nsenter",
    ["-t", String(holder?.pid), "-m", `--wd=${bundle}`, "--", ...(opts.prefix ?? []), opts.launcher ?? LAUNCHER, ...args],
    {
      cwd: bundle,
      env: env(opts.env),
      encoding: "utf8",
      timeout: 60_000,
    },
  );
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, nodes: nodeLines().slice(before) };
}

/** A private copy of the install (launcher, addon, bundle) under `dir`; its launcher. */
function install(dir: string): string {
  for (const f of [
    "binding.gyp",
    "package.json",
    "build/Release/berth-runtime",
    "build/Release/berth_native.node",
    "dist/berth-runtime.cjs",
    "dist/berth-runtime-main.cjs",
  ]) {
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    copyFileSync(join(repo, f), join(dir, f));
  }
  chmodSync(join(dir, "build/Release/berth-runtime"), 0o755);
  return join(dir, "build/Release/berth-runtime");
}

let ids = 0;
const run = (opts: Parameters<typeof call>[1] = {}) => call(["--root", join(work, "state"), "run", `warm-auto-${++ids}`], opts);

/** Warm servers in the test's mount namespace (by their command line). */
function servers(): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, "utf8").split("\0");
      if (cmd[2] !== "warm" || !cmd.includes("--serve-fd")) continue;
      if (readlinkSync(`/proc/${d}/ns/mnt`) === holderMnt) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** The pid the socket's lock names, as seen inside the test's mount namespace. */
function lockPid(): number {
  return Number(readFileSync(`/proc/${holder?.pid}/root${SOCKET}.lock`, "utf8").split(" ")[0]);
}
const socketExists = () => existsSync(`/proc/${holder?.pid}/root${SOCKET}`);

function alive(pid: number): boolean {
  try {
    // a zombie whose threads are all gone has closed its files (its lock); one still exiting may not have
    const zombie = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.startsWith("Z");
    return !zombie || readdirSync(`/proc/${pid}/task`).length > 1;
  } catch {
    return false;
  }
}

async function killServers(): Promise<void> {
  const pids = servers();
  for (const pid of pids) process.kill(pid, "SIGKILL");
  // until their files (the socket's lock) are closed
  await waitFor("the servers to exit", () => pids.every((p) => !alive(p)) && servers().length === 0);
}

before(async () => {
  if (skip) return;
  work = mkdtempSync("/tmp/berth-warm-auto-");
  chmodSync(work, 0o755);
  bundle = makeBundle(join(work, "bundle"), ["echo", "hi"]);
  LAUNCHER = install(join(work, "install"));
  nodeLog = join(work, "node.log");
  wrapper = join(work, "node");
  writeFileSync(wrapper, `#!/bin/sh\necho "$$ $*" >> ${nodeLog}\nexec ${process.execPath} "$@"\n`, { mode: 0o755 });
  holder = spawn(
    "unshare",
    [
      "-m",
      "--propagation",
      "private",
      "sh",
      "-c",
      "mount -t tmpfs -o mode=755 berth-warm-auto /run && echo ready && exec sleep 100000",
    ],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  await new Promise<void>((ok, fail) => {
    holder?.stdout?.once("data", () => ok());
    holder?.once("exit", (c) => fail(new Error(`the mount namespace holder exited (${c})`)));
  });
  holderMnt = readlinkSync(`/proc/${holder.pid}/ns/mnt`);
});

after(async () => {
  if (skip) return;
  if (holder?.pid) {
    await killServers().catch(() => {});
    holder.kill("SIGKILL");
  }
  for (const cg of cgroups) rmdirSync(cg);
  rmSync(work, { recursive: true, force: true });
});

test("the first call starts a detached server and is served through it; the next calls start no Node", { skip }, async () => {
  await killServers();
  const first = run();
  assert.equal(first.status, 0, first.stderr);
  assert.equal(first.stdout, "hi\n");
  // one Node start: the server's (no private child besides it)
  assert.equal(first.nodes.length, 1, first.nodes.join("\n"));
  assert.match(first.nodes[0] ?? "", / warm --socket \/run\/berth-runtime\.warm\.sock --idle-timeout 60 --serve-fd 3$/);
  const pid = await waitFor("the server's lock", () => socketExists() && lockPid());
  assert.deepEqual(servers(), [pid]);
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  const [ppid, , sid] = [Number(stat[1]), Number(stat[2]), Number(stat[3])];
  assert.notEqual(ppid, process.pid, "the server is not the test's child");
  assert.equal(sid, pid, "the server leads its own session");
  assert.equal(readlinkSync(`/proc/${pid}/cwd`), "/");
  // stdio on /dev/null; every other fd its own (Node's, the lock, the proof, the socket)
  for (const fd of ["0", "1", "2"]) assert.equal(readlinkSync(`/proc/${pid}/fd/${fd}`), "/dev/null");
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    const link = readlinkSync(`/proc/${pid}/fd/${fd}`);
    assert.ok(!link.startsWith(work) && !link.startsWith(bundle), `fd ${fd} -> ${link}`);
  }
  const second = run();
  assert.equal(second.status, 0, second.stderr);
  assert.equal(second.stdout, "hi\n");
  assert.deepEqual(second.nodes, [], "served by the warm server: no Node started");
  // exit codes pass through the server as before
  const bad = call(["--root", join(work, "state"), "state", "no-such-container"]);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /no-such-container/);
  assert.deepEqual(bad.nodes, []);
});

test("the server holds no fd of its callers: a caller's extra fds close when it exits", { skip }, async () => {
  await killServers();
  // fd 3 of the caller is a pipe whose read end we watch: it must reach EOF when the caller exits
  const r = spawnSync(
    "nsenter",
    [
      "-t",
      String(holder?.pid),
      "-m",
      `--wd=${bundle}`,
      "--",
      "sh",
      "-c",
      `exec 3>&1; exec ${LAUNCHER} --root ${join(work, "state")} run warm-auto-fd-${++ids}`,
    ],
    { cwd: bundle, env: env(), encoding: "utf8", timeout: 60_000 },
  );
  // spawnSync returns only once every holder of the stdout pipe closed it
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, "hi\n");
  assert.equal(servers().length, 1);
});

test("a server exits after its idle timeout and removes its socket", { skip }, async () => {
  await killServers();
  const r = run({ env: { BERTH_RUNTIME_WARM_IDLE: "1" } });
  assert.equal(r.status, 0, r.stderr);
  const pid = await waitFor("the server", () => servers()[0]);
  await waitFor("the idle server to exit", () => !alive(pid));
  assert.equal(socketExists(), false);
});

test("BERTH_RUNTIME_WARM_IDLE=0 and BERTH_RUNTIME_COLD=1 start no server", { skip }, async () => {
  await killServers();
  for (const e of [{ BERTH_RUNTIME_WARM_IDLE: "0" }, { BERTH_RUNTIME_COLD: "1" }]) {
    const r = run({ env: e });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, "hi\n");
    assert.ok(
      r.nodes.every((l) => !l.includes(" warm ")),
      r.nodes.join("\n"),
    );
  }
  assert.deepEqual(servers(), []);
});

test("a caller in another mount namespace or cgroup is served cold, correctly", { skip }, async () => {
  await killServers();
  assert.equal(run().status, 0);
  const pid = await waitFor("the server", () => servers()[0]);
  // another mount namespace: it still reaches the socket (a copy of the tmpfs) but is declined
  const other = run({ prefix: ["unshare", "-m", "--propagation", "private"] });
  assert.equal(other.status, 0, other.stderr);
  assert.equal(other.stdout, "hi\n");
  assert.equal(other.nodes.length, 1, "run by its own Node, not by the server");
  assert.doesNotMatch(other.nodes[0] ?? "", / warm /);
  // another cgroup (the pids controller's hierarchy, v1 or v2)
  const base = existsSync("/sys/fs/cgroup/pids") ? "/sys/fs/cgroup/pids" : "/sys/fs/cgroup";
  const cg = join(base, `berth-warm-auto-${process.pid}`);
  mkdirSync(cg);
  cgroups.push(cg);
  const moved = run({ prefix: ["sh", "-c", `echo $$ > ${cg}/cgroup.procs && exec "$@"`, "sh"] });
  assert.equal(moved.status, 0, moved.stderr);
  assert.equal(moved.stdout, "hi\n");
  assert.equal(moved.nodes.length, 1, "run by its own Node, not by the server");
  // a caller confined further (no_new_privs, a capability dropped, other groups) is never
  // served by the unconfined server: the server reads the caller's /proc entry itself
  for (const prefix of [
    ["setpriv", "--no-new-privs"],
    ["setpriv", "--bounding-set", "-sys_module", "--inh-caps", "-sys_module"],
    ["setpriv", "--groups", "4242"],
  ]) {
    const confined = run({ prefix });
    assert.equal(confined.status, 0, `${prefix.join(" ")}: ${confined.stderr}`);
    assert.equal(confined.stdout, "hi\n");
    assert.equal(confined.nodes.length, 1, `${prefix.join(" ")}: run by its own Node, not by the server`);
  }
  // the server is still there for its own context
  assert.ok(alive(pid));
  assert.deepEqual(run().nodes, []);
});

test("a changed build makes the old server decline and exit; another build is declined", { skip }, async () => {
  await killServers();
  // a second copy of the install, to be changed
  const inst = join(work, "install-2");
  const launcher = install(inst);
  assert.equal(run({ launcher }).status, 0);
  const pid = await waitFor("the copy's server", () => servers()[0]);
  assert.deepEqual(run({ launcher }).nodes, [], "the copy's server serves the copy");
  // the first copy's launcher is another build: declined, served cold
  const foreign = run();
  assert.equal(foreign.status, 0, foreign.stderr);
  assert.equal(foreign.nodes.length, 1);
  // "rebuild" the copy: the server declines, exits, and the caller is served cold
  writeFileSync(
    join(inst, "dist/berth-runtime-main.cjs"),
    `${readFileSync(join(inst, "dist/berth-runtime-main.cjs"), "utf8")}\n`,
  );
  const after = run({ launcher });
  assert.equal(after.status, 0, after.stderr);
  assert.equal(after.stdout, "hi\n");
  assert.equal(after.nodes.length, 1, after.nodes.join("\n"));
  assert.doesNotMatch(after.nodes[0] ?? "", / warm /);
  await waitFor("the stale server to exit", () => !alive(pid));
  assert.equal(socketExists(), false);
  // the next call starts a fresh server of the new build
  const fresh = run({ launcher });
  assert.equal(fresh.status, 0, fresh.stderr);
  assert.match(fresh.nodes[0] ?? "", / warm /);
  await killServers();
});

test("two racing first calls end with one server", { skip }, async () => {
  await killServers();
  for (let round = 0; round < 3; round++) {
    const start = () =>
      new Promise<{ code: number | null; out: string }>((ok) => {
        const c = spawn(
          "nsenter",
          [
            "-t",
            String(holder?.pid),
            "-m",
            `--wd=${bundle}`,
            "--",
            LAUNCHER,
            "--root",
            join(work, "state"),
            "run",
            `warm-auto-${++ids}`,
          ],
          {
            cwd: bundle,
            env: env(),
            stdio: ["ignore", "pipe", "inherit"],
          },
        );
        let out = "";
        c.stdout.on("data", (d) => (out += d));
        c.on("close", (code) => ok({ code, out }));
      });
    const rs = await Promise.all([start(), start()]);
    for (const r of rs) assert.deepEqual(r, { code: 0, out: "hi\n" });
    // the loser, if both started one, serves its caller and exits
    await waitFor("one server", () => servers().length === 1);
    assert.deepEqual(servers(), [lockPid()]);
    assert.deepEqual(run().nodes, [], "the survivor serves");
    await killServers();
  }
});

test("after kill -9 of the server the next call replaces the stale socket", { skip }, async () => {
  await killServers();
  assert.equal(run().status, 0);
  const pid = await waitFor("the server", () => servers()[0]);
  process.kill(pid, "SIGKILL");
  await waitFor("the server to die", () => !alive(pid));
  assert.equal(socketExists(), true, "the killed server left its socket");
  const r = run();
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, "hi\n");
  const next = await waitFor("a new server", () => servers()[0]);
  assert.notEqual(next, pid);
  assert.equal(lockPid(), next);
  assert.deepEqual(run().nodes, []);
});

test("a non-root user's server lives in its own $XDG_RUNTIME_DIR", { skip }, async () => {
  await killServers();
  const xdg = join(work, "xdg");
  mkdirSync(xdg, { mode: 0o700 });
  chownSync(xdg, 65534, 65534);
  const who = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", "env", `XDG_RUNTIME_DIR=${xdg}`];
  const r = call(["--root", join(xdg, "state"), "list", "--quiet"], { prefix: who });
  assert.equal(r.status, 0, r.stderr);
  const pid = await waitFor("the user's server", () => servers()[0]);
  assert.equal(readFileSync(`/proc/${pid}/status`, "utf8").match(/^Uid:\s+(\d+)/m)?.[1], "65534");
  assert.ok(existsSync(join(xdg, "berth-runtime.warm.sock")));
  assert.deepEqual(call(["--root", join(xdg, "state"), "list", "--quiet"], { prefix: who }).nodes, []);
  // root's calls do not reach it (root's default socket is /run's)
  assert.equal(run().nodes.length, 1);
  // a runtime dir that is not the user's own: no server
  await killServers();
  const loose = join(work, "xdg-root");
  mkdirSync(loose, { mode: 0o700 });
  const n = call(["--root", join(xdg, "state"), "list", "--quiet"], {
    prefix: ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", "env", `XDG_RUNTIME_DIR=${loose}`],
  });
  assert.equal(n.status, 0, n.stderr);
  assert.ok(n.nodes.every((l) => !l.includes(" warm ")));
  await killServers();
});
