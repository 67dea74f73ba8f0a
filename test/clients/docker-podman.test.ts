// Real clients on top of the runtime: dockerd 20.10 (through its own containerd
// and containerd-shim-runc-v2) and podman 4 (through conmon) drive the runtime
// with `--runtime`, exactly as they drive runc. Everything runs isolated and
// offline: a private dockerd (own data root, exec root, socket, no bridge, no
// iptables), a private podman store (own root, runroot, config files, no
// network namespace setup), a busybox image imported from a tar built here,
// and a private parent cgroup. Teardown is a test of its own: it asserts that
// no process, mount, runtime state or container cgroup is left behind.
//
// The repeated run -d and exec tests guard against an ordering bug once seen
// under these clients: the init's first sync message can arrive before stage
// 1 reports its pid (src/runtime/launch.ts holds it until the pid is known).
//
// BERTH_CLIENT_RUNTIME picks the runtime: unset or "berth-runtime" (this
// repository's bin/berth-runtime), "runc" (to prove the suite itself), or an
// absolute path to any runc-compatible binary.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  closeSync,
  readFileSync,
  readdirSync,
  rmSync,
  rmdirSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { constants as osConstants, tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { makeRootfs, BUSYBOX } from "../fixtures/busybox-bundle.js";

// ---------------------------------------------------------------- locating things

/** The repository root: the nearest folder above this file that holds bin/berth-runtime (works from test/ and dist/test/). */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, "bin", "berth-runtime")) && existsSync(join(dir, "package.json"))) return dir;
    const up = dirname(dir);
    if (up === dir)
      throw new Error("cannot find the repository root (bin/berth-runtime) above " + fileURLToPath(import.meta.url));
    dir = up;
  }
}
const ROOT = repoRoot();

function isExecutable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

/** An executable by name: PATH first, then the sbin folders root's PATH may lack. */
function which(name: string, prefer: string[] = []): string | undefined {
  const dirs = [...(process.env["PATH"] ?? "").split(delimiter), "/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"];
  return [...prefer, ...dirs.filter(Boolean).map((d) => join(d, name))].find(isExecutable);
}

interface RuntimeChoice {
  label: string;
  path?: string;
  missing?: string;
}

function chooseRuntime(): RuntimeChoice {
  const want = process.env["BERTH_CLIENT_RUNTIME"] || "berth-runtime";
  if (want === "berth-runtime") {
    const path = join(ROOT, "bin", "berth-runtime");
    const missing = [join(ROOT, "dist", "berth-runtime.cjs"), join(ROOT, "build", "Release", "berth_native.node")].filter(
      (p) => !existsSync(p),
    );
    return missing.length
      ? {
          label: want,
          missing: `berth-runtime is not built (missing ${missing.join(", ")}): run npm run install && npm run build`,
        }
      : { label: want, path };
  }
  const path = want.startsWith("/") ? want : which(want);
  return path && isExecutable(path) ? { label: want, path } : { label: want, missing: `runtime "${want}" not found` };
}
const RUNTIME = chooseRuntime();

const tools = {
  dockerd: which("dockerd"),
  containerd: which("containerd"),
  shim: which("containerd-shim-runc-v2"),
  // Debian's 20.10 CLI; another docker in PATH (a newer static CLI) works too (API 1.41 is negotiated)
  docker: which("docker", ["/usr/bin/docker"]),
  podman: which("podman"),
  conmon: which("conmon", ["/usr/bin/conmon", "/usr/libexec/podman/conmon"]),
  tar: which("tar"),
  python3: which("python3"),
};

function skipReason(need: (keyof typeof tools)[], what: string): string | false {
  if (process.getuid?.() !== 0) return `needs root: ${what} runs containers as root`;
  if (RUNTIME.missing) return RUNTIME.missing;
  if (!existsSync(BUSYBOX)) return `needs ${BUSYBOX} (Debian package busybox-static) for the test image`;
  const missing = need.filter((k) => !tools[k]);
  if (missing.length) return `${what} is not installed (missing: ${missing.join(", ")}; Debian packages docker.io podman)`;
  return false;
}

// ---------------------------------------------------------------- processes

interface Result {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/**
 * `exec` through a client (docker or podman) into a running container: output, exit code, and
 * the exec'd process in the init's cgroups (top, stop and kill --all rely on it). Repeated,
 * because the launch race these tests once caught showed up one exec in a few.
 */
async function checkExec(cli: (args: string[]) => Promise<Result>, name: string): Promise<void> {
  const out = await cli(["exec", name, "echo", "hello from exec"]);
  assert.equal(out.code, 0, show(out));
  assert.equal(out.stdout, "hello from exec\n");
  const code = await cli(["exec", name, "sh", "-c", "exit 7"]);
  assert.equal(code.code, 7, show(code));
  for (let i = 0; i < 4; i++) {
    const cg = await cli(["exec", name, "sh", "-c", 'test "$(cat /proc/self/cgroup)" = "$(cat /proc/1/cgroup)"']);
    assert.equal(cg.code, 0, `exec ${i}: not in the container's cgroup: ${show(cg)}`);
  }
}

/**
 * Run a command to completion; never throws. stdin is /dev/null. Resolves at
 * exit even if a daemonised grandchild (conmon, a shim) still holds our pipes.
 */
function sh(cmd: string, args: string[], opt: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Result> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env: opt.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => {
      stdout += b.toString();
    });
    child.stderr.on("data", (b: Buffer) => {
      stderr += b.toString();
    });
    let done = false;
    const finish = (code: number) => {
      if (done) return;
      done = true;
      clearTimeout(killer);
      resolve({ code, stdout, stderr, ms: performance.now() - t0 });
    };
    const killer = setTimeout(() => {
      stderr += `\n[test: ${cmd} killed after ${opt.timeoutMs ?? 60_000} ms]`;
      child.kill("SIGKILL");
    }, opt.timeoutMs ?? 60_000);
    child.on("error", (err) => {
      stderr += String(err);
      finish(127);
    });
    child.on("exit", (code, signal) => {
      const c = code ?? 128 + (signal ? (osConstants.signals[signal] ?? 0) : 0);
      let closed = 0;
      const onClose = () => {
        if (++closed === 2) finish(c);
      };
      if (child.stdout.readableEnded) closed++;
      else child.stdout.once("end", onClose);
      if (child.stderr.readableEnded) closed++;
      else child.stderr.once("end", onClose);
      if (closed === 2) finish(c);
      setTimeout(() => finish(c), 500);
    });
  });
}

const show = (r: Result) => `exit ${r.code} after ${Math.round(r.ms)} ms\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;

/** Assert success and return stdout. */
function ok(r: Result, what: string): string {
  assert.equal(r.code, 0, `${what} failed: ${show(r)}`);
  return r.stdout;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Host pids whose command line mentions `needle` (our unique temp paths), with their command lines. */
function processesMentioning(needle: string): { pid: number; cmd: string }[] {
  const out: { pid: number; cmd: string }[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${e}/cmdline`, "utf8").replaceAll("\0", " ");
      if (cmd.includes(needle)) out.push({ pid: Number(e), cmd: cmd.slice(0, 300) });
    } catch {
      // gone
    }
  }
  return out;
}

/** Record every process still naming `base` as a problem, SIGKILL it and wait until it is gone. */
async function endLeftovers(base: string, problems: string[]): Promise<{ pid: number; cmd: string }[]> {
  if (!base) return [];
  const left = processesMentioning(base);
  for (const p of left) {
    problems.push(`process left: ${p.pid} ${p.cmd.slice(0, 160)}`);
    try {
      process.kill(p.pid, "SIGKILL");
    } catch {
      // gone meanwhile
    }
  }
  for (let i = 0; i < 50 && left.some((p) => pidAlive(p.pid)); i++) await sleep(50);
  return left;
}

/** Leftover cgroups, one line per container cgroup name, with how many hierarchies still hold it. */
function describeCgroups(dirs: string[], parent: string): string {
  const count = new Map<string, number>();
  for (const d of dirs) {
    const rel = d.slice(d.indexOf(`/${parent}/`) + parent.length + 2);
    count.set(rel, (count.get(rel) ?? 0) + 1);
  }
  return [...count].map(([rel, n]) => `${rel} (in ${n} hierarchies)`).join(", ");
}

function pidAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2)[0];
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------- mounts, cgroups, host paths

function mountsUnder(base: string): string[] {
  const out: string[] = [];
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const mp = line.split(" ")[4]?.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
    if (mp && (mp === base || mp.startsWith(base + "/"))) out.push(mp);
  }
  return out;
}

/** Lazily unmount everything at or under base, deepest first. */
function unmountAll(base: string): void {
  for (const mp of mountsUnder(base).sort((a, b) => b.length - a.length)) {
    try {
      execFileSync("umount", ["-l", mp], { stdio: "ignore" });
    } catch {
      // already gone with its parent
    }
  }
}

/** The mount points of every cgroup hierarchy (v1 controllers and v2). */
function cgroupMounts(): string[] {
  const out = new Set<string>();
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const [pre, post] = line.split(" - ");
    const fstype = post?.split(" ")[0];
    const mp = pre?.split(" ")[4];
    if (mp && (fstype === "cgroup" || fstype === "cgroup2")) out.add(mp);
  }
  return [...out];
}

/** Every cgroup folder below /<parent> in any hierarchy (not the parent itself). */
function cgroupsBelow(parent: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    let entries: string[];
    try {
      entries = readdirSync(dir).filter((e) => statSync(join(dir, e)).isDirectory());
    } catch {
      return;
    }
    for (const e of entries) {
      out.push(join(dir, e));
      walk(join(dir, e));
    }
  };
  for (const m of cgroupMounts()) walk(join(m, parent));
  return out;
}

/** Remove /<parent> and everything below it in every hierarchy (rmdir, deepest first). */
function removeCgroupTree(parent: string): void {
  for (const m of cgroupMounts()) {
    const top = join(m, parent);
    if (!existsSync(top)) continue;
    const dirs = [top, ...cgroupsBelow(parent).filter((d) => d.startsWith(top + "/"))].sort((a, b) => b.length - a.length);
    for (const d of dirs) {
      try {
        rmdirSync(d);
      } catch {
        // still populated: reported by the teardown checks
      }
    }
  }
}

/** Host paths a client creates outside its own folders; ours to remove only if they were not there before. */
class HostPaths {
  private readonly before = new Map<string, boolean>();
  constructor(private readonly paths: string[]) {
    for (const p of paths) this.before.set(p, existsSync(p));
  }
  /** Remove the new ones: folders only when empty (deepest first), `tree` ones with everything in them. */
  cleanup(tree: string[] = []): void {
    for (const p of [...this.paths].sort((a, b) => b.length - a.length)) {
      if (this.before.get(p) || !existsSync(p)) continue;
      try {
        if (tree.includes(p) || !statSync(p).isDirectory()) rmSync(p, { recursive: true, force: true });
        else rmdirSync(p);
      } catch {
        // not empty: someone else uses it now
      }
    }
  }
}

// ---------------------------------------------------------------- the image

/** A tar of a busybox root filesystem, as `docker import` / `podman import` take it. */
function buildImageTar(dir: string): string {
  const rootfs = join(dir, "rootfs");
  makeRootfs(rootfs);
  const tar = join(dir, "busybox.tar");
  execFileSync(tools.tar ?? "tar", ["-C", rootfs, "-cf", tar, "."]);
  rmSync(rootfs, { recursive: true, force: true });
  return tar;
}

// ---------------------------------------------------------------- a pty

/**
 * Run argv on a new pty of 33 rows x 101 columns (python3's pty module): the
 * way a user types `docker run -it`. Output is everything the pty showed.
 */
const PTY_PY = `
import fcntl, os, pty, select, struct, sys, termios, time
pid, fd = pty.fork()
if pid == 0:
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 101, 0, 0))
    os.execvp(sys.argv[1], sys.argv[1:])
out = b""
deadline = time.time() + 45
while time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 1)
    if r:
        try:
            b = os.read(fd, 4096)
        except OSError:
            break
        if not b:
            break
        out += b
    elif os.waitpid(pid, os.WNOHANG)[0]:
        break
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
sys.stdout.write("\\n[pty-exit=%d]\\n" % os.waitstatus_to_exitcode(status))
`;

async function onPty(dir: string, argv: string[], env: NodeJS.ProcessEnv): Promise<{ out: string; code: number }> {
  const script = join(dir, "pty-run.py");
  if (!existsSync(script)) writeFileSync(script, PTY_PY);
  const r = await sh(tools.python3 ?? "python3", [script, ...argv], { env, timeoutMs: 60_000 });
  const m = /\[pty-exit=(-?\d+)\]/.exec(r.stdout);
  assert.ok(m, `pty helper failed: ${show(r)}`);
  return { out: r.stdout.slice(0, m.index), code: Number(m[1]) };
}

// Containers that trap TERM and exit 0 on it, and one that ignores it (sleep as PID 1).
const TRAPS_TERM = ["sh", "-c", 'trap "exit 0" TERM; while true; do sleep 0.1; done'];
const IGNORES_TERM = ["sleep", "1000"];

/** The client sets the terminal's size just after the start: wait for it, print it, exit 5. */
const WAIT_FOR_SIZE =
  'tty; i=0; while [ $i -lt 25 ]; do s=$(stty size 2>/dev/null); case "$s" in ""|"0 0") i=$((i+1)); sleep 0.2;; *) break;; esac; done; echo "size=$s"; exit 5';

const suffix = `${process.pid}-${randomBytes(3).toString("hex")}`;

// ================================================================ docker

const dockerSkip = skipReason(["dockerd", "containerd", "shim", "docker", "tar"], "dockerd (docker.io)");

describe(`docker run --runtime berth (dockerd 20.10 + containerd-shim) on ${RUNTIME.label}`, { skip: dockerSkip }, () => {
  let base = "";
  let sock = "";
  let daemon: ChildProcess | undefined;
  let daemonPid = 0;
  let env: NodeJS.ProcessEnv = {};
  let tornDown = false;
  const image = `berth-test-busybox:${suffix}`;
  const cgroupParent = `berth-clients-dk-${suffix}`;
  const host = new HostPaths(["/run/docker", "/run/docker/plugins", "/run/containerd", "/run/containerd/s"]);

  const docker = (args: string[], timeoutMs = 60_000) =>
    sh(tools.docker ?? "docker", ["-H", `unix://${sock}`, ...args], { env, timeoutMs });
  const stateDir = (id: string) => join(base, "exec", "runtime-runc", "moby", id);
  const log = () => {
    try {
      // the errors only: containerd relays the runtime's last error message
      const lines = readFileSync(join(base, "dockerd.log"), "utf8").split("\n");
      return lines
        .filter((l) => /level=(error|fatal)/.test(l))
        .slice(-6)
        .join("\n");
    } catch {
      return "(no dockerd log)";
    }
  };

  async function runDetached(name: string, cmd: string[]): Promise<string> {
    const r = await docker(["run", "-d", "--runtime", "berth", "--name", name, image, ...cmd]);
    assert.equal(r.code, 0, `docker run -d ${cmd.join(" ")}: ${show(r)}\n--- dockerd log:\n${log()}`);
    return r.stdout.trim();
  }

  async function inspect(name: string, format: string): Promise<string> {
    return ok(await docker(["inspect", "-f", format, name]), `docker inspect ${name}`).trim();
  }

  async function teardown(): Promise<string[]> {
    if (tornDown) return [];
    tornDown = true;
    const problems: string[] = [];
    const ids: string[] = [];
    if (daemon && daemonPid && pidAlive(daemonPid)) {
      // remove containers first: shutdown would otherwise wait on ones that ignore SIGTERM
      ids.push(...(await docker(["ps", "-aq", "--no-trunc"])).stdout.split("\n").filter(Boolean));
      if (ids.length) await docker(["rm", "-f", ...ids]);
      process.kill(daemonPid, "SIGTERM");
      for (let i = 0; i < 200 && pidAlive(daemonPid); i++) await sleep(100);
      if (pidAlive(daemonPid)) {
        problems.push("dockerd did not stop within 20 s of SIGTERM");
        process.kill(daemonPid, "SIGKILL");
        await sleep(200);
      }
    }
    // anything left is ours (its command line names our unique folder): record it, then end it
    await sleep(200);
    const left = await endLeftovers(base, problems);
    for (const p of left) ids.push(/ -id (\S+)/.exec(p.cmd)?.[1] ?? "");
    // a shim that had to be killed leaves its socket, /run/containerd/s/sha256(<containerd address>/<namespace>/<id>)
    const address = join(base, "exec", "containerd", "containerd.sock");
    for (const id of ids) {
      const hash = createHash("sha256")
        .update(join(address, "moby", id))
        .digest("hex");
      rmSync(join("/run/containerd/s", hash), { force: true });
    }
    const mounts = mountsUnder(base);
    if (mounts.length) problems.push(`mounts left: ${mounts.join(", ")}`);
    unmountAll(base);
    const cgs = cgroupsBelow(cgroupParent);
    if (cgs.length) problems.push(`container cgroups left: ${describeCgroups(cgs, cgroupParent)}`);
    removeCgroupTree(cgroupParent);
    rmSync(base, { recursive: true, force: true });
    host.cleanup();
    return problems;
  }

  before(async () => {
    base = mkdtempSync(join(tmpdir(), "berth-dk-"));
    sock = join(base, "docker.sock");
    mkdirSync(join(base, "cli"));
    env = { ...process.env, DOCKER_CONFIG: join(base, "cli") };
    delete env["DOCKER_HOST"];
    delete env["DOCKER_CONTEXT"];
    // deprecated-key-path keeps dockerd 20.10 from writing /etc/docker/key.json
    writeFileSync(join(base, "daemon.json"), JSON.stringify({ "deprecated-key-path": join(base, "key.json") }));
    const logFd = openSync(join(base, "dockerd.log"), "a");
    daemon = spawn(
      tools.dockerd ?? "dockerd",
      [
        "--config-file",
        join(base, "daemon.json"),
        "--data-root",
        join(base, "data"),
        "--exec-root",
        join(base, "exec"),
        "--pidfile",
        join(base, "dockerd.pid"),
        "--host",
        `unix://${sock}`,
        "--bridge",
        "none",
        "--iptables=false",
        "--ip6tables=false",
        "--ip-masq=false",
        "--storage-driver",
        "overlay2",
        "--shutdown-timeout",
        "2",
        "--cgroup-parent",
        `/${cgroupParent}`,
        "--add-runtime",
        `berth=${RUNTIME.path}`,
      ],
      // its own session, so that a ^C to the test run does not reach it before teardown
      {
        detached: true,
        stdio: ["ignore", logFd, logFd],
        env: { ...process.env, PATH: `${process.env["PATH"]}:/usr/sbin:/sbin` },
      },
    );
    closeSync(logFd);
    daemonPid = daemon.pid ?? 0;
    daemon.unref();
    let up = false;
    for (let i = 0; i < 300 && !up; i++) {
      up = (await docker(["version", "--format", "{{.Server.Version}}"], 5_000)).code === 0;
      if (!up) {
        if (!pidAlive(daemonPid)) break;
        await sleep(100);
      }
    }
    if (!up) {
      const l = log();
      await teardown();
      assert.fail(`dockerd did not come up:\n${l}`);
    }
    const tar = buildImageTar(base);
    ok(await docker(["import", tar, image]), "docker import");
    rmSync(tar);
  });

  after(async () => {
    await teardown();
  });

  test("run: the container's output and the runtime's name", async () => {
    const r = await docker(["run", "--rm", "--runtime", "berth", "--name", `echo-${suffix}`, image, "echo", "hello from berth"]);
    assert.equal(r.code, 0, `${show(r)}\n--- dockerd log:\n${log()}`);
    assert.equal(r.stdout, "hello from berth\n");
  });

  test("run: the exit code of the container's process", async () => {
    const r = await docker(["run", "--rm", "--runtime", "berth", image, "sh", "-c", "exit 3"]);
    assert.equal(r.code, 3, show(r));
  });

  test("run -d, several times in a row: every container starts and runs", async () => {
    for (let i = 0; i < 6; i++) {
      const id = await runDetached(`many-${i}-${suffix}`, IGNORES_TERM);
      assert.equal(await inspect(id, "{{.State.Status}} {{.HostConfig.Runtime}}"), "running berth");
      assert.ok(existsSync(join(stateDir(id), "state.json")), `the runtime keeps state under ${stateDir(id)}`);
    }
  });

  test("run -d + exec: output, exit code, and the exec'd process sits in the container's cgroup", async () => {
    const name = `exec-${suffix}`;
    await runDetached(name, TRAPS_TERM);
    await checkExec(docker, name);
  });

  test("top: lists the init by its host pid", async () => {
    const name = `top-${suffix}`;
    await runDetached(name, TRAPS_TERM);
    const pid = await inspect(name, "{{.State.Pid}}");
    const r = await docker(["top", name]);
    assert.equal(r.code, 0, show(r));
    const rows = r.stdout.trim().split("\n").slice(1);
    assert.ok(
      rows.some((row) => row.split(/\s+/)[1] === pid && row.includes("trap")),
      `pid ${pid} running the trap loop in:\n${r.stdout}`,
    );
  });

  test("stop: a process that traps TERM exits at once with its own code", async () => {
    const name = `stop-${suffix}`;
    await runDetached(name, TRAPS_TERM);
    const r = await docker(["stop", name], 30_000);
    assert.equal(r.code, 0, show(r));
    assert.ok(r.ms < 5_000, `docker stop took ${Math.round(r.ms)} ms (the timeout is 10 s)`);
    assert.equal(await inspect(name, "{{.State.Status}} {{.State.ExitCode}}"), "exited 0");
  });

  test("stop: PID 1 that ignores TERM is killed after the timeout (exit 137)", async () => {
    const name = `kill-${suffix}`;
    await runDetached(name, IGNORES_TERM);
    const r = await docker(["stop", "-t", "1", name], 30_000);
    assert.equal(r.code, 0, show(r));
    assert.ok(r.ms >= 900 && r.ms < 8_000, `docker stop -t 1 took ${Math.round(r.ms)} ms`);
    assert.equal(await inspect(name, "{{.State.Status}} {{.State.ExitCode}}"), "exited 137");
  });

  test("run -it: a terminal of the caller's size, and the exit code", {
    skip: !tools.python3 && "needs python3 (pty)",
  }, async () => {
    const { out, code } = await onPty(
      base,
      [
        tools.docker ?? "docker",
        "-H",
        `unix://${sock}`,
        "run",
        "-it",
        "--rm",
        "--runtime",
        "berth",
        image,
        "sh",
        "-c",
        WAIT_FOR_SIZE,
      ],
      env,
    );
    assert.equal(code, 5, out);
    assert.match(out, /\/dev\/pts\/\d+/);
    assert.match(out, /size=33 101/);
  });

  test("rm -f: a running container, its init and the runtime's state are gone", async () => {
    const name = `rmf-${suffix}`;
    const id = await runDetached(name, IGNORES_TERM);
    const pid = Number(await inspect(name, "{{.State.Pid}}"));
    assert.ok(pidAlive(pid));
    const r = await docker(["rm", "-f", name], 30_000);
    assert.equal(r.code, 0, show(r));
    assert.ok(r.ms < 5_000, `docker rm -f took ${Math.round(r.ms)} ms`);
    assert.equal((await docker(["ps", "-aq", "--no-trunc"])).stdout.includes(id), false);
    for (let i = 0; i < 20 && pidAlive(pid); i++) await sleep(50);
    assert.equal(pidAlive(pid), false, `init ${pid} still alive`);
    assert.equal(existsSync(stateDir(id)), false, `${stateDir(id)} left behind`);
  });

  test("teardown: dockerd stops, and no process, mount or container cgroup is left", async () => {
    const problems = await teardown();
    assert.deepEqual(problems, []);
    assert.equal(existsSync(base), false);
  });
});

// ================================================================ podman

const podmanSkip = skipReason(["podman", "conmon", "tar"], "podman");

describe(`podman --runtime ${RUNTIME.label} (conmon)`, { skip: podmanSkip }, () => {
  let base = "";
  let env: NodeJS.ProcessEnv = {};
  let tornDown = false;
  const image = `localhost/berth-test-busybox:${suffix}`;
  const cgroupParent = `berth-clients-pm-${suffix}`;
  const host = new HostPaths(["/var/lib/containers", "/var/lib/containers/cache", "/dev/shm/libpod_lock"]);
  const ids: string[] = [];

  const podman = (args: string[], timeoutMs = 60_000) =>
    sh(
      tools.podman ?? "podman",
      [
        "--root",
        join(base, "root"),
        "--runroot",
        join(base, "run"),
        "--storage-driver",
        "overlay",
        "--cgroup-manager",
        "cgroupfs",
        "--events-backend",
        "file",
        "--tmpdir",
        join(base, "tmp"),
        "--network-config-dir",
        join(base, "cni"),
        "--runtime",
        RUNTIME.path ?? "",
        ...args,
      ],
      { env, timeoutMs },
    );
  const run = (args: string[], timeoutMs?: number) => podman(["run", "--cgroup-parent", `/${cgroupParent}`, ...args], timeoutMs);
  /** podman passes no --root: the runtime keeps state in its default root (berth-runtime: /run/berth-runtime, runc: /run/runc). */
  const stateRoot = () => (RUNTIME.path?.endsWith("berth-runtime") ? "/run/berth-runtime" : "/run/runc");

  async function runDetached(name: string, cmd: string[]): Promise<string> {
    const r = await run(["-d", "--name", name, image, ...cmd]);
    assert.equal(r.code, 0, `podman run -d ${cmd.join(" ")}: ${show(r)}`);
    const id = r.stdout.trim().split("\n").pop() ?? "";
    ids.push(id);
    return id;
  }
  async function inspect(name: string, format: string): Promise<string> {
    return ok(await podman(["inspect", "-f", format, name]), `podman inspect ${name}`).trim();
  }

  async function teardown(): Promise<string[]> {
    if (tornDown) return [];
    tornDown = true;
    const problems: string[] = [];
    if (base) {
      const all = (await podman(["ps", "-aq", "--no-trunc"])).stdout.split("\n").filter(Boolean);
      ids.push(...all);
      const rm = await podman(["rm", "-af", "-t", "0"], 60_000);
      if (rm.code !== 0) problems.push(`podman rm -af: ${show(rm)}`);
      await podman(["rmi", "-af"]);
      await sleep(200);
      await endLeftovers(base, problems);
      // the store's own overlay mount of root/overlay is podman's, not a container's
      const mounts = mountsUnder(base).filter((m) => m !== join(base, "root", "overlay"));
      if (mounts.length) problems.push(`mounts left: ${mounts.join(", ")}`);
      unmountAll(base);
    }
    for (const id of new Set(ids)) {
      if (id && existsSync(join(stateRoot(), id))) {
        problems.push(`runtime state left: ${join(stateRoot(), id)}`);
        if (RUNTIME.path) await sh(RUNTIME.path, ["delete", "--force", id]);
      }
    }
    // conmon's cgroup (<parent>/conmon) is podman's own; container cgroups are the runtime's to remove
    const cgs = cgroupsBelow(cgroupParent).filter((d) => !/\/conmon$/.test(d));
    if (cgs.length) problems.push(`container cgroups left: ${describeCgroups(cgs, cgroupParent)}`);
    removeCgroupTree(cgroupParent);
    if (base) rmSync(base, { recursive: true, force: true });
    host.cleanup(["/var/lib/containers/cache"]);
    return problems;
  }

  before(async () => {
    base = mkdtempSync(join(tmpdir(), "berth-pm-"));
    for (const d of ["root", "run", "tmp", "cni"]) mkdirSync(join(base, d));
    // Root here may lack CAP_SYS_RESOURCE: podman's own rlimit defaults (nofile 1048576, nproc 4194304)
    // would then be refused by any runtime, so ask for what we hold. No network namespace setup:
    // podman's default CNI bridge would create a host bridge and iptables chains.
    // /proc/self/limits: a 26-column name, then the soft and the hard limit
    const hardLimit = (name: string) =>
      readFileSync("/proc/self/limits", "utf8")
        .split("\n")
        .find((l) => l.startsWith(name))
        ?.slice(26)
        .trim()
        .split(/\s+/)[1] ?? "unlimited";
    const nofile = hardLimit("Max open files") === "unlimited" ? 1048576 : Number(hardLimit("Max open files"));
    const nproc = hardLimit("Max processes") === "unlimited" ? 32768 : Math.min(Number(hardLimit("Max processes")), 32768);
    writeFileSync(
      join(base, "containers.conf"),
      [
        "[containers]",
        'netns = "none"',
        `default_ulimits = ["nofile=${nofile}:${nofile}", "nproc=${nproc}:${nproc}"]`,
        'log_driver = "k8s-file"',
        "[engine]",
        'cgroup_manager = "cgroupfs"',
        'events_logger = "file"',
        `events_logfile_path = "${join(base, "events.log")}"`,
        `tmp_dir = "${join(base, "tmp")}"`,
        ...(tools.conmon ? [`conmon_path = ["${tools.conmon}"]`] : []),
        "[network]",
        'network_backend = "cni"',
        `network_config_dir = "${join(base, "cni")}"`,
        "",
      ].join("\n"),
    );
    writeFileSync(
      join(base, "storage.conf"),
      `[storage]\ndriver = "overlay"\ngraphroot = "${join(base, "root")}"\nrunroot = "${join(base, "run")}"\n`,
    );
    env = {
      ...process.env,
      CONTAINERS_CONF: join(base, "containers.conf"),
      CONTAINERS_STORAGE_CONF: join(base, "storage.conf"),
      PATH: `${process.env["PATH"]}:/usr/sbin:/sbin`,
    };
    const tar = buildImageTar(base);
    const r = await podman(["import", "-q", tar, image]);
    if (r.code !== 0) {
      await teardown();
      assert.fail(`podman import: ${show(r)}`);
    }
    rmSync(tar);
  });

  after(async () => {
    await teardown();
  });

  test("run: the container's output and the runtime podman used", async () => {
    const name = `echo-${suffix}`;
    const r = await run(["--name", name, image, "echo", "hello from berth"]);
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout, "hello from berth\n");
    assert.equal(await inspect(name, "{{.OCIRuntime}}"), RUNTIME.path);
    ids.push(await inspect(name, "{{.Id}}"));
    ok(await podman(["rm", name]), "podman rm");
  });

  test("run: the exit code of the container's process", async () => {
    const r = await run(["--rm", image, "sh", "-c", "exit 3"]);
    assert.equal(r.code, 3, show(r));
  });

  test("run -d, several times in a row: every container starts and runs", async () => {
    for (let i = 0; i < 6; i++) {
      const id = await runDetached(`many-${i}-${suffix}`, IGNORES_TERM);
      assert.equal(await inspect(id, "{{.State.Status}}"), "running");
    }
  });

  test("run -d + exec: output, exit code, and the exec'd process sits in the container's cgroup", async () => {
    const name = `exec-${suffix}`;
    await runDetached(name, TRAPS_TERM);
    await checkExec(podman, name);
  });

  test("stop: a process that traps TERM exits at once; PID 1 ignoring TERM is killed (137)", async () => {
    const a = `stop-${suffix}`;
    await runDetached(a, TRAPS_TERM);
    const r = await podman(["stop", a], 30_000);
    assert.equal(r.code, 0, show(r));
    assert.ok(r.ms < 5_000, `podman stop took ${Math.round(r.ms)} ms (the timeout is 10 s)`);
    assert.equal(await inspect(a, "{{.State.Status}} {{.State.ExitCode}}"), "exited 0");

    const b = `kill-${suffix}`;
    await runDetached(b, IGNORES_TERM);
    const k = await podman(["stop", "-t", "1", b], 30_000);
    assert.equal(k.code, 0, show(k));
    assert.ok(k.ms < 8_000, `podman stop -t 1 took ${Math.round(k.ms)} ms`);
    assert.equal(await inspect(b, "{{.State.Status}} {{.State.ExitCode}}"), "exited 137");
  });

  test("run -it: a terminal of the caller's size, and the exit code", {
    skip: !tools.python3 && "needs python3 (pty)",
  }, async () => {
    const { out, code } = await onPty(
      base,
      [
        tools.podman ?? "podman",
        "--root",
        join(base, "root"),
        "--runroot",
        join(base, "run"),
        "--storage-driver",
        "overlay",
        "--cgroup-manager",
        "cgroupfs",
        "--events-backend",
        "file",
        "--tmpdir",
        join(base, "tmp"),
        "--network-config-dir",
        join(base, "cni"),
        "--runtime",
        RUNTIME.path ?? "",
        "run",
        "-it",
        "--rm",
        "--cgroup-parent",
        `/${cgroupParent}`,
        image,
        "sh",
        "-c",
        WAIT_FOR_SIZE,
      ],
      env,
    );
    assert.equal(code, 5, out);
    assert.match(out, /\/dev\/pts\/\d+/);
    assert.match(out, /size=33 101/);
  });

  test("rm -f: a running container, its init and the runtime's state are gone", async () => {
    const name = `rmf-${suffix}`;
    const id = await runDetached(name, IGNORES_TERM);
    const pid = Number(await inspect(name, "{{.State.Pid}}"));
    assert.ok(pidAlive(pid));
    const r = await podman(["rm", "-f", "-t", "0", name], 30_000);
    assert.equal(r.code, 0, show(r));
    for (let i = 0; i < 20 && pidAlive(pid); i++) await sleep(50);
    assert.equal(pidAlive(pid), false, `init ${pid} still alive`);
    assert.equal(existsSync(join(stateRoot(), id)), false, `${join(stateRoot(), id)} left behind`);
  });

  test("teardown: no process, mount, runtime state or container cgroup is left", async () => {
    const problems = await teardown();
    assert.deepEqual(problems, []);
    assert.equal(existsSync(base), false);
  });
});
