/**
 * The harness of the black-box runtime suite: it drives any runc-compatible
 * binary (env BERTH_TEST_RUNTIME, default this repo's bin/berth-runtime)
 * through its CLI only, each test with its own `--root` and bundle dirs, and
 * removes whatever a test left behind.
 */
import type { ChildProcess, StdioOptions } from "node:child_process";
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, closeSync, existsSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import type { TestContext } from "node:test";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import type { Spec } from "../../src/oci/index.js";
import { makeBundle } from "../fixtures/busybox-bundle.js";

const here = dirname(fileURLToPath(import.meta.url));
/** the repo root, from src (test/integration) or from dist (dist/test/integration) */
const repo = resolve(here, basename(resolve(here, "../..")) === "dist" ? "../../.." : "../..");

export const RUNTIME = resolve(process.env["BERTH_TEST_RUNTIME"] || join(repo, "bin/berth-runtime"));
export const RUNTIME_NAME = basename(RUNTIME);
/** berth-only behaviours are skipped, with the reason, for other runtimes */
export const IS_BERTH = RUNTIME_NAME.startsWith("berth");
export const IS_ROOT = process.getuid?.() === 0;

/** The first line of `RUNTIME --version`. */
export function runtimeVersion(): string {
  return (spawnSync(RUNTIME, ["--version"], { encoding: "utf8" }).stdout ?? "").split("\n")[0] ?? "";
}

export interface Result {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

export interface RtOptions {
  input?: string;
  timeoutMs?: number;
  /** extra fds for the runtime from fd 3 on (for --preserve-fds) */
  extraFds?: number[];
  cwd?: string;
}

let counter = 0;

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll until `f` returns a truthy value; throw with `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, f: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** One test's world: a state root, a scratch dir for bundles, the ids it made. */
export class Harness {
  readonly root: string;
  readonly dir: string;
  private readonly ids = new Set<string>();
  private readonly cleanups: (() => void)[] = [];
  private n = 0;

  constructor() {
    this.root = mkdtempSync("/tmp/bt-root-");
    this.dir = mkdtempSync("/tmp/bt-");
    // a user-namespaced container (host uid 100000) must be able to reach its rootfs
    chmodSync(this.dir, 0o755);
  }

  /** A fresh container id, deleted (forced) when the test ends. */
  id(name = "c"): string {
    const id = `bt${process.pid}-${++counter}-${name}`;
    this.ids.add(id);
    return id;
  }

  /** A busybox bundle running `args`; `edit` changes the spec before it is written. */
  bundle(args: string[], edit?: (s: Spec) => void): string {
    return makeBundle(join(this.dir, `bundle${++this.n}`), args, edit);
  }

  path(...p: string[]): string {
    return join(this.dir, ...p);
  }

  onCleanup(f: () => void): void {
    this.cleanups.push(f);
  }

  /** Run the runtime with `--root` and `args`; stdio goes to files so a container holding them does not block us. */
  rt(args: string[], o: RtOptions = {}): Result {
    const k = ++this.n;
    const out = this.path(`rt${k}.out`);
    const err = this.path(`rt${k}.err`);
    const ofd = openSync(out, "w");
    const efd = openSync(err, "w");
    try {
      const stdio: StdioOptions = [o.input === undefined ? "ignore" : "pipe", ofd, efd, ...(o.extraFds ?? [])];
      const r = spawnSync(RUNTIME, ["--root", this.root, ...args], {
        stdio,
        timeout: o.timeoutMs ?? 30_000,
        killSignal: "SIGKILL",
        ...(o.input === undefined ? {} : { input: o.input }),
        ...(o.cwd ? { cwd: o.cwd } : {}),
      });
      if (r.error) throw r.error;
      return { code: r.status, signal: r.signal, stdout: readFileSync(out, "utf8"), stderr: readFileSync(err, "utf8") };
    } finally {
      closeSync(ofd);
      closeSync(efd);
    }
  }

  /** Like rt, but insist on exit 0 and return stdout. */
  ok(args: string[], o: RtOptions = {}): string {
    const r = this.rt(args, o);
    if (r.code !== 0) throw new Error(`${RUNTIME_NAME} ${args.join(" ")}: exit ${r.code ?? r.signal}: ${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  /** The runtime in the background (attached run of a long-lived container). */
  spawn(args: string[]): { child: ChildProcess; done: Promise<Result> } {
    const child = spawn(RUNTIME, ["--root", this.root, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (d) => (stdout += d));
    child.stderr?.on("data", (d) => (stderr += d));
    const done = new Promise<Result>((res) =>
      child.on("close", (code, signal) => res({ code, signal: signal ?? null, stdout, stderr })),
    );
    return { child, done };
  }

  /** `run` attached with `args` in a fresh bundle: the usual one-shot container. */
  run(args: string[], edit?: (s: Spec) => void, o: RtOptions = {}): Result {
    const b = this.bundle(args, edit);
    return this.rt(["run", "--bundle", b, this.id("run")], o);
  }

  /** `run` attached, insisting on exit 0; returns stdout. */
  runOk(args: string[], edit?: (s: Spec) => void): string {
    const r = this.run(args, edit);
    if (r.code !== 0) throw new Error(`container ${JSON.stringify(args)} exited ${r.code ?? r.signal}: ${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  state(id: string): Record<string, unknown> {
    return JSON.parse(this.ok(["state", id])) as Record<string, unknown>;
  }

  status(id: string): string {
    return String(this.state(id)["status"]);
  }

  /** A detached container running `args`, started and running. Returns its id and init pid. */
  async detached(args: string[], edit?: (s: Spec) => void): Promise<{ id: string; pid: number; bundle: string }> {
    const bundle = this.bundle(args, edit);
    const id = this.id("d");
    this.ok(["run", "--detach", "--bundle", bundle, id]);
    const st = this.state(id);
    return { id, pid: Number(st["pid"]), bundle };
  }

  cleanup(): void {
    for (const id of this.ids) {
      if (existsSync(join(this.root, id))) this.rt(["delete", "--force", id]);
    }
    for (const f of this.cleanups.reverse()) {
      try {
        f();
      } catch {
        // best effort: the test already reported what matters
      }
    }
    // never recurse through a mount that leaked onto the host (the leak checks report it)
    for (const m of mountsUnder(this.dir)) spawnSync("umount", ["-l", m]);
    rmSync(this.dir, { recursive: true, force: true });
    rmSync(this.root, { recursive: true, force: true });
  }
}

export interface RtTestOptions {
  /** skip for runtimes other than berth-runtime: the reason names the berth-only behaviour */
  berthOnly?: string;
  /** skip for this runtime (basename) with a reason: where it legitimately differs */
  skipFor?: Record<string, string>;
}

/** A test that needs root and drives the runtime under test. */
export function rtest(name: string, fn: (h: Harness, t: TestContext) => Promise<void> | void, o: RtTestOptions = {}): void {
  test(name, async (t) => {
    if (!IS_ROOT) return t.skip("needs root: runs real containers (namespaces, mounts, cgroups)");
    if (o.berthOnly && !IS_BERTH) return t.skip(`berth-only: ${o.berthOnly}`);
    const why = o.skipFor?.[RUNTIME_NAME];
    if (why) return t.skip(`${RUNTIME_NAME} differs: ${why}`);
    const h = new Harness();
    try {
      await fn(h, t);
    } finally {
      h.cleanup();
    }
  });
}

/* Leak probes: what a container may leave on the host. */

/** Mount points in our mount namespace whose line in mountinfo mentions `s`. */
export function mountsMentioning(s: string): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .filter((l) => l.includes(s))
    .map((l) => l.split(" ")[4] ?? "");
}

function mountsUnder(dir: string): string[] {
  return mountsMentioning(dir)
    .filter((m) => m.startsWith(dir))
    .sort((a, b) => b.length - a.length);
}

/** Directories under /sys/fs/cgroup whose name contains `s`. */
export function cgroupDirsNamed(s: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    let entries: import("node:fs").Dirent[];
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return; // removed while we walk
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const p = join(d, e.name);
      if (e.name.includes(s)) out.push(p);
      walk(p);
    }
  };
  walk("/sys/fs/cgroup");
  return out;
}

/** Live host pids whose /proc/PID/cgroup mentions `s` (zombies are their parent's to reap, not a leak). */
export function processesInCgroup(s: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync("/proc")) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (readFileSync(`/proc/${p}/cgroup`, "utf8").includes(s) && alive(Number(p))) out.push(Number(p));
    } catch {
      // the process exited while we looked
    }
  }
  return out;
}

/** Whether a host pid is alive (a zombie counts as dead). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const st = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return st !== "Z" && st !== "X";
  } catch {
    return false;
  }
}

/** Where the container's cgroup has no dir left and nothing of it runs: what delete must leave. */
export function leftovers(h: Harness, id: string, bundle: string): string[] {
  const found: string[] = [];
  if (existsSync(join(h.root, id))) found.push(`state dir ${join(h.root, id)}`);
  for (const d of cgroupDirsNamed(id)) found.push(`cgroup dir ${d}`);
  for (const p of processesInCgroup(id)) found.push(`process ${p}`);
  for (const m of mountsMentioning(bundle)) found.push(`mount ${m}`);
  return found;
}

/** python3, for what Node cannot do (receive fds by SCM_RIGHTS, be a subreaper). */
export function python(script: string, args: string[]): { child: ChildProcess; done: Promise<Result> } {
  const child = spawn("python3", ["-c", script, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d) => (stdout += d));
  child.stderr?.on("data", (d) => (stderr += d));
  const done = new Promise<Result>((res) =>
    child.on("close", (code, signal) => res({ code, signal: signal ?? null, stdout, stderr })),
  );
  return { child, done };
}
