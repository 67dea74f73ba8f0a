/**
 * berth-shim end to end: a real shim (dist/berth-shim.cjs) supervising real containers made
 * by a real OCI runtime — this repo's berth-runtime, and runc where installed, to show the
 * shim only relies on the runtime CLI contract. Root only.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import net from "node:net";
import { basename, dirname, join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { isKind } from "../../src/errors/index.js";
import type { Spec } from "../../src/oci/index.js";
import type { ContainerEntry, ProcessState, RuntimeRef, ShimEvent } from "../../src/shim/index.js";
import { AttachStream, launchShim, ShimClient } from "../../src/shim/index.js";
import { makeBundle, makeRootfs } from "../fixtures/busybox-bundle.js";

const here = dirname(fileURLToPath(import.meta.url));
/** the repo root, from src (test/shim) or from dist (dist/test/shim) */
const repo = resolve(here, basename(resolve(here, "../..")) === "dist" ? "../../.." : "../..");
const SHIM = join(repo, "dist/berth-shim.cjs");
const BERTH_RUNTIME = join(repo, "bin/berth-runtime");
const RUNC = ["/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc", "/usr/local/bin/runc"].find((p) => existsSync(p));
const IS_ROOT = process.getuid?.() === 0;
const skip = !IS_ROOT ? "needs root (creates containers)" : !existsSync(SHIM) ? "dist/berth-shim.cjs is not built" : false;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, f: () => T | undefined | false, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Run a runtime command asynchronously (cleanup and checks behind the shim's back). */
function runtimeCli(rt: RuntimeRef, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const c = spawn(rt.path, ["--root", rt.root, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    c.stdout.on("data", (d) => (stdout += d));
    c.stderr.on("data", (d) => (stderr += d));
    c.on("close", (code) => res({ code, stdout, stderr }));
  });
}

let seq = 0;

/** One suite's world: a scratch dir, a runtime state root, shims, the containers it made. */
class World {
  readonly dir = mkdtempSync("/tmp/berth-shim-test-");
  readonly rootfs = join(this.dir, "rootfs");
  readonly runtime: RuntimeRef;
  private readonly ids = new Set<string>();
  private readonly shims: number[] = [];

  constructor(name: string, path: string) {
    this.runtime = { name, path, root: join(this.dir, "runtime-root") };
    mkdirSync(this.runtime.root);
    makeRootfs(this.rootfs);
  }

  id(name: string): string {
    const id = `bs${process.pid}-${++seq}-${name}`;
    this.ids.add(id);
    return id;
  }

  /** A bundle running `args` on the shared rootfs. */
  bundle(id: string, args: string[], terminal = false, edit?: (s: Spec) => void): string {
    const dir = join(this.dir, "bundles", id);
    mkdirSync(dir, { recursive: true });
    // makeBundle builds a rootfs unless one is there: point it at the shared one
    symlinkSync(this.rootfs, join(dir, "rootfs"));
    return makeBundle(dir, args, (s) => {
      if (s.process) s.process.terminal = terminal;
      if (s.root) s.root.path = this.rootfs;
      edit?.(s);
    });
  }

  async shim(name: string, lingerMs = 60_000): Promise<{ socket: string; stateDir: string; pid: number }> {
    const socket = join(this.dir, `${name}.sock`);
    const stateDir = join(this.dir, `${name}-state`);
    const { pid } = await launchShim({ socket, stateDir, lingerMs, shimPath: SHIM });
    this.shims.push(pid);
    return { socket, stateDir, pid };
  }

  async cleanup(): Promise<void> {
    for (const id of this.ids) await runtimeCli(this.runtime, ["delete", "--force", id]);
    for (const pid of this.shims) if (alive(pid)) process.kill(pid, "SIGKILL");
    rmSync(this.dir, { recursive: true, force: true });
  }
}

interface Output {
  stdout: string;
  stderr: string;
}

async function attach(
  socket: string,
  req: { id: string; execId?: string; stdin?: boolean; logs?: boolean },
): Promise<{ stream: AttachStream; out: Output }> {
  const out: Output = { stdout: "", stderr: "" };
  const stream = await AttachStream.open(socket, { stdin: false, stdout: true, stderr: true, ...req }, (s, d) => {
    if (s === 1) out.stdout += d.toString();
    else out.stderr += d.toString();
  });
  return { stream, out };
}

/** The json-file log's entries. */
function readLog(path: string): { log: string; stream: string; time: string }[] {
  return readFileSync(path, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { log: string; stream: string; time: string });
}

const RFC3339_NANO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/;

const runtimes: [string, string][] = [["berth-runtime", BERTH_RUNTIME]];
if (RUNC) runtimes.push(["runc", RUNC]);

for (const [rtName, rtPath] of runtimes) {
  describe(`berth-shim over ${rtName}`, { skip, timeout: 180_000 }, () => {
    let w: World;
    let socket: string;
    let stateDir: string;
    let client: ShimClient;
    const events: ShimEvent[] = [];

    before(async () => {
      w = new World(rtName, rtPath);
      ({ socket, stateDir } = await w.shim("core"));
      client = await ShimClient.connect(socket);
      await client.subscribe((e) => events.push(e));
    });
    after(async () => {
      client?.close();
      await w?.cleanup();
    });

    const create = (id: string, bundle: string, extra: Record<string, unknown> = {}) =>
      client.request<{ pid: number }>({ op: "create", id, bundle, runtime: w.runtime, terminal: false, stdin: false, ...extra });

    test("create, start, wait: exit code, json-file log with stdout and stderr apart, state file, events", async () => {
      const id = w.id("run");
      const bundle = w.bundle(id, ["sh", "-c", "echo out1; echo err1 >&2; echo out2; exit 3"]);
      const logPath = join(w.dir, "logs", `${id}.log`);
      const { pid } = await create(id, bundle, { logPath });
      assert.ok(pid > 0);
      assert.equal((await client.request<ProcessState>({ op: "state", id })).status, "created");
      await client.request({ op: "start", id });
      const waited = await client.request<{ exitCode: number; exitedAt: string }>({ op: "wait", id });
      assert.equal(waited.exitCode, 3);
      assert.match(waited.exitedAt, RFC3339_NANO);
      const st = await client.request<ProcessState>({ op: "state", id });
      assert.equal(st.status, "stopped");
      assert.equal(st.exitCode, 3);

      const log = readLog(logPath);
      assert.deepEqual(
        log.filter((e) => e.stream === "stdout").map((e) => e.log),
        ["out1\n", "out2\n"],
      );
      assert.deepEqual(
        log.filter((e) => e.stream === "stderr").map((e) => e.log),
        ["err1\n"],
      );
      for (const e of log) assert.match(e.time, RFC3339_NANO);

      const saved = JSON.parse(readFileSync(join(stateDir, `${id}.json`), "utf8")) as ContainerEntry;
      assert.equal(saved.status, "stopped");
      assert.equal(saved.exitCode, 3);
      assert.equal(saved.bundle, bundle);

      await waitFor("the exit event", () => events.find((e) => e.type === "exit" && e.id === id));
      assert.ok(events.find((e) => e.type === "start" && e.id === id));

      await client.request({ op: "delete", id });
      assert.equal(existsSync(join(stateDir, `${id}.json`)), false);
      await assert.rejects(client.request({ op: "state", id }), (e) => isKind(e, "NotFound"));
    });

    test("attach receives stdout and stderr apart, then the exit frame", async () => {
      const id = w.id("attach");
      await create(id, w.bundle(id, ["sh", "-c", "echo hello; echo oops >&2; exit 5"]));
      const { stream, out } = await attach(socket, { id });
      const second = await attach(socket, { id });
      await client.request({ op: "start", id });
      assert.equal(await stream.exit, 5);
      assert.deepEqual(out, { stdout: "hello\n", stderr: "oops\n" });
      // every attached client gets the same output
      assert.equal(await second.stream.exit, 5);
      assert.deepEqual(second.out, out);
      // attach --logs after the fact replays the log, then says how it ended
      await client.request({ op: "delete", id });
    });

    test("attach --logs replays the json-file log of an exited container", async () => {
      const id = w.id("logs");
      const logPath = join(w.dir, "logs", `${id}.log`);
      await create(id, w.bundle(id, ["sh", "-c", "echo a; echo b >&2; echo c"]), { logPath });
      await client.request({ op: "start", id });
      await client.request({ op: "wait", id });
      const { stream, out } = await attach(socket, { id, logs: true });
      assert.equal(await stream.exit, 0);
      assert.deepEqual(out, { stdout: "a\nc\n", stderr: "b\n" });
      await client.request({ op: "delete", id });
    });

    test("stdin through attach reaches cat; half-close ends it (stdinOnce)", async () => {
      const id = w.id("cat");
      const logPath = join(w.dir, "logs", `${id}.log`);
      await create(id, w.bundle(id, ["cat"]), { stdin: true, stdinOnce: true, logPath });
      const { stream, out } = await attach(socket, { id, stdin: true });
      await client.request({ op: "start", id });
      stream.write("ping\n");
      stream.write("pong\n");
      stream.end();
      assert.equal(await stream.exit, 0);
      assert.equal(out.stdout, "ping\npong\n");
      assert.deepEqual(
        readLog(logPath).map((e) => e.log),
        ["ping\n", "pong\n"],
      );
      await client.request({ op: "delete", id });
    });

    test("terminal: the process runs on a pty of the given size", async () => {
      const id = w.id("tty");
      await create(id, w.bundle(id, ["sh", "-c", "tty; stty size"], true), { terminal: true, rows: 33, cols: 101 });
      const { stream, out } = await attach(socket, { id });
      await client.request({ op: "start", id });
      assert.equal(await stream.exit, 0);
      assert.match(out.stdout, /\/dev\/pts\/\d+\r?\n/);
      assert.match(out.stdout, /33 101/);
      assert.equal(out.stderr, "");
      await client.request({ op: "delete", id });
    });

    test("exec: output (not logged) and exit code; kill; delete", async () => {
      const id = w.id("exec");
      const logPath = join(w.dir, "logs", `${id}.log`);
      await create(id, w.bundle(id, ["sleep", "1000"]), { logPath });
      await client.request({ op: "start", id });
      const process = {
        args: ["sh", "-c", "echo from-exec; echo exec-err >&2; exit 7"],
        cwd: "/",
        env: ["PATH=/bin"],
        user: { uid: 0, gid: 0 },
      };
      const { pid } = await client.request<{ pid: number }>({
        op: "exec",
        id,
        execId: "e1",
        process,
        terminal: false,
        stdin: false,
      });
      assert.ok(pid > 0);
      const waited = await client.request<{ exitCode: number }>({ op: "wait", id, execId: "e1" });
      assert.equal(waited.exitCode, 7);
      // attached after the exec ended: its buffered output, then its exit
      const { stream, out } = await attach(socket, { id, execId: "e1" });
      assert.equal(await stream.exit, 7);
      assert.deepEqual(out, { stdout: "from-exec\n", stderr: "exec-err\n" });
      assert.equal(readFileSync(logPath, "utf8"), "");

      const list = await client.request<{ containers: ContainerEntry[] }>({ op: "list" });
      const entry = list.containers.find((c) => c.id === id);
      assert.equal(entry?.status, "running");
      assert.equal(entry?.execs[0]?.exitCode, 7);

      await assert.rejects(client.request({ op: "delete", id }), (e) => isKind(e, "FailedPrecondition"));
      await client.request({ op: "kill", id, signal: 9 });
      const exited = await client.request<{ exitCode: number }>({ op: "wait", id });
      assert.equal(exited.exitCode, 128 + 9);
      await assert.rejects(client.request({ op: "kill", id, signal: 9 }), (e) => isKind(e, "FailedPrecondition"));
      await client.request({ op: "delete", id });
      assert.equal((await runtimeCli(w.runtime, ["state", id])).code !== 0, true);
    });

    test("deleteOnExit: the runtime's delete runs at the init's exit; the delete request then only waits for it", async () => {
      const id = w.id("autodel");
      await create(id, w.bundle(id, ["sh", "-c", "exit 4"]), { deleteOnExit: true });
      await client.request({ op: "start", id });
      await waitFor("the exit event", () => events.find((e) => e.type === "exit" && e.id === id));
      // gone from the runtime with no request from us; the shim still knows how it ended
      for (let i = 0; (await runtimeCli(w.runtime, ["state", id])).code === 0; i++) {
        assert.ok(i < 300, "the runtime still has the container 15 s after its exit");
        await sleep(50);
      }
      const st = await client.request<ProcessState>({ op: "state", id });
      assert.equal(st.status, "stopped");
      assert.equal(st.exitCode, 4);
      await client.request({ op: "delete", id, force: true });
      await assert.rejects(client.request({ op: "state", id }), (e) => isKind(e, "NotFound"));

      // a delete queued behind the start while the init exits: one of the two deletes the
      // container, neither waits for the other
      const racer = w.id("autodel-race");
      await create(racer, w.bundle(racer, ["true"]), { deleteOnExit: true });
      const started = client.request({ op: "start", id: racer }).catch(() => undefined);
      const deleted = client.request({ op: "delete", id: racer, force: true });
      const hung = new Promise((_, reject) => setTimeout(() => reject(new Error("delete hung")), 20_000).unref());
      await Promise.race([Promise.all([started, deleted]), hung]);
      assert.notEqual((await runtimeCli(w.runtime, ["state", racer])).code, 0);
      await assert.rejects(client.request({ op: "state", id: racer }), (e) => isKind(e, "NotFound"));
    });

    test("a runtime failure is an error with the runtime's message; the shim serves on", async () => {
      const id = w.id("bad");
      const bundle = w.bundle(id, ["/no/such/program"]);
      const err = await create(id, bundle).then(
        () => undefined,
        (e: unknown) => e,
      );
      if (err === undefined) {
        // runc reports a missing program at start rather than create
        await assert.rejects(client.request({ op: "start", id }));
        await client.request({ op: "delete", id, force: true });
      } else {
        assert.ok(err instanceof Error && err.message.length > 0);
      }
      await assert.rejects(create(w.id("nobundle"), join(w.dir, "no-such-bundle")));
      const list = await client.request<{ containers: ContainerEntry[] }>({ op: "list" });
      assert.ok(Array.isArray(list.containers));
    });
  });
}

describe("berth-shim (berth-runtime): daemon restarts, shim death, lifetime, footprint", { skip, timeout: 240_000 }, () => {
  let w: World;
  before(() => {
    w = new World("berth-runtime", BERTH_RUNTIME);
  });
  after(async () => {
    await w?.cleanup();
  });

  test("a malformed request gets InvalidArgument and the connection keeps serving", async () => {
    const { socket } = await w.shim("malformed");
    const lines = await new Promise<string[]>((res, rej) => {
      const c = net.connect(socket);
      let buf = "";
      c.on("data", (d) => {
        buf += d;
        const ls = buf.split("\n").filter(Boolean);
        if (ls.length >= 3) {
          c.destroy();
          res(ls);
        }
      });
      c.on("error", rej);
      c.write('not json\n{"op":"nope","seq":7}\n{"op":"list","seq":8}\n');
    });
    const [a, b, c] = lines.map((l) => JSON.parse(l) as { seq: number; ok: boolean; error?: { kind: string } });
    assert.equal(a?.ok, false);
    assert.equal(a?.error?.kind, "InvalidArgument");
    assert.deepEqual([b?.seq, b?.ok, b?.error?.kind], [7, false, "InvalidArgument"]);
    assert.deepEqual([c?.seq, c?.ok], [8, true]);
    // a second shim on a live socket refuses to start
    await assert.rejects(launchShim({ socket, stateDir: join(w.dir, "other-state"), shimPath: SHIM }), /another shim/);
    // shutdown: granted with no containers; the shim goes and takes its socket file along
    const c2 = await ShimClient.connect(socket);
    await c2.request({ op: "shutdown" });
    await waitFor("the socket to go", () => !existsSync(socket));
    c2.close();
  });

  test("berthd reconnecting after a container exited sees the exit in list", async () => {
    const { socket, stateDir } = await w.shim("reconnect");
    const id = w.id("gone");
    let c = await ShimClient.connect(socket);
    await c.request({
      op: "create",
      id,
      bundle: w.bundle(id, ["sh", "-c", "sleep 0.3; exit 4"]),
      runtime: w.runtime,
      terminal: false,
      stdin: false,
    });
    await c.request({ op: "start", id });
    c.close();
    // nobody connected while it exits
    await waitFor("the state file to record the exit", () => {
      const f = join(stateDir, `${id}.json`);
      return existsSync(f) && (JSON.parse(readFileSync(f, "utf8")) as ContainerEntry).status === "stopped";
    });
    c = await ShimClient.connect(socket);
    const list = await c.request<{ containers: ContainerEntry[]; pid: number }>({ op: "list" });
    const e = list.containers.find((x) => x.id === id);
    assert.equal(e?.status, "stopped");
    assert.equal(e?.exitCode, 4);
    assert.ok(e?.exitedAt);
    await c.request({ op: "delete", id });
    c.close();
  });

  test("an orphan re-parented to the shim is reaped, and no zombie is left", async () => {
    const { socket, pid: shimPid } = await w.shim("orphans");
    const id = w.id("orphan");
    const c = await ShimClient.connect(socket);
    // no pid namespace: the init's background child outlives it and is re-parented to the shim
    const bundle = w.bundle(id, ["sh", "-c", "sleep 0.5 & echo $!"], false, (s) => {
      if (s.linux?.namespaces) s.linux.namespaces = s.linux.namespaces.filter((n) => n.type !== "pid");
    });
    await c.request({ op: "create", id, bundle, runtime: w.runtime, terminal: false, stdin: false });
    const { stream, out } = await attach(socket, { id });
    await c.request({ op: "start", id });
    assert.equal(await stream.exit, 0);
    const orphan = Number(out.stdout.trim());
    assert.ok(orphan > 0);
    await waitFor("the orphan to be reaped", () => !alive(orphan));
    const zombies = readdirSync(`/proc/${shimPid}/task`)
      .flatMap((t) => readFileSync(`/proc/${shimPid}/task/${t}/children`, "utf8").split(" ").filter(Boolean))
      .filter((p) => /\) Z /.test(readFileSync(`/proc/${p}/stat`, "utf8")));
    assert.deepEqual(zombies, []);
    await c.request({ op: "delete", id });
    c.close();
  });

  test("kill -9 of the shim leaves the container running", async () => {
    const { socket, pid: shimPid } = await w.shim("killed");
    const id = w.id("survivor");
    const c = await ShimClient.connect(socket);
    const { pid } = await c.request<{ pid: number }>({
      op: "create",
      id,
      bundle: w.bundle(id, ["sleep", "1000"]),
      runtime: w.runtime,
      terminal: false,
      stdin: false,
    });
    await c.request({ op: "start", id });
    c.close();
    process.kill(shimPid, "SIGKILL");
    await waitFor("the shim to die", () => !alive(shimPid));
    await sleep(200);
    assert.ok(alive(pid), "the container's init survived its shim");
    const st = await runtimeCli(w.runtime, ["state", id]);
    assert.equal((JSON.parse(st.stdout) as { status: string }).status, "running");
    assert.equal((await runtimeCli(w.runtime, ["delete", "--force", id])).code, 0);
  });

  test("the shim exits after its last container is deleted (linger)", async () => {
    const { socket, pid: shimPid } = await w.shim("linger", 300);
    const id = w.id("brief");
    const c = await ShimClient.connect(socket);
    await c.request({ op: "create", id, bundle: w.bundle(id, ["true"]), runtime: w.runtime, terminal: false, stdin: false });
    await c.request({ op: "start", id });
    await c.request({ op: "wait", id });
    await sleep(500);
    assert.ok(alive(shimPid), "a shim with a container (exited, not deleted) stays");
    await c.request({ op: "delete", id });
    c.close();
    await waitFor("the shim to exit", () => !alive(shimPid));
    assert.equal(existsSync(socket), false);
  });

  test("memory: one shim with 20 sleeping containers", async () => {
    const { socket, pid: shimPid } = await w.shim("rss");
    const c = await ShimClient.connect(socket);
    const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${shimPid}/status`, "utf8"))?.[1] ?? 0) * 1024;
    const before = rss();
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      const id = w.id(`sleep${i}`);
      ids.push(id);
      await c.request({
        op: "create",
        id,
        bundle: w.bundle(id, ["sleep", "1000"]),
        runtime: w.runtime,
        terminal: false,
        stdin: true,
        logPath: join(w.dir, "logs", `${id}.log`),
      });
      await c.request({ op: "start", id });
    }
    const after = rss();
    console.log(
      `berth-shim RSS: ${(before / 2 ** 20).toFixed(1)} MiB empty, ${(after / 2 ** 20).toFixed(1)} MiB with 20 containers ` +
        `(${((after - before) / 20 / 1024).toFixed(0)} KiB per container)`,
    );
    assert.ok(after < 80 * 2 ** 20, `RSS ${after} bytes`);
    for (const id of ids) await c.request({ op: "delete", id, force: true });
    c.close();
  });
});
