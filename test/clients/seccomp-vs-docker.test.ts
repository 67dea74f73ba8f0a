// berth's default seccomp profile against Docker's, on the same calls, on this kernel.
//
// One static probe (test/fixtures/syscall-probe.c) makes ~55 raw syscalls with harmless or invalid
// arguments and prints one "name result" line per call. It runs four times from the same image
// tar: under a private dockerd 20.10 (its default runtime, runc, compiling Docker's built-in
// profile) and under a private berthd, each with the default profile and with
// `--security-opt seccomp=unconfined`. Both engines give a container the same capabilities, so a
// call whose result changes between default and unconfined is one the profile denies; the set of
// such calls must be the same for both engines, and so must the errno each default profile
// answers. Calls whose kernel check runs before the filter could matter (a capability checked
// first: EPERM either way) show up as "not filtered" for both engines alike; the probe's comments
// name them.
//
// Where berth and this Docker legitimately differ (berth follows a newer moby profile than the
// Debian 20.10 dockerd here), the difference is listed in EXPECTED_DIFFERENCES with its reason;
// each listed difference must really occur, so the list cannot go stale unnoticed.
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  accessSync,
  closeSync,
  constants,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { BERTH, BERTHD, REPO, TestDaemon } from "../fixtures/berthd.js";
import { BUSYBOX, makeRootfs } from "../fixtures/busybox-bundle.js";
import { buildSyscallProbe, parseProbeOutput } from "../fixtures/syscall-probe.js";

// ---------------------------------------------------------------- what may differ, and why

/**
 * Calls whose "denied by the default profile" verdict differs between Docker 20.10's profile and
 * berth's: which side denies, and why. Each entry must occur, in that direction: a listed call
 * on which the engines agree, or one denied by the other side, fails the test.
 */
const EXPECTED_DIFFERENCES = new Map<string, { deniedBy: "docker" | "berth"; why: string }>([
  [
    "io_uring_setup",
    {
      deniedBy: "berth",
      why:
        "newer moby profiles (25.0) took io_uring_* out of the default (a large, often-exploited kernel " +
        "surface); Docker 20.10 still allows it",
    },
  ],
  [
    "socket(AF_VSOCK)",
    {
      deniedBy: "berth",
      why: "AF_VSOCK is a channel to the host or hypervisor; newer moby profiles deny it, Docker 20.10 does not",
    },
  ],
  [
    "socket(AF_ALG)",
    {
      deniedBy: "berth",
      why: "berth's own hardening (src/seccomp/default-profile.ts): the kernel crypto API has a history of bugs",
    },
  ],
  [
    "name_to_handle_at",
    {
      deniedBy: "docker",
      why:
        "it only encodes a file handle (systemd and others use it); opening a handle, " +
        "open_by_handle_at (the 'shocker' escape), stays denied without CAP_DAC_READ_SEARCH in both, " +
        "and later moby profiles allow name_to_handle_at as berth does",
    },
  ],
]);

// ---------------------------------------------------------------- tools and skips

const isExecutable = (p: string) => {
  try {
    accessSync(p, constants.X_OK);
    return statSync(p).isFile();
  } catch {
    return false;
  }
};
const which = (name: string) =>
  ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"].map((d) => join(d, name)).find(isExecutable);

// Debian's docker.io CLI (20.10), matching its dockerd; not a newer static CLI in /usr/local/bin
const DOCKER_CLI = "/usr/bin/docker";
const tools = {
  dockerd: which("dockerd"),
  containerd: which("containerd"),
  "containerd-shim-runc-v2": which("containerd-shim-runc-v2"),
  runc: which("runc"),
  tar: which("tar"),
};

function commonSkip(): string | false {
  if (process.getuid?.() !== 0) return "needs root: runs containers under dockerd and berthd";
  if (!existsSync(BUSYBOX)) return `needs ${BUSYBOX} (Debian package busybox-static) for the image`;
  if (!tools.tar) return "needs tar to build the image";
  return false;
}

function dockerSkip(): string | false {
  if (!isExecutable(DOCKER_CLI)) return `needs ${DOCKER_CLI} (Debian package docker.io)`;
  const missing = (["dockerd", "containerd", "containerd-shim-runc-v2", "runc"] as const).filter((k) => !tools[k]);
  return missing.length ? `dockerd is not installed (missing: ${missing.join(", ")}; Debian packages docker.io runc)` : false;
}

function berthSkip(): string | false {
  const missing = [BERTH, BERTHD, join(REPO, "bin", "berth-runtime"), join(REPO, "build", "Release", "berth_native.node")].filter(
    (p) => !existsSync(p),
  );
  return missing.length ? `berth is not built (missing ${missing.join(", ")}): run npm run install && npm run build` : false;
}

// ---------------------------------------------------------------- the probe and its image

const common = commonSkip();
const probe = common ? undefined : buildSyscallProbe();
const probeSkip = common || (probe && "skip" in probe ? probe.skip : false);
const suffix = `${process.pid}-${randomBytes(3).toString("hex")}`;
let imageDir = "";

/** The image: a busybox rootfs with the probe at /probe, as a tar for `docker import` / `berth import`. */
function imageTar(): string {
  if (imageDir) return join(imageDir, "image.tar");
  if (!probe || "skip" in probe) throw new Error("the syscall probe was not built");
  imageDir = mkdtempSync(join(tmpdir(), "berth-scp-image-"));
  const rootfs = join(imageDir, "rootfs");
  makeRootfs(rootfs);
  copyFileSync(probe.path, join(rootfs, "probe"));
  execFileSync(tools.tar ?? "tar", ["-C", rootfs, "-cf", join(imageDir, "image.tar"), "."]);
  rmSync(rootfs, { recursive: true, force: true });
  return join(imageDir, "image.tar");
}

after(() => {
  if (imageDir) rmSync(imageDir, { recursive: true, force: true });
  if (probe && !("skip" in probe)) rmSync(probe.dir, { recursive: true, force: true });
});

type Mode = "default" | "unconfined";
type Results = Map<string, string>;
const results: Record<"docker" | "berth", Partial<Record<Mode, Results>>> = { docker: {}, berth: {} };

// ---------------------------------------------------------------- processes

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (stdin /dev/null); never throws; SIGKILL after timeoutMs. */
function sh(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (s: string) => {
      stdout += s;
    });
    child.stderr.setEncoding("utf8").on("data", (s: string) => {
      stderr += s;
    });
    const killer = setTimeout(() => {
      stderr += `\n[test: ${cmd} killed after ${timeoutMs} ms]`;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.on("error", (err) => {
      clearTimeout(killer);
      resolve({ code: 127, stdout, stderr: stderr + String(err) });
    });
    child.on("close", (code, signal) => {
      clearTimeout(killer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
  });
}

const show = (r: Result) => `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function pidAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2)[0];
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

/** Host processes whose command line names `needle` (our unique temp dir). */
function processesMentioning(needle: string): { pid: number; cmd: string }[] {
  const out: { pid: number; cmd: string }[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${e}/cmdline`, "utf8").replaceAll("\0", " ");
      if (cmd.includes(needle)) out.push({ pid: Number(e), cmd: cmd.slice(0, 200) });
    } catch {
      // it exited while we looked
    }
  }
  return out;
}

/** Mount points at or under base, deepest first. */
function mountsUnder(base: string): string[] {
  const out: string[] = [];
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const mp = line.split(" ")[4]?.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
    if (mp && (mp === base || mp.startsWith(`${base}/`))) out.push(mp);
  }
  return out.sort((a, b) => b.length - a.length);
}

/** Removes /<parent> and everything below it from every cgroup hierarchy (deepest first). */
function removeCgroupTree(parent: string): string[] {
  const left: string[] = [];
  const hierarchies = new Set<string>();
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const [pre, post] = line.split(" - ");
    const fstype = post?.split(" ")[0];
    const mp = pre?.split(" ")[4];
    if (mp && (fstype === "cgroup" || fstype === "cgroup2")) hierarchies.add(mp);
  }
  for (const h of hierarchies) {
    const dirs: string[] = [];
    const walk = (d: string) => {
      if (!existsSync(d)) return;
      dirs.push(d);
      for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(join(d, e.name));
    };
    walk(join(h, parent));
    for (const d of dirs.sort((a, b) => b.length - a.length)) {
      try {
        rmdirSync(d);
      } catch {
        // still populated: reported by the caller
        left.push(d);
      }
    }
  }
  return left;
}

/** The probe's output, checked for one line per call, as a map. */
function probeResults(r: Result, what: string): Results {
  assert.equal(r.code, 0, `${what}: ${show(r)}`);
  const map = parseProbeOutput(r.stdout);
  assert.ok(map.size >= 50 && map.get("getpid") === "0", `${what}: unexpected probe output:\n${r.stdout}\n${r.stderr}`);
  return map;
}

// ================================================================ Docker

describe("Docker 20.10's default seccomp profile (private dockerd, runc)", { skip: probeSkip || dockerSkip() }, () => {
  let base = "";
  let sock = "";
  let daemon: ChildProcess | undefined;
  let env: NodeJS.ProcessEnv = {};
  const image = `berth-scp-probe:${suffix}`;
  const cgroupParent = `berth-scp-dk-${suffix}`;
  // paths dockerd and containerd create outside their roots; removed only if they were not there before
  const hostPaths = ["/run/docker/plugins", "/run/docker", "/run/containerd/s", "/run/containerd"].map((p) => ({
    p,
    existed: existsSync(p),
  }));
  const docker = (args: string[], timeoutMs?: number) => sh(DOCKER_CLI, ["-H", `unix://${sock}`, ...args], env, timeoutMs);
  const log = () => {
    try {
      return readFileSync(join(base, "dockerd.log"), "utf8").split("\n").slice(-15).join("\n");
    } catch {
      return "(no dockerd log)";
    }
  };

  async function teardown(): Promise<string[]> {
    const problems: string[] = [];
    if (!base) return problems;
    const pid = daemon?.pid ?? 0;
    if (pid && pidAlive(pid)) {
      const ids = (await docker(["ps", "-aq", "--no-trunc"])).stdout.split("\n").filter(Boolean);
      if (ids.length) await docker(["rm", "-f", ...ids]);
      process.kill(pid, "SIGTERM");
      for (let i = 0; i < 200 && pidAlive(pid); i++) await sleep(100);
      if (pidAlive(pid)) {
        problems.push("dockerd did not stop within 20 s of SIGTERM");
        process.kill(pid, "SIGKILL");
      }
    }
    // containerd and shims name our folder in their command lines: anything left is ours
    await sleep(200);
    for (const p of processesMentioning(base)) {
      problems.push(`process left: ${p.pid} ${p.cmd}`);
      try {
        process.kill(p.pid, "SIGKILL");
      } catch {
        // it exited meanwhile
      }
    }
    for (const m of mountsUnder(base)) {
      problems.push(`mount left: ${m}`);
      try {
        execFileSync("umount", ["-l", m], { stdio: "ignore" });
      } catch {
        // gone with its parent
      }
    }
    for (const d of removeCgroupTree(cgroupParent)) problems.push(`cgroup left: ${d}`);
    rmSync(base, { recursive: true, force: true });
    for (const { p, existed } of hostPaths) {
      try {
        if (!existed && existsSync(p)) rmdirSync(p);
      } catch {
        // not empty: another dockerd or containerd on this host uses it now
      }
    }
    base = "";
    return problems;
  }

  before(async () => {
    base = mkdtempSync(join(tmpdir(), "berth-scp-dk-"));
    sock = join(base, "docker.sock");
    mkdirSync(join(base, "cli"));
    env = { ...process.env, DOCKER_CONFIG: join(base, "cli"), PATH: `${process.env["PATH"]}:/usr/sbin:/sbin` };
    delete env["DOCKER_HOST"];
    delete env["DOCKER_CONTEXT"];
    // deprecated-key-path keeps dockerd 20.10 from writing /etc/docker/key.json
    writeFileSync(join(base, "daemon.json"), JSON.stringify({ "deprecated-key-path": join(base, "key.json") }));
    const logFd = openSync(join(base, "dockerd.log"), "a");
    // offline and private: own roots and socket, no bridge, no iptables; its own session, so that a
    // ^C to the test run does not reach it before the teardown
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
        "--cgroup-parent",
        `/${cgroupParent}`,
      ],
      { detached: true, stdio: ["ignore", logFd, logFd], env },
    );
    closeSync(logFd);
    daemon.unref();
    let up = false;
    for (let i = 0; i < 300 && !up; i++) {
      up = (await docker(["version", "--format", "{{.Server.Version}}"], 5_000)).code === 0;
      if (!up) {
        if (!pidAlive(daemon.pid ?? 0)) break;
        await sleep(100);
      }
    }
    if (!up) {
      const l = log();
      await teardown();
      assert.fail(`dockerd did not come up:\n${l}`);
    }
    const imported = await docker(["import", imageTar(), image]);
    if (imported.code !== 0) {
      await teardown();
      assert.fail(`docker import: ${show(imported)}`);
    }
  });

  after(async () => {
    await teardown();
  });

  test("the engine compiles its built-in profile (docker info names seccomp)", async () => {
    const r = await docker(["info", "--format", "{{json .SecurityOptions}}"]);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /name=seccomp,profile=default/, "this dockerd runs containers without seccomp: nothing to compare");
  });

  for (const mode of ["default", "unconfined"] as const) {
    test(`run the probe: ${mode}`, async () => {
      const opts = mode === "unconfined" ? ["--security-opt", "seccomp=unconfined"] : [];
      const r = await docker(["run", "--rm", "--network", "none", ...opts, image, "/probe"], 120_000);
      results.docker[mode] = probeResults(r, `docker run (${mode})\n--- dockerd log:\n${log()}`);
    });
  }

  test("teardown: dockerd stops, and no process, mount or cgroup of ours is left", async () => {
    assert.deepEqual(await teardown(), []);
  });
});

// ================================================================ berth

describe("berth's default seccomp profile (private berthd, berth-runtime)", { skip: probeSkip || berthSkip() }, () => {
  const d = new TestDaemon({ prefix: "berth-scp-bd-", subnet: "10.231.85.0/24", bridge: "berth-scp0", busybox: false });
  const image = `berth-scp-probe:${suffix}`;

  before(async () => {
    try {
      await d.setup();
      await d.ok(["import", imageTar(), image]);
    } catch (err) {
      await d.teardown();
      throw err;
    }
  });

  after(async () => {
    await d.teardown();
  });

  for (const mode of ["default", "unconfined"] as const) {
    test(`run the probe: ${mode}`, async () => {
      const opts = mode === "unconfined" ? ["--security-opt", "seccomp=unconfined"] : [];
      const r = await d.berth(["run", "--rm", "--network", "none", ...opts, image, "/probe"]);
      results.berth[mode] = probeResults(r, `berth run (${mode})`);
    });
  }
});

// ================================================================ the comparison

/** The calls a profile denies: those whose result changes when the profile is switched off. */
function deniedBy(r: Partial<Record<Mode, Results>>): Set<string> {
  const def = r.default ?? new Map<string, string>();
  const unc = r.unconfined ?? new Map<string, string>();
  return new Set([...def.keys()].filter((k) => def.get(k) !== unc.get(k)));
}

function table(): string {
  const { docker, berth } = results;
  const names = [...(docker.default?.keys() ?? berth.default?.keys() ?? [])];
  const w = Math.max(...names.map((n) => n.length), 4);
  const cell = (r: Partial<Record<Mode, Results>>, n: string) => {
    const def = r.default?.get(n) ?? "-";
    const unc = r.unconfined?.get(n) ?? "-";
    return `${def.padEnd(12)} ${unc.padEnd(12)} ${def === unc ? "   " : "DENY"}`;
  };
  const lines = [
    `${"call".padEnd(w)}  docker: default / unconfined       berth: default / unconfined`,
    ...names.map(
      (n) =>
        `${n.padEnd(w)}  ${cell(docker, n)}   ${cell(berth, n)}${EXPECTED_DIFFERENCES.has(n) ? `  (expected: only ${EXPECTED_DIFFERENCES.get(n)?.deniedBy} denies)` : ""}`,
    ),
  ];
  return lines.join("\n");
}

describe("berth's default profile against Docker's, call by call", () => {
  const ready = () =>
    Boolean(results.docker.default && results.docker.unconfined && results.berth.default && results.berth.unconfined);

  test("the table (docker and berth, default and unconfined)", (t) => {
    if (!ready()) return t.skip("needs all four probe runs (see the skips and failures above)");
    console.log(`\n${table()}\n`);
  });

  test("the probe tells the filter apart from the kernel's own checks", (t) => {
    if (!ready()) return t.skip("needs all four probe runs");
    // a call the kernel rejects before any capability check: EFAULT without a filter, EPERM with Docker's
    assert.equal(results.docker.unconfined?.get("mount"), "EFAULT", table());
    assert.equal(results.docker.default?.get("mount"), "EPERM", table());
    assert.ok(deniedBy(results.docker).size >= 20, `Docker's profile denies too few of the probe's calls:\n${table()}`);
  });

  test("the calls Docker's default profile denies are the calls berth's denies", (t) => {
    if (!ready()) return t.skip("needs all four probe runs");
    const dockerDenies = deniedBy(results.docker);
    const berthDenies = deniedBy(results.berth);
    const onlyDocker = [...dockerDenies].filter((c) => !berthDenies.has(c));
    const onlyBerth = [...berthDenies].filter((c) => !dockerDenies.has(c));
    const expected = (side: "docker" | "berth") =>
      [...EXPECTED_DIFFERENCES].filter(([, e]) => e.deniedBy === side).map(([c]) => c);
    assert.deepEqual(
      { deniedByDockerOnly: onlyDocker.sort(), deniedByBerthOnly: onlyBerth.sort() },
      { deniedByDockerOnly: expected("docker").sort(), deniedByBerthOnly: expected("berth").sort() },
      `the profiles disagree beyond EXPECTED_DIFFERENCES:\n${table()}`,
    );
  });

  test("for a call both deny, both answer the same errno (EPERM, ENOSYS for clone3)", (t) => {
    if (!ready()) return t.skip("needs all four probe runs");
    const both = [...deniedBy(results.docker)].filter((c) => deniedBy(results.berth).has(c));
    const differing = both.filter((c) => results.docker.default?.get(c) !== results.berth.default?.get(c));
    assert.deepEqual(differing, [], table());
  });

  test("without a filter, both engines' containers get the same answers (same capabilities)", (t) => {
    if (!ready()) return t.skip("needs all four probe runs");
    const unc = (e: "docker" | "berth") => results[e].unconfined ?? new Map<string, string>();
    const differing = [...unc("docker").keys()].filter((c) => unc("docker").get(c) !== unc("berth").get(c));
    assert.deepEqual(differing, [], table());
  });
});
